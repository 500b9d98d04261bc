"""Kinesis producer: PutRecords in batches, retrying only the entries that failed.

- A call carries at most 500 records and 5 MiB (data + partition keys); a record may be at most
  1 MiB including its partition key: larger ones are skipped and counted, never sent.
- A partial failure (`FailedRecordCount` > 0) re-sends only the failed entries, after an
  exponential backoff with jitter; so does a call that raised a retryable error (throttling,
  internal failure, connection trouble: then the whole batch again). After `max_attempts`
  attempts `ProducerError` is raised and names the error codes.
- The partition key is the user key, so one user's events stay on one shard in order (an entry
  retried after a partial failure is the exception: it lands after later entries).
- An optional rate limit (records/s) paces the calls, in smaller batches so the flow stays even.
- Progress is a rich progress bar on stderr; `ProducerStats` summarizes the run.

Re-sending after an ambiguous error (a timeout after Kinesis stored the records) can duplicate
records; the engine's exactly-once ledger makes that harmless, which is the point of it.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256
RETRYABLE_CALL_ERRORS = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "InternalFailure",
    "ServiceUnavailable",
    "KMSThrottlingException",
    "LimitExceededException",
}


class ProducerError(RuntimeError):
    """Records could not be delivered within the allowed attempts."""


@dataclass(slots=True)
class ProducerStats:
    records_sent: int = 0
    bytes_sent: int = 0
    calls: int = 0
    entries_retried: int = 0  # entries sent again (failed entries of a partial failure, or a failed call's)
    calls_failed: int = 0  # calls that raised a retryable error
    skipped_too_large: int = 0
    elapsed_s: float = 0.0
    error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def records_per_s(self) -> float:
        return self.records_sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "records_sent": self.records_sent,
            "bytes_sent": self.bytes_sent,
            "put_records_calls": self.calls,
            "entries_retried": self.entries_retried,
            "calls_failed": self.calls_failed,
            "skipped_too_large": self.skipped_too_large,
            "error_codes": dict(self.error_codes),
            "elapsed_s": round(self.elapsed_s, 3),
            "records_per_s": round(self.records_per_s, 1),
        }


def partition_key_for(key: str) -> str:
    """A valid Kinesis partition key (1-256 characters) for `key`."""
    if not key:
        return "-"
    if len(key) > MAX_PARTITION_KEY_CHARS:
        return hashlib.sha256(key.encode()).hexdigest()
    return key


class KinesisProducer:
    def __init__(
        self,
        client: Any,
        stream_name: str,
        *,
        rate: float | None = None,
        max_attempts: int = 8,
        base_delay_s: float = 0.05,
        max_delay_s: float = 5.0,
        console: Console | None = None,
        progress: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter_seed: int | None = None,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be positive (records per second)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.client = client
        self.stream_name = stream_name
        self.rate = rate
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.console = console or Console(stderr=True)
        self.show_progress = progress
        self.sleep = sleep
        self.clock = clock
        self.jitter = random.Random(jitter_seed)
        # With a rate limit, send about ten calls a second rather than bursts of 500.
        self.batch_limit = MAX_RECORDS_PER_CALL if rate is None else max(1, min(500, int(rate / 10)))

    # ---- batching ----------------------------------------------------------------------------
    def batches(
        self, records: Iterable[tuple[str, bytes]], stats: ProducerStats
    ) -> Iterable[list[dict[str, Any]]]:
        """PutRecords entry lists within the count and size limits (too-large records skipped)."""
        batch: list[dict[str, Any]] = []
        size = 0
        for key, data in records:
            partition_key = partition_key_for(key)
            entry_size = len(data) + len(partition_key.encode())
            if entry_size > MAX_BYTES_PER_RECORD:
                stats.skipped_too_large += 1
                continue
            if batch and (len(batch) >= self.batch_limit or size + entry_size > MAX_BYTES_PER_CALL):
                yield batch
                batch, size = [], 0
            batch.append({"Data": data, "PartitionKey": partition_key})
            size += entry_size
        if batch:
            yield batch

    # ---- sending -----------------------------------------------------------------------------
    def send(
        self, records: Sequence[tuple[str, bytes]], description: str = "sending records"
    ) -> ProducerStats:
        """Send every record (partition key, data); raises ProducerError when some cannot be delivered."""
        stats = ProducerStats()
        started = self.clock()
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rec/s"),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.show_progress,
            transient=False,
        ) as progress:
            task = progress.add_task(description, total=len(records), rate="-")
            for batch in self.batches(records, stats):
                self._pace(stats.records_sent, started)
                self._put_with_retries(batch, stats)
                elapsed = max(self.clock() - started, 1e-9)
                progress.update(task, advance=len(batch), rate=f"{stats.records_sent / elapsed:,.0f}")
            progress.update(task, completed=len(records))
        stats.elapsed_s = self.clock() - started
        return stats

    def _pace(self, sent: int, started: float) -> None:
        if self.rate is None:
            return
        due = started + sent / self.rate
        wait = due - self.clock()
        if wait > 0:
            self.sleep(wait)

    def _backoff(self, attempt: int) -> None:
        delay = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        self.sleep(delay * (0.5 + 0.5 * self.jitter.random()))  # "equal jitter": half fixed, half random

    def _put_with_retries(self, batch: list[dict[str, Any]], stats: ProducerStats) -> None:
        pending = batch
        for attempt in range(1, self.max_attempts + 1):
            if attempt > 1:
                self._backoff(attempt - 1)
                stats.entries_retried += len(pending)
            try:
                response = self.client.put_records(StreamName=self.stream_name, Records=pending)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "ClientError")
                if code not in RETRYABLE_CALL_ERRORS:
                    raise
                stats.calls += 1
                stats.calls_failed += 1
                stats.error_codes[code] = stats.error_codes.get(code, 0) + 1
                continue
            except BotoCoreError as error:  # connection trouble: try again
                stats.calls += 1
                stats.calls_failed += 1
                name = type(error).__name__
                stats.error_codes[name] = stats.error_codes.get(name, 0) + 1
                continue
            stats.calls += 1
            failed: list[dict[str, Any]] = []
            for entry, result in zip(pending, response["Records"], strict=True):
                code = result.get("ErrorCode")
                if code:
                    failed.append(entry)
                    stats.error_codes[code] = stats.error_codes.get(code, 0) + 1
                else:
                    stats.records_sent += 1
                    stats.bytes_sent += len(entry["Data"])
            if not failed:
                return
            pending = failed
        codes = ", ".join(f"{code} x{n}" for code, n in sorted(stats.error_codes.items()))
        raise ProducerError(
            f"{len(pending)} records could not be put into {self.stream_name} after "
            f"{self.max_attempts} attempts (errors so far: {codes})"
        )
