"""The decay refresher on moto: the scorer's due time, the refresher's decayed write reaching the sinks,
idempotence, parallel runs and races with the scorer (no lost update), and the index shards.

Half-life 24 h, one 100-point event at T0: raw(T0 + h hours) = 100 * 2 ** (-h / 24).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.core.due import DUE_SHARDS, due_shard
from engagement_scoring.core.model import ScoringModel, UserState, decay_to
from engagement_scoring.handlers import refresher as refresher_handler
from engagement_scoring.pipeline.refresher import (
    RefresherConfig,
    RefresherRuntime,
    RefreshStats,
    event_now,
    run,
)
from engagement_scoring.pipeline.score_sync import SyncRuntime, process_stream_batch
from engagement_scoring.pipeline.scorer import process_batch
from engine_support import SCORES_TABLE, AwsResources, FakeContext, custom_event, kinesis_event, log_lines

D = Decimal
T0_S = 1_767_225_600  # 2026-01-01T00:00:00Z
T0 = T0_S * 1000
HOUR_S = 3600
TIERS = (
    '[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 40}, {"name": "hot", "min_score": 80}]'
)
DECAY = {"DECAY_HALF_LIFE_HOURS": "24", "TIERS": TIERS}


@pytest.fixture
def due_aws(aws: AwsResources) -> Iterator[AwsResources]:
    """The contract's tables plus the sparse `due` index (keys only) on user_scores, and a 100-point rule."""
    aws.dynamodb.update_table(
        TableName=SCORES_TABLE,
        AttributeDefinitions=[
            {"AttributeName": "due_sh", "AttributeType": "S"},
            {"AttributeName": "due_at", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexUpdates=[
            {
                "Create": {
                    "IndexName": "due",
                    "KeySchema": [
                        {"AttributeName": "due_sh", "KeyType": "HASH"},
                        {"AttributeName": "due_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            }
        ],
    )
    aws.put_rule("webinar_attended", 100)
    yield aws


def refresher(aws: AwsResources, client: Any = None, **env: str) -> RefresherRuntime:
    config = RefresherConfig.from_env(aws.env(**DECAY, **env))
    return RefresherRuntime(config, client or aws.dynamodb, sleep=lambda _: None)


def score(aws: AwsResources, events: list[tuple[str, int]], **env: str) -> None:
    payloads = [custom_event(user, "webinar_attended", at) for user, at in events]
    response = process_batch(kinesis_event(payloads), aws.scorer(**DECAY, **env), FakeContext())
    assert response == {"batchItemFailures": []}


def test_the_scorer_sets_the_due_time_and_shard_only_with_decay(due_aws: AwsResources) -> None:
    score(due_aws, [("u-1", T0)])
    item = due_aws.scores()["u-1"]
    # threshold 0: the step is one point, 100 -> 99: 86400 * log2(100 / 99) = 1252.763 s
    assert (item["due_at"], item["due_sh"]) == (T0_S + 1253, due_shard("u-1"))
    process_batch(
        kinesis_event([custom_event("u-2", "webinar_attended", T0)]), due_aws.scorer(), FakeContext()
    )
    assert "due_at" not in due_aws.scores()["u-2"] and "due_sh" not in due_aws.scores()["u-2"]


def test_the_scorer_aims_at_the_publication_threshold(
    due_aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCORE_PUBLISH_MIN_DELTA", "10")
    score(due_aws, [("u-1", T0)])
    # 100 -> 90: 86400 * log2(100 / 90) = 13133.067 s (the tier edge 80 comes later)
    assert due_aws.scores()["u-1"]["due_at"] == T0_S + 13134


def test_a_refresh_cools_the_user_in_the_table_and_the_sinks(
    due_aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    score(due_aws, [("u-1", T0)])
    before = due_aws.scores()["u-1"]
    now = T0_S + 24 * HOUR_S
    capsys.readouterr()
    stats = run(refresher(due_aws), now)
    assert (stats.users_due, stats.users_read, stats.users_refreshed, stats.users_published) == (1, 1, 1, 1)
    item = due_aws.scores()["u-1"]
    assert (item["score"], item["raw_score"], item["tier"], item["as_of"]) == (
        D(50),
        D(50),
        "warm",
        now * 1000,
    )
    assert item["channels"] == {"custom": D(50)}
    assert item["version"] == before["version"] + 1
    assert item["pub"] == {"s": D(50), "t": "warm"}
    # the dedupe ring and the event count are the scorer's, untouched
    assert (item["dk"], item["events_applied"]) == (before["dk"], 1)
    # next: 50 -> 49: 86400 * log2(50 / 49) = 2518.28 s after now
    assert item["due_at"] == now + 2519
    line = [
        entry for entry in log_lines(capsys.readouterr().out) if entry.get("message") == "users refreshed"
    ]
    assert line[0]["aws_calls"] == {"BatchGetItem": 1, "Query": DUE_SHARDS, "UpdateItem": 1}

    process_stream_batch(due_aws.stream_event(), sync_runtime())
    published = {
        (message["detail-type"], message["detail"]["score"])
        for message in due_aws.queue_messages(due_aws.bus_queue_url)
    }
    assert ("EngagementTierChanged", 50) in published
    assert ("EngagementScoreChanged", 50) in published


def test_nothing_due_reads_nothing(due_aws: AwsResources) -> None:
    score(due_aws, [("u-1", T0)])
    stats = run(refresher(due_aws), T0_S + 1252)  # one second before the due time
    assert (stats.users_due, stats.users_read, stats.users_refreshed) == (0, 0, 0)
    assert due_aws.scores()["u-1"]["as_of"] == T0


def test_running_twice_changes_nothing_more(due_aws: AwsResources) -> None:
    score(due_aws, [("u-1", T0), ("u-2", T0 + 1000)])
    now = T0_S + 48 * HOUR_S
    first = run(refresher(due_aws), now)
    after_first = due_aws.scores()
    second = run(refresher(due_aws), now)
    assert first.users_refreshed == 2
    assert (second.users_due, second.users_refreshed) == (0, 0)
    assert due_aws.scores() == after_first
    assert after_first["u-1"]["score"] == D(25)


def _emitted_units(out: str) -> dict[str, str]:
    return {
        metric["Name"]: metric["Unit"]
        for document in (json.loads(line) for line in out.splitlines() if '"_aws"' in line)
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def _emitted_lag(out: str) -> list[Any]:
    return [
        document["RefreshLagSeconds"]
        for document in (json.loads(line) for line in out.splitlines() if '"_aws"' in line)
        if "RefreshLagSeconds" in document and document.get("Function") == "refresher"
    ]


def test_every_run_publishes_how_overdue_its_oldest_due_user_was(
    due_aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # due at T0_S + 1253 (u-1) and T0_S + 1254 (u-2, scored one second later): the oldest decides
    score(due_aws, [("u-1", T0), ("u-2", T0 + 1000)])
    now = T0_S + 48 * HOUR_S
    capsys.readouterr()
    first = run(refresher(due_aws), now)
    assert first.lag_seconds == 48 * HOUR_S - 1253
    assert first.summary()["lag_seconds"] == 48 * HOUR_S - 1253
    out = capsys.readouterr().out
    assert _emitted_lag(out) == [48 * HOUR_S - 1253]
    # a duration, so that the alarm's threshold (seconds) and the console's graphs read it as one
    units = _emitted_units(out)
    assert units["RefreshLagSeconds"] == "Seconds" and units["UsersDue"] == "Count"
    # nothing due: still one datapoint, 0 (the alarm reads a missing datapoint as a run that did not end)
    second = run(refresher(due_aws), now)
    assert (second.users_due, second.lag_seconds) == (0, 0)
    assert _emitted_lag(capsys.readouterr().out) == [0]


class OnePageContext:
    """A Lambda context with time for one page: the run stops early before its second page."""

    def __init__(self) -> None:
        self.pages = 0

    def get_remaining_time_in_millis(self) -> int:
        self.pages += 1
        return 60_000 if self.pages == 1 else 0


def test_a_run_stopped_early_counts_the_oldest_due_user_of_the_shards_it_did_not_reach(
    due_aws: AwsResources,
) -> None:
    # a user of shard 0 due now, and one of a later shard due 10 hours earlier: the run reads shard 0 only
    first = next(f"u-{index}" for index in range(1000) if due_shard(f"u-{index}") == "0")
    later = next(f"u-{index}" for index in range(1000) if int(due_shard(f"u-{index}")) > 1)
    score(due_aws, [(first, T0 + 10 * HOUR_S * 1000), (later, T0)])
    due = {user: int(item["due_at"]) for user, item in due_aws.scores().items()}
    assert due[later] < due[first]
    now = T0_S + 48 * HOUR_S
    stats = run(refresher(due_aws), now, OnePageContext())
    assert (stats.stopped_early, stats.users_refreshed) == (True, 1)
    assert due_aws.scores()[later]["due_at"] == due[later]  # not reached
    assert stats.lag_seconds == now - due[later]


class RacingClient:
    """A DynamoDB client that runs `before_write` once, just before the first UpdateItem it forwards:
    a concurrent writer that reads nothing stale from the test's point of view."""

    def __init__(self, client: Any, before_write: Callable[[], None]) -> None:
        self._client = client
        self._before_write: Callable[[], None] | None = before_write

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **request: Any) -> Any:
        if self._before_write is not None:
            hook, self._before_write = self._before_write, None
            hook()
        return self._client.update_item(**request)


def test_a_scorer_write_during_a_refresh_is_never_overwritten(due_aws: AwsResources) -> None:
    score(due_aws, [("u-1", T0)])
    now = T0_S + 24 * HOUR_S
    event_at = T0 + 12 * HOUR_S * 1000
    racing = RacingClient(due_aws.dynamodb, lambda: score(due_aws, [("u-1", event_at)]))
    stats = run(refresher(due_aws, racing), now)
    assert (stats.users_read, stats.users_refreshed, stats.conflicts) == (1, 0, 1)
    item = due_aws.scores()["u-1"]
    # the scorer's state stands: 100 * 2 ** -0.5 + 100 at T0 + 12 h, both events counted
    assert item["events_applied"] == 2
    assert item["as_of"] == event_at
    assert abs(item["raw_score"] - D("170.710678")) <= D("0.000001")
    # and it set its own due time, which the next run honours
    assert item["due_at"] > event_at // 1000
    again = run(refresher(due_aws), now)
    assert again.users_refreshed == 1
    assert abs(due_aws.scores()["u-1"]["raw_score"] - D("120.710678")) <= D("0.000002")


def test_a_refresh_during_a_scorer_read_makes_the_scorer_retry_on_the_new_state(
    due_aws: AwsResources,
) -> None:
    score(due_aws, [("u-1", T0)])
    now = T0_S + 24 * HOUR_S
    event_at = T0 + 36 * HOUR_S * 1000

    def refresh_now() -> None:
        run(refresher(due_aws), now)

    scorer = due_aws.scorer(**DECAY)
    scorer.store.client = RacingClient(due_aws.dynamodb, refresh_now)
    process_batch(kinesis_event([custom_event("u-1", "webinar_attended", event_at)]), scorer, FakeContext())
    item = due_aws.scores()["u-1"]
    # refreshed to 50 at T0 + 24 h, then the scorer's retry adds its event at T0 + 36 h:
    # 50 * 2 ** -0.5 + 100, the same as without the refresher (100 * 2 ** -1.5 + 100)
    assert (item["events_applied"], item["version"]) == (2, 3)  # scorer, refresher, the scorer's retry
    assert item["as_of"] == event_at
    assert abs(item["raw_score"] - D("135.355339")) <= D("0.000002")


def test_two_runs_at_once_write_each_user_once(due_aws: AwsResources) -> None:
    score(due_aws, [("u-1", T0)])
    now = T0_S + 24 * HOUR_S
    inner: list[RefreshStats] = []
    racing = RacingClient(due_aws.dynamodb, lambda: inner.append(run(refresher(due_aws), now)))
    outer = run(refresher(due_aws, racing), now)
    assert inner[0].users_refreshed == 1
    assert (outer.users_refreshed, outer.conflicts) == (0, 1)
    item = due_aws.scores()["u-1"]
    assert (item["version"], item["score"]) == (2, D(50))


def test_users_spread_over_the_shards_and_every_shard_is_queried(due_aws: AwsResources) -> None:
    users = [f"user-{index}" for index in range(64)]
    score(due_aws, [(user, T0) for user in users])
    shards = {item["due_sh"] for item in due_aws.scores().values()}
    assert len(shards) >= 12  # 64 users over 16 shards: all but a few are hit (expected 15.8)
    stats = run(refresher(due_aws), T0_S + 24 * HOUR_S)
    assert (stats.users_due, stats.users_read, stats.users_refreshed) == (64, 64, 64)
    assert {item["score"] for item in due_aws.scores().values()} == {D(50)}


class SlowWritesClient:
    """A DynamoDB client whose UpdateItems take 20 ms more (a round trip), counting how many overlap."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_item(self, **request: Any) -> Any:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.02)
            return self._client.update_item(**request)
        finally:
            with self._lock:
                self.in_flight -= 1


def test_a_run_writes_several_users_at_once_and_counts_each_write(due_aws: AwsResources) -> None:
    # given 16 due users and writes that take a round trip each
    users = [f"user-{index}" for index in range(16)]
    score(due_aws, [(user, T0) for user in users])
    slow = SlowWritesClient(due_aws.dynamodb)
    # when one run refreshes them, then with the runtime's concurrency 8 writes overlap
    stats = run(refresher(due_aws, slow), T0_S + 24 * HOUR_S)
    assert slow.most_in_flight > 1
    # and every outcome is counted against its own user: each written once, all cooled to 50
    assert (stats.users_due, stats.users_read, stats.users_refreshed, stats.conflicts) == (16, 16, 16, 0)
    assert stats.users_published == 16 and stats.errors == {}
    assert {(item["version"], item["score"]) for item in due_aws.scores().values()} == {(2, D(50))}


def test_a_user_at_the_end_of_its_decay_leaves_the_index(due_aws: AwsResources) -> None:
    score(due_aws, [("u-1", T0)], SCORE_FLOOR="60")
    # the floor 60 stops the score; the edge 80 is still ahead: due when the score leaves hot
    stats = run(refresher(due_aws, SCORE_FLOOR="60"), T0_S + 30 * 24 * HOUR_S)
    assert (stats.users_refreshed, stats.users_left_index) == (1, 1)
    item = due_aws.scores()["u-1"]
    assert (item["score"], item["tier"]) == (D(60), "warm")
    assert "due_at" not in item and "due_sh" not in item


def test_the_decayed_state_matches_the_model(due_aws: AwsResources) -> None:
    score(due_aws, [("u-1", T0)])
    now = T0_S + 7 * 3600 + 13
    run(refresher(due_aws), now)
    expected = decay_to(UserState(raw=D(100), as_of=T0), now * 1000, ScoringModel(half_life_hours=D(24)))
    assert due_aws.scores()["u-1"]["raw_score"] == expected.raw


def test_the_handler_takes_its_clock_from_the_event(
    due_aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    score(due_aws, [("u-1", T0)])
    for name, value in due_aws.env(**DECAY).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(refresher_handler, "_runtime", None)
    summary = refresher_handler.handler({"now": "2026-01-02T00:00:00Z"}, FakeContext())
    assert summary["users_refreshed"] == 1
    assert due_aws.scores()["u-1"]["score"] == D(50)
    assert json.dumps(summary)  # a plain, JSON-serialisable result


def test_event_now_forms() -> None:
    assert event_now({}) is None and event_now(None) is None
    assert event_now({"now": 1_767_225_600}) == T0_S
    assert event_now({"now": "1767225600"}) == T0_S
    assert event_now({"now": "2026-01-01T01:00:00+01:00"}) == T0_S
    for bad in ("2026-01-01T00:00:00", "tomorrow", True, [1]):
        with pytest.raises(ValueError):
            event_now({"now": bad})


# ---- sliding window rules expire with time (#10 item 5) -------------------------------------------

WEBINARS = json.dumps(
    [{"name": "three_webinars", "event_types": ["webinar_attended"], "threshold": 3, "window_hours": 24}]
)


def test_window_rules_alone_set_the_due_time_and_the_refresher_clears_them(
    due_aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    """Decay off: three webinars at T0, T0 + 1 h, T0 + 2 h match `three_webinars` (3 in 24 h); the first
    one's hour leaves the window at T0 + 25 h, when the refresher clears the rule with no new event."""
    seen: set[str] = set()

    def sync() -> list[tuple[str, Any]]:
        records = [r for r in due_aws.stream_event()["Records"] if r["eventID"] not in seen]
        seen.update(r["eventID"] for r in records)
        process_stream_batch({"Records": records}, sync_runtime())
        return [
            (message["detail-type"], message["detail"].get("rule"))
            for message in due_aws.queue_messages(due_aws.bus_queue_url)
        ]

    hour_ms = HOUR_S * 1000
    payloads = [custom_event("u-1", "webinar_attended", T0 + h * hour_ms) for h in range(3)]
    payloads += [custom_event("u-2", "webinar_attended", T0 + h * hour_ms) for h in range(2)]
    scorer = due_aws.scorer(WINDOW_RULES=WEBINARS)
    assert process_batch(kinesis_event(payloads), scorer, FakeContext()) == {"batchItemFailures": []}
    matched = due_aws.scores()["u-1"]
    assert matched["rules"] == {"three_webinars"}
    assert (matched["due_at"], matched["due_sh"]) == (T0_S + 25 * HOUR_S, due_shard("u-1"))
    assert "due_at" not in due_aws.scores()["u-2"]  # not matched: time alone changes nothing
    assert ("EngagementRuleMatched", "three_webinars") in sync()

    runtime = RefresherRuntime(
        RefresherConfig.from_env(due_aws.env(WINDOW_RULES=WEBINARS)), due_aws.dynamodb, sleep=lambda _: None
    )
    early = run(runtime, T0_S + 25 * HOUR_S - 1)
    assert (early.users_due, early.users_refreshed) == (0, 0)
    stats = run(runtime, T0_S + 25 * HOUR_S)
    assert (stats.users_due, stats.users_refreshed, stats.users_published) == (1, 1, 1)
    assert (stats.rules_changed, stats.users_left_index) == (1, 1)
    item = due_aws.scores()["u-1"]
    assert "rules" not in item and "due_at" not in item and "due_sh" not in item
    assert item["wr"] == {"three_webinars": [D(T0_S // HOUR_S + 1), D(T0_S // HOUR_S + 2)]}  # pruned
    # the score stands (decay off), the version moves, and the write is a publication of the same score
    assert (item["score"], item["as_of"]) == (D(300), matched["as_of"])
    assert item["version"] == matched["version"] + 1
    assert item["pub"] == {"s": D(300)}
    assert sync() == [("EngagementRuleCleared", "three_webinars")]
    again = run(runtime, T0_S + 48 * HOUR_S)
    assert (again.users_due, again.users_refreshed) == (0, 0)
    # matched again by a new event on the refresher's pruned state: hours 1, 2 and 25 are in the window
    late = custom_event("u-1", "webinar_attended", T0 + 25 * hour_ms + hour_ms // 2)
    assert process_batch(kinesis_event([late], 5000), scorer, FakeContext()) == {"batchItemFailures": []}
    item = due_aws.scores()["u-1"]
    assert item["rules"] == {"three_webinars"} and item["due_at"] == T0_S + 26 * HOUR_S  # hour 1 + 24 + 1
    assert sorted(sync()) == [("EngagementRuleMatched", "three_webinars"), ("EngagementScoreChanged", None)]


def test_with_decay_the_window_change_and_the_decay_share_the_due_time(
    due_aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half-life 24 h and a publication step of 200 points: the score at T0 + 2 h, 100 * (2 ** (-2 / 24) +
    2 ** (-1 / 24) + 1) = 291.54, drops by 200 only after 24 h * log2(291.54 / 91.54) = 40.1 h, so the
    rule's clearing at T0 + 25 h is due first; the refresher then decays the score and clears the rule."""
    monkeypatch.setenv("SCORE_PUBLISH_MIN_DELTA", "200")
    env = {"WINDOW_RULES": WEBINARS, "DECAY_HALF_LIFE_HOURS": "24"}
    payloads = [custom_event("u-1", "webinar_attended", T0 + h * HOUR_S * 1000) for h in range(3)]
    process_batch(kinesis_event(payloads), due_aws.scorer(**env), FakeContext())
    assert due_aws.scores()["u-1"]["due_at"] == T0_S + 25 * HOUR_S
    runtime = RefresherRuntime(
        RefresherConfig.from_env(due_aws.env(**env, SCORE_PUBLISH_MIN_DELTA="200")),
        due_aws.dynamodb,
        sleep=lambda _: None,
    )
    stats = run(runtime, T0_S + 25 * HOUR_S)
    assert (stats.users_refreshed, stats.users_published, stats.rules_changed) == (1, 1, 1)
    item = due_aws.scores()["u-1"]
    assert "rules" not in item and item["as_of"] == (T0_S + 25 * HOUR_S) * 1000
    # decayed to now (291.54 * 2 ** (-23 / 24) = 150.04) and published with the rule change; a further drop
    # of 200 is out of reach, and the rule is cleared: nothing is due any more
    assert item["pub"] == {"s": item["score"]} and abs(item["score"] - D("150.041709")) <= D("0.000001")
    assert "due_at" not in item
