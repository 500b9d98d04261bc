"""B2 times the scorer against an in-memory DynamoDB fake; the fake must answer as DynamoDB does, or B2
would time another path (a fake that never finds a user makes every later batch a cheap first write).
Checked against moto: the same batches through the scorer give the same responses, the same stored
users and the same overflow buckets on both (few users, so their rings overflow)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engagement_scoring.core.changes import image
from engagement_scoring.pipeline.scorer import ScorerRuntime, process_batch
from moto import mock_aws

from benchmarks import b2_cpu
from benchmarks.common import LOCAL_AWS_ENV, kinesis_events, patched_environ, standard_workload

# Runs a benchmark's workload through the handlers on in-process moto: not a unit test (issue #8 item 16).
pytestmark = pytest.mark.integration

USERS, EVENTS, BATCH_SIZE = 20, 1500, 100


@pytest.fixture
def moto_dynamodb() -> Iterator[Any]:
    with patched_environ(LOCAL_AWS_ENV), mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        for name, key in (("rules", "event_type"), ("scores", "user_key"), ("ledger", "event_key")):
            dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        yield dynamodb


def test_the_b2_fake_answers_the_scorer_as_dynamodb_does(moto_dynamodb: Any) -> None:
    # given the benchmark's runtime on its fake, and the same configuration on moto with the same rules
    fake_runtime, fake = b2_cpu._runtime()
    for item in fake.rules:
        moto_dynamodb.put_item(TableName="rules", Item=item)
    moto_runtime = ScorerRuntime(fake_runtime.config, moto_dynamodb, b2_cpu.FakeSQS(), sleep=lambda _: None)
    # one clock for both: the overflow directory `dd` carries expiry times computed from it
    fake_runtime.clock = moto_runtime.clock = lambda: 1_796_000_000.0
    events = kinesis_events(standard_workload(USERS, EVENTS), BATCH_SIZE)
    # when every batch goes through both, then again (Lambda redelivering all of them)
    for event in [*events, *events]:
        assert process_batch(event, fake_runtime) == process_batch(event, moto_runtime)
    # then both hold the same users, item by item, and the same overflow buckets
    stored = [image(item) or {} for item in moto_dynamodb.scan(TableName="scores")["Items"]]
    faked = [image(item) or {} for item in fake.users.values()]
    for item in [*stored, *faked]:
        del item["updated_at"]  # the wall clock of each write
    assert len(stored) > USERS // 2
    assert sorted(faked, key=lambda item: item["user_key"]) == sorted(
        stored, key=lambda item: item["user_key"]
    )
    buckets = {
        item["event_key"]["S"]: set(item["d"]["BS"])
        for item in moto_dynamodb.scan(TableName="ledger")["Items"]
    }
    assert fake.buckets == buckets and len(buckets) >= USERS // 2
