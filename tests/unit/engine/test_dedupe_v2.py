"""Exactly-once with the user item layout v2: the dedupe ring `dk`, overflow into `processed_events`
buckets, eventually consistent reads guarded by the version condition (docs/architecture.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.core.dedupe import (
    BUCKET_DIGESTS,
    DAY_MS,
    ENTRY_BYTES,
    RING_CAPACITY,
    DirectoryEntry,
    add_entries,
    bucket_base,
    buckets_to_read,
    content_entry,
    once_entry,
    ring_digests,
    ring_entries,
)
from engagement_scoring.core.keys import digest
from engagement_scoring.pipeline import scorer
from engagement_scoring.pipeline.scorer import ScorerRuntime
from engine_support import (
    LEDGER_TABLE,
    SCORES_TABLE,
    AwsResources,
    FakeContext,
    FlakyDynamoDB,
    batch_line,
    custom_event,
    failed_ids,
    kinesis_event,
)

from benchmarks.capacity import item_size

DAY_2026_12_03 = 20_790  # days since 1970-01-01
T0 = DAY_2026_12_03 * DAY_MS
# The scorer tests' events: well in the past (events ahead of the clock are rejected), 2026-09-04.
PAST = (DAY_2026_12_03 - 90) * DAY_MS


# ---- the pure ring -----------------------------------------------------------------------------


def test_an_entry_is_a_digest_and_where_it_goes_when_evicted() -> None:
    entry = content_entry("e#abc", T0 + 5)
    assert len(entry) == ENTRY_BYTES and entry[:8] == digest("e#abc")
    assert bucket_base(entry) == "2026-12-03"
    once = once_entry("m#u#_email.open#m1")
    assert once[:8] == digest("m#u#_email.open#m1")
    assert bucket_base(once) == f"m{once[0] % 8}"
    # event times outside the 2-byte day range are clamped, the same way for writes and lookups
    assert bucket_base(content_entry("e#x", -1)) == "1970-01-01"


def test_a_full_ring_evicts_its_oldest_entries_into_their_day_buckets_down_to_half() -> None:
    stored = b"".join(content_entry(f"e#{n}", T0 + n * DAY_MS // 4) for n in range(RING_CAPACITY))
    # a ring that still has room takes new entries without evicting
    room = add_entries(stored[ENTRY_BYTES:], {}, [content_entry("e#new-0", T0)], 1000, 100, 500)
    assert (len(ring_entries(room.ring)), room.evicted) == (RING_CAPACITY, {})
    # when a write passes the capacity, the ring keeps its newest half and the rest leaves in bulk
    new = [content_entry("e#new-1", T0), content_entry("e#new-2", T0 + 3 * DAY_MS)]
    update = add_entries(stored, {}, new, now_s=1000, content_ttl_s=100, once_ttl_s=500)
    half = RING_CAPACITY // 2
    assert ring_entries(update.ring) == (ring_entries(stored) + new)[-half:]
    evicted = RING_CAPACITY + 2 - half  # entries 0 .. 21: days 2026-12-03 .. 2026-12-08
    by_day: dict[str, list[bytes]] = {}
    for n in range(evicted):
        by_day.setdefault(bucket_base(content_entry("e#", T0 + n * DAY_MS // 4)), []).append(digest(f"e#{n}"))
    assert update.evicted == {day: (digests, 1100) for day, digests in by_day.items()}
    assert update.directory == {day: DirectoryEntry(len(digests), 1100) for day, digests in by_day.items()}


def test_a_full_bucket_rolls_over_to_a_new_chunk_and_expired_buckets_leave_the_directory() -> None:
    listed = {
        "2026-12-03": DirectoryEntry(BUCKET_DIGESTS, 5000),
        "2026-11-01": DirectoryEntry(3, 999),  # expired at now_s = 1000
    }
    ring = b"".join(content_entry(f"e#{n}", T0) for n in range(2))
    update = add_entries(ring, listed, [], now_s=1000, content_ttl_s=100, once_ttl_s=500, capacity=0)
    assert update.ring == b""
    assert set(update.evicted) == {"2026-12-03.1"}
    assert update.directory == {
        "2026-12-03": DirectoryEntry(BUCKET_DIGESTS, 5000),
        "2026-12-03.1": DirectoryEntry(2, 1100),
    }
    # a lookup reads every unexpired chunk of the entry's family, nothing else
    lookup = buckets_to_read([content_entry("e#other", T0)], {**listed, **update.directory}, 1000)
    assert sorted(lookup) == ["2026-12-03", "2026-12-03.1"]
    assert buckets_to_read([content_entry("e#late", T0 + DAY_MS)], update.directory, 1000) == []


def test_once_digests_go_to_eight_buckets_by_digest_with_their_own_ttl() -> None:
    entries = [once_entry(f"m#u#_email.open#m{n}") for n in range(50)]
    update = add_entries(b"", {}, entries, now_s=10, content_ttl_s=100, once_ttl_s=500, capacity=10)
    assert {suffix for suffix in update.evicted} <= {f"m{n}" for n in range(8)}
    assert all(expires_at == 510 for _, expires_at in update.evicted.values())
    assert sum(len(digests) for digests, _ in update.evicted.values()) == 45
    assert ring_digests(update.ring) == {entry[:8] for entry in entries[45:]}


# ---- the scorer on moto ------------------------------------------------------------------------


class RecordingDynamoDB(FlakyDynamoDB):
    """Records every BatchGetItem (table, ConsistentRead) and every write call; `stale_scores` (user ->
    item) answers eventually consistent reads of the scores table with an older item, as a lagging
    replica may."""

    def __init__(self, client: Any, **hooks: Any) -> None:
        super().__init__(client, **hooks)
        self.reads: list[tuple[str, bool]] = []
        self.writes: list[str] = []
        self.stale_scores: dict[str, dict[str, Any]] = {}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        for table, request in RequestItems.items():
            self.reads.append((table, bool(request.get("ConsistentRead"))))
        response = self._client.batch_get_item(RequestItems=RequestItems)
        request = RequestItems.get(SCORES_TABLE)
        if request is not None and not request.get("ConsistentRead") and self.stale_scores:
            items = response["Responses"][SCORES_TABLE]
            response["Responses"][SCORES_TABLE] = [
                self.stale_scores.get(item["user_key"]["S"], item) for item in items
            ]
        return response

    def update_item(self, **request: Any) -> Any:
        self.writes.append("UpdateItem")
        return super().update_item(**request)

    def transact_write_items(self, **request: Any) -> Any:
        self.writes.append("TransactWriteItems")
        return super().transact_write_items(**request)


def recording_runtime(
    aws: AwsResources, env: dict[str, str] | None = None, **hooks: Any
) -> tuple[ScorerRuntime, RecordingDynamoDB]:
    client = RecordingDynamoDB(aws.dynamodb, **hooks)
    config = aws.scorer(**(env or {})).config
    return ScorerRuntime(config, client, aws.sqs, sleep=lambda _: None), client


def score(runtime: ScorerRuntime, events: list[dict[str, Any]], first: int = 1000) -> dict[str, Any]:
    return scorer.process_batch(kinesis_event(events, first_sequence=first), runtime, FakeContext())


def clicks(user: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    """`count` clicks of one user, a quarter of a day apart (so they span several day buckets)."""
    return [custom_event(user, "_email.click", PAST + n * DAY_MS // 4) for n in range(start, start + count)]


def raw_item(aws: AwsResources, user: str) -> dict[str, Any]:
    return aws.dynamodb.get_item(TableName=SCORES_TABLE, Key={"user_key": {"S": user}}, ConsistentRead=True)[
        "Item"
    ]


def test_a_replayed_batch_is_caught_by_the_ring_with_one_eventually_consistent_read(
    aws: AwsResources,
) -> None:
    runtime, client = recording_runtime(aws)
    batch = clicks("u", 5)
    assert failed_ids(score(runtime, batch)) == []
    client.reads.clear()
    client.writes.clear()
    # when Lambda redelivers the whole batch
    assert failed_ids(score(runtime, batch)) == []
    # then the ring caught every event: one eventually consistent read, no write
    assert client.reads == [(SCORES_TABLE, False)]
    assert client.writes == []
    assert aws.scores()["u"]["score"] == 250 and aws.scores()["u"]["version"] == 1


def test_ring_overflow_writes_buckets_and_an_evicted_duplicate_is_still_caught(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a user with more events than the ring holds
    runtime, client = recording_runtime(aws)
    first = clicks("u", RING_CAPACITY + 20)
    assert failed_ids(score(runtime, first)) == []
    # then (two writes: 40 entries, then 20) the second write's eviction left the newest half of the
    # ring and moved the oldest 40 digests into day buckets in the same transaction
    assert client.writes == ["UpdateItem", "TransactWriteItems"]
    item = raw_item(aws, "u")
    assert len(item["dk"]["B"]) == RING_CAPACITY // 2 * ENTRY_BYTES
    assert set(item["dd"]["M"]) == {f"2026-09-{day:02}" for day in range(4, 14)}
    assert len(aws.dedupe_digests()["u"]) == RING_CAPACITY + 20
    buckets = aws.ledger_keys()
    assert buckets == {f"b#u#2026-09-{day:02}" for day in range(4, 14)}
    capsys.readouterr()
    client.reads.clear()
    # when evicted events are re-sent (new sequence numbers) beside one new event
    again = first[:5] + clicks("u", 1, start=RING_CAPACITY + 20)
    assert failed_ids(score(runtime, again, first=5000)) == []
    # then only the new event counts: the evicted ones were found in their strongly read bucket
    line = batch_line(capsys.readouterr().out)
    assert (line["scored"], line["duplicates_suppressed"]) == (1, 5)
    assert (LEDGER_TABLE, True) in client.reads
    assert aws.scores()["u"]["events_applied"] == RING_CAPACITY + 21


def test_a_whole_batch_redelivered_after_overflow_counts_once(aws: AwsResources) -> None:
    runtime, _ = recording_runtime(aws)
    batch = clicks("u", 2 * RING_CAPACITY + 30)
    assert failed_ids(score(runtime, batch)) == []
    version = aws.scores()["u"]["version"]
    assert failed_ids(score(runtime, batch)) == []
    item = aws.scores()["u"]
    assert (item["events_applied"], item["score"], item["version"]) == (
        2 * RING_CAPACITY + 30,
        50 * (2 * RING_CAPACITY + 30),
        version,
    )


def test_once_per_message_holds_across_overflow(aws: AwsResources) -> None:
    # given a once-per-message open, then enough clicks to push its marker out of the ring
    aws.put_rule("_email.open", 10, once_per_message=True)
    runtime, _ = recording_runtime(aws)
    first_open = custom_event("u", "_email.open", PAST, message_id="msg-1")
    assert failed_ids(score(runtime, [first_open])) == []
    assert failed_ids(score(runtime, clicks("u", RING_CAPACITY + 5, start=1), first=2000)) == []
    marker = digest("m#u#_email.open#msg-1")
    assert marker not in ring_digests(raw_item(aws, "u")["dk"]["B"])
    assert marker in aws.dedupe_digests()["u"]
    # when another open of the same message arrives (other bytes)
    second_open = custom_event("u", "_email.open", PAST + 60_000, message_id="msg-1")
    response = score(runtime, [second_open], first=3000)
    # then it does not count again
    assert failed_ids(response) == []
    assert aws.scores()["u"]["score"] == 10 + 50 * (RING_CAPACITY + 5)


def test_two_concurrent_batches_for_one_user_retry_strongly_consistent_and_count_once(
    aws: AwsResources,
) -> None:
    # given another invocation that scores the same user between our read and our write
    other = aws.scorer()
    score(other, clicks("u", 1), first=100)

    def concurrent(actions: list[dict[str, Any]], attempt: int) -> None:
        if attempt == 1:
            score(other, [custom_event("u", "_session.start", PAST + 7)], first=9000)

    runtime, client = recording_runtime(aws, on_transact=concurrent)
    client.reads.clear()
    # when our batch (which also carries the other's first event again) is written
    response = score(runtime, [*clicks("u", 1), custom_event("u", "_monetization.purchase", PAST + 9)])
    # then our write failed its version condition, the retry round read strongly consistent, and
    # every event counts once
    assert failed_ids(response) == []
    assert client.reads[0] == (SCORES_TABLE, False)
    assert (SCORES_TABLE, True) in client.reads[1:]
    item = aws.scores()["u"]
    assert (item["score"], item["events_applied"], item["version"]) == (Decimal(152), 3, 3)


def test_a_stale_eventually_consistent_read_cannot_double_count(aws: AwsResources) -> None:
    # given a user scored twice, and a replica that still answers with the item of the first write
    runtime, client = recording_runtime(aws)
    score(runtime, clicks("u", 1))
    stale = raw_item(aws, "u")
    second = clicks("u", 2, start=1)
    score(runtime, second, first=2000)
    client.stale_scores = {"u": stale}
    client.reads.clear()
    # when the second batch is redelivered and the first read is the stale item (its ring lacks the
    # second batch's digests)
    response = score(runtime, second, first=2000)
    # then the write conditioned on the stale version fails, the strongly consistent re-read finds the
    # digests, and nothing counts twice
    assert failed_ids(response) == []
    assert client.reads == [(SCORES_TABLE, False), (SCORES_TABLE, True)]
    item = aws.scores()["u"]
    assert (item["score"], item["events_applied"], item["version"]) == (150, 3, 2)


def test_a_typical_user_item_stays_under_1_kb(aws: AwsResources) -> None:
    # given a user with a full ring, endpoint ids, channels and a tier
    tiers = '[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 50}]'
    runtime, _ = recording_runtime(aws, {"TIERS": tiers})
    events = [
        custom_event("user-7f3a9c2e", "_email.click", PAST + n * 1000, channel="email")
        for n in range(RING_CAPACITY)
    ]
    assert failed_ids(score(runtime, events)) == []
    item = raw_item(aws, "user-7f3a9c2e")
    # DynamoDB's item size by AWS's rules (B6's calculator, tested against AWS's worked examples)
    assert len(item["dk"]["B"]) == RING_CAPACITY * ENTRY_BYTES
    assert item_size(item) <= 1024


def test_a_dense_user_costs_one_transaction_per_half_ring_of_new_digests(aws: AwsResources) -> None:
    # given a user with 5 new clicks in each of 20 batches (100 digests: the ring overflows often)
    runtime, client = recording_runtime(aws)
    for batch in range(20):
        assert failed_ids(score(runtime, clicks("u", 5, start=5 * batch), first=1000 * (batch + 1))) == []
    # then one write per batch, and a transaction only when the ring passes its capacity: after
    # batch 9 (45 entries) it keeps 20, so batches 14 and 19 evict again (one write per batch would
    # evict on each of batches 9 to 20: 12 transactions)
    assert len(client.writes) == 20
    assert client.writes.count("TransactWriteItems") == 3
    assert len(aws.dedupe_digests()["u"]) == 100
    # and exactly once holds: all 100 events re-sent at once count nothing
    assert failed_ids(score(runtime, clicks("u", 100), first=90_000)) == []
    item = aws.scores()["u"]
    assert (item["events_applied"], item["score"], item["version"]) == (100, 5000, 20)
