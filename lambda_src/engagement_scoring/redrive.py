"""Redrive the scorer's failure queue: put the failed records back on the stream, once they can be scored.

    PYTHONPATH=lambda_src python -m engagement_scoring.redrive --queue-url URL            # dry run
    PYTHONPATH=lambda_src python -m engagement_scoring.redrive --queue-url URL --apply    # act
    make redrive ARGS="--queue-url URL [--stream-name NAME] [--include-rejected] [--apply]"

The queue (module output `failure_queue_url`) holds two kinds of message:

- batches the scorer's event source mapping gave up on (Lambda's on-failure record: `KinesisBatchInfo`
  with `shardId`, `startSequenceNumber`, `endSequenceNumber`, `batchSize`, `streamArn`). Their records are
  read back from the stream by shard and sequence number (GetShardIterator AT_SEQUENCE_NUMBER), while the
  stream still retains them, and put again (PutRecords, the same data and partition key). The scorer's
  exactly-once keys decide what still counts: records of the range that had been counted before the batch
  was given up are suppressed as duplicates, the others are counted once.
- records the scorer rejected (`reason`, `shard_id`, `sequence_number`, ...): left alone unless
  `--include-rejected` is given (after fixing what rejected them, e.g. USER_KEY_MODE); they are read back
  from `--stream-name` the same way. A record still invalid is rejected again, with a new message.

Batches the score sync gave up on (`DDBStreamBatchInfo`) and anything else are reported and left: a
DynamoDB stream cannot be written to; the next change of the user publishes its score again.

Without `--apply` nothing changes: the messages read are made visible again at the end, nothing is put.
With `--apply` a message is deleted only after every record it names was accepted by PutRecords; a message
with records the stream no longer has (past its retention) is kept, and those records are reported as lost
by shard and sequence number (`--delete-lost` deletes such messages once reported). A summary ends every
run (`--json` prints it as JSON). Credentials, region and endpoint come from the usual AWS SDK settings.
Only the standard library and boto3 are imported, so the module costs the Lambda package nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from engagement_scoring.aws.errors import backoff_delay, error_code, is_retryable

BATCH = "batch"  # the scorer's event source mapping gave up on a batch
REJECTED = "rejected"  # the scorer rejected one record
SYNC_BATCH = "sync_batch"  # the score sync's event source mapping gave up on a batch (not redrivable)
UNKNOWN = "unknown"

PUT_RECORDS_MAX_ENTRIES = 500
PUT_RECORDS_MAX_BYTES = 5 * 1024 * 1024 - 64 * 1024  # 5 MiB per call (data + partition keys), headroom
PUT_ATTEMPTS = 5
GET_RECORDS_LIMIT = 1000
MAX_PAGES_PER_RANGE = 10_000
MAX_LISTED_IDS = 100  # lost record ids printed in the text summary (the JSON summary has them all)


@dataclass(frozen=True, slots=True, order=True)
class FailedRange:
    """Records [start, end] of one shard of one stream (sequence numbers compared as integers)."""

    stream_name: str
    shard_id: str
    start: str
    end: str

    def contains(self, sequence_number: str) -> bool:
        return int(self.start) <= int(sequence_number) <= int(self.end)


@dataclass(frozen=True, slots=True)
class FailureMessage:
    message_id: str
    receipt_handle: str
    kind: str
    range: FailedRange | None = None
    batch_size: int = 0
    reason: str | None = None  # REJECTED: the scorer's reason; others: why it cannot be redriven


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One record read back from the stream."""

    stream_name: str
    shard_id: str
    sequence_number: str
    partition_key: str
    data: bytes

    @property
    def record_id(self) -> str:
        return f"{self.shard_id}:{self.sequence_number}"


@dataclass(slots=True)
class FetchResult:
    """The records a range gave, and the ids it should hold that the stream no longer has."""

    records: list[StreamRecord] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    error: str | None = None  # an error code when the range could not be read at all


@dataclass(slots=True)
class MessagePlan:
    message: FailureMessage
    action: str  # "redrive" | "skip"
    record_ids: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    note: str = ""


