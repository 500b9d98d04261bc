"""The score model: exact sums by default, decay with a half-life, floor/ceiling views, tiers."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest
from engagement_scoring.core.model import (
    MAX_ENDPOINT_IDS,
    Contribution,
    InvalidTiers,
    ScoringModel,
    Tier,
    UserState,
    apply_contributions,
    merge_endpoint_ids,
    parse_tiers,
    score_view,
)
from hypothesis import given, settings
from hypothesis import strategies as st

HOUR_MS = 3_600_000
NO_DECAY = ScoringModel()
DAILY_HALF_LIFE = ScoringModel(half_life_hours=Decimal(24))


def contribution(
    points: int | str, at_ms: int, channel: str = "email", endpoint: str | None = None
) -> Contribution:
    return Contribution(Decimal(points), at_ms, channel, endpoint)


def test_without_decay_the_score_is_the_exact_sum_of_points() -> None:
    # given a new user and the original points of three events
    state = UserState()
    # when they are applied in two writes
    state = apply_contributions(state, [contribution(10, 1000), contribution(50, 500)], NO_DECAY)
    state = apply_contributions(state, [contribution(2, 200, "sms")], NO_DECAY)
    # then the raw score is the plain sum, the newest event time is as_of, and channels split it
    assert state.raw == Decimal(62)
    assert state.as_of == 1000
    assert state.channels == {"email": Decimal(60), "sms": Decimal(2)}
    assert state.events_applied == 3
    assert state.version == 2
    assert score_view(state, NO_DECAY) == (Decimal(62), None)


def test_without_decay_fractional_points_stay_exact() -> None:
    state = apply_contributions(UserState(), [contribution("0.1", 1)] * 3, NO_DECAY)
    assert state.raw == Decimal("0.3")


@pytest.mark.parametrize(
    ("elapsed_hours", "expected"),
    [(0, "100.000000"), (24, "50.000000"), (48, "25.000000"), (72, "12.500000"), (12, "70.710678")],
)
def test_a_score_halves_every_half_life(elapsed_hours: int, expected: str) -> None:
    # given 100 points at t=0, then a zero-point event later that moves as_of
    state = apply_contributions(UserState(), [contribution(100, 0)], DAILY_HALF_LIFE)
    state = apply_contributions(state, [contribution(0, elapsed_hours * HOUR_MS)], DAILY_HALF_LIFE)
    # then the stored raw score is 100 * 2^(-elapsed/24h), to 6 decimal places
    assert state.raw == Decimal(expected)
    assert state.channels["email"] == Decimal(expected)


def test_an_event_older_than_as_of_is_decayed_to_as_of() -> None:
    # given a user at as_of = 48h
    state = apply_contributions(UserState(), [contribution(10, 48 * HOUR_MS)], DAILY_HALF_LIFE)
    # when an event from 24h arrives late
    state = apply_contributions(state, [contribution(40, 24 * HOUR_MS)], DAILY_HALF_LIFE)
    # then it adds 40 * 2^-1 and as_of does not move back
    assert state.raw == Decimal("30.000000")
    assert state.as_of == 48 * HOUR_MS


def closed_form(events: list[tuple[int, int]], half_life_ms: float) -> float:
    as_of = max(at for _, at in events)
    return sum(points * 2 ** (-(as_of - at) / half_life_ms) for points, at in events)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-1000, 1000), st.integers(0, 30 * 24 * HOUR_MS)),
        min_size=1,
        max_size=30,
    ),
    st.randoms(use_true_random=False),
    st.integers(1, 5),
)
def test_decay_is_order_independent_and_matches_the_closed_form(
    events: list[tuple[int, int]], shuffler: random.Random, writes: int
) -> None:
    # given events applied in one order, one per write
    in_order = UserState()
    for points, at in sorted(events, key=lambda event: event[1]):
        in_order = apply_contributions(in_order, [contribution(points, at)], DAILY_HALF_LIFE)
    # and the same events shuffled and grouped into a few writes
    shuffled = list(events)
    shuffler.shuffle(shuffled)
    other = UserState()
    size = math.ceil(len(shuffled) / writes)
    for start in range(0, len(shuffled), size):
        group = [contribution(points, at) for points, at in shuffled[start : start + size]]
        other = apply_contributions(other, group, DAILY_HALF_LIFE)
    # then both equal the closed form, within the 6-decimal rounding of each write
    expected = closed_form(events, DAILY_HALF_LIFE.half_life_ms)
    tolerance = 1e-6 * len(events) + 1e-9 * abs(expected)
    assert abs(float(in_order.raw) - expected) <= tolerance
    assert abs(float(other.raw) - expected) <= tolerance
    assert in_order.as_of == other.as_of == max(at for _, at in events)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-1000, 1000), st.integers(0, 10**12)), min_size=1, max_size=30),
    st.randoms(use_true_random=False),
)
def test_without_decay_any_order_and_grouping_gives_the_same_exact_state(
    events: list[tuple[int, int]], shuffler: random.Random
) -> None:
    one_write = apply_contributions(UserState(), [contribution(p, t) for p, t in events], NO_DECAY)
    shuffled = list(events)
    shuffler.shuffle(shuffled)
    one_by_one = UserState()
    for points, at in shuffled:
        one_by_one = apply_contributions(one_by_one, [contribution(points, at)], NO_DECAY)
    assert one_write.raw == one_by_one.raw == Decimal(sum(p for p, _ in events))
    assert one_write.as_of == one_by_one.as_of
    assert one_write.channels == one_by_one.channels


@pytest.mark.parametrize(
    ("raw", "floor", "ceiling", "score"),
    [
        ("-1500", "0", "1000", "0"),
        ("1500", "0", "1000", "1000"),
        ("500", "0", "1000", "500"),
        ("0", "0", "1000", "0"),
        ("1000", "0", "1000", "1000"),
        ("-1500", None, None, "-1500"),
        ("-1500", "-100", None, "-100"),
        ("99999", None, "100", "100"),
    ],
)
def test_floor_and_ceiling_clamp_the_score(
    raw: str, floor: str | None, ceiling: str | None, score: str
) -> None:
    model = ScoringModel(
        floor=None if floor is None else Decimal(floor), ceiling=None if ceiling is None else Decimal(ceiling)
    )
    assert score_view(UserState(raw=Decimal(raw)), model)[0] == Decimal(score)


def test_clamping_is_a_view_so_order_does_not_matter() -> None:
    # given a floor of 0: a bounce first, then clicks, or the other way round
    model = ScoringModel(floor=Decimal(0))
    bounce_first = apply_contributions(UserState(), [contribution(-1000, 1)], model)
    bounce_first = apply_contributions(bounce_first, [contribution(50, 2), contribution(50, 3)], model)
    clicks_first = apply_contributions(UserState(), [contribution(50, 2), contribution(50, 3)], model)
    clicks_first = apply_contributions(clicks_first, [contribution(-1000, 1)], model)
    # then the raw sums agree and the visible score is the floor in both cases
    assert bounce_first.raw == clicks_first.raw == Decimal(-900)
    assert score_view(bounce_first, model)[0] == score_view(clicks_first, model)[0] == Decimal(0)


TIERS = parse_tiers(
    '[{"name": "warm", "min_score": 50}, {"name": "cold", "min_score": 0},'
    ' {"name": "hot", "min_score": 100.5}]'
)


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        ("-1000", "cold"),  # below every min_score: the lowest tier
        ("-0.000001", "cold"),
        ("0", "cold"),
        ("49.999999", "cold"),
        ("50", "warm"),
        ("100.4", "warm"),
        ("100.5", "hot"),
        ("1e9", "hot"),
    ],
)
def test_tier_is_the_highest_band_reached(score: str, tier: str) -> None:
    assert ScoringModel(tiers=TIERS).tier_for(Decimal(score)) == tier


def test_no_tiers_means_no_tier() -> None:
    assert ScoringModel().tier_for(Decimal(10)) is None
    assert parse_tiers("[]") == ()


def test_tiers_are_sorted_by_min_score() -> None:
    assert [tier.name for tier in TIERS] == ["cold", "warm", "hot"]
    assert TIERS[2] == Tier("hot", Decimal("100.5"))


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "x"}',
        "[1]",
        '[{"name": "a"}]',
        '[{"name": "a", "min_score": "1"}]',
        "not json",
        '[{"name": "a", "min_score": 1}, {"name": "a", "min_score": 2}]',
    ],
)
def test_invalid_tiers_are_refused(text: str) -> None:
    with pytest.raises(InvalidTiers):
        parse_tiers(text)


def test_tier_uses_the_clamped_score() -> None:
    model = ScoringModel(ceiling=Decimal(60), tiers=TIERS)
    assert score_view(UserState(raw=Decimal(500)), model) == (Decimal(60), "warm")


def test_endpoint_ids_keep_known_ones_and_stop_at_fifty() -> None:
    known = tuple(f"e{i}" for i in range(48))
    merged = merge_endpoint_ids(known, ["e1", None, "n1", "n2", "n3", "n1"])
    assert merged == (*known, "n1", "n2")
    assert len(merged) == MAX_ENDPOINT_IDS


def test_model_refuses_a_floor_above_the_ceiling() -> None:
    with pytest.raises(ValueError):
        ScoringModel(floor=Decimal(10), ceiling=Decimal(5))
