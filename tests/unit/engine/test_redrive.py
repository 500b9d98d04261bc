"""The redrive tool against in-process moto (Kinesis and SQS as boto3 sees them), with messages shaped as
AWS and the embedded runner (simulator/local_cloud/events.py) and the scorer (aws/failure_queue.py) write
them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from engagement_scoring import redrive
from engagement_scoring.aws.failure_queue import RejectedRecord, message_body
from moto import mock_aws

from simulator.local_cloud.events import KINESIS, StreamRecord, on_failure_record

STREAM = "redrive-test-stream"


class Cloud:
    def __init__(self) -> None:
        self.kinesis = boto3.client("kinesis")
        self.sqs = boto3.client("sqs")
        self.kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        description = self.kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]
        self.stream_arn = description["StreamARN"]
        self.shard_id = description["Shards"][0]["ShardId"]
        self.queue_url = self.sqs.create_queue(QueueName="redrive-test-failures")["QueueUrl"]

    def put(self, partition_key: str, data: bytes) -> str:
        answer = self.kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey=partition_key)
        return str(answer["SequenceNumber"])

    def all_records(self) -> list[dict[str, Any]]:
        iterator = self.kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=self.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        return list(self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"])

    def batch_message(self, start: str, end: str, size: int, shard_id: str | None = None) -> None:
        shard = shard_id or self.shard_id
        ends = [start] if start == end else [start, end]
        records = [StreamRecord(sequence, "pk", 1_700_000_000.0, {}, 0) for sequence in ends]
        message = on_failure_record(
            source_kind=KINESIS,
            function_arn="arn:aws:lambda:us-east-1:123456789012:function:scorer",
            condition="RetryAttemptsExhausted",
            invoke_count=11,
            shard_id=shard,
            stream_arn=self.stream_arn,
            records=records,
            function_error=None,
            now=1_700_000_100.0,
        )
        message["KinesisBatchInfo"]["batchSize"] = size
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(message))

    def rejected_message(self, sequence: str, reason: str = "no_user_id") -> None:
        body = message_body(RejectedRecord(reason, self.shard_id, sequence, "e30="))
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def queue_counts(self) -> tuple[int, int]:
        """(visible, in flight) messages of the failure queue."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]), int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def bodies(self) -> list[dict[str, Any]]:
        """The bodies of the messages left (received with a short visibility, then released)."""
        found: dict[str, Any] = {}
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                break
            for message in messages:
                found[message["MessageId"]] = message
        for message in found.values():
            self.sqs.change_message_visibility(
                QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        return [json.loads(message["Body"]) for message in found.values()]

    def redrive(self, **options: Any) -> redrive.RedriveSummary:
        summary, _ = redrive.redrive(self.sqs, self.kinesis, self.queue_url, wait_s=0, **options)
        return summary


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with mock_aws():
        yield Cloud()


def _five_records(cloud: Cloud) -> list[str]:
    return [cloud.put(f"user-{i % 2}", json.dumps({"n": i}).encode()) for i in range(5)]


# ------------------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------------------


def test_each_kind_of_failure_queue_message_is_recognized() -> None:
    batch = on_failure_record(
        source_kind=KINESIS,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:scorer",
        condition="RetryAttemptsExhausted",
        invoke_count=3,
        shard_id="shardId-000000000001",
        stream_arn="arn:aws:kinesis:us-east-1:123456789012:stream/events",
        records=[StreamRecord("100", "pk", 1.0, {}, 0), StreamRecord("250", "pk", 2.0, {}, 0)],
        function_error="Unhandled",
        now=3.0,
    )
    parsed = redrive.parse_message("m1", "r1", json.dumps(batch))
    assert parsed.kind == redrive.BATCH
    assert parsed.range == redrive.FailedRange("events", "shardId-000000000001", "100", "250")
    assert parsed.batch_size == 2

    sync = dict(batch, DDBStreamBatchInfo=batch.pop("KinesisBatchInfo"))
    assert redrive.parse_message("m2", "r2", json.dumps(sync)).kind == redrive.SYNC_BATCH

    body = message_body(RejectedRecord("not_json", "shardId-000000000000", "42", "bm90IGpzb24="))
    rejected = redrive.parse_message("m3", "r3", body, stream_name="events")
    assert (rejected.kind, rejected.reason) == (redrive.REJECTED, "not_json")
    assert rejected.range == redrive.FailedRange("events", "shardId-000000000000", "42", "42")
    assert redrive.parse_message("m3", "r3", body).range is None  # no stream named: cannot be read back

    for garbage in ("not json", "[]", json.dumps({"KinesisBatchInfo": {"shardId": "s"}}), "{}"):
        assert redrive.parse_message("m4", "r4", garbage).kind == redrive.UNKNOWN


def test_put_batches_respect_the_put_records_limits() -> None:
    small = [redrive.StreamRecord("s", "shard", str(i), "pk", b"x") for i in range(1001)]
    assert [len(b) for b in redrive.put_batches(small)] == [500, 500, 1]
    big = [redrive.StreamRecord("s", "shard", str(i), "pk", b"x" * 1_000_000) for i in range(11)]
    batches = redrive.put_batches(big)
    assert all(sum(len(r.data) + 2 for r in b) <= redrive.PUT_RECORDS_MAX_BYTES for b in batches)
    assert sum(len(b) for b in batches) == 11 and len(batches) == 3


# ------------------------------------------------------------------------------------------------------------
# Against moto
# ------------------------------------------------------------------------------------------------------------


def test_dry_run_reads_everything_and_changes_nothing(cloud: Cloud) -> None:
    sequences = _five_records(cloud)
    cloud.batch_message(sequences[1], sequences[3], 3)
    cloud.rejected_message(sequences[4])
    before = cloud.all_records()

    summary = cloud.redrive()

    assert summary.to_json()["mode"] == "dry-run"
    assert summary.messages_read == 2
    assert summary.messages_by_kind == {redrive.BATCH: 1, redrive.REJECTED: 1}
    assert summary.rejected_by_reason == {"no_user_id": 1}
    assert summary.records_found == 3 and summary.records_put == 0 and summary.messages_deleted == 0
    assert cloud.all_records() == before
    assert cloud.queue_counts() == (2, 0)  # every message visible again


def test_apply_puts_the_range_again_with_the_same_data_and_keys_then_deletes_the_message(
    cloud: Cloud,
) -> None:
    sequences = _five_records(cloud)
    cloud.batch_message(sequences[1], sequences[3], 3)
    originals = cloud.all_records()

    summary = cloud.redrive(apply=True)

    assert summary.records_found == 3 and summary.records_put == 3
    assert summary.messages_deleted == 1 and summary.records_lost == []
    records = cloud.all_records()
    assert len(records) == 8
    again = [(r["PartitionKey"], r["Data"]) for r in records[5:]]
    assert again == [(r["PartitionKey"], r["Data"]) for r in originals[1:4]]
    assert cloud.queue_counts() == (0, 0)


def test_records_past_retention_are_reported_lost_by_id_and_their_message_kept(cloud: Cloud) -> None:
    sequences = _five_records(cloud)
    beyond = str(int(sequences[-1]) + 100)
    cloud.batch_message(beyond, str(int(beyond) + 5), 6)  # nothing the stream holds
    cloud.batch_message(sequences[0], sequences[1], 2, shard_id="shardId-000000000099")  # a shard gone

    summary = cloud.redrive(apply=True)

    assert summary.records_found == 0 and summary.messages_deleted == 0
    assert summary.records_lost == sorted(
        [
            f"{cloud.shard_id}:{beyond}",
            f"{cloud.shard_id}:{int(beyond) + 5}",
            f"shardId-000000000099:{sequences[0]}",
            f"shardId-000000000099:{sequences[1]}",
        ]
    )
    assert summary.messages_kept == {"records lost (--delete-lost)": 2}
    assert cloud.queue_counts() == (2, 0)
    assert len(cloud.all_records()) == 5

    assert cloud.redrive(apply=True, delete_lost=True).messages_deleted == 2
    assert cloud.queue_counts() == (0, 0)


def test_rejected_records_stay_unless_included_with_their_stream(cloud: Cloud) -> None:
    sequences = _five_records(cloud)
    cloud.rejected_message(sequences[2])

    assert cloud.redrive(apply=True).messages_kept == {"rejected record (--include-rejected)": 1}
    kept = cloud.redrive(apply=True, include_rejected=True)
    assert kept.messages_kept == {"rejected record without --stream-name": 1}
    assert len(cloud.all_records()) == 5

    summary = cloud.redrive(apply=True, include_rejected=True, stream_name=STREAM)
    assert summary.records_put == 1 and summary.messages_deleted == 1
    records = cloud.all_records()
    assert (records[-1]["PartitionKey"], records[-1]["Data"]) == (
        records[2]["PartitionKey"],
        records[2]["Data"],
    )
    assert cloud.queue_counts() == (0, 0)


def test_score_sync_batches_and_unknown_messages_are_reported_and_kept(cloud: Cloud) -> None:
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=json.dumps({"DDBStreamBatchInfo": {}}))
    cloud.sqs.send_message(QueueUrl=cloud.queue_url, MessageBody="hello")
    summary = cloud.redrive(apply=True)
    assert summary.messages_by_kind == {redrive.SYNC_BATCH: 1, redrive.UNKNOWN: 1}
    assert summary.messages_kept == {"not a JSON object": 1, "score sync batch": 1}
    assert cloud.queue_counts() == (2, 0)


