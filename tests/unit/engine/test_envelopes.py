"""Envelopes: CloudWatch Logs subscription data (gzip, bounded), EventBridge, SNS and SQS-via-Pipes,
unwrapped by one mechanism before format detection; content keys of the payload, not the envelope."""

from __future__ import annotations

import base64
import gzip
import json
import tracemalloc
from typing import Any

import pytest
from engagement_scoring.core.events import FormatSettings, NormalizedEvent, RecordRejected, SkippedRecord
from engagement_scoring.formats.envelopes import MAX_DECOMPRESSED_BYTES, gunzip, unwrap
from engagement_scoring.pipeline.scorer import decode_record
from engine_support import (
    cloudwatch_logs,
    custom_event,
    encode,
    eventbridge,
    load_event,
    sns_notification,
    sqs_message,
)

ADDRESSES = FormatSettings(recipient_user_key="address")


def decoded(payload: Any, settings: FormatSettings = ADDRESSES) -> list[Any]:
    return decode_record(
        base64.b64encode(payload).decode() if isinstance(payload, bytes) else encode(payload), settings
    )


def rejected(payload: Any) -> str:
    with pytest.raises(RecordRejected) as rejection:
        decoded(payload)
    return rejection.value.reason


# ---- CloudWatch Logs ------------------------------------------------------------------------------


def test_a_cloudwatch_logs_record_gives_one_payload_per_log_event() -> None:
    # given the documented SMS path: two SMS events as log events, gzip-compressed
    data = gzip.compress(json.dumps(load_event("envelopes/cloudwatch_logs_sms.json")).encode())
    # when
    successful, delivered = decoded(data)
    # then both SMS events come out, each with its own content key
    assert isinstance(successful, NormalizedEvent) and isinstance(delivered, NormalizedEvent)
    assert (successful.event_type, delivered.event_type) == ("_SMS.SUCCESS", "_SMS.SUCCESS")
    assert (successful.timestamp_ms, delivered.timestamp_ms) == (1686975103470, 1686975105470)
    assert successful.content_key != delivered.content_key


def test_a_control_message_is_skipped_with_its_own_reason() -> None:
    data = gzip.compress(json.dumps(load_event("envelopes/cloudwatch_logs_control.json")).encode())
    assert decoded(data) == [SkippedRecord("control_message")]


def test_a_broken_log_event_is_rejected_alone_and_names_its_index() -> None:
    good = load_event("sms/text_successful.json")
    data = cloudwatch_logs(
        [good, "{not json", good | {"eventTimestamp": "x"}, load_event("sms/text_delivered.json")]
    )
    results = decoded(data)
    assert [type(result).__name__ for result in results] == [
        "NormalizedEvent",
        "RecordRejected",
        "RecordRejected",
        "NormalizedEvent",
    ]
    assert [result.reason for result in results if isinstance(result, RecordRejected)] == [
        "not_json",
        "bad_timestamp",
    ]
    # the index travels with the rejection (the scorer puts it in the failure-queue message)
    payloads = unwrap(json.loads(gzip.decompress(data)))
    assert payloads is not None
    assert [(payload.part, type(payload.outcome).__name__) for payload in payloads] == [
        (0, "NoneType"),
        (1, "RecordRejected"),
        (2, "NoneType"),
        (3, "NoneType"),
    ]


