"""Window rules: counts and sums of counted events over a window, matched while >= a threshold (#10).

A rule (`WINDOW_RULES`, the module's `jsonencode(var.window_rules)`) names event types, a measure
(`count`, or `sum` of one event metric), a threshold and its window: sliding (`window_hours`), a UTC
date range (`from` / `to`, inclusive), or all time (neither). An optional `channel` keeps only events
of that channel. Rules measure every COUNTED event (the dedupe ring lets exact duplicates in once),
whether or not a point limit let it earn points; an event type needs no score rule to be measured.

Per-user state (`wr`, by rule name), bounded whatever the event rate:
- all-time and date-range rules: one number, the measure so far (a date-range rule stays matched
  after `to`: its total never drops);
- sliding count rules: exactly the k = threshold newest UTC hour indices (epoch hours) of the events
  still in the window (k >= count in the window iff the k-th newest is in it);
- sliding sum rules: sparse hourly sums {UTC hour index: sum}, hours still in the window only.

Window edge (both sliding kinds): at time `now`, the window holds the events whose UTC hour h has
h >= hour(now) - window_hours. The edge is rounded out to a whole hour: an event counts for at least
`window_hours` hours and leaves at the start of hour h + window_hours + 1 (at most one hour later).
The scorer evaluates at the user's `as_of` (event time of the newest counted event); the refresher
evaluates at its clock (`next_change` says when, core/due.due_at puts it in `due_at`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

HOUR_S = 3600
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MEASURES = ("count", "sum")
CHANNELS = frozenset({"email", "sms", "push", "in_app", "custom"})
# Names become DynamoDB map keys, EventBridge detail values and Customer Profiles strings.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
METRIC_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MAX_RULES = 25
MAX_COUNT_THRESHOLD = 50  # k newest times kept per sliding count rule
MAX_WINDOW_HOURS = 2160  # 90 days: at most 2161 hourly buckets for a sliding sum rule
MAX_EVENT_TYPES = 20
_ARITHMETIC = Context(prec=38)

# An event as the windows see it: (event time ms, event type, channel, metrics or None).
Measured = tuple[int, str, str, Mapping[str, Any] | None]
# The state of one rule: a total (all-time, date range), k newest hours (sliding count), or hourly sums.
RuleState = Decimal | tuple[int, ...] | dict[int, Decimal]
WindowState = dict[str, RuleState]


class InvalidWindowRules(ValueError):
    """WINDOW_RULES cannot be used (the message says which rule and why; no event data)."""


@dataclass(frozen=True, slots=True)
class WindowRule:
    name: str
    event_types: frozenset[str]
    measure: str
    threshold: Decimal
    metric: str | None = None
    window_hours: int | None = None
    start_ms: int | None = None  # `from` 00:00 UTC, inclusive
    end_ms: int | None = None  # the day after `to`, 00:00 UTC, exclusive
    channel: str | None = None

    @property
    def sliding(self) -> bool:
        return self.window_hours is not None

    def takes(self, timestamp_ms: int, event_type: str, channel: str) -> bool:
        if event_type not in self.event_types:
            return False
        if self.channel is not None and channel != self.channel:
            return False
        if self.start_ms is not None and timestamp_ms < self.start_ms:
            return False
        return self.end_ms is None or timestamp_ms < self.end_ms

    def value(self, metrics: Mapping[str, Any] | None) -> Decimal | None:
        """What one event adds: 1 for a count, the metric for a sum (None: the event lacks it)."""
        if self.measure == "count":
            return _ONE
        if not metrics or self.metric is None:
            return None
        return metric_value(metrics.get(self.metric))


_ONE = Decimal(1)
_ZERO = Decimal(0)


def metric_value(value: Any) -> Decimal | None:
    """A finite event metric as a Decimal (through its shortest repr, as the oracle does), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _date_ms(text: Any, name: str, key: str) -> int:
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise InvalidWindowRules(f"window rule {name}: {key} must be a date YYYY-MM-DD")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidWindowRules(f"window rule {name}: {key} is not a calendar date") from exc
    return (day - dt.date(1970, 1, 1)).days * DAY_MS


