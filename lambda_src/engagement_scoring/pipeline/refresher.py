"""The refresher: cool the users whose decayed score matters now, and re-evaluate their sliding window rules
at its clock (design: docs/scoring.md, "Refresher").

for each shard "0".."15" -> Query the sparse `due` index for due_at <= now (keys only) -> read those
users' items (BatchGetItem, strongly consistent) -> per user still due: decay the stored state to now,
prune the windows and re-evaluate the window rules at now (WINDOW_RULES, as the scorer reads it), decide
the publication (core/publication.py: a change of the matched rules is one), compute the next due time
(core/due.py) -> one UpdateItem conditioned on the version read. A failed condition means a concurrent
writer (the scorer, or another refresher run) changed the user after the read; that writer set the due
time for its own state, so the user is skipped, never overwritten. The change flows through the table
stream to the score sync like a scorer write. Work is proportional to the users due: users not due are
never read.

Running twice, or two runs at once, is safe: a user refreshed by one run is no longer due (its due time
is later than now: the re-read catches a stale index entry), and of two runs that read the same version
only one write succeeds.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from engagement_scoring.aws.due_store import CONFLICT, OK, RETRY, DueStore, Outcome, refresh_update
from engagement_scoring.aws.errors import describe
from engagement_scoring.aws.score_store import user_state
from engagement_scoring.core.config import ConfigError, ScorerConfig
from engagement_scoring.core.due import DUE_SHARDS, Refresh, publish_min_delta, refresh
from engagement_scoring.core.model import ScoringModel
from engagement_scoring.core.publication import published_from_image
from engagement_scoring.core.timed import TimedRules, stored_state
from engagement_scoring.core.windows import WindowRule
from engagement_scoring.observability import CallCounter, JsonLog, emf_lines, print_emf

FUNCTION = "refresher"
# Stop starting new pages when less than this is left of the invocation; the rest stays due.
TIME_RESERVE_MS = 5000
# Conditional UpdateItems in flight at once per run (one boto3 client: its pool holds 10 connections).
WRITE_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class RefresherConfig:
    scores_table: str
    model: ScoringModel
    publish_min_delta: Decimal = Decimal(0)
    metrics_namespace: str = "EngagementScoring"
    log_level: str = "INFO"
    window_rules: tuple[WindowRule, ...] = ()  # WINDOW_RULES: the refresher clears sliding rules (#10)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RefresherConfig:
        # The model is read exactly as the scorer reads it (DECAY_HALF_LIFE_HOURS, SCORE_FLOOR,
        # SCORE_CEILING, TIERS) and so are the window rules (WINDOW_RULES), so both compute the same score,
        # tier and matched rules.
        scorer = ScorerConfig.from_env(env)
        try:
            min_delta = publish_min_delta(env)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(
            scores_table=env.get("SCORES_TABLE", ""),
            model=scorer.model,
            publish_min_delta=min_delta,
            metrics_namespace=scorer.metrics_namespace,
            log_level=scorer.log_level,
            window_rules=scorer.window_rules,
        )


@dataclass(slots=True)
class RefreshStats:
    users_due: int = 0  # index entries with due_at <= now
    users_read: int = 0  # items read
    users_refreshed: int = 0  # written
    users_published: int = 0  # written with a new `pub`
    rules_changed: int = 0  # written with a different set of matched window rules (e.g. one cleared)
    users_left_index: int = 0  # written without a due time: nothing will matter again
    not_due: int = 0  # the item, read strongly consistent, is no longer due (a newer write moved it)
    conflicts: int = 0  # the version moved between read and write: skipped
    retryable_failures: int = 0  # left due for the next run
    stopped_early: bool = False
    # The oldest due time (epoch s) among the users read still due and, after a run stopped early, the
    # oldest in the index of the shard it stopped in and of each one after. RefreshLagSeconds = now - it
    # (0 when none was due): what the sinks' decayed scores may be behind by. A healthy run finds at most
    # one schedule period; users left due (failures, a run stopped early) are found older by the next run.
    oldest_due_at: int | None = None
    lag_seconds: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def due_found(self, due_at: int) -> None:
        if self.oldest_due_at is None or due_at < self.oldest_due_at:
            self.oldest_due_at = due_at

    def error(self, name: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1

    def summary(self) -> dict[str, Any]:
        return {
            "users_due": self.users_due,
            "users_read": self.users_read,
            "users_refreshed": self.users_refreshed,
            "users_published": self.users_published,
            "rules_changed": self.rules_changed,
            "users_left_index": self.users_left_index,
            "not_due": self.not_due,
            "conflicts": self.conflicts,
            "retryable_failures": self.retryable_failures,
            "stopped_early": self.stopped_early,
            "lag_seconds": self.lag_seconds,
        }


class RefresherRuntime:
    def __init__(
        self,
        config: RefresherConfig,
        dynamodb: Any,
        calls: CallCounter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        write_concurrency: int = WRITE_CONCURRENCY,
    ) -> None:
        self.config = config
        self.calls = calls or CallCounter()
        self.dynamodb = self.calls.attach(dynamodb)
        self.store = DueStore(self.dynamodb, config.scores_table, sleep)
        # Only the window rules: the limit counters (`lc`) are the scorer's, never rewritten here.
        self.timed = TimedRules(config.window_rules) if config.window_rules else None
        self.clock = clock
        self.log = JsonLog(FUNCTION, config.log_level)
        self.write_concurrency = write_concurrency
        self._pool: Any = None

    def write_all(self, updates: list[dict[str, Any]]) -> list[Outcome]:
        """The outcomes of these conditional writes, in order; a few in flight at a time."""
        if self.write_concurrency <= 1 or len(updates) <= 1:
            return [self.store.write(update) for update in updates]
        if self._pool is None:
            # Imported on first use, like the Customer Profiles sink's pool (cold start).
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self.write_concurrency, thread_name_prefix="refresh")
        return list(self._pool.map(self.store.write, updates))

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> RefresherRuntime:
        from engagement_scoring.aws.clients import make_client

        config = RefresherConfig.from_env(os.environ if env is None else env)
        return cls(config, make_client("dynamodb"))


def event_now(event: Any) -> int | None:
    """The clock override of an invocation: `{"now": epoch seconds | ISO 8601 with a zone}`, else None.

    The schedule sends no `now`; a caller allowed to invoke the function may set it (tests, the
    simulator's --now). A bad value raises ValueError."""
    value = event.get("now") if isinstance(event, dict) else None
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("now must be epoch seconds or an ISO 8601 time")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("now must carry a time zone")
        return int(moment.timestamp())
    raise ValueError("now must be epoch seconds or an ISO 8601 time")


def _refresh_page(runtime: RefresherRuntime, keys: list[str], now_s: int, stats: RefreshStats) -> None:
    config, store = runtime.config, runtime.store
    now_ms = now_s * 1000
    try:
        items, unread = store.read_users(keys)
    except Exception as exc:
        stats.error(describe(exc))
        stats.retryable_failures += len(keys)
        return
    stats.users_read += len(items)
    stats.retryable_failures += len(unread)
    writes: list[tuple[Refresh, dict[str, Any]]] = []  # (the change, its conditional UpdateItem)
    for item in items:
        user_key = item.get("user_key")
        due_at = item.get("due_at")
        if not isinstance(user_key, str) or not isinstance(due_at, Decimal) or due_at > now_s:
            stats.not_due += 1  # refreshed or rescored since the index entry was written
            continue
        stats.due_found(int(due_at))
        state = user_state(item)
        try:
            stored_tier = item.get("tier")
            timed = runtime.timed
            change = refresh(
                state,
                published_from_image(item.get("pub")),
                config.model,
                now_ms,
                config.publish_min_delta,
                previous_tier=stored_tier if isinstance(stored_tier, str) else None,
                timed=None
                if timed is None
                else (timed, stored_state(item.get("wr"), None, item.get("rules"), timed)),
            )
            writes.append((change, refresh_update(user_key, state.version, change, now_ms)))
        except Exception as exc:  # a bug for one user must not stop the others
            stats.error(type(exc).__name__)
    # Each write is one round trip conditioned on its own user's version, independent of the others: a
    # few at a time (WRITE_CONCURRENCY), so a page's run time is bound by the round trips / concurrency.
    for (change, _), outcome in zip(writes, runtime.write_all([update for _, update in writes]), strict=True):
        if outcome.status == OK:
            stats.users_refreshed += 1
            stats.users_published += change.publish is not None
            stats.rules_changed += change.rules_changed
            stats.users_left_index += change.due_at is None
        elif outcome.status == CONFLICT:
            stats.conflicts += 1
        else:
            stats.error(outcome.detail)
            if outcome.status == RETRY:
                stats.retryable_failures += 1


def run(runtime: RefresherRuntime, now_s: int | None = None, context: Any = None) -> RefreshStats:
    """One refresher run as of `now_s` (epoch seconds; default the runtime's clock)."""
    runtime.calls.reset()
    now = int(runtime.clock()) if now_s is None else now_s
    stats = RefreshStats()
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    for shard in range(DUE_SHARDS):
        try:
            for keys in runtime.store.due_keys(str(shard), now):
                if callable(remaining) and remaining() < TIME_RESERVE_MS:
                    stats.stopped_early = True
                    break
                stats.users_due += len(keys)
                _refresh_page(runtime, keys, now, stats)
        except Exception as exc:
            stats.error(describe(exc))
        if stats.stopped_early:
            # A shard's index is read oldest first, so only the shard it stopped in and those after it
            # may hide older users: their oldest due time counts too (one key each), or the lag would
            # stay low while they age.
            for rest in range(shard, DUE_SHARDS):
                try:
                    due_at = runtime.store.oldest_due(str(rest), now)
                except Exception as exc:
                    stats.error(describe(exc))
                    continue
                if due_at is not None:
                    stats.due_found(due_at)
            break
    stats.lag_seconds = 0 if stats.oldest_due_at is None else max(0, now - stats.oldest_due_at)
    runtime.log.emit(
        "INFO",
        "users refreshed",
        now=now,
        **stats.summary(),
        aws_calls=runtime.calls.snapshot(),
        errors=stats.errors,
    )
    print_emf(
        emf_lines(
            runtime.config.metrics_namespace,
            FUNCTION,
            {
                "UsersDue": stats.users_due,
                "UsersRefreshed": stats.users_refreshed,
                "UsersPublished": stats.users_published,
                "RulesChanged": stats.rules_changed,
                "RefreshConflicts": stats.conflicts,
                "RetryableFailures": stats.retryable_failures,
                "SinkCalls": runtime.calls.total,
                # every run, 0 when none was due: the lag alarm treats no datapoint as a run that did not end
                "RefreshLagSeconds": stats.lag_seconds,
            },
            {},
        )
    )
    return stats
