"""Window rules and point limits of one user write (#10): what the scorer adds to its per-user UpdateItem.

The item holds `wr` (window state, core/windows.py), `lc` (limit counters, core/limits.py) and `rules`
(the names matched now). A write caps its events' points by the limits in stream order, measures every
counted event in the windows, prunes them as of the user's new `as_of` and evaluates the rules there.
With no window rules and no limits configured the scorer never builds any of this (benchmark B2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engagement_scoring.core import limits as limits_core
from engagement_scoring.core import windows as windows_core
from engagement_scoring.core.limits import Limit, LimitState
from engagement_scoring.core.rules import Rule, limits_of
from engagement_scoring.core.windows import WindowRule, WindowState

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class TimedRules:
    """The configured window rules and the score rules' limits (by event type)."""

    windows: tuple[WindowRule, ...] = ()
    limits: Mapping[str, Limit] = field(default_factory=dict)


NO_TIMED_RULES = TimedRules()


@dataclass(frozen=True, slots=True)
class TimedState:
    """What a user item holds of it: window state, limit counters, matched rule names."""

    windows: WindowState = field(default_factory=dict)
    limits: LimitState = field(default_factory=dict)
    matched: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class TimedWrite:
    """What one user write sets, and what its limits held back (for the batch log line and metrics)."""

    state: TimedState
    previous: frozenset[str]
    capped_events: int = 0
    points_not_counted: Decimal = ZERO

    @property
    def rules_changed(self) -> bool:
        """The matched set moved: the write is a publication (core/publication.should_publish)."""
        return self.state.matched != self.previous


def timed_rules(rules: Mapping[str, Rule], windows: tuple[WindowRule, ...]) -> TimedRules | None:
    """The batch's window rules and limits; None when there are neither (the scorer's plain path)."""
    limits = limits_of(rules)
    if not windows and not limits:
        return None
    return TimedRules(windows, limits)


def with_measured_types(rules: dict[str, Rule], windows: tuple[WindowRule, ...]) -> dict[str, Rule]:
    """The score rules plus a 0-point rule for each event type only a window rule names: such events are
    counted (deduplicated, `events_applied`, their channel at 0) so the windows can measure them."""
    missing = windows_core.event_types(windows) - rules.keys()
    if not missing:
        return rules
    return {**rules, **{event_type: Rule(event_type, ZERO) for event_type in sorted(missing)}}


def stored_state(windows: Any, limits: Any, matched: Any, rules: TimedRules) -> TimedState:
    """The item's `wr`, `lc` and `rules` (plain values, None when absent) under the current rules."""
    return TimedState(
        windows_core.decode(windows, rules.windows),
        limits_core.decode(limits, rules.limits),
        frozenset(name for name in matched if isinstance(name, str))
        if isinstance(matched, set)
        else frozenset(),
    )


def encode_write(timed: TimedWrite) -> tuple[dict[str, Any], list[str]]:
    """ExpressionAttributeValues (`:wr`, `:lc`, `:rules`) to SET, and the attribute names to REMOVE
    (`#wr`, `#lc`, `#rules`: each absent when empty)."""
    values, removed = encode_windows(timed.state)
    if timed.state.limits:
        values[":lc"] = {"M": limits_core.encode(timed.state.limits)}
    else:
        removed.append("#lc")
    return values, removed


def encode_windows(state: TimedState) -> tuple[dict[str, Any], list[str]]:
    """`:wr` and `:rules` to SET, `#wr` / `#rules` to REMOVE when empty: the window part alone (what the
    refresher writes; it never touches the limit counters)."""
    values: dict[str, Any] = {}
    removed: list[str] = []
    if state.windows:
        values[":wr"] = {"M": windows_core.encode(state.windows)}
    else:
        removed.append("#wr")
    if state.matched:
        values[":rules"] = {"SS": sorted(state.matched)}
    else:
        removed.append("#rules")
    return values, removed


def windows_due_at(rules: TimedRules, state: TimedState, now_s: int) -> int | None:
    """When a sliding window rule of this user next changes with no new event (epoch seconds): the window
    part of `due_at` (core/due.due_at combines it with the decay's)."""
    return windows_core.next_change(rules.windows, state.windows, now_s)


def refreshed(rules: TimedRules, state: TimedState, now_ms: int) -> TimedState:
    """The window state pruned and the rules re-evaluated at `now_ms` (no new event): what a refresher
    writes when time alone moves a user (limit counters unchanged)."""
    windows = windows_core.apply(rules.windows, state.windows, (), now_ms)
    return TimedState(windows, state.limits, windows_core.evaluate(rules.windows, windows, now_ms // 1000))
