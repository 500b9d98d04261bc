"""The local Lambda runner against resources on the embedded moto server, with a toy handler.

The toy handler appends every event it receives to a JSON-lines file named by DELIVERY_LOG, prints a
contract-shaped batch log line, and misbehaves on request, steered by each Kinesis record's JSON payload:
`{"n": 1, "raise": true}` raises, `{"fail": K}` reports the record in batchItemFailures on its first K
deliveries, `{"sleep": S}` sleeps S seconds, `{"put": "key"}` writes an item to TABLE.
"""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3
import pytest

from simulator.local_cloud.events import StreamRecord
from simulator.local_cloud.moto_server import EmbeddedMoto
from simulator.local_cloud.runner import LocalLambdaRunner, MappingConfig, RunnerSettings, ShardConsumer

pytestmark = pytest.mark.integration  # starts an embedded moto server

REGION = "us-east-1"

TOY_HANDLER = """
import base64
import json
import os
import threading
import time

import boto3

_deliveries = {}
_invocations = 0
_table = boto3.client("dynamodb") if os.environ.get("TABLE") else None


def _payload(record):
    if "kinesis" in record:
        return json.loads(base64.b64decode(record["kinesis"]["data"]))
    return {}


def handler(event, context):
    global _invocations
    _invocations += 1
    with open(os.environ["DELIVERY_LOG"], "a") as log:
        log.write(json.dumps({"pid": os.getpid(), "invocation": _invocations, "at": time.monotonic(),
                              "event": event}) + "\\n")
    failures = []
    for record in event["Records"]:
        payload = _payload(record)
        if payload.get("raise"):
            raise RuntimeError("toy failure")
        time.sleep(payload.get("sleep", 0))
        source = record.get("kinesis") or record["dynamodb"]
        sequence = source.get("sequenceNumber") or source["SequenceNumber"]
        seen = _deliveries[sequence] = _deliveries.get(sequence, 0) + 1
        if seen <= payload.get("fail", 0):
            failures.append({"itemIdentifier": sequence})
        if "put" in payload and _table is not None:
            item = {"pk": {"S": payload["put"]}, "n": {"N": "1"}}
            _table.put_item(TableName=os.environ["TABLE"], Item=item)
    count = len(event["Records"])
    print(json.dumps({"level": "INFO", "message": os.environ.get("BATCH_MESSAGE", "batch scored"),
                      "function": os.environ.get("FUNCTION_LABEL", "scorer"), "records": count,
                      "scored": count - len(failures), "skipped": {"test_event": 1},
                      "aws_calls": {"PutItem": 1}}))
    failures.reverse()  # the runner must pick the lowest sequence number, whatever the order
    return {"batchItemFailures": failures}
"""


def toy_zip(directory: Path) -> Path:
    path = directory / f"toy-{uuid.uuid4().hex[:8]}.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("toy/__init__.py", "")
        archive.writestr("toy/handler.py", TOY_HANDLER)
    path.write_bytes(buffer.getvalue())
    return path


