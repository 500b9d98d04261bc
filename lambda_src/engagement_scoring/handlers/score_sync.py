"""DynamoDB-stream-triggered score sync: `engagement_scoring.handlers.score_sync.handler`.

Clients are created on the first invocation. The handler never raises: if anything unexpected
escapes, every record of the batch is reported in batchItemFailures.
"""

from __future__ import annotations

from typing import Any

from engagement_scoring.observability import JsonLog
from engagement_scoring.pipeline.score_sync import SyncRuntime, process_stream_batch, sequence_numbers

_runtime: SyncRuntime | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    global _runtime
    try:
        if _runtime is None:
            _runtime = SyncRuntime.from_environment()
        return process_stream_batch(event, _runtime)
    except Exception as exc:
        JsonLog("score_sync").emit("ERROR", "batch failed", error=type(exc).__name__)
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in sequence_numbers(event)]}
