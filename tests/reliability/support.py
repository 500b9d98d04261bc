"""Helpers of the reliability tests: one Terraform-deployed embedded cloud behind a fault proxy.

`ReliabilityCloud` wraps an `EmbeddedDeployment` (moto + Pinpoint stand-in + apply of examples/local + the
local Lambda runner running the deployed zip) whose functions reach moto through a `FaultProxy`. Each scenario
starts from empty tables (`reset`), sends its records, waits for the pipeline to drain and compares the
result with the simulator's oracle (`verify`): user_scores item by item, the exactly-once state (rings
and overflow buckets), the Pinpoint endpoints and the EventBridge events.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engagement_scoring.core.dedupe import ring_digests

from simulator.local_cloud.fault_proxy import FaultProxy
from simulator.local_cloud.runner import RunnerSettings
from simulator.oracle import Expectation, Rule, Settings, expect
from simulator.producer import KinesisProducer
from simulator.readback import function_environment, read_rules, read_scores, scan_items
from simulator.targets import EmbeddedDeployment
from simulator.verify import Mismatch, SinkCheck, check_eventbridge, check_pinpoint, compare_scores
from simulator.workload import Workload, WorkloadConfig, generate

DRAIN_TIMEOUT_S = 240.0
# One deployment for every scenario: small batches (many invocations, so faults hit mid-run), two lanes
# per shard (ParallelizationFactor 2), and the module's default rules and tiers.
TF_VARS: dict[str, Any] = {
    "name_prefix": "rel",
    "scorer_batch_size": 100,
    "score_sync_batch_size": 50,
    "parallelization_factor": 2,
}

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
E164 = re.compile(r"\+[1-9]\d{6,14}\b")
NATIONAL_PHONE = re.compile(r"\(\d{3}\)\s?\d{3}[-. ]\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b")


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """after - before for the nested numeric counters of `PipelineStats.snapshot()`."""
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, dict):
            out[key] = stats_delta(old if isinstance(old, dict) else {}, value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = value - (old if isinstance(old, int | float) else 0)
    return out


@dataclass
class Outcome:
    """What one scenario produced, next to what the oracle expects."""

    expectation: Expectation
    mismatches: list[Mismatch]
    dedupe_digests: int
    ledger_other_items: int
    pinpoint: SinkCheck
    eventbridge: SinkCheck
    stats: dict[str, Any]
    failure_messages: list[dict[str, Any]] = field(default_factory=list)

    def scorer(self, name: str) -> int:
        return int(self.stats.get("scorer", {}).get(name, 0))

    def runner(self, name: str) -> int:
        return int(self.stats.get("runner", {}).get(name, 0))

    def assert_matches_oracle(self) -> None:
        """Nothing lost, nothing counted twice: scores, dedupe state and both sinks as the oracle says."""
        assert self.expectation.users, "the scenario scored nobody: it would prove nothing"
        assert self.mismatches == [], [m.to_json() for m in self.mismatches[:10]]
        # Exactly once: one digest per counted event (in its user's ring or an overflow bucket), none
        # for anything else, and no item in processed_events but overflow buckets (layout v2).
        assert self.dedupe_digests == self.expectation.counted
        assert self.ledger_other_items == 0
        assert self.pinpoint.expected > 0 and self.pinpoint.mismatches == 0, self.pinpoint.to_json()
        assert self.eventbridge.expected > 0 and self.eventbridge.mismatches == 0, self.eventbridge.to_json()
        # Nothing was given up on: no batch went to the on-failure destination.
        assert self.runner("records_discarded") == 0, self.stats
        assert self.runner("on_failure_messages") == 0, self.stats


class ReliabilityCloud:
    """The shared deployment and what the scenarios do with it."""

    def __init__(self, run_dir: Path) -> None:
        self.log_lines: list[str] = []
        self.deployment: EmbeddedDeployment | None = None
        self.proxy = FaultProxy(self._moto_url, seed=6)
        self.run_dir = run_dir
        self._events_seen = 0

    def _moto_url(self) -> str:
        assert self.deployment is not None and self.deployment.moto is not None
        return self.deployment.moto.endpoint_url

    def start(self) -> ReliabilityCloud:
        self.proxy.start()
        settings = RunnerSettings(function_endpoint_url=self.proxy.endpoint_url)
        # Every embedded moto server has atomic, isolated transactions (moto_atomic.py: stock moto 5.2 loses
        # updates and detaches stream readers when a transaction is cancelled, which AWS never does).
        self.deployment = EmbeddedDeployment(
            TF_VARS, self.log_lines.append, run_dir=self.run_dir, runner_settings=settings
        )
        self.deployment.start()
        return self

    def close(self) -> None:
        if self.deployment is not None:
            self.deployment.close()
        self.proxy.stop()

    # access ---------------------------------------------------------------------------------------------
    @property
    def outputs(self) -> dict[str, Any]:
        assert self.deployment is not None
        return self.deployment.outputs

    @property
    def runner(self) -> Any:
        assert self.deployment is not None and self.deployment.runner is not None
        return self.deployment.runner

    def client(self, service: str) -> Any:
        assert self.deployment is not None
        return self.deployment.client(service)

    def rules(self) -> dict[str, Rule]:
        return read_rules(self.client("dynamodb"), self.outputs["score_rules_table_name"])

    def settings(self) -> Settings:
        env = function_environment(self.client("lambda"), self.outputs["scorer_function_name"])
        return Settings.from_environment(env)

    def workload(self, users: int, events: int, seed: int, **options: Any) -> Workload:
        app_id = self.outputs.get("pinpoint_application_id") or None
        return generate(
            WorkloadConfig(
                formats=("pinpoint",), users=users, events=events, seed=seed, app_id=app_id, **options
            )
        )

    def handler_logs(self) -> str:
        """Everything the functions printed so far (the runner captures it per invocation)."""
        directory = self.run_dir / "lambda-logs"
        return (
            "".join(path.read_text() for path in sorted(directory.glob("*.log")))
            if directory.exists()
            else ""
        )

    # scenario steps --------------------------------------------------------------------------------------
    def drain(self) -> None:
        assert self.deployment is not None
        self.deployment.wait_until_drained(timeout_s=DRAIN_TIMEOUT_S)

    def reset(self) -> None:
        """Empty scores, ledger, endpoints and queues, faults off: the next scenario starts clean."""
        assert self.deployment is not None and self.deployment.pinpoint is not None
        self.proxy.set_rules()
        self.proxy.on_request = self.proxy.on_response = None
        self.deployment.pinpoint.set_faults(None)
        self.drain()
        dynamodb = self.client("dynamodb")
        for table, key in (
            (self.outputs["user_scores_table_name"], "user_key"),
            (self.outputs["processed_events_table_name"], "event_key"),
        ):
            keys = [item[key] for item in scan_items(dynamodb, table)]
            for start in range(0, len(keys), 25):
                requests = [{"DeleteRequest": {"Key": {key: {"S": k}}}} for k in keys[start : start + 25]]
                dynamodb.batch_write_item(RequestItems={table: requests})
        self.drain()  # the REMOVE records of user_scores reach the score sync, which publishes nothing
        pinpoint = self.client("pinpoint")
        app_id = self.outputs["pinpoint_application_id"]
        for endpoint_id in self.deployment.pinpoint.endpoints(app_id):
            pinpoint.delete_endpoint(ApplicationId=app_id, EndpointId=endpoint_id)
        self.failure_messages()  # received and deleted
        self._events_seen = len(self.deployment.eventbridge_events() or [])
        self.proxy.reset_counters()
        self.deployment.pinpoint.calls.clear()
        self.deployment.pinpoint.faults_injected.clear()

    def send(self, records: Sequence[tuple[str, bytes]]) -> None:
        producer = KinesisProducer(self.client("kinesis"), self.outputs["stream_name"], progress=False)
        producer.send(records)

    def put_in_order(self, partition_key: str, payloads: Sequence[bytes]) -> list[str]:
        """Put records one at a time under one partition key (one shard, in order); their sequence numbers."""
        kinesis = self.client("kinesis")
        sequence_numbers = []
        for data in payloads:
            answer = kinesis.put_record(
                StreamName=self.outputs["stream_name"], Data=data, PartitionKey=partition_key
            )
            sequence_numbers.append(str(answer["SequenceNumber"]))
        return sequence_numbers

    def failure_messages(self) -> list[dict[str, Any]]:
        """Every message in the failure queue (received and deleted)."""
        sqs = self.client("sqs")
        url = self.outputs["failure_queue_url"]
        found: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                return found
            found += [json.loads(m["Body"]) for m in messages]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )

    def begin(self, setup: Callable[[], None] | None = None) -> dict[str, Any]:
        """Reset, then `setup` (e.g. switch faults on); returns the pipeline counters to measure from."""
        self.reset()
        if setup is not None:
            setup()
        return dict(self.runner.pipeline_stats())

    def finish(self, stream: Sequence[bytes], owners: dict[str, str], before: dict[str, Any]) -> Outcome:
        """Drain, then compare with the oracle of `stream` (every record sent, in order)."""
        self.drain()
        return self.verify(stream, owners, stats_delta(before, self.runner.pipeline_stats()))

    def run(
        self,
        records: Sequence[tuple[str, bytes]],
        oracle_records: Iterable[bytes] | None = None,
        owners: dict[str, str] | None = None,
        setup: Callable[[], None] | None = None,
        between: Callable[[], None] | None = None,
    ) -> Outcome:
        """Reset, `setup`, send `records`, `between`, drain, verify against the oracle of `oracle_records`
        (default: the records). Faults set up stay on until the next reset (verification reads moto and the
        stand-in directly, not through the proxy)."""
        before = self.begin(setup)
        self.send(records)
        if between is not None:
            between()
        stream = [data for _, data in records] if oracle_records is None else list(oracle_records)
        return self.finish(stream, owners or {}, before)

    def verify(self, stream: Sequence[bytes], owners: dict[str, str], stats: dict[str, Any]) -> Outcome:
        assert self.deployment is not None
        settings = self.settings()
        expectation = expect(stream, self.rules(), settings)
        dynamodb = self.client("dynamodb")
        items = read_scores(dynamodb, self.outputs["user_scores_table_name"])
        ledger = scan_items(dynamodb, self.outputs["processed_events_table_name"])
        buckets = [item for item in ledger if str(item["event_key"]).startswith("b#")]
        sync_env = function_environment(self.client("lambda"), self.outputs["score_sync_function_name"])
        assert sync_env.get("PINPOINT_APPLICATION_ID") and sync_env.get("EVENT_BUS_NAME"), sync_env
        endpoints = self.deployment.pinpoint_endpoints() or {}
        events = (self.deployment.eventbridge_events() or [])[self._events_seen :]
        return Outcome(
            expectation=expectation,
            mismatches=compare_scores(expectation, items, settings),
            dedupe_digests=sum(len(ring_digests(bytes(item.get("dk", b"")))) for item in items.values())
            + sum(len(item.get("d") or ()) for item in buckets),
            # besides the buckets only attribution's touches (t#) and conversion ledger (c#) items (#11)
            ledger_other_items=sum(
                1 for item in ledger if not str(item["event_key"]).startswith(("b#", "t#", "c#"))
            ),
            pinpoint=check_pinpoint(expectation, endpoints, settings, owners),
            eventbridge=check_eventbridge(expectation, events, settings),
            stats=stats,
            failure_messages=self.failure_messages(),
        )


def owners_of(workload: Workload) -> dict[str, str]:
    """Endpoint id -> user key, for the Pinpoint check."""
    return {e.endpoint_id: u.user_key for u in workload.population.users for e in u.endpoints}


def records_of(workload: Workload, kinds: Iterable[str] = ("event",)) -> list[tuple[str, bytes]]:
    wanted = set(kinds)
    return [(r.partition_key, r.data) for r in workload.records if r.kind in wanted]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wait_for(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()
