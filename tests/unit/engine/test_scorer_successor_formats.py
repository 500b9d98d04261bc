"""The scorer on moto with SES and End User Messaging records: AWS's documented samples score the
original solution's points with the default rules, bare, EventBridge-wrapped and in the CloudWatch
Logs envelope; duplicates, EventBridge redeliveries and double SMS statuses count once; records without
a user key are skipped and counted; the HMAC key comes from SSM once; far-future events are rejected."""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

import boto3
import botocore.session
import pytest
from engagement_scoring.handlers import scorer as scorer_handler
from engagement_scoring.pipeline.scorer import ScorerRuntime
from engine_support import (
    AwsResources,
    FakeContext,
    batch_line,
    cloudwatch_logs,
    custom_event,
    eventbridge,
    failed_ids,
    kinesis_event,
    load_event,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

USER = "example-user-1"
HASH_KEY = "an-example-hmac-key-of-32-chars!"
HASH_PARAMETER = "/engagement/recipient-hash-key"
# The original solution's points for what each documented sample means, written out here (not read
# from the engine's tables): 0 = no rule in the original table.
SES_POINTS = {
    "ses/send.json": 0,
    "ses/delivery.json": 2,  # _email.delivered
    "ses/open.json": 10,  # _email.open
    "ses/click.json": 50,  # _email.click
    "ses/bounce_permanent.json": -1000,  # _email.hardbounce
    "ses/bounce_transient.json": 0,  # _email.softbounce
    "ses/complaint.json": -1000,  # _email.complaint
    "ses/reject.json": 0,
    "ses/rendering_failure.json": 0,
    "ses/delivery_delay.json": 0,
    "ses/subscription_unsubscribe.json": -500,  # _email.unsubscribe
    "ses/subscription_opt_in.json": 0,
}
SMS_TYPES = sorted(
    name
    for name in botocore.session.get_session()
    .get_service_model("pinpoint-sms-voice-v2")
    .shape_for("EventType")
    .enum
    if not name.endswith("ALL")
)


def sms_points(event_type: str) -> int:
    return 2 if event_type in ("TEXT_SUCCESSFUL", "TEXT_DELIVERED") else 0  # _SMS.SUCCESS


def run(runtime: ScorerRuntime, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    scorer_handler._runtime = runtime
    try:
        return scorer_handler.handler(event, context or FakeContext())
    finally:
        scorer_handler._runtime = None


def data(payload: dict[str, Any] | bytes) -> str:
    """Kinesis data of a payload (a str is taken as data by kinesis_event)."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(raw).decode()


def scores(aws: AwsResources) -> dict[str, Decimal]:
    return {user: item["score"] for user, item in aws.scores().items()}


def sms(event_type: str, **changes: Any) -> dict[str, Any]:
    record = load_event("sms/text_successful.json")
    record["eventType"] = event_type
    record.update(changes)
    return record


def envelope(kind: str, record: dict[str, Any]) -> str:
    if kind == "bare":
        return data(record)
    if kind == "eventbridge":
        return data(eventbridge(record))
    return data(cloudwatch_logs([record]))


# ---- every event type scores the original points -------------------------------------------------


@pytest.mark.parametrize("kind", ["bare", "eventbridge"])
@pytest.mark.parametrize("name", sorted(SES_POINTS))
def test_each_ses_event_type_scores_the_original_points(
    aws: AwsResources, capsys: pytest.CaptureFixture[str], name: str, kind: str
) -> None:
    response = run(aws.scorer(), kinesis_event([envelope(kind, load_event(name))]))
    assert failed_ids(response) == []
    points = SES_POINTS[name]
    line = batch_line(capsys.readouterr().out)
    if points:
        assert scores(aws) == {USER: Decimal(points)}
        assert aws.scores()[USER]["channels"] == {"email": Decimal(points)}
        assert line["scored"] == 1
    else:
        assert aws.scores() == {}
        assert line["skipped"] == {"no_rule": 1}


@pytest.mark.parametrize("kind", ["bare", "eventbridge", "cloudwatch_logs"])
@pytest.mark.parametrize("event_type", SMS_TYPES)
def test_each_sms_event_type_scores_the_original_points(
    aws: AwsResources, event_type: str, kind: str
) -> None:
    response = run(aws.scorer(), kinesis_event([envelope(kind, sms(event_type))]))
    assert failed_ids(response) == []
    points = sms_points(event_type)
    assert scores(aws) == ({USER: Decimal(points)} if points else {})


def test_a_batch_of_every_documented_sample_sums_the_original_points(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # given every SES sample (tagged with example-user-1), both SMS statuses of one message in one
    # CloudWatch Logs record, a STOP reply through SNS -> SQS -> Pipes, and AWS's EventBridge SMS sample
    # (which carries no user key), with recipients opted in as addresses
    batch = kinesis_event(
        [data(load_event(name)) for name in sorted(SES_POINTS)]
        + [
            data(gzip.compress(json.dumps(load_event("envelopes/cloudwatch_logs_sms.json")).encode())),
            data(load_event("envelopes/sqs_pipes_sns_inbound_stop.json")),
            data(load_event("envelopes/eventbridge_sms_delivered.json")),
            data(load_event("ses/bounce_two_recipients_untagged.json")),
        ]
    )
    # when
    response = run(aws.scorer(RECIPIENT_USER_KEY="address"), batch)
    # then
    assert failed_ids(response) == []
    assert scores(aws) == {
        USER: Decimal(2 + 10 + 50 - 1000 - 1000 - 500 + 2),  # SES samples, then one _SMS.SUCCESS
        "sms:+14255550182": Decimal(-500),  # _SMS.OPTOUT
        "email:recipient1@example.com": Decimal(-1000),
        "email:recipient2@example.com": Decimal(-1000),
    }
    assert aws.scores()[USER]["channels"] == {"email": Decimal(-2438), "sms": Decimal(2)}
    line = batch_line(capsys.readouterr().out)
    assert line["records"] == 16
    assert line["scored"] == 10
    assert line["once_per_message_suppressed"] == 1  # TEXT_DELIVERED after TEXT_SUCCESSFUL
    assert line["skipped"] == {"no_rule": 6, "no_user_key": 1}
    assert line["rejected"] == {}


# ---- exactly once ----------------------------------------------------------------------------------


def test_exact_duplicates_count_once_in_a_batch_and_across_batches(aws: AwsResources) -> None:
    runtime = aws.scorer()
    click = data(load_event("ses/click.json"))
    run(runtime, kinesis_event([click, click, data(eventbridge(load_event("ses/click.json")))]))
    run(runtime, kinesis_event([click], first_sequence=2000))
    assert scores(aws) == {USER: Decimal(50)}
    assert aws.scores()[USER]["events_applied"] == 1


def test_an_eventbridge_redelivery_counts_once(aws: AwsResources, capsys: pytest.CaptureFixture[str]) -> None:
    # given one SES click event delivered twice by EventBridge (same id and detail), the second time
    # serialized differently, in a later batch
    first = eventbridge(load_event("ses/click.json"), event_id="a1b2c3d4-e5f6-7890-abcd-ef1234567890")
    again = json.loads(json.dumps(first))
    again["detail"] = dict(reversed(list(again["detail"].items())))
    runtime = aws.scorer()
    run(runtime, kinesis_event([data(first)]))
    capsys.readouterr()
    run(runtime, kinesis_event([base64.b64encode(json.dumps(again, indent=1).encode()).decode()], 2000))
    assert scores(aws) == {USER: Decimal(50)}
    assert batch_line(capsys.readouterr().out)["duplicates_suppressed"] == 1


def test_a_custom_event_redelivered_by_eventbridge_counts_once(aws: AwsResources) -> None:
    # no identity of its own: the canonical JSON of the detail decides
    event = custom_event("u-eb", "_monetization.purchase", 1732300000000)
    runtime = aws.scorer()
    run(runtime, kinesis_event([data(eventbridge(event))]))
    run(runtime, kinesis_event([data(eventbridge(dict(reversed(list(event.items()))), "other-id"))], 2000))
    assert scores(aws) == {"u-eb": Decimal(100)}


@pytest.mark.parametrize("together", [True, False], ids=["one-log-record", "two-batches"])
def test_a_message_reported_successful_then_delivered_scores_once(
    aws: AwsResources, capsys: pytest.CaptureFixture[str], together: bool
) -> None:
    successful, delivered = load_event("sms/text_successful.json"), load_event("sms/text_delivered.json")
    runtime = aws.scorer()
    if together:
        run(runtime, kinesis_event([data(cloudwatch_logs([successful, delivered]))]))
    else:
        run(runtime, kinesis_event([data(cloudwatch_logs([successful]))]))
        run(runtime, kinesis_event([data(delivered)], first_sequence=2000))
    assert scores(aws) == {USER: Decimal(2)}
    lines = [line for line in capsys.readouterr().out.splitlines() if '"batch scored"' in line]
    assert sum(json.loads(line)["once_per_message_suppressed"] for line in lines) == 1
    # another message of the same user counts again
    run(runtime, kinesis_event([data(sms("TEXT_DELIVERED", messageId="another-message-example"))], 3000))
    assert scores(aws) == {USER: Decimal(4)}


def test_replaying_a_cloudwatch_logs_record_changes_nothing(aws: AwsResources) -> None:
    record = data(gzip.compress(json.dumps(load_event("envelopes/cloudwatch_logs_sms.json")).encode()))
    runtime = aws.scorer()
    run(runtime, kinesis_event([record]))
    digests = aws.dedupe_digests()
    assert digests[USER]
    run(runtime, kinesis_event([record], first_sequence=2000))
    assert scores(aws) == {USER: Decimal(2)}
    assert aws.dedupe_digests() == digests


# ---- user keys -----------------------------------------------------------------------------------


def test_records_without_a_user_key_are_skipped_and_counted(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    untagged = load_event("ses/open.json")
    del untagged["mail"]["tags"]["user_key"]
    no_context = sms("TEXT_DELIVERED")
    del no_context["context"]
    batch = kinesis_event(
        [
            data(untagged),
            data(no_context),
            data(load_event("ses/bounce_two_recipients_untagged.json")),
            data(load_event("envelopes/sns_inbound_stop.json")),
            data(load_event("envelopes/eventbridge_sms_delivered.json")),
        ]
    )
    response = run(aws.scorer(), batch)
    assert failed_ids(response) == []
    assert aws.scores() == {}
    assert aws.queue_messages(aws.failure_queue_url) == []  # skipped, never rejected
    line = batch_line(capsys.readouterr().out)
    assert line["skipped"] == {"no_user_key": 5}
    assert line["rejected"] == {}


def test_a_record_naming_two_recipients_scores_two_users(aws: AwsResources) -> None:
    response = run(
        aws.scorer(RECIPIENT_USER_KEY="address"),
        kinesis_event([data(load_event("ses/bounce_two_recipients_untagged.json"))]),
    )
    assert failed_ids(response) == []
    assert scores(aws) == {
        "email:recipient1@example.com": Decimal(-1000),
        "email:recipient2@example.com": Decimal(-1000),
    }


def test_no_address_or_phone_number_reaches_the_log(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = kinesis_event(
        [
            data(load_event("ses/bounce_two_recipients_untagged.json")),
            data(load_event("envelopes/sqs_pipes_sns_inbound_stop.json")),
            data(cloudwatch_logs([sms("TEXT_DELIVERED"), "{broken"])),
        ]
    )
    run(aws.scorer(RECIPIENT_USER_KEY="address"), batch)
    output = capsys.readouterr().out
    assert batch_line(output)["scored"] == 4
    for secret in ("example.com", "@", "+1425555", "4255550182", "4255550156", "recipient"):
        assert secret not in output


def hashed(kind: str, address: str) -> str:
    return f"{kind}-hmac:" + hmac.new(HASH_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


def test_hashed_addresses_use_the_key_from_ssm_read_once_per_execution_environment(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the HMAC key as an SSM SecureString and the handler configured from the environment
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=HASH_PARAMETER, Value=HASH_KEY, Type="SecureString")
    env = aws.env(RECIPIENT_USER_KEY="hashed_address", RECIPIENT_HASH_KEY_PARAMETER=HASH_PARAMETER)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(scorer_handler, "_runtime", None)
    # when a first invocation creates the runtime
    first = scorer_handler.handler(
        kinesis_event([data(load_event("ses/bounce_two_recipients_untagged.json"))]), FakeContext()
    )
    # and the parameter disappears before the second one
    ssm.delete_parameter(Name=HASH_PARAMETER)
    second = scorer_handler.handler(
        kinesis_event([data(load_event("envelopes/sqs_pipes_sns_inbound_stop.json"))], 2000), FakeContext()
    )
    # then both scored with the key read the first time: no second read
    assert failed_ids(first) == failed_ids(second) == []
    assert scores(aws) == {
        hashed("email", "recipient1@example.com"): Decimal(-1000),
        hashed("email", "recipient2@example.com"): Decimal(-1000),
        hashed("sms", "+14255550182"): Decimal(-500),
    }
    assert HASH_KEY not in capsys.readouterr().out


@pytest.mark.parametrize(("value", "error"), [(None, "ParameterNotFound"), ("short", "ConfigError")])
def test_a_missing_or_weak_hash_key_returns_the_whole_batch(
    aws: AwsResources,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    value: str | None,
    error: str,
) -> None:
    if value is not None:
        boto3.client("ssm").put_parameter(Name=HASH_PARAMETER, Value=value, Type="SecureString")
    env = aws.env(RECIPIENT_USER_KEY="hashed_address", RECIPIENT_HASH_KEY_PARAMETER=HASH_PARAMETER)
    for name, setting in env.items():
        monkeypatch.setenv(name, setting)
    monkeypatch.setattr(scorer_handler, "_runtime", None)
    response = scorer_handler.handler(kinesis_event([data(load_event("ses/click.json"))]), FakeContext())
    assert failed_ids(response) == ["1000"]
    assert scorer_handler._runtime is None  # the next invocation tries again
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines() if '"batch failed"' in text]
    assert line["error"].startswith(error)


# ---- far-future events --------------------------------------------------------------------------

NOW_S = 1_732_300_000.0
HOUR_MS = 3_600_000


@pytest.mark.parametrize(
    ("ahead_ms", "skew", "counted"),
    [
        (HOUR_MS - 1000, "", True),  # within the default hour
        (HOUR_MS + 1000, "", False),
        (30 * 60 * 1000, "60", False),
        (30 * 60 * 1000, "3600", True),
    ],
)
def test_events_further_ahead_than_the_maximum_clock_skew_are_rejected(
    aws: AwsResources, ahead_ms: int, skew: str, counted: bool
) -> None:
    # given the scorer's clock at NOW and an event `ahead_ms` later
    runtime = aws.scorer(**({"MAX_CLOCK_SKEW_SECONDS": skew} if skew else {}))
    runtime.clock = lambda: NOW_S
    event = custom_event("u-future", "_email.click", int(NOW_S * 1000) + ahead_ms)
    sms_event = sms("TEXT_DELIVERED", eventTimestamp=int(NOW_S * 1000) + ahead_ms)
    # when
    response = run(runtime, kinesis_event([data(event), data(cloudwatch_logs([sms_event]))]))
    # then it counts, or it is rejected, routed to the failure queue and not retried
    assert failed_ids(response) == []
    messages = aws.queue_messages(aws.failure_queue_url)
    if counted:
        assert scores(aws) == {"u-future": Decimal(50), USER: Decimal(2)}
        assert messages == []
    else:
        assert aws.scores() == {}
        assert sorted((m["sequence_number"], m["reason"], m.get("part")) for m in messages) == [
            ("1000", "future_timestamp", None),
            ("1001", "future_timestamp", 0),
        ]


def test_a_broken_log_event_goes_to_the_failure_queue_and_the_others_count(aws: AwsResources) -> None:
    record = data(cloudwatch_logs([sms("TEXT_DELIVERED"), "{broken", sms("TEXT_BLOCKED", messageId="m-2")]))
    response = run(aws.scorer(), kinesis_event([record]))
    assert failed_ids(response) == []
    assert scores(aws) == {USER: Decimal(2)}
    (message,) = aws.queue_messages(aws.failure_queue_url)
    assert (message["reason"], message["part"], message["data_base64"]) == ("not_json", 1, record)


# ---- random envelopes and payloads never break the handler ---------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=12,
)
SAMPLES = [
    *sorted(SES_POINTS),
    "sms/text_successful.json",
    "sms/text_delivered.json",
    "sms/inbound_stop.json",
    "envelopes/eventbridge_sms_delivered.json",
]
keys = st.sampled_from(
    [
        "eventType",
        "mail",
        "tags",
        "messageId",
        "timestamp",
        "destination",
        "bouncedRecipients",
        "eventTimestamp",
        "context",
        "destinationPhoneNumber",
        "originationNumber",
        "messageKeyword",
        "detail",
        "detail-type",
        "Type",
        "Message",
        "eventSource",
        "body",
        "messageType",
        "logEvents",
        "message",
        "user_key",
    ]
)


def mutate(value: Any, draw: Any, depth: int = 0) -> Any:
    if isinstance(value, dict) and depth < 4:
        result = dict(value)
        for key in list(result):
            choice = draw(st.integers(0, 5))
            if choice == 0:
                del result[key]
            elif choice == 1:
                result[key] = draw(json_values)
            elif choice == 2:
                result[key] = mutate(result[key], draw, depth + 1)
        if draw(st.booleans()):
            result[draw(keys)] = draw(json_values)
        return result
    if isinstance(value, list) and value and depth < 4:
        return [mutate(item, draw, depth + 1) for item in value]
    return draw(json_values) if draw(st.integers(0, 3)) == 0 else value


def wrapped(payload: Any, how: int) -> bytes:
    text = json.dumps(payload, allow_nan=True)
    if how == 1:
        return json.dumps(
            {"version": "0", "id": "x", "detail-type": "Email Opened", "detail": payload}
        ).encode()
    if how == 2:
        return json.dumps({"Type": "Notification", "TopicArn": "arn", "Message": text}).encode()
    if how == 3:
        return json.dumps({"eventSource": "aws:sqs", "body": text}).encode()
    if how == 4:
        return cloudwatch_logs([text, text[: len(text) // 2]])
    return text.encode()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(SAMPLES), st.integers(0, 4)), min_size=1, max_size=4), st.data())
def test_random_envelopes_and_payloads_never_break_the_scorer(
    aws: AwsResources, picks: list[tuple[str, int]], data_strategy: st.DataObject
) -> None:
    # given mutated documented samples in random envelopes around one good record
    payloads = [data(wrapped(mutate(load_event(name), data_strategy.draw), how)) for name, how in picks]
    good_user = f"good-{data_strategy.draw(st.uuids())}"
    payloads.insert(len(payloads) // 2, data(custom_event(good_user, "_email.click", 1_732_300_000_000)))
    # when
    response = run(aws.scorer(RECIPIENT_USER_KEY="address"), kinesis_event(payloads))
    # then nothing raised, nothing is retried and the good record counted
    assert failed_ids(response) == []
    assert aws.scores()[good_user]["score"] == Decimal(50)
