"""Summing the handlers' per-batch log lines (docs/architecture.md, observability contract)."""

from __future__ import annotations

import json

from simulator.local_cloud.stats import PipelineStats, batch_lines

SCORER_LINE = {
    "level": "INFO",
    "message": "batch scored",
    "function": "scorer",
    "records": 10,
    "scored": 7,
    "duplicates_suppressed": 1,
    "skipped": {"test_event": 1},
    "rejected": {"not_json": 1},
    "users_updated": 5,
    "retryable_failures": 0,
    "aws_calls": {"TransactWriteItems": 5, "BatchGetItem": 1},
}


def test_batch_lines_are_found_in_plain_and_runtime_prefixed_output() -> None:
    logs = "\n".join(
        [
            json.dumps(SCORER_LINE),
            "[INFO]\t2024-11-22T10:00:00.000Z\tabc-123\t" + json.dumps({**SCORER_LINE, "records": 3}),
            json.dumps({"_aws": {"CloudWatchMetrics": []}, "Scored": 7}),  # EMF, not a batch line
            json.dumps({"level": "ERROR", "message": "batch failed", "function": "scorer"}),
            "plain text {not json",
        ]
    )

    assert [line["records"] for line in batch_lines(logs)] == [10, 3]


def test_pipeline_stats_sum_counts_and_nested_reasons_per_function() -> None:
    stats = PipelineStats()
    stats.add_logs(json.dumps(SCORER_LINE))
    stats.add_logs(json.dumps({**SCORER_LINE, "rejected": {"invalid": 2}, "aws_calls": {"Scan": 1}}))
    stats.add_logs(
        json.dumps(
            {
                "level": "INFO",
                "message": "scores synced",
                "function": "score_sync",
                "records": 4,
                "users_changed": 3,
                "pinpoint_endpoints_updated": 2,
                "events_published": 3,
                "retryable_failures": 1,
                "aws_calls": {"PutEvents": 1},
            }
        )
    )
    stats.count("invocations", 3)

    snapshot = stats.snapshot()

    assert snapshot["scorer"]["batches"] == 2
    assert snapshot["scorer"]["records"] == 20 and snapshot["scorer"]["scored"] == 14
    assert snapshot["scorer"]["rejected"] == {"not_json": 1, "invalid": 2}
    assert snapshot["scorer"]["aws_calls"] == {"TransactWriteItems": 5, "BatchGetItem": 1, "Scan": 1}
    assert snapshot["score_sync"]["retryable_failures"] == 1
    assert snapshot["runner"] == {"invocations": 3}
    snapshot["scorer"]["records"] = 0  # a snapshot is a copy
    assert stats.snapshot()["scorer"]["records"] == 20
