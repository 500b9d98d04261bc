"""core/due.py: when a decayed score next matters, worked out by hand (half-life 1 hour, as_of 0).

raw(t) = raw * 2 ** (-t / 1 h), so raw reaches x after 3600 * log2(raw / x) seconds; `next_due` rounds
that instant down and adds one second. The figures in the comments are those logarithms.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from engagement_scoring.core import windows
from engagement_scoring.core.due import (
    DUE_SHARDS,
    due_at,
    due_shard,
    next_due,
    publish_min_delta,
    refresh,
)
from engagement_scoring.core.model import ScoringModel, Tier, UserState, decay_to, score_view
from engagement_scoring.core.publication import Published
from engagement_scoring.core.timed import TimedRules, TimedState

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


# ---- sliding window rules in the due time (#10 item 5) ---------------------------------------------

T0_S = 1_700_006_400  # 2023-11-15 00:00:00 UTC, an hour boundary
THREE_CLICKS = windows.parse_window_rules(
    '[{"name": "three_clicks", "event_types": ["_email.click"], "threshold": 3, "window_hours": 24}]'
)


def three_clicks(*hours: int) -> dict[str, windows.RuleState]:
    """The window state after clicks at T0 + each hour, as of the last one."""
    events = [((T0_S + h * 3600) * 1000, "_email.click", "email", None) for h in hours]
    return windows.apply(THREE_CLICKS, {}, events, (T0_S + max(hours) * 3600) * 1000)


def test_due_at_without_decay_is_the_windows_next_change() -> None:
    state = three_clicks(0, 1, 2)  # matched at T0 + 2 h; the first click's hour leaves at hour 0 + 24 + 1
    as_of_ms = (T0_S + 2 * 3600) * 1000
    assert due_at(ScoringModel(), D(150), as_of_ms, None, D(0), THREE_CLICKS, state) == T0_S + 25 * 3600
    # evaluated later (the refresher's clock), the same change is still the next one
    assert due_at(ScoringModel(), D(150), as_of_ms, None, D(0), THREE_CLICKS, state, T0_S + 20 * 3600) == (
        T0_S + 25 * 3600
    )
    # not matched (two clicks), or no window rules: nothing is due, whatever the score
    assert due_at(ScoringModel(), D(150), as_of_ms, None, D(0), THREE_CLICKS, three_clicks(0, 1)) is None
    assert due_at(ScoringModel(), D(150), as_of_ms, None, D(0)) is None


def test_due_at_with_decay_is_the_earlier_of_both() -> None:
    state = three_clicks(0, 1, 2)
    as_of_ms = (T0_S + 2 * 3600) * 1000
    # half-life 1 h, 100 -> 99 (step 1): 53 s after as_of, long before the window's change
    assert due_at(HOUR, D(100), as_of_ms, None, D(0), THREE_CLICKS, state) == T0_S + 2 * 3600 + 53
    # half-life 1000 h, step 10: 100 -> 90 after 1000 * 3600 * log2(100 / 90) = 547,211.14 s (> 23 h)
    slow = ScoringModel(half_life_hours=D(1000))
    assert next_due(slow, D(100), as_of_ms, None, D(10)) == T0_S + 2 * 3600 + 547_212
    assert due_at(slow, D(100), as_of_ms, None, D(10), THREE_CLICKS, state) == T0_S + 25 * 3600
    # the decay alone when no window will change
    assert due_at(slow, D(100), as_of_ms, None, D(10), THREE_CLICKS, three_clicks(0, 1)) == (
        T0_S + 2 * 3600 + 547_212
    )


def test_refresh_clears_the_rule_at_its_clock_and_publishes_the_change() -> None:
    timed = TimedRules(THREE_CLICKS)
    state = three_clicks(0, 1, 2)
    stored = TimedState(state, {}, frozenset({"three_clicks"}))
    user = UserState(raw=D(150), as_of=(T0_S + 2 * 3600) * 1000, version=3)
    last = Published(D(150), None)
    model = ScoringModel()  # decay off: only the window moves
    before = refresh(user, last, model, (T0_S + 25 * 3600 - 1) * 1000, D(0), timed=(timed, stored))
    assert before.timed is not None and before.timed.matched == {"three_clicks"}
    assert (before.rules_changed, before.publish, before.due_at) == (False, None, T0_S + 25 * 3600)
    change = refresh(user, last, model, (T0_S + 25 * 3600) * 1000, D(0), timed=(timed, stored))
    assert change.timed is not None and change.timed.matched == frozenset()
    assert change.timed.windows == {"three_clicks": (T0_S // 3600 + 1, T0_S // 3600 + 2)}  # pruned
    # a change of the matched rules is a publication, with the score unchanged; nothing is due any more
    assert (change.rules_changed, change.publish, change.due_at) == (True, Published(D(150), None), None)
    assert (change.score, change.state.as_of, change.state.version) == (D(150), user.as_of, 4)
    # without window rules the refresher leaves `wr` and `rules` alone
    assert refresh(user, last, model, (T0_S + 25 * 3600) * 1000, D(0)).timed is None
