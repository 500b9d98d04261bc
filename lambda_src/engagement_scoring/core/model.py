"""The score model: a decayed sum of points kept at `as_of`, clamped to floor/ceiling, banded into tiers.

With events i of points p_i at event times t_i and as_of = max t_i:

    raw = sum_i p_i * 2 ** (-(as_of - t_i) / H)        (H = half-life; H = 0 means no decay: plain sum)
    score = clamp(raw, floor, ceiling)

The state stores `raw` at `as_of`, so a new event at t is applied exactly whatever the arrival order:
older than as_of it adds p * 2 ** (-(as_of - t) / H); newer, raw first decays by 2 ** (-(t - as_of) / H),
then p is added and as_of moves to t. Clamping is a view of raw, so it does not depend on order either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation

ZERO = Decimal(0)
MS_PER_HOUR = 3_600_000
# Stored precision of decayed numbers; without decay sums stay exact.
DECAYED_QUANTUM = Decimal("0.000001")
# DynamoDB numbers carry up to 38 significant digits.
_ARITHMETIC = Context(prec=38)
_QUANTIZE = Context(prec=60)


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    min_score: Decimal


class InvalidTiers(ValueError):
    """The TIERS setting is not a list of {"name": str, "min_score": number}."""


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """Tiers from the TIERS JSON (`[{"name": "cold", "min_score": 0}, ...]`), sorted by min_score."""
    try:
        value = json.loads(text or "[]", parse_float=Decimal, parse_int=Decimal)
    except ValueError as exc:
        raise InvalidTiers("TIERS is not JSON") from exc
    if not isinstance(value, list):
        raise InvalidTiers("TIERS must be a JSON list")
    tiers = []
    for entry in value:
        if not isinstance(entry, dict):
            raise InvalidTiers("each tier must be an object")
        name, min_score = entry.get("name"), entry.get("min_score")
        if not isinstance(name, str) or not name or not isinstance(min_score, Decimal):
            raise InvalidTiers("each tier needs a name and a numeric min_score")
        tiers.append(Tier(name, min_score))
    if len({tier.name for tier in tiers}) != len(tiers):
        raise InvalidTiers("tier names must be unique")
    return tuple(sorted(tiers, key=lambda tier: tier.min_score))


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """How raw points become a score: decay half-life (hours, 0 = none), floor, ceiling and tiers."""

    half_life_hours: Decimal = ZERO
    floor: Decimal | None = None
    ceiling: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    # Tier hysteresis (points, TIER_HYSTERESIS_POINTS): a user keeps its tier while its score stays less
    # than this far below the tier's min_score, so a score around a boundary does not flap between tiers.
    tier_hysteresis: Decimal = ZERO

    def __post_init__(self) -> None:
        if self.half_life_hours < 0:
            raise ValueError("the half-life must not be negative")
        if self.tier_hysteresis < 0:
            raise ValueError("the tier hysteresis must not be negative")
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError("the floor must not exceed the ceiling")

    @property
    def decays(self) -> bool:
        return self.half_life_hours > 0

    @property
    def half_life_ms(self) -> float:
        return float(self.half_life_hours) * MS_PER_HOUR

    def clamp(self, raw: Decimal) -> Decimal:
        if self.floor is not None and raw < self.floor:
            return self.floor
        if self.ceiling is not None and raw > self.ceiling:
            return self.ceiling
        return raw

    def tier_for(self, score: Decimal, previous: str | None = None) -> str | None:
        """The tier with the highest min_score <= score; the lowest tier below all; None without tiers.

        With hysteresis and the user's `previous` tier: that tier is kept while it is above the plain
        tier and the score is at least its min_score minus the hysteresis (going up is never delayed)."""
        if not self.tiers:
            return None
        chosen = self.tiers[0]
        for tier in self.tiers:
            if tier.min_score <= score:
                chosen = tier
            else:
                break
        if previous is not None and previous != chosen.name and self.tier_hysteresis > ZERO:
            for tier in self.tiers:
                if tier.name == previous:
                    if tier.min_score > chosen.min_score and score >= tier.min_score - self.tier_hysteresis:
                        return tier.name
                    break
        return chosen.name


@dataclass(frozen=True, slots=True)
class Contribution:
    """One counted event as the model sees it."""

    points: Decimal
    timestamp_ms: int
    channel: str
    endpoint_id: str | None = None


MAX_ENDPOINT_IDS = 50


@dataclass(frozen=True, slots=True)
class UserState:
    """A user's stored score state; version 0 means the user item does not exist yet."""

    raw: Decimal = ZERO
    as_of: int | None = None
    channels: Mapping[str, Decimal] = field(default_factory=dict)
    events_applied: int = 0
    endpoint_ids: tuple[str, ...] = ()
    version: int = 0


