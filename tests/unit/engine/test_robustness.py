"""Property tests: no input makes a handler raise, and good records among bad ones are still scored."""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring.core.config import SyncConfig
from engagement_scoring.handlers import score_sync as sync_handler
from engagement_scoring.handlers import scorer as scorer_handler
from engagement_scoring.pipeline.score_sync import SyncRuntime
from engine_support import (
    AwsResources,
    FakeContext,
    custom_event,
    failed_ids,
    kinesis_record,
    load_event,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FIXTURES = sorted(
    str(path.relative_to(path.parents[1]))
    for path in (Path(__file__).parents[2] / "events" / "pinpoint").glob("*.json")
)
_users = itertools.count()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
keys_of_interest = st.sampled_from(
    [
        "event_type",
        "event_timestamp",
        "client",
        "client_id",
        "attributes",
        "facets",
        "endpoint",
        "User",
        "UserId",
        "client_context",
        "custom",
        "schema",
        "user_key",
        "timestamp",
        "message_id",
        "channel",
        "application",
        "campaign_id",
        "journey_id",
        "email_channel",
        "mail_event",
        "mail",
    ]
)


def mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Randomly delete, replace or retype parts of a valid record."""
    if isinstance(value, dict) and value and depth < 4:
        result = dict(value)
        for key in list(result):
            choice = data.draw(st.integers(0, 5))
            if choice == 0:
                del result[key]
            elif choice == 1:
                result[key] = data.draw(json_values)
            elif choice == 2:
                result[key] = mutate(result[key], data, depth + 1)
        if data.draw(st.booleans()):
            result[data.draw(keys_of_interest)] = data.draw(json_values)
        return result
    if data.draw(st.integers(0, 3)) == 0:
        return data.draw(json_values)
    return value


def good_record(user_key: str) -> dict[str, Any]:
    return custom_event(user_key, "_email.click", 1_732_300_000_000)


def assert_batch_survives(aws: AwsResources, payloads: list[Any]) -> None:
    """Score `payloads` plus one good record: no exception, no failure, the good record counted."""
    user_key = f"good-{next(_users)}"
    records = [kinesis_record(payload, str(10_000 + index)) for index, payload in enumerate(payloads)]
    records.insert(len(records) // 2, kinesis_record(good_record(user_key), "99999"))
    scorer_handler._runtime = aws.scorer()
    try:
        response = scorer_handler.handler({"Records": records}, FakeContext())
    finally:
        scorer_handler._runtime = None
    assert failed_ids(response) == []
    assert aws.scores()[user_key]["score"] == Decimal(50)


@SETTINGS
@given(st.lists(st.binary(max_size=300), max_size=6))
def test_random_bytes_never_break_the_scorer(aws: AwsResources, blobs: list[bytes]) -> None:
    assert_batch_survives(aws, blobs)


@SETTINGS
@given(st.lists(json_values, max_size=6))
def test_random_json_never_breaks_the_scorer(aws: AwsResources, values: list[Any]) -> None:
    assert_batch_survives(aws, [json.dumps(value, allow_nan=True).encode() for value in values])


@SETTINGS
@given(st.lists(st.sampled_from(FIXTURES), min_size=1, max_size=4), st.data())
def test_mutated_aws_records_never_break_the_scorer(
    aws: AwsResources, names: list[str], data: st.DataObject
) -> None:
    payloads = [json.dumps(mutate(load_event(name), data), allow_nan=True).encode() for name in names]
    assert_batch_survives(aws, payloads)


@SETTINGS
@given(st.lists(st.text(max_size=40), max_size=6))
def test_random_text_as_kinesis_data_never_breaks_the_scorer(aws: AwsResources, texts: list[str]) -> None:
    assert_batch_survives(aws, texts)


@SETTINGS
@given(json_values)
def test_random_lambda_events_never_break_the_handlers(aws: AwsResources, event: Any) -> None:
    scorer_handler._runtime = aws.scorer()
    sync_handler._runtime = SyncRuntime(SyncConfig())
    try:
        assert isinstance(scorer_handler.handler(event, FakeContext())["batchItemFailures"], list)
        assert isinstance(
            sync_handler.handler({"Records": [event]}, FakeContext())["batchItemFailures"], list
        )
        assert isinstance(sync_handler.handler(event, FakeContext())["batchItemFailures"], list)
    finally:
        scorer_handler._runtime = None
        sync_handler._runtime = None


attribute_values = st.recursive(
    st.builds(lambda s: {"S": s}, st.text(max_size=8))
    | st.builds(lambda n: {"N": n}, st.text(max_size=8) | st.sampled_from(["1", "-2.5", "NaN", "1e400"]))
    | st.builds(lambda b: {"BOOL": b}, json_values)
    | st.builds(lambda v: {"SS": v}, st.lists(json_values, max_size=3))
    | json_values,
    lambda children: (
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=8), children, max_size=3))
        | st.builds(lambda items: {"L": items}, st.lists(children, max_size=3))
    ),
    max_leaves=10,
)
images = st.dictionaries(
    st.sampled_from(["user_key", "score", "tier", "channels", "as_of", "endpoint_ids", "version"]),
    attribute_values,
    max_size=7,
)


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE", "x"]),
                "dynamodb": st.fixed_dictionaries(
                    {"Keys": images, "SequenceNumber": st.text(max_size=5)},
                    optional={"NewImage": images, "OldImage": images},
                ),
            }
        ),
        max_size=6,
    )
)
def test_random_stream_records_never_break_the_score_sync(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], records: list[dict[str, Any]]
) -> None:
    # given a good change among random records: it is still published
    good = {
        "eventName": "INSERT",
        "dynamodb": {
            "Keys": {"user_key": {"S": "good-sync"}},
            "NewImage": {"user_key": {"S": "good-sync"}, "score": {"N": "7"}},
            "SequenceNumber": "1",
        },
    }
    sync_handler._runtime = sync_runtime()
    try:
        response = sync_handler.handler({"Records": [*records, good]}, FakeContext())
    finally:
        sync_handler._runtime = None
    assert failed_ids(response) == []
    published = [event["detail"] for event in aws.queue_messages(aws.bus_queue_url)]
    assert {"user_key": "good-sync", "score": 7} in [
        {"user_key": detail["user_key"], "score": detail["score"]} for detail in published
    ]


def test_good_records_survive_among_records_that_break_every_rule(aws: AwsResources) -> None:
    bad: list[Any] = [b"", b"\x00", b"[]", b"null", b'"text"', b"{}", b'{"event_type": 5}', b"1e999"]
    assert_batch_survives(aws, bad)
    assert len(aws.queue_messages(aws.failure_queue_url)) == len(bad)


def test_importing_the_handlers_does_not_import_boto3() -> None:
    # a cold start pays for boto3 only when the first invocation creates the clients
    code = (
        "import sys, engagement_scoring.handlers.scorer, engagement_scoring.handlers.score_sync;"
        "print(sorted(m for m in ('boto3', 'botocore') if m in sys.modules))"
    )
    root = Path(__file__).parents[3]
    output = subprocess.run(
        [sys.executable, "-B", "-c", code],
        cwd=root / "lambda_src",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert output.strip() == "[]"


@pytest.mark.parametrize("payload", [b"{}", base64.b64encode(b"{}")])
def test_rejections_do_not_log_record_contents(
    aws: AwsResources, capsys: pytest.CaptureFixture[str], payload: bytes
) -> None:
    secret = {
        "event_type": "_email.open",
        "event_timestamp": "x",
        "client": {"client_id": "someone@example.com"},
    }
    scorer_handler._runtime = aws.scorer()
    try:
        scorer_handler.handler(
            {"Records": [kinesis_record(secret, "1"), kinesis_record(payload, "2")]}, FakeContext()
        )
    finally:
        scorer_handler._runtime = None
    assert "example.com" not in capsys.readouterr().out
