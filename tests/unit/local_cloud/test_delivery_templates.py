"""The embedded cloud's EventBridge and Pipes input handling, as pure functions: JSON paths, input
templates, target input, partition keys, the pipe's SQS event, and CloudWatch Logs subscription records."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from moto.kinesis.models import Record, Shard

from simulator.local_cloud import delivery_templates as dt
from simulator.local_cloud import moto_delivery, pipes_service

# An SES event as EventBridge delivers it (eventbridge/latest/ref/events-ref-ses.html), shortened.
SES_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "5cb2b6d4-8a7e-4b7e-9f0a-2a7b1c0c9f00",
    "detail-type": "Email Opened",
    "source": "aws.ses",
    "account": "123456789012",
    "time": "2026-12-01T10:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ses:us-east-1:123456789012:configuration-set/marketing"],
    "detail": {
        "eventType": "Open",
        "mail": {"messageId": "0107-abc", "tags": {"user_key": ["u-42"], "campaign": ["spring"]}},
        "open": {"timestamp": "2026-12-01T10:00:00.000Z", "userAgent": "Mozilla/5.0"},
    },
}


def test_json_paths_follow_dots_dashes_indices_and_wildcards() -> None:
    assert dt.json_path(SES_EVENT, "$") is SES_EVENT
    assert dt.json_path(SES_EVENT, "$.detail-type") == "Email Opened"
    assert dt.json_path(SES_EVENT, "$.detail.mail.tags.user_key[0]") == "u-42"
    assert dt.json_path(SES_EVENT, "$.detail.mail.tags.*[0]") == ["u-42", "spring"]
    assert dt.json_path({"a": [{"b": 1}, {"c": 2}, {"b": 3}]}, "$.a[*].b") == [1, 3]
    assert dt.json_path({"a": None}, "$.a") is None  # a JSON null resolves
    for unresolved in ("$.detail.mail.tags.user_key[1]", "$.nope", "$.detail.mail.messageId.x", "detail"):
        assert dt.json_path(SES_EVENT, unresolved) is dt.MISSING, unresolved


def _lookup(values: dict[str, Any]) -> Any:
    return lambda name: values.get(name, dt.UNKNOWN)


def test_a_json_template_gets_json_values_and_escaped_text_inside_strings() -> None:
    template = (
        '{"user": <user>, "tags": <tags>, "n": <n>, "note": "<user> said \\"<quote>\\"", "x": <missing>}'
    )
    values = {"user": "u-42", "tags": {"a": ["b"]}, "n": 3, "quote": 'hi "there"', "missing": dt.MISSING}

    rendered = dt.render_template(template, _lookup(values))

    assert json.loads(rendered) == {
        "user": "u-42",
        "tags": {"a": ["b"]},
        "n": 3,
        "note": 'u-42 said "hi "there""',
        "x": None,
    }


def test_a_text_template_gets_raw_strings_and_unknown_names_stay() -> None:
    # the InputTransformer example of the EventBridge API reference (API_InputTransformer.html)
    assert (
        dt.render_template(
            '"<instance> is in state <status>"', _lookup({"instance": "i-0123", "status": "running"})
        )
        == '"i-0123 is in state running"'
    )
    assert dt.render_template("<a> and <b> <c>", _lookup({"a": "x", "b": [1, 2]})) == "x and [1, 2] <c>"
    assert dt.render_template("[<a>]", _lookup({"a": dt.MISSING})) == "[null]"


def test_rule_target_input_is_the_event_or_what_input_inputpath_or_the_transformer_make_of_it() -> None:
    reserved = {"aws.events.rule-name": "ses-to-stream"}
    assert json.loads(dt.rule_target_input({}, SES_EVENT, reserved)) == SES_EVENT
    assert dt.rule_target_input({"Input": '{"fixed": true}'}, SES_EVENT, reserved) == '{"fixed": true}'
    assert (
        json.loads(dt.rule_target_input({"InputPath": "$.detail"}, SES_EVENT, reserved))
        == SES_EVENT["detail"]
    )
    transformer = {
        "InputTransformer": {
            "InputPathsMap": {"user": "$.detail.mail.tags.user_key[0]", "detail": "$.detail"},
            "InputTemplate": '{"user_key": <user>, "record": <detail>, "rule": "<aws.events.rule-name>"}',
        }
    }
    assert json.loads(dt.rule_target_input(transformer, SES_EVENT, reserved)) == {
        "user_key": "u-42",
        "record": SES_EVENT["detail"],
        "rule": "ses-to-stream",
    }


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.detail.mail.tags.user_key[0]", "u-42"),
        ("$.detail.count", "7"),
        ("$.detail.mail.tags.absent[0]", SES_EVENT["id"]),  # does not resolve: the event id
        ("$.detail.mail.tags", SES_EVENT["id"]),  # an object is no key
        ("$.detail.empty", SES_EVENT["id"]),
        (None, SES_EVENT["id"]),  # no KinesisParameters: the event id (documented)
    ],
)
def test_the_partition_key_comes_from_the_path_else_the_event_id(path: str | None, expected: str) -> None:
    event = {**SES_EVENT, "detail": {**SES_EVENT["detail"], "count": 7, "empty": ""}}
    target = {"KinesisParameters": {"PartitionKeyPath": path}} if path else {}
    assert dt.rule_partition_key(target, event) == expected


def test_eventbridge_event_has_awss_fields_and_an_rfc3339_time() -> None:
    moto_event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Email Sent",
        "source": "aws.ses",
        "account": "123456789012",
        "time": 1764583200.5,
        "region": "us-east-1",
        "resources": [],
        "detail": {"eventType": "Send"},
        "ingestion-time": 1764583201.0,
    }
    event = dt.eventbridge_event(moto_event)
    assert list(event) == [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    ]
    assert event["time"] == "2025-12-01T10:00:00Z"


PIPE = pipes_service.PipeSpec(
    arn="arn:aws:pipes:us-east-1:123456789012:pipe/stop-replies",
    name="stop-replies",
    region="us-east-1",
    source_arn="arn:aws:sqs:us-east-1:123456789012:inbound",
    target_arn="arn:aws:kinesis:us-east-1:123456789012:stream/events",
    batch_size=10,
    window_s=0,
    partition_key="$.body.originationNumber",
    input_template="<$.body>",
    filter_patterns=(),
)
MESSAGE: dict[str, Any] = {
    "MessageId": "m-1",
    "ReceiptHandle": "r-1",
    "MD5OfBody": "x",
    # a two-way SMS payload (sms-voice two-way-sms-payload.html, documented example number)
    "Body": json.dumps(
        {"originationNumber": "+14255550182", "messageKeyword": "STOP", "messageBody": "STOP"}
    ),
    "Attributes": {"ApproximateReceiveCount": "1"},
    "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "reply"}},
}


def test_the_pipe_event_is_lambdas_sqs_record_shape() -> None:
    event = pipes_service.sqs_pipe_event(MESSAGE, PIPE.source_arn, "us-east-1")
    assert event == {
        "messageId": "m-1",
        "receiptHandle": "r-1",
        "body": MESSAGE["Body"],
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {
            "kind": {
                "stringValue": "reply",
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": "String",
            }
        },
        "md5OfBody": "x",
        "eventSource": "aws:sqs",
        "eventSourceARN": PIPE.source_arn,
        "awsRegion": "us-east-1",
    }


def test_a_pipe_record_sees_the_body_parsed_and_keys_by_a_path_or_a_constant() -> None:
    event = pipes_service.sqs_pipe_event(MESSAGE, PIPE.source_arn, "us-east-1")
    data, key = pipes_service.pipe_record(PIPE, event, "2026-12-01T10:00:00Z")
    assert json.loads(data) == json.loads(MESSAGE["Body"]) and key == "+14255550182"

    untemplated = dataclasses.replace(PIPE, input_template=None, partition_key="stop")
    data, key = pipes_service.pipe_record(untemplated, event, "2026-12-01T10:00:00Z")
    assert json.loads(data) == event and key == "stop"

    plain = {**event, "body": "not json"}
    data, key = pipes_service.pipe_record(PIPE, plain, "2026-12-01T10:00:00Z")
    assert data == b"not json" and key is None  # a text body goes in raw; the key path does not resolve


def test_log_event_ids_are_unique_56_digit_strings_in_order() -> None:
    ids = [moto_delivery.log_event_id() for _ in range(1000)]
    assert all(len(i) == 56 and i.isdigit() for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_subscription_records_have_the_documented_shapes() -> None:
    events = [{"id": 7, "timestamp": 1764583200000, "message": "m"}]
    envelope = moto_delivery.subscription_envelope("123456789012", "/sms/events", "s-1", "to-stream", events)
    assert envelope == {
        "owner": "123456789012",
        "logGroup": "/sms/events",
        "logStream": "s-1",
        "subscriptionFilters": ["to-stream"],
        "messageType": "DATA_MESSAGE",
        "logEvents": [{"id": "7", "timestamp": 1764583200000, "message": "m"}],
    }
    control = moto_delivery.control_message(1764583200000)
    assert control["messageType"] == "CONTROL_MESSAGE" and control["owner"] == "CloudwatchLogs"
    assert control["logEvents"] == [
        {"id": "", "timestamp": 1764583200000, "message": moto_delivery.CONTROL_MESSAGE_TEXT}
    ]


class _RacingShard(Shard):
    """Each read of the last sequence number waits (at most `wait_s`) for the other writer to read too:
    the interleaving a preempted server thread allows, made certain."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(0, 0, 2**128)
        self.both_read = threading.Barrier(2, timeout=wait_s)

    def get_max_sequence_number(self) -> int:
        last = super().get_max_sequence_number()
        with contextlib.suppress(threading.BrokenBarrierError):
            self.both_read.wait()
        return last


def _two_writers(put_record: Callable[..., str], wait_s: float) -> list[str]:
    shard = _RacingShard(wait_s)
    shard.records[1] = Record("k", "first", 1, "")  # moto reads "last" only from a non-empty shard
    threads = [threading.Thread(target=put_record, args=(shard, "k", data, "")) for data in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(record.data for record in shard.records.values())


def test_moto_loses_a_record_written_concurrently_to_a_shard_and_the_lock_keeps_both() -> None:
    assert len(_two_writers(Shard.put_record, wait_s=30)) == 2  # both numbered "last + 1": one replaced
    # with the lock the second writer cannot read until the first has written (its wait runs out)
    assert _two_writers(moto_delivery.serialized(Shard.put_record), wait_s=0.3) == ["a", "b", "first"]
