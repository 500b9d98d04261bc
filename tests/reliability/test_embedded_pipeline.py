"""Faults, duplicate deliveries, bad input and concurrency on the Terraform-deployed embedded cloud.

One deployment (apply of examples/local onto moto, ~75 s) serves every scenario of this file; each scenario
starts from empty tables and compares the outcome with the simulator's oracle. The functions reach moto
through a fault-injecting proxy (simulator/local_cloud/fault_proxy.py); the Pinpoint stand-in injects its
own 429/500 answers. See docs/reliability.md for the table of faults and attacks.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from engagement_scoring import redrive

from simulator.injection import MALFORMED_KINDS, malformed
from simulator.local_cloud.fault_proxy import DYNAMODB_THROTTLING, EVENTBRIDGE_OVERLOAD, Fault, FaultRule
from simulator.local_cloud.pinpoint_standin import FaultInjection
from simulator.local_cloud.workers import Invocation
from simulator.readback import read_scores
from tests.reliability.support import (
    E164,
    EMAIL,
    NATIONAL_PHONE,
    ReliabilityCloud,
    b64,
    owners_of,
    records_of,
    stats_delta,
)

pytestmark = pytest.mark.reliability

# The scorer's user write (layout v2: one conditional UpdateItem per user; TransactWriteItems only when a
# ring overflows, which these workloads' users never reach).
WRITE = "DynamoDB_20120810.UpdateItem"
LOST_RESPONSE = Fault(500, "InternalServerError", "Injected lost response", after_forward=True)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReliabilityCloud]:
    cloud = ReliabilityCloud(tmp_path_factory.mktemp("reliability-embedded"))
    try:
        cloud.start()
        yield cloud
    finally:
        cloud.close()


# ---------------------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------------------


def test_dynamodb_throttling_and_lost_responses_lose_nothing_and_count_nothing_twice(
    cloud: ReliabilityCloud,
) -> None:
    workload = cloud.workload(users=100, events=1000, seed=101, duplicate_rate=0.05)
    records = records_of(workload, kinds=("event", "duplicate"))

    def inject() -> None:
        cloud.proxy.set_rules(
            # Every fifth user write, in turn: committed with the response lost, throttled, throttled.
            FaultRule(WRITE, 0.2, (LOST_RESPONSE, *DYNAMODB_THROTTLING), even=True),
            # A fifth of every other DynamoDB call of the functions (Scan, BatchGetItem): throttled.
            FaultRule("DynamoDB_20120810.", 0.2, DYNAMODB_THROTTLING),
            seed=101,
        )

    outcome = cloud.run(records, owners=owners_of(workload), setup=inject)
    faults = cloud.proxy.snapshot()

    calls = sum(n for op, n in faults.calls.items() if op.startswith("DynamoDB_20120810."))
    injected = sum(faults.faults.values())
    assert calls >= 30 and 0.1 * calls <= injected <= 0.3 * calls, (calls, faults.faults)
    kinds = {key.split(" ", 1)[1] for key in faults.faults}
    assert any("ThrottlingException" in kind for kind in kinds), kinds
    assert any("ProvisionedThroughputExceededException" in kind for kind in kinds), kinds
    assert any(key.startswith(WRITE) and "InternalServerError" in key for key in faults.faults), faults
    outcome.assert_matches_oracle()
    assert outcome.expectation.duplicates > 0  # the producer's re-sent bytes were in the stream


def test_pinpoint_and_eventbridge_answering_429_and_5xx_still_reach_every_user(
    cloud: ReliabilityCloud,
) -> None:
    workload = cloud.workload(users=100, events=800, seed=202)
    records = records_of(workload)
    assert cloud.deployment is not None and cloud.deployment.pinpoint is not None
    standin = cloud.deployment.pinpoint

    def inject() -> None:
        standin.set_faults(FaultInjection(rate=0.2, statuses=(429, 500), seed=202))
        # Exactly every fifth PutEvents fails (429, 500, 503, failed entries in turn).
        cloud.proxy.set_rules(
            FaultRule("AWSEvents.PutEvents", 0.2, EVENTBRIDGE_OVERLOAD, even=True), seed=202
        )

    outcome = cloud.run(records, owners=owners_of(workload), setup=inject)
    pinpoint_calls = standin.calls["UpdateEndpointsBatch"]
    pinpoint_faults = standin.faults_injected["UpdateEndpointsBatch"]
    eventbridge = cloud.proxy.snapshot()

    assert pinpoint_calls >= 5 and pinpoint_faults >= 1, (pinpoint_faults, pinpoint_calls)
    eventbridge_calls = eventbridge.calls["AWSEvents.PutEvents"]
    statuses = {key.split(" ")[1] for key in eventbridge.faults}
    assert eventbridge_calls >= 20, eventbridge
    assert abs(sum(eventbridge.faults.values()) - 0.2 * eventbridge_calls) <= 1, eventbridge
    assert {"429", "500", "503", "200"} <= statuses, eventbridge.faults
    outcome.assert_matches_oracle()


def test_a_worker_killed_in_the_middle_of_a_batch_loses_and_doubles_nothing(cloud: ReliabilityCloud) -> None:
    workload = cloud.workload(users=100, events=800, seed=303)
    records = records_of(workload)
    scorer = str(cloud.outputs["scorer_function_name"])
    writes = 0
    killed: list[tuple[int, str, int]] = []
    lock = threading.Lock()

    def kill_scorer_workers(moment: str) -> None:
        for pid in cloud.runner.worker_pids(scorer):
            os.kill(pid, signal.SIGKILL)
            killed.append((writes, moment, pid))

    def before_forward(operation: str) -> None:
        nonlocal writes
        if operation != WRITE:
            return
        with lock:
            writes += 1
            if writes == 8:  # the write never reaches DynamoDB
                kill_scorer_workers("before commit")

    def after_forward(operation: str) -> None:
        if operation != WRITE:
            return
        with lock:
            if writes in (2, 5):  # committed, but the worker dies before it hears so
                kill_scorer_workers("after commit")

    def arm() -> None:
        cloud.proxy.on_request, cloud.proxy.on_response = before_forward, after_forward

    outcome = cloud.run(records, owners=owners_of(workload), setup=arm)

    moments = {moment for _, moment, _ in killed}
    assert moments == {"before commit", "after commit"}, killed
    # Each kill failed the invocation in flight (Runtime.ExitError); the runner retried the batch.
    assert outcome.runner("function_errors") >= 3, outcome.stats
    assert outcome.runner("retries") >= 3, outcome.stats
    outcome.assert_matches_oracle()


# ---------------------------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------------------------


def test_every_batch_delivered_twice_counts_once(cloud: ReliabilityCloud) -> None:
    workload = cloud.workload(users=80, events=400, seed=404)
    records = records_of(workload)
    original = cloud.runner.settings
    cloud.runner.settings = dataclasses.replace(original, duplicate_deliveries=1)
    try:
        outcome = cloud.run(records, owners=owners_of(workload))
    finally:
        cloud.runner.settings = original

    assert outcome.runner("duplicate_deliveries") >= len(records) // 100
    outcome.assert_matches_oracle()
    # The first delivery of each batch scored its events, the second found every one in its user's ring.
    assert outcome.scorer("scored") == outcome.expectation.counted
    assert outcome.scorer("duplicates_suppressed") >= outcome.expectation.counted


def test_content_resent_under_new_sequence_numbers_counts_once(cloud: ReliabilityCloud) -> None:
    workload = cloud.workload(users=80, events=400, seed=505)
    records = records_of(workload)
    rng = random.Random(505)
    # The same bytes again, in another order and under other partition keys (so on other shards, processed
    # concurrently with the originals), while the first copy is still being scored.
    resent = [(f"resend-{rng.randrange(10**6)}", data) for _, data in records]
    rng.shuffle(resent)

    outcome = cloud.run(
        records,
        oracle_records=[d for _, d in records] + [d for _, d in resent],
        owners=owners_of(workload),
        between=lambda: cloud.send(resent),
    )

    # Every counted event's second copy is a duplicate; a copy of an event without a rule is skipped again
    # (the oracle counts skips per arrival since the successor formats landed).
    assert outcome.expectation.counted > len(records) // 3
    assert outcome.expectation.duplicates == outcome.expectation.counted
    outcome.assert_matches_oracle()
    assert outcome.scorer("scored") == outcome.expectation.counted
    # Every counted event's second copy was recognized (events without a rule are skipped twice instead).
    assert outcome.scorer("duplicates_suppressed") == outcome.expectation.counted


def test_interleaved_shards_and_parallel_lanes_lose_no_update(
    cloud: ReliabilityCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Few users, each user's events on every shard and lane: concurrent writers of the same users."""
    workload = cloud.workload(users=10, events=600, seed=606)
    rng = random.Random(606)
    records = [(uuid.UUID(int=rng.getrandbits(128)).hex, data) for _, data in records_of(workload)]
    scorer_arn = str(cloud.outputs["scorer_function_arn"])
    calls: list[tuple[str, float, float]] = []
    invoke = cloud.runner.invoke

    def recording_invoke(function_arn: str, event: dict[str, Any]) -> Invocation:
        started = time.monotonic()
        invocation: Invocation = invoke(function_arn, event)
        if function_arn == scorer_arn:
            shards = {str(r["eventID"]).split(":", 1)[0] for r in event["Records"]}
            calls.append((",".join(sorted(shards)), started, time.monotonic()))
        return invocation

    monkeypatch.setattr(cloud.runner, "invoke", recording_invoke)
    kinesis = cloud.client("kinesis")
    shards = kinesis.list_shards(StreamName=cloud.outputs["stream_name"])["Shards"]

    outcome = cloud.run(records, owners=owners_of(workload))

    order = [shard for shard, _, _ in sorted(calls, key=lambda call: call[1])]
    # Most scorer invocations in flight at one moment (a sweep over start and end times).
    moments = sorted([(start, 1) for _, start, _ in calls] + [(end, -1) for _, _, end in calls])
    concurrency = max(itertools.accumulate(step for _, step in moments))
    assert len(shards) >= 2 and len(set(order)) >= 2, (shards, order)
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches >= 3, order  # batches of different shards alternate
    assert concurrency >= 2, calls  # and lanes ran at the same time
    # The version condition caught concurrent writers of the same users, and the retries recovered.
    assert outcome.scorer("transaction_retries") >= 1, outcome.stats
    outcome.assert_matches_oracle()
    assert outcome.scorer("scored") == outcome.expectation.counted


