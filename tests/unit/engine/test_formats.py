"""Normalizers of the Pinpoint and custom formats: every fixture, user key modes, message ids, endpoint
ids, campaign and metrics, rejections; and the format registry."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring import formats
from engagement_scoring.core.events import FormatSettings, NormalizedEvent, RecordRejected, SkippedRecord
from engagement_scoring.formats import FORMATS, normalize
from engagement_scoring.pipeline import scorer
from engagement_scoring.pipeline.scorer import decode_record
from engine_support import AwsResources, FakeContext, encode, kinesis_event, load_event

EMAIL_MESSAGE = "0100019350c1d2e3-1a2b3c4d-example-000000"
CAMPAIGN_MESSAGE = "52dc44b35c4742c98c5935269example:5473285727f04865bc673e527example:0"
TX_CLIENT = "2d7cba1b-6b8e-4f2f-9c1a-7e4d8b0c5a11"
SMS_CLIENT = "8f14e45f-ceea-467f-a0e6-example00001"
APP_CLIENT = "example-app-endpoint-7"

# fixture -> (user key in auto mode, event type, message id, endpoint id for the sync)
EXPECTED: dict[str, tuple[str, str, str | None, str | None]] = {
    "pinpoint/email_send.json": (TX_CLIENT, "_email.send", EMAIL_MESSAGE, None),
    "pinpoint/email_delivered.json": (TX_CLIENT, "_email.delivered", EMAIL_MESSAGE, None),
    "pinpoint/email_open.json": (TX_CLIENT, "_email.open", EMAIL_MESSAGE, None),
    "pinpoint/email_click.json": ("example-endpoint-1", "_email.click", EMAIL_MESSAGE, "example-endpoint-1"),
    "pinpoint/email_hardbounce.json": (TX_CLIENT, "_email.hardbounce", EMAIL_MESSAGE, None),
    "pinpoint/email_softbounce.json": (TX_CLIENT, "_email.softbounce", EMAIL_MESSAGE, None),
    "pinpoint/email_complaint.json": (TX_CLIENT, "_email.complaint", EMAIL_MESSAGE, None),
    "pinpoint/email_unsubscribe.json": (TX_CLIENT, "_email.unsubscribe", EMAIL_MESSAGE, None),
    "pinpoint/sms_success.json": (SMS_CLIENT, "_SMS.SUCCESS", "1111-2222-3333-4444-example", None),
    "pinpoint/sms_optout.json": (SMS_CLIENT, "_SMS.OPTOUT", "1111-2222-3333-4444-example", None),
    "pinpoint/sms_failure.json": (SMS_CLIENT, "_SMS.FAILURE", "1111-2222-3333-4444-example", None),
    "pinpoint/sms_success_campaign.json": (
        "example-endpoint-1",
        "_SMS.SUCCESS",
        "1111-2222-3333-4444-example",
        "example-endpoint-1",
    ),
    "pinpoint/campaign_send.json": (
        "example-user-1",
        "_campaign.send",
        CAMPAIGN_MESSAGE,
        "example-endpoint-1",
    ),
    "pinpoint/campaign_opened_notification.json": (
        "example-user-1",
        "_campaign.opened_notification",
        CAMPAIGN_MESSAGE,
        "example-endpoint-1",
    ),
    "pinpoint/campaign_received_foreground.json": (
        "example-endpoint-1",
        "_campaign.received_foreground",
        CAMPAIGN_MESSAGE,
        "example-endpoint-1",
    ),
    "pinpoint/journey_email_send.json": (
        "example-endpoint-1",
        "_email.send",
        "0100019350c1d2e3-journey-example-000000",
        "example-endpoint-1",
    ),
    "pinpoint/app_session_start.json": (APP_CLIENT, "_session.start", None, APP_CLIENT),
    "pinpoint/app_monetization_purchase.json": ("example-user-2", "_monetization.purchase", None, APP_CLIENT),
    "pinpoint/app_custom_event.json": ("example-user-2", "purchase_completed", None, APP_CLIENT),
    "custom/webinar_attended.json": ("u-123", "webinar_attended", "webinar-2024-11", None),
    "custom/webinar_attended_iso.json": ("u-123", "webinar_attended", None, None),
}


def normalized(record: Any, mode: str = "auto") -> NormalizedEvent:
    (result,) = normalize(record, FormatSettings(user_key_mode=mode))
    assert isinstance(result, NormalizedEvent)
    return result


def rejection(record: Any, mode: str = "auto") -> str:
    with pytest.raises(RecordRejected) as rejected:
        normalize(record, FormatSettings(user_key_mode=mode))
    return rejected.value.reason


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_normalizes_to_its_user_type_message_and_endpoint(name: str) -> None:
    # given an AWS-shaped record
    record = load_event(name)
    # when it is decoded from Kinesis data like the scorer does
    (event,) = decode_record(encode(record), "auto")
    # then
    assert isinstance(event, NormalizedEvent)
    user_key, event_type, message_id, endpoint_id = EXPECTED[name]
    assert (event.user_key, event.event_type, event.message_id, event.endpoint_id) == (
        user_key,
        event_type,
        message_id,
        endpoint_id,
    )
    timestamp = record.get("event_timestamp", 1732300000000)
    assert event.timestamp_ms == (timestamp if isinstance(timestamp, int) else 1732300000000)
    assert event.content_key.startswith("e#")


def test_event_time_is_the_event_timestamp_not_the_arrival() -> None:
    record = load_event("pinpoint/email_open.json")
    assert normalized(record).timestamp_ms == record["event_timestamp"] != record["arrival_timestamp"]


def test_the_test_event_is_skipped() -> None:
    assert normalize(load_event("pinpoint/test_event_stream.json")) == [SkippedRecord("test_event")]


@pytest.mark.parametrize(
    ("name", "mode", "user_key"),
    [
        (
            "pinpoint/campaign_send.json",
            "auto",
            "example-user-1",
        ),  # client_context.custom.endpoint JSON string
        ("pinpoint/campaign_send.json", "endpoint_id", "example-endpoint-1"),
        ("pinpoint/campaign_send.json", "user_id", "example-user-1"),
        ("pinpoint/campaign_opened_notification.json", "auto", "example-user-1"),  # top-level endpoint
        ("pinpoint/campaign_opened_notification.json", "endpoint_id", "example-endpoint-1"),
        ("pinpoint/campaign_received_foreground.json", "auto", "example-endpoint-1"),  # no user id
        ("pinpoint/email_open.json", "endpoint_id", TX_CLIENT),
        ("custom/webinar_attended.json", "user_id", "u-123"),
        ("custom/webinar_attended.json", "endpoint_id", "u-123"),
    ],
)
def test_user_key_modes(name: str, mode: str, user_key: str) -> None:
    assert normalized(load_event(name), mode).user_key == user_key


@pytest.mark.parametrize(
    "name",
    ["pinpoint/campaign_received_foreground.json", "pinpoint/email_open.json", "pinpoint/sms_success.json"],
)
def test_user_id_mode_rejects_records_without_user_id(name: str) -> None:
    assert rejection(load_event(name), "user_id") == "no_user_id"


def test_the_endpoint_may_also_be_a_map_in_the_client_context() -> None:
    record = load_event("pinpoint/campaign_received_foreground.json")
    record["client_context"] = {"custom": {"endpoint": {"User": {"UserId": "u-map"}}}}
    assert normalized(record).user_key == "u-map"


def test_an_unparsable_endpoint_string_falls_back_to_the_client_id() -> None:
    record = load_event("pinpoint/campaign_received_foreground.json")
    record["client_context"] = {"custom": {"endpoint": "{not json"}}
    assert normalized(record).user_key == "example-endpoint-1"


def test_journey_message_id_when_there_is_no_channel_message_id() -> None:
    record = load_event("pinpoint/journey_email_send.json")
    del record["facets"]
    assert normalized(record).message_id == (
        "7a6b5c4d3e2f1a0b9c8d7e6f5aexample:5b5c9d1e2f3a4b5c6d7e8f9a0bexample:AbCdEfGhIj"
    )


def custom(**fields: Any) -> dict[str, Any]:
    return {**load_event("custom/webinar_attended.json"), **fields}


def test_custom_events_keep_their_channel() -> None:
    assert normalized(custom(channel="email")).channel == "email"


def test_custom_iso_timestamps_need_a_zone() -> None:
    assert normalized(custom(timestamp="2024-11-22T19:26:40+01:00")).timestamp_ms == 1732300000000
    assert rejection(custom(timestamp="2024-11-22T18:26:40")) == "bad_timestamp"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([1, 2], "not_object"),
        ({"hello": "world"}, "unknown_format"),
        ({"schema": "other/1", "event_type": "x"}, "unknown_format"),
        ({"schema": "engagement.event/2", "event_type": "x"}, "unsupported_schema"),
        ({"event_timestamp": 1, "client": {"client_id": "c"}}, "missing_event_type"),
        ({"event_type": "", "event_timestamp": 1, "client": {"client_id": "c"}}, "missing_event_type"),
        ({"event_type": "_email.open", "client": {"client_id": "c"}}, "bad_timestamp"),
        (
            {"event_type": "_email.open", "event_timestamp": "1732300000000", "client": {"client_id": "c"}},
            "bad_timestamp",
        ),
        (
            {"event_type": "_email.open", "event_timestamp": True, "client": {"client_id": "c"}},
            "bad_timestamp",
        ),
        ({"event_type": "_email.open", "event_timestamp": -1, "client": {"client_id": "c"}}, "bad_timestamp"),
        (
            {"event_type": "_email.open", "event_timestamp": 1.5, "client": {"client_id": "c"}},
            "bad_timestamp",
        ),
        (
            {"event_type": "_email.open", "event_timestamp": 10**20, "client": {"client_id": "c"}},
            "bad_timestamp",
        ),
        ({"event_type": "_email.open", "event_timestamp": 1}, "missing_client_id"),
        (
            {"event_type": "_email.open", "event_timestamp": 1, "client": {"client_id": 7}},
            "missing_client_id",
        ),
        ({"event_type": "x" * 300, "event_timestamp": 1, "client": {"client_id": "c"}}, "field_too_long"),
        (
            {"event_type": "_email.open", "event_timestamp": 1, "client": {"client_id": "c" * 600}},
            "field_too_long",
        ),
        (custom(user_key=None), "missing_user_key"),
        (custom(timestamp="yesterday"), "bad_timestamp"),
        (custom(channel="fax"), "bad_channel"),
        (custom(message_id=12), "bad_message_id"),
        (custom(message_id="m" * 2000), "field_too_long"),
        (custom(campaign=7), "bad_campaign"),
        (custom(campaign="c" * 600), "field_too_long"),
        (custom(metrics=[1]), "bad_metrics"),
        (custom(metrics={"price": "1"}), "bad_metrics"),
        (custom(metrics={"price": True}), "bad_metrics"),
        (custom(metrics={"price": float("nan")}), "bad_metrics"),
        (custom(metrics={"price": float("inf")}), "bad_metrics"),
        (custom(metrics={"price": 10**19}), "bad_metrics"),
        (custom(metrics={"": 1}), "bad_metrics"),
        (custom(metrics={f"m{i}": i for i in range(51)}), "bad_metrics"),
        (
            {**load_event("pinpoint/sms_success.json"), "metrics": {"price_in_millicents_usd": "645"}},
            "bad_metrics",
        ),
        ({**load_event("pinpoint/sms_success.json"), "metrics": [645]}, "bad_metrics"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason(record: Any, reason: str) -> None:
    assert rejection(record) == reason


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (None, "missing_data"),
        ("", "missing_data"),
        ("not base64!", "not_base64"),
        ("é", "not_base64"),
        (encode(b"\xff\xfe{}"), "not_utf8"),
        (encode(b"{not json"), "not_json"),
        (encode(b"[" * 100_000), "not_json"),  # nesting deeper than the parser allows
        (encode(b"NaN"), "not_object"),
        (encode(b"x" * (1024 * 1024 + 1)), "oversized"),
    ],
)
def test_undecodable_kinesis_data_is_rejected_with_a_reason(data: Any, reason: str) -> None:
    with pytest.raises(RecordRejected) as rejected:
        decode_record(data, "auto")
    assert rejected.value.reason == reason


def test_the_kinesis_fixture_carries_an_email_open() -> None:
    record = load_event("lambda/kinesis_event.json")["Records"][0]
    (event,) = decode_record(record["kinesis"]["data"], "auto")
    assert isinstance(event, NormalizedEvent) and event.event_type == "_email.open"
    assert json.loads(json.dumps(record))["eventID"].startswith("shardId-")


# ---- campaign, metrics and details (the normalized event's fields beyond v1) ------------------------


def test_pinpoint_campaign_is_the_campaign_id_else_the_journey_id() -> None:
    assert (
        normalized(load_event("pinpoint/campaign_send.json")).campaign == "52dc44b35c4742c98c5935269example"
    )
    journey = normalized(load_event("pinpoint/journey_email_send.json"))
    assert journey.campaign == "7a6b5c4d3e2f1a0b9c8d7e6f5aexample"
    assert normalized(load_event("pinpoint/email_open.json")).campaign is None  # transactional


def test_pinpoint_metrics_are_carried_and_empty_metrics_are_none() -> None:
    assert normalized(load_event("pinpoint/sms_success.json")).metrics == {"price_in_millicents_usd": 645.0}
    record = load_event("pinpoint/app_monetization_purchase.json")
    record["metrics"] = {}
    assert normalized(record).metrics is None


def test_pinpoint_opens_and_clicks_carry_what_classifiers_read() -> None:
    click = normalized(load_event("pinpoint/email_click.json"))
    assert dict(click.details or {}) == {
        "send_time_ms": 1732300000000,
        "ip": "192.0.2.1",
        "user_agent": (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0 Safari/537.36"
        ),
        "link": "https://www.example.com/offer",
    }
    assert normalized(load_event("pinpoint/email_delivered.json")).details is None


def test_custom_events_carry_campaign_and_metrics() -> None:
    event = normalized(custom(campaign="spring-sale", metrics={"order_value": 42.5, "items": 3}))
    assert (event.campaign, event.metrics) == ("spring-sale", {"order_value": 42.5, "items": 3})
    assert (normalized(custom()).campaign, normalized(custom()).metrics) == (None, None)


# ---- the registry -------------------------------------------------------------------------------


def test_the_registry_has_one_module_per_format_in_the_order_they_are_tried() -> None:
    assert [module.NAME for module in FORMATS] == ["custom", "pinpoint", "ses", "sms"]
    assert formats.FORMAT_MODULES == ("custom", "pinpoint", "ses", "sms")


WEBHOOK_FORMAT = """
    from engagement_scoring.core.events import NormalizedEvent

    NAME = "webhook"


    def matches(record):
        return record.get("kind") == "webhook"


    def normalize(record, settings, received_ms=None):
        return [NormalizedEvent(record["who"], record["what"], record["when"], None, None, None, "")]
