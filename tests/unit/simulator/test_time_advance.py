"""simulator/time_advance.py: the clock, the as-of-now views and the checks of the time-advance phase.

Half-life 24 h: a raw score of 100 at as_of is 50 one day later, 25 two days later.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from simulator.oracle import Expectation, ExpectedUser, Settings, Tier, window_rules_from_json
from simulator.time_advance import (
    AdvanceResult,
    certainly_due,
    check_items,
    check_sinks,
    clock,
    parse_now,
    publication_step,
    run_until_idle,
)

D = Decimal
DAY_MS = 86_400_000
T0_S = 1_767_225_600  # 2026-01-01T00:00:00Z
SETTINGS = Settings(
    decay_half_life_hours=24.0, tiers=(Tier("cold", D(0)), Tier("warm", D(40)), Tier("hot", D(80)))
)


def expectation(raw: float = 100.0, as_of_ms: int = T0_S * 1000) -> Expectation:
    return Expectation(users={"u-1": ExpectedUser("u-1", raw, raw, {"custom": raw}, "hot", 1, as_of_ms)})


def test_clock_from_now_or_hours_after_the_newest_event() -> None:
    assert parse_now("2026-01-01T00:00:00Z") == T0_S
    assert parse_now("2026-01-01T00:00:00") == T0_S  # UTC when no zone
    assert clock(T0_S, None, None) == T0_S
    assert clock(None, 24, T0_S * 1000 + 999) == T0_S + 86_400
    assert clock(None, None, T0_S * 1000) is None
    with pytest.raises(ValueError, match="advance-hours"):
        clock(None, 1, None)


def test_items_as_of_now_against_the_oracle() -> None:
    now = T0_S + 86_400
    # refreshed at now: 50, warm
    refreshed = {"u-1": {"raw_score": D(50), "score": D(50), "as_of": D(now * 1000), "tier": "warm"}}
    users, mismatches = check_items(expectation(), refreshed, SETTINGS, now)
    assert users == {"u-1": {"score": 50.0, "tier": "warm", "rules": []}} and mismatches == []
    # not refreshed but not due either: its raw decays to now in the view; the stored tier is stale
    stale = {"u-1": {"raw_score": D(100), "score": D(100), "as_of": D(T0_S * 1000), "tier": "hot"}}
    users, mismatches = check_items(expectation(), stale, SETTINGS, now)
    assert users["u-1"] == {"score": 50.0, "tier": "warm", "rules": []}
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [("tier as of now", "warm", "hot")]
    # still due at now, and a wrong score
    due = {"u-1": {"raw_score": D(60), "as_of": D(now * 1000), "tier": "warm", "due_at": D(now)}}
    _, mismatches = check_items(expectation(), due, SETTINGS, now)
    assert {m.field for m in mismatches} == {"due_at", "score as of now"}


def test_sinks_must_have_the_tier_and_a_score_within_the_step() -> None:
    now = T0_S + 2 * 86_400  # the oracle says 25: cold
    events: list[dict[str, Any]] = [
        {
            "detail-type": "EngagementScoreChanged",
            "detail": {"user_key": "u-1", "version": 1, "score": 100, "tier": "hot"},
        },
        {
            "detail-type": "EngagementScoreChanged",
            "detail": {"user_key": "u-1", "version": 3, "score": 25.4, "tier": "cold"},
        },
        {
            "detail-type": "EngagementScoreChanged",
            "detail": {"user_key": "u-1", "version": 2, "score": 50, "tier": "warm"},
        },
    ]
    # (each tier move also published an EngagementTierChanged, the refresher's ones at versions 2 and 3)
    tier_events: list[dict[str, Any]] = [
        {"detail-type": "EngagementTierChanged", "detail": {"user_key": "u-1", "version": v, "tier": t}}
        for v, t in ((3, "cold"), (1, "hot"), (2, "warm"))
    ]
    good = AdvanceResult(now)
    objects = {"u-1": {"score": 25.9, "tier": "cold"}}
    check_sinks(good, expectation(), SETTINGS, 1.0, objects, events + tier_events)
    assert good.eventbridge is not None and good.customer_profiles is not None
    # (EventBridge: the newest score event and the newest tier event)
    assert (good.eventbridge.ok, good.customer_profiles.ok, good.mismatch_count) == (2, 1, 0)
    bad = AdvanceResult(now)
    check_sinks(bad, expectation(), SETTINGS, 1.0, {"u-1": {"score": 26.5, "tier": "cold"}}, events[:1])
    assert bad.customer_profiles is not None and bad.customer_profiles.wrong == 1  # 1.5 points behind
    assert bad.eventbridge is not None and bad.eventbridge.wrong == 1  # the newest seen is still hot
    assert bad.eventbridge.missing == 1  # and no EngagementTierChanged to cold
    assert bad.mismatch_count == 3


def test_the_refresher_s_tier_event_must_name_the_tier_as_of_now() -> None:
    now = T0_S + 2 * 86_400  # the oracle says 25: cold (the stream left the user hot)
    score = {
        "detail-type": "EngagementScoreChanged",
        "detail": {"user_key": "u-1", "version": 3, "score": 25, "tier": "cold"},
    }
    for tiers, wrong, missing in (
        (((1, "hot"), (3, "cold")), 0, 0),
        (((1, "hot"), (3, "warm")), 1, 0),
        (
            ((1, "hot"),),
            1,
            0,
        ),
        ((), 0, 1),
    ):
        result = AdvanceResult(now)
        events = [score] + [
            {"detail-type": "EngagementTierChanged", "detail": {"user_key": "u-1", "version": v, "tier": t}}
            for v, t in tiers
        ]
        check_sinks(result, expectation(), SETTINGS, 1.0, None, events)
        assert result.eventbridge is not None
        assert (result.eventbridge.wrong, result.eventbridge.missing) == (wrong, missing), tiers


def test_publication_step() -> None:
    assert publication_step({}) == 1.0
    assert publication_step({"SCORE_PUBLISH_MIN_DELTA": "0"}) == 1.0
    assert publication_step({"SCORE_PUBLISH_MIN_DELTA": "2.5"}) == 2.5


class FakeDeployment:
    def __init__(self, due: list[int]) -> None:
        self.due = due
        self.clocks: list[int] = []

    def run_refresher(self, now_s: int) -> dict[str, Any] | None:
        self.clocks.append(now_s)
        users = self.due.pop(0) if self.due else 0
        return {"users_due": users, "users_refreshed": users}


def test_the_refresher_runs_until_nothing_is_due() -> None:
    deployment = FakeDeployment([5, 1])
    runs = run_until_idle(deployment, T0_S)
    assert [run["users_due"] for run in runs or []] == [5, 1, 0]
    assert deployment.clocks == [T0_S] * 3
    with pytest.raises(RuntimeError, match="still found users due"):
        run_until_idle(FakeDeployment([1] * 30), T0_S, max_runs=3)


HOUR_MS = 3_600_000
WINDOWED = Settings(
    window_rules=window_rules_from_json(
        '[{"name": "three_clicks", "event_types": ["_email.click"], "threshold": 3, "window_hours": 24},'
        ' {"name": "ever_clicked", "event_types": ["_email.click"], "threshold": 1}]'
    )
)


def clicked(*hours: int) -> Expectation:
    """One user, decay off, clicks at T0 + each hour: matched `three_clicks` at its as_of."""
    as_of = T0_S * 1000 + max(hours) * HOUR_MS
    user = ExpectedUser("u-1", 30, 30, {"email": 30}, None, len(hours), as_of, rules=["ever_clicked"])
    user.measured = [(T0_S * 1000 + h * HOUR_MS, "_email.click", "email", None) for h in hours]
    return Expectation(users={"u-1": user})


def test_window_rules_as_of_now_against_the_oracle() -> None:
    item = {"raw_score": D(30), "score": D(30), "as_of": D(T0_S * 1000 + 2 * HOUR_MS)}
    # the first click's hour leaves the 24 h window at T0 + 25 h: matched until then, cleared after
    before = T0_S + 25 * 3600 - 1
    users, mismatches = check_items(
        clicked(0, 1, 2), {"u-1": {**item, "rules": {"three_clicks", "ever_clicked"}}}, WINDOWED, before
    )
    assert users["u-1"]["rules"] == ["ever_clicked", "three_clicks"] and mismatches == []
    after = T0_S + 25 * 3600
    _, mismatches = check_items(
        clicked(0, 1, 2), {"u-1": {**item, "rules": {"ever_clicked", "three_clicks"}}}, WINDOWED, after
    )
    assert [(m.field, m.expected, m.actual) for m in mismatches] == [
        ("rules as of now", ["ever_clicked"], ["ever_clicked", "three_clicks"])
    ]
    users, mismatches = check_items(
        clicked(0, 1, 2), {"u-1": {**item, "rules": {"ever_clicked"}}}, WINDOWED, after
    )
    assert users["u-1"]["rules"] == ["ever_clicked"] and mismatches == []


def test_the_profile_object_must_carry_the_rules_as_of_now() -> None:
    now = T0_S + 25 * 3600
    good = AdvanceResult(now)
    check_sinks(
        good, clicked(0, 1, 2), WINDOWED, 1.0, {"u-1": {"score": 30, "rules": ["ever_clicked"]}}, None
    )
    assert good.customer_profiles is not None and good.mismatch_count == 0
    stale = AdvanceResult(now)
    objects = {"u-1": {"score": 30, "rules": ["ever_clicked", "three_clicks"]}}
    check_sinks(stale, clicked(0, 1, 2), WINDOWED, 1.0, objects, None)
    assert stale.customer_profiles is not None and stale.customer_profiles.wrong == 1
    assert stale.customer_profiles.examples[0]["expected_rules"] == ["ever_clicked"]


def test_the_rule_events_must_end_cleared_for_a_rule_the_refresher_cleared() -> None:
    now = T0_S + 25 * 3600  # `three_clicks` no longer matched, `ever_clicked` still is

    def rule_event(kind: str, rule: str, version: int) -> dict[str, Any]:
        return {"detail-type": kind, "detail": {"user_key": "u-1", "rule": rule, "version": version}}

    matched = [rule_event("EngagementRuleMatched", "ever_clicked", 1)]
    matched.append(rule_event("EngagementRuleMatched", "three_clicks", 3))
    cleared = rule_event("EngagementRuleCleared", "three_clicks", 4)
    score = {
        "detail-type": "EngagementScoreChanged",
        "detail": {"user_key": "u-1", "version": 3, "score": 30},
    }
    good = AdvanceResult(now)
    check_sinks(good, clicked(0, 1, 2), WINDOWED, 1.0, None, [score, cleared, *matched])
    assert good.eventbridge is not None and good.mismatch_count == 0
    assert good.eventbridge.ok == 2  # the score, `ever_clicked` matched
    stale = AdvanceResult(now)  # no EngagementRuleCleared: the bus still says three_clicks is matched
    check_sinks(stale, clicked(0, 1, 2), WINDOWED, 1.0, None, [score, *matched])
    assert stale.eventbridge is not None and stale.eventbridge.unexpected == 1
    never = AdvanceResult(now)  # and a rule matched as of now must have been announced
    check_sinks(never, clicked(0, 1, 2), WINDOWED, 1.0, None, [score])
    assert never.eventbridge is not None and never.eventbridge.missing == 1


def test_users_certainly_due_are_those_two_steps_from_their_final_score_or_out_of_their_tier() -> None:
    # given users scored 100 (hot), 30 (cold) and 50 (warm) at T0, half-life 24 h
    users = {
        "far": ExpectedUser("far", 100.0, 100.0, {"custom": 100.0}, "hot", 1, T0_S * 1000),
        "near": ExpectedUser("near", 30.0, 30.0, {"custom": 30.0}, "cold", 1, T0_S * 1000),
        "edge": ExpectedUser("edge", 50.0, 50.0, {"custom": 50.0}, "warm", 1, T0_S * 1000),
    }
    wanted = Expectation(users=users)
    hour = 3_600
    # one hour later (2.8% off): "far" lost 2.85 points, "near" 0.86, "edge" 1.43: none is two steps of 5
    # from its final score, no tier changed
    assert certainly_due(wanted, SETTINGS, T0_S + hour, 5.0) == 0
    # with a step of 1: "far" moved 2.85 >= 2, the others < 2
    assert certainly_due(wanted, SETTINGS, T0_S + hour, 1.0) == 1
    # a day later: "far" is at 50 (lost 50 >= 10, and left "hot"), "edge" at 25 (left "warm"), "near" at 15
    # (lost 15 >= 10)
    assert certainly_due(wanted, SETTINGS, T0_S + 24 * hour, 5.0) == 3
    # with a step of 20: "far" lost 50 >= 40; "edge" lost only 25 but left "warm"; "near" stayed cold
    assert certainly_due(wanted, SETTINGS, T0_S + 24 * hour, 20.0) == 2
    # with hysteresis the tier criterion is not certain: only the moved ones count
    held = Settings(decay_half_life_hours=24.0, tiers=SETTINGS.tiers, tier_hysteresis=D(5))
    assert certainly_due(wanted, held, T0_S + 24 * hour, 10.0) == 2  # "far" lost 50, "edge" 25
    assert certainly_due(wanted, held, T0_S + 24 * hour, 20.0) == 1  # only "far" moved >= 40