# ---------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------


def bad_records(good: list[bytes], rng: random.Random) -> list[tuple[str, bytes, str]]:
    """(kind, bytes, reason the engine must give) for every kind of record that can never be scored."""
    reasons = {
        "not_json": "not_json",
        "binary": "not_utf8",
        "empty": "missing_data",
        "truncated_json": "not_json",
        "json_array": "not_object",
        "json_scalar": "not_object",
        "missing_event_type": "missing_event_type",
        "missing_client": "missing_client_id",
        "wrong_types": "missing_event_type",
        "unknown_schema_version": "unsupported_schema",
    }
    assert set(reasons) == set(MALFORMED_KINDS)
    out = [(kind, malformed(kind, rng.choice(good), rng), reasons[kind]) for kind in MALFORMED_KINDS]
    base = json.loads(rng.choice(good))
    custom = {"schema": "engagement.event/1", "event_type": "webinar_attended", "timestamp": 1761955200000}
    out += [
        # 1 MB: an event type of a million characters (a record Kinesis still accepts)
        ("1mb_payload", json.dumps({**base, "event_type": "x" * 1_000_000}).encode(), "field_too_long"),
        ("deeply_nested", b"[" * 100_000 + b"]" * 100_000, "not_json"),
        ("nan_timestamp", json.dumps({**base, "event_timestamp": float("nan")}).encode(), "bad_timestamp"),
        ("string_timestamp", json.dumps({**base, "event_timestamp": "yesterday"}).encode(), "bad_timestamp"),
        ("unknown_format", b'{"hello": "world", "email": "jane.doe@example.com"}', "unknown_format"),
        ("custom_without_user", json.dumps(custom).encode(), "missing_user_key"),
        (
            "custom_bad_channel",
            json.dumps({**custom, "user_key": "u-1", "channel": "fax"}).encode(),
            "bad_channel",
        ),
        ("pii_text", b"to=jane.doe@example.com phone=+14155550123", "not_json"),
    ]
    return out


