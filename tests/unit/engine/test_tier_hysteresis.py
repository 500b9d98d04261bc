"""Tier hysteresis (TIER_HYSTERESIS_POINTS): a user keeps its tier while its score stays less than the
margin below the tier's min_score; going up is never delayed. Boundaries computed by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest
from engagement_scoring.core.model import ScoringModel, Tier
from engagement_scoring.handlers import scorer as scorer_handler
from engine_support import AwsResources, FakeContext, custom_event, kinesis_event

from simulator.oracle import Settings, tiers_possible
from simulator.oracle import Tier as OracleTier

D = Decimal
TIERS = (Tier("cold", D(0)), Tier("warm", D(50)), Tier("hot", D(150)))
MODEL = ScoringModel(tiers=TIERS, tier_hysteresis=D(10))


@pytest.mark.parametrize(
    ("score", "previous", "expected"),
    [
        (D(40), "warm", "warm"),  # exactly min_score - margin: kept
        (D("39.99"), "warm", "cold"),  # below the margin: dropped
        (D(145), "hot", "hot"),
        (D(139), "hot", "warm"),  # below hot's margin, into the plain tier
        (D(45), "hot", "cold"),  # far below hot: the plain tier, not an intermediate one
        (D(150), "warm", "hot"),  # going up: at once
        (D(49), "cold", "cold"),  # no tier to keep above
        (D(45), None, "cold"),  # a new user has no tier to keep
        (D(45), "gone", "cold"),  # a tier no longer configured
    ],
)
def test_tier_for_keeps_the_previous_tier_within_the_margin(score, previous, expected) -> None:
    assert MODEL.tier_for(score, previous) == expected


def test_without_hysteresis_the_previous_tier_does_not_matter() -> None:
    assert ScoringModel(tiers=TIERS).tier_for(D(49), "warm") == "cold"
    with pytest.raises(ValueError, match="hysteresis"):
        ScoringModel(tiers=TIERS, tier_hysteresis=D(-1))


TIERS_ENV = '[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 50}]'


def test_the_scorer_keeps_the_stored_tier_across_batches(aws: AwsResources) -> None:
    aws.put_rule("minus", -5)
    runtime = aws.scorer(TIERS=TIERS_ENV, TIER_HYSTERESIS_POINTS="10")
    scorer_handler._runtime = runtime
    tiers = []
    try:
        for sequence, event_type in enumerate(("_email.click", "minus", "minus", "minus")):
            scorer_handler.handler(
                kinesis_event(
                    [custom_event("u1", event_type, sequence + 1)], first_sequence=1000 * (sequence + 1)
                ),
                FakeContext(),
            )
            item = aws.scores()["u1"]
            tiers.append((item["score"], item["tier"]))
    finally:
        scorer_handler._runtime = None
    # 50 warm; 45 and 40 stay warm (within 10 of 50); 35 drops to cold
    assert tiers == [(D(50), "warm"), (D(45), "warm"), (D(40), "warm"), (D(35), "cold")]


def test_the_oracle_allows_every_tier_the_final_score_may_hold() -> None:
    tiers = (OracleTier("cold", D(0)), OracleTier("warm", D(50)), OracleTier("hot", D(150)))
    settings = Settings(tiers=tiers, tier_hysteresis=D(10))
    assert tiers_possible(D(145), settings) == {"warm", "hot"}
    assert tiers_possible(D(40), settings) == {"cold", "warm"}
    assert tiers_possible(D("39.9"), settings) == {"cold"}
    assert tiers_possible(D(45), Settings(tiers=tiers)) == {"cold"}
    assert Settings.from_environment({"TIER_HYSTERESIS_POINTS": "10"}).tier_hysteresis == D(10)
