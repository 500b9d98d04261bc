"""Property: on any workload the simulator can generate (the successor mix alone or with Pinpoint funnels:
SES bare and EventBridge-wrapped with redeliveries, SMS in CloudWatch Logs records with double statuses,
inbound STOP through SNS/SQS, custom app events, records without a user key, duplicates and malformed
records), the oracle and the real scorer (on moto, in batches) agree on every user's item and on the
scorer's counters."""

from __future__ import annotations

import base64
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
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulator.local_cloud.stats import PipelineStats
from simulator.oracle import Settings, expect
from simulator.readback import read_rules
from simulator.replay import read_events_file
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