def test_malformed_records_go_to_the_failure_queue_with_their_reason_and_the_shard_never_stalls(
    cloud: ReliabilityCloud,
) -> None:
    workload = cloud.workload(users=30, events=120, seed=707)
    good = [data for _, data in records_of(workload)]
    rng = random.Random(707)
    bad = bad_records(good, rng)
    # One partition key: everything on one shard and one lane, bad records between good ones, good last.
    stream: list[tuple[str | None, bytes]] = [(None, data) for data in good]
    for bad_kind, bad_data, _ in bad:
        stream.insert(rng.randrange(1, len(stream) - 1), (bad_kind, bad_data))

    before = cloud.begin()
    sequence_numbers = cloud.put_in_order("bad-input", [data for _, data in stream])
    outcome = cloud.finish(good, owners_of(workload), before)

    by_sequence = {m["sequence_number"]: m for m in outcome.failure_messages}
    assert len(outcome.failure_messages) == len(bad), [m["reason"] for m in outcome.failure_messages]
    expected_reason = {kind: reason for kind, _, reason in bad}
    for (kind, data), sequence_number in zip(stream, sequence_numbers, strict=True):
        if kind is None:
            assert sequence_number not in by_sequence
            continue
        message = by_sequence.get(sequence_number)
        assert message is not None, f"{kind} did not reach the failure queue"
        assert message["reason"] == expected_reason[kind], (kind, message["reason"])
        assert message["function"] == "scorer" and message["shard_id"]
        encoded = b64(data)
        assert message["truncated"] is (len(encoded) > 200 * 1024), kind
        assert encoded.startswith(message["data_base64"]) and len(message["data_base64"]) <= 200 * 1024, kind
        if not message["truncated"]:
            assert base64.b64decode(message["data_base64"]) == data, kind
    rejected = outcome.stats["scorer"]["rejected"]
    assert sum(rejected.values()) == len(bad), rejected
    # The shard never stalled: no retry, no discarded batch, every good record (the last one too) scored.
    assert outcome.runner("retries") == 0 and outcome.runner("function_errors") == 0, outcome.stats
    assert stream[-1][0] is None
    outcome.assert_matches_oracle()
    assert outcome.scorer("scored") == outcome.expectation.counted