def _rule(entry: Any, index: int) -> WindowRule:
    if not isinstance(entry, dict):
        raise InvalidWindowRules(f"window rule {index} must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidWindowRules(
            f"window rule {index}: name must be 1-64 letters, digits, '_', '.', '-' (starting alphanumeric)"
        )
    types = entry.get("event_types")
    if (
        not isinstance(types, list)
        or not types
        or len(types) > MAX_EVENT_TYPES
        or not all(isinstance(t, str) and t for t in types)
    ):
        raise InvalidWindowRules(f"window rule {name}: event_types must list 1-{MAX_EVENT_TYPES} event types")
    measure = entry.get("measure") or "count"
    if measure not in MEASURES:
        raise InvalidWindowRules(f"window rule {name}: measure must be count or sum")
    metric = entry.get("metric")
    if measure == "sum":
        if not isinstance(metric, str) or not METRIC_PATTERN.fullmatch(metric):
            raise InvalidWindowRules(f"window rule {name}: a sum needs the metric to add")
    elif metric is not None:
        raise InvalidWindowRules(f"window rule {name}: metric is only for measure sum")
    raw_threshold = entry.get("threshold")
    threshold = metric_value(raw_threshold)
    if threshold is None or threshold <= 0:
        raise InvalidWindowRules(f"window rule {name}: threshold must be a number > 0")
    window_hours = entry.get("window_hours")
    start, end = entry.get("from"), entry.get("to")
    if window_hours is not None and (start is not None or end is not None):
        raise InvalidWindowRules(f"window rule {name}: either window_hours or from/to, not both")
    hours: int | None = None
    if window_hours is not None:
        hours_value = metric_value(window_hours)
        if hours_value is None or hours_value != hours_value.to_integral_value():
            raise InvalidWindowRules(f"window rule {name}: window_hours must be a whole number")
        hours = int(hours_value)
        if not 1 <= hours <= MAX_WINDOW_HOURS:
            raise InvalidWindowRules(f"window rule {name}: window_hours must be 1-{MAX_WINDOW_HOURS}")
        if measure == "count" and (
            threshold != threshold.to_integral_value() or threshold > MAX_COUNT_THRESHOLD
        ):
            raise InvalidWindowRules(
                f"window rule {name}: a sliding count's threshold must be a whole number "
                f"1-{MAX_COUNT_THRESHOLD}"
            )
    start_ms = _date_ms(start, name, "from") if start is not None else None
    end_ms = _date_ms(end, name, "to") + DAY_MS if end is not None else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InvalidWindowRules(f"window rule {name}: to must not be before from")
    channel = entry.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise InvalidWindowRules(f"window rule {name}: channel must be one of {', '.join(sorted(CHANNELS))}")
    return WindowRule(name, frozenset(types), measure, threshold, metric, hours, start_ms, end_ms, channel)