@dataclass
class ToyCloud:
    """Creates uniquely named resources on the shared moto server and runners that only see them."""

    moto: EmbeddedMoto
    tmp_path: Path
    functions: dict[str, Path] = field(default_factory=dict)
    runners: list[LocalLambdaRunner] = field(default_factory=list)

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def name(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def function(self, *, timeout: int = 30, env: dict[str, str] | None = None) -> tuple[str, Path]:
        """A toy function; returns its name and its delivery log path."""
        name = self.name("toy")
        zip_path = toy_zip(self.tmp_path)
        role = self.client("iam").create_role(RoleName=self.name("role"), AssumeRolePolicyDocument="{}")
        delivery_log = self.tmp_path / f"{name}.jsonl"
        delivery_log.touch()
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="toy.handler.handler",
            Code={"ZipFile": zip_path.read_bytes()},
            Timeout=timeout,
            Environment={"Variables": {"DELIVERY_LOG": str(delivery_log), **(env or {})}},
        )
        self.functions[name] = zip_path
        return name, delivery_log

    def stream(self, shards: int = 1) -> str:
        name = self.name("events")
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        return str(kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"])

    def table(self) -> tuple[str, str]:
        name = self.name("scores")
        created = self.client("dynamodb").create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        return name, str(created["TableDescription"]["LatestStreamArn"])

    def queue(self) -> tuple[str, str]:
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=self.name("failures"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return str(url), str(arn)

    def mapping(self, function: str, source_arn: str, **options: Any) -> None:
        options.setdefault("StartingPosition", "TRIM_HORIZON")
        self.client("lambda").create_event_source_mapping(
            FunctionName=function, EventSourceArn=source_arn, **options
        )

    def put(self, stream_arn: str, payloads: list[dict[str, Any]], key: Callable[[int], str] = str) -> None:
        entries = [
            {"Data": json.dumps(payload).encode(), "PartitionKey": key(index)}
            for index, payload in enumerate(payloads)
        ]
        for start in range(0, len(entries), 500):
            self.client("kinesis").put_records(StreamARN=stream_arn, Records=entries[start : start + 500])

    def runner(self, *functions: str, **settings: Any) -> LocalLambdaRunner:
        settings.setdefault("retry_backoff_s", 0.01)
        runner = LocalLambdaRunner(
            self.moto.endpoint_url,
            {name: self.functions[name] for name in functions},
            region=REGION,
            settings=RunnerSettings(**settings),
            function_names=set(functions),
        )
        self.runners.append(runner)
        return runner.start()


def deliveries(delivery_log: Path) -> list[dict[str, Any]]:
    """The events the toy handler received, in order."""
    return [json.loads(line) for line in delivery_log.read_text().splitlines() if line.strip()]


def payload_numbers(event: dict[str, Any]) -> list[int]:
    return [json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in event["Records"]]


@pytest.fixture
def toy_cloud(moto_server: EmbeddedMoto, tmp_path: Path) -> Iterator[ToyCloud]:
    cloud = ToyCloud(moto_server, tmp_path)
    yield cloud
    for runner in cloud.runners:
        runner.stop()


def _wait_for(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_every_kinesis_record_is_delivered_once_in_shard_order(toy_cloud: ToyCloud) -> None:
    # given a two-shard stream with 300 records under 40 partition keys
    function, log = toy_cloud.function()
    stream = toy_cloud.stream(shards=2)
    toy_cloud.mapping(function, stream, BatchSize=25)
    runner = toy_cloud.runner(function)
    toy_cloud.put(stream, [{"n": i} for i in range(300)], key=lambda i: f"user-{i % 40}")

    # when the pipeline drains
    runner.wait_until_drained(timeout_s=60)

    # then each record arrived exactly once, at most 25 a batch, in sequence order within its shard
    events = [entry["event"] for entry in deliveries(log)]
    records = [record for event in events for record in event["Records"]]
    assert sorted(json.loads(base64.b64decode(r["kinesis"]["data"]))["n"] for r in records) == list(
        range(300)
    )
    assert all(len(event["Records"]) <= 25 for event in events)
    by_shard: dict[str, list[int]] = defaultdict(list)
    for record in records:
        shard, sequence = record["eventID"].split(":")
        assert sequence == record["kinesis"]["sequenceNumber"]
        by_shard[shard].append(int(sequence))
    assert len(by_shard) == 2
    assert all(sequences == sorted(sequences) for sequences in by_shard.values())
    # and the records have the shape AWS sends
    sample = records[0]
    assert sample["eventSource"] == "aws:kinesis" and sample["eventName"] == "aws:kinesis:record"
    assert sample["eventVersion"] == "1.0" and sample["awsRegion"] == REGION
    assert sample["eventSourceARN"] == stream
    assert sample["invokeIdentityArn"].startswith("arn:aws:iam::")
    assert set(sample["kinesis"]) == {
        "kinesisSchemaVersion",
        "partitionKey",
        "sequenceNumber",
        "data",
        "approximateArrivalTimestamp",
    }
    assert isinstance(sample["kinesis"]["approximateArrivalTimestamp"], float)
    assert runner.pipeline_stats()["runner"]["records_read"] == 300


def test_batch_size_is_respected_for_a_backlog(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    toy_cloud.mapping(function, stream, BatchSize=10)
    toy_cloud.put(stream, [{"n": i} for i in range(25)])

    runner = toy_cloud.runner(function)
    runner.wait_until_drained(timeout_s=30)

    assert [payload_numbers(entry["event"]) for entry in deliveries(log)] == [
        list(range(10)),
        list(range(10, 20)),
        list(range(20, 25)),
    ]


def test_batching_window_gathers_records_that_trickle_in(toy_cloud: ToyCloud) -> None:
    # Timing is the subject, so the test asserts only what the clock guarantees: the window opens when the
    # runner reads record 0 (not before its put started), so it cannot close before that + 2 s; every
    # record seen read before that moment must be in the first batch, and nothing is invoked earlier.
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    toy_cloud.mapping(function, stream, BatchSize=100, MaximumBatchingWindowInSeconds=2)
    runner = toy_cloud.runner(function)

    def records_read() -> int:
        return int(runner.pipeline_stats()["runner"].get("records_read", 0))

    first_put_started = time.monotonic()
    toy_cloud.put(stream, [{"n": 0}])
    read_by: dict[int, float] = {}
    for i in range(1, 5):
        time.sleep(0.1)
        toy_cloud.put(stream, [{"n": i}])
        _wait_for(lambda count=i + 1: records_read() >= count)
        read_by[i] = time.monotonic()
    _wait_for(lambda: deliveries(log))
    runner.wait_until_drained(timeout_s=30)

    entries = deliveries(log)
    batches = [payload_numbers(entry["event"]) for entry in entries]
    window_closes_after = first_put_started + 2
    read_in_window = [i for i, moment in read_by.items() if moment < window_closes_after]
    assert read_in_window, f"no record read within the window: {read_by} (the test could not tell)"
    assert {0, *read_in_window} <= set(batches[0])
    assert [n for batch in batches for n in batch] == [0, 1, 2, 3, 4]
    assert entries[0]["at"] >= window_closes_after  # the first invocation waited for the window


def test_batch_item_failures_redeliver_from_the_lowest_failed_sequence_number(toy_cloud: ToyCloud) -> None:
    # records 3 and 6 fail on their first delivery; the handler lists them highest first
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    toy_cloud.mapping(
        function,
        stream,
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        MaximumRetryAttempts=3,
    )
    toy_cloud.put(stream, [{"n": i, "fail": 1 if i in (3, 6) else 0} for i in range(10)])

    runner = toy_cloud.runner(function)
    runner.wait_until_drained(timeout_s=30)

    batches = [payload_numbers(entry["event"]) for entry in deliveries(log)]
    assert batches == [list(range(10)), list(range(3, 10))]
    stats = runner.pipeline_stats()["runner"]
    assert stats["partial_failures"] == 1 and "batches_discarded" not in stats


def test_batch_item_failures_are_ignored_without_report_batch_item_failures(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    toy_cloud.mapping(function, stream, BatchSize=10)
    toy_cloud.put(stream, [{"n": i, "fail": 1 if i == 3 else 0} for i in range(10)])

    toy_cloud.runner(function).wait_until_drained(timeout_s=30)

    assert [payload_numbers(entry["event"]) for entry in deliveries(log)] == [list(range(10))]


def _on_failure_messages(toy_cloud: ToyCloud, queue_url: str) -> list[dict[str, object]]:
    sqs = toy_cloud.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_handler_exception_retries_bisects_then_sends_the_batch_to_the_on_failure_queue(
    toy_cloud: ToyCloud,
) -> None:
    # record 2 always raises; two retries allowed, bisect on
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    queue_url, queue_arn = toy_cloud.queue()
    toy_cloud.mapping(
        function,
        stream,
        BatchSize=4,
        MaximumRetryAttempts=2,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    toy_cloud.put(stream, [{"n": i, "raise": i == 2} for i in range(6)])

    runner = toy_cloud.runner(function)
    runner.wait_until_drained(timeout_s=30)

    # whole batch fails, halves are retried, the failing half is split again, and [2] is discarded
    batches = [payload_numbers(entry["event"]) for entry in deliveries(log)]
    assert batches == [[0, 1, 2, 3], [0, 1], [2, 3], [2], [3], [4, 5]]
    messages = _on_failure_messages(toy_cloud, queue_url)
    assert len(messages) == 1
    message = messages[0]
    sequence_of_2 = next(
        record["kinesis"]["sequenceNumber"]
        for entry in deliveries(log)
        for record in entry["event"]["Records"]
        if json.loads(base64.b64decode(record["kinesis"]["data"]))["n"] == 2
    )
    assert message["requestContext"] == {
        "requestId": message["requestContext"]["requestId"],  # type: ignore[index]
        "functionArn": f"arn:aws:lambda:{REGION}:123456789012:function:{function}",
        "condition": "RetryAttemptsExhausted",
        "approximateInvokeCount": 3,
    }
    assert message["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert message["version"] == "1.0"
    assert str(message["timestamp"]).endswith("Z")
    info = message["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000"  # type: ignore[index]
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequence_of_2  # type: ignore[index]
    assert info["batchSize"] == 1 and info["streamArn"] == stream  # type: ignore[index]
    assert str(info["approximateArrivalOfFirstRecord"]).endswith("Z")  # type: ignore[index]
    stats = runner.pipeline_stats()["runner"]
    assert stats["function_errors"] == 3 and stats["bisections"] == 2 and stats["on_failure_messages"] == 1


def test_without_bisect_the_whole_batch_is_retried_then_discarded(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    queue_url, queue_arn = toy_cloud.queue()
    toy_cloud.mapping(
        function,
        stream,
        BatchSize=3,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    toy_cloud.put(stream, [{"n": i, "raise": i == 1} for i in range(5)])

    toy_cloud.runner(function).wait_until_drained(timeout_s=30)

    assert [payload_numbers(entry["event"]) for entry in deliveries(log)] == [[0, 1, 2], [0, 1, 2], [3, 4]]
    (message,) = _on_failure_messages(toy_cloud, queue_url)
    assert message["KinesisBatchInfo"]["batchSize"] == 3  # type: ignore[index]
    assert message["requestContext"]["approximateInvokeCount"] == 2  # type: ignore[index]


def test_a_timeout_fails_the_batch_and_the_next_batch_gets_a_fresh_worker(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function(timeout=1)
    stream = toy_cloud.stream()
    queue_url, queue_arn = toy_cloud.queue()
    toy_cloud.mapping(
        function,
        stream,
        BatchSize=1,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    toy_cloud.put(stream, [{"n": 0}, {"n": 1, "sleep": 5}, {"n": 2}])

    runner = toy_cloud.runner(function)
    runner.wait_until_drained(timeout_s=30)

    entries = deliveries(log)
    assert [payload_numbers(entry["event"]) for entry in entries] == [[0], [1], [2]]
    assert entries[0]["pid"] == entries[1]["pid"] != entries[2]["pid"]  # warm, then killed and restarted
    assert entries[0]["invocation"] == 1 and entries[1]["invocation"] == 2 and entries[2]["invocation"] == 1
    (message,) = _on_failure_messages(toy_cloud, queue_url)
    assert message["responseContext"]["functionError"] == "Unhandled"  # type: ignore[index]
    assert runner.pipeline_stats()["runner"]["timeouts"] == 1


def test_expired_records_go_to_the_on_failure_queue_with_record_age_exceeded(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    queue_url, queue_arn = toy_cloud.queue()
    toy_cloud.mapping(
        function,
        stream,
        BatchSize=2,
        MaximumRecordAgeInSeconds=1,
        MaximumRetryAttempts=-1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    toy_cloud.put(stream, [{"n": 0}, {"n": 1}])
    time.sleep(1.2)  # the records must be older than the mapping's maximum age
    toy_cloud.runner(function).wait_until_drained(timeout_s=30)

    assert deliveries(log) == []
    (message,) = _on_failure_messages(toy_cloud, queue_url)
    assert message["requestContext"]["condition"] == "RecordAgeExceeded"  # type: ignore[index]
    assert message["KinesisBatchInfo"]["batchSize"] == 2  # type: ignore[index]


def test_parallelization_factor_keeps_per_key_order_and_loses_nothing(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    toy_cloud.mapping(function, stream, BatchSize=5, ParallelizationFactor=3)
    payloads = [{"n": i, "key": f"k{i % 7}"} for i in range(120)]
    toy_cloud.put(stream, payloads, key=lambda i: f"k{i % 7}")

    runner = toy_cloud.runner(function, max_concurrency_per_function=3)
    runner.wait_until_drained(timeout_s=60)

    entries = deliveries(log)
    seen = [n for entry in entries for n in payload_numbers(entry["event"])]
    assert sorted(seen) == list(range(120))
    for key in range(7):
        in_key = [n for n in seen if n % 7 == key]
        assert in_key == sorted(in_key)
    assert len({entry["pid"] for entry in entries}) > 1  # lanes ran in more than one worker


def test_dynamodb_stream_records_have_the_lambda_shape(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function()
    table, stream_arn = toy_cloud.table()
    toy_cloud.mapping(function, stream_arn, BatchSize=100)
    runner = toy_cloud.runner(function)
    dynamodb = toy_cloud.client("dynamodb")
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "u1"}, "score": {"N": "5"}, "b": {"B": b"\x00\x01"}})
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "u1"}, "score": {"N": "7"}})
    dynamodb.delete_item(TableName=table, Key={"pk": {"S": "u1"}})

    runner.wait_until_drained(timeout_s=30)

    records = [record for entry in deliveries(log) for record in entry["event"]["Records"]]
    assert [record["eventName"] for record in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = records
    assert insert["eventVersion"] == "1.1" and insert["eventSource"] == "aws:dynamodb"
    assert insert["awsRegion"] == REGION and insert["eventSourceARN"] == stream_arn
    assert insert["dynamodb"]["Keys"] == {"pk": {"S": "u1"}}
    assert insert["dynamodb"]["NewImage"]["b"] == {"B": "AAE="}
    assert "OldImage" not in insert["dynamodb"]
    assert insert["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert isinstance(insert["dynamodb"]["SequenceNumber"], str)
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], int)
    assert modify["dynamodb"]["OldImage"]["score"] == {"N": "5"}
    assert modify["dynamodb"]["NewImage"]["score"] == {"N": "7"}
    assert remove["dynamodb"]["OldImage"]["score"] == {"N": "7"} and "NewImage" not in remove["dynamodb"]


def test_drained_waits_for_the_whole_chain_and_sums_the_batch_log_lines(toy_cloud: ToyCloud) -> None:
    # Kinesis -> scorer-like toy -> DynamoDB table -> stream -> sync-like toy
    table, table_stream = toy_cloud.table()
    scorer, _ = toy_cloud.function(env={"TABLE": table})
    sync, sync_log = toy_cloud.function(
        env={"FUNCTION_LABEL": "score_sync", "BATCH_MESSAGE": "scores synced"}
    )
    stream = toy_cloud.stream(shards=2)
    toy_cloud.mapping(scorer, stream, BatchSize=20, MaximumBatchingWindowInSeconds=1)
    toy_cloud.mapping(sync, table_stream, BatchSize=50)
    runner = toy_cloud.runner(scorer, sync)
    toy_cloud.put(stream, [{"n": i, "put": f"user-{i}"} for i in range(60)])

    runner.wait_until_drained(timeout_s=60)

    # no extra waiting: once drained, the sync has seen every item the scorer wrote
    synced = [r for entry in deliveries(sync_log) for r in entry["event"]["Records"]]
    assert {r["dynamodb"]["Keys"]["pk"]["S"] for r in synced} == {f"user-{i}" for i in range(60)}
    stats = runner.pipeline_stats()
    assert stats["scorer"]["records"] == 60 and stats["scorer"]["scored"] == 60
    assert stats["scorer"]["aws_calls"] == {"PutItem": stats["scorer"]["batches"]}
    assert stats["scorer"]["skipped"] == {"test_event": stats["scorer"]["batches"]}
    assert stats["score_sync"]["records"] == len(synced)


def test_drain_times_out_while_a_batch_is_still_running(toy_cloud: ToyCloud) -> None:
    function, _ = toy_cloud.function()
    stream = toy_cloud.stream()
    toy_cloud.mapping(function, stream, BatchSize=1)
    toy_cloud.put(stream, [{"n": 0, "sleep": 3}])
    runner = toy_cloud.runner(function)

    with pytest.raises(TimeoutError):
        runner.wait_until_drained(timeout_s=1)
    runner.wait_until_drained(timeout_s=30)


def test_stop_leaves_no_worker_process_behind(toy_cloud: ToyCloud) -> None:
    function, log = toy_cloud.function()
    stream = toy_cloud.stream()
    toy_cloud.mapping(function, stream)
    runner = toy_cloud.runner(function)
    toy_cloud.put(stream, [{"n": 0}])
    runner.wait_until_drained(timeout_s=30)
    (entry,) = deliveries(log)

    runner.stop()

    with pytest.raises(ProcessLookupError):
        os.kill(entry["pid"], 0)
    assert all(not thread.is_alive() for thread in runner.threads())


class _WatchedCondition(threading.Condition):
    """Notes what the lane holds each time the lock is let go: all that a waiting lane thread can see."""

    def __init__(self, lane_records: Any, seen: list[int]) -> None:
        super().__init__()
        self.lane_records, self.seen = lane_records, seen

    def __exit__(self, *args: Any) -> None:
        self.seen.append(len(self.lane_records))
        super().__exit__(*args)


def test_a_page_read_from_the_shard_reaches_each_lane_whole() -> None:
    # given a shard consumer with two lanes and no batching window: a woken lane takes what it holds
    mapping = MappingConfig.from_api(
        {
            "UUID": "mapping-1",
            "FunctionArn": f"arn:aws:lambda:{REGION}:123456789012:function:toy",
            "EventSourceArn": f"arn:aws:kinesis:{REGION}:123456789012:stream/events",
            "BatchSize": 100,
            "ParallelizationFactor": 2,
        }
    )
    consumer = ShardConsumer(cast(LocalLambdaRunner, None), mapping, "shardId-000000000000")
    seen: list[list[int]] = [[], []]
    for lane, lane_seen in zip(consumer.lanes, seen, strict=True):
        lane.condition = _WatchedCondition(lane.records, lane_seen)
    page = [StreamRecord(str(i), f"user-{i}", 0.0, {}, 10) for i in range(40)]
    # when one GetRecords page is handed to the lanes
    consumer._distribute(page)
    # then each lane only ever held none or all of its share (appended record by record, a loaded
    # machine let a lane invoke with the first record alone: seen once in a stress run)
    shares = [len(lane.records) for lane in consumer.lanes]
    assert sum(shares) == 40 and min(shares) > 0
    assert [set(lane_seen) for lane_seen in seen] == [{share} for share in shares]
