"""End User Messaging SMS, MMS and voice events and inbound two-way SMS: every event type botocore's
model of the service lists, on AWS's documented sample record; opt-out keywords; user keys."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import botocore.session
import pytest
from engagement_scoring.core.events import FormatSettings, NormalizedEvent, RecordRejected, SkippedRecord
from engagement_scoring.formats import normalize
from engagement_scoring.pipeline.scorer import decode_record
from engine_support import encode, eventbridge, load_event, sns_notification, sqs_message

HASH_KEY = "an-example-hmac-key-of-32-chars!"
ADDRESSES = FormatSettings(recipient_user_key="address")
HASHED = FormatSettings(recipient_user_key="hashed_address", recipient_hash_key=HASH_KEY.encode())
MESSAGE_ID = "862a8790-60c0-4430-9b2b-658bdexample"
# Every event type an event destination can match, from botocore's service model (not the engine),
# less the "match everything" selectors.
EVENT_TYPES = sorted(
    name
    for name in botocore.session.get_session()
    .get_service_model("pinpoint-sms-voice-v2")
    .shape_for("EventType")
    .enum
    if not name.endswith("ALL")
)
# Written out here, independently of the engine's tables (issue #7, item 2).
SUCCESS = {"TEXT_SUCCESSFUL", "TEXT_DELIVERED"}
FAILURE = {
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


def expected_type(event_type: str) -> tuple[str, bool]:
    if event_type in SUCCESS:
        return "_SMS.SUCCESS", True
    if event_type in FAILURE:
        return "_SMS.FAILURE", True
    return "_SMS." + event_type, False


def status(event_type: str) -> dict[str, Any]:
    record = load_event("sms/text_successful.json")
    record["eventType"] = event_type
    return record


def test_the_model_lists_text_voice_and_media_types() -> None:
    assert {name.split("_")[0] for name in EVENT_TYPES} == {"TEXT", "VOICE", "MEDIA"}
    assert set(EVENT_TYPES) >= SUCCESS | FAILURE


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "eventbridge"])
@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_normalizes_to_its_rule_name(event_type: str, wrapped: bool) -> None:
    record = status(event_type)
    (event,) = decode_record(encode(eventbridge(record) if wrapped else record))
    assert isinstance(event, NormalizedEvent)
    name, once = expected_type(event_type)
    assert (event.user_key, event.event_type, event.once_per_message) == ("example-user-1", name, once)
    assert (event.timestamp_ms, event.message_id) == (1686975103470, MESSAGE_ID)
    assert event.campaign == "example-campaign"
    assert event.metrics == {"totalMessagePrice": 0.09582, "totalCarrierFee": 0.0}


def test_successful_and_delivered_of_one_message_are_two_events_counted_once_by_the_flag() -> None:
    (successful,) = decode_record(encode(load_event("sms/text_successful.json")))
    (delivered,) = decode_record(encode(load_event("sms/text_delivered.json")))
    assert isinstance(successful, NormalizedEvent) and isinstance(delivered, NormalizedEvent)
    assert successful.content_key != delivered.content_key
    assert (successful.event_type, successful.message_id) == (delivered.event_type, delivered.message_id)
    assert successful.once_per_message and delivered.once_per_message


def test_the_context_keys_are_module_inputs() -> None:
    record = load_event("sms/text_successful.json")
    record["context"] = {"customer": "c-42", "promo": "winter"}
    (event,) = normalize(record, FormatSettings(user_key_tag="customer", campaign_tag="promo"))
    assert isinstance(event, NormalizedEvent) and (event.user_key, event.campaign) == ("c-42", "winter")


def test_without_a_context_user_key_the_destination_is_used_only_when_opted_in() -> None:
    record = load_event("sms/text_successful.json")
    del record["context"]
    assert normalize(record) == [SkippedRecord("no_user_key")]
    (event,) = normalize(record, ADDRESSES)
    assert isinstance(event, NormalizedEvent) and event.user_key == "sms:+14255550156"
    (hashed,) = normalize(record, HASHED)
    digest = hmac.new(HASH_KEY.encode(), b"+14255550156", hashlib.sha256).hexdigest()[:32]
    assert isinstance(hashed, NormalizedEvent) and hashed.user_key == "sms-hmac:" + digest


def test_awss_eventbridge_samples_carry_no_user_key() -> None:
    # AWS's EventBridge events carry neither the destination number nor the context: skipped, even
    # with recipients opted in (docs/formats.md: use the CloudWatch Logs path)
    sample = encode(load_event("envelopes/eventbridge_sms_delivered.json"))
    assert decode_record(sample) == [SkippedRecord("no_user_key")]
    assert decode_record(sample, ADDRESSES) == [SkippedRecord("no_user_key")]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("eventType", None, "missing_event_type"),
        ("eventType", "", "missing_event_type"),
        ("eventTimestamp", "1686975103470", "bad_timestamp"),
        ("eventTimestamp", -1, "bad_timestamp"),
        ("messageId", None, "missing_message_id"),
        ("totalMessagePrice", "0.09582", "bad_metrics"),
        ("totalMessagePrice", True, "bad_metrics"),
        ("context", {"user_key": "u" * 600}, "field_too_long"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason(field: str, value: Any, reason: str) -> None:
    record = load_event("sms/text_successful.json")
    record[field] = value
    with pytest.raises(RecordRejected) as rejected:
        normalize(record)
    assert rejected.value.reason == reason


@pytest.mark.parametrize("phone", ["+1 425-555-0156", "+1 (425) 555.0156"])
def test_phone_numbers_are_normalized_to_e164(phone: str) -> None:
    record = load_event("sms/text_successful.json")
    del record["context"]
    record["destinationPhoneNumber"] = phone
    (event,) = normalize(record, ADDRESSES)
    assert isinstance(event, NormalizedEvent) and event.user_key == "sms:+14255550156"


@pytest.mark.parametrize("phone", ["14255550156", "+0425555", "+1", "+1425555015612345678", "+١٤٢٥", 7, None])
def test_a_number_that_is_not_e164_is_no_user_key(phone: Any) -> None:
    record = load_event("sms/text_successful.json")
    del record["context"]
    record["destinationPhoneNumber"] = phone
    assert normalize(record, ADDRESSES) == [SkippedRecord("no_user_key")]


# ---- inbound two-way SMS ---------------------------------------------------------------------------

# AWS End User Messaging SMS user guide, "Required opt-out list keywords".
OPT_OUT_KEYWORDS = [
    "ARRET",
    "CANCEL",
    "END",
    "OPT-OUT",
    "OPTOUT",
    "QUIT",
    "REMOVE",
    "STOP",
    "TD",
    "UNSUBSCRIBE",
]


def inbound(keyword: str, body: str) -> dict[str, Any]:
    record = load_event("sms/inbound_stop.json")
    record.update({"messageKeyword": keyword, "messageBody": body})
    return record


@pytest.mark.parametrize("keyword", OPT_OUT_KEYWORDS)
def test_every_opt_out_keyword_opts_the_sender_out(keyword: str) -> None:
    for payload in (
        inbound(keyword, keyword),
        inbound("", f" {keyword.lower()} "),
        inbound(keyword.title(), "x"),
    ):
        (event,) = normalize(payload, ADDRESSES, 1729099800000)
        assert isinstance(event, NormalizedEvent)
        assert (event.user_key, event.event_type, event.timestamp_ms) == (
            "sms:+14255550182",
            "_SMS.OPTOUT",
            1729099800000,
        )
        assert event.message_id == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"  # the message replied to


@pytest.mark.parametrize(("keyword", "body"), [("JOIN", "EXAMPLE"), ("HELP", "HELP"), ("", "please stop it")])
def test_other_inbound_messages_are_inbound_events(keyword: str, body: str) -> None:
    (event,) = normalize(inbound(keyword, body), ADDRESSES, 1729099800000)
    assert isinstance(event, NormalizedEvent) and event.event_type == "_SMS.INBOUND"


@pytest.mark.parametrize(
    ("envelope", "time"),
    [
        (lambda stop: sns_notification(stop), 1729099800000),  # SNS Timestamp
        (lambda stop: sqs_message(sns_notification(stop)), 1729099800000),  # the SNS time wins
        (lambda stop: sqs_message(stop), 1729099800100),  # raw message delivery: the SQS SentTimestamp
    ],
    ids=["sns", "sqs-sns", "sqs-raw"],
)
def test_inbound_payloads_take_their_time_from_the_envelope(envelope: Any, time: int) -> None:
    (event,) = decode_record(encode(envelope(load_event("sms/inbound_stop.json"))), ADDRESSES)
    assert isinstance(event, NormalizedEvent)
    assert (event.event_type, event.timestamp_ms) == ("_SMS.OPTOUT", time)


def test_an_inbound_payload_without_any_time_is_rejected() -> None:
    with pytest.raises(RecordRejected) as rejected:
        decode_record(encode(load_event("sms/inbound_stop.json")), ADDRESSES)
    assert rejected.value.reason == "bad_timestamp"


def test_inbound_payloads_are_keyed_by_the_sender_only_when_opted_in() -> None:
    assert normalize(load_event("sms/inbound_stop.json"), FormatSettings(), 1) == [
        SkippedRecord("no_user_key")
    ]


def test_an_inbound_message_redelivered_in_a_new_notification_has_one_content_key() -> None:
    first = sns_notification(load_event("sms/inbound_stop.json"))
    again = {**first, "MessageId": "another-notification", "Timestamp": "2024-10-16T17:31:00.000Z"}
    (a,) = decode_record(encode(first), ADDRESSES)
    (b,) = decode_record(encode(again), ADDRESSES)
    assert isinstance(a, NormalizedEvent) and isinstance(b, NormalizedEvent)
    assert a.content_key == b.content_key