def decay_factor(elapsed_ms: int, half_life_ms: float) -> float:
    """2 ** (-elapsed / H): the share of a score left after `elapsed_ms`."""
    return 2.0 ** (-elapsed_ms / half_life_ms)


def _quantized(value: float) -> Decimal:
    try:
        return Decimal(repr(value)).quantize(DECAYED_QUANTUM, context=_QUANTIZE)
    except InvalidOperation:  # too large for the quantum: keep what the float holds
        return Decimal(repr(value))


def _decayed_sums(
    state: UserState, contributions: Sequence[Contribution], as_of: int, half_life_ms: float
) -> tuple[Decimal, dict[str, Decimal]]:
    carry = decay_factor(as_of - state.as_of, half_life_ms) if state.as_of is not None else 0.0
    raw = float(state.raw) * carry
    channels = {name: float(value) * carry for name, value in state.channels.items()}
    for item in contributions:
        share = float(item.points) * decay_factor(as_of - item.timestamp_ms, half_life_ms)
        raw += share
        channels[item.channel] = channels.get(item.channel, 0.0) + share
    return _quantized(raw), {name: _quantized(value) for name, value in channels.items()}


def merge_endpoint_ids(known: Sequence[str], seen: Iterable[str | None]) -> tuple[str, ...]:
    """Known ids first, then new ones in order of appearance, at most MAX_ENDPOINT_IDS."""
    merged = list(known[:MAX_ENDPOINT_IDS])
    present = set(merged)
    for endpoint_id in seen:
        if len(merged) >= MAX_ENDPOINT_IDS:
            break
        if endpoint_id and endpoint_id not in present:
            merged.append(endpoint_id)
            present.add(endpoint_id)
    return tuple(merged)


def apply_contributions(
    state: UserState, contributions: Sequence[Contribution], model: ScoringModel
) -> UserState:
    """The state after counting `contributions` (in any order) once each; the version moves by one."""
    if not contributions:
        return state
    if not model.decays:
        return add_exactly(
            state,
            [(item.points, item.timestamp_ms, item.channel, item.endpoint_id) for item in contributions],
        )
    newest = max(item.timestamp_ms for item in contributions)
    as_of = newest if state.as_of is None else max(state.as_of, newest)
    raw, channels = _decayed_sums(state, contributions, as_of, model.half_life_ms)
    return UserState(
        raw=raw,
        as_of=as_of,
        channels=channels,
        events_applied=state.events_applied + len(contributions),
        endpoint_ids=merge_endpoint_ids(state.endpoint_ids, (item.endpoint_id for item in contributions)),
        version=state.version + 1,
    )


def add_exactly(state: UserState, contributions: Sequence[tuple[Decimal, int, str, str | None]]) -> UserState:
    """`apply_contributions` for a model without decay, from (points, timestamp_ms, channel, endpoint_id)
    tuples: the sums are exact, in order. The scorer calls it directly, one tuple per counted event
    rather than a Contribution (benchmark B2)."""
    if not contributions:
        return state
    add = _ARITHMETIC.add
    raw = state.raw
    channels = dict(state.channels)
    newest = contributions[0][1]
    for points, timestamp_ms, channel, _ in contributions:
        raw = add(raw, points)
        channels[channel] = add(channels.get(channel, ZERO), points)
        if timestamp_ms > newest:
            newest = timestamp_ms
    return UserState(
        raw=raw,
        as_of=newest if state.as_of is None else max(state.as_of, newest),
        channels=channels,
        events_applied=state.events_applied + len(contributions),
        endpoint_ids=merge_endpoint_ids(state.endpoint_ids, [item[3] for item in contributions]),
        version=state.version + 1,
    )


def score_view(
    state: UserState, model: ScoringModel, previous_tier: str | None = None
) -> tuple[Decimal, str | None]:
    """The score users see (raw clamped to floor/ceiling) and its tier (`previous_tier`: the tier the
    item holds, for the hysteresis)."""
    score = model.clamp(state.raw)
    return score, model.tier_for(score, previous_tier)


def decay_to(state: UserState, as_of: int, model: ScoringModel) -> UserState:
    """The state decayed to a later `as_of` with no new event (the refresher's write): raw and channels
    carried by 2 ** (-(as_of - state.as_of) / H) and quantized as a scorer write would; the version moves
    by one. A state without decay, without as_of, or already at or past `as_of` keeps its numbers."""
    if not model.decays or state.as_of is None or as_of <= state.as_of:
        raw, channels, as_of = state.raw, dict(state.channels), state.as_of or as_of
    else:
        raw, channels = _decayed_sums(state, (), as_of, model.half_life_ms)
    return UserState(
        raw=raw,
        as_of=as_of,
        channels=channels,
        events_applied=state.events_applied,
        endpoint_ids=state.endpoint_ids,
        version=state.version + 1,
    )
