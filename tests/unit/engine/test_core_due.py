"""core/due.py: when a decayed score next matters, worked out by hand (half-life 1 hour, as_of 0).

raw(t) = raw * 2 ** (-t / 1 h), so raw reaches x after 3600 * log2(raw / x) seconds; `next_due` rounds
that instant down and adds one second. The figures in the comments are those logarithms.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from engagement_scoring.core.due import (
    DUE_SHARDS,
    due_shard,
    next_due,
    publish_min_delta,
)
from engagement_scoring.core.model import ScoringModel, Tier, UserState, decay_to, score_view

D = Decimal
HOUR = ScoringModel(half_life_hours=D(1))
TIERED = ScoringModel(
    half_life_hours=D(1), tiers=(Tier("cold", D(0)), Tier("warm", D(50)), Tier("hot", D(80)))
)


def test_decay_off_or_nothing_left_is_never_due() -> None:
    assert next_due(ScoringModel(), D(100), 0, None, D(0)) is None
    assert next_due(TIERED, D(0), 0, None, D(10)) is None


def test_threshold_zero_steps_one_whole_point() -> None:
    # 100 -> 99: 3600 * log2(100 / 99) = 52.198 s
    assert next_due(HOUR, D(100), 0, None, D(0)) == 53


def test_publication_threshold_from_the_current_score() -> None:
    # 100 -> 90: 547.211 s
    assert next_due(HOUR, D(100), 0, None, D(10)) == 548


def test_publication_threshold_from_what_the_sinks_last_saw() -> None:
    # published 95, threshold 10: the score matters at 85; 100 -> 85: 844.075 s
    assert next_due(HOUR, D(100), 0, D(95), D(10)) == 845
    # already 20 below what was published: due at once (as_of's second)
    assert next_due(HOUR, D(100), 1_700_000_000_999, D(120), D(10)) == 1_700_000_000


def test_tier_boundary_comes_first_when_nearer() -> None:
    # hot's edge 80 (aimed at 80 - 0.0000005): 1158.941 s; threshold 30 (-> 70) would be 1852.463 s
    assert next_due(TIERED, D(100), 0, None, D(30)) == 1159
    # threshold 10 (-> 90, 547.211 s) comes before the tier edge
    assert next_due(TIERED, D(100), 0, None, D(10)) == 548


def test_as_of_in_milliseconds_is_added() -> None:
    assert next_due(HOUR, D(100), 1_700_000_000_500, None, D(10)) == 1_700_000_000 + 548


def test_floor_stops_the_decay_from_mattering() -> None:
    model = ScoringModel(half_life_hours=D(1), floor=D(95), tiers=(Tier("cold", D(0)), Tier("hot", D(80))))
    # the score cannot fall below 95: neither 90 nor the edge 80 is ever reached
    assert next_due(model, D(100), 0, None, D(10)) is None


def test_ceiling_holds_the_score_until_raw_falls_below_it() -> None:
    model = ScoringModel(half_life_hours=D(1), ceiling=D(100))
    # score 100 (raw 400); 90 is reached when raw is 90: 3600 * log2(400 / 90) = 7747.211 s
    assert next_due(model, D(400), 0, None, D(10)) == 7748


def test_negative_scores_rise_towards_zero() -> None:
    model = ScoringModel(
        half_life_hours=D(1),
        tiers=(Tier("blocked", D(-1000)), Tier("doubtful", D(-50)), Tier("ok", D(0))),
    )
    # -100 -> -50 (doubtful's edge): one half-life; threshold 100 would need 0, never reached
    assert next_due(model, D(-100), 0, None, D(100)) == 3601
    # threshold 10: -100 -> -90: 547.211 s
    assert next_due(model, D(-100), 0, None, D(10)) == 548


def test_the_last_step_towards_zero_is_never_due() -> None:
    # published 5, threshold 10: 5 - 10 < 0, and the decay never crosses 0
    assert next_due(HOUR, D(5), 0, None, D(10)) is None


@pytest.mark.parametrize(
    ("half_life", "raw", "edge"),
    [(D(1), D(100), D(80)), (D(8760), D(1.5), D(1)), (D(720), D("50.000002"), D(50))],
)
def test_at_due_the_stored_score_has_crossed_the_tier_edge(half_life: D, raw: D, edge: D) -> None:
    # A slow decay (a year's half-life near an edge of 1) moves less than the stored quantum a second:
    # the margin makes the stored, rounded score cross at due_at and not a second before.
    model = ScoringModel(half_life_hours=half_life, tiers=(Tier("low", D(0)), Tier("high", edge)))
    state = UserState(raw=raw, as_of=0, version=1)
    due = next_due(model, raw, 0, None, D(10**6))
    assert due is not None
    assert score_view(decay_to(state, due * 1000, model), model)[1] == "low"
    assert score_view(decay_to(state, (due - 1) * 1000, model), model)[1] == "high"


def test_decay_to_carries_raw_and_channels_and_moves_the_version() -> None:
    state = UserState(
        raw=D(100), as_of=0, channels={"email": D(60), "sms": D(40)}, events_applied=3, version=7
    )
    later = decay_to(state, 3_600_000, HOUR)
    assert (later.raw, later.as_of, later.version, later.events_applied) == (D(50), 3_600_000, 8, 3)
    assert later.channels == {"email": D(30), "sms": D(20)}
    # never backwards in time
    assert decay_to(state, -5, HOUR).raw == D(100)


def test_shards_are_stable_strings_and_spread_users() -> None:
    assert due_shard("u-1") == due_shard("u-1")
    counts = Counter(due_shard(f"user-{index}") for index in range(16_000))
    assert set(counts) == {str(shard) for shard in range(DUE_SHARDS)}
    # 1,000 expected per shard; a fair hash stays well within +-15% (about 5 standard deviations)
    assert all(850 <= count <= 1150 for count in counts.values()), counts


def test_publish_min_delta_from_the_environment() -> None:
    assert publish_min_delta({}) == D(0)
    assert publish_min_delta({"SCORE_PUBLISH_MIN_DELTA": "2.5"}) == D("2.5")
    for bad in ("-1", "x", "NaN"):
        with pytest.raises(ValueError, match="SCORE_PUBLISH_MIN_DELTA"):
            publish_min_delta({"SCORE_PUBLISH_MIN_DELTA": bad})
