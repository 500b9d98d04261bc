"""The score sync reads no clock (issue #10 item 7): what it sends to Pinpoint, EventBridge and Customer
Profiles depends only on the stream records, so one clock (the refresher's, the scorer's event time) decides
every sink's content. The only time a sink carries, Customer Profiles' `updated_at`, is the item's, written
by the scorer or the refresher."""

from __future__ import annotations

import copy
import datetime
import time
from typing import Any, ClassVar

import boto3
import pytest
from engagement_scoring.core.config import SyncConfig
from engagement_scoring.pipeline.score_sync import SyncRuntime, process_stream_batch
from engine_support import stream_record, user_image

APP_ID = "6a5b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"
ENV = {
    "EVENT_BUS_NAME": "scores",
    "PINPOINT_APPLICATION_ID": APP_ID,
    "CUSTOMER_PROFILES_DOMAIN": "engagement",
    "TIERS": '[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 50}]',
}
RESPONSES: dict[str, dict[str, Any]] = {
    "PutEvents": {"FailedEntryCount": 0, "Entries": [{"EventId": f"e{i}"} for i in range(10)]},
    "UpdateEndpointsBatch": {"MessageBody": {"Message": "Accepted", "RequestID": "r"}},
    "GetProfileObjectType": {"ObjectTypeName": "EngagementScore"},
    "PutProfileObject": {"ProfileObjectUniqueKey": "k"},
}


class OkHttp:
    """What botocore reads of a short-circuited call's HTTP response."""

    status_code = 200
    headers: ClassVar[dict[str, str]] = {}


def recording_client(service: str, calls: list[tuple[str, str, Any]]) -> Any:
    """A boto3 client that records each call's parameters and answers without any network."""
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        calls.append((service, model.name, copy.deepcopy(params)))

    def answer(model: Any, **_: Any) -> tuple[Any, dict[str, Any]]:
        return OkHttp, copy.deepcopy(RESPONSES[model.name])

    client.meta.events.register("before-parameter-build.*.*", record)
    client.meta.events.register_first("before-call.*.*", answer)
    return client


def images() -> dict[str, Any]:
    old = user_image("u1", 40, "cold", endpoints=["ep-1"], version=1)
    new = user_image("u1", 70, "warm", endpoints=["ep-1"], version=2)
    new["rules"] = {"SS": ["three_opens_week"]}
    other = user_image("u2", 12, "cold", endpoints=["ep-2"])
    return {
        "Records": [
            stream_record(1, "INSERT", old),
            stream_record(2, "MODIFY", new, old),
            stream_record(3, "INSERT", other),
        ]
    }


def sync_calls(monkeypatch: pytest.MonkeyPatch, clock_s: float) -> list[tuple[str, str, Any]]:
    """Every sink call of one batch, with the process's clocks all reading `clock_s`."""

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return cls.fromtimestamp(clock_s, tz)

        @classmethod
        def utcnow(cls) -> Any:
            return cls.fromtimestamp(clock_s, datetime.UTC).replace(tzinfo=None)

        @classmethod
        def today(cls) -> Any:
            return cls.fromtimestamp(clock_s)

    calls: list[tuple[str, str, Any]] = []
    runtime = SyncRuntime(
        SyncConfig.from_env(ENV),
        pinpoint=recording_client("pinpoint", calls),
        events=recording_client("events", calls),
        profiles=recording_client("customer-profiles", calls),
        sleep=lambda _: None,
    )
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: clock_s)
        patch.setattr(time, "time_ns", lambda: int(clock_s * 1e9))
        patch.setattr(datetime, "datetime", Frozen)
        response = process_stream_batch(images(), runtime)
    assert response == {"batchItemFailures": []}
    return sorted(calls, key=repr)  # Customer Profiles puts run a few at a time: order them


def test_the_sinks_receive_the_same_calls_whatever_the_clock_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # given one batch of stream records (a tier change, a rule matched, a new user)
    # when the sync runs it with the process's clocks in 2001 and in 2040
    early = sync_calls(monkeypatch, 1_000_000_000.0)
    late = sync_calls(monkeypatch, 2_200_000_000.0)
    # then every sink got every call, and exactly the same calls: the output depends on the records alone
    operations = {(service, name) for service, name, _ in early}
    assert operations >= {
        ("pinpoint", "UpdateEndpointsBatch"),
        ("events", "PutEvents"),
        ("customer-profiles", "PutProfileObject"),
    }
    assert early == late
    # and the one time a sink carries is the item's `updated_at` (the writer's clock), not the sync's
    objects = [params["Object"] for service, name, params in early if name == "PutProfileObject"]
    assert len(objects) == 2 and all('"updated_at":"2024-11-22T18:26:40.500Z"' in o for o in objects)
