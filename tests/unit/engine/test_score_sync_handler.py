"""The score sync: coalescing stream records, Pinpoint endpoint metrics and EventBridge events."""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import boto3
import pytest
from botocore.stub import ANY, Stubber
from engagement_scoring.aws.clients import make_client
from engagement_scoring.core.config import SyncConfig
from engagement_scoring.handlers import score_sync as sync_handler
from engagement_scoring.pipeline.score_sync import SyncRuntime
from engine_support import (
    AwsResources,
    FakeContext,
    batch_line,
    custom_event,
    failed_ids,
    kinesis_event,
    load_event,
    stream_record,
    user_image,
)

APP_ID = "6a5b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
TIERS = (
    '[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 50}, {"name": "hot", "min_score": 100}]'
)


def run(runtime: SyncRuntime, event: dict[str, Any]) -> dict[str, Any]:
    sync_handler._runtime = runtime
    try:
        return sync_handler.handler(event, FakeContext())
    finally:
        sync_handler._runtime = None


def bus_events(aws: AwsResources) -> list[dict[str, Any]]:
    return aws.queue_messages(aws.bus_queue_url)


def pinpoint_stub() -> tuple[Any, Stubber]:
    client = boto3.client("pinpoint", region_name="us-east-1")
    return client, Stubber(client)


ACCEPTED = {"MessageBody": {"Message": "Accepted", "RequestID": "example-request"}}


def test_scores_written_by_the_scorer_reach_eventbridge(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    # given the scorer wrote two users (with tiers), and moto's stream holds their records
    scorer = aws.scorer(TIERS=TIERS)
    from engagement_scoring.handlers import scorer as scorer_handler

    scorer_handler._runtime = scorer
    scorer_handler.handler(
        kinesis_event(
            [
                load_event("pinpoint/campaign_send.json"),
                load_event("pinpoint/campaign_opened_notification.json"),
            ]
        ),
        FakeContext(),
    )
    scorer_handler.handler(
        kinesis_event([custom_event("u-9", "_email.open", 5)], first_sequence=3000), FakeContext()
    )
    scorer_handler._runtime = None
    stream = aws.stream_event()
    capsys.readouterr()
    # when the sync handles the stream batch
    response = run(sync_runtime(), stream)
    # then one ScoreChanged per user, and TierChanged because both got a tier for the first time
    assert failed_ids(response) == []
    events = bus_events(aws)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["detail-type"], []).append(event)
    assert sorted(by_type) == ["EngagementScoreChanged", "EngagementTierChanged"]
    changed = {event["detail"]["user_key"]: event["detail"] for event in by_type["EngagementScoreChanged"]}
    assert changed["example-user-1"] == {
        "event_id": hashlib.sha256(b"EngagementScoreChanged\nexample-user-1\n1").hexdigest()[:32],
        "version": 1,
        "user_key": "example-user-1",
        "score": 52,
        "previous_score": None,
        "tier": "warm",
        "previous_tier": None,
        "channels": {"push": 52},
        "as_of": 1732300300000,
    }
    assert changed["u-9"]["score"] == 10 and changed["u-9"]["tier"] == "cold"
    assert len(by_type["EngagementTierChanged"]) == 2
    assert all(event["source"] == "engagement.scoring" for event in events)
    line = batch_line(capsys.readouterr().out, "scores synced")
    assert (line["users_changed"], line["events_published"], line["retryable_failures"]) == (2, 4, 0)
    assert line["aws_calls"] == {"PutEvents": 1}