class _RefusingKinesis:
    """The real client, except that PutRecords refuses every entry of one partition key."""

    def __init__(self, client: Any, refused_key: str) -> None:
        self.client, self.refused_key = client, refused_key
        self.put_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        self.put_calls += 1
        accepted = [r for r in Records if r["PartitionKey"] != self.refused_key]
        answers = (
            iter(self.client.put_records(StreamName=StreamName, Records=accepted)["Records"])
            if accepted
            else iter([])
        )
        out = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"}
            if r["PartitionKey"] == self.refused_key
            else next(answers)
            for r in Records
        ]
        return {"FailedRecordCount": sum(1 for o in out if "ErrorCode" in o), "Records": out}


def test_a_message_is_kept_while_any_of_its_records_is_not_accepted(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    sequences = _five_records(cloud)  # user-0 at 0, 2, 4; user-1 at 1, 3
    cloud.batch_message(sequences[0], sequences[1], 2)  # user-0 and user-1
    cloud.batch_message(sequences[2], sequences[2], 1)  # user-0 only
    refusing = _RefusingKinesis(cloud.kinesis, "user-1")

    code = redrive.main(
        ["--queue-url", cloud.queue_url, "--apply", "--json"], sqs=cloud.sqs, kinesis=refusing
    )

    summary = json.loads(capsys.readouterr().out)
    assert code == 1
    assert summary["records_put"] == 2
    assert summary["records_not_accepted"] == [f"{cloud.shard_id}:{sequences[1]}"]
    assert summary["messages_deleted"] == 1
    assert summary["messages_kept"] == {"records not accepted": 1}
    assert refusing.put_calls == redrive.PUT_ATTEMPTS  # the refused entry was retried
    remaining = cloud.bodies()
    assert [m["KinesisBatchInfo"]["startSequenceNumber"] for m in remaining] == [sequences[0]]


def test_the_text_summary_names_the_mode_and_the_lost_records(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.batch_message("900", "901", 2)
    assert redrive.main(["--queue-url", cloud.queue_url], sqs=cloud.sqs, kinesis=cloud.kinesis) == 0
    out = capsys.readouterr().out
    assert "dry run (nothing changed; --apply to act)" in out
    assert f"{cloud.shard_id}:900" in out and f"{cloud.shard_id}:901" in out


class _RefusingDeletes:
    """The real SQS client, except that DeleteMessageBatch fails every entry."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in Entries]
        return {"Successful": [], "Failed": failed}


def test_a_failed_delete_is_reported_and_the_run_fails(
    cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    sequences = _five_records(cloud)
    cloud.batch_message(sequences[0], sequences[0], 1)
    sqs = _RefusingDeletes(cloud.sqs)
    code = redrive.main(["--queue-url", cloud.queue_url, "--apply", "--json"], sqs=sqs, kinesis=cloud.kinesis)
    summary = json.loads(capsys.readouterr().out)
    assert code == 1
    assert summary["records_put"] == 1 and summary["messages_deleted"] == 0
    assert summary["messages_kept"] == {"delete failed": 1}
