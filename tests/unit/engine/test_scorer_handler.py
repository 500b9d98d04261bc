"""The scorer against moto: scores, exactly-once under replay, re-send, partial failure and concurrency,
failure routing, rules caching and the number of AWS calls per batch."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.core.dedupe import MAX_ENTRIES_PER_WRITE
from engagement_scoring.core.keys import digest
from engagement_scoring.handlers import scorer as scorer_handler
from engagement_scoring.pipeline.scorer import ScorerRuntime
from engine_support import (
    AwsResources,
    FakeContext,
    FlakyDynamoDB,
    batch_line,
    client_error,
    custom_event,
    encode,
    failed_ids,
    kinesis_event,
    load_event,
    log_lines,
    users_in,
)

TX_CLIENT = "2d7cba1b-6b8e-4f2f-9c1a-7e4d8b0c5a11"
SMS_CLIENT = "8f14e45f-ceea-467f-a0e6-example00001"
HOUR_MS = 3_600_000
TIERS = (
    '[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 50}, {"name": "hot", "min_score": 100}]'
)

MIXED_FIXTURES = [
    "pinpoint/email_send.json",  # no rule in the original table
    "pinpoint/email_delivered.json",  # 2
    "pinpoint/email_open.json",  # 10
    "pinpoint/email_hardbounce.json",  # -1000
    "pinpoint/email_softbounce.json",  # no rule
    "pinpoint/email_complaint.json",  # -1000
    "pinpoint/email_unsubscribe.json",  # -500
    "pinpoint/email_click.json",  # 50, campaign email: endpoint example-endpoint-1
    "pinpoint/sms_success.json",  # 2
    "pinpoint/sms_optout.json",  # -500
    "pinpoint/sms_failure.json",  # no rule
    "pinpoint/campaign_send.json",  # 2 for example-user-1
    "pinpoint/campaign_opened_notification.json",  # 50 for example-user-1
    "pinpoint/campaign_received_foreground.json",  # 2 for example-endpoint-1
    "pinpoint/app_session_start.json",  # 2
    "pinpoint/app_monetization_purchase.json",  # 100 for example-user-2
    "pinpoint/app_custom_event.json",  # no rule
    "pinpoint/test_event_stream.json",  # skipped: test_event
]
EXPECTED_SCORES = {
    TX_CLIENT: Decimal(2 + 10 - 1000 - 1000 - 500),
    "example-endpoint-1": Decimal(50 + 2),
    SMS_CLIENT: Decimal(2 - 500),
    "example-user-1": Decimal(2 + 50),
    "example-app-endpoint-7": Decimal(2),
    "example-user-2": Decimal(100),
}


def run(runtime: ScorerRuntime, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    scorer_handler._runtime = runtime
    try:
        return scorer_handler.handler(event, context or FakeContext())
    finally:
        scorer_handler._runtime = None


def scores(aws: AwsResources) -> dict[str, Decimal]:
    return {user: item["score"] for user, item in aws.scores().items()}


def mixed_batch() -> dict[str, Any]:
    return kinesis_event([load_event(name) for name in MIXED_FIXTURES])


def test_a_batch_of_aws_documented_events_scores_the_original_points(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the default rules (the original table) and one of each documented event
    runtime = aws.scorer()
    # when the batch is scored
    response = run(runtime, mixed_batch())
    # then every user has the sum of the original points, with channel scores and endpoint ids
    assert failed_ids(response) == []
    assert scores(aws) == EXPECTED_SCORES
    items = aws.scores()
    assert items["example-user-1"]["channels"] == {"push": Decimal(52)}
    assert items["example-user-1"]["endpoint_ids"] == {"example-endpoint-1"}
    assert items["example-user-2"]["endpoint_ids"] == {"example-app-endpoint-7"}
    assert "endpoint_ids" not in items[TX_CLIENT]  # transactional client ids are not endpoints
    assert items[TX_CLIENT]["channels"] == {"email": Decimal(-2488)}
    assert items[SMS_CLIENT]["events_applied"] == 2
    assert items["example-user-1"]["as_of"] == 1732300300000
    assert "tier" not in items[TX_CLIENT]
    assert all(item["version"] == 1 for item in items.values())
    # and one batch line tells what happened, without addresses or phone numbers
    output = capsys.readouterr().out
    line = batch_line(output)
    assert line["records"] == 18
    assert line["scored"] == 13
    assert line["skipped"] == {"no_rule": 4, "test_event": 1}
    assert line["users_updated"] == 6
    assert line["rejected"] == {} and line["retryable_failures"] == 0
    assert "@" not in output and "+1206" not in output
    emf = [doc for doc in log_lines(output) if "_aws" in doc]
    assert emf[0]["EventsScored"] == 13 and emf[0]["EventsSkipped"] == 5
    assert {doc.get("Reason") for doc in emf[1:]} == {"no_rule", "test_event"}


def test_replaying_the_same_batch_changes_nothing(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = aws.scorer()
    run(runtime, mixed_batch())
    digests = aws.dedupe_digests()
    assert sum(len(held) for held in digests.values()) == 13
    capsys.readouterr()
    # when Lambda delivers the same batch again
    response = run(runtime, mixed_batch())
    # then no score, version or dedupe digest changes and every event is a suppressed duplicate
    assert failed_ids(response) == []
    assert scores(aws) == EXPECTED_SCORES
    assert all(item["version"] == 1 for item in aws.scores().values())
    assert aws.dedupe_digests() == digests
    line = batch_line(capsys.readouterr().out)
    assert (line["scored"], line["duplicates_suppressed"]) == (0, 13)
    assert line["aws_calls"] == {"BatchGetItem": 1}


def test_resending_the_same_content_under_new_sequence_numbers_changes_nothing(aws: AwsResources) -> None:
    runtime = aws.scorer()
    run(runtime, kinesis_event([load_event(n) for n in MIXED_FIXTURES], first_sequence=1))
    run(runtime, kinesis_event([load_event(n) for n in MIXED_FIXTURES], first_sequence=5000))
    assert scores(aws) == EXPECTED_SCORES


def test_duplicates_inside_one_batch_count_once(aws: AwsResources) -> None:
    open_event = load_event("pinpoint/email_open.json")
    run(aws.scorer(), kinesis_event([open_event, open_event, open_event]))
    assert scores(aws) == {TX_CLIENT: Decimal(10)}


def test_partial_failure_then_lambda_retry_counts_each_event_once(aws: AwsResources) -> None:
    # given a batch of 100 users (two events each: 4 transactions of <= 33 users) where the
    # transactions holding user-3 and user-70 keep being throttled
    events = [custom_event(f"user-{i}", "_email.open", 1000 + j) for i in range(100) for j in range(2)]
    failing = {"user-3", "user-70"}

    def throttle_some(actions: list[dict[str, Any]], attempt: int) -> None:
        if users_in(actions) & failing:
            raise client_error(
                "TransactionCanceledException",
                "TransactWriteItems",
                CancellationReasons=[{"Code": "ThrottlingError"}] * len(actions),
            )

    flaky = aws.scorer()
    flaky_client = FlakyDynamoDB(aws.dynamodb, on_transact=throttle_some)
    flaky = ScorerRuntime(flaky.config, flaky_client, aws.sqs, sleep=lambda _: None)
    batch = kinesis_event(events)
    # when the first invocation runs
    first = run(flaky, batch)
    # then exactly the records of the users that were not written come back: nothing is lost
    applied_users = set(aws.scores())
    assert not failing & applied_users
    assert 0 < len(applied_users) < 100
    assert set(failed_ids(first)) == {
        record["kinesis"]["sequenceNumber"]
        for record, payload in zip(batch["Records"], events, strict=True)
        if payload["user_key"] not in applied_users
    }
    # when Lambda retries the whole batch without the fault
    second = run(aws.scorer(), batch)
    # then every user counted each of its events exactly once
    assert failed_ids(second) == []
    assert scores(aws) == {f"user-{i}": Decimal(20) for i in range(100)}
    assert all(item["events_applied"] == 2 for item in aws.scores().values())


def test_a_transient_conflict_is_retried_inside_the_invocation(aws: AwsResources) -> None:
    def conflict_once(actions: list[dict[str, Any]], attempt: int) -> None:
        if attempt == 1:
            raise client_error(
                "TransactionCanceledException",
                "TransactWriteItems",
                CancellationReasons=[{"Code": "TransactionConflict"}]
                + [{"Code": "None"}] * (len(actions) - 1),
            )

    base = aws.scorer()
    runtime = ScorerRuntime(base.config, FlakyDynamoDB(aws.dynamodb, on_transact=conflict_once), aws.sqs)
    runtime.sleep = lambda _: None
    runtime.store.sleep = lambda _: None
    response = run(runtime, kinesis_event([custom_event("u1", "_email.click", 5)]))
    assert failed_ids(response) == []
    assert scores(aws) == {"u1": Decimal(50)}


def test_a_lost_response_after_a_committed_transaction_does_not_double_count(aws: AwsResources) -> None:
    # given a transaction that commits but whose response is lost (a 500 after the write)
    def lose_first_response(actions: list[dict[str, Any]], attempt: int) -> None:
        if attempt == 1:
            raise client_error("InternalServerError", "TransactWriteItems", 500)

    base = aws.scorer()
    flaky = FlakyDynamoDB(aws.dynamodb, after_transact=lose_first_response)
    runtime = ScorerRuntime(base.config, flaky, aws.sqs, sleep=lambda _: None)
    # when the scorer retries
    response = run(
        runtime, kinesis_event([custom_event("u1", "_email.click", 5), custom_event("u1", "_email.open", 6)])
    )
    # then the re-read finds the ledger keys and the events count once
    assert failed_ids(response) == []
    assert scores(aws) == {"u1": Decimal(60)}
    assert aws.scores()["u1"]["version"] == 1


@pytest.mark.parametrize("existing_user", [False, True])
def test_a_concurrent_writer_is_detected_and_both_updates_survive(
    aws: AwsResources, existing_user: bool
) -> None:
    # given (optionally) a stored user, and another invocation that scores the same user between our
    # read and our write
    other = aws.scorer()
    if existing_user:
        run(other, kinesis_event([custom_event("u1", "_email.open", 0)], first_sequence=8000))

    def concurrent_write(actions: list[dict[str, Any]], attempt: int) -> None:
        if attempt == 1:
            run(other, kinesis_event([custom_event("u1", "_session.start", 1)], first_sequence=9000))

    base = aws.scorer()
    runtime = ScorerRuntime(base.config, FlakyDynamoDB(aws.dynamodb, on_transact=concurrent_write), aws.sqs)
    runtime.sleep = lambda _: None
    # when our batch is written
    response = run(runtime, kinesis_event([custom_event("u1", "_monetization.purchase", 2)]))
    # then the version condition failed once, we re-read and recomputed: every event counts
    assert failed_ids(response) == []
    item = aws.scores()["u1"]
    assert item["score"] == Decimal(102 + (10 if existing_user else 0))
    assert item["version"] == (3 if existing_user else 2)
    assert item["events_applied"] == (3 if existing_user else 2)


def test_persistent_throttling_returns_the_records_for_retry(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    def always_throttled(actions: list[dict[str, Any]], attempt: int) -> None:
        raise client_error("ProvisionedThroughputExceededException", "TransactWriteItems", 400)

    base = aws.scorer()
    flaky = FlakyDynamoDB(aws.dynamodb, on_transact=always_throttled)
    runtime = ScorerRuntime(base.config, flaky, aws.sqs, sleep=lambda _: None)
    batch = kinesis_event([custom_event("u1", "_email.click", 5), custom_event("u2", "_email.click", 5)])
    response = run(runtime, batch)
    assert sorted(failed_ids(response)) == ["1000", "1001"]
    assert aws.scores() == {}
    assert flaky.transact_attempts == 10  # bounded: one write attempt per user per round
    line = batch_line(capsys.readouterr().out)
    assert line["retryable_failures"] == 2


def test_the_invocation_stops_retrying_when_time_runs_out(aws: AwsResources) -> None:
    def always_conflict(actions: list[dict[str, Any]], attempt: int) -> None:
        raise client_error(
            "TransactionCanceledException",
            "TransactWriteItems",
            CancellationReasons=[{"Code": "TransactionConflict"}] * len(actions),
        )

    base = aws.scorer()
    flaky = FlakyDynamoDB(aws.dynamodb, on_transact=always_conflict)
    runtime = ScorerRuntime(base.config, flaky, aws.sqs, sleep=lambda _: None)
    response = run(
        runtime, kinesis_event([custom_event("u1", "_email.click", 5)]), FakeContext(remaining_ms=1000)
    )
    assert failed_ids(response) == ["1000"]
    assert flaky.transact_attempts == 1


def test_rejected_records_go_to_the_failure_queue_and_do_not_block_the_shard(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # given good records among undecodable and invalid ones
    batch = kinesis_event(
        [
            load_event("pinpoint/email_open.json"),
            "@@not-base64@@",
            base64.b64encode(b"\xff\xfe").decode(),
            encode(b"{broken json"),
            encode(b"[1, 2]"),
            {"hello": "world"},
            {"event_type": "_email.open", "event_timestamp": 1},
            base64.b64encode(b"x" * 100_000).decode(),
            load_event("pinpoint/sms_success.json"),
        ]
    )
    # when
    response = run(aws.scorer(), batch)
    # then the good records are scored, the others are not failures but queued with their reason
    assert failed_ids(response) == []
    assert scores(aws) == {TX_CLIENT: Decimal(10), SMS_CLIENT: Decimal(2)}
    messages = aws.queue_messages(aws.failure_queue_url)
    assert sorted((m["sequence_number"], m["reason"]) for m in messages) == [
        ("1001", "not_base64"),
        ("1002", "not_utf8"),
        ("1003", "not_json"),
        ("1004", "not_object"),
        ("1005", "unknown_format"),
        ("1006", "missing_client_id"),
        ("1007", "not_json"),
    ]
    for message in messages:
        assert message["shard_id"] == "shardId-000000000000"
        assert message["function"] == "scorer"
        assert (
            message["data_base64"]
            == batch["Records"][int(message["sequence_number"]) - 1000]["kinesis"]["data"]
        )
        assert message["truncated"] is False
    line = batch_line(capsys.readouterr().out)
    assert sum(line["rejected"].values()) == 7


def test_large_rejected_records_are_truncated_at_200_kb(aws: AwsResources) -> None:
    big = base64.b64encode(b"{" + b" " * 400_000).decode()
    run(aws.scorer(), kinesis_event([big]))
    (message,) = aws.queue_messages(aws.failure_queue_url)
    assert message["truncated"] is True
    assert len(message["data_base64"]) == 200 * 1024
    assert message["reason"] == "not_json"


def test_when_the_failure_queue_is_unreachable_rejected_records_are_retried(aws: AwsResources) -> None:
    runtime = aws.scorer(FAILURE_QUEUE_URL=aws.failure_queue_url + "-missing")
    response = run(runtime, kinesis_event([load_event("pinpoint/email_open.json"), "@@bad@@"]))
    assert failed_ids(response) == ["1001"]
    assert scores(aws) == {TX_CLIENT: Decimal(10)}


def test_once_per_message_counts_an_open_once_across_batches(aws: AwsResources) -> None:
    # given a once-per-message rule for opens
    aws.put_rule("_email.open", 10, once_per_message=True)
    first_open = load_event("pinpoint/email_open.json")
    second_open = load_event("pinpoint/email_open.json")
    second_open["event_timestamp"] += 5000  # another open of the same message (other bytes)
    runtime = aws.scorer()
    # when both opens arrive, in two batches, plus a replay
    run(runtime, kinesis_event([first_open]))
    run(runtime, kinesis_event([second_open, first_open], first_sequence=2000))
    # then the message counted once and its marker's digest is in the user's ring
    assert scores(aws) == {TX_CLIENT: Decimal(10)}
    marker = f"m#{TX_CLIENT}#_email.open#0100019350c1d2e3-1a2b3c4d-example-000000"
    assert digest(marker) in aws.dedupe_digests()[TX_CLIENT]


def test_decay_applies_event_time_whatever_the_arrival_order(aws: AwsResources) -> None:
    # given a 24-hour half-life and two events a day apart arriving newest first
    runtime = aws.scorer(DECAY_HALF_LIFE_HOURS="24")
    run(runtime, kinesis_event([custom_event("u1", "_monetization.purchase", 2 * 24 * HOUR_MS)]))
    run(runtime, kinesis_event([custom_event("u1", "_email.click", 24 * HOUR_MS)], first_sequence=2000))
    # then the older click is decayed by one half-life to the newest event time
    item = aws.scores()["u1"]
    assert item["score"] == Decimal("125")
    assert item["as_of"] == 2 * 24 * HOUR_MS
    assert item["channels"] == {"in_app": Decimal(100), "email": Decimal(25)}


def test_floor_ceiling_and_tiers_shape_the_stored_score(aws: AwsResources) -> None:
    runtime = aws.scorer(
        SCORE_FLOOR="0",
        SCORE_CEILING="100",
        TIERS=TIERS,
    )
    run(
        runtime,
        kinesis_event(
            [
                custom_event("bounced", "_email.hardbounce", 1),
                custom_event("buyer", "_monetization.purchase", 1),
                custom_event("buyer", "_monetization.purchase", 2),
                custom_event("clicker", "_email.click", 1),
            ]
        ),
    )
    items = aws.scores()
    assert (items["bounced"]["score"], items["bounced"]["raw_score"], items["bounced"]["tier"]) == (
        0,
        -1000,
        "cold",
    )
    assert (items["buyer"]["score"], items["buyer"]["raw_score"], items["buyer"]["tier"]) == (100, 200, "hot")
    assert (items["clicker"]["score"], items["clicker"]["tier"]) == (50, "warm")


def test_a_user_with_more_events_than_one_write_holds(aws: AwsResources) -> None:
    # given 250 new events of one user: writes of at most MAX_ENTRIES_PER_WRITE ring entries each
    events = [custom_event("heavy", "_email.click", i) for i in range(250)]
    response = run(aws.scorer(), kinesis_event(events))
    assert failed_ids(response) == []
    item = aws.scores()["heavy"]
    writes = -(-250 // MAX_ENTRIES_PER_WRITE)
    assert (item["score"], item["events_applied"], item["version"]) == (12500, 250, writes)
    # and every digest is kept: the newest in the ring, the rest in overflow buckets
    assert len(aws.dedupe_digests()["heavy"]) == 250
    # when the batch is delivered again, nothing counts twice
    assert failed_ids(run(aws.scorer(), kinesis_event(events))) == []
    assert aws.scores()["heavy"]["version"] == writes


def test_a_100_event_batch_of_distinct_users_costs_one_read_and_one_update_per_user(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = aws.scorer()
    run(runtime, kinesis_event([custom_event("warm-up", "_email.click", 1)], first_sequence=1))
    capsys.readouterr()
    run(runtime, kinesis_event([custom_event(f"user-{i}", "_email.click", 7) for i in range(100)]))
    calls = batch_line(capsys.readouterr().out)["aws_calls"]
    assert calls == {"BatchGetItem": 1, "UpdateItem": 100}


def test_rules_are_cached_and_reloaded_after_the_ttl(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a warm scorer whose rules were read at t=1000 s (no rule for webinar_attended yet)
    now = [1000.0]
    runtime = aws.scorer(RULES_CACHE_TTL_SECONDS="60")
    runtime.clock = lambda: now[0]
    run(runtime, kinesis_event([custom_event("u1", "webinar_attended", 1)]))
    first = batch_line(capsys.readouterr().out)
    # when a rule is added, a batch within the TTL uses the cache
    aws.put_rule("webinar_attended", 30)
    now[0] += 59
    run(runtime, kinesis_event([custom_event("u1", "webinar_attended", 2)]))
    second = batch_line(capsys.readouterr().out)
    # and a batch after the TTL reads the table again
    now[0] += 2
    run(runtime, kinesis_event([custom_event("u1", "webinar_attended", 3)]))
    third = batch_line(capsys.readouterr().out)
    # then
    assert first["aws_calls"].get("Scan") == 1 and first["skipped"] == {"no_rule": 1}
    assert "Scan" not in second["aws_calls"] and second["skipped"] == {"no_rule": 1}
    assert third["aws_calls"].get("Scan") == 1 and third["scored"] == 1
    assert scores(aws) == {"u1": Decimal(30)}


def test_rules_that_cannot_be_read_make_the_batch_retry(aws: AwsResources) -> None:
    runtime = aws.scorer(RULES_TABLE="no-such-table")
    response = run(runtime, kinesis_event([custom_event("u1", "_email.click", 1), "@@bad@@"]))
    assert failed_ids(response) == ["1000"]
    assert aws.scores() == {}


def test_an_unexpected_bug_for_one_user_fails_only_that_users_records(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engagement_scoring.pipeline import scorer as pipeline

    real = pipeline.plan_user_writes

    def broken_for_u2(user_key: str, *args: Any, **kwargs: Any) -> Any:
        if user_key == "u2":
            raise ZeroDivisionError("bug")
        return real(user_key, *args, **kwargs)

    monkeypatch.setattr(pipeline, "plan_user_writes", broken_for_u2)
    response = run(
        aws.scorer(), kinesis_event([custom_event(u, "_email.click", 1) for u in ("u1", "u2", "u3")])
    )
    assert failed_ids(response) == ["1001"]
    assert set(aws.scores()) == {"u1", "u3"}


def test_the_handler_builds_its_runtime_from_the_environment(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in aws.env(USER_KEY_MODE="endpoint_id").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(scorer_handler, "_runtime", None)
    response = scorer_handler.handler(
        kinesis_event([load_event("pinpoint/campaign_send.json")]), FakeContext()
    )
    assert failed_ids(response) == []
    assert scores(aws) == {"example-endpoint-1": Decimal(2)}
    assert batch_line(capsys.readouterr().out)["function"] == "scorer"


def test_a_bad_configuration_reports_the_whole_batch_instead_of_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("USER_KEY_MODE", "nonsense")
    monkeypatch.setattr(scorer_handler, "_runtime", None)
    response = scorer_handler.handler(kinesis_event([custom_event("u1", "_email.click", 1)]), FakeContext())
    assert failed_ids(response) == ["1000"]


@pytest.mark.parametrize(
    "event", [None, {}, {"Records": None}, {"Records": [None, 1, "x", {"kinesis": None}]}, []]
)
def test_malformed_lambda_events_do_not_raise(aws: AwsResources, event: Any) -> None:
    response = run(aws.scorer(), event)
    assert failed_ids(response) == []


def test_records_keep_their_json_bytes_as_identity(aws: AwsResources) -> None:
    # same meaning, different bytes: Pinpoint never re-serializes a record, so these are two events
    payload = custom_event("u1", "_email.click", 1)
    compact = json.dumps(payload, separators=(",", ":")).encode()
    spaced = json.dumps(payload).encode()
    run(aws.scorer(), kinesis_event([compact, spaced]))
    assert scores(aws) == {"u1": Decimal(100)}
