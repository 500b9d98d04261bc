"""The per-batch JSON log line, CloudWatch Embedded Metric Format lines and the AWS call counter.

Log lines carry counts, reason codes, sequence numbers and error codes only: never record contents,
user keys, e-mail addresses or phone numbers.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}


class JsonLog:
    def __init__(self, function: str, level: str = "INFO") -> None:
        self.function = function
        self.threshold = _LEVELS.get(level.upper(), 20)

    def emit(self, level: str, message: str, **fields: Any) -> None:
        if _LEVELS.get(level, 20) < self.threshold:
            return
        line = {"level": level, "message": message, "function": self.function, **fields}
        sys.stdout.write(json.dumps(line, default=str, separators=(",", ":")) + "\n")
        sys.stdout.flush()


def metric_unit(name: str) -> str:
    """The CloudWatch unit of a metric, by name: durations end in `Seconds`, everything else is a count."""
    return "Seconds" if name.endswith("Seconds") else "Count"


def emf_lines(
    namespace: str,
    function: str,
    totals: Mapping[str, float],
    by_reason: Mapping[str, Mapping[str, int]],
    timestamp_ms: int | None = None,
    breakdown_dimension: str = "Reason",
) -> list[str]:
    """EMF documents: totals with dimension Function, and one per (metric, reason) with Function and
    `breakdown_dimension` (Reason; the score sync's SinkFailures use Sink)."""
    timestamp = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)

    def document(metrics: Mapping[str, float], dimensions: dict[str, str]) -> str:
        body: dict[str, Any] = {
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": namespace,
                        "Dimensions": [list(dimensions)],
                        "Metrics": [{"Name": name, "Unit": metric_unit(name)} for name in metrics],
                    }
                ],
            },
            **dimensions,
            **metrics,
        }
        return json.dumps(body, separators=(",", ":"))

    lines = [document(totals, {"Function": function})]
    for metric, reasons in by_reason.items():
        for reason, count in reasons.items():
            lines.append(document({metric: count}, {"Function": function, breakdown_dimension: reason}))
    return lines


def print_emf(lines: list[str]) -> None:
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()


class CallCounter:
    """Counts API calls per operation on the clients it is attached to (per call, not per HTTP retry)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()  # the Customer Profiles sink calls from a few threads at once

    def attach(self, client: Any) -> Any:
        client.meta.events.register_first("before-call.*.*", self._count)
        return client

    def _count(self, model: Any = None, **_: Any) -> None:
        with self._lock:
            self.calls[getattr(model, "name", "unknown")] += 1

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(sorted(self.calls.items()))

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())
