"""The documented minimal custom event for producers that are not Pinpoint.

    {"schema": "engagement.event/1", "event_type": "webinar_attended", "user_key": "u-123",
     "timestamp": 1732300000000, "message_id": "optional", "channel": "optional"}

`timestamp` is epoch milliseconds or an ISO 8601 string with a zone. The user key is used as given
in every USER_KEY_MODE.
"""

from __future__ import annotations

from typing import Any

from engagement_scoring.core.events import (
    MAX_EVENT_TYPE_BYTES,
    MAX_MESSAGE_ID_BYTES,
    MAX_USER_KEY_BYTES,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.core.rules import CHANNELS
from engagement_scoring.formats.fields import iso_or_epoch_ms, optional_text, required_text

NAME = "custom"
SCHEMA = "engagement.event/1"
TEST_EVENT = "_test.event_stream"


def matches(record: dict[str, Any]) -> bool:
    schema = record.get("schema")
    return isinstance(schema, str) and schema.startswith("engagement.event/")


def normalize(
    record: dict[str, Any], content_key: str, user_key_mode: str
) -> NormalizedEvent | SkippedRecord:
    if record.get("schema") != SCHEMA:
        raise RecordRejected("unsupported_schema")
    event_type = required_text(record.get("event_type"), "missing_event_type", MAX_EVENT_TYPE_BYTES)
    if event_type == TEST_EVENT:
        return SkippedRecord("test_event")
    user_key = required_text(record.get("user_key"), "missing_user_key", MAX_USER_KEY_BYTES)
    timestamp = iso_or_epoch_ms(record.get("timestamp"))
    channel = record.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise RecordRejected("bad_channel")
    return NormalizedEvent(
        user_key=user_key,
        event_type=event_type,
        timestamp_ms=timestamp,
        channel=channel,
        message_id=optional_text(record.get("message_id"), "bad_message_id", MAX_MESSAGE_ID_BYTES),
        endpoint_id=None,
        content_key=content_key,
    )
