"""The fault proxy itself: injected answers are the errors botocore and the handlers classify as AWS's.

If the proxy injected nothing, or something botocore did not parse as the intended error, the fault scenarios
of test_embedded_pipeline.py would prove less than they claim; these checks keep it honest.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from engagement_scoring.aws.errors import is_retryable

from simulator.local_cloud.fault_proxy import (
    DYNAMODB_THROTTLING,
    EVENTBRIDGE_OVERLOAD,
    Fault,
    FaultProxy,
    FaultRule,
)
from simulator.local_cloud.moto_server import EmbeddedMoto

pytestmark = pytest.mark.reliability
NO_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture
def proxy(moto_server: EmbeddedMoto) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint_url, seed=1) as proxy:
        yield proxy


def client(proxy: FaultProxy, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=proxy.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )


def table(dynamodb: Any) -> str:
    name = f"proxy-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


@pytest.mark.parametrize("fault", DYNAMODB_THROTTLING, ids=lambda f: f.error_type.rsplit("#", 1)[-1])
def test_dynamodb_throttling_is_the_error_botocore_and_the_engine_know(
    proxy: FaultProxy, fault: Fault
) -> None:
    dynamodb = client(proxy, "dynamodb")
    name = table(dynamodb)
    proxy.set_rules(FaultRule("DynamoDB_20120810.PutItem", 1.0, (fault,)))
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName=name, Item={"k": {"S": "a"}})
    error = raised.value.response
    assert error["Error"]["Code"] == fault.error_type.rsplit("#", 1)[-1]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert is_retryable(raised.value)
    proxy.set_rules()
    assert dynamodb.scan(TableName=name, ConsistentRead=True)["Count"] == 0  # not applied


def test_a_rule_with_body_contains_hits_only_the_calls_that_carry_those_bytes(proxy: FaultProxy) -> None:
    dynamodb = client(proxy, "dynamodb")
    name = table(dynamodb)
    refused = Fault(400, "com.amazonaws.dynamodb.v20120810#ValidationException", "Item size exceeded")
    proxy.set_rules(FaultRule("DynamoDB_20120810.PutItem", 1.0, (refused,), body_contains=b'"poison-user"'))
    dynamodb.put_item(TableName=name, Item={"k": {"S": "healthy-user"}})
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName=name, Item={"k": {"S": "poison-user"}})
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert not is_retryable(raised.value)
    proxy.set_rules()
    keys = {item["k"]["S"] for item in dynamodb.scan(TableName=name, ConsistentRead=True)["Items"]}
    assert keys == {"healthy-user"}


def test_a_lost_response_is_applied_although_the_caller_sees_an_error(proxy: FaultProxy) -> None:
    dynamodb = client(proxy, "dynamodb")
    name = table(dynamodb)
    proxy.set_rules(
        FaultRule("DynamoDB_20120810.", 1.0, (Fault(500, "InternalServerError", after_forward=True),))
    )
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName=name, Item={"k": {"S": "a"}})
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    proxy.set_rules()
    assert dynamodb.scan(TableName=name, ConsistentRead=True)["Count"] == 1


def test_eventbridge_overload_answers(proxy: FaultProxy) -> None:
    events = client(proxy, "events")
    entries = [{"Source": "s", "DetailType": "d", "Detail": "{}"}] * 3
    seen = {}
    for fault in EVENTBRIDGE_OVERLOAD:
        proxy.set_rules(FaultRule("AWSEvents.PutEvents", 1.0, (fault,)))
        if fault.failed_entries:
            answer = events.put_events(Entries=entries)
            assert answer["FailedEntryCount"] == 3
            assert {e["ErrorCode"] for e in answer["Entries"]} == {fault.error_type}
            continue
        with pytest.raises(ClientError) as raised:
            events.put_events(Entries=entries)
        seen[raised.value.response["ResponseMetadata"]["HTTPStatusCode"]] = raised.value
    assert set(seen) == {429, 500, 503}
    assert all(is_retryable(error) for error in seen.values())


def test_rate_is_respected_and_only_matching_operations_are_hit(proxy: FaultProxy) -> None:
    dynamodb = client(proxy, "dynamodb")
    name = table(dynamodb)
    proxy.set_rules(FaultRule("DynamoDB_20120810.GetItem", 0.2, DYNAMODB_THROTTLING), seed=3)
    failures = 0
    for _ in range(100):
        try:
            dynamodb.get_item(TableName=name, Key={"k": {"S": "a"}})
        except ClientError:
            failures += 1
    dynamodb.describe_table(TableName=name)
    counters = proxy.snapshot()
    assert 8 <= failures <= 35 and sum(counters.faults.values()) == failures
    assert counters.calls["DynamoDB_20120810.DescribeTable"] == 1
    assert not any("DescribeTable" in key for key in counters.faults)


def test_hooks_see_each_operation_before_and_after_the_emulator(proxy: FaultProxy) -> None:
    seen: list[tuple[str, str]] = []
    proxy.on_request = lambda operation: seen.append(("before", operation))
    proxy.on_response = lambda operation: seen.append(("after", operation))
    client(proxy, "dynamodb").list_tables()
    assert seen == [("before", "DynamoDB_20120810.ListTables"), ("after", "DynamoDB_20120810.ListTables")]


def test_even_spacing_injects_exactly_the_rate_and_every_kind_in_turn(proxy: FaultProxy) -> None:
    events = client(proxy, "events")
    proxy.set_rules(FaultRule("AWSEvents.PutEvents", 0.2, EVENTBRIDGE_OVERLOAD, even=True), seed=9)
    for _ in range(40):
        with contextlib.suppress(ClientError):
            events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])
    faults = proxy.snapshot().faults
    assert sum(faults.values()) == 8
    assert {key.split(" ")[1] for key in faults} == {"429", "500", "503", "200"}
    assert set(faults.values()) == {2}
