"""What several benchmarks share: the standard workload, Lambda-shaped events, AWS call counting.

The standard workload is the simulator's Pinpoint funnels (`WorkloadConfig(formats=("pinpoint",))`: seed
1, 2,000 users, 20,000 events, no duplicates, no malformed records; the figures recorded so far were
measured on it, before the successor workload became the simulator's default), generated in-process with
`simulator.workload.generate`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.workload import Workload, WorkloadConfig, generate

ROOT = Path(__file__).resolve().parent.parent

STANDARD_USERS = 2000
STANDARD_EVENTS = 20000
STANDARD_SEED = 1
KINESIS_SHARDS = 4
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/bench-events"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/bench-scorer"
# Only dummy credentials: every benchmark runs against moto, the local Pinpoint stand-in or fakes.
LOCAL_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    # In-process moto routes DynamoDB Streams only with account-scoped endpoints off (environment.md).
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


def standard_workload(users: int = STANDARD_USERS, events: int = STANDARD_EVENTS) -> Workload:
    """The simulator's workload with a fixed seed (the same records, byte for byte, on every run)."""
    return generate(WorkloadConfig(formats=("pinpoint",), users=users, events=events, seed=STANDARD_SEED))


def workload_app_id(workload: Workload) -> str:
    """The Pinpoint application id the workload's records carry (`application.app_id`)."""
    for record in workload.records:
        app_id = json.loads(record.data).get("application", {}).get("app_id")
        if isinstance(app_id, str) and app_id:
            return app_id
    raise ValueError("no record carries application.app_id")


def shard_of(partition_key: str, shards: int = KINESIS_SHARDS) -> int:
    """Kinesis' mapping: MD5 of the partition key as a 128-bit hash key, shards splitting the range evenly."""
    return (int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big") * shards) >> 128


def kinesis_events(workload: Workload, batch_size: int, shards: int = KINESIS_SHARDS) -> list[dict[str, Any]]:
    """Lambda Kinesis events of at most `batch_size` records: records go to shards by partition key, keep
    their stream order within a shard, and the shards' batches are interleaved (shard 0, 1, 2, 3, 0, ...)."""
    per_shard: list[list[dict[str, Any]]] = [[] for _ in range(shards)]
    for record in workload.records:
        shard = shard_of(record.partition_key, shards)
        sequence = f"{49_000_000_000_000_000_000 + shard * 10**12 + len(per_shard[shard]):056d}"
        per_shard[shard].append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": record.partition_key,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(record.data).decode("ascii"),
                    "approximateArrivalTimestamp": 1761955200.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-{shard:012d}:{sequence}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": ROLE_ARN,
                "awsRegion": REGION,
                "eventSourceARN": STREAM_ARN,
            }
        )
    batches = [
        [records[start : start + batch_size] for start in range(0, len(records), batch_size)]
        for records in per_shard
    ]
    events: list[dict[str, Any]] = []
    for round_number in range(max((len(b) for b in batches), default=0)):
        events.extend({"Records": b[round_number]} for b in batches if round_number < len(b))
    return events


class LambdaContext:
    """The parts of the Lambda context the handlers use."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class ApiCallCounter:
    """Counts AWS API calls per `Service.Operation` with a botocore `before-call` hook.

    Registered on a botocore event emitter (a session's: every client the session creates afterwards
    inherits it), so the figures come from the calls the code really made; one count per API call,
    botocore's own HTTP retries included in that one call.
    """

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def attach(self, events: Any) -> None:
        events.register("before-call", self._count)

    def _count(self, event_name: str = "", **kwargs: Any) -> None:
        _, _, rest = event_name.partition(".")  # before-call.<service>.<Operation>
        service, _, operation = rest.partition(".")
        self.calls[f"{service}.{operation}"] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def by_operation(self) -> dict[str, int]:
        return dict(sorted(self.calls.items()))


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore the previous ones."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


@dataclass(frozen=True, slots=True)
class Target:
    """A benchmark target: `measured <= limit` (at_most) or `measured >= limit` (at_least)."""

    description: str
    limit: float
    at_most: bool

    def met(self, measured: float | None) -> bool | None:
        if measured is None:
            return None
        return measured <= self.limit if self.at_most else measured >= self.limit
