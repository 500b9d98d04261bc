"""Amazon Pinpoint event-stream records (email, SMS, campaign, journey, app and custom SDK events)."""

from __future__ import annotations

import json
from typing import Any

from engagement_scoring.core.events import (
    MAX_ENDPOINT_ID_BYTES,
    MAX_EVENT_TYPE_BYTES,
    MAX_MESSAGE_ID_BYTES,
    MAX_USER_KEY_BYTES,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.formats.fields import epoch_ms, fits, required_text

NAME = "pinpoint"
TEST_EVENT = "_test.event_stream"
_CAMPAIGN_PARTS = ("campaign_id", "campaign_activity_id", "treatment_id")
_JOURNEY_PARTS = ("journey_id", "journey_run_id", "journey_activity_id")
# Transactional email and SMS events carry a random client id, not an endpoint id.
_NO_ENDPOINT_PREFIXES = ("_email.", "_SMS.")


def matches(record: dict[str, Any]) -> bool:
    return "schema" not in record and (
        "event_type" in record or "event_timestamp" in record or "client" in record
    )


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _user_id_of(endpoint: Any) -> str | None:
    user_id = _as_dict(_as_dict(endpoint).get("User")).get("UserId")
    return user_id if isinstance(user_id, str) and user_id else None


def user_id(record: dict[str, Any]) -> str | None:
    """The endpoint's User.UserId: top-level `endpoint`, or JSON string `client_context.custom.endpoint`."""
    found = _user_id_of(record.get("endpoint"))
    if found is not None:
        return found
    embedded = _as_dict(_as_dict(record.get("client_context")).get("custom")).get("endpoint")
    if isinstance(embedded, str):
        try:
            embedded = json.loads(embedded)
        except (ValueError, RecursionError):
            return None
    return _user_id_of(embedded)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def message_id(record: dict[str, Any], attributes: dict[str, Any]) -> str | None:
    """Email: the SES message id; SMS: attributes.message_id; else the campaign or journey message."""
    mail = _as_dict(
        _as_dict(_as_dict(_as_dict(record.get("facets")).get("email_channel")).get("mail_event")).get("mail")
    )
    found = _text(mail.get("message_id")) or _text(attributes.get("message_id"))
    if found is None:
        for parts in (_JOURNEY_PARTS, _CAMPAIGN_PARTS):
            if _text(attributes.get(parts[0])):
                found = ":".join(
                    value if isinstance(value := attributes.get(part), str) else "" for part in parts
                )
                break
    if found is not None and not fits(found, MAX_MESSAGE_ID_BYTES):
        raise RecordRejected("field_too_long")
    return found


def carries_endpoint_id(record: dict[str, Any], event_type: str, attributes: dict[str, Any]) -> bool:
    """Whether client.client_id is an endpoint id: campaign, journey and app (SDK) events."""
    if "campaign_id" in attributes or "journey_id" in attributes:
        return True
    if event_type.startswith(_NO_ENDPOINT_PREFIXES):
        return False
    facets = record.get("facets")
    if isinstance(facets, dict) and ("email_channel" in facets or "sms_channel" in facets):
        return False
    return isinstance(record.get("application"), dict)


def normalize(
    record: dict[str, Any], content_key: str, user_key_mode: str
) -> NormalizedEvent | SkippedRecord:
    event_type = required_text(record.get("event_type"), "missing_event_type", MAX_EVENT_TYPE_BYTES)
    if event_type == TEST_EVENT:
        return SkippedRecord("test_event")
    timestamp = epoch_ms(record.get("event_timestamp"))
    client_id = required_text(
        _as_dict(record.get("client")).get("client_id"), "missing_client_id", MAX_ENDPOINT_ID_BYTES
    )
    attributes = _as_dict(record.get("attributes"))
    if user_key_mode == "endpoint_id":
        user_key = client_id
    else:
        found = user_id(record)
        if found is None and user_key_mode == "user_id":
            raise RecordRejected("no_user_id")
        user_key = found or client_id
        if not fits(user_key, MAX_USER_KEY_BYTES):
            raise RecordRejected("field_too_long")
    return NormalizedEvent(
        user_key=user_key,
        event_type=event_type,
        timestamp_ms=timestamp,
        channel=None,
        message_id=message_id(record, attributes),
        endpoint_id=client_id if carries_endpoint_id(record, event_type, attributes) else None,
        content_key=content_key,
    )
