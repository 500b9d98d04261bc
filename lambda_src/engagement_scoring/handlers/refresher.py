"""Scheduled decay refresher: `engagement_scoring.handlers.refresher.handler` (EventBridge Scheduler).

The runtime is created on the first invocation. An event `{"now": ...}` sets the clock of this run
(pipeline/refresher.py, `event_now`); the schedule sends none. The handler raises on a configuration
error or a bad `now` (the scheduler's retry policy then applies); a failure of one user or one shard is
counted in the run's log line and the user stays due for the next run.
"""

from __future__ import annotations

from typing import Any

from engagement_scoring.aws.errors import describe
from engagement_scoring.core.config import ConfigError
from engagement_scoring.observability import JsonLog
from engagement_scoring.pipeline.refresher import RefresherRuntime, event_now, run

_runtime: RefresherRuntime | None = None


def handler(event: Any, context: Any) -> dict[str, Any]:
    global _runtime
    try:
        now = event_now(event)
        if _runtime is None:
            _runtime = RefresherRuntime.from_environment()
    except Exception as exc:
        error = f"ConfigError: {exc}" if isinstance(exc, ConfigError) else describe(exc)
        JsonLog("refresher").emit("ERROR", "run failed", error=error)
        raise
    return run(_runtime, now, context).summary()
