"""The embedded cloud's DynamoDB keeps AWS's transaction guarantees (simulator/local_cloud/moto_atomic.py).

Stock moto 5.2 rolls a cancelled TransactWriteItems back by swapping in deep copies of the tables: open
DynamoDB Streams iterators then read a dead shard (the score sync goes blind), and concurrent transactions
lose updates. The reliability scenarios run on the patched server; these tests pin the two properties.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from simulator.local_cloud.moto_server import EmbeddedMoto

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def atomic_moto() -> Iterator[EmbeddedMoto]:
    server = EmbeddedMoto().start()
    try:
        yield server
    finally:
        server.stop()


def clients(server: EmbeddedMoto) -> tuple[Any, Any]:
    def make(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return make("dynamodb"), make("dynamodbstreams")


def new_table(dynamodb: Any) -> tuple[str, str]:
    name = f"atomic-{uuid.uuid4().hex[:8]}"
    created = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return name, str(created["TableDescription"]["LatestStreamArn"])


def test_a_cancelled_transaction_leaves_stream_readers_working_and_publishes_nothing(
    atomic_moto: EmbeddedMoto,
) -> None:
    dynamodb, streams = clients(atomic_moto)
    table, stream_arn = new_table(dynamodb)
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]

    def put(key: str, condition: str | None = None) -> None:
        action: dict[str, Any] = {"TableName": table, "Item": {"k": {"S": key}}}
        if condition:
            action["ConditionExpression"] = condition
        dynamodb.transact_write_items(TransactItems=[{"Put": action}])

    put("a")
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in first["Records"]] == ["a"]
    # Two actions: the first is applied, the second fails, the whole transaction is undone.
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"k": {"S": "undone"}}}},
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"k": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(k)",
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    put("b")

    later = streams.get_records(ShardIterator=first["NextShardIterator"])  # the iterator the reader holds
    assert [r["dynamodb"]["Keys"]["k"]["S"] for r in later["Records"]] == ["b"]
    items = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    assert sorted(item["k"]["S"] for item in items) == ["a", "b"]


def test_concurrent_conditional_transactions_lose_no_update(atomic_moto: EmbeddedMoto) -> None:
    dynamodb, _ = clients(atomic_moto)
    table, _ = new_table(dynamodb)
    dynamodb.put_item(TableName=table, Item={"k": {"S": "counter"}, "n": {"N": "0"}})
    per_thread, threads = 25, 4

    def increment() -> None:
        client, _ = clients(atomic_moto)
        done = 0
        while done < per_thread:
            item = client.get_item(TableName=table, Key={"k": {"S": "counter"}}, ConsistentRead=True)["Item"]
            current = int(item["n"]["N"])
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": table,
                                "Key": {"k": {"S": "counter"}},
                                "UpdateExpression": "SET n = :new",
                                "ConditionExpression": "n = :old",
                                "ExpressionAttributeValues": {
                                    ":new": {"N": str(current + 1)},
                                    ":old": {"N": str(current)},
                                },
                            }
                        },
                        # A second item in the same transaction: moto deep-copies both tables on each call.
                        {"Put": {"TableName": table, "Item": {"k": {"S": f"mark-{uuid.uuid4().hex}"}}}},
                    ]
                )
                done += 1
            except ClientError as error:
                assert error.response["Error"]["Code"] == "TransactionCanceledException"

    workers = [threading.Thread(target=increment) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    item = dynamodb.get_item(TableName=table, Key={"k": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert int(item["n"]["N"]) == per_thread * threads
    marks = dynamodb.scan(TableName=table, ConsistentRead=True, Select="COUNT")["Count"] - 1
    assert marks == per_thread * threads
