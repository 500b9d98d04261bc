"""Amazon Pinpoint event-stream records (email, SMS, campaign, journey, app and custom SDK events)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from engagement_scoring.core.events import (
    MAX_CAMPAIGN_BYTES,
    MAX_ENDPOINT_ID_BYTES,
    MAX_EVENT_TYPE_BYTES,
    MAX_MESSAGE_ID_BYTES,
    MAX_TIMESTAMP_MS,
    MAX_USER_KEY_BYTES,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.formats.fields import epoch_ms, fits, metrics, required_text

NAME = "pinpoint"
TEST_EVENT = "_test.event_stream"
_CAMPAIGN_PARTS = ("campaign_id", "campaign_activity_id", "treatment_id")
_JOURNEY_PARTS = ("journey_id", "journey_run_id", "journey_activity_id")
# Opens and clicks carry what #13's machine-engagement classifiers read (email_details).
_DETAILED_TYPES = frozenset({"_email.open", "_email.click"})
# Transactional email and SMS events carry a random client id, not an endpoint id.
_NO_ENDPOINT_PREFIXES = ("_email.", "_SMS.")

# This module runs once per record (benchmark B2), so the nested lookups below are written out as one
# `get` and one isinstance check per level rather than through small helpers: the calls were most of
# the cost. A level that is missing or not an object reads as absent, as an empty object would.


def matches(record: dict[str, Any]) -> bool:
    return "schema" not in record and (
        "event_type" in record or "event_timestamp" in record or "client" in record
    )


def _user_id_of(endpoint: Any) -> str | None:
    """endpoint.User.UserId when it is a non-empty string."""
    user = endpoint.get("User") if isinstance(endpoint, dict) else None
    user_id = user.get("UserId") if isinstance(user, dict) else None
    return user_id if isinstance(user_id, str) and user_id else None


def user_id(record: dict[str, Any]) -> str | None:
    """The endpoint's User.UserId: top-level `endpoint`, or JSON string `client_context.custom.endpoint`."""
    found = _user_id_of(record.get("endpoint"))
    if found is not None:
        return found
    client_context = record.get("client_context")
    custom = client_context.get("custom") if isinstance(client_context, dict) else None
    embedded = custom.get("endpoint") if isinstance(custom, dict) else None
    if isinstance(embedded, str):
        try:
            embedded = json.loads(embedded)
        except (ValueError, RecursionError):
            return None
    return _user_id_of(embedded)


def mail_event_of(record: dict[str, Any]) -> dict[str, Any] | None:
    """facets.email_channel.mail_event of an email event, else None."""
    facets = record.get("facets")
    if not isinstance(facets, dict):
        return None
    channel = facets.get("email_channel")
    mail_event = channel.get("mail_event") if isinstance(channel, dict) else None
    return mail_event if isinstance(mail_event, dict) else None


def message_id(mail_event: dict[str, Any] | None, attributes: dict[str, Any]) -> str | None:
    """Email: the SES message id (`mail_event.mail.message_id`); SMS: attributes.message_id; else the
    campaign or journey message."""
    found = None
    if mail_event is not None:
        mail = mail_event.get("mail")
        found = mail.get("message_id") if isinstance(mail, dict) else None
    if not isinstance(found, str) or not found:
        found = attributes.get("message_id")
        if not isinstance(found, str) or not found:
            found = None
            for parts in (_JOURNEY_PARTS, _CAMPAIGN_PARTS):
                first = attributes.get(parts[0])
                if isinstance(first, str) and first:
                    found = ":".join(
                        [value if isinstance(value := attributes.get(part), str) else "" for part in parts]
                    )
                    break
    if found is not None and len(found) * 4 > MAX_MESSAGE_ID_BYTES and not fits(found, MAX_MESSAGE_ID_BYTES):
        raise RecordRejected("field_too_long")
    return found


def email_details(mail_event: dict[str, Any], event_type: str) -> Mapping[str, str | int] | None:
    """Of an e-mail open or click (`event_type`), what #13's classifiers read: send time, user agent,
    IP address, link."""
    details: dict[str, str | int] = {}
    mail = mail_event.get("mail")
    sent = mail.get("message_send_timestamp") if isinstance(mail, dict) else None
    if type(sent) is int and 0 <= sent <= MAX_TIMESTAMP_MS:
        details["send_time_ms"] = sent
    action = mail_event.get("open" if event_type == "_email.open" else "click")
    if isinstance(action, dict):
        value = action.get("user_agent")
        if type(value) is str and value:
            details["user_agent"] = value
        value = action.get("ip_address")
        if type(value) is str and value:
            details["ip"] = value
        value = action.get("link")
        if type(value) is str and value:
            details["link"] = value
    return MappingProxyType(details) if details else None


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
    record: dict[str, Any], settings: FormatSettings, received_ms: int | None = None
) -> list[NormalizedEvent | SkippedRecord]:
    event_type = required_text(record.get("event_type"), "missing_event_type", MAX_EVENT_TYPE_BYTES)
    if event_type == TEST_EVENT:
        return [SkippedRecord("test_event")]
    timestamp = record.get("event_timestamp")
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP_MS:  # fast path: a plain int
        timestamp = epoch_ms(timestamp)
    client = record.get("client")
    client_id = required_text(
        client.get("client_id") if isinstance(client, dict) else None,
        "missing_client_id",
        MAX_ENDPOINT_ID_BYTES,
    )
    attributes = record.get("attributes")
    if not isinstance(attributes, dict):
        attributes = {}
    user_key_mode = settings.user_key_mode
    if user_key_mode == "endpoint_id":
        user_key = client_id
    else:
        found = user_id(record)
        if found is None and user_key_mode == "user_id":
            raise RecordRejected("no_user_id")
        user_key = found or client_id
        if len(user_key) * 4 > MAX_USER_KEY_BYTES and not fits(user_key, MAX_USER_KEY_BYTES):
            raise RecordRejected("field_too_long")
    mail_event = mail_event_of(record)
    message = message_id(mail_event, attributes)
    endpoint_id = client_id if carries_endpoint_id(record, event_type, attributes) else None
    found_metrics = record.get("metrics")
    if found_metrics is not None:
        found_metrics = metrics(found_metrics)
    # The campaign: attributes.campaign_id, else journey_id (written out rather than a call: B2).
    campaign = None
    if attributes:
        campaign = attributes.get("campaign_id")
        if type(campaign) is not str or not campaign:
            campaign = attributes.get("journey_id")
            if type(campaign) is not str or not campaign:
                campaign = None
        if (
            campaign is not None
            and len(campaign) * 4 > MAX_CAMPAIGN_BYTES
            and not fits(campaign, MAX_CAMPAIGN_BYTES)
        ):
            raise RecordRejected("field_too_long")
    # Positional: keyword arguments cost twice as much here, once per record.
    return [
        NormalizedEvent(
            user_key,
            event_type,
            timestamp,
            None,
            message,
            endpoint_id,
            "",
            campaign,
            found_metrics,
            False,
            None,
            email_details(mail_event, event_type)
            if mail_event is not None and event_type in _DETAILED_TYPES
            else None,
        )
    ]
