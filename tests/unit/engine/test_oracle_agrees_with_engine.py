"""Property: on any workload the simulator can generate (the successor mix alone or with Pinpoint funnels:
SES bare and EventBridge-wrapped with redeliveries, SMS in CloudWatch Logs records with double statuses,
inbound STOP through SNS/SQS, custom app events, records without a user key, duplicates and malformed
records), the oracle and the real scorer (on moto, in batches) agree on every user's item and on the
scorer's counters."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring.handlers import scorer as scorer_handler
from engine_support import (
    LEDGER_TABLE,
    RULES_TABLE,
    SCORES_TABLE,
    AwsResources,
    FakeContext,
    failed_ids,
    kinesis_event,
)
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from simulator.local_cloud.stats import PipelineStats
from simulator.oracle import Settings, expect
from simulator.readback import read_rules
from simulator.replay import read_events_file
from simulator.successor import SuccessorRates
from simulator.verify import check_counters, compare_scores
from simulator.workload import WorkloadConfig, generate

BATCH = 40


def _clear(aws: AwsResources) -> None:
    for table, key in ((SCORES_TABLE, "user_key"), (LEDGER_TABLE, "event_key")):
        for item in aws.dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]:
            aws.dynamodb.delete_item(TableName=table, Key={key: item[key]})


def _score(aws: AwsResources, records: list[bytes], env: dict[str, str]) -> list[dict[str, Any]]:
    scorer_handler._runtime = aws.scorer(**env)
    responses = []
    try:
        for start in range(0, len(records), BATCH):
            chunk = [base64.b64encode(data).decode() for data in records[start : start + BATCH]]
            responses.append(scorer_handler.handler(kinesis_event(chunk, 1000 + start), FakeContext()))
    finally:
        scorer_handler._runtime = None
    return responses


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10**6),
    users=st.integers(2, 25),
    events=st.integers(10, 160),
    duplicate_rate=st.sampled_from([0.0, 0.1, 0.3]),
    malformed_rate=st.sampled_from([0.0, 0.05]),
    recipient_user_key=st.sampled_from(["none", "address"]),
    formats=st.sampled_from([("successor",), ("successor", "pinpoint")]),
)
def test_oracle_and_scorer_agree_on_generated_successor_workloads(
    aws: AwsResources,
    capsys: pytest.CaptureFixture[str],
    seed: int,
    users: int,
    events: int,
    duplicate_rate: float,
    malformed_rate: float,
    recipient_user_key: str,
    formats: tuple[str, ...],
) -> None:
    # given a generated successor workload and the oracle's expectation of it
    workload = generate(
        WorkloadConfig(
            users=users,
            events=events,
            seed=seed,
            duplicate_rate=duplicate_rate,
            malformed_rate=malformed_rate,
        )
    )
    records = [r.data for r in workload.records]
    # the simulator's link scanner on the scanner list, as examples/local has it: a scanner burst then weighs
    # 0 whether or not one batch holds all its clicks (docs/scoring.md, "The simulator's machines")
    policy = json.dumps({"scanner_user_agents": ["ExampleLinkScanner"]})
    env = {"RECIPIENT_USER_KEY": recipient_user_key, "MACHINE_ENGAGEMENT": policy}
    oracle_settings = Settings.from_environment(env)
    expectation = expect(records, read_rules(aws.dynamodb, RULES_TABLE), oracle_settings)
    assume(expectation.counted > 0)
    _clear(aws)
    capsys.readouterr()
    # when the scorer consumes the same records in stream order, in batches
    responses = _score(aws, records, env)
    # then nothing is retried, every user's item is what the oracle says, and so are the counters
    assert all(failed_ids(response) == [] for response in responses)
    assert compare_scores(expectation, aws.scores(), oracle_settings) == []
    stats = PipelineStats()
    assert stats.add_logs(capsys.readouterr().out) == len(responses)
    counters = check_counters(expectation, stats.snapshot()["scorer"])
    assert counters.mismatches == 0, counters.examples


MIXED = Path(__file__).resolve().parents[2] / "events" / "mixed" / "replay_mixed.jsonl"


def test_the_mixed_replay_file_scores_in_the_scorer_as_worked_out_by_hand(aws: AwsResources) -> None:
    # given the records `--events-file` makes of the mixed file (tests/unit/simulator/test_cli.py explains
    # each score), when the scorer consumes them
    records = [r.data for r in read_events_file(MIXED)]
    responses = _score(aws, records, {})
    # then
    assert all(failed_ids(response) == [] for response in responses)
    assert {key: item["score"] for key, item in aws.scores().items()} == {
        "example-user-1": 62,
        "u-123": 100,
        "example-app-endpoint-7": 2,
        "2d7cba1b-6b8e-4f2f-9c1a-7e4d8b0c5a11": 10,
    }


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10**6),
    users=st.integers(2, 12),
    events=st.integers(20, 160),
    duplicate_rate=st.sampled_from([0.0, 0.2]),
    open_limit=st.sampled_from([10, 15, 25]),
    window_hours=st.sampled_from([1, 6, 48]),
)
def test_oracle_and_scorer_agree_on_window_rules_and_limits(
    aws: AwsResources,
    capsys: pytest.CaptureFixture[str],
    seed: int,
    users: int,
    events: int,
    duplicate_rate: float,
    open_limit: int,
    window_hours: int,
) -> None:
    # given limits on opens (per UTC day) and clicks (per 6 hours), and window rules of every kind: a
    # sliding count, a sliding sum of the SMS price, a date range, and an all-time count of sends (a type
    # with no score rule)
    workload = generate(WorkloadConfig(users=users, events=events, seed=seed, duplicate_rate=duplicate_rate))
    records = [r.data for r in workload.records]
    for event_type, points, limit, period in (
        ("_email.open", 10, open_limit, 24),
        ("_email.click", 50, 60, 6),
    ):
        aws.dynamodb.put_item(
            TableName=RULES_TABLE,
            Item={
                "event_type": {"S": event_type},
                "points": {"N": str(points)},
                "max_points": {"N": str(limit)},
                "limit_period_hours": {"N": str(period)},
            },
        )
    # the date range: the UTC day of the median user's newest event
    plain = expect(records, read_rules(aws.dynamodb, RULES_TABLE), Settings())
    newest = sorted(user.as_of for user in plain.users.values()) or [0]
    day = dt.datetime.fromtimestamp(newest[len(newest) // 2] / 1000, dt.UTC).date().isoformat()
    window_rules = [
        {"name": "two_opens", "event_types": ["_email.open"], "threshold": 2, "window_hours": window_hours},
        {
            "name": "sms_spend",
            "event_types": ["_SMS.SUCCESS"],
            "measure": "sum",
            "metric": "totalMessagePrice",
            "threshold": 0.01,
            "window_hours": window_hours,
        },
        {
            "name": "busy_day",
            "event_types": ["_email.delivered", "_email.click"],
            "threshold": 2,
            "from": day,
            "to": day,
        },
        {"name": "mailed", "event_types": ["_email.send"], "threshold": 3},
    ]
    policy = json.dumps({"scanner_user_agents": ["ExampleLinkScanner"]})
    env = {"MACHINE_ENGAGEMENT": policy, "WINDOW_RULES": json.dumps(window_rules)}
    oracle_settings = Settings.from_environment(env)
    expectation = expect(records, read_rules(aws.dynamodb, RULES_TABLE), oracle_settings)
    assume(expectation.counted > 0)
    _clear(aws)
    capsys.readouterr()
    # when the scorer consumes the same records in stream order, in batches
    responses = _score(aws, records, env)
    # then every item (score, channels, events, matched rules) and the counters (limits included) agree
    assert all(failed_ids(response) == [] for response in responses)
    assert compare_scores(expectation, aws.scores(), oracle_settings) == []
    stats = PipelineStats()
    assert stats.add_logs(capsys.readouterr().out) == len(responses)
    counters = check_counters(expectation, stats.snapshot()["scorer"])
    assert counters.mismatches == 0, counters.examples


CAMPAIGN_TABLE = "es-campaign-attribution"


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10**6),
    users=st.integers(2, 8),
    events=st.integers(60, 200),
    duplicate_rate=st.sampled_from([0.0, 0.2]),
    lookback_hours=st.sampled_from([1, 12, 168]),
    max_touches=st.sampled_from([2, 50]),
    campaign_purchase=st.sampled_from([0.0, 0.7]),
)
# Always run, whatever the draws: two users with many touches each, 2 kept, so the bound decides which
# touches a conversion sees (a scorer keeping the OLDEST touches instead of the most recent fails here).
@example(
    seed=1, users=2, events=200, duplicate_rate=0.2, lookback_hours=168, max_touches=2, campaign_purchase=0.7
)
def test_oracle_and_scorer_agree_on_campaign_attribution(
    aws: AwsResources,
    capsys: pytest.CaptureFixture[str],
    seed: int,
    users: int,
    events: int,
    duplicate_rate: float,
    lookback_hours: int,
    max_touches: int,
    campaign_purchase: float,
) -> None:
    # given a generated workload (SES, SMS and push campaigns, app sessions with purchases) and the oracle's
    # own attribution of it (simulator/oracle.py, Attributor: exact fractions, never the engine's code)
    from engagement_scoring.core.changes import image

    from simulator.verify import compare_campaigns

    if CAMPAIGN_TABLE not in aws.dynamodb.list_tables()["TableNames"]:
        aws.dynamodb.create_table(
            TableName=CAMPAIGN_TABLE,
            KeySchema=[{"AttributeName": "campaign", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "campaign", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    # the successor funnel's campaign purchases (after a click, some late in the stream) when sampled
    rates = SuccessorRates(campaign_purchase=campaign_purchase, late_touch=0.3)
    config = WorkloadConfig(
        users=users, events=events, seed=seed, duplicate_rate=duplicate_rate, successor_rates=rates
    )
    workload = generate(config)
    records = [r.data for r in workload.records]
    env = {
        "MACHINE_ENGAGEMENT": json.dumps({"scanner_user_agents": ["ExampleLinkScanner"]}),
        "CAMPAIGN_ATTRIBUTION_TABLE": CAMPAIGN_TABLE,
        # the default conversion rule: the campaign purchases' `_item_price` x `_quantity` (the sessions'
        # purchases carry other metrics: conversions of value 0)
        "ATTRIBUTION_LOOKBACK_HOURS": str(lookback_hours),
        "ATTRIBUTION_MAX_TOUCHES": str(max_touches),
    }
    oracle_settings = Settings.from_environment(env)
    expectation = expect(records, read_rules(aws.dynamodb, RULES_TABLE), oracle_settings)
    conversions = (
        sum(totals["last_touch"][0] for totals in expectation.campaigns.values())
        + expectation.unattributed[0]
    )
    assume(conversions > 0)
    _clear(aws)
    for item in aws.dynamodb.scan(TableName=CAMPAIGN_TABLE)["Items"]:
        aws.dynamodb.delete_item(TableName=CAMPAIGN_TABLE, Key={"campaign": item["campaign"]})
    capsys.readouterr()
    # when the scorer consumes the same records in stream order, in batches
    responses = _score(aws, records, env)
    # then nothing is retried, the scores still agree, and the campaign table is the oracle's attribution
    assert all(failed_ids(response) == [] for response in responses)
    assert compare_scores(expectation, aws.scores(), oracle_settings) == []
    table = [image(item) or {} for item in aws.dynamodb.scan(TableName=CAMPAIGN_TABLE)["Items"]]
    assert compare_campaigns(expectation, table) == []