def test_a_zip_bomb_is_rejected_without_being_expanded() -> None:
    # given 64 MiB of zeros that gzip to about 64 KiB
    bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 100_000
    # when it is decoded, memory stays within a few times the bound (64 MiB would be allocated otherwise)
    tracemalloc.start()
    try:
        reason = rejected(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reason == "oversized"
    assert peak < 3 * MAX_DECOMPRESSED_BYTES


def test_gzip_output_up_to_the_bound_is_accepted() -> None:
    text = b" " * (MAX_DECOMPRESSED_BYTES - 2) + b"{}"
    assert gunzip(gzip.compress(text)) == text
    with pytest.raises(RecordRejected, match="oversized"):
        gunzip(gzip.compress(text + b" "))


@pytest.mark.parametrize(
    "data",
    [
        gzip.compress(b'{"messageType": "DATA_MESSAGE"}')[:-12],  # truncated
        b"\x1f\x8b\x08\x00garbage-after-the-magic",
    ],
    ids=["truncated", "corrupt"],
)
def test_broken_gzip_is_rejected(data: bytes) -> None:
    assert rejected(data) == "bad_gzip"


@pytest.mark.parametrize(
    "envelope",
    [
        {"messageType": "DATA_MESSAGE", "logEvents": "nope"},
        {"messageType": "SOMETHING_ELSE", "logEvents": []},
        {"detail-type": "Email Opened", "source": "aws.ses", "detail": "not an object"},
        {"Type": "Notification", "TopicArn": "arn", "Message": {"not": "a string"}},
        {"eventSource": "aws:sqs", "body": 5},
    ],
)
def test_broken_envelopes_are_rejected(envelope: dict[str, Any]) -> None:
    assert rejected(envelope) == "bad_envelope"


def test_an_empty_log_delivery_is_skipped() -> None:
    assert decoded(cloudwatch_logs([])) == [SkippedRecord("empty_envelope")]


def test_uncompressed_subscription_data_is_read_the_same_way() -> None:
    assert len(decoded(cloudwatch_logs([load_event("sms/text_successful.json")], compress=False))) == 1


# ---- EventBridge, SNS, SQS ----------------------------------------------------------------------------


def test_an_eventbridge_detail_is_keyed_by_its_canonical_json_not_the_envelope() -> None:
    # given a custom event (no identity of its own) delivered twice by EventBridge: a new id and time,
    # the detail's keys in another order
    event = custom_event("u1", "_email.click", 1732300000000)
    first = eventbridge(event)
    again = eventbridge(dict(reversed(list(event.items()))), event_id="another")
    again["time"] = "2024-10-16T17:25:00Z"
    (a,) = decoded(first)
    (b,) = decoded(again)
    assert isinstance(a, NormalizedEvent) and isinstance(b, NormalizedEvent)
    assert a.content_key == b.content_key
    (other,) = decoded(eventbridge(custom_event("u1", "_email.click", 1732300000001)))
    assert isinstance(other, NormalizedEvent) and other.content_key != a.content_key


def test_a_payload_in_sns_in_sqs_is_keyed_by_the_innermost_bytes() -> None:
    stop = load_event("sms/inbound_stop.json")
    (direct,) = decoded(sns_notification(stop))
    (queued,) = decoded(sqs_message(sns_notification(stop)))
    assert isinstance(direct, NormalizedEvent) and isinstance(queued, NormalizedEvent)
    assert direct.content_key == queued.content_key


def test_envelopes_nest_at_most_three_deep() -> None:
    payload: Any = load_event("sms/inbound_stop.json")
    for _ in range(4):
        payload = sns_notification(payload)
    assert len(decoded(payload)) == 1
    assert rejected(sns_notification(payload)) == "bad_envelope"


def test_sns_subscription_confirmations_are_skipped() -> None:
    confirmation = {"Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t"}
    assert decoded(confirmation) == [SkippedRecord("sns_confirmation")]


@pytest.mark.parametrize(
    "payload",
    [
        {"Type": "Notification", "TopicArn": "arn", "Message": "{not json"},
        {"eventSource": "aws:sqs", "body": ""},
    ],
)
def test_an_envelope_whose_payload_is_not_json_is_not_json(payload: dict[str, Any]) -> None:
    assert rejected(payload) == "not_json"


def test_records_that_only_look_alike_are_not_envelopes() -> None:
    # a record with one envelope key but not the other is left to the formats
    for record in (
        {"Type": "Notification"},
        {"eventSource": "aws:sqs"},
        {"detail-type": "x"},
        {"messageType": 1},
    ):
        assert unwrap(record) is None
        assert rejected(record) == "unknown_format"
