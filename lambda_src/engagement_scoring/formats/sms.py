"""AWS End User Messaging SMS, MMS and voice event records, and inbound two-way SMS payloads.

Event record (event destinations: CloudWatch Logs, Firehose, SNS; EventBridge carries it as `detail`):

    {"eventType": "TEXT_DELIVERED", "eventTimestamp": 1686975103470, "isFinal": true,
     "messageId": "862a8790-...", "destinationPhoneNumber": "+14255550156",
     "context": {"user_key": "u-123", "campaign": "spring-sale"}, "totalMessagePrice": 0.00581, ...}

Inbound two-way payload (published to SNS):

    {"originationNumber": "+14255550182", "destinationNumber": "+12125550101", "messageKeyword": "STOP",
     "messageBody": "STOP", "inboundMessageId": "cae173d2-...", "previousPublishedMessageId": "..."}

TEXT_SUCCESSFUL and TEXT_DELIVERED become `_SMS.SUCCESS` and final failures `_SMS.FAILURE`, each counted
once per message id whatever the rule says (a message reported successful and then delivered scores
once); every other type becomes `_SMS.<eventType>` and scores only if a rule names it. An inbound
opt-out keyword becomes `_SMS.OPTOUT` for the sender, any other inbound message `_SMS.INBOUND`.
Field map and user-key rules: docs/formats.md.
"""

from __future__ import annotations

import json
from typing import Any

from engagement_scoring.core.events import (
    MAX_EVENT_TYPE_BYTES,
    MAX_MESSAGE_ID_BYTES,
    MAX_TIMESTAMP_MS,
    MAX_USER_KEY_BYTES,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.formats.fields import (
    campaign,
    epoch_ms,
    first_tag_value,
    metrics,
    optional_text,
    required_text,
)
from engagement_scoring.formats.recipients import SMS, normalized_phone, recipient_user_key

NAME = "sms"
SUCCESS = "_SMS.SUCCESS"
FAILURE = "_SMS.FAILURE"
OPTOUT = "_SMS.OPTOUT"
INBOUND = "_SMS.INBOUND"
SUCCESS_TYPES = frozenset({"TEXT_SUCCESSFUL", "TEXT_DELIVERED"})
# Final failures of a text message (AWS End User Messaging SMS, event types for SMS, MMS and voice).
FAILURE_TYPES = frozenset(
    {
        "TEXT_BLOCKED",
        "TEXT_CARRIER_BLOCKED",
        "TEXT_CARRIER_UNREACHABLE",
        "TEXT_INVALID",
        "TEXT_INVALID_MESSAGE",
        "TEXT_PROTECT_BLOCKED",
        "TEXT_SPAM",
        "TEXT_TTL_EXPIRED",
        "TEXT_UNKNOWN",
        "TEXT_UNREACHABLE",
    }
)
# The opt-out keywords AWS End User Messaging SMS requires (user guide: "Required opt-out list keywords").
OPT_OUT_KEYWORDS = frozenset(
    {"ARRET", "CANCEL", "END", "OPT-OUT", "OPTOUT", "QUIT", "REMOVE", "STOP", "TD", "UNSUBSCRIBE"}
)
# What the record carries as metrics (numbers, USD), under AWS's field names.
_PRICE_FIELDS = ("totalMessagePrice", "totalCarrierFee")


def matches(record: dict[str, Any]) -> bool:
    return "eventTimestamp" in record or "inboundMessageId" in record or "originationNumber" in record


def _user_key(tagged: str | None, phone: Any, settings: FormatSettings) -> str | None:
    if tagged is not None:
        return required_text(tagged, "missing_user_key", MAX_USER_KEY_BYTES)
    if settings.recipient_user_key == "none":
        return None
    number = normalized_phone(phone)
    return recipient_user_key(SMS, number, settings) if number is not None else None


def _price(record: dict[str, Any]) -> dict[str, int | float] | None:
    found = {name: record[name] for name in _PRICE_FIELDS if record.get(name) is not None}
    return metrics(found) if found else None


def is_opt_out(record: dict[str, Any]) -> bool:
    """The keyword, or else the whole message body, is one of AWS's opt-out keywords (any case)."""
    for field in ("messageKeyword", "messageBody"):
        value = record.get(field)
        if isinstance(value, str) and value.strip().upper() in OPT_OUT_KEYWORDS:
            return True
    return False


def _inbound(
    record: dict[str, Any], settings: FormatSettings, received_ms: int | None
) -> list[NormalizedEvent | SkippedRecord]:
    inbound_id = required_text(record.get("inboundMessageId"), "missing_message_id", MAX_MESSAGE_ID_BYTES)
    # The payload has no time of its own: the notification's (or the queue's) time stands in for it.
    if received_ms is None:
        raise RecordRejected("bad_timestamp")
    user_key = _user_key(None, record.get("originationNumber"), settings)
    if user_key is None:
        return [SkippedRecord("no_user_key")]
    replied_to = optional_text(
        record.get("previousPublishedMessageId"), "bad_message_id", MAX_MESSAGE_ID_BYTES
    )
    identity = json.dumps([NAME, "inbound", inbound_id, user_key], separators=(",", ":"))
    event_type = OPTOUT if is_opt_out(record) else INBOUND
    return [
        NormalizedEvent(
            user_key, event_type, received_ms, None, replied_to, None, "", None, None, False, identity
        )
    ]


def normalize(
    record: dict[str, Any], settings: FormatSettings, received_ms: int | None = None
) -> list[NormalizedEvent | SkippedRecord]:
    if "eventTimestamp" not in record and "eventType" not in record:
        return _inbound(record, settings, received_ms)
    name = required_text(record.get("eventType"), "missing_event_type", MAX_EVENT_TYPE_BYTES - 5)
    timestamp = record.get("eventTimestamp")
    if type(timestamp) is not int or not 0 <= timestamp <= MAX_TIMESTAMP_MS:
        timestamp = epoch_ms(timestamp)
    message_id = required_text(record.get("messageId"), "missing_message_id", MAX_MESSAGE_ID_BYTES)
    context = record.get("context")
    price = _price(record)
    user_key = _user_key(
        first_tag_value(context, settings.user_key_tag), record.get("destinationPhoneNumber"), settings
    )
    if user_key is None:
        return [SkippedRecord("no_user_key")]
    if name in SUCCESS_TYPES:
        event_type, once = SUCCESS, True
    elif name in FAILURE_TYPES:
        event_type, once = FAILURE, True
    else:
        event_type, once = "_SMS." + name, False
    identity = json.dumps([NAME, name, message_id, timestamp, user_key], separators=(",", ":"))
    return [
        NormalizedEvent(
            user_key,
            event_type,
            timestamp,
            None,
            message_id,
            None,
            "",
            campaign(first_tag_value(context, settings.campaign_tag)),
            price,
            once,
            identity,
        )
    ]
