"""Point limits (#10): a user earns at most `max_points` from one score rule per UTC period of
`limit_period_hours` hours (periods aligned to the Unix epoch, so 24 is a UTC calendar day).

The events that earn are the first in stream order within the period; the event that reaches the limit
earns what is left of it, later ones earn 0 (they still count: dedupe ring, `events_applied`, window
rules). State per user and limited rule (`lc`, by event type): `[period index, points earned]` of the
newest period seen. An event of an older period than the stored one (late across a period edge) earns
0: the earlier period's total is no longer known, and a limit must never be exceeded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from typing import Any

HOUR_MS = 3_600_000
MAX_PERIOD_HOURS = 8760
DEFAULT_PERIOD_HOURS = 24
_ARITHMETIC = Context(prec=38)
_ZERO = Decimal(0)

# (period index, points earned in it)
LimitState = dict[str, tuple[int, Decimal]]


@dataclass(frozen=True, slots=True)
class Limit:
    max_points: Decimal
    period_hours: int = DEFAULT_PERIOD_HOURS

    def period(self, timestamp_ms: int) -> int:
        return timestamp_ms // (self.period_hours * HOUR_MS)


@dataclass(frozen=True, slots=True)
class Capped:
    """Points each event earns (parallel to the input), the new state and what the limit held back."""

    earned: tuple[Decimal, ...]
    state: LimitState
    capped_events: int
    points_not_counted: Decimal


def apply(
    limits: Mapping[str, Limit],
    state: Mapping[str, tuple[int, Decimal]],
    events: Sequence[tuple[str, int, Decimal]],
) -> Capped:
    """Cap (event type, event time ms, points) in stream order. Types without a limit earn their points;
    points <= 0 are never capped (the module only allows limits on positive rules)."""
    new: LimitState = {event_type: entry for event_type, entry in state.items() if event_type in limits}
    earned: list[Decimal] = []
    capped = 0
    held_back = _ZERO
    for event_type, timestamp_ms, points in events:
        limit = limits.get(event_type)
        if limit is None or points <= 0:
            earned.append(points)
            continue
        period = limit.period(timestamp_ms)
        stored = new.get(event_type)
        if stored is None or period > stored[0]:
            stored = (period, _ZERO)
        if period < stored[0]:
            gets = _ZERO
        else:
            room = limit.max_points - stored[1]
            gets = points if points <= room else max(room, _ZERO)
            stored = (period, _ARITHMETIC.add(stored[1], gets))
        new[event_type] = stored
        earned.append(gets)
        if gets != points:
            capped += 1
            held_back = _ARITHMETIC.add(held_back, points - gets)
    return Capped(tuple(earned), new, capped, held_back)


def encode(state: Mapping[str, tuple[int, Decimal]]) -> dict[str, Any]:
    """`lc` as a DynamoDB M value's content: event type -> L [N period, N earned]."""
    return {
        event_type: {"L": [{"N": str(period)}, {"N": format(points, "f")}]}
        for event_type, (period, points) in state.items()
    }


def decode(value: Any, limits: Mapping[str, Limit]) -> LimitState:
    """`lc` from a plain image; malformed or no longer limited entries are dropped."""
    if not isinstance(value, dict):
        return {}
    state: LimitState = {}
    for event_type, entry in value.items():
        if event_type not in limits or not isinstance(entry, list) or len(entry) != 2:
            continue
        period, points = entry
        if (
            isinstance(period, Decimal)
            and period.is_finite()
            and isinstance(points, Decimal)
            and points.is_finite()
        ):
            state[event_type] = (int(period), points)
    return state
