"""The embedded moto server's speed-ups (moto_server.remove_per_request_scans, issue #4) change no answer.

Every test talks to a real EmbeddedMoto subprocess, where the patches are applied: Kinesis GetRecords with
each iterator type and paging by Limit (bisection over the shard), SQS delivery and expiry (retention read
from the queue), EventBridge to SQS with the default and a custom input transformer (cached JSONPath parser).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from simulator.local_cloud.moto_server import EmbeddedMoto

pytestmark = pytest.mark.integration  # starts an embedded moto server

REGION = "us-east-1"
DEADLINE_S = 10.0
RECORDS = 30


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedMoto]:
    with EmbeddedMoto() as embedded:
        yield embedded


def client(server: EmbeddedMoto, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


# --- Kinesis ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Put:
    data: bytes
    partition_key: str
    sequence_number: str
    shard_id: str


@dataclass(frozen=True)
class Read:
    records: list[Put]
    pages: list[int]  # records per non-empty GetRecords call, in call order
    next_iterator: str  # NextShardIterator of the final, empty read


def create_active_stream(kinesis: Any, name: str, shards: int) -> list[dict[str, Any]]:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    deadline = time.monotonic() + DEADLINE_S
    while True:
        summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        if summary["StreamStatus"] == "ACTIVE":
            break
        assert time.monotonic() < deadline, f"stream {name} not ACTIVE within {DEADLINE_S}s: {summary}"
        time.sleep(0.05)
    found: list[dict[str, Any]] = kinesis.describe_stream(StreamName=name)["StreamDescription"]["Shards"]
    assert len(found) == shards
    return found


def put_records(
    kinesis: Any, stream: str, datas: list[bytes], hash_keys: list[str] | None = None
) -> list[Put]:
    entries: list[dict[str, Any]] = []
    for index, data in enumerate(datas):
        entry: dict[str, Any] = {"Data": data, "PartitionKey": f"pk-{index % 3}"}
        if hash_keys is not None:
            entry["ExplicitHashKey"] = hash_keys[index]
        entries.append(entry)
    response = kinesis.put_records(StreamName=stream, Records=entries)
    assert response["FailedRecordCount"] == 0
    assert len(response["Records"]) == len(entries)
    return [
        Put(entry["Data"], entry["PartitionKey"], result["SequenceNumber"], result["ShardId"])
        for entry, result in zip(entries, response["Records"], strict=True)
    ]


def iterator(kinesis: Any, stream: str, shard_id: str, kind: str, sequence_number: str | None = None) -> str:
    arguments: dict[str, Any] = {"StreamName": stream, "ShardId": shard_id, "ShardIteratorType": kind}
    if sequence_number is not None:
        arguments["StartingSequenceNumber"] = sequence_number
    return str(kinesis.get_shard_iterator(**arguments)["ShardIterator"])


def read_to_end(kinesis: Any, shard_iterator: str, shard_id: str, limit: int | None) -> Read:
    """Follow NextShardIterator until a read comes back empty; check MillisBehindLatest on every call."""
    records: list[Put] = []
    pages: list[int] = []
    for _ in range(RECORDS * 2 + 2):
        arguments: dict[str, Any] = {"ShardIterator": shard_iterator}
        if limit is not None:
            arguments["Limit"] = limit
        response = kinesis.get_records(**arguments)
        behind = response["MillisBehindLatest"]
        assert isinstance(behind, int)
        assert behind >= 0
        shard_iterator = response["NextShardIterator"]
        page = response["Records"]
        if not page:
            assert behind == 0
            return Read(records, pages, shard_iterator)
        if limit is not None:
            assert len(page) <= limit
        pages.append(len(page))
        records.extend(
            Put(record["Data"], record["PartitionKey"], record["SequenceNumber"], shard_id) for record in page
        )
    raise AssertionError(f"no empty read after {len(pages)} pages: {pages}")


def expected_pages(count: int, limit: int | None) -> list[int]:
    if count == 0:
        return []
    if limit is None:
        return [count]
    return [limit] * (count // limit) + ([count % limit] if count % limit else [])


@dataclass(frozen=True)
class Stream:
    name: str
    shard_id: str
    puts: list[Put]


@pytest.fixture(scope="module")
def one_shard_stream(server: EmbeddedMoto) -> Stream:
    """A 1-shard stream holding RECORDS records, put in three PutRecords calls; read-only for the tests."""
    kinesis = client(server, "kinesis")
    (shard,) = create_active_stream(kinesis, "patches-one-shard", 1)
    puts: list[Put] = []
    for batch in range(3):
        datas = [f"record-{index:02d}".encode() for index in range(batch * 10, batch * 10 + 10)]
        puts += put_records(kinesis, "patches-one-shard", datas)
    assert {put.shard_id for put in puts} == {shard["ShardId"]}
    numbers = [int(put.sequence_number) for put in puts]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == RECORDS
    return Stream("patches-one-shard", shard["ShardId"], puts)


@pytest.mark.parametrize("limit", [1, 7, 10, RECORDS, 100, None])
def test_trim_horizon_pages_through_every_record_once_in_order(
    server: EmbeddedMoto, one_shard_stream: Stream, limit: int | None
) -> None:
    kinesis = client(server, "kinesis")
    stream = one_shard_stream
    start = iterator(kinesis, stream.name, stream.shard_id, "TRIM_HORIZON")
    read = read_to_end(kinesis, start, stream.shard_id, limit)
    assert read.records == stream.puts
    assert read.pages == expected_pages(RECORDS, limit)
    # The iterator after the empty read stays at the end: reading it again is empty again.
    assert read_to_end(kinesis, read.next_iterator, stream.shard_id, limit).records == []


@pytest.mark.parametrize("index", [0, 1, 10, RECORDS - 2, RECORDS - 1])
@pytest.mark.parametrize("kind", ["AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"])
def test_sequence_number_iterators_start_exactly_at_or_after_the_record(
    server: EmbeddedMoto, one_shard_stream: Stream, kind: str, index: int
) -> None:
    kinesis = client(server, "kinesis")
    stream = one_shard_stream
    start = iterator(kinesis, stream.name, stream.shard_id, kind, stream.puts[index].sequence_number)
    read = read_to_end(kinesis, start, stream.shard_id, 7)
    first = index if kind == "AT_SEQUENCE_NUMBER" else index + 1
    assert read.records == stream.puts[first:]
    assert read.pages == expected_pages(RECORDS - first, 7)


def test_the_page_holding_the_newest_record_is_zero_millis_behind(
    server: EmbeddedMoto, one_shard_stream: Stream
) -> None:
    kinesis = client(server, "kinesis")
    stream = one_shard_stream
    start = iterator(
        kinesis, stream.name, stream.shard_id, "AT_SEQUENCE_NUMBER", stream.puts[-3].sequence_number
    )
    response = kinesis.get_records(ShardIterator=start, Limit=7)
    assert [record["Data"] for record in response["Records"]] == [put.data for put in stream.puts[-3:]]
    assert response["MillisBehindLatest"] == 0


def test_millis_behind_latest_is_the_age_gap_to_the_newest_record(server: EmbeddedMoto) -> None:
    kinesis = client(server, "kinesis")
    name = "patches-behind"
    (shard,) = create_active_stream(kinesis, name, 1)
    shard_id = shard["ShardId"]
    began = time.monotonic()
    old = put_records(kinesis, name, [b"old"])
    time.sleep(0.06)  # the gap under test: the server stamps the second record at least this much later
    new = put_records(kinesis, name, [b"new"])
    elapsed_ms = (time.monotonic() - began) * 1000
    first = kinesis.get_records(ShardIterator=iterator(kinesis, name, shard_id, "TRIM_HORIZON"), Limit=1)
    assert [record["Data"] for record in first["Records"]] == [put.data for put in old]
    assert 59 <= first["MillisBehindLatest"] <= elapsed_ms + 1
    second = kinesis.get_records(ShardIterator=first["NextShardIterator"], Limit=1)
    assert [record["Data"] for record in second["Records"]] == [put.data for put in new]
    assert second["MillisBehindLatest"] == 0
    # The gap is measured from the page's last record, not its first.
    both = kinesis.get_records(ShardIterator=iterator(kinesis, name, shard_id, "TRIM_HORIZON"), Limit=2)
    assert [record["Data"] for record in both["Records"]] == [b"old", b"new"]
    assert both["MillisBehindLatest"] == 0


def test_latest_and_a_drained_iterator_return_exactly_the_records_put_afterwards(
    server: EmbeddedMoto,
) -> None:
    kinesis = client(server, "kinesis")
    name = "patches-latest"
    (shard,) = create_active_stream(kinesis, name, 1)
    shard_id = shard["ShardId"]
    before = put_records(kinesis, name, [f"old-{index}".encode() for index in range(10)])
    latest = iterator(kinesis, name, shard_id, "LATEST")
    drained = read_to_end(kinesis, iterator(kinesis, name, shard_id, "TRIM_HORIZON"), shard_id, 7)
    assert drained.records == before
    empty = kinesis.get_records(ShardIterator=latest, Limit=7)
    assert empty["Records"] == []
    assert empty["MillisBehindLatest"] == 0

    after = put_records(kinesis, name, [f"new-{index}".encode() for index in range(9)])
    # Both the first LATEST iterator and the one an empty read handed back resume at the same place.
    for start in (latest, empty["NextShardIterator"], drained.next_iterator):
        read = read_to_end(kinesis, start, shard_id, 4)
        assert read.records == after
        assert read.pages == [4, 4, 1]
    # A LATEST iterator taken now sees nothing of what is already there.
    assert read_to_end(kinesis, iterator(kinesis, name, shard_id, "LATEST"), shard_id, 4).records == []


def test_each_of_two_shards_returns_only_its_own_records(server: EmbeddedMoto) -> None:
    kinesis = client(server, "kinesis")
    name = "patches-two-shards"
    shards = create_active_stream(kinesis, name, 2)
    shard_ids = [shard["ShardId"] for shard in shards]
    # moto treats EndingHashKey as exclusive (the stream's last key, 2**128 - 1, lands in no shard and
    # PutRecords fails with a 500), so each record is sent to its shard's StartingHashKey.
    starts = [shard["HashKeyRange"]["StartingHashKey"] for shard in shards]
    targets = [0, 1, 1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0]
    datas = [f"shard{target}-{index:02d}".encode() for index, target in enumerate(targets)]
    puts = put_records(kinesis, name, datas, [starts[target] for target in targets])
    assert [put.shard_id for put in puts] == [shard_ids[target] for target in targets]

    for number, shard_id in enumerate(shard_ids):
        own = [put for put, target in zip(puts, targets, strict=True) if target == number]
        assert 8 <= len(own) <= 15
        read = read_to_end(kinesis, iterator(kinesis, name, shard_id, "TRIM_HORIZON"), shard_id, 3)
        assert read.records == own
        assert read.pages == expected_pages(len(own), 3)
        after = read_to_end(
            kinesis,
            iterator(kinesis, name, shard_id, "AFTER_SEQUENCE_NUMBER", own[2].sequence_number),
            shard_id,
            3,
        )
        assert after.records == own[3:]


# --- SQS -------------------------------------------------------------------------------------------------


def create_queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, str(arn)


def receive(sqs: Any, url: str, expected: int) -> list[dict[str, Any]]:
    """Receive and delete until `expected` messages came or the deadline passed, then read once more."""
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(messages) < expected and time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        for message in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        messages += batch
        if not batch:
            time.sleep(0.05)
    extra = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return messages + extra


def test_sqs_delivers_every_fresh_message_once(server: EmbeddedMoto) -> None:
    sqs = client(server, "sqs")
    url, _ = create_queue(sqs, "patches-default-retention")
    bodies = [f"message-{index:02d}" for index in range(25)]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    assert sorted(message["Body"] for message in receive(sqs, url, len(bodies))) == bodies


def test_sqs_queue_with_a_60s_retention_delivers_fresh_messages(server: EmbeddedMoto) -> None:
    sqs = client(server, "sqs")
    url, _ = create_queue(sqs, "patches-60s-retention", MessageRetentionPeriod="60")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MessageRetentionPeriod"])
    assert attributes["Attributes"] == {"MessageRetentionPeriod": "60"}
    bodies = [f"short-{index}" for index in range(6)]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(index), "MessageBody": body} for index, body in enumerate(bodies)]
    )
    assert sorted(message["Body"] for message in receive(sqs, url, len(bodies))) == bodies


def test_sqs_expires_a_message_once_a_lowered_retention_period_has_passed(server: EmbeddedMoto) -> None:
    """The patched check reads the queue's current retention period: lowering it expires older messages."""
    sqs = client(server, "sqs")
    url, _ = create_queue(sqs, "patches-lowered-retention", MessageRetentionPeriod="60")
    sqs.send_message(QueueUrl=url, MessageBody="ages")

    def visible() -> list[str]:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return [message["Body"] for message in response.get("Messages", [])]

    assert visible() == ["ages"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "1"})
    deadline = time.monotonic() + DEADLINE_S
    while visible():
        assert time.monotonic() < deadline, "message still delivered after its 1 s retention period"
        time.sleep(0.1)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"MessageRetentionPeriod": "60"})
    assert visible() == ["ages"]  # moto keeps an expired message and checks its age on every receive


