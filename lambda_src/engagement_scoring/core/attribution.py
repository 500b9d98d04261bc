"""Campaign attribution (#11): touches, conversions and the three models. Pure: no I/O.

A user's touches (counted events of a touch type that carry a campaign) are kept in stream order with
their event time; a conversion (a counted event of a conversion rule's type) at time t is credited to
the touches known when it is scored (stream order) whose time is in [t - look-back, t] (event time).
Models: `last_touch` (the latest touch's campaign gets the conversion and its value), `first_touch` (the
earliest), `linear` (each touch an equal share). Ties in time go to the touch later in the stream. A
conversion with no touch in its window is unattributed. Semantics and worked examples:
docs/attribution.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from engagement_scoring.core.events import NormalizedEvent

LAST_TOUCH = "last_touch"
FIRST_TOUCH = "first_touch"
LINEAR = "linear"
MODELS = (LAST_TOUCH, FIRST_TOUCH, LINEAR)
# The campaign-table key of the unattributed conversions: never a campaign (a touch naming it is no touch).
UNATTRIBUTED = "(unattributed)"
# The campaign table's item of the module's campaign_costs (attribution.tf), read by the report.
COSTS_ITEM = "(costs)"
# Campaign names that are no campaign: an event naming one is no touch.
RESERVED_CAMPAIGNS = frozenset({UNATTRIBUTED, COSTS_ITEM})
DEFAULT_TOUCH_EVENT_TYPES = ("_email.open", "_email.click", "_SMS.SUCCESS", "_campaign.opened_notification")
DEFAULT_LOOKBACK_HOURS = 168
DEFAULT_MAX_TOUCHES = 50
# The highest attribution_max_touches accepted: a linear credit then names at most this many campaigns,
# which keeps one conversion's write inside a TransactWriteItems (docs/attribution.md, "Limits").
MAX_TOUCHES_LIMIT = 50
# Linear shares are rounded half-even to this many decimal places; the campaign of the latest touch
# takes the remainder, so the shares of a conversion sum exactly to 1 and to its value.
SHARE_PLACES = Decimal("1e-10")
HOUR_MS = 3_600_000
_ZERO = Decimal(0)
_ONE = Decimal(1)


class InvalidAttribution(ValueError):
    """An attribution setting that cannot be used (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class ConversionRule:
    event_type: str
    value_metric: str | None = None
    quantity_metric: str | None = None


DEFAULT_CONVERSION_RULES = (ConversionRule("_monetization.purchase", "_item_price", "_quantity"),)


@dataclass(frozen=True, slots=True)
class AttributionConfig:
    touch_event_types: frozenset[str] = frozenset(DEFAULT_TOUCH_EVENT_TYPES)
    lookback_ms: int = DEFAULT_LOOKBACK_HOURS * HOUR_MS
    max_touches: int = DEFAULT_MAX_TOUCHES
    conversion_rules: Mapping[str, ConversionRule] = field(
        default_factory=lambda: {rule.event_type: rule for rule in DEFAULT_CONVERSION_RULES}
    )

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type attribution reads (each is counted even without a score rule)."""
        return self.touch_event_types | frozenset(self.conversion_rules)

    def is_relevant(self, event: NormalizedEvent) -> bool:
        """Whether the event is a touch or a conversion (so its user's touches must be read)."""
        if event.event_type in self.conversion_rules:
            return True
        return (
            event.event_type in self.touch_event_types
            and event.campaign is not None
            and event.campaign not in RESERVED_CAMPAIGNS
        )


@dataclass(frozen=True, slots=True)
class Touch:
    campaign: str
    event_type: str
    message_id: str | None
    timestamp_ms: int
    seq: int  # stream order among the user's touches (0, 1, ...): breaks ties in time

    @property
    def order(self) -> tuple[int, int]:
        return (self.timestamp_ms, self.seq)


@dataclass(frozen=True, slots=True)
class Touches:
    """A user's touches, sorted by (time, stream order), and the stream number of the next touch."""

    touches: tuple[Touch, ...] = ()
    next_seq: int = 0


NO_TOUCHES = Touches()


@dataclass(frozen=True, slots=True)
class Conversion:
    event_type: str
    timestamp_ms: int
    value: Decimal


@dataclass(frozen=True, slots=True)
class Share:
    campaign: str
    conversions: Decimal
    value: Decimal


@dataclass(frozen=True, slots=True)
class Attribution:
    """One conversion's credit: per model the campaigns' shares (empty: unattributed)."""

    conversion: Conversion
    touches: tuple[Touch, ...]  # the touches in the window, by (time, stream order)
    credit: Mapping[str, tuple[Share, ...]]

    @property
    def attributed(self) -> bool:
        return bool(self.touches)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    return number if number.is_finite() else None


def conversion_value(rule: ConversionRule, metrics: Mapping[str, Any] | None) -> Decimal:
    """value_metric x quantity_metric: a quantity missing from the rule or the event counts 1; a value
    missing from the rule or the event gives 0 (the conversion still counts)."""
    metrics = metrics or {}
    value = _number(metrics.get(rule.value_metric)) if rule.value_metric is not None else None
    if value is None:
        return _ZERO
    quantity = _number(metrics.get(rule.quantity_metric)) if rule.quantity_metric is not None else None
    return value * (_ONE if quantity is None else quantity)


def conversion_of(event: NormalizedEvent, config: AttributionConfig) -> Conversion | None:
    rule = config.conversion_rules.get(event.event_type)
    if rule is None:
        return None
    return Conversion(event.event_type, event.timestamp_ms, conversion_value(rule, event.metrics))


def add_touch(state: Touches, event: NormalizedEvent, config: AttributionConfig) -> tuple[Touches, bool]:
    """The touches after this counted event (unchanged, False, when it is no new touch).

    At most one touch per (campaign, message id, event type) among the kept touches: the first in the
    stream counts; touches without a message id each count. Then bounded: the touches older than the
    look-back of the newest are dropped, and of the rest the `max_touches` most recent are kept."""
    campaign = event.campaign
    if event.event_type not in config.touch_event_types or campaign is None or campaign in RESERVED_CAMPAIGNS:
        return state, False
    message_id = event.message_id
    if message_id is not None:
        for touch in state.touches:
            if (
                touch.message_id == message_id
                and touch.campaign == campaign
                and touch.event_type == event.event_type
            ):
                return state, False
    touch = Touch(campaign, event.event_type, message_id, event.timestamp_ms, state.next_seq)
    touches = sorted((*state.touches, touch), key=lambda t: t.order)
    horizon = touches[-1].timestamp_ms - config.lookback_ms
    kept = [t for t in touches if t.timestamp_ms >= horizon][-config.max_touches :]
    return Touches(tuple(kept), state.next_seq + 1), True


def _linear(window: Sequence[Touch], value: Decimal) -> tuple[Share, ...]:
    count = len(window)
    per_campaign: dict[str, int] = {}
    for touch in window:
        per_campaign[touch.campaign] = per_campaign.get(touch.campaign, 0) + 1
    latest = window[-1].campaign
    shares: list[Share] = []
    conversions_left, value_left = _ONE, value
    for campaign in sorted(per_campaign, key=lambda name: (name == latest, name)):
        if campaign == latest:  # last in this order: takes the remainder
            shares.append(Share(campaign, conversions_left, value_left))
            break
        touches = Decimal(per_campaign[campaign])
        conversions = (touches / count).quantize(SHARE_PLACES, ROUND_HALF_EVEN)
        share_value = (value * touches / count).quantize(SHARE_PLACES, ROUND_HALF_EVEN)
        conversions_left -= conversions
        value_left -= share_value
        shares.append(Share(campaign, conversions, share_value))
    return tuple(sorted(shares, key=lambda share: share.campaign))


def attribute(state: Touches, conversion: Conversion, config: AttributionConfig) -> Attribution:
    """The credit of a conversion under every model, from the touches known now."""
    start = conversion.timestamp_ms - config.lookback_ms
    window = tuple(t for t in state.touches if start <= t.timestamp_ms <= conversion.timestamp_ms)
    if not window:
        return Attribution(conversion, (), {model: () for model in MODELS})
    latest = window[-1]
    earliest_time = window[0].timestamp_ms
    # Ties in time go to the touch later in the stream: the last of the earliest-time touches.
    earliest = [t for t in window if t.timestamp_ms == earliest_time][-1]
    value = conversion.value
    return Attribution(
        conversion,
        window,
        {
            LAST_TOUCH: (Share(latest.campaign, _ONE, value),),
            FIRST_TOUCH: (Share(earliest.campaign, _ONE, value),),
            LINEAR: _linear(window, value),
        },
    )


@dataclass(frozen=True, slots=True)
class Applied:
    """What a user's counted events did: the touches after them, the touches added, the conversions."""

    touches: Touches
    touches_added: int
    attributions: tuple[Attribution, ...]


def apply_events(state: Touches, events: Iterable[NormalizedEvent], config: AttributionConfig) -> Applied:
    """Apply a user's counted events in stream order: a conversion is credited from the touches known
    before it (a touch later in the stream is never applied to it), then a touch is recorded. An event
    of a type that is both is credited first, then recorded as a touch."""
    added = 0
    attributions: list[Attribution] = []
    for event in events:
        conversion = conversion_of(event, config)
        if conversion is not None:
            attributions.append(attribute(state, conversion, config))
        state, is_new = add_touch(state, event, config)
        added += is_new
    return Applied(state, added, tuple(attributions))


@dataclass(slots=True)
class Totals:
    conversions: Decimal = _ZERO
    value: Decimal = _ZERO


def campaign_totals(attributions: Iterable[Attribution]) -> dict[str, dict[str, Totals]]:
    """Per campaign and model the conversions and value credited; unattributed conversions under
    UNATTRIBUTED (each model the same). A campaign with no credit in any model is left out."""
    totals: dict[str, dict[str, Totals]] = {}
    for attribution in attributions:
        if not attribution.attributed:
            entry = totals.setdefault(UNATTRIBUTED, {model: Totals() for model in MODELS})
            for model in MODELS:
                entry[model].conversions += _ONE
                entry[model].value += attribution.conversion.value
            continue
        for model, shares in attribution.credit.items():
            for share in shares:
                entry = totals.setdefault(share.campaign, {name: Totals() for name in MODELS})
                entry[model].conversions += share.conversions
                entry[model].value += share.value
    return totals


# --- configuration (environment, from the module's inputs) -------------------------------------------


def _positive_int(text: str, name: str, default: int, highest: int | None = None) -> int:
    text = text.strip()
    if not text:
        return default
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise InvalidAttribution(f"{name} must be a whole number, got {text!r}") from exc
    if not value.is_finite() or value != value.to_integral_value() or value < 1:
        raise InvalidAttribution(f"{name} must be a whole number >= 1, got {text!r}")
    if highest is not None and value > highest:
        raise InvalidAttribution(f"{name} must be at most {highest}, got {text!r}")
    return int(value)


def _optional_name(item: Mapping[str, Any], key: str, index: int) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value.encode()) > 128:
        raise InvalidAttribution(f"conversion rule {index}: {key} must be a metric name (1-128 bytes)")
    return value


def parse_conversion_rules(text: str) -> tuple[ConversionRule, ...]:
    """CONVERSION_RULES: a JSON list of {event_type, value_metric?, quantity_metric?} (empty: default)."""
    if not text.strip():
        return DEFAULT_CONVERSION_RULES
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise InvalidAttribution("CONVERSION_RULES must be a JSON list") from exc
    if not isinstance(items, list):
        raise InvalidAttribution("CONVERSION_RULES must be a JSON list")
    rules: list[ConversionRule] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InvalidAttribution(f"conversion rule {index} must be an object")
        unknown = set(item) - {"event_type", "value_metric", "quantity_metric"}
        if unknown:
            raise InvalidAttribution(f"conversion rule {index}: unknown keys {sorted(unknown)}")
        event_type = item.get("event_type")
        if not isinstance(event_type, str) or not event_type or len(event_type.encode()) > 256:
            raise InvalidAttribution(f"conversion rule {index}: event_type must be 1-256 bytes")
        if event_type in seen:
            raise InvalidAttribution(f"conversion rule {index}: event_type {event_type!r} given twice")
        seen.add(event_type)
        rules.append(
            ConversionRule(
                event_type,
                _optional_name(item, "value_metric", index),
                _optional_name(item, "quantity_metric", index),
            )
        )
    return tuple(rules)


def parse_touch_event_types(text: str) -> frozenset[str]:
    """ATTRIBUTION_TOUCH_EVENT_TYPES: a JSON list of event types (empty: the defaults)."""
    if not text.strip():
        return frozenset(DEFAULT_TOUCH_EVENT_TYPES)
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise InvalidAttribution("ATTRIBUTION_TOUCH_EVENT_TYPES must be a JSON list") from exc
    if not isinstance(items, list) or not all(isinstance(t, str) and t for t in items):
        raise InvalidAttribution("ATTRIBUTION_TOUCH_EVENT_TYPES must be a JSON list of event types")
    return frozenset(items)


def config_from_env(env: Mapping[str, str]) -> AttributionConfig:
    """The attribution settings from the scorer's environment (raises InvalidAttribution)."""
    touch_types = parse_touch_event_types(env.get("ATTRIBUTION_TOUCH_EVENT_TYPES", ""))
    rules = parse_conversion_rules(env.get("CONVERSION_RULES", ""))
    both = touch_types & {rule.event_type for rule in rules}
    if both:
        raise InvalidAttribution(f"event types both touch and conversion: {sorted(both)}")
    hours = _positive_int(env.get("ATTRIBUTION_LOOKBACK_HOURS", ""), "ATTRIBUTION_LOOKBACK_HOURS", 168)
    return AttributionConfig(
        touch_event_types=touch_types,
        lookback_ms=hours * HOUR_MS,
        max_touches=_positive_int(
            env.get("ATTRIBUTION_MAX_TOUCHES", ""), "ATTRIBUTION_MAX_TOUCHES", 50, MAX_TOUCHES_LIMIT
        ),
        conversion_rules={rule.event_type: rule for rule in rules},
    )