def test_the_documented_stream_event_coalesces_to_one_change(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    # given moto's key-only INSERT, the full INSERT and a MODIFY of one user in one batch
    event = load_event("lambda/dynamodb_stream_event.json")
    # when
    response = run(sync_runtime(), event)
    # then the latest image is compared with the oldest (no previous score): one change per type
    assert failed_ids(response) == []
    events = bus_events(aws)
    assert sorted(e["detail-type"] for e in events) == ["EngagementScoreChanged", "EngagementTierChanged"]
    detail = events[0]["detail"]
    assert (detail["score"], detail["previous_score"], detail["tier"]) == (62, None, "warm")
    assert detail["channels"] == {"email": 10, "push": 52}


def test_images_without_change_and_round_trips_publish_nothing(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    same = user_image("u1", 10, "cold")
    ten, twenty = user_image("u2", 10), user_image("u2", 20)
    event = {
        "Records": [
            stream_record(1, "MODIFY", same, copy.deepcopy(same)),  # only updated_at moved
            stream_record(2, "MODIFY", twenty, ten),
            stream_record(3, "MODIFY", ten, twenty),  # back where it started
            stream_record(4, "REMOVE", None, user_image("u3", 5)),
            stream_record(5, "INSERT", {"user_key": {"S": "u4"}}),  # key-only image
        ]
    }
    response = run(sync_runtime(), event)
    assert failed_ids(response) == []
    assert bus_events(aws) == []
    assert batch_line(capsys.readouterr().out, "scores synced")["users_changed"] == 0


def test_a_user_removed_at_the_end_of_the_batch_is_not_published(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    event = {
        "Records": [
            stream_record(1, "INSERT", user_image("u1", 10)),
            stream_record(2, "REMOVE", None, user_image("u1", 10)),
        ]
    }
    run(sync_runtime(), event)
    assert bus_events(aws) == []


def test_more_than_ten_events_take_several_put_events_calls(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    event = {"Records": [stream_record(i, "INSERT", user_image(f"u{i}", 60, "warm")) for i in range(13)]}
    response = run(sync_runtime(), event)
    assert failed_ids(response) == []
    assert len(bus_events(aws)) == 26
    line = batch_line(capsys.readouterr().out, "scores synced")
    assert line["aws_calls"] == {"PutEvents": 3}
    assert line["events_published"] == 26


def test_pinpoint_gets_the_score_as_a_metric_and_the_tier_as_an_attribute(
    sync_runtime: Callable[..., SyncRuntime],
) -> None:
    # given users with endpoints, and one without (a transactional-only user)
    client, stub = pinpoint_stub()
    stub.add_response(
        "update_endpoints_batch",
        ACCEPTED,
        {
            "ApplicationId": APP_ID,
            "EndpointBatchRequest": {
                "Item": [
                    {
                        "Id": "ep-1",
                        "Metrics": {"EngagementScore": 62.5},
                        "Attributes": {"EngagementTier": ["warm"]},
                    },
                    {
                        "Id": "ep-2",
                        "Metrics": {"EngagementScore": 62.5},
                        "Attributes": {"EngagementTier": ["warm"]},
                    },
                    {"Id": "ep-3", "Metrics": {"EngagementScore": -10.0}},
                ]
            },
        },
    )
    event = {
        "Records": [
            stream_record(1, "INSERT", user_image("user-a", "62.5", "warm", ["ep-2", "ep-1"])),
            stream_record(2, "INSERT", user_image("user-b", -10, None, ["ep-3"])),
            stream_record(3, "INSERT", user_image("user-c", 5)),
        ]
    }
    # when
    with stub:
        response = run(sync_runtime(pinpoint=client, application_id=APP_ID, bus=False), event)
        stub.assert_no_pending_responses()
    # then
    assert failed_ids(response) == []


def test_more_than_100_endpoints_take_two_pinpoint_calls(
    sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    client, stub = pinpoint_stub()
    seen: list[int] = []
    for _ in range(2):
        stub.add_response(
            "update_endpoints_batch", ACCEPTED, {"ApplicationId": APP_ID, "EndpointBatchRequest": ANY}
        )
    client.meta.events.register(
        "before-parameter-build.pinpoint.UpdateEndpointsBatch",
        lambda params, **_: seen.append(len(params["EndpointBatchRequest"]["Item"])),
    )
    event = {
        "Records": [stream_record(i, "INSERT", user_image(f"u{i}", 7, None, [f"ep-{i}"])) for i in range(150)]
    }
    with stub:
        response = run(sync_runtime(pinpoint=client, application_id=APP_ID, bus=False), event)
        stub.assert_no_pending_responses()
    assert failed_ids(response) == []
    line = batch_line(capsys.readouterr().out, "scores synced")
    assert line["aws_calls"] == {"UpdateEndpointsBatch": 2}
    assert seen == [100, 50]
    assert line["pinpoint_endpoints_updated"] == 150


def test_pinpoint_throttling_is_retried(sync_runtime: Callable[..., SyncRuntime]) -> None:
    client, stub = pinpoint_stub()
    stub.add_client_error("update_endpoints_batch", "TooManyRequestsException", http_status_code=429)
    stub.add_response("update_endpoints_batch", ACCEPTED)
    event = {"Records": [stream_record(1, "INSERT", user_image("u1", 7, None, ["ep-1"]))]}
    with stub:
        response = run(sync_runtime(pinpoint=client, application_id=APP_ID, bus=False), event)
        stub.assert_no_pending_responses()
    assert failed_ids(response) == []


@pytest.mark.parametrize(
    ("code", "status", "calls"), [("InternalServerErrorException", 500, 4), ("BadRequestException", 400, 1)]
)
def test_pinpoint_errors_return_the_users_records(
    sync_runtime: Callable[..., SyncRuntime], code: str, status: int, calls: int
) -> None:
    # given Pinpoint failing: transient errors are retried (bounded), others are not
    client, stub = pinpoint_stub()
    for _ in range(calls):
        stub.add_client_error("update_endpoints_batch", code, http_status_code=status)
    event = {
        "Records": [
            stream_record(1, "INSERT", {"user_key": {"S": "u1"}}),
            stream_record(2, "INSERT", user_image("u1", 7, None, ["ep-1"])),
            stream_record(3, "INSERT", user_image("u2", 9)),  # no endpoint: nothing to fail
        ]
    }
    with stub:
        response = run(sync_runtime(pinpoint=client, application_id=APP_ID, bus=False), event)
        stub.assert_no_pending_responses()
    # then every stream record of the failed user comes back
    assert failed_ids(response) == [f"{1:021d}", f"{2:021d}"]


def test_failed_eventbridge_entries_are_retried_then_reported(
    sync_runtime: Callable[..., SyncRuntime],
) -> None:
    client = boto3.client("events", region_name="us-east-1")
    stub = Stubber(client)
    # first call: the second entry fails; second call: it goes through
    stub.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [{"EventId": "e-1"}, {"ErrorCode": "ThrottlingException", "ErrorMessage": "x"}],
        },
    )
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-2"}]})
    event = {
        "Records": [
            stream_record(1, "INSERT", user_image("u1", 7)),
            stream_record(2, "INSERT", user_image("u2", 8)),
        ]
    }
    runtime = SyncRuntime(SyncConfig(event_bus_name="es-bus"), events=client, sleep=lambda _: None)
    with stub:
        assert failed_ids(run(runtime, event)) == []
        stub.assert_no_pending_responses()
    # and when an entry keeps failing, its user's records come back
    for _ in range(4):
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalException", "ErrorMessage": "x"}]},
        )
    with stub:
        assert failed_ids(run(runtime, {"Records": [stream_record(5, "INSERT", user_image("u5", 1))]})) == [
            f"{5:021d}"
        ]
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "event", [None, {}, {"Records": "x"}, {"Records": [None, {"dynamodb": {"Keys": 5}}]}]
)
def test_malformed_stream_events_do_not_raise(sync_runtime: Callable[..., SyncRuntime], event: Any) -> None:
    assert failed_ids(run(sync_runtime(), event)) == []


class _PinpointStandIn(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append((self.path, json.loads(body)))
        payload = json.dumps({"Message": "Accepted", "RequestID": "example"}).encode()
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def pinpoint_stand_in() -> Iterator[str]:
    _PinpointStandIn.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PinpointStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_pinpoint_client_honours_aws_endpoint_url_pinpoint(
    pinpoint_stand_in: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the service-specific endpoint variable pointing at a local stand-in
    monkeypatch.setenv("AWS_ENDPOINT_URL_PINPOINT", pinpoint_stand_in)
    monkeypatch.setenv("PINPOINT_APPLICATION_ID", APP_ID)
    monkeypatch.delenv("EVENT_BUS_NAME", raising=False)
    monkeypatch.setattr(sync_handler, "_runtime", None)
    assert make_client("pinpoint").meta.endpoint_url == pinpoint_stand_in
    # when the handler builds its clients from the environment and syncs a change
    event = {"Records": [stream_record(1, "INSERT", user_image("u1", "12.5", "cold", ["ep-1"]))]}
    response = sync_handler.handler(event, FakeContext())
    # then the stand-in received a real UpdateEndpointsBatch request
    assert failed_ids(response) == []
    assert _PinpointStandIn.requests == [
        (
            f"/v1/apps/{APP_ID}/endpoints",
            {
                "Item": [
                    {
                        "Id": "ep-1",
                        "Metrics": {"EngagementScore": 12.5},
                        "Attributes": {"EngagementTier": ["cold"]},
                    }
                ]
            },
        )
    ]
    sync_handler._runtime = None


def test_decimal_scores_survive_as_numbers(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    run(sync_runtime(), {"Records": [stream_record(1, "INSERT", user_image("u1", "12.345678"))]})
    (event,) = bus_events(aws)
    assert Decimal(str(event["detail"]["score"])) == Decimal("12.345678")


def test_every_publication_of_one_item_version_carries_the_same_event_id(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    # given a user's version 2, published once from a batch holding versions 1 and 2, and again after a
    # redelivery whose batch starts at version 2 (so the previous score differs)
    v1, v2, v3 = (user_image("u1", score, "warm", version=v) for v, score in ((1, 60), (2, 70), (3, 80)))
    run(sync_runtime(), {"Records": [stream_record(1, "INSERT", v1), stream_record(2, "MODIFY", v2, v1)]})
    run(sync_runtime(), {"Records": [stream_record(2, "MODIFY", v2, v1)]})
    run(sync_runtime(), {"Records": [stream_record(3, "MODIFY", v3, v2)]})
    # then both publications of version 2 share one id, version 3 has another
    published = bus_events(aws)
    events = [event for event in published if event["detail-type"] == "EngagementScoreChanged"]
    assert [(e["detail"]["version"], e["detail"]["previous_score"]) for e in events] == [
        (2, None),
        (2, 60),
        (3, 70),
    ]
    ids = [event["detail"]["event_id"] for event in events]
    assert ids[0] == ids[1] != ids[2]
    assert all(len(event_id) == 32 and int(event_id, 16) >= 0 for event_id in ids)
    # and the tier event of the first publication has an id of its own
    (tier_event,) = [e for e in published if e["detail-type"] == "EngagementTierChanged"]
    assert tier_event["detail"]["version"] == 2 and tier_event["detail"]["event_id"] not in ids


def test_address_keyed_users_are_published_by_the_sha256_of_their_key(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    # given users keyed by a recipient address (documented example values) and one by a keyed hash
    email, phone = "email:recipient@example.com", "sms:+14255550182"
    hashed = "email-hmac:" + "0123456789abcdef" * 2
    event = {
        "Records": [
            stream_record(i, "INSERT", user_image(key, 10 + i))
            for i, key in enumerate((email, phone, hashed), start=1)
        ]
    }
    # when
    assert failed_ids(run(sync_runtime(), event)) == []
    # then the address users carry the SHA-256 of their key instead of the key, the hashed one its key
    published = bus_events(aws)
    details = {e["detail"]["score"]: e["detail"] for e in published}
    assert details[11]["user_key_sha256"] == hashlib.sha256(email.encode()).hexdigest()
    assert details[12]["user_key_sha256"] == hashlib.sha256(phone.encode()).hexdigest()
    assert "user_key" not in details[11] and "user_key" not in details[12]
    assert details[13]["user_key"] == hashed and "user_key_sha256" not in details[13]
    # and no address reaches the bus or the log
    seen = json.dumps(published) + capsys.readouterr().out
    assert "recipient@example.com" not in seen and "4255550182" not in seen


def _sink_failures(output: str) -> dict[str, int]:
    """SinkFailures by Sink from the batch's EMF documents (checking each document's declaration)."""
    found: dict[str, int] = {}
    for line in output.splitlines():
        document = json.loads(line) if line.startswith("{") else {}
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            if [m["Name"] for m in directive["Metrics"]] == ["SinkFailures"]:
                assert directive["Namespace"] == "EngagementScoring"
                assert directive["Dimensions"] == [["Function", "Sink"]]
                assert document["Function"] == "score_sync"
                found[document["Sink"]] = document["SinkFailures"]
    return found


def test_sink_failures_are_emitted_per_enabled_sink_zeros_included(
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = boto3.client("events", region_name="us-east-1")
    stub = Stubber(client)
    runtime = SyncRuntime(SyncConfig(event_bus_name="es-bus"), events=client, sleep=lambda _: None)
    stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]})
    with stub:
        run(runtime, {"Records": [stream_record(1, "INSERT", user_image("u1", 7))]})
    assert _sink_failures(capsys.readouterr().out) == {"eventbridge": 0}

    for _ in range(4):  # every attempt fails for both users
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 2,
                "Entries": [{"ErrorCode": "InternalException", "ErrorMessage": "x"}] * 2,
            },
        )
    event = {
        "Records": [
            stream_record(2, "INSERT", user_image("u2", 1)),
            stream_record(3, "INSERT", user_image("u3", 2)),
        ]
    }
    with stub:
        run(runtime, event)
    assert _sink_failures(capsys.readouterr().out) == {"eventbridge": 2}
