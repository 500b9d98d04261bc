"""The recording clients on real boto3 calls against in-process moto: every DynamoDB operation the
stores use (v1: BatchGetItem, TransactWriteItems, Scan; v2: UpdateItem, eventually consistent
BatchGetItem, PartiQL) is priced from the stored items as the calculator's rules say; the harness's own
reads are not counted; failed conditions and cancelled transactions are charged, batch leftovers not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from benchmarks.capacity import item_size
from benchmarks.common import LOCAL_AWS_ENV, patched_environ
from benchmarks.recording import CapacityRecorder, ServiceUsageRecorder, eventbridge_entry_size

KB = 1024


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with patched_environ(LOCAL_AWS_ENV), mock_aws():
        harness = boto3.Session(region_name="us-east-1")
        dynamodb = harness.client("dynamodb")
        dynamodb.create_table(
            TableName="scores",
            KeySchema=[{"AttributeName": "user_key", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "user_key", "AttributeType": "S"},
                {"AttributeName": "due_sh", "AttributeType": "S"},
                {"AttributeName": "due_at", "AttributeType": "N"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "due",
                    "KeySchema": [
                        {"AttributeName": "due_sh", "KeyType": "HASH"},
                        {"AttributeName": "due_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "event_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "event_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        code = boto3.Session(region_name="us-east-1")
        recorder = CapacityRecorder(dynamodb)
        recorder.attach(code.events)
        yield {"harness": dynamodb, "client": code.client("dynamodb"), "recorder": recorder, "session": code}


def _usage(recorder: CapacityRecorder, table: str, operation: str) -> Any:
    return recorder.usage[table][operation]


def _filler(size: int) -> dict[str, Any]:
    """A user item of exactly `size` bytes (key u-1, pad attribute `p`)."""
    base = {"user_key": {"S": "u-1"}, "p": {"S": ""}}
    base["p"]["S"] = "x" * (size - item_size(base))
    assert item_size(base) == size
    return base


def test_put_then_update_costs_the_larger_item_and_the_harness_is_not_counted(aws: dict[str, Any]) -> None:
    client, harness, recorder = aws["client"], aws["harness"], aws["recorder"]
    client.put_item(TableName="scores", Item=_filler(1500))  # 2 KB
    client.update_item(
        TableName="scores",
        Key={"user_key": {"S": "u-1"}},
        UpdateExpression="SET p = :p",
        ExpressionAttributeValues={":p": {"S": "small"}},
    )  # before 1500 B, after ~20 B: the larger, 2 units
    harness.get_item(TableName="scores", Key={"user_key": {"S": "u-1"}})  # the harness's own: not counted
    assert _usage(recorder, "scores", "PutItem").write_units == 2
    assert _usage(recorder, "scores", "UpdateItem").write_units == 2
    assert recorder.totals()["read_request_units"] == 0
    assert recorder.totals()["requests"] == 2


def test_failed_conditions_are_charged(aws: dict[str, Any]) -> None:
    client, recorder = aws["client"], aws["recorder"]
    with pytest.raises(ClientError):
        client.put_item(
            TableName="scores",
            Item=_filler(100),
            ConditionExpression="attribute_exists(user_key)",
        )  # a new item: 1 unit
    client.put_item(TableName="scores", Item=_filler(3000))
    with pytest.raises(ClientError):
        client.update_item(
            TableName="scores",
            Key={"user_key": {"S": "u-1"}},
            UpdateExpression="SET p = :p",
            ConditionExpression="attribute_not_exists(user_key)",
            ExpressionAttributeValues={":p": {"S": "y"}},
        )  # the existing 3,000-byte item: 3 units
    assert _usage(recorder, "scores", "PutItem").write_units == 1 + 3
    assert _usage(recorder, "scores", "PutItem").charged_failures == 1
    assert _usage(recorder, "scores", "UpdateItem").write_units == 3


def test_reads_by_consistency_whatever_the_projection(aws: dict[str, Any]) -> None:
    client, harness, recorder = aws["client"], aws["harness"], aws["recorder"]
    harness.put_item(TableName="scores", Item=_filler(5000))  # 8 KB rounded
    client.get_item(TableName="scores", Key={"user_key": {"S": "u-1"}}, ConsistentRead=True)
    client.get_item(TableName="scores", Key={"user_key": {"S": "u-1"}}, ProjectionExpression="user_key")
    client.get_item(TableName="scores", Key={"user_key": {"S": "missing"}})
    # strongly 2, eventually (projected, same size) 1, a missing item eventually 0.5
    assert _usage(recorder, "scores", "GetItem").read_units == 2 + 1 + 0.5


def test_batch_get_per_item_and_per_table_consistency(aws: dict[str, Any]) -> None:
    client, harness, recorder = aws["client"], aws["harness"], aws["recorder"]
    harness.put_item(TableName="scores", Item=_filler(6000))
    harness.put_item(TableName="ledger", Item={"event_key": {"S": "e#1"}, "expires_at": {"N": "1"}})
    client.batch_get_item(
        RequestItems={
            "scores": {
                "Keys": [{"user_key": {"S": "u-1"}}, {"user_key": {"S": "u-2"}}],
                "ConsistentRead": False,
            },
            "ledger": {
                "Keys": [{"event_key": {"S": "e#1"}}, {"event_key": {"S": "e#2"}}],
                "ConsistentRead": True,
                "ProjectionExpression": "event_key",
            },
        }
    )
    # scores eventually: 6,000 B -> 2 blocks -> 1, a missing key 0.5; ledger strongly: 1 + 1 (missing)
    assert _usage(recorder, "scores", "BatchGetItem").read_units == 1.5
    assert _usage(recorder, "ledger", "BatchGetItem").read_units == 2
    assert _usage(recorder, "ledger", "BatchGetItem").items == 2


def test_transactions_cost_double_and_are_charged_when_cancelled(aws: dict[str, Any]) -> None:
    client, recorder = aws["client"], aws["recorder"]
    actions = [
        {"Put": {"TableName": "ledger", "Item": {"event_key": {"S": f"e#{n}"}, "pad": {"S": "x" * 480}}}}
        for n in range(3)
    ]
    client.transact_write_items(TransactItems=actions)  # three 500-byte items: 6 units (TRANSACTION page)
    assert _usage(recorder, "ledger", "TransactWriteItems").write_units == 6
    conditional = [
        {**action, "Put": {**action["Put"], "ConditionExpression": "attribute_not_exists(event_key)"}}
        for action in actions
    ]
    with pytest.raises(ClientError) as cancelled:
        client.transact_write_items(TransactItems=conditional)
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    usage = _usage(recorder, "ledger", "TransactWriteItems")
    assert usage.write_units == 6 + 6  # "consumed even when a transaction does not succeed"
    assert usage.charged_failures == 1


def test_batch_write_prices_each_item(aws: dict[str, Any]) -> None:
    client, recorder = aws["client"], aws["recorder"]
    client.batch_write_item(
        RequestItems={
            "ledger": [
                {"PutRequest": {"Item": {"event_key": {"S": "a"}, "pad": {"S": "x" * 490}}}},
                {"PutRequest": {"Item": {"event_key": {"S": "b"}, "pad": {"S": "x" * 3580}}}},
            ]
        }
    )  # 500 B and 3.5 KB: 5 units (READ_WRITE page)
    assert _usage(recorder, "ledger", "BatchWriteItem").write_units == 5


def test_index_writes_follow_the_index_entry(aws: dict[str, Any]) -> None:
    client, recorder = aws["client"], aws["recorder"]
    key = {"user_key": {"S": "u-1"}}
    client.put_item(TableName="scores", Item={**key, "score": {"N": "1"}})  # not in the sparse index: 0

    def set_due(value: str) -> None:
        client.update_item(
            TableName="scores",
            Key=key,
            UpdateExpression="SET due_sh = :s, due_at = :t",
            ExpressionAttributeValues={":s": {"S": "3"}, ":t": {"N": value}},
        )

    set_due("100")  # the entry appears: 1
    set_due("200")  # its key changes: a delete and a put, 2
    client.update_item(TableName="scores", Key=key, UpdateExpression="REMOVE due_sh, due_at")  # gone: 1
    assert _usage(recorder, "scores", "PutItem").index_write_units == 0
    assert _usage(recorder, "scores", "UpdateItem").index_write_units == 1 + 2 + 1


def test_scan_prices_the_items_evaluated_not_returned(aws: dict[str, Any]) -> None:
    client, harness, recorder = aws["client"], aws["harness"], aws["recorder"]
    for n in range(10):
        harness.put_item(TableName="ledger", Item={"event_key": {"S": f"e#{n}"}, "pad": {"S": "x" * 1000}})
    response = client.scan(
        TableName="ledger",
        FilterExpression="event_key = :k",
        ExpressionAttributeValues={":k": {"S": "e#1"}},
        ProjectionExpression="event_key",
    )
    assert response["Count"] == 1 and response["ScannedCount"] == 10
    # 10 items of 1,008 bytes evaluated: 10,080 bytes -> 3 blocks of 4 KB, eventually consistent: 1.5
    assert _usage(recorder, "ledger", "Scan").read_units == 1.5


def test_partiql_statements_are_priced_like_their_operations(aws: dict[str, Any]) -> None:
    client, harness, recorder = aws["client"], aws["harness"], aws["recorder"]
    harness.put_item(TableName="scores", Item={"user_key": {"S": "u-1"}, "score": {"N": "1"}})
    client.execute_statement(
        Statement='UPDATE "scores" SET score = ? WHERE user_key = ?', Parameters=[{"N": "2"}, {"S": "u-1"}]
    )
    client.execute_statement(Statement="SELECT * FROM scores WHERE user_key = ?", Parameters=[{"S": "u-1"}])
    client.batch_execute_statement(
        Statements=[
            {
                "Statement": "UPDATE scores SET score = ? WHERE user_key = ?",
                "Parameters": [{"N": "3"}, {"S": "u-1"}],
            },
            # moto cannot bind a parameter inside VALUE; a literal key is parsed the same way
            {"Statement": "INSERT INTO ledger VALUE {'event_key': 'b#u-1'}"},
        ]
    )
    assert _usage(recorder, "scores", "ExecuteStatement").write_units == 1
    assert _usage(recorder, "scores", "ExecuteStatement").read_units == 0.5  # eventually consistent
    assert _usage(recorder, "scores", "BatchExecuteStatement").write_units == 1
    assert _usage(recorder, "ledger", "BatchExecuteStatement").write_units == 1
    assert harness.get_item(TableName="scores", Key={"user_key": {"S": "u-1"}})["Item"]["score"] == {"N": "3"}
    assert not recorder.unpriced


def test_statements_without_a_key_are_listed_unpriced_not_guessed(aws: dict[str, Any]) -> None:
    client, recorder = aws["client"], aws["recorder"]
    client.execute_statement(Statement="SELECT * FROM scores")
    assert recorder.unpriced == {"ExecuteStatement": 1}
    assert recorder.totals()["read_request_units"] == 0


def test_the_cache_gives_the_same_units_as_reading_every_time(aws: dict[str, Any]) -> None:
    cached, uncached = CapacityRecorder(aws["harness"]), CapacityRecorder(aws["harness"], cache=False)
    session = boto3.Session(region_name="us-east-1")  # a client copies its session's hooks when made
    cached.attach(session.events)
    uncached.attach(session.events)
    client = session.client("dynamodb")
    for n in range(3):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "ledger", "Item": {"event_key": {"S": f"e#{n}"}}}},
                {
                    "Update": {
                        "TableName": "scores",
                        "Key": {"user_key": {"S": "u-1"}},
                        "UpdateExpression": "SET filler = :p",
                        "ExpressionAttributeValues": {":p": {"S": "x" * (900 * n)}},
                    }
                },
            ]
        )
        client.batch_get_item(
            RequestItems={
                "ledger": {"Keys": [{"event_key": {"S": f"e#{n}"}}], "ProjectionExpression": "event_key"}
            }
        )
    assert cached.as_dict()["by_table"] == uncached.as_dict()["by_table"]
    assert uncached.totals()["write_request_units"] == 2 * (3 + 1 + 1 + 2)  # ledger 1 each; scores 1, 1, 2


def test_service_usage_counts_billed_chunks_and_backend_time() -> None:
    with patched_environ(LOCAL_AWS_ENV), mock_aws():
        session = boto3.Session(region_name="us-east-1")
        ticks = iter(range(0, 10_000_000, 1000))
        recorder = ServiceUsageRecorder(clock=lambda: next(ticks))
        recorder.attach(session.events)
        events = session.client("events")
        events.create_event_bus(Name="bus")
        detail = json.dumps({"pad": "x" * 70_000})  # one entry over 64 KB: two billed events
        events.put_events(
            Entries=[
                {"Source": "s", "DetailType": "d", "Detail": detail, "EventBusName": "bus"},
                {"Source": "s", "DetailType": "d", "Detail": "{}", "EventBusName": "bus"},
            ]
        )
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "y" * 40_000} for n in range(2)]
        )  # 80,000 bytes in one request: 2 billed requests
    assert recorder.usage.eventbridge_entries == 2
    assert recorder.usage.eventbridge_billed_events == 3
    assert recorder.usage.sqs_billed_requests == 2
    assert recorder.usage.calls["eventbridge.PutEvents"] == 1
    assert recorder.backend_ns > 0
    assert eventbridge_entry_size({"Source": "ab", "DetailType": "c", "Detail": "{}", "Time": 1}) == 14 + 5
