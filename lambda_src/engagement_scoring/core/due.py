"""When a user's decayed score next matters: the `due_at` / `due_sh` of the refresher (docs/scoring.md).

With decay, a user's raw score moves towards 0 between events: raw(t) = raw * 2 ** (-(t - as_of) / H).
The sinks must hear of it when (a) the score crosses a tier boundary, or (b) it has moved by the
publication threshold since what the sinks last saw (`pub.s`, docs/architecture.md). `next_due` solves
both in closed form and returns the earlier time, in epoch seconds, rounded up past the exact instant
(floor + 1), so that at `due_at` the crossing has happened. None when nothing will ever matter: decay
off, raw 0, or every boundary and threshold out of reach (past the floor or ceiling, or beyond 0, which
the decay only approaches).

Threshold 0 (publish every change) would make every second a publication: the refresher then uses
`ZERO_THRESHOLD_STEP` (one whole point) as its step, so a decaying user converges in about
|score| refreshes and the sinks are never more than one point behind. A scorer write still publishes
every change.

Stored scores are quantized to `DECAYED_QUANTUM` (core/model.py): for a positive score a tier boundary m
is aimed at m - quantum / 2: below it the stored score rounds below m. Without the margin a slow decay
could round back up to m and wake the refresher for nothing.

Sliding window rules (core/windows.py) change with time too: a matched rule clears when its oldest
events leave the window. `due_at` is the earliest of both (`due_at`, used by every writer: the scorer's
write and the refresher's), also with decay off (then the windows alone), absent when neither is due.

The write shard `due_sh` spreads the sparse index over `DUE_SHARDS` partition keys (a hash of the user
key), so no index partition takes every user's writes; the refresher queries each shard.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engagement_scoring.core import windows as windows_core
from engagement_scoring.core.model import (
    DECAYED_QUANTUM,
    MS_PER_HOUR,
    ZERO,
    ScoringModel,
    UserState,
    decay_to,
    score_view,
)
from engagement_scoring.core.publication import Published, should_publish
from engagement_scoring.core.timed import TimedRules, TimedState, refreshed
from engagement_scoring.core.windows import RuleState, WindowRule

# Partition keys of the `due` index ("0".."15"). Fixed: every writer and the refresher must agree, and
# changing it would strand the items of the shards no longer queried. 16 partitions take 16 x 1,000
# index writes a second (DynamoDB's per-partition limit) before throttling the table's writes.
DUE_SHARDS = 16
# The publication step used when the threshold is 0 (points).
ZERO_THRESHOLD_STEP = Decimal(1)
PUBLISH_MIN_DELTA_ENV = "SCORE_PUBLISH_MIN_DELTA"
_QUANTUM = float(DECAYED_QUANTUM)


def due_shard(user_key: str) -> str:
    """The write shard of a user: blake2b-64 of the key modulo DUE_SHARDS, as a decimal string."""
    digest = hashlib.blake2b(user_key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return str(int.from_bytes(digest, "big") % DUE_SHARDS)


def publish_min_delta(env: Mapping[str, str]) -> Decimal:
    """SCORE_PUBLISH_MIN_DELTA (points, >= 0, default 0) from an environment mapping."""
    text = env.get(PUBLISH_MIN_DELTA_ENV, "").strip() or "0"
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"{PUBLISH_MIN_DELTA_ENV} must be a number") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"{PUBLISH_MIN_DELTA_ENV} must be a finite number >= 0")
    return value


def _reach_ms(magnitude: float, target: float, half_life_ms: float) -> float | None:
    """Milliseconds after as_of at which |raw| decays from `magnitude` to `target` (None: never)."""
    if target <= 0.0 or target >= magnitude:
        return None
    return half_life_ms * math.log2(magnitude / target)


def _tier_target(model: ScoringModel, raw: Decimal, score: Decimal) -> float | None:
    """|raw| at which the score leaves its tier as it decays, or None when it never does."""
    boundaries = [tier.min_score for tier in model.tiers[1:]]  # the lowest tier has no lower edge
    floor, ceiling = model.floor, model.ceiling
    if raw > 0:
        # Down: the current tier's own boundary, if the floor lets the score fall below it.
        below = [m for m in boundaries if ZERO < m <= score and (floor is None or floor < m)]
        if not below:
            return None
        edge = float(max(below))
        return edge - _QUANTUM / 2 if edge > _QUANTUM else edge / 2
    # Up towards 0: the next boundary above the score, if the ceiling lets the score reach it. A
    # boundary at 0 is reached when the stored score rounds to 0.
    above = [m for m in boundaries if score < m <= ZERO and (ceiling is None or m <= ceiling)]
    if not above:
        return None
    edge = float(min(above))
    return -edge if edge < 0 else _QUANTUM / 2


def _publish_target(
    model: ScoringModel, raw: Decimal, score: Decimal, reference: Decimal, min_delta: Decimal
) -> float | None:
    """|raw| at which the score has moved by the step from `reference`; 0.0 when it already has."""
    step = min_delta if min_delta > 0 else ZERO_THRESHOLD_STEP
    if raw > 0:
        target = reference - step
        if score <= target:
            return 0.0
        if target <= 0 or (model.floor is not None and model.floor > target):
            return None
        return float(target)
    target = reference + step
    if score >= target:
        return 0.0
    if target >= 0 or (model.ceiling is not None and model.ceiling < target):
        return None
    return float(-target)


def next_due(
    model: ScoringModel,
    raw: Decimal,
    as_of_ms: int,
    published: Decimal | None,
    min_delta: Decimal,
) -> int | None:
    """Epoch seconds at which the decayed score next matters (see the module docstring), or None.

    `published` is the score the sinks will have seen once this write is applied (`pub.s`); None
    means the current score (every score change is published, as before `pub`)."""
    if not model.decays or raw == 0:
        return None
    score = model.clamp(raw)
    reference = score if published is None else published
    magnitude = float(abs(raw))
    half_life_ms = float(model.half_life_hours) * MS_PER_HOUR
    candidates = []
    publish = _publish_target(model, raw, score, reference, min_delta)
    if publish == 0.0:
        return as_of_ms // 1000  # already moved by the step: due at once
    for target in (publish, _tier_target(model, raw, score)):
        if target is None:
            continue
        elapsed = _reach_ms(magnitude, target, half_life_ms)
        if elapsed is not None:
            candidates.append(as_of_ms + elapsed)
    if not candidates:
        return None
    return math.floor(min(candidates) / 1000) + 1


def due_at(
    model: ScoringModel,
    raw: Decimal,
    as_of_ms: int,
    published: Decimal | None,
    min_delta: Decimal,
    windows: Sequence[WindowRule] = (),
    window_state: Mapping[str, RuleState] | None = None,
    windows_at_s: int | None = None,
) -> int | None:
    """The item's `due_at` (epoch seconds): the earliest of the decay's next due time (`next_due`) and the
    next change of a sliding window rule with no new event (`core/windows.next_change` from
    `windows_at_s`, the time the rules were just evaluated at: the write's `as_of` when None, as in the
    scorer; the refresher passes its clock). None when neither will ever be due."""
    decay = next_due(model, raw, as_of_ms, published, min_delta)
    if not windows or not window_state:
        return decay
    at_s = as_of_ms // 1000 if windows_at_s is None else windows_at_s
    change = windows_core.next_change(windows, window_state, at_s)
    if decay is None:
        return change
    return decay if change is None else min(decay, change)


@dataclass(frozen=True, slots=True)
class Refresh:
    """The refresher's write of one user: the state decayed to now, what the sinks see, the next due."""

    state: UserState
    score: Decimal
    tier: str | None
    publish: Published | None  # the new `pub`, or None to keep the stored one
    due_at: int | None  # None: nothing will ever matter, the user leaves the index
    # The window state pruned and the rules re-evaluated at now (None: no window rules configured, the
    # item's `wr` and `rules` are left alone), and whether the matched set moved (a publication).
    timed: TimedState | None = None
    rules_changed: bool = False