# --- EventBridge -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bus:
    name: str
    events: Any
    sqs: Any


@pytest.fixture
def bus(server: EmbeddedMoto, request: pytest.FixtureRequest) -> Bus:
    name = f"patches-{request.node.name}"[:60]
    events = client(server, "events")
    events.create_event_bus(Name=name)
    return Bus(name, events, client(server, "sqs"))


def route_to_queue(bus: Bus, rule: str, target: dict[str, Any]) -> str:
    url, arn = create_queue(bus.sqs, f"{bus.name}-{rule}"[:80])
    bus.events.put_rule(
        Name=rule, EventBusName=bus.name, EventPattern=json.dumps({"source": ["test.source"]})
    )
    response = bus.events.put_targets(Rule=rule, EventBusName=bus.name, Targets=[{**target, "Arn": arn}])
    assert response["FailedEntryCount"] == 0
    return url


def put_event(bus: Bus, source: str, detail_type: str, detail: dict[str, Any]) -> str:
    response = bus.events.put_events(
        Entries=[
            {
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
                "EventBusName": bus.name,
            }
        ]
    )
    assert response["FailedEntryCount"] == 0
    return str(response["Entries"][0]["EventId"])


def details(index: int) -> dict[str, Any]:
    return {
        "n": index,
        "name": f"event-{index}",
        "nested": {"values": list(range(index, index + index % 3 + 1))},
    }


