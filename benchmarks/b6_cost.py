"""B6: what the pipeline pays AWS per million input events, ours against the original 2019 algorithm.

The runs are B1's (`benchmarks.b1_api_calls`: the real handlers, or `benchmarks/original.py`, on
in-process moto with the Pinpoint stand-in), watched by `CostObserver`:
- DynamoDB capacity is measured: `recording.CapacityRecorder` prices every request from the request
  and the stored items (read before and after with the harness's uncounted client) by AWS's rules;
- EventBridge 64 KB chunks, SQS request chunks and Customer Profiles calls are counted from the requests;
- Lambda: one request per invocation; duration = the handler's own thread CPU time on this machine (AWS
  backend time and the recorders' own time taken out), scaled to the function's CPU share at its
  memory (Lambda gives a full vCPU at 1,769 MB), plus a stated latency per AWS call (an assumption:
  nothing here can measure AWS's latency), rounded up to 1 ms per invocation;
- CloudWatch Logs: the bytes the handlers print per invocation (the original: the log entries of its
  catch-all, in the Lambda runtime's format) plus Lambda's START/END/REPORT lines;
- Kinesis: from the workload's records (both pipelines read the same records).
Prices: `benchmarks/prices.py`. Figures are per million input events (the workload's records).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from benchmarks import b1_api_calls, prices
from benchmarks.b1_api_calls import SCORES_TABLE, CallRun, RunObserver
from benchmarks.common import ROOT, STANDARD_EVENTS, STANDARD_USERS, standard_workload
from benchmarks.recording import CapacityRecorder, ServiceUsageRecorder
from simulator.workload import Workload

PLOT = ROOT / "docs" / "b6_cost_per_density.png"
BATCH_SIZES = (100, 1000)
HEADLINE_BATCH_SIZE = 100
SCALES = (1_000_000, 100_000_000, 1_000_000_000)
HOURS_PER_MONTH = 730  # AWS's pricing pages' month
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
# Module defaults (variables.tf): memory per function, architecture, batching windows, log retention,
# TTLs of the ledger keys. The original runs at the same memory as ours (its own setting is not known).
MEMORY_MB = {"scorer": 512, "score_sync": 256, "updater": 256}
ARCHITECTURE = "arm64"
SCORER_BATCHING_WINDOW_S = 1
SYNC_BATCHING_WINDOW_S = 5
SCORER_BATCH_SIZE_DEFAULT = 500
SYNC_BATCH_SIZE_DEFAULT = 100
LOG_RETENTION_DAYS = 30
PARALLELIZATION_FACTOR = 1
# "At 1,769 MB, a function has the equivalent of one vCPU" (docs.aws.amazon.com/lambda/latest/dg/
# configuration-memory.html): below it, the same work takes proportionally longer.
ONE_VCPU_MB = 1769
# A new on-demand stream has a write capacity of 4 MB/s and 4,000 records/s (docs.aws.amazon.com/
# streams/latest/dev/how-do-i-size-a-stream.html): four shards' worth, so four concurrent scorers.
ON_DEMAND_INITIAL_SHARDS = 4
SHARD_RECORDS_PER_S = 1000
SHARD_BYTES_PER_S = 1024 * 1024
GB = 1024**3
# Assumed AWS latency of each call as the calling function waits for it (milliseconds, in-region,
# typical, not measured: nothing on this machine can). Stated here and printed with every result.
CALL_LATENCY_MS: dict[str, float] = {
    "dynamodb.GetItem": 4,
    "dynamodb.PutItem": 6,
    "dynamodb.UpdateItem": 6,
    "dynamodb.DeleteItem": 6,
    "dynamodb.Query": 6,
    "dynamodb.Scan": 6,
    "dynamodb.BatchGetItem": 8,
    "dynamodb.BatchWriteItem": 10,
    "dynamodb.TransactGetItems": 10,
    "dynamodb.TransactWriteItems": 20,
    "dynamodb.ExecuteStatement": 6,
    "dynamodb.BatchExecuteStatement": 12,
    "dynamodb.ExecuteTransaction": 20,
    "sqs.SendMessageBatch": 15,
    "eventbridge.PutEvents": 20,
    "pinpoint.GetEndpoint": 15,
    "pinpoint.GetUserEndpoints": 15,
    "pinpoint.UpdateEndpoint": 20,
    "pinpoint.UpdateEndpointsBatch": 40,
    "customer-profiles.PutProfileObject": 30,
}
DEFAULT_CALL_LATENCY_MS = 10.0
ASSUMED_MAX_MEMORY_USED_MB = 100  # only for the length of the REPORT line
_REQUEST_ID = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True, slots=True)
class Invocation:
    function: str
    cpu_ns: int
    calls: dict[str, int]


class CostObserver(RunObserver):
    """Watches one B1 run: DynamoDB capacity, other services' billed quantities, per-invocation CPU
    (AWS backend and recorder time taken out) and calls, and what each invocation logged."""

    def __init__(self) -> None:
        self.capacity: CapacityRecorder | None = None
        self.services: dict[str, ServiceUsageRecorder] = {}
        self.invocations: list[Invocation] = []
        self.log_bytes: Counter[str] = Counter()
        self.log_lines: Counter[str] = Counter()
        self.stored: dict[str, dict[str, float]] = {}
        self.expiry_months: dict[str, float] = {}

    def start(self, harness: boto3.Session) -> None:
        self.capacity = CapacityRecorder(harness.client("dynamodb"))

    def attach(self, function: str, events: Any) -> None:
        assert self.capacity is not None, "start() comes first"
        self.capacity.attach(events)
        recorder = ServiceUsageRecorder()
        recorder.attach(events)
        self.services[function] = recorder

    def invoke(self, function: str, call: Callable[[], Any]) -> Any:
        assert self.capacity is not None
        services = self.services[function]
        calls_before = Counter(services.usage.calls)
        marks = (self.capacity.overhead_ns, services.backend_ns, services.overhead_ns)
        started = time.thread_time_ns()
        result = call()
        spent = time.thread_time_ns() - started
        excluded = (
            (self.capacity.overhead_ns - marks[0])
            + (services.backend_ns - marks[1])
            + (services.overhead_ns - marks[2])
        )
        calls = services.usage.calls - calls_before
        self.invocations.append(Invocation(function, max(0, spent - excluded), dict(calls)))
        return result

    def logged(self, function: str, text_bytes: int, lines: int) -> None:
        self.log_bytes[function] += text_bytes
        self.log_lines[function] += lines

    def finish(self, harness: boto3.Session) -> None:
        """What the run left stored, and how long its expiring items stay."""
        assert self.capacity is not None
        names = harness.client("dynamodb").list_tables()["TableNames"]
        self.stored = self.capacity.stored_sizes(names)
        now_s = time.time()
        self.expiry_months = {name: _expiry_months(harness, name, now_s) for name in names}


@dataclass
class MeasuredRun:
    """One run's measured quantities: what the cost model prices."""

    name: str
    batch_size: int
    sync_batch_size: int
    events: int
    users: int
    record_bytes: list[int]
    invocations: list[Invocation]
    capacity: dict[str, Any]
    services: dict[str, int]
    log_bytes: dict[str, int]
    log_lines: dict[str, int]
    stored: dict[str, dict[str, float]]
    expiry_months: dict[str, float]  # mean months a table's expiring items stay (0: no expiry)
    events_per_user_batch: float
    calls: dict[str, int] = field(default_factory=dict)