def parse_window_rules(text: str | None) -> tuple[WindowRule, ...]:
    """Rules from the WINDOW_RULES JSON list (null attributes are absent ones); empty = none."""
    if not text or not text.strip():
        return ()
    try:
        value = json.loads(text, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidWindowRules("WINDOW_RULES is not JSON") from exc
    if not isinstance(value, list):
        raise InvalidWindowRules("WINDOW_RULES must be a JSON list")
    if len(value) > MAX_RULES:
        raise InvalidWindowRules(f"at most {MAX_RULES} window rules")
    rules = tuple(_rule(entry, index) for index, entry in enumerate(value))
    if len({rule.name for rule in rules}) != len(rules):
        raise InvalidWindowRules("window rule names must be unique")
    return rules


def event_types(rules: Iterable[WindowRule]) -> frozenset[str]:
    """Every event type some window rule measures."""
    return frozenset(t for rule in rules for t in rule.event_types)


# ---- state ----------------------------------------------------------------------------------------


def _edge_hour(rule: WindowRule, now_hour: int) -> int:
    assert rule.window_hours is not None
    return now_hour - rule.window_hours


def apply(
    rules: Sequence[WindowRule], state: Mapping[str, RuleState], events: Iterable[Measured], as_of_ms: int
) -> WindowState:
    """The state after measuring `events` (counted once each, any order), pruned to the windows as of
    `as_of_ms` (the user's newest counted event: the scorer never evaluates earlier)."""
    events = list(events)
    now_hour = as_of_ms // HOUR_MS
    new: WindowState = {}
    for rule in rules:
        old = state.get(rule.name)
        values = [
            (timestamp_ms, value)
            for timestamp_ms, event_type, channel, metrics in events
            if rule.takes(timestamp_ms, event_type, channel) and (value := rule.value(metrics)) is not None
        ]
        if not rule.sliding:
            total = old if isinstance(old, Decimal) else _ZERO
            for _, value in values:
                total = _ARITHMETIC.add(total, value)
            if values or isinstance(old, Decimal):
                new[rule.name] = total
            continue
        edge = _edge_hour(rule, now_hour)
        if rule.measure == "count":
            hours = list(old) if isinstance(old, tuple) else []
            hours.extend(timestamp_ms // HOUR_MS for timestamp_ms, _ in values)
            kept = sorted(hour for hour in hours if hour >= edge)[-int(rule.threshold) :]
            if kept:
                new[rule.name] = tuple(kept)
            continue
        buckets = {h: s for h, s in old.items() if h >= edge} if isinstance(old, dict) else {}
        for timestamp_ms, value in values:
            hour = timestamp_ms // HOUR_MS
            if hour >= edge:
                buckets[hour] = _ARITHMETIC.add(buckets.get(hour, _ZERO), value)
        buckets = {h: s for h, s in buckets.items() if s != 0}
        if buckets:
            new[rule.name] = dict(sorted(buckets.items()))
    return new


def measure(rule: WindowRule, value: RuleState | None, now_s: int) -> Decimal:
    """The rule's measure at `now_s` (epoch seconds) from its state."""
    if value is None:
        return _ZERO
    if not rule.sliding:
        return value if isinstance(value, Decimal) else _ZERO
    edge = _edge_hour(rule, now_s // HOUR_S)
    if isinstance(value, tuple):
        return Decimal(sum(1 for hour in value if hour >= edge))
    if isinstance(value, dict):
        total = _ZERO
        for hour, amount in value.items():
            if hour >= edge:
                total = _ARITHMETIC.add(total, amount)
        return total
    return _ZERO


def evaluate(rules: Sequence[WindowRule], state: Mapping[str, RuleState], now_s: int) -> frozenset[str]:
    """Names of the rules matched at `now_s`: measure >= threshold."""
    return frozenset(
        rule.name for rule in rules if measure(rule, state.get(rule.name), now_s) >= rule.threshold
    )


def next_change(rules: Sequence[WindowRule], state: Mapping[str, RuleState], now_s: int) -> int | None:
    """The first epoch second after `now_s` at which a sliding rule's match changes with no new event
    (a matched rule's measure falls below its threshold, or, with negative metrics, rises to it); None
    when nothing will change. Part of every writer's `due_at` (core/due.due_at)."""
    soonest: int | None = None
    for rule in rules:
        value = state.get(rule.name)
        if not rule.sliding or value is None:
            continue
        assert rule.window_hours is not None
        matched = measure(rule, value, now_s) >= rule.threshold
        hours = sorted(set(value if isinstance(value, tuple) else value.keys()))  # type: ignore[union-attr]
        for hour in hours:
            leaves_s = (hour + rule.window_hours + 1) * HOUR_S
            if leaves_s <= now_s:
                continue
            if (measure(rule, value, leaves_s) >= rule.threshold) != matched:
                soonest = leaves_s if soonest is None else min(soonest, leaves_s)
                break
    return soonest


# ---- DynamoDB encoding of `wr` ----------------------------------------------------------------------


def encode(state: Mapping[str, RuleState]) -> dict[str, Any]:
    """`wr` as a DynamoDB M value's content: total N, sliding count L of N hours, sliding sum M hour->N."""
    encoded: dict[str, Any] = {}
    for name, value in state.items():
        if isinstance(value, Decimal):
            encoded[name] = {"N": format(value, "f")}
        elif isinstance(value, tuple):
            encoded[name] = {"L": [{"N": str(hour)} for hour in value]}
        else:
            encoded[name] = {"M": {str(hour): {"N": format(amount, "f")} for hour, amount in value.items()}}
    return encoded


def decode(value: Any, rules: Sequence[WindowRule]) -> WindowState:
    """`wr` from a plain image (Decimal, list, dict); a rule whose stored shape does not fit its current
    definition (the rule was redefined) starts afresh."""
    if not isinstance(value, dict):
        return {}
    state: WindowState = {}
    for rule in rules:
        stored = value.get(rule.name)
        try:
            if not rule.sliding:
                if isinstance(stored, Decimal) and stored.is_finite():
                    state[rule.name] = stored
            elif rule.measure == "count":
                if isinstance(stored, list):
                    hours = tuple(sorted(int(hour) for hour in stored if isinstance(hour, Decimal)))
                    if hours:
                        state[rule.name] = hours[-int(rule.threshold) :]
            elif isinstance(stored, dict):
                buckets = {
                    int(hour): amount
                    for hour, amount in stored.items()
                    if isinstance(amount, Decimal) and amount.is_finite()
                }
                if buckets:
                    state[rule.name] = dict(sorted(buckets.items()))
        except (ValueError, InvalidOperation):
            continue
    return state