"""


@pytest.fixture
def format_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A second directory of the formats package, for modules written by a test (removed after it)."""
    monkeypatch.setattr(formats, "__path__", [*formats.__path__, str(tmp_path)])
    yield tmp_path
    for path in tmp_path.glob("*.py"):
        sys.modules.pop(f"{formats.__name__}.{path.stem}", None)
        if hasattr(formats, path.stem):
            delattr(formats, path.stem)


def test_a_new_format_is_one_module_in_the_package_plus_its_registration(
    aws: AwsResources, format_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a new module in the formats package ...
    (format_dir / "webhook.py").write_text(textwrap.dedent(WEBHOOK_FORMAT))
    record = {"kind": "webhook", "who": "u-9", "what": "_email.click", "when": 1732300000000}
    assert rejection(record) == "unknown_format"  # not registered yet
    # ... when its name is registered
    monkeypatch.setattr(formats, "FORMATS", formats.load_formats([*formats.FORMAT_MODULES, "webhook"]))
    # then the registry tries it and the scorer scores its records
    assert [module.NAME for module in formats.FORMATS][-1] == "webhook"
    assert normalized(record).user_key == "u-9"
    response = scorer.process_batch(kinesis_event([record]), aws.scorer(), FakeContext())
    assert response == {"batchItemFailures": []}
    assert aws.scores()["u-9"]["score"] == 50


def test_a_format_module_without_its_functions_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "half_done.py").write_text('NAME = "half_done"\n')
    monkeypatch.setattr(formats, "__path__", [*formats.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "engagement_scoring.formats.half_done", raising=False)
    with pytest.raises(TypeError, match="needs NAME, matches"):
        formats.load_formats(["custom", "half_done"])
    with pytest.raises(TypeError, match="unique"):
        formats.load_formats(["custom", "custom"])


# ---- the examples of docs/formats.md ---------------------------------------------------------------

FORMATS_DOC = Path(__file__).resolve().parents[3] / "docs" / "formats.md"


def doc_examples() -> list[dict[str, Any]]:
    blocks = FORMATS_DOC.read_text().split("```json\n")[1:]
    return [json.loads(block.split("```")[0]) for block in blocks]


def test_the_push_and_in_app_examples_of_the_docs_score_as_they_say(aws: AwsResources) -> None:
    examples = [example for example in doc_examples() if example.get("event_type") != "webinar_attended"]
    assert len(examples) == 3
    custom_open, pinpoint_open, purchase = (normalized(example) for example in examples)
    assert (custom_open.event_type, pinpoint_open.event_type) == ("_campaign.opened_notification",) * 2
    assert custom_open.user_key == pinpoint_open.user_key == purchase.user_key == "u-123"
    assert purchase.metrics == {"order_value_usd": 42.5}
    response = scorer.process_batch(kinesis_event(examples), aws.scorer(), FakeContext())
    assert response == {"batchItemFailures": []}
    item = aws.scores()["u-123"]
    assert (item["score"], item["channels"]) == (200, {"push": 100, "in_app": 100})


def test_the_custom_format_example_of_the_docs_is_the_fixture() -> None:
    (documented,) = [example for example in doc_examples() if example.get("event_type") == "webinar_attended"]
    assert set(documented) == set(load_event("custom/webinar_attended.json")) | {"campaign", "metrics"}
