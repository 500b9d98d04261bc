"""Window rules and point limits through the scorer (moto) and the sync: `wr`, `lc`, `rules` in the one
per-user UpdateItem, EngagementRuleMatched / EngagementRuleCleared on the bus, limits in the log line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.handlers import score_sync as sync_handler
from engagement_scoring.handlers import scorer as scorer_handler
from engagement_scoring.pipeline.score_sync import SyncRuntime
from engine_support import (
    RULES_TABLE,
    AwsResources,
    FakeContext,
    batch_line,
    custom_event,
    kinesis_event,
    log_lines,
)

H = 3_600_000
T0 = 1_732_300_000_000 - 1_732_300_000_000 % H  # an hour boundary in 2024
WEBINARS = json.dumps(
    [{"name": "three_webinars", "event_types": ["webinar_attended"], "threshold": 3, "window_hours": 24}]
)


class Pipeline:
    """Scorer batches in, and after each the sync over the stream records it has not seen yet."""

    def __init__(self, aws: AwsResources, sync: SyncRuntime, **env: str) -> None:
        self.aws, self.sync, self.scorer = aws, sync, aws.scorer(**env)
        self.seen: set[str] = set()
        self.sequence = 1000

    def batch(self, payloads: list[dict[str, Any]]) -> dict[str, Any]:
        scorer_handler._runtime = self.scorer
        try:
            response = scorer_handler.handler(kinesis_event(payloads, self.sequence), FakeContext())
        finally:
            scorer_handler._runtime = None
        self.sequence += len(payloads)
        assert response == {"batchItemFailures": []}
        records = [r for r in self.aws.stream_event()["Records"] if r["eventID"] not in self.seen]
        self.seen.update(r["eventID"] for r in records)
        sync_handler._runtime = self.sync
        try:
            assert sync_handler.handler({"Records": records}, FakeContext()) == {"batchItemFailures": []}
        finally:
            sync_handler._runtime = None
        return response

    def rule_events(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (event["detail-type"], event["detail"])
            for event in self.aws.queue_messages(self.aws.bus_queue_url)
            if event["detail-type"].startswith("EngagementRule")
        ]


def webinar(user: str, at_ms: int) -> dict[str, Any]:
    return custom_event(user, "webinar_attended", at_ms)


def test_a_rule_is_matched_cleared_by_a_later_write_and_matched_again(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = Pipeline(aws, sync_runtime(), WINDOW_RULES=WEBINARS)
    # webinar_attended has no score rule: it is counted at 0 points, and measured.
    pipeline.batch([webinar("u-1", T0), webinar("u-1", T0 + H)])
    assert "rules" not in aws.scores()["u-1"]
    pipeline.batch([webinar("u-1", T0 + 2 * H)])
    item = aws.scores()["u-1"]
    assert item["rules"] == {"three_webinars"}
    assert item["wr"] == {"three_webinars": [Decimal(T0 // H), Decimal(T0 // H + 1), Decimal(T0 // H + 2)]}
    assert item["score"] == 0 and item["events_applied"] == 3
    version_matched = int(item["version"])
    # The same record again (a producer re-send) is a duplicate: not measured twice, nothing changes.
    capsys.readouterr()
    pipeline.batch([webinar("u-1", T0 + 2 * H)])
    assert batch_line(capsys.readouterr().out)["duplicates_suppressed"] == 1
    assert int(aws.scores()["u-1"]["version"]) == version_matched
    # 40 hours later one webinar: the window slid past the first three, this write clears the rule.
    pipeline.batch([webinar("u-1", T0 + 40 * H)])
    item = aws.scores()["u-1"]
    assert "rules" not in item and item["wr"] == {"three_webinars": [Decimal(T0 // H + 40)]}
    version_cleared = int(item["version"])
    pipeline.batch([webinar("u-1", T0 + 41 * H), webinar("u-1", T0 + 41 * H + 60_000)])
    item = aws.scores()["u-1"]
    assert item["rules"] == {"three_webinars"}
    version_again = int(item["version"])

    def event_id(kind: str, version: int) -> str:
        return hashlib.sha256(f"{kind}\nu-1\n{version}\nthree_webinars".encode()).hexdigest()[:32]

    assert pipeline.rule_events() == [
        (
            "EngagementRuleMatched",
            {
                "event_id": event_id("EngagementRuleMatched", version_matched),
                "user_key": "u-1",
                "rule": "three_webinars",
                "version": version_matched,
            },
        ),
        (
            "EngagementRuleCleared",
            {
                "event_id": event_id("EngagementRuleCleared", version_cleared),
                "user_key": "u-1",
                "rule": "three_webinars",
                "version": version_cleared,
            },
        ),
        (
            "EngagementRuleMatched",
            {
                "event_id": event_id("EngagementRuleMatched", version_again),
                "user_key": "u-1",
                "rule": "three_webinars",
                "version": version_again,
            },
        ),
    ]


def test_a_rules_only_change_publishes_rule_events_but_no_score_change(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    pipeline = Pipeline(aws, sync_runtime(), WINDOW_RULES=WEBINARS)
    pipeline.batch([webinar("u-2", T0), webinar("u-2", T0 + 1), webinar("u-2", T0 + 2)])
    kinds = [event["detail-type"] for event in aws.queue_messages(aws.bus_queue_url)]
    # The score stayed 0 (no score rule): the first write of a user has no previous score, so it is a
    # score change (None -> 0); the rule event comes with it.
    assert sorted(kinds) == ["EngagementRuleMatched", "EngagementScoreChanged"]
    pipeline.batch([webinar("u-2", T0 + 30 * H)])
    kinds = [event["detail-type"] for event in aws.queue_messages(aws.bus_queue_url)]
    assert kinds == ["EngagementRuleCleared"]  # score still 0: no EngagementScoreChanged


def test_limits_cap_points_in_stream_order_and_show_in_the_log_line(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    aws.dynamodb.put_item(
        TableName=RULES_TABLE,
        Item={
            "event_type": {"S": "_email.open"},
            "points": {"N": "10"},
            "max_points": {"N": "25"},
            "limit_period_hours": {"N": "24"},
        },
    )
    rules = json.dumps([{"name": "opener", "event_types": ["_email.open"], "threshold": 4}])
    pipeline = Pipeline(aws, sync_runtime(), WINDOW_RULES=rules)
    day = 24 * H
    start = T0 - T0 % day
    capsys.readouterr()
    pipeline.batch(
        [
            custom_event("u-3", "_email.open", start + 5 * H, message_id="m1"),
            custom_event("u-3", "_email.open", start + 1 * H, message_id="m2"),
            custom_event("u-3", "_email.click", start + 2 * H, message_id="m1"),
            custom_event("u-3", "_email.open", start + 3 * H, message_id="m3"),
        ]
    )
    line = batch_line(capsys.readouterr().out)
    assert (line["scored"], line["limit_capped_events"], line["points_not_counted"]) == (4, 1, 5)
    item = aws.scores()["u-3"]
    assert item["score"] == 10 + 10 + 50 + 5
    assert item["lc"] == {"_email.open": [Decimal(start // day), Decimal(25)]}
    # A later batch, same day: earns nothing more; the next UTC day starts a new period.
    pipeline.batch(
        [
            custom_event("u-3", "_email.open", start + day - 1, message_id="m4"),
            custom_event("u-3", "_email.open", start + day, message_id="m5"),
        ]
    )
    output = capsys.readouterr().out
    line = batch_line(output)
    assert (line["limit_capped_events"], line["points_not_counted"]) == (1, 10)
    item = aws.scores()["u-3"]
    assert item["score"] == 75 + 10 and item["events_applied"] == 6
    # Capped opens are still counted events: the all-time window rule measures all five.
    assert item["rules"] == {"opener"} and item["wr"] == {"opener": Decimal(5)}
    emf = [doc for doc in log_lines(output) if "_aws" in doc and "EventsScored" in doc]
    assert emf[0]["LimitCappedEvents"] == 1 and emf[0]["PointsNotCounted"] == 10


def test_without_window_rules_or_limits_the_item_has_none_of_it_and_old_state_is_cleared(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline = Pipeline(aws, sync_runtime(), WINDOW_RULES=WEBINARS)
    pipeline.batch([custom_event("u-4", "_email.open", T0)])
    assert not {"wr", "lc", "rules"} & set(aws.scores()["u-4"])
    pipeline.batch([webinar("u-4", T0 + i) for i in range(3)])
    assert aws.scores()["u-4"]["rules"] == {"three_webinars"}
    # The operator removes the window rules: the next write of the user drops wr and rules, and the
    # sync says the rule cleared.
    plain = Pipeline(aws, sync_runtime())
    plain.seen, plain.sequence = pipeline.seen, 5000
    capsys.readouterr()
    plain.batch([custom_event("u-4", "_email.open", T0 + H)])
    assert "limit_capped_events" not in batch_line(capsys.readouterr().out)
    item = aws.scores()["u-4"]
    assert not {"wr", "lc", "rules"} & set(item)
    assert [kind for kind, _ in plain.rule_events()] == ["EngagementRuleMatched", "EngagementRuleCleared"]
