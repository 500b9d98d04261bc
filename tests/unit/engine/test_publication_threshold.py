"""The publication threshold end to end: the scorer sets `pub` only when a write is a publication (in
the same UpdateItem), the sync publishes a user to every sink only when `pub` moved in its batch, and
publishes the state that moved it (docs/scoring.md, "Publication threshold")."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.core.changes import coalesce, parse_stream_record
from engagement_scoring.handlers import score_sync as sync_handler
from engagement_scoring.handlers import scorer as scorer_handler
from engagement_scoring.pipeline.score_sync import SyncRuntime
from engine_support import (
    AwsResources,
    FakeContext,
    batch_line,
    custom_event,
    kinesis_event,
    stream_record,
    user_image,
)

TIERS = '[{"name": "cold", "min_score": 0}, {"name": "warm", "min_score": 50}]'
D = Decimal


def score(aws: AwsResources, runtime: Any, events: list[tuple[str, str, int]], sequence: int) -> None:
    """One scorer batch of (user, event type, timestamp)."""
    scorer_handler._runtime = runtime
    try:
        scorer_handler.handler(
            kinesis_event([custom_event(u, t, ts) for u, t, ts in events], first_sequence=sequence),
            FakeContext(),
        )
    finally:
        scorer_handler._runtime = None


def pub_of(aws: AwsResources, user: str) -> dict[str, Any] | None:
    return aws.scores()[user].get("pub")


def test_the_scorer_writes_pub_only_when_the_write_is_a_publication(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    runtime = aws.scorer(TIERS=TIERS, SCORE_PUBLISH_MIN_DELTA="10")
    # a new user is always published, whatever its score
    score(aws, runtime, [("u1", "_email.delivered", 1)], 1000)
    assert pub_of(aws, "u1") == {"s": D(2), "t": "cold"}
    # 2 + 2 + 2 = 6 points: 4 from the published 2, below the threshold: pub stays
    score(aws, runtime, [("u1", "_email.delivered", 2), ("u1", "_email.delivered", 3)], 2000)
    assert aws.scores()["u1"]["score"] == D(6)
    assert pub_of(aws, "u1") == {"s": D(2), "t": "cold"}
    capsys.readouterr()
    # an open (10 points) moves the score 14 from the published 2: published
    score(aws, runtime, [("u1", "_email.open", 4)], 3000)
    item = aws.scores()["u1"]
    assert (item["score"], item["pub"]) == (D(16), {"s": D(16), "t": "cold"})
    # in the same single UpdateItem, after the one read of the user item (no extra call or read)
    line = batch_line(capsys.readouterr().out)
    assert line["aws_calls"] == {"BatchGetItem": 1, "UpdateItem": 1}


def test_a_tier_change_below_the_threshold_is_published(aws: AwsResources) -> None:
    runtime = aws.scorer(TIERS=TIERS, SCORE_PUBLISH_MIN_DELTA="100")
    score(aws, runtime, [("u1", "_email.click", 1)], 1000)  # 50: warm at once
    assert pub_of(aws, "u1") == {"s": D(50), "t": "warm"}
    score(aws, runtime, [("u1", "_email.delivered", 2)], 2000)  # 52: 2 points, same tier
    assert pub_of(aws, "u1") == {"s": D(50), "t": "warm"}
    aws.put_rule("minus_three", -3)
    runtime = aws.scorer(TIERS=TIERS, SCORE_PUBLISH_MIN_DELTA="100")
    score(aws, runtime, [("u1", "minus_three", 3)], 3000)  # 49: 1 point from pub, but cold now
    assert pub_of(aws, "u1") == {"s": D(49), "t": "cold"}


def test_threshold_zero_publishes_every_change_and_no_tiers_leave_t_out(aws: AwsResources) -> None:
    runtime = aws.scorer(SCORE_PUBLISH_MIN_DELTA="0")
    for n, sequence in enumerate((1000, 2000, 3000), start=1):
        score(aws, runtime, [("u1", "_email.delivered", n)], sequence)
        assert pub_of(aws, "u1") == {"s": D(2 * n)}


def test_the_default_without_the_variable_is_every_change(aws: AwsResources) -> None:
    runtime = aws.scorer()
    score(aws, runtime, [("u1", "_email.delivered", 1)], 1000)
    score(aws, runtime, [("u1", "_email.delivered", 2)], 2000)
    assert pub_of(aws, "u1") == {"s": D(4)}


def with_pub(image: dict[str, Any], s: int, t: str | None = None) -> dict[str, Any]:
    pub: dict[str, Any] = {"s": {"N": str(s)}}
    if t is not None:
        pub["t"] = {"S": t}
    return {**image, "pub": {"M": pub}}


def test_the_sync_publishes_a_user_only_when_pub_moved_and_then_the_state_that_moved_it() -> None:
    v1 = with_pub(user_image("u1", 2, "cold", version=1), 2, "cold")
    v2 = with_pub(user_image("u1", 4, "cold", version=2), 2, "cold")  # below the threshold
    v3 = with_pub(user_image("u1", 14, "cold", version=3), 14, "cold")  # a publication
    v4 = with_pub(user_image("u1", 16, "cold", version=4), 14, "cold")  # below again
    quiet = [stream_record(1, "MODIFY", v2, v1)]
    assert coalesce(parse_stream_record(r) for r in quiet) == []
    moved = [
        stream_record(1, "MODIFY", v2, v1),
        stream_record(2, "MODIFY", v3, v2),
        stream_record(3, "MODIFY", v4, v3),
    ]
    (change,) = coalesce(parse_stream_record(r) for r in moved)
    # the sinks get version 3 (what pub says they saw), against what they saw before (pub of v1)
    assert (change.score, change.previous_score, change.version) == (D(14), D(2), 3)
    assert (change.tier, change.previous_tier, change.channels) == ("cold", "cold", {"email": D(14)})
    assert change.sequence_numbers == [f"{n:021d}" for n in (1, 2, 3)]  # all retried together


def test_pub_moved_away_and_back_within_a_batch_publishes_nothing() -> None:
    v1 = with_pub(user_image("u1", 2, version=1), 2)
    v2 = with_pub(user_image("u1", 20, version=2), 20)
    v3 = with_pub(user_image("u1", 2, version=3), 2)
    records = [stream_record(1, "MODIFY", v2, v1), stream_record(2, "MODIFY", v3, v2)]
    assert coalesce(parse_stream_record(r) for r in records) == []


def test_items_without_pub_are_published_as_before_and_a_first_pub_is_a_publication() -> None:
    old, new = user_image("u1", 10), user_image("u1", 12, version=2)
    (change,) = coalesce([parse_stream_record(stream_record(1, "MODIFY", new, old))])
    assert (change.score, change.previous_score) == (D(12), D(10))
    # an item written before pub, then by a scorer that sets it: published, previous = the old score
    (change,) = coalesce([parse_stream_record(stream_record(1, "MODIFY", with_pub(new, 12), old))])
    assert (change.score, change.previous_score) == (D(12), D(10))


def run_sync(runtime: SyncRuntime, event: dict[str, Any]) -> None:
    sync_handler._runtime = runtime
    try:
        sync_handler.handler(event, FakeContext())
    finally:
        sync_handler._runtime = None


def test_scorer_and_sync_together_publish_only_the_publications(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    runtime = aws.scorer(TIERS=TIERS, SCORE_PUBLISH_MIN_DELTA="10")
    score(aws, runtime, [("u1", "_email.delivered", 1), ("u2", "_email.open", 1)], 1000)
    stream = aws.stream_event()
    run_sync(sync_runtime(), stream)
    first = aws.queue_messages(aws.bus_queue_url)
    assert sorted((e["detail-type"], e["detail"]["user_key"]) for e in first) == [
        ("EngagementScoreChanged", "u1"),
        ("EngagementScoreChanged", "u2"),
        ("EngagementTierChanged", "u1"),
        ("EngagementTierChanged", "u2"),
    ]
    # u1 +2 (below), u2 +10 (at the threshold): only u2 reaches the bus
    score(aws, runtime, [("u1", "_email.delivered", 2), ("u2", "_email.open", 2)], 2000)
    run_sync(sync_runtime(), {"Records": aws.stream_event()["Records"][len(stream["Records"]) :]})
    second = aws.queue_messages(aws.bus_queue_url)
    assert [(e["detail-type"], e["detail"]["user_key"], e["detail"]["score"]) for e in second] == [
        ("EngagementScoreChanged", "u2", 20)
    ]
    assert second[0]["detail"]["previous_score"] == 10


def test_a_change_of_the_matched_rules_is_published_even_when_pub_stayed() -> None:
    v1 = with_pub(user_image("u1", 60, version=1), 60)
    v2 = {**with_pub(user_image("u1", 60, version=2), 60), "rules": {"SS": ["three_clicks"]}}
    (change,) = coalesce([parse_stream_record(stream_record(1, "MODIFY", v2, v1))])
    assert (change.version, change.rules) == (2, ("three_clicks",))