def _events_per_user_batch(workload: Workload, batch_size: int) -> float:
    """Mean events per (scorer batch, user) pair that has any: 1 = every user has one event per batch."""
    from benchmarks.common import kinesis_events

    pairs = 0
    for event in kinesis_events(workload, batch_size):
        pairs += len({record["kinesis"]["partitionKey"] for record in event["Records"]})
    return len(workload.records) / pairs if pairs else 0.0


def _expiry_months(harness: boto3.Session, table: str, now_s: float) -> float:
    client = harness.client("dynamodb")
    remaining: list[float] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        response = client.scan(**request)
        for item in response.get("Items", []):
            expires = item.get("expires_at", {}).get("N")
            if expires is not None:
                remaining.append(max(0.0, float(expires) - now_s))
        if not response.get("LastEvaluatedKey"):
            break
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
    return (sum(remaining) / len(remaining)) / SECONDS_PER_MONTH if remaining else 0.0


def measure(
    workload: Workload,
    side: str,
    batch_size: int,
    sync_batch_size: int = b1_api_calls.SYNC_BATCH_SIZE,
    log: Callable[[str], None] = print,
    attribution: bool = False,
) -> tuple[CallRun, MeasuredRun]:
    """One watched run of ours (`side="ours"`, with `attribution` on or off) or the original."""
    observer = CostObserver()
    started = time.perf_counter()
    if side == "ours":
        call_run = b1_api_calls.run_ours(workload, batch_size, observer, sync_batch_size, attribution)
    else:
        assert not attribution, "the original has no attribution"
        call_run = b1_api_calls.run_original(workload, batch_size, observer, sync_batch_size)
    assert observer.capacity is not None
    services: Counter[str] = Counter()
    for recorder in observer.services.values():
        usage = recorder.usage
        services["eventbridge_entries"] += usage.eventbridge_entries
        services["eventbridge_billed_events"] += usage.eventbridge_billed_events
        services["sqs_billed_requests"] += usage.sqs_billed_requests
        services["customer_profiles_calls"] += usage.customer_profiles_calls
    run = MeasuredRun(
        name=f"{side}_batch{batch_size}" + ("_attribution" if attribution else ""),
        batch_size=batch_size,
        sync_batch_size=sync_batch_size,
        events=workload.events,
        users=workload.config.users,
        record_bytes=[len(record.data) for record in workload.records],
        invocations=observer.invocations,
        capacity=observer.capacity.as_dict(),
        services=dict(services),
        log_bytes=dict(observer.log_bytes),
        log_lines=dict(observer.log_lines),
        stored=observer.stored,
        expiry_months=observer.expiry_months,
        events_per_user_batch=round(_events_per_user_batch(workload, batch_size), 2),
        calls=call_run.calls,
    )
    log(
        f"  B6 {run.name} ({workload.config.users:,} users, {workload.events:,} events, sync batch "
        f"{sync_batch_size}): {time.perf_counter() - started:.0f} s"
    )
    return call_run, run


