"""verify under the publication threshold (SCORE_PUBLISH_MIN_DELTA): the sinks show the last
publication, within the threshold of the oracle's final score, with the final tier."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.oracle import Expectation, ExpectedUser, Settings, Tier, sinks_may_show
from simulator.verify import check_customer_profiles, check_eventbridge, check_pinpoint

D = Decimal
TIERS = (Tier("cold", D(0)), Tier("warm", D(50)))
TEN = Settings(tiers=TIERS, publish_min_delta=D(10))


def test_the_oracle_reads_the_threshold_from_the_scorer_environment() -> None:
    assert Settings.from_environment({"SCORE_PUBLISH_MIN_DELTA": "7.5"}).publish_min_delta == D("7.5")
    assert Settings.from_environment({}).publish_min_delta == 0


def test_sinks_may_show_a_score_strictly_within_the_threshold_of_the_final_one() -> None:
    assert sinks_may_show(D(62), D(53), TEN)
    assert not sinks_may_show(D(62), D(52), TEN)  # 10 points away: that write would have published
    assert sinks_may_show(D(62), D(71), TEN) and not sinks_may_show(D(62), D(72), TEN)
    exact = Settings()
    assert sinks_may_show(D(62), D(62), exact) and not sinks_may_show(D(62), D(61), exact)
    assert sinks_may_show(62.0, 52.0005, TEN, tolerance=1e-3)  # decay: the float tolerance on top


def user(score: int, tier: str = "warm") -> ExpectedUser:
    return ExpectedUser("u1", D(score), D(score), {"email": D(score)}, tier, 5, 1000, {"e1"})


def test_pinpoint_eventbridge_and_profiles_accept_the_last_publication_and_nothing_further() -> None:
    expectation = Expectation({"u1": user(62)})
    owners = {"e1": "u1"}

    def endpoint(score: float, tier: str) -> dict[str, Any]:
        return {"e1": {"Metrics": {"EngagementScore": score}, "Attributes": {"EngagementTier": [tier]}}}

    assert check_pinpoint(expectation, endpoint(56.0, "warm"), TEN, owners).ok == 1
    assert check_pinpoint(expectation, endpoint(52.0, "warm"), TEN, owners).wrong == 1
    assert check_pinpoint(expectation, endpoint(56.0, "cold"), TEN, owners).wrong == 1  # tier is final
    assert check_pinpoint(expectation, endpoint(56.0, "warm"), Settings(tiers=TIERS), owners).wrong == 1

    def changed(*scores: int) -> list[dict[str, Any]]:
        return [
            {"detail-type": "EngagementScoreChanged", "detail": {"user_key": "u1", "score": s}}
            for s in scores
        ]

    assert check_eventbridge(expectation, changed(40, 56), TEN).ok == 1
    assert check_eventbridge(expectation, changed(40, 50), TEN).wrong == 1

    def profile(score: int, channels: dict[str, int], tier: str = "warm") -> dict[str, Any]:
        return {"u1": {"user_key": "u1", "score": score, "channels": channels, "tier": tier}}

    # the publication's channels, not the final ones, but they must add up to its score
    assert check_customer_profiles(expectation, profile(56, {"email": 50, "sms": 6}), TEN).ok == 1
    bad = check_customer_profiles(expectation, profile(56, {"email": 50}), TEN)
    assert bad.wrong == 1 and bad.examples[0]["fields"] == ["channels"]
    assert check_customer_profiles(expectation, profile(50, {"email": 50}), TEN).wrong == 1  # too far