# ---------------------------------------------------------------------------------------------------------
# Privacy: no address or phone number in any log line
# ---------------------------------------------------------------------------------------------------------


def test_no_email_address_or_phone_number_in_any_log_line(cloud: ReliabilityCloud) -> None:
    workload = cloud.workload(users=50, events=400, seed=808, malformed_rate=0.05)
    records = [(key, data) for key, data in ((r.partition_key, r.data) for r in workload.records)]
    # Users whose key *is* an address or a phone number (custom events), and rejected records full of them.
    pii_users = ["jane.doe@example.com", "+14155550123", "+447700900123", "(415) 555-0199"]
    for i, user_key in enumerate(pii_users):
        event = {
            "schema": "engagement.event/1",
            "event_type": "_email.click",
            "user_key": user_key,
            "timestamp": 1761955200000 + i,
            "message_id": f"{user_key}-message",
        }
        records.append((user_key, json.dumps(event).encode()))
        records.append((user_key, f"contact {user_key} now".encode()))  # not JSON: rejected
    sent = b"\n".join(data for _, data in records).decode("utf-8", "replace")
    emails = set(EMAIL.findall(sent))
    phones = set(E164.findall(sent))
    assert len(emails) >= 20 and len(phones) >= 10, (len(emails), len(phones))  # the test has teeth

    outcome = cloud.run(records, owners=owners_of(workload))
    assert outcome.scorer("scored") > 0 and outcome.stats["scorer"]["rejected"]

    logs = cloud.handler_logs() + "\n".join(cloud.log_lines)
    assert logs.count('"message": "batch scored"') + logs.count('"message":"batch scored"') > 0
    assert EMAIL.findall(logs) == []
    assert E164.findall(logs) == []
    assert NATIONAL_PHONE.findall(logs) == []
    digits = {re.sub(r"\D", "", phone) for phone in phones | {"(415) 555-0199"}}
    leaked = [d for d in digits if re.search(rf"(?<!\d){d}(?!\d)", logs)]
    assert leaked == []
    assert [address for address in emails | set(pii_users[:1]) if address in logs] == []


# ---------------------------------------------------------------------------------------------------------
# Redrive (make redrive, engagement_scoring/redrive.py)
# ---------------------------------------------------------------------------------------------------------

# What DynamoDB answers when a user's item would outgrow 400 KB: not retryable, so every try of the batch
# fails for that user until someone fixes the cause.
ITEM_TOO_LARGE = Fault(
    400,
    "com.amazonaws.dynamodb.v20120810#ValidationException",
    "Item size to update has exceeded the maximum allowed size",
)


