"""Envelopes around payloads, unwrapped by one mechanism before format detection.

- CloudWatch Logs subscription data (how SMS events with their `context` reach the stream): gzip JSON
  `{"messageType": "DATA_MESSAGE", "logEvents": [{"id", "timestamp", "message"}, ...], ...}`, one payload
  per log event (its `message`); `CONTROL_MESSAGE` (CloudWatch Logs checking the destination) is
  skipped as `control_message`. The gzip output is bounded: a record that would inflate beyond
  MAX_DECOMPRESSED_BYTES is rejected `oversized` without being expanded further.
- EventBridge events (`detail-type`, `detail`): the payload is `detail`; SES and End User Messaging put
  their record there.
- SNS notifications (`"Type": "Notification"`, `Message` a JSON string): inbound two-way SMS arrives so.
- SQS messages as EventBridge Pipes passes them on (`"eventSource": "aws:sqs"`, `body` a JSON string):
  the route SNS -> SQS -> Pipes -> Kinesis without an input template.

Envelopes may nest (an SQS message carrying an SNS notification, a log event carrying an EventBridge
event), at most MAX_DEPTH deep. The content key of a payload whose format names no identity is the
hash of its own bytes (the log event's message, the SNS message, the SQS body) or, for an EventBridge
`detail`, of its canonical JSON (keys sorted, no spaces): never of the envelope, so a redelivery of
the same event in a new envelope (EventBridge's at-least-once delivery: same detail, same id, or a new
`time`) has the same key.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

from engagement_scoring.core.events import RecordRejected, SkippedRecord
from engagement_scoring.formats.fields import epoch_ms, iso_or_epoch_ms

GZIP_MAGIC = b"\x1f\x8b"
# CloudWatch Logs delivers at most about 1 MiB of log events per record; their JSON, with escaping and
# the per-event fields, stays far below this. Anything larger is not a log delivery.
MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 3
_DECODER = json.JSONDecoder()


@dataclass(slots=True)
class Payload:
    """One payload taken out of an envelope.

    `data` is what the content key hashes when the format gives no identity (None: the canonical JSON
    of `value`); `received_ms` when AWS's delivery path saw it (SNS `Timestamp`, EventBridge `time`,
    the log event's `timestamp`, the SQS `SentTimestamp`), for formats whose records carry no time;
    `part` the log event's index in a CloudWatch Logs record; `outcome` set when the payload itself
    is skipped or rejected."""

    value: Any
    data: bytes | None
    received_ms: int | None
    part: int | None = None
    outcome: SkippedRecord | RecordRejected | None = None


def gunzip(raw: bytes) -> bytes:
    """The inflated bytes of a gzip member, never more than MAX_DECOMPRESSED_BYTES of output."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(raw, MAX_DECOMPRESSED_BYTES + 1)
    except zlib.error as exc:
        raise RecordRejected("bad_gzip") from exc
    if len(inflated) > MAX_DECOMPRESSED_BYTES:
        raise RecordRejected("oversized")
    if not inflater.eof:  # truncated
        raise RecordRejected("bad_gzip")
    return inflated


def canonical_json(value: Any) -> bytes:
    """The bytes an EventBridge `detail` is identified by: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


def is_envelope(value: Any) -> bool:
    """Cheap test run on every record: does it look like one of the envelopes above?"""
    return isinstance(value, dict) and (
        "detail-type" in value or "Type" in value or "eventSource" in value or "messageType" in value
    )


def _iso_ms(value: Any) -> int | None:
    try:
        return iso_or_epoch_ms(value) if isinstance(value, str) else None
    except RecordRejected:
        return None


def _digits_ms(value: Any) -> int | None:
    try:
        return (
            epoch_ms(int(value)) if isinstance(value, str) and value.isascii() and value.isdigit() else None
        )
    except (RecordRejected, ValueError):  # out of range, or more digits than int() takes
        return None


def _json_text(text: str) -> tuple[Any, bytes]:
    try:
        value = _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        raise RecordRejected("not_json") from exc
    return value, text.encode("utf-8", "surrogatepass")


def _inner(
    value: Any, data: bytes | None, received_ms: int | None, part: int | None, depth: int
) -> list[Payload]:
    """`value` as one payload, or the payloads of the envelope it is (its own times win over ours)."""
    nested = unwrap(value, depth + 1) if is_envelope(value) else None
    if nested is None:
        return [Payload(value, data, received_ms, part)]
    for payload in nested:
        if payload.received_ms is None:
            payload.received_ms = received_ms
        if payload.part is None:
            payload.part = part
    return nested


def _log_events(value: dict[str, Any], depth: int) -> list[Payload]:
    kind = value.get("messageType")
    if kind == "CONTROL_MESSAGE":
        return [Payload(None, None, None, None, SkippedRecord("control_message"))]
    events = value.get("logEvents")
    if kind != "DATA_MESSAGE" or not isinstance(events, list):
        raise RecordRejected("bad_envelope")
    if not events:
        return [Payload(None, None, None, None, SkippedRecord("empty_envelope"))]
    payloads: list[Payload] = []
    for index, event in enumerate(events):
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, str):
            payloads.append(Payload(None, None, None, index, RecordRejected("bad_envelope")))
            continue
        try:
            received_ms: int | None = epoch_ms(event.get("timestamp"))
        except RecordRejected:
            received_ms = None
        try:
            inner, data = _json_text(message)
            payloads.extend(_inner(inner, data, received_ms, index, depth))
        except RecordRejected as rejection:
            payloads.append(Payload(None, None, received_ms, index, rejection))
    return payloads


def unwrap(value: Any, depth: int = 0) -> list[Payload] | None:
    """The payloads inside `value`, or None when `value` is no envelope (the record is its own payload).

    Raises RecordRejected when the envelope itself is broken (`bad_envelope`, `not_json`); a broken
    log event of a CloudWatch Logs record is a rejected payload of its own, beside the good ones."""
    if not isinstance(value, dict):
        return None
    if depth > MAX_DEPTH:
        raise RecordRejected("bad_envelope")
    if "detail-type" in value and "detail" in value:
        detail = value["detail"]
        if not isinstance(detail, dict):
            raise RecordRejected("bad_envelope")
        return _inner(detail, None, _iso_ms(value.get("time")), None, depth)
    kind = value.get("Type")
    if kind == "Notification" and "Message" in value:
        message = value["Message"]
        if not isinstance(message, str):
            raise RecordRejected("bad_envelope")
        inner, data = _json_text(message)
        return _inner(inner, data, _iso_ms(value.get("Timestamp")), None, depth)
    if kind in ("SubscriptionConfirmation", "UnsubscribeConfirmation") and "TopicArn" in value:
        return [Payload(None, None, None, None, SkippedRecord("sns_confirmation"))]
    if value.get("eventSource") == "aws:sqs" and "body" in value:
        body = value["body"]
        if not isinstance(body, str):
            raise RecordRejected("bad_envelope")
        attributes = value.get("attributes")
        sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
        sent_ms = _digits_ms(sent)
        inner, data = _json_text(body)
        return _inner(inner, data, sent_ms, None, depth)
    if "messageType" in value and "logEvents" in value:
        return _log_events(value, depth)
    return None