@dataclass(slots=True)
class RedrivePlan:
    messages: list[MessagePlan]
    records: list[StreamRecord]  # unique, in stream, shard and sequence order


@dataclass(slots=True)
class RedriveSummary:
    applied: bool
    messages_read: int = 0
    messages_by_kind: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    records_found: int = 0
    records_put: int = 0
    records_not_accepted: list[str] = field(default_factory=list)
    records_lost: list[str] = field(default_factory=list)
    messages_deleted: int = 0
    messages_kept: dict[str, int] = field(default_factory=dict)  # why -> count

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": "apply" if self.applied else "dry-run",
            "messages_read": self.messages_read,
            "messages_by_kind": dict(sorted(self.messages_by_kind.items())),
            "rejected_by_reason": dict(sorted(self.rejected_by_reason.items())),
            "records_found": self.records_found,
            "records_put": self.records_put,
            "records_not_accepted": self.records_not_accepted,
            "records_lost": self.records_lost,
            "messages_deleted": self.messages_deleted,
            "messages_kept": dict(sorted(self.messages_kept.items())),
        }

    def lines(self) -> list[str]:
        mode = "apply" if self.applied else "dry run (nothing changed; --apply to act)"
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.messages_by_kind.items())) or "none"
        out = [
            f"redrive summary: {mode}",
            f"  messages read:        {self.messages_read} ({kinds})",
            f"  records found:        {self.records_found} in the stream"
            + ("" if self.applied else " (would be put again)"),
        ]
        if self.rejected_by_reason:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.rejected_by_reason.items()))
            out.append(f"  rejected records:     {reasons}")
        if self.applied:
            out.append(f"  records put:          {self.records_put}")
            if self.records_not_accepted:
                out.append(f"  records not accepted: {len(self.records_not_accepted)} (messages kept)")
            out.append(f"  messages deleted:     {self.messages_deleted}")
        kept = ", ".join(f"{k} {v}" for k, v in sorted(self.messages_kept.items()))
        if kept:
            out.append(f"  messages kept:        {kept}")
        if self.records_lost:
            out.append(f"  records lost (past the stream's retention): {len(self.records_lost)}")
            out += [f"    {record_id}" for record_id in self.records_lost[:MAX_LISTED_IDS]]
            if len(self.records_lost) > MAX_LISTED_IDS:
                out.append(f"    ... and {len(self.records_lost) - MAX_LISTED_IDS} more (--json lists all)")
        return out


# ------------------------------------------------------------------------------------------------------------
# Pure part: parse the messages, plan what to put and what to delete
# ------------------------------------------------------------------------------------------------------------


def stream_name_of(stream_arn: str) -> str:
    """`arn:aws:kinesis:<region>:<account>:stream/<name>` -> `<name>`."""
    return stream_arn.split(":stream/", 1)[1] if ":stream/" in stream_arn else ""


def _sequence(value: Any) -> str | None:
    return value if isinstance(value, str) and value.isdigit() else None


