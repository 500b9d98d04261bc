"""The local cloud's TransactWriteItems (simulator/local_cloud/moto_atomic.py), in-process: all or nothing,
AWS's cancellation reasons, and a cost that does not grow with the table (issue #4)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from benchmarks.common import LOCAL_AWS_ENV, patched_environ
from simulator.local_cloud import moto_atomic


@pytest.fixture
def clients() -> Iterator[tuple[Any, Any, str]]:
    with patched_environ(LOCAL_AWS_ENV), mock_aws(), moto_atomic.atomic_dynamodb():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        created = dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield (
            dynamodb,
            boto3.client("dynamodbstreams", region_name="us-east-1"),
            created["TableDescription"]["LatestStreamArn"],
        )


def put(key: str, condition: str | None = None, **extra: Any) -> dict[str, Any]:
    action: dict[str, Any] = {"TableName": "t", "Item": {"k": {"S": key}}, **extra}
    if condition:
        action["ConditionExpression"] = condition
    return {"Put": action}


def keys(dynamodb: Any) -> set[str]:
    return {item["k"]["S"] for item in dynamodb.scan(TableName="t", ConsistentRead=True)["Items"]}


def stream_keys(streams: Any, stream_arn: str) -> list[str]:
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [record["dynamodb"]["Keys"]["k"]["S"] for record in records]


def test_a_failed_condition_cancels_before_anything_is_written(clients: tuple[Any, Any, str]) -> None:
    dynamodb, streams, stream_arn = clients
    dynamodb.transact_write_items(TransactItems=[put("a"), put("b", "attribute_not_exists(k)")])
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(
            TransactItems=[
                put("c"),
                put("a", "attribute_not_exists(k)", ReturnValuesOnConditionCheckFailure="ALL_OLD"),
            ]
        )
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in error["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert error["CancellationReasons"][1]["Item"] == {"k": {"S": "a"}}
    assert keys(dynamodb) == {"a", "b"}
    assert stream_keys(streams, stream_arn) == ["a", "b"]


def test_a_committed_transaction_applies_every_action(clients: tuple[Any, Any, str]) -> None:
    dynamodb, _, _ = clients
    dynamodb.transact_write_items(TransactItems=[put("a"), put("b")])
    update = {
        "Update": {
            "TableName": "t",
            "Key": {"k": {"S": "b"}},
            "UpdateExpression": "SET v = :v",
            "ConditionExpression": "attribute_exists(#k) AND NOT #k = :other",
            "ExpressionAttributeNames": {"#k": "k"},
            "ExpressionAttributeValues": {":v": {"N": "1"}, ":other": {"S": "x"}},
        }
    }
    delete = {"Delete": {"TableName": "t", "Key": {"k": {"S": "a"}}}}
    check = {
        "ConditionCheck": {
            "TableName": "t",
            "Key": {"k": {"S": "b"}},
            "ConditionExpression": "attribute_exists(k)",
        }
    }
    with pytest.raises(ClientError) as same_item:
        dynamodb.transact_write_items(TransactItems=[update, check])
    assert same_item.value.response["Error"]["Code"] == "ValidationException"
    dynamodb.transact_write_items(TransactItems=[update, delete, put("c")])
    assert keys(dynamodb) == {"b", "c"}
    assert dynamodb.get_item(TableName="t", Key={"k": {"S": "b"}})["Item"]["v"] == {"N": "1"}


def test_an_action_failing_while_writing_undoes_the_earlier_ones(clients: tuple[Any, Any, str]) -> None:
    dynamodb, streams, stream_arn = clients
    dynamodb.put_item(TableName="t", Item={"k": {"S": "s"}, "v": {"S": "text"}})
    dynamodb.put_item(TableName="t", Item={"k": {"S": "n"}, "v": {"N": "1"}})
    before = stream_keys(streams, stream_arn)
    bump = {
        "TableName": "t",
        "UpdateExpression": "SET v = v + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    with pytest.raises(ClientError):
        # Conditions pass; the third action fails only when it runs (adding a number to a string).
        dynamodb.transact_write_items(
            TransactItems=[
                put("new"),
                {"Update": {**bump, "Key": {"k": {"S": "n"}}}},
                {"Update": {**bump, "Key": {"k": {"S": "s"}}}},
            ]
        )
    assert keys(dynamodb) == {"s", "n"}
    assert dynamodb.get_item(TableName="t", Key={"k": {"S": "n"}})["Item"]["v"] == {"N": "1"}
    assert stream_keys(streams, stream_arn) == before


def test_a_transaction_copies_no_table(
    clients: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stock moto deep-copies each touched table per transaction, a cost that grows with the table and
    its stream (the 20,000-event stall reported in issue #4); only the touched items may be."""
    from moto.dynamodb.models.table import Table

    dynamodb, _, _ = clients

    def refuse(self: Table, memo: dict[int, Any]) -> Table:
        raise AssertionError("a whole table was copied")

    monkeypatch.setattr(Table, "__deepcopy__", refuse, raising=False)
    dynamodb.transact_write_items(TransactItems=[put("a"), put("b")])
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(TransactItems=[put("c"), put("a", "attribute_not_exists(k)")])
    assert keys(dynamodb) == {"a", "b"}


def test_the_patch_comes_off_after_the_block() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    original = DynamoDBBackend.transact_write_items
    with moto_atomic.atomic_dynamodb():
        assert DynamoDBBackend.transact_write_items is moto_atomic.transact_write_items
    assert DynamoDBBackend.transact_write_items is original
