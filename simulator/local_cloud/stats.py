"""Sum the per-batch JSON log lines of the handlers (docs/architecture.md, "Observability contract").

A log line may be the JSON object alone (print) or carry the Python runtime's text prefix
(`[INFO]\t<time>\t<request id>\t{...}`); EMF metric lines (objects with an `_aws` key) are not batch lines.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

BATCH_MESSAGES = frozenset({"batch scored", "scores synced"})


def batch_lines(logs: str) -> Iterable[dict[str, Any]]:
    """Yield the contract's per-batch objects found in a chunk of handler output."""
    for line in logs.splitlines():
        start = line.find("{")
        if start < 0:
            continue
        try:
            candidate = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(candidate, dict) and candidate.get("message") in BATCH_MESSAGES:
            yield candidate


def _add(total: dict[str, Any], line: dict[str, Any]) -> None:
    for key, value in line.items():
        if isinstance(value, bool) or key in ("level", "message", "function"):
            continue
        if isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            _add(total.setdefault(key, {}), value)


class PipelineStats:
    """Thread-safe sums of batch log lines per function (the line's `function` field) and runner counters."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._functions: dict[str, dict[str, Any]] = {}
        self._runner: dict[str, int] = {}

    def add_logs(self, logs: str) -> int:
        """Add every batch line in `logs`; return how many were found."""
        found = 0
        for line in batch_lines(logs):
            with self._lock:
                total = self._functions.setdefault(str(line.get("function", "unknown")), {"batches": 0})
                total["batches"] += 1
                _add(total, line)
            found += 1
        return found

    def count(self, counter: str, amount: int = 1) -> None:
        with self._lock:
            self._runner[counter] = self._runner.get(counter, 0) + amount

    def snapshot(self) -> dict[str, Any]:
        """`{<function>: {summed fields}, "runner": {invocations, function_errors, ...}}` (deep copy)."""
        with self._lock:
            result: dict[str, Any] = json.loads(json.dumps(self._functions))
            result["runner"] = dict(self._runner)
        return result


def stats_from_cloudwatch_logs(logs_client: Any, group_names: Iterable[str], start_ms: int) -> dict[str, Any]:
    """Sum the batch lines the functions wrote to CloudWatch Logs since `start_ms` (LocalStack, AWS)."""
    stats = PipelineStats()
    for group in group_names:
        paginator = logs_client.get_paginator("filter_log_events")
        try:
            for page in paginator.paginate(logGroupName=group, startTime=start_ms):
                stats.add_logs("\n".join(event["message"] for event in page.get("events", [])))
        except logs_client.exceptions.ResourceNotFoundException:
            continue  # the function has not logged yet
    return stats.snapshot()
