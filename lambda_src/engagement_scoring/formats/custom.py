"""The documented minimal custom event for producers that are not Pinpoint.

    {"schema": "engagement.event/1", "event_type": "webinar_attended", "user_key": "u-123",
     "timestamp": 1732300000000, "message_id": "optional", "channel": "optional",
     "campaign": "optional", "metrics": {"optional_name": 1.5}}

`timestamp` is epoch milliseconds or an ISO 8601 string with a zone. The user key is used as given
in every USER_KEY_MODE. `campaign` is a string (the campaign the event belongs to, for attribution);
`metrics` a map of name to finite number (for summed-metric rules). Push and in-app engagement arrive
in this format from the app (docs/formats.md).
"""

from __future__ import annotations

from typing import Any

from engagement_scoring.core.events import (
    MAX_CAMPAIGN_BYTES,
    MAX_EVENT_TYPE_BYTES,
    MAX_MESSAGE_ID_BYTES,
    MAX_USER_KEY_BYTES,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.core.rules import CHANNELS
from engagement_scoring.formats.fields import iso_or_epoch_ms, metrics, optional_text, required_text

NAME = "custom"
SCHEMA = "engagement.event/1"
TEST_EVENT = "_test.event_stream"


def matches(record: dict[str, Any]) -> bool:
    schema = record.get("schema")
    return isinstance(schema, str) and schema.startswith("engagement.event/")


def normalize(
    record: dict[str, Any], settings: FormatSettings, received_ms: int | None = None
) -> list[NormalizedEvent | SkippedRecord]:
    if record.get("schema") != SCHEMA:
        raise RecordRejected("unsupported_schema")
    event_type = required_text(record.get("event_type"), "missing_event_type", MAX_EVENT_TYPE_BYTES)
    if event_type == TEST_EVENT:
        return [SkippedRecord("test_event")]
    user_key = required_text(record.get("user_key"), "missing_user_key", MAX_USER_KEY_BYTES)
    timestamp = iso_or_epoch_ms(record.get("timestamp"))
    channel = record.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise RecordRejected("bad_channel")
    message_id = optional_text(record.get("message_id"), "bad_message_id", MAX_MESSAGE_ID_BYTES)
    campaign = optional_text(record.get("campaign"), "bad_campaign", MAX_CAMPAIGN_BYTES)
    # Positional: keyword arguments cost more, and this runs once per record (benchmark B2).
    return [
        NormalizedEvent(
            user_key,
            event_type,
            timestamp,
            channel,
            message_id,
            None,
            "",
            campaign,
            metrics(record.get("metrics")),
        )
    ]
