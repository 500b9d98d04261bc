"""The report files and the comparison rules of simulator/verify.py."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from matplotlib.image import imread
from rich.console import Console

from simulator.oracle import Expectation, ExpectedUser, Settings, Tier
from simulator.report import print_summary, tier_counts, top_users, write_histogram, write_report
from simulator.verify import (
    check_counters,
    check_customer_profiles,
    check_eventbridge,
    check_pinpoint,
    compare_scores,
)

TIERS = (Tier("cold", Decimal(0)), Tier("warm", Decimal(50)), Tier("hot", Decimal(150)))


def expected_user(
    key: str, score: Any, tier: str | None = "warm", endpoints: set[str] | None = None
) -> ExpectedUser:
    return ExpectedUser(key, score, score, {"email": score}, tier, 3, 1000, endpoints or set())


def item(score: Any, tier: str | None = "warm", **changes: Any) -> dict[str, Any]:
    out = {
        "score": Decimal(str(score)),
        "raw_score": Decimal(str(score)),
        "channels": {"email": Decimal(str(score))},
        "events_applied": Decimal(3),
        "as_of": Decimal(1000),
        "tier": tier,
    }
    out.update(changes)
    return {k: v for k, v in out.items() if v is not None}


# ---- comparison ----------------------------------------------------------------------------------


def test_scores_are_compared_exactly_without_decay_and_every_field_counts() -> None:
    expectation = Expectation(
        {"u1": expected_user("u1", Decimal(62)), "u2": expected_user("u2", Decimal(70))}
    )
    items = {
        "u1": item(62),
        "u2": item(70, events_applied=Decimal(4), channels={"email": Decimal(60), "sms": Decimal(10)}),
        "u3": item(5, "cold"),
    }
    mismatches = compare_scores(expectation, items, Settings(tiers=TIERS))
    fields = {(m.user_key, m.field) for m in mismatches}
    assert fields == {
        ("u2", "events_applied"),
        ("u2", "channels.email"),
        ("u2", "channels.sms"),
        ("u3", "item"),
    }
    assert compare_scores(expectation, {"u1": item(62.0001)}, Settings(tiers=TIERS))[0].field == "score"


def test_with_decay_small_differences_and_tiers_at_a_boundary_are_tolerated() -> None:
    settings = Settings(decay_half_life_hours=24, tiers=TIERS)
    expectation = Expectation(
        {"u1": expected_user("u1", 50.0002, "warm"), "u2": expected_user("u2", 80.0, "warm")}
    )
    items = {"u1": item(49.9997, "cold"), "u2": item(80.0004)}
    assert compare_scores(expectation, items, settings) == []
    items["u2"] = item(80.01)
    assert [m.field for m in compare_scores(expectation, items, settings)] == [
        "score",
        "raw_score",
        "channels.email",
    ]


def test_a_missing_tier_is_a_mismatch_when_tiers_are_configured() -> None:
    expectation = Expectation({"u1": expected_user("u1", Decimal(10), "cold")})
    assert [m.field for m in compare_scores(expectation, {"u1": item(10, None)}, Settings(tiers=TIERS))] == [
        "tier"
    ]


def test_pinpoint_check_requires_the_users_endpoints_and_accepts_other_endpoints_of_known_users() -> None:
    expectation = Expectation(
        {
            "u1": expected_user("u1", Decimal(62), "warm", {"e1", "e2"}),
            "u2": expected_user("u2", Decimal(5), "cold", {"e3"}),
        }
    )
    endpoints: dict[str, dict[str, Any]] = {
        "e1": {"Metrics": {"EngagementScore": 62.0}, "Attributes": {"EngagementTier": ["warm"]}},
        "e2": {"Metrics": {"EngagementScore": 61.0}, "Attributes": {"EngagementTier": ["warm"]}},  # wrong
        # e3 missing
        "e4": {
            "Metrics": {"EngagementScore": 62.0},
            "Attributes": {"EngagementTier": ["warm"]},
        },  # u1's, fine
        "e5": {"Metrics": {"EngagementScore": 1.0}},  # nobody's
        "e6": {"Metrics": {}},  # never scored: ignored
    }
    owners = {"e1": "u1", "e2": "u1", "e3": "u2", "e4": "u1"}
    check = check_pinpoint(expectation, endpoints, Settings(tiers=TIERS), owners)
    assert (check.expected, check.ok, check.missing, check.wrong, check.unexpected) == (3, 1, 1, 1, 1)
    assert check.mismatches == 3
    assert check.notes == {"extra_endpoints_ok": 1}


def test_eventbridge_check_needs_an_event_with_the_final_score_for_every_non_zero_user() -> None:
    expectation = Expectation(
        {
            "u1": expected_user("u1", Decimal(62)),
            "u2": expected_user("u2", Decimal(10)),
            "u3": expected_user("u3", Decimal(7)),
            "u0": expected_user("u0", Decimal(0)),
        }
    )
    events: list[dict[str, Any]] = [
        {"detail-type": "EngagementScoreChanged", "detail": {"user_key": "u1", "score": 12}},
        {"detail-type": "EngagementScoreChanged", "detail": {"user_key": "u1", "score": 62}},
        {"DetailType": "EngagementScoreChanged", "Detail": json.dumps({"user_key": "u2", "score": 9})},
        {"detail-type": "EngagementTierChanged", "detail": {"user_key": "u1", "score": 62}},
    ]
    check = check_eventbridge(expectation, events, Settings())
    assert (check.expected, check.ok, check.wrong, check.missing) == (3, 1, 1, 1)
    assert check.notes["tier_changed_events"] == 1


# ---- report files and summary --------------------------------------------------------------------


def users() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        f"user-{i:03d}": {"score": i * 7 - 100, "tier": None} for i in range(60)
    }
    for state in out.values():
        state["tier"] = "hot" if state["score"] >= 150 else "warm" if state["score"] >= 50 else "cold"
    return out


def test_counters_compare_scored_suppressed_every_skip_reason_and_the_rejected_total() -> None:
    expectation = Expectation(
        {}, counted=10, duplicates=3, once_per_message_suppressed=2,
        skipped={"no_user_key": 4, "no_rule": 7}, rejected={"invalid_json": 2, "bad_envelope": 1},
    )  # fmt: skip
    scorer = {
        "scored": 10,
        "duplicates_suppressed": 4,  # one re-sent second status: a duplicate within its batch
        "once_per_message_suppressed": 1,
        "skipped": {"no_rule": 7, "no_user_key": 4},
        "rejected": {"not_json": 2, "bad_envelope": 1},
    }
    assert check_counters(expectation, scorer).mismatches == 0
    wrong = check_counters(
        expectation, scorer | {"skipped": {"no_rule": 7, "no_user_key": 3, "test_event": 1}}
    )
    assert wrong.mismatches == 2
    assert {e["counter"] for e in wrong.examples} == {"skipped.no_user_key", "skipped.test_event"}
    assert check_counters(expectation, scorer | {"scored": 11, "rejected": {}}).mismatches == 2


def test_counters_take_weight_zero_events_with_the_suppressed_and_bound_each_reason() -> None:
    # given an oracle that saw 3 proxy-open arrivals weighted 0 (2 distinct events, one re-sent) and a burst
    expectation = Expectation(
        {}, counted=5, duplicates=1, machine_not_counted=3,
        machine_flagged={"privacy_proxy_open": 2, "burst": 2},
        machine_flagged_arrivals={"privacy_proxy_open": 3, "burst": 2},
    )  # fmt: skip
    # when the scorer had the re-sent copy in the same batch (a duplicate there) and saw the burst (`rc`
    # carries it across batch cuts, docs/scoring.md "Burst")
    scorer = {
        "scored": 5,
        "duplicates_suppressed": 2,
        "machine_not_counted": 2,
        "machine_flagged": {"privacy_proxy_open": 2, "burst": 2},
    }
    # then nothing differs: the sum matches, and each reason's count lies within the oracle's bounds
    assert check_counters(expectation, scorer).mismatches == 0
    # but a weight-0 event scored, or a reason counted outside the bounds, is a mismatch
    scored = check_counters(expectation, scorer | {"scored": 6, "machine_not_counted": 1})
    assert {e["counter"] for e in scored.examples} == {
        "scored",
        "suppressed (duplicates + once per message + machine weight 0)",
    }
    for flagged in (
        {"privacy_proxy_open": 1, "burst": 2},
        {"privacy_proxy_open": 4, "burst": 2},
        {"privacy_proxy_open": 2, "burst": 3},
        {"privacy_proxy_open": 2},  # a burst missed: no longer excused as a batch cut's
    ):
        wrong = check_counters(expectation, scorer | {"machine_flagged": flagged})
        assert wrong.mismatches == 1, flagged


def test_customer_profiles_objects_carry_every_users_score_channels_and_tier() -> None:
    users = {"a": expected_user("a", Decimal(62)), "b": expected_user("b", Decimal(-1000), "cold"),
             "z": expected_user("z", Decimal(0), "cold")}  # fmt: skip
    expectation = Expectation(users)
    settings = Settings(tiers=TIERS)
    good = {
        "a": {"user_key": "a", "score": 62, "channels": {"email": 62}, "tier": "warm", "rules": []},
        "b": {"user_key": "b", "score": -1000, "channels": {"email": -1000, "sms": 0}, "tier": "cold"},
    }
    check = check_customer_profiles(expectation, good, settings)
    assert (check.expected, check.ok, check.mismatches) == (2, 2, 0)  # a user at 0 needs no object
    bad = {
        "a": {**good["a"], "channels": {"email": 60, "sms": 2}},
        "x": {"user_key": "x", "score": 5, "channels": {}},
        "z": {"user_key": "z", "score": 1, "channels": {}, "tier": "cold"},
    }
    check = check_customer_profiles(expectation, bad, settings)
    assert (check.missing, check.wrong, check.unexpected) == (1, 2, 1)
    assert {tuple(e.get("fields", ())) for e in check.examples if e["problem"] == "wrong"} == {
        ("channels.email", "channels.sms"),
        ("score",),
    }


def test_histogram_is_a_valid_png_and_the_report_valid_json(tmp_path: Path) -> None:
    png = write_histogram(users(), ["cold", "warm", "hot"], tmp_path / "r")
    image = imread(str(png))
    assert image.shape[0] > 100 and image.shape[1] > 100
    empty = write_histogram({}, [], tmp_path / "empty")
    assert empty.read_bytes().startswith(b"\x89PNG")
    path = write_report({"a": 1, "when": Decimal("1.5")}, tmp_path / "r")
    assert json.loads(path.read_text()) == {"a": 1, "when": "1.5"}


def test_tier_counts_follow_the_tier_order_and_top_users_the_score() -> None:
    states = users()
    assert list(tier_counts(states, ["cold", "warm", "hot"])) == ["cold", "warm", "hot"]
    assert sum(tier_counts(states, ["cold", "warm", "hot"]).values()) == 60
    top = top_users(states)
    assert [u["user_key"] for u in top[:2]] == ["user-059", "user-058"] and len(top) == 10


def test_summary_fits_one_screen_and_names_the_key_numbers() -> None:
    states = users()
    report = {
        "run": {"target": "embedded", "wall_time_s": 12.5},
        "stream": {
            "records": 110,
            "events": 100,
            "duplicates": 5,
            "malformed": 5,
            "malformed_kinds": {"empty": 5},
        },
        "producer": {"elapsed_s": 1.0, "records_per_s": 110.0, "put_records_calls": 1, "entries_retried": 0},
        "pipeline": {
            "scorer": {
                "records": 110,
                "batches": 2,
                "scored": 60,
                "duplicates_suppressed": 5,
                "rejected": {"x": 5},
            },
            "score_sync": {"users_changed": 60, "pinpoint_endpoints_updated": 80, "events_published": 70},
        },
        "oracle": {"counted": 60, "users": 60, "once_per_message_suppressed": 0},
        "users": {"count": 60, "per_tier": tier_counts(states, ["cold"]), "top": top_users(states)},
        "verification": {
            "oracle": True,
            "mismatches": 0,
            "score_mismatches": 0,
            "pinpoint_mismatches": 0,
            "eventbridge_mismatches": 0,
            "details": [],
            "pinpoint": {"checked": False, "reason": "Pinpoint sink off"},
            "eventbridge": {
                "checked": True,
                "expected": 60,
                "ok": 60,
                "missing": 0,
                "wrong": 0,
                "unexpected": 0,
            }
            | {"observed": 70},
        },
        "files": {"report": "r.json", "histogram": "h.png"},
    }
    out = io.StringIO()
    print_summary(report, Console(file=out, width=110))
    text = out.getvalue()
    assert len(text.splitlines()) <= 40
    for needle in ("sent 110 records", "scored 60", "duplicates suppressed 5", "rejected: x 5", "user-059"):
        assert needle in text
    assert "mismatches against the oracle: 0" in text and "wall time 12.5s" in text


def test_summary_shows_the_phases_and_what_the_sinks_saw_as_of_the_time_advance() -> None:
    # given a run with phase times and a time-advance phase whose sinks were checked as of the clock
    sink = {"checked": True, "expected": 9, "ok": 8, "missing": 0, "wrong": 1, "unexpected": 0, "observed": 9}
    report: dict[str, Any] = {
        "run": {"target": "embedded", "wall_time_s": 3.0, "phases_s": {"drain": 1.25, "refresher": 0.5}},
        "stream": {"records": 1, "events": 1, "duplicates": 0, "malformed": 0, "malformed_kinds": {}},
        "producer": {"elapsed_s": 1.0, "records_per_s": 1.0, "put_records_calls": 1, "entries_retried": 0},
        "pipeline": {},
        "oracle": {"counted": 1, "users": 1, "once_per_message_suppressed": 0},
        "users": {"count": 0, "per_tier": {}, "top": []},
        "verification": {
            "oracle": True,
            "mismatches": 1,
            "score_mismatches": 0,
            "pinpoint_mismatches": 0,
            "eventbridge_mismatches": 0,
            "details": [],
            "advance": {
                "now_iso": "2025-11-30T00:00:00Z",
                "refresher_runs": [{}, {}],
                "users_refreshed": 7,
                "mismatches": 1,
                "reason": "",
                "eventbridge": sink | {"tier_moved_by_the_refresher": 4, "rule_events": 3},
                "customer_profiles": sink,
            },
        },
    }
    out = io.StringIO()
    print_summary(report, Console(file=out, width=200))
    text = out.getvalue()
    # then the summary says where the time went, which clock the users are shown at, and per sink what
    # it last saw as of then
    assert "phases: drain 1.2s, refresher 0.5s" in text
    assert "users: 0 (none) as of the time advance, 2025-11-30T00:00:00Z" in text
    assert "eventbridge as of then: 8/9 as expected, 0 missing, 1 wrong (4 tier moves, 3 rule events)" in text
    assert "customer_profiles as of then: 8/9 as expected, 0 missing, 1 wrong\n" in text


def test_summary_shows_the_per_campaign_comparison_when_attribution_is_on() -> None:
    # given a run with attribution on: 8 campaigns in the oracle's table, 2 differing from the campaign table
    report: dict[str, Any] = {
        "run": {"target": "embedded", "wall_time_s": 3.0},
        "stream": {"records": 1, "events": 1, "duplicates": 0, "malformed": 0, "malformed_kinds": {}},
        "producer": {"elapsed_s": 1.0, "records_per_s": 1.0, "put_records_calls": 1, "entries_retried": 0},
        "pipeline": {},
        "oracle": {"counted": 1, "users": 1, "once_per_message_suppressed": 0},
        "users": {"count": 0, "per_tier": {}, "top": []},
        "verification": {
            "oracle": True,
            "mismatches": 2,
            "score_mismatches": 0,
            "pinpoint_mismatches": 0,
            "eventbridge_mismatches": 0,
            "details": [],
            "campaign_mismatches": 2,
            "campaigns_compared": 8,
        },
    }
    out = io.StringIO()
    print_summary(report, Console(file=out, width=200))
    text = out.getvalue()
    # then the summary says the per-campaign table was compared, and the mismatch breakdown names it
    assert "campaigns: 8 in the oracle's per-campaign table, 2 differences from the campaign table" in text
    assert "customer profiles 0, campaigns 2)" in text
    # and a run without attribution says nothing about campaigns
    del report["verification"]["campaign_mismatches"], report["verification"]["campaigns_compared"]
    out = io.StringIO()
    print_summary(report, Console(file=out, width=200))
    assert "campaign" not in out.getvalue()


def test_rule_events_and_profile_rules_are_checked_against_the_oracle() -> None:
    from simulator.verify import check_customer_profiles, check_eventbridge

    def user(key: str, rules: list[str]) -> ExpectedUser:
        return ExpectedUser(key, Decimal(5), Decimal(5), {"email": Decimal(5)}, None, 1, 1, rules=rules)

    expectation = Expectation({"a": user("a", ["r1"]), "b": user("b", []), "c": user("c", ["r1"])})

    def event(kind: str, key: str, version: int) -> dict[str, Any]:
        return {"detail-type": kind, "detail": {"user_key": key, "rule": "r1", "version": version}}

    score = [{"detail-type": "EngagementScoreChanged", "detail": {"user_key": k, "score": 5}} for k in "abc"]
    good = [
        *score,
        event("EngagementRuleMatched", "a", 1),
        event("EngagementRuleMatched", "b", 1),
        event("EngagementRuleCleared", "b", 2),
        event("EngagementRuleCleared", "c", 1),
        event("EngagementRuleMatched", "c", 3),  # delivered out of order: the highest version wins
    ]
    assert check_eventbridge(expectation, good, Settings()).mismatches == 0
    bad = check_eventbridge(expectation, [*good[:3], event("EngagementRuleMatched", "b", 1)], Settings())
    assert sorted((e["problem"], e["user_key"]) for e in bad.examples) == [
        ("missing", "a"),
        ("missing", "c"),
        ("unexpected", "b"),
    ]
    objects = {
        k: {"user_key": k, "score": 5, "channels": {"email": 5}, "rules": r}
        for k, r in (("a", ["r1"]), ("b", []), ("c", []))
    }
    profiles = check_customer_profiles(expectation, objects, Settings())
    assert [e["user_key"] for e in profiles.examples] == ["c"] and profiles.examples[0]["fields"] == ["rules"]
