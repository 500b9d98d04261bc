"""B1 is deterministic, so it is a test too: a smaller workload of the standard shape (same generator,
seed and ratios, 300 users and 3,000 events) through our handlers and the original algorithm; ours must
make at least 10 times fewer AWS calls per 1,000 events at batch size 100. Plus the harness parts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from benchmarks import b1_api_calls
from benchmarks.common import (
    LOCAL_AWS_ENV,
    ApiCallCounter,
    kinesis_events,
    patched_environ,
    shard_of,
    standard_workload,
)
from simulator.workload import Workload

# Runs a benchmark's workload through the handlers on in-process moto: not a unit test (issue #8 item 16).
pytestmark = pytest.mark.integration

USERS, EVENTS = 300, 3000


@pytest.fixture(scope="module")
def workload() -> Workload:
    return standard_workload(USERS, EVENTS)


@pytest.fixture(scope="module")
def b1(workload: Workload) -> dict[str, Any]:
    ours = b1_api_calls.run_ours(workload, 100)
    original = b1_api_calls.run_original(workload, 100)
    return {"ours": ours, "original": original}


def test_ours_makes_at_least_10x_fewer_calls_than_the_original(b1: dict[str, Any]) -> None:
    ours, original = b1["ours"], b1["original"]
    ratio = original.per_1000_events / ours.per_1000_events
    print(
        f"B1 ({USERS} users, {EVENTS} events): ours {ours.per_1000_events:.1f}, original "
        f"{original.per_1000_events:.1f} calls per 1,000 events at batch size 100: {ratio:.1f}x fewer"
    )
    assert ratio >= 10, (ours.calls, original.calls)


def test_our_run_did_the_work_and_the_counts_agree_with_the_engine_logs(b1: dict[str, Any]) -> None:
    ours = b1["ours"]
    outcome = ours.outcome
    assert outcome["scorer_failed_records"] == 0 and outcome["score_sync_failed_records"] == 0
    assert outcome["events_scored"] > EVENTS // 3
    assert outcome["pinpoint_endpoint_updates"] > 0 and outcome["eventbridge_events"] > 0
    # the engine's own per-batch aws_calls (its CallCounter) saw exactly the calls our hook counted
    assert ours.engine_log_calls == ours.calls
    assert set(ours.calls) <= {
        "dynamodb.Scan",
        "dynamodb.BatchGetItem",
        "dynamodb.UpdateItem",
        "dynamodb.TransactWriteItems",
        "pinpoint.UpdateEndpointsBatch",
        "eventbridge.PutEvents",
    }


def test_the_original_makes_its_per_event_calls(b1: dict[str, Any], workload: Workload) -> None:
    calls = b1["original"].calls
    # one definition read per event except the test events, one GetEndpoint per scored event type
    assert calls["dynamodb.GetItem"] == sum(
        1 for r in workload.records if b"_test.event_stream" not in r.data
    )
    assert calls["pinpoint.GetEndpoint"] >= calls["dynamodb.UpdateItem"] > 0
    assert calls["pinpoint.GetUserEndpoints"] > 0 and calls["pinpoint.UpdateEndpoint"] > 0


def test_kinesis_events_keep_shard_order_and_batch_size(workload: Workload) -> None:
    events = kinesis_events(workload, 100)
    records = [record for event in events for record in event["Records"]]
    assert all(len(event["Records"]) <= 100 for event in events)
    assert len(records) == len(workload.records)
    for event in events:
        shards = {record["eventID"].partition(":")[0] for record in event["Records"]}
        assert len(shards) == 1
    by_shard: dict[str, list[str]] = {}
    for record in records:
        by_shard.setdefault(record["eventID"].partition(":")[0], []).append(
            record["kinesis"]["sequenceNumber"]
        )
    assert all(sequence == sorted(sequence) for sequence in by_shard.values())
    assert shard_of(workload.records[0].partition_key) in range(4)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with patched_environ(LOCAL_AWS_ENV), mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def test_call_counter_counts_each_api_call_of_the_session_clients(dynamodb: Any) -> None:
    session = boto3.Session(region_name="us-east-1")
    counter = ApiCallCounter()
    counter.attach(session.events)
    client = session.client("dynamodb")
    client.get_item(TableName="t", Key={"k": {"S": "a"}})
    client.get_item(TableName="t", Key={"k": {"S": "b"}})
    client.describe_table(TableName="t")
    dynamodb.get_item(TableName="t", Key={"k": {"S": "c"}})  # another session: not counted
    assert counter.by_operation() == {"dynamodb.DescribeTable": 1, "dynamodb.GetItem": 2}