# ----------------------------------------------------------------------------------------------------
# The cost model


def _platform_log_bytes(duration_ms: float, billed_ms: int, memory_mb: int) -> int:
    """Lambda's own lines per invocation, in their documented format."""
    lines = (
        f"START RequestId: {_REQUEST_ID} Version: $LATEST\n",
        f"END RequestId: {_REQUEST_ID}\n",
        f"REPORT RequestId: {_REQUEST_ID}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {ASSUMED_MAX_MEMORY_USED_MB} MB\t\n",
    )
    return sum(len(line.encode("utf-8")) for line in lines)


def _memory_mb(function: str) -> int:
    return MEMORY_MB.get(function, MEMORY_MB["score_sync"])


def lambda_usage(run: MeasuredRun, without_calls: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Requests, GB-seconds and platform log bytes of the run's invocations, per function; the wait for
    `without_calls` left out (what the run would bill without those calls)."""
    per_function: dict[str, dict[str, float]] = {}
    for invocation in run.invocations:
        memory = _memory_mb(invocation.function)
        cpu_ms = invocation.cpu_ns / 1e6 * max(1.0, ONE_VCPU_MB / memory)
        wait_ms = sum(
            CALL_LATENCY_MS.get(call, DEFAULT_CALL_LATENCY_MS) * count
            for call, count in invocation.calls.items()
            if call not in without_calls
        )
        billed_ms = max(1, math.ceil(cpu_ms + wait_ms))
        entry = per_function.setdefault(
            invocation.function,
            {
                "requests": 0,
                "gb_seconds": 0.0,
                "cpu_ms": 0.0,
                "wait_ms": 0.0,
                "billed_ms": 0.0,
                "platform_log_bytes": 0,
            },
        )
        entry["requests"] += 1
        entry["gb_seconds"] += billed_ms / 1000 * memory / 1024
        entry["cpu_ms"] += cpu_ms
        entry["wait_ms"] += wait_ms
        entry["billed_ms"] += billed_ms
        entry["platform_log_bytes"] += _platform_log_bytes(cpu_ms + wait_ms, billed_ms, memory)
    return per_function


def usage_quantities(run: MeasuredRun, without_calls: frozenset[str] = frozenset()) -> dict[str, float]:
    """Every billed quantity of the run, in the units the prices are for (Lambda without waiting for
    `without_calls`)."""
    totals = run.capacity["totals"]
    lambdas = lambda_usage(run, without_calls)
    log_bytes = sum(run.log_bytes.values()) + sum(f["platform_log_bytes"] for f in lambdas.values())
    storage_gb_months = 0.0
    for table, stored in run.stored.items():
        months = run.expiry_months.get(table) or 1.0  # items without expiry: held the whole month
        storage_gb_months += stored["storage_bytes"] / GB * months
    return {
        "dynamodb_read_request_units": totals["read_request_units"],
        "dynamodb_write_request_units": totals["write_request_units"] + totals["index_write_request_units"],
        "dynamodb_storage_gb_months": storage_gb_months,
        "kinesis_data_in_gb": sum(math.ceil(size / 1024) * 1024 for size in run.record_bytes) / GB,
        "kinesis_data_out_gb": sum(run.record_bytes) / GB,
        "kinesis_put_payload_units": float(
            sum(max(1, math.ceil(size / (25 * 1024))) for size in run.record_bytes)
        ),
        "lambda_requests": float(sum(f["requests"] for f in lambdas.values())),
        "lambda_gb_seconds": sum(f["gb_seconds"] for f in lambdas.values()),
        "eventbridge_billed_events": float(run.services.get("eventbridge_billed_events", 0)),
        "customer_profiles_calls": float(run.services.get("customer_profiles_calls", 0)),
        "cloudwatch_logs_gb": log_bytes / GB,
        "sqs_billed_requests": float(run.services.get("sqs_billed_requests", 0)),
    }


def service_costs(quantities: Mapping[str, float], stream_mode: str = "ON_DEMAND") -> dict[str, float]:
    """USD per service for these quantities (Kinesis: the per-event part of the chosen capacity mode)."""
    usd = prices.usd
    if stream_mode == "ON_DEMAND":
        kinesis = quantities["kinesis_data_in_gb"] * usd("kinesis_on_demand_data_in_gb") + quantities[
            "kinesis_data_out_gb"
        ] * usd("kinesis_on_demand_data_out_gb")
    else:
        kinesis = quantities["kinesis_put_payload_units"] * usd("kinesis_provisioned_put_payload_unit")
    retention_months = LOG_RETENTION_DAYS * 24 / HOURS_PER_MONTH
    return {
        "dynamodb": quantities["dynamodb_read_request_units"] * usd("dynamodb_read_request_unit")
        + quantities["dynamodb_write_request_units"] * usd("dynamodb_write_request_unit"),
        "dynamodb_storage": quantities["dynamodb_storage_gb_months"] * usd("dynamodb_storage_gb_month"),
        "kinesis": kinesis,
        "lambda": quantities["lambda_requests"] * usd("lambda_request")
        + quantities["lambda_gb_seconds"] * usd(f"lambda_gb_second_{ARCHITECTURE}"),
        "eventbridge": quantities["eventbridge_billed_events"] * usd("eventbridge_custom_event"),
        "customer_profiles": quantities["customer_profiles_calls"]
        * usd("customer_profiles_put_profile_object"),
        "cloudwatch_logs": quantities["cloudwatch_logs_gb"]
        * (usd("cloudwatch_logs_ingestion_gb") + retention_months * usd("cloudwatch_logs_storage_gb_month")),
        "sqs": quantities["sqs_billed_requests"] * usd("sqs_request"),
    }


def per_million(run: MeasuredRun) -> dict[str, Any]:
    quantities = usage_quantities(run)
    costs = service_costs(quantities)
    scale = 1e6 / run.events
    return {
        "total": round(sum(costs.values()) * scale, 4),
        "breakdown": {service: round(cost * scale, 4) for service, cost in costs.items()},
        "units_per_1000_events": {
            name: round(value * 1000 / run.events, 6) for name, value in quantities.items()
        },
    }


# The original publishes to Pinpoint only; the EventBridge sink is ours alone (optional, off by default).
EVENTBRIDGE_CALLS = frozenset({"eventbridge.PutEvents"})


def same_sinks_as_original(run: MeasuredRun) -> dict[str, Any]:
    """Ours per million events with the original's sinks: the measured run without its EventBridge
    line, and Lambda billed without the sync's wait for PutEvents (the other quantities as measured)."""
    quantities = usage_quantities(run, EVENTBRIDGE_CALLS)
    quantities["eventbridge_billed_events"] = 0.0
    costs = service_costs(quantities)
    scale = 1e6 / run.events
    return {
        "total": round(sum(costs.values()) * scale, 4),
        "breakdown": {service: round(cost * scale, 4) for service, cost in costs.items()},
    }


# ----------------------------------------------------------------------------------------------------
# Scale: the monthly bill at 1 M, 100 M and 1 B events with the module's defaults


def scale_fill(events_per_month: int) -> tuple[int, int, float]:
    """Records per scorer invocation and per sync invocation at this load with the defaults (4 shards,
    1 s and 5 s batching windows, batch limits 500 and 100), and the average event rate."""
    rate = events_per_month / SECONDS_PER_MONTH
    per_shard = rate / ON_DEMAND_INITIAL_SHARDS
    scorer = min(SCORER_BATCH_SIZE_DEFAULT, max(1, round(per_shard * SCORER_BATCHING_WINDOW_S)))
    sync = min(SYNC_BATCH_SIZE_DEFAULT, max(1, round(per_shard * SYNC_BATCHING_WINDOW_S)))
    return scorer, sync, rate


def monthly_bill(run: MeasuredRun, events_per_month: int, events_per_user: float) -> dict[str, Any]:
    """The month at this load, from a run measured at this load's batch fill: per-event costs scaled to
    the month, storage at steady state (users = events / events_per_user; expiring items as a month's
    inflow times their lifetime), the stream-hours, shards and the Lambda concurrency needed."""
    quantities = usage_quantities(run)
    costs = service_costs(quantities)
    scale = events_per_month / run.events
    bill = {service: cost * scale for service, cost in costs.items() if service != "dynamodb_storage"}
    users = events_per_month / events_per_user
    storage_gb_months = 0.0
    for table, stored in run.stored.items():
        months = run.expiry_months.get(table, 0.0)
        if months:  # steady state: one month's inflow of such items, each kept `months`
            storage_gb_months += stored["storage_bytes"] * scale / GB * months
        elif stored["items"]:
            per_item = stored["storage_bytes"] / stored["items"]
            count = users if table in (SCORES_TABLE, b1_api_calls.ORIGINAL_SCORES) else stored["items"]
            storage_gb_months += per_item * count / GB
    bill["dynamodb_storage"] = storage_gb_months * prices.usd("dynamodb_storage_gb_month")
    bill["kinesis"] += HOURS_PER_MONTH * prices.usd("kinesis_on_demand_stream_hour")
    rate = events_per_month / SECONDS_PER_MONTH
    lambdas = lambda_usage(run)
    concurrency = sum(
        f["requests"] * scale / SECONDS_PER_MONTH * (f["billed_ms"] / f["requests"] / 1000)
        for f in lambdas.values()
    )
    bytes_per_s = sum(run.record_bytes) / run.events * rate
    shards_by_throughput = max(1, math.ceil(max(rate / SHARD_RECORDS_PER_S, bytes_per_s / SHARD_BYTES_PER_S)))
    scorer = lambdas.get("scorer", {"requests": 1, "billed_ms": 0.0})
    scorer_busy = (
        scorer["requests"] * scale / SECONDS_PER_MONTH * scorer["billed_ms"] / scorer["requests"] / 1000
    )
    shards_by_lambda = max(1, math.ceil(scorer_busy / PARALLELIZATION_FACTOR))
    return {
        "events_per_month": events_per_month,
        "average_events_per_s": round(rate, 2),
        "monthly_usd": round(sum(bill.values()), 2),
        "breakdown_usd": {service: round(cost, 2) for service, cost in bill.items()},
        "shards_needed": max(shards_by_throughput, shards_by_lambda),
        "on_demand_shards_at_start": ON_DEMAND_INITIAL_SHARDS,
        "lambda_concurrency_needed": round(concurrency, 2),
        "users_assumed": round(users),
        "measured_at_batch_fill": {"scorer": run.batch_size, "sync": run.sync_batch_size},
    }


# ----------------------------------------------------------------------------------------------------


# Monitoring (monitoring.tf, issue 17): alarms on the scorer's iterator age, errors and throttles of both
# functions, the failure queue's depth and oldest message, rejected records, and one per sink (whether the
# sink is on or not); each watches one standard-resolution metric. tests/plan/test_tf_monitoring.py
# checks this count against the planned module.
MONITORING_ALARMS = 11


def monitoring_monthly(dashboard: bool = True, topic_key: bool = True) -> dict[str, Any]:
    """What create_alarms and create_dashboard cost a month, at any load (list prices, no free tier).
    `topic_key`: the module creates the topic's KMS key (no kms_key_arn and no alarm_sns_topic_arn)."""
    breakdown = {
        "alarms": MONITORING_ALARMS * prices.usd("cloudwatch_alarm_metric_month"),
        "dashboard": prices.usd("cloudwatch_dashboard_month") if dashboard else 0.0,
        "topic_key": prices.usd("kms_key_month") if topic_key else 0.0,
    }
    return {
        "alarms": MONITORING_ALARMS,
        "monthly_usd": round(sum(breakdown.values()), 2),
        "breakdown_usd": {item: round(cost, 2) for item, cost in breakdown.items()},
        "not_priced": "SNS notifications and KMS requests (a few per alarm state change)",
    }


def _plot(sweep: Mapping[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=110)
    for side, style in (("ours", "o-"), ("original", "s--")):
        points = sorted(sweep.get(side, []), key=lambda p: p["events_per_user_batch"])
        axes.plot(
            [p["events_per_user_batch"] for p in points],
            [p["usd_per_million_events"] for p in points],
            style,
            label="ours" if side == "ours" else "original (2019 algorithm)",
        )
    axes.set_xscale("log")
    densities = [p["events_per_user_batch"] for side in sweep.values() for p in side]
    top = max(densities, default=10.0)
    axes.xaxis.set_major_locator(
        matplotlib.ticker.FixedLocator([t for t in (1, 2, 5, 10, 20, 50, 100) if t <= top * 1.5])
    )
    axes.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    axes.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axes.set_xlim(0.8, top * 1.3)
    axes.set_xlabel("events per user per scorer batch (batch size 100; 1 = every user sparse)")
    axes.set_ylabel("USD per million events")
    axes.set_title("B6: cost per million events against user density")
    axes.set_ylim(bottom=0)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)


def interleaved(workload: Workload) -> Workload:
    """The same records, the users' events dealt round-robin (each user's own order kept)."""
    queues: dict[str, list[Any]] = {}
    for record in workload.records:
        queues.setdefault(record.partition_key, []).append(record)
    dealt: list[Any] = []
    depth = max((len(queue) for queue in queues.values()), default=0)
    for position in range(depth):
        dealt.extend(queue[position] for queue in queues.values() if position < len(queue))
    return Workload(workload.config, workload.population, dealt)


def _summary(run: MeasuredRun) -> dict[str, Any]:
    figures = per_million(run)
    return {
        "batch_size": run.batch_size,
        "sync_batch_size": run.sync_batch_size,
        "events": run.events,
        "users": run.users,
        "events_per_user_batch": run.events_per_user_batch,
        "usd_per_million_events": figures["total"],
        "breakdown_usd_per_million": figures["breakdown"],
        "units_per_1000_events": figures["units_per_1000_events"],
        "dynamodb_capacity": run.capacity,
        "lambda": lambda_usage(run),
        "stored": run.stored,
        "calls": run.calls,
    }


DENSITY_EVENTS = 2000
# (users, interleaved): the generator's funnels put a user's events close together (about 3 per user
# per batch of 100 however many users there are); dealing the users' events round-robin (each user's
# own order kept, like a campaign reaching many users at once) gives the sparse end, about 1.2.
DENSITY_POINTS = ((3000, True), (3000, False), (150, False), (20, False))
SCALE_WORKLOAD = (100, 500)  # users, events of the runs at the low loads' batch fills (same shape)


def run(
    users: int = STANDARD_USERS,
    events: int = STANDARD_EVENTS,
    log: Callable[[str], None] = print,
    plot_path: Path | None = PLOT,
    density_events: int = DENSITY_EVENTS,
    density_points: tuple[tuple[int, bool], ...] = DENSITY_POINTS,
    with_scales: bool = True,
    call_runs_out: dict[str, CallRun] | None = None,
    scale_workload: tuple[int, int] = SCALE_WORKLOAD,
    archive: bool = False,
) -> dict[str, Any]:
    """B6 on the standard workload: both pipelines at batch sizes 100 and 1000, the density sweep, the
    monthly bill at three loads. Also returns B1's call runs of the standard workload (`call_runs`)."""
    workload = standard_workload(users, events)
    runs: dict[str, MeasuredRun] = {}
    call_runs: dict[str, CallRun] = {}
    for side in ("ours", "original"):
        for batch_size in BATCH_SIZES:
            call_run, measured = measure(workload, side, batch_size, log=log)
            runs[measured.name] = measured
            call_runs[measured.name] = call_run
    sweep: dict[str, list[dict[str, float]]] = {"ours": [], "original": []}
    for sweep_users, dealt in density_points:
        point = standard_workload(sweep_users, density_events)
        point = interleaved(point) if dealt else point
        for side in ("ours", "original"):
            _, measured = measure(point, side, HEADLINE_BATCH_SIZE, log=log)
            sweep[side].append(
                {
                    "users": sweep_users,
                    "interleaved": dealt,
                    "events": density_events,
                    "events_per_user_batch": measured.events_per_user_batch,
                    "usd_per_million_events": per_million(measured)["total"],
                }
            )
    if call_runs_out is not None:
        call_runs_out.update(call_runs)
    if plot_path is not None:
        _plot(sweep, plot_path)
    scales: dict[str, Any] = {}
    if with_scales:
        events_per_user = workload.events / workload.config.users
        small = standard_workload(*scale_workload)
        for events_per_month in SCALES:
            scorer_fill, sync_fill, _ = scale_fill(events_per_month)
            # A fill within a quarter of a measured batch size (sync at its default) uses that run.
            near = [size for size in BATCH_SIZES if size / 1.25 <= scorer_fill <= size * 1.25]
            entry: dict[str, Any] = {}
            for side in ("ours", "original"):
                if near and sync_fill == b1_api_calls.SYNC_BATCH_SIZE:
                    measured = runs[f"{side}_batch{near[0]}"]
                else:
                    _, measured = measure(small, side, scorer_fill, sync_fill, log=log)
                entry[side] = monthly_bill(measured, events_per_month, events_per_user)
            scales[str(events_per_month)] = entry
    headline = {
        side: per_million(runs[f"{side}_batch{HEADLINE_BATCH_SIZE}"]) for side in ("ours", "original")
    }
    services = list(headline["ours"]["breakdown"])
    same_sinks = same_sinks_as_original(runs[f"ours_batch{HEADLINE_BATCH_SIZE}"])
    # The events archive (create_archive), only when asked for (python -m benchmarks --archive).
    extra: dict[str, Any] = {}
    if archive:
        from benchmarks import archive_cost

        extra["archive_per_million_events"] = archive_cost.per_million(
            [record.data for record in workload.records], workload.events
        )
    return extra | {
        "workload": {"users": workload.config.users, "events": workload.events, "seed": workload.config.seed},
        "cost_per_million_events": {
            "ours": headline["ours"]["total"],
            "original": headline["original"]["total"],
            # ours without the optional EventBridge sink, which the original does not have
            "ours_same_sinks_as_original": same_sinks["total"],
            "breakdown": {
                service: {
                    "ours": headline["ours"]["breakdown"][service],
                    "original": headline["original"]["breakdown"][service],
                }
                for service in services
            },
            "units_per_1000_events": {
                "ours": headline["ours"]["units_per_1000_events"],
                "original": headline["original"]["units_per_1000_events"],
            },
            "prices_as_of": prices.PRICES_AS_OF,
        },
        "ratio_ours_to_original_batch100": round(
            headline["ours"]["total"] / headline["original"]["total"], 3
        ),
        "ratio_ours_same_sinks_to_original_batch100": round(
            same_sinks["total"] / headline["original"]["total"], 3
        ),
        "ours_same_sinks_as_original_breakdown": same_sinks["breakdown"],
        "runs": {name: _summary(measured) for name, measured in runs.items()},
        "density_sweep": sweep,
        "scales": scales,
        # The module's defaults: alarms, dashboard and the topic's own key.
        "monitoring_monthly": monitoring_monthly(),
        "assumptions": {
            "call_latency_ms": CALL_LATENCY_MS,
            "default_call_latency_ms": DEFAULT_CALL_LATENCY_MS,
            "memory_mb": MEMORY_MB,
            "architecture": ARCHITECTURE,
            "one_vcpu_mb": ONE_VCPU_MB,
            "stream_mode": "ON_DEMAND",
            "log_retention_days": LOG_RETENTION_DAYS,
            "events_per_user_for_storage": round(workload.events / workload.config.users, 2),
            "unpriced": prices.unpriced(),
        },
        "prices": prices.as_table(),
        "plot": str(plot_path.relative_to(ROOT))
        if plot_path is not None and plot_path.is_relative_to(ROOT)
        else None,
    }


# ----------------------------------------------------------------------------------------------------
# The attribution variant (#11 item 4): ours with attribution_enabled off and on, same workload


def _table_units(run: MeasuredRun) -> dict[str, dict[str, dict[str, float]]]:
    """Read and write request units and requests per 1,000 events, per table and operation."""
    scale = 1000 / run.events
    return {
        table: {
            operation: {
                "requests": round(usage["requests"] * scale, 3),
                "read_units": round(usage["read_units"] * scale, 3),
                "write_units": round((usage["write_units"] + usage["index_write_units"]) * scale, 3),
            }
            for operation, usage in operations.items()
        }
        for table, operations in run.capacity["by_table"].items()
    }


def attribution_variant(
    users: int = STANDARD_USERS,
    events: int = STANDARD_EVENTS,
    batch_size: int = HEADLINE_BATCH_SIZE,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Ours on B6's standard workload at one batch size, attribution off then on: USD per million events,
    DynamoDB units and calls per 1,000 events, and what the attribution run recorded (touches,
    conversions). The workload is the standard one unchanged: its Pinpoint funnels already carry the
    touches (campaign and journey opens, clicks, SMS successes, push opens) and the conversions (app
    sessions' `_monetization.purchase` with `_item_price` and `_quantity`) at the rates of
    `simulator.funnels.FunnelRates` / `ActivityMix`."""
    workload = standard_workload(users, events)
    sides: dict[str, Any] = {}
    for name, on in (("off", False), ("on", True)):
        call_run, measured = measure(workload, "ours", batch_size, log=log, attribution=on)
        figures = per_million(measured)
        scale = 1000 / measured.events
        sides[name] = {
            "usd_per_million_events": figures["total"],
            "breakdown_usd_per_million": figures["breakdown"],
            "units_per_1000_events": figures["units_per_1000_events"],
            "units_per_1000_events_by_table": _table_units(measured),
            "calls_per_1000_events": {
                call: round(count * scale, 3) for call, count in sorted(measured.calls.items())
            },
            "outcome": call_run.outcome,
            "lambda": lambda_usage(measured),
        }
    off, on = sides["off"], sides["on"]
    transactions = "dynamodb.TransactWriteItems"
    return {
        "workload": {"users": workload.config.users, "events": workload.events, "seed": workload.config.seed},
        "batch_size": batch_size,
        "usd_per_million_events": {"off": off["usd_per_million_events"], "on": on["usd_per_million_events"]},
        "added_usd_per_million_events": round(
            on["usd_per_million_events"] - off["usd_per_million_events"], 4
        ),
        "ratio_on_to_off": round(on["usd_per_million_events"] / off["usd_per_million_events"], 3),
        "added_per_1000_events": {
            "dynamodb_read_request_units": round(
                on["units_per_1000_events"]["dynamodb_read_request_units"]
                - off["units_per_1000_events"]["dynamodb_read_request_units"],
                3,
            ),
            "dynamodb_write_request_units": round(
                on["units_per_1000_events"]["dynamodb_write_request_units"]
                - off["units_per_1000_events"]["dynamodb_write_request_units"],
                3,
            ),
            "transact_write_items": round(
                on["calls_per_1000_events"].get(transactions, 0.0)
                - off["calls_per_1000_events"].get(transactions, 0.0),
                3,
            ),
        },
        "sides": sides,
        "prices_as_of": prices.PRICES_AS_OF,
    }