def parse_message(
    message_id: str, receipt_handle: str, body: str, stream_name: str | None = None
) -> FailureMessage:
    """Classify one failure-queue message; `stream_name` is the stream of the scorer's rejected records."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return FailureMessage(message_id, receipt_handle, UNKNOWN, reason="not a JSON object")
    if isinstance(value.get("DDBStreamBatchInfo"), dict):
        return FailureMessage(message_id, receipt_handle, SYNC_BATCH, reason="score sync batch")
    info = value.get("KinesisBatchInfo")
    if isinstance(info, dict):
        name = stream_name_of(str(info.get("streamArn", "")))
        start, end = _sequence(info.get("startSequenceNumber")), _sequence(info.get("endSequenceNumber"))
        shard = info.get("shardId")
        if not name or not isinstance(shard, str) or start is None or end is None or int(start) > int(end):
            return FailureMessage(message_id, receipt_handle, UNKNOWN, reason="incomplete KinesisBatchInfo")
        size = info.get("batchSize")
        return FailureMessage(
            message_id,
            receipt_handle,
            BATCH,
            FailedRange(name, shard, start, end),
            size if isinstance(size, int) and not isinstance(size, bool) else 0,
        )
    reason = value.get("reason")
    if isinstance(reason, str) and "data_base64" in value:
        shard, sequence = value.get("shard_id"), _sequence(value.get("sequence_number"))
        if not stream_name or not isinstance(shard, str) or sequence is None:
            return FailureMessage(message_id, receipt_handle, REJECTED, reason=reason)
        return FailureMessage(
            message_id,
            receipt_handle,
            REJECTED,
            FailedRange(stream_name, shard, sequence, sequence),
            1,
            reason,
        )
    return FailureMessage(message_id, receipt_handle, UNKNOWN, reason="unknown message")


def plan_redrive(
    messages: Sequence[FailureMessage],
    fetched: Mapping[FailedRange, FetchResult],
    include_rejected: bool = False,
) -> RedrivePlan:
    """Per message: redrive its records (those the stream still has) or skip it (and why)."""
    plans: list[MessagePlan] = []
    records: dict[tuple[str, str, int], StreamRecord] = {}
    for message in messages:
        if message.kind == REJECTED and not include_rejected:
            plans.append(MessagePlan(message, "skip", note="rejected record (--include-rejected)"))
            continue
        if message.kind == REJECTED and message.range is None:
            plans.append(MessagePlan(message, "skip", note="rejected record without --stream-name"))
            continue
        if message.range is None:
            plans.append(MessagePlan(message, "skip", note=message.reason or message.kind))
            continue
        result = fetched.get(message.range)
        if result is None or result.error is not None:
            error = "not read" if result is None else result.error
            plans.append(MessagePlan(message, "skip", note=f"stream not readable ({error})"))
            continue
        plan = MessagePlan(message, "redrive", lost=list(result.lost))
        for record in result.records:
            if message.range.contains(record.sequence_number):
                plan.record_ids.append(record.record_id)
                key = (record.stream_name, record.shard_id, int(record.sequence_number))
                records.setdefault(key, record)
        if plan.lost:
            plan.note = "records past the stream's retention"
        plans.append(plan)
    return RedrivePlan(plans, [records[key] for key in sorted(records)])


def put_batches(records: Sequence[StreamRecord]) -> list[list[StreamRecord]]:
    """PutRecords calls of one stream: at most 500 records and 5 MiB each."""
    batches: list[list[StreamRecord]] = []
    current: list[StreamRecord] = []
    size = 0
    for record in records:
        length = len(record.data) + len(record.partition_key.encode("utf-8"))
        if current and (len(current) == PUT_RECORDS_MAX_ENTRIES or size + length > PUT_RECORDS_MAX_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(record)
        size += length
    if current:
        batches.append(current)
    return batches


def deletable(
    plan: MessagePlan, accepted: set[str], delete_lost: bool
) -> tuple[bool, str]:  # (delete it?, why kept)
    if plan.action != "redrive":
        return False, plan.note
    if any(record_id not in accepted for record_id in plan.record_ids):
        return False, "records not accepted"
    if plan.lost and not delete_lost:
        return False, "records lost (--delete-lost)"
    return True, ""


# ------------------------------------------------------------------------------------------------------------
# AWS part
# ------------------------------------------------------------------------------------------------------------


def receive_all(sqs: Any, queue_url: str, visibility_s: int, max_messages: int, wait_s: int) -> list[Any]:
    """Receive every message (up to `max_messages`), each hidden for `visibility_s` while this runs."""
    found: dict[str, Any] = {}
    while len(found) < max_messages:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, max_messages - len(found)),
            VisibilityTimeout=visibility_s,
            WaitTimeSeconds=wait_s,
        )
        messages = answer.get("Messages", [])
        if not messages:
            break
        for message in messages:  # a message received twice: only the newest receipt handle deletes it
            found[message["MessageId"]] = message
    return list(found.values())


def read_range(kinesis: Any, failed: FailedRange) -> FetchResult:
    """The records of `failed` the stream still holds; its start and end ids, when not found, are lost."""
    try:
        iterator = kinesis.get_shard_iterator(
            StreamName=failed.stream_name,
            ShardId=failed.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=failed.start,
        )["ShardIterator"]
    except Exception as exc:
        code = error_code(exc)
        if code in ("ResourceNotFoundException", "InvalidArgumentException"):
            # The shard or the sequence number is gone (trimmed past the retention, or the shard expired).
            return FetchResult(lost=_known_ids(failed))
        return FetchResult(error=code or type(exc).__name__)
    result = FetchResult()
    end = int(failed.end)
    for _ in range(MAX_PAGES_PER_RANGE):
        page = kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        done = False
        for raw in page.get("Records", []):
            sequence = str(raw["SequenceNumber"])
            if int(sequence) > end:
                done = True
                break
            if int(sequence) >= int(failed.start):
                result.records.append(
                    StreamRecord(
                        failed.stream_name, failed.shard_id, sequence, str(raw["PartitionKey"]), raw["Data"]
                    )
                )
        iterator = page.get("NextShardIterator")
        caught_up = not page.get("Records") and page.get("MillisBehindLatest", 0) == 0
        if done or iterator is None or caught_up:
            break
    found = {record.sequence_number for record in result.records}
    result.lost = [record_id for record_id in _known_ids(failed) if record_id.split(":")[1] not in found]
    return result


def _known_ids(failed: FailedRange) -> list[str]:
    ids = [f"{failed.shard_id}:{failed.start}"]
    if failed.end != failed.start:
        ids.append(f"{failed.shard_id}:{failed.end}")
    return ids


def put_records(
    kinesis: Any,
    records: Sequence[StreamRecord],
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> set[str]:
    """Put every record again (same data, same partition key); returns the ids of those accepted."""
    accepted: set[str] = set()
    by_stream: dict[str, list[StreamRecord]] = {}
    for record in records:
        by_stream.setdefault(record.stream_name, []).append(record)
    for stream_name, pending in by_stream.items():
        for attempt in range(PUT_ATTEMPTS):
            if attempt:
                sleep(backoff_delay(attempt))
            failed: list[StreamRecord] = []
            for batch in put_batches(pending):
                entries = [{"Data": r.data, "PartitionKey": r.partition_key} for r in batch]
                try:
                    answer = kinesis.put_records(StreamName=stream_name, Records=entries)
                except Exception as exc:
                    if not is_retryable(exc):
                        raise
                    failed += batch
                    continue
                for record, outcome in zip(batch, answer.get("Records", []), strict=True):
                    if outcome.get("ErrorCode"):
                        failed.append(record)
                    else:
                        accepted.add(record.record_id)
                if progress is not None:
                    progress(f"redrive: {len(accepted)} of {len(records)} records put")
            pending = failed
            if not pending:
                break
    return accepted


def redrive(
    sqs: Any,
    kinesis: Any,
    queue_url: str,
    *,
    apply: bool = False,
    stream_name: str | None = None,
    include_rejected: bool = False,
    delete_lost: bool = False,
    visibility_s: int = 300,
    max_messages: int = 10_000,
    wait_s: int = 1,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] | None = None,
) -> tuple[RedriveSummary, RedrivePlan]:
    received = receive_all(sqs, queue_url, visibility_s, max_messages, wait_s)
    messages = [
        parse_message(m["MessageId"], m["ReceiptHandle"], m.get("Body", ""), stream_name) for m in received
    ]
    summary = RedriveSummary(applied=apply, messages_read=len(messages))
    for message in messages:
        summary.messages_by_kind[message.kind] = summary.messages_by_kind.get(message.kind, 0) + 1
        if message.kind == REJECTED and message.reason:
            summary.rejected_by_reason[message.reason] = summary.rejected_by_reason.get(message.reason, 0) + 1
    wanted = {m.range for m in messages if m.range is not None and (m.kind == BATCH or include_rejected)}
    fetched = {failed: read_range(kinesis, failed) for failed in sorted(wanted)}
    plan = plan_redrive(messages, fetched, include_rejected)
    summary.records_found = len(plan.records)
    summary.records_lost = sorted({record_id for p in plan.messages for record_id in p.lost})
    accepted: set[str] = set()
    if apply and plan.records:
        accepted = put_records(kinesis, plan.records, sleep, progress)
        summary.records_put = len(accepted)
        summary.records_not_accepted = [r.record_id for r in plan.records if r.record_id not in accepted]
    to_delete: list[FailureMessage] = []
    to_release: list[FailureMessage] = []
    for message_plan in plan.messages:
        delete, why = deletable(message_plan, accepted, delete_lost) if apply else (False, "")
        if delete:
            to_delete.append(message_plan.message)
        else:
            to_release.append(message_plan.message)
            if apply:
                summary.messages_kept[why] = summary.messages_kept.get(why, 0) + 1
    summary.messages_deleted = _delete(sqs, queue_url, to_delete)
    if summary.messages_deleted < len(to_delete):
        summary.messages_kept["delete failed"] = len(to_delete) - summary.messages_deleted
    _release(sqs, queue_url, to_release)
    return summary, plan


def _entries(messages: Sequence[FailureMessage]) -> Iterable[list[tuple[str, FailureMessage]]]:
    for start in range(0, len(messages), 10):
        yield [(str(i), m) for i, m in enumerate(messages[start : start + 10])]


def _delete(sqs: Any, queue_url: str, messages: Sequence[FailureMessage]) -> int:
    deleted = 0
    for batch in _entries(messages):
        answer = sqs.delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": i, "ReceiptHandle": m.receipt_handle} for i, m in batch]
        )
        deleted += len(answer.get("Successful", []))
    return deleted


def _release(sqs: Any, queue_url: str, messages: Sequence[FailureMessage]) -> None:
    """Make the messages visible again at once (a dry run leaves the queue as it found it)."""
    for batch in _entries(messages):
        sqs.change_message_visibility_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": i, "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0} for i, m in batch],
        )


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None, sqs: Any = None, kinesis: Any = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engagement_scoring.redrive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queue-url", required=True, help="the failure queue (output failure_queue_url)")
    parser.add_argument(
        "--stream-name", help="the scorer's stream (output stream_name); needed for rejected records"
    )
    parser.add_argument("--apply", action="store_true", help="put the records and delete the messages")
    parser.add_argument(
        "--include-rejected", action="store_true", help="also redrive the records the scorer rejected"
    )
    parser.add_argument(
        "--delete-lost", action="store_true", help="with --apply: delete messages whose records are lost"
    )
    parser.add_argument("--max-messages", type=int, default=10_000, help="read at most this many messages")
    parser.add_argument(
        "--visibility-timeout",
        type=int,
        default=300,
        help="seconds the messages stay hidden from other readers while this runs (default 300)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.max_messages < 1 or not 0 < args.visibility_timeout <= 43_200:
        parser.error("--max-messages must be >= 1 and --visibility-timeout 1-43200")
    if sqs is None or kinesis is None:
        from engagement_scoring.aws.clients import make_client

        sqs = sqs or make_client("sqs", max_attempts=5)
        kinesis = kinesis or make_client("kinesis", max_attempts=5)
    summary, _ = redrive(
        sqs,
        kinesis,
        args.queue_url,
        apply=args.apply,
        stream_name=args.stream_name,
        include_rejected=args.include_rejected,
        delete_lost=args.delete_lost,
        visibility_s=args.visibility_timeout,
        max_messages=args.max_messages,
        progress=_stderr,
    )
    if args.json:
        print(json.dumps(summary.to_json(), indent=2))
    else:
        print("\n".join(summary.lines()))
    return 1 if summary.records_not_accepted or "delete failed" in summary.messages_kept else 0


if __name__ == "__main__":
    sys.exit(main())