def _visible_messages(cloud: ReliabilityCloud) -> int:
    attributes = cloud.client("sqs").get_queue_attributes(
        QueueUrl=cloud.outputs["failure_queue_url"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0", attributes
    return int(attributes["ApproximateNumberOfMessages"])


def test_a_batch_given_up_on_is_redriven_after_the_fix_and_counted_exactly_once(
    cloud: ReliabilityCloud,
) -> None:
    workload = cloud.workload(users=30, events=150, seed=909)
    good = [data for _, data in records_of(workload)]
    poison_user = "poison-user-909"
    poison = json.dumps(
        {
            "schema": "engagement.event/1",
            "event_type": "_email.click",
            "user_key": poison_user,
            "timestamp": int(time.time() * 1000) - 60_000,
            "message_id": "poison-message-909",
        }
    ).encode()
    middle = len(good) // 2
    stream = [*good[:middle], poison, *good[middle:]]
    refuse_poison = FaultRule(WRITE, 1.0, (ITEM_TOO_LARGE,), body_contains=f'"{poison_user}"'.encode())

    # Given: the poison user's writes are refused on every try, so its batch exhausts the mapping's retries
    # and goes to the failure queue (one shard, one lane: the records are delivered in this order).
    before = cloud.begin(lambda: cloud.proxy.set_rules(refuse_poison))
    sequence_numbers = cloud.put_in_order("redrive", stream)
    cloud.drain()
    given_up = stats_delta(before, cloud.runner.pipeline_stats())
    messages = given_up["runner"].get("on_failure_messages", 0)
    assert messages >= 1 and given_up["runner"].get("records_discarded", 0) >= 1, given_up
    assert _visible_messages(cloud) == messages
    scores_table = cloud.outputs["user_scores_table_name"]
    assert poison_user not in read_scores(cloud.client("dynamodb"), scores_table)

    sqs, kinesis = cloud.client("sqs"), cloud.client("kinesis")
    queue_url = cloud.outputs["failure_queue_url"]

    # When: a dry run. Then: it finds the batch holding the poison record (with the users that shared its
    # transaction) and changes nothing.
    dry, plan = redrive.redrive(sqs, kinesis, queue_url, wait_s=0)
    assert dry.messages_by_kind == {redrive.BATCH: messages}
    ranges = [p.message.range for p in plan.messages if p.message.range is not None]
    assert any(failed.contains(sequence_numbers[middle]) for failed in ranges), ranges
    assert dry.records_found >= 1 and dry.records_lost == [] and dry.records_put == 0
    records_read = cloud.runner.pipeline_stats()["runner"].get("records_read", 0)
    cloud.drain()
    assert cloud.runner.pipeline_stats()["runner"].get("records_read", 0) == records_read  # nothing put
    assert _visible_messages(cloud) == messages
    assert poison_user not in read_scores(cloud.client("dynamodb"), scores_table)

    # When: the cause is fixed, then a redrive that stops after its PutRecords (its messages not deleted),
    # then redrive --apply, which puts the same records a second time and deletes the messages.
    cloud.proxy.set_rules()
    assert len(redrive.put_records(kinesis, plan.records)) == len(plan.records)
    cloud.drain()
    applied, _ = redrive.redrive(sqs, kinesis, queue_url, apply=True, wait_s=0)
    assert applied.records_put == dry.records_found and applied.records_not_accepted == []
    assert applied.messages_deleted == messages and applied.messages_kept == {}
    cloud.drain()

    # Then: every event counted exactly once (the second copies were suppressed by the exactly-once keys),
    # the poison user included, and the queue is empty.
    outcome = cloud.verify(stream, owners_of(workload), stats_delta(before, cloud.runner.pipeline_stats()))
    assert outcome.mismatches == [], [m.to_json() for m in outcome.mismatches[:10]]
    assert poison_user in outcome.expectation.users
    assert outcome.dedupe_digests == outcome.expectation.counted and outcome.ledger_other_items == 0
    assert outcome.scorer("scored") == outcome.expectation.counted
    assert outcome.scorer("duplicates_suppressed") >= 1
    assert outcome.pinpoint.mismatches == 0 and outcome.eventbridge.mismatches == 0
    assert outcome.failure_messages == []
