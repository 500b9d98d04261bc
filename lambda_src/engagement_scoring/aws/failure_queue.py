"""Records that can never be scored go to the SQS failure queue with their reason (SendMessageBatch)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engagement_scoring.aws.errors import backoff_delay, is_retryable

MAX_DATA_CHARS = 200 * 1024  # a multiple of 4: the truncated text is still decodable base64
MAX_ENTRIES = 10
MAX_BATCH_BYTES = 250_000  # SendMessageBatch: 256 KiB for all messages together
SEND_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    reason: str
    shard_id: str | None
    sequence_number: str | None
    data_base64: str
    # The index of the rejected log event when the record is a CloudWatch Logs envelope (its other
    # log events may have been scored).
    part: int | None = None


def message_body(record: RejectedRecord, function: str = "scorer") -> str:
    data = record.data_base64
    truncated = len(data) > MAX_DATA_CHARS
    body: dict[str, object] = {
        "reason": record.reason,
        "shard_id": record.shard_id,
        "sequence_number": record.sequence_number,
        "data_base64": data[:MAX_DATA_CHARS],
        "truncated": truncated,
        "function": function,
    }
    if record.part is not None:
        body["part"] = record.part
    return json.dumps(body, separators=(",", ":"))


def _batches(bodies: Sequence[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    batches: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    size = 0
    for entry in bodies:
        length = len(entry[1].encode("utf-8"))
        if current and (len(current) == MAX_ENTRIES or size + length > MAX_BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(entry)
        size += length
    if current:
        batches.append(current)
    return batches


def send_rejected(
    sqs: Any,
    queue_url: str,
    records: Sequence[RejectedRecord],
    sleep: Callable[[float], None] = time.sleep,
) -> list[RejectedRecord]:
    """Send every record to the queue; return those that could not be delivered (the caller retries them)."""
    if not records:
        return []
    if not queue_url:
        return list(records)
    pending = [(index, message_body(record)) for index, record in enumerate(records)]
    for attempt in range(SEND_ATTEMPTS):
        if attempt:
            sleep(backoff_delay(attempt))
        still_pending: list[tuple[int, str]] = []
        for batch in _batches(pending):
            entries = [{"Id": str(index), "MessageBody": body} for index, body in batch]
            try:
                response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except Exception as exc:
                if not is_retryable(exc):
                    return [records[index] for index, _ in pending]
                still_pending.extend(batch)
                continue
            failed_ids = {entry.get("Id") for entry in response.get("Failed", [])}
            still_pending.extend(entry for entry in batch if str(entry[0]) in failed_ids)
        pending = still_pending
        if not pending:
            return []
    return [records[index] for index, _ in pending]