def test_every_event_reaches_the_queue_with_its_own_detail(bus: Bus) -> None:
    url = route_to_queue(bus, "to-queue", {"Id": "queue"})
    sent: list[dict[str, Any]] = []
    for index in range(1, 7):
        detail_type = f"type-{index % 2}"
        event_id = put_event(bus, "test.source", detail_type, details(index))
        sent.append(
            {"id": event_id, "detail-type": detail_type, "source": "test.source", "detail": details(index)}
        )
        put_event(bus, "other.source", detail_type, {"n": -index})  # matches no rule
    received = [json.loads(message["Body"]) for message in receive(bus.sqs, url, len(sent))]
    assert {body["region"] for body in received} == {REGION}
    fields = ("id", "detail-type", "source", "detail")
    got = sorted(
        ({field: body[field] for field in fields} for body in received), key=lambda body: body["detail"]["n"]
    )
    assert got == sent


def test_an_input_transformer_renders_each_event_from_its_own_fields(bus: Bus) -> None:
    transformer = {
        "InputPathsMap": {"n": "$.detail.n", "name": "$.detail.name", "first": "$.detail.nested.values[0]"},
        "InputTemplate": '{"number": <n>, "label": "<name>", "first": <first>, "source": "test.source"}',
    }
    url = route_to_queue(bus, "transformed", {"Id": "transformed", "InputTransformer": transformer})
    plain = route_to_queue(bus, "plain", {"Id": "plain"})
    for index in range(1, 6):
        put_event(bus, "test.source", "transform", details(index))
    transformed = [json.loads(message["Body"]) for message in receive(bus.sqs, url, 5)]
    assert sorted(transformed, key=lambda body: body["number"]) == [
        {"number": index, "label": f"event-{index}", "first": index, "source": "test.source"}
        for index in range(1, 6)
    ]
    untouched = [json.loads(message["Body"])["detail"] for message in receive(bus.sqs, plain, 5)]
    assert sorted(untouched, key=lambda detail: detail["n"]) == [details(index) for index in range(1, 6)]