def refresh(
    state: UserState,
    last: Published | None,
    model: ScoringModel,
    now_ms: int,
    min_delta: Decimal,
    previous_tier: str | None = None,
    timed: tuple[TimedRules, TimedState] | None = None,
) -> Refresh:
    """Decay `state` to `now_ms`, re-evaluate the window rules there (`timed`: the configured rules and
    the item's stored window state; limits are left alone), decide the publication (core/publication.py;
    a change of the matched rules is one) and the next due time (`previous_tier`: the tier the item
    holds, for the tier hysteresis, as in the scorer's write)."""
    new_state = decay_to(state, now_ms, model)
    score, tier = score_view(new_state, model, previous_tier)
    timed_state: TimedState | None = None
    rules_changed = False
    windows: tuple[WindowRule, ...] = ()
    if timed is not None:
        rules, stored = timed
        windows = rules.windows
        timed_state = refreshed(rules, stored, now_ms)
        rules_changed = timed_state.matched != stored.matched
    publish = should_publish(last, score, tier, min_delta=min_delta, rules_changed=rules_changed)
    published = Published(score, tier) if publish else last
    due = due_at(
        model,
        new_state.raw,
        new_state.as_of if new_state.as_of is not None else now_ms,
        published.score if published is not None else None,
        min_delta,
        windows,
        None if timed_state is None else timed_state.windows,
        now_ms // 1000,
    )
    return Refresh(new_state, score, tier, published if publish else None, due, timed_state, rules_changed)
