"""B1: AWS API calls per 1,000 events, ours against the original 2019 algorithm (deterministic).

Ours: the real handlers (`scorer.handler`, `score_sync.handler`, runtimes built from the environment
as on Lambda) on in-process moto (the three contract tables, the failure queue, an EventBridge bus)
with the local Pinpoint stand-in as the Pinpoint endpoint API. The workload goes to the scorer in
Lambda Kinesis events of `batch_size` records (4 shards by partition key); then the scores table's
DynamoDB stream is read in batches of 100 records (the module's default score-sync batch size) and
given to the sync handler.

Original: `benchmarks/original.py` on the same workload at batch size 100: its scorer on the same
Kinesis events, its updater on its score table's stream in batches of 100, Pinpoint answered by the
stand-in populated with the workload's endpoints and user ids.

Every call is counted by a botocore `before-call` hook on the session the code's clients come from;
the harness (table creation, stream reads: the work of Lambda's event source mapping) uses its own
session and is not counted. Rules are seeded with the original point table on both sides.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import boto3
import engagement_scoring.handlers.score_sync as sync_handler_module
import engagement_scoring.handlers.scorer as scorer_handler_module
from engagement_scoring.core.rules import ORIGINAL_POINTS
from moto import mock_aws

from benchmarks import original
from benchmarks.common import (
    LOCAL_AWS_ENV,
    REGION,
    STANDARD_EVENTS,
    STANDARD_USERS,
    ApiCallCounter,
    LambdaContext,
    kinesis_events,
    patched_environ,
    standard_workload,
    workload_app_id,
)
from simulator.local_cloud.events import dynamodb_record, invocation_event
from simulator.local_cloud.moto_atomic import atomic_dynamodb
from simulator.local_cloud.pinpoint_standin import PinpointStandIn
from simulator.workload import Workload

RULES_TABLE = "bench-score-rules"
SCORES_TABLE = "bench-user-scores"
LEDGER_TABLE = "bench-processed-events"
CAMPAIGN_TABLE = "bench-campaign-attribution"  # only when a run has attribution on (B6's variant)
BUS_NAME = "bench-scores"
QUEUE_NAME = "bench-failures"
ORIGINAL_DEFINITIONS = "engagementScoreDefinition"
ORIGINAL_SCORES = "userEngagementScore"
SYNC_BATCH_SIZE = 100
# The module's default tiers (variables.tf), so tier changes are published as they would be.
DEFAULT_TIERS = [
    {"name": "cold", "min_score": 0},
    {"name": "warm", "min_score": 50},
    {"name": "hot", "min_score": 150},
]
# One rules Scan per cache period and execution environment; a period longer than the run keeps the
# count independent of how fast this machine is (on Lambda: + 1 Scan a minute per environment).
RULES_CACHE_TTL_SECONDS = "3600"
# The module's default publication threshold (variables.tf `score_publish_min_delta`, points): the sync
# publishes a user when its score moved this much since the sinks last saw it, or its tier changed.
SCORE_PUBLISH_MIN_DELTA = "10"


class RunObserver:
    """Hooks for benchmarks that watch a B1 run (B6 prices it); this base one watches nothing, so B1
    alone runs as before. `start` gets the harness session once the tables exist; `attach` each
    function's session events before its first invocation; `invoke` runs one invocation; `logged` gets
    what the invocation logged (bytes, lines)."""

    def start(self, harness: boto3.Session) -> None:
        return None

    def attach(self, function: str, events: Any) -> None:
        return None

    def invoke(self, function: str, call: Callable[[], Any]) -> Any:
        return call()

    def logged(self, function: str, text_bytes: int, lines: int) -> None:
        return None

    def finish(self, harness: boto3.Session) -> None:
        return None


NO_OBSERVER = RunObserver()


@dataclass
class CallRun:
    """The calls of one pipeline run over a workload, with what the pipeline reported doing."""

    name: str
    batch_size: int
    events: int
    records: int
    calls: dict[str, int]
    calls_by_function: dict[str, dict[str, int]]
    invocations: dict[str, int]
    outcome: dict[str, int] = field(default_factory=dict)
    engine_log_calls: dict[str, int] | None = None
    wall_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def per_1000_events(self) -> float:
        return 1000.0 * self.total / self.events

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "events": self.events,
            "records": self.records,
            "total_calls": self.total,
            "calls_per_1000_events": round(self.per_1000_events, 2),
            "calls_by_operation": self.calls,
            "calls_by_function": self.calls_by_function,
            "invocations": self.invocations,
            "outcome": self.outcome,
            "engine_log_calls_agree": (
                None if self.engine_log_calls is None else self.engine_log_calls == self.calls
            ),
            "wall_s": round(self.wall_s, 2),
        }


def _create_contract_tables(dynamodb: Any) -> None:
    """The three tables of docs/architecture.md (on-demand; scores with a NEW_AND_OLD_IMAGES stream)."""
    for name, key, stream in (
        (RULES_TABLE, "event_type", False),
        (SCORES_TABLE, "user_key", True),
        (LEDGER_TABLE, "event_key", False),
    ):
        extra: dict[str, Any] = {}
        if stream:
            extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            **extra,
        )
    dynamodb.update_time_to_live(
        TableName=LEDGER_TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    for event_type, points in ORIGINAL_POINTS.items():
        dynamodb.put_item(
            TableName=RULES_TABLE, Item={"event_type": {"S": event_type}, "points": {"N": str(points)}}
        )


def _stream_batches(session: boto3.Session, table: str, batch_size: int) -> Iterator[dict[str, Any]]:
    """The table's stream from the start, as Lambda DynamoDB events of at most `batch_size` records."""
    dynamodb = session.client("dynamodb")
    streams = session.client("dynamodbstreams")
    stream_arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=batch_size)
            if not response["Records"]:
                break
            yield invocation_event([dynamodb_record(raw, stream_arn, REGION) for raw in response["Records"]])
            iterator = response.get("NextShardIterator")


class _BatchLines:
    """Collects the handlers' one-line batch summaries (printed on stdout) and sums their fields."""

    def __init__(self) -> None:
        self.aws_calls: Counter[str] = Counter()
        self.fields: Counter[str] = Counter()

    def add(self, output: str, message: str, service_of: dict[str, str]) -> None:
        for line in output.splitlines():
            if not line.startswith("{"):
                continue
            parsed = json.loads(line)
            if parsed.get("message") != message:
                continue
            for operation, count in parsed.get("aws_calls", {}).items():
                self.aws_calls[f"{service_of.get(operation, '?')}.{operation}"] += count
            for name, value in parsed.items():
                if isinstance(value, int) and not isinstance(value, bool):
                    self.fields[f"{parsed['function']}.{name}"] += value


# Operation -> botocore service id, to compare the engine's own per-operation counts with ours.
_SERVICE_OF = {
    "Scan": "dynamodb",
    "BatchGetItem": "dynamodb",
    "UpdateItem": "dynamodb",
    "TransactWriteItems": "dynamodb",
    "SendMessageBatch": "sqs",
    "UpdateEndpointsBatch": "pinpoint",
    "PutEvents": "eventbridge",
}


@contextmanager
def _fresh_execution_environments() -> Iterator[None]:
    """No handler runtime yet (clients are made on the first invocation); restored afterwards, with
    boto3's default session, so whatever ran before in this process is left as it was."""
    saved = scorer_handler_module._runtime, sync_handler_module._runtime, boto3.DEFAULT_SESSION
    scorer_handler_module._runtime = sync_handler_module._runtime = None
    try:
        yield
    finally:
        scorer_handler_module._runtime, sync_handler_module._runtime, boto3.DEFAULT_SESSION = saved


def _output_size(text: str) -> tuple[int, int]:
    return len(text.encode("utf-8")), text.count("\n")


def run_ours(
    workload: Workload,
    batch_size: int,
    observer: RunObserver = NO_OBSERVER,
    sync_batch_size: int = SYNC_BATCH_SIZE,
    attribution: bool = False,
) -> CallRun:
    """The workload through our scorer and score sync; every AWS call counted. `attribution`: the
    module's `attribution_enabled = true` (the campaign table, and the scorer's other attribution
    inputs at their defaults)."""
    started = time.perf_counter()
    app_id = workload_app_id(workload)
    events = kinesis_events(workload, batch_size)
    with (
        patched_environ(LOCAL_AWS_ENV),
        atomic_dynamodb(),
        mock_aws(),
        PinpointStandIn() as standin,
    ):
        harness = boto3.Session(region_name=REGION)
        harness_dynamodb = harness.client("dynamodb")
        _create_contract_tables(harness_dynamodb)
        queue_url = harness.client("sqs").create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        harness.client("events").create_event_bus(Name=BUS_NAME)
        observer.start(harness)
        function_env = {
            "RULES_TABLE": RULES_TABLE,
            "SCORES_TABLE": SCORES_TABLE,
            "PROCESSED_EVENTS_TABLE": LEDGER_TABLE,
            "FAILURE_QUEUE_URL": queue_url,
            "USER_KEY_MODE": "auto",
            "DECAY_HALF_LIFE_HOURS": "0",
            "TIERS": json.dumps(DEFAULT_TIERS),
            "RULES_CACHE_TTL_SECONDS": RULES_CACHE_TTL_SECONDS,
            "SCORE_PUBLISH_MIN_DELTA": SCORE_PUBLISH_MIN_DELTA,
            "PINPOINT_APPLICATION_ID": app_id,
            "EVENT_BUS_NAME": BUS_NAME,
            "AWS_ENDPOINT_URL_PINPOINT": standin.endpoint_url,
            "LOG_LEVEL": "INFO",
        }
        if attribution:
            harness_dynamodb.create_table(
                TableName=CAMPAIGN_TABLE,
                KeySchema=[{"AttributeName": "campaign", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "campaign", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
            function_env["CAMPAIGN_ATTRIBUTION_TABLE"] = CAMPAIGN_TABLE
        scorer_calls, sync_calls = ApiCallCounter(), ApiCallCounter()
        lines = _BatchLines()
        with patched_environ(function_env), _fresh_execution_environments():
            # The handlers build their clients from boto3's default session on the first invocation:
            # a fresh default session per function, with the counting hook, stands in for each
            # function's own execution environment.
            failures = Counter[str]()
            context = LambdaContext()
            boto3.setup_default_session(region_name=REGION)
            assert boto3.DEFAULT_SESSION is not None
            scorer_calls.attach(boto3.DEFAULT_SESSION.events)
            observer.attach("scorer", boto3.DEFAULT_SESSION.events)
            for event in events:
                with redirect_stdout(io.StringIO()) as out:
                    response = observer.invoke(
                        "scorer", partial(scorer_handler_module.handler, event, context)
                    )
                failures["scorer"] += len(response["batchItemFailures"])
                lines.add(out.getvalue(), "batch scored", _SERVICE_OF)
                observer.logged("scorer", *_output_size(out.getvalue()))
            boto3.setup_default_session(region_name=REGION)
            assert boto3.DEFAULT_SESSION is not None
            sync_calls.attach(boto3.DEFAULT_SESSION.events)
            observer.attach("score_sync", boto3.DEFAULT_SESSION.events)
            sync_invocations = 0
            for stream_event in _stream_batches(harness, SCORES_TABLE, sync_batch_size):
                sync_invocations += 1
                with redirect_stdout(io.StringIO()) as out:
                    response = observer.invoke(
                        "score_sync", partial(sync_handler_module.handler, stream_event, context)
                    )
                failures["score_sync"] += len(response["batchItemFailures"])
                lines.add(out.getvalue(), "scores synced", _SERVICE_OF)
                observer.logged("score_sync", *_output_size(out.getvalue()))
        observer.finish(harness)
        users = harness_dynamodb.scan(TableName=SCORES_TABLE, Select="COUNT", ConsistentRead=True)["Count"]
        pinpoint_updated = sum(
            1 for endpoint in standin.endpoints(app_id).values() if "EngagementScore" in endpoint["Metrics"]
        )
    calls = Counter(scorer_calls.calls) + Counter(sync_calls.calls)
    fields = lines.fields
    return CallRun(
        name=f"ours_batch{batch_size}",
        batch_size=batch_size,
        events=workload.events,
        records=len(workload.records),
        calls=dict(sorted(calls.items())),
        calls_by_function={"scorer": scorer_calls.by_operation(), "score_sync": sync_calls.by_operation()},
        invocations={"scorer": len(events), "score_sync": sync_invocations},
        outcome={
            "events_scored": fields["scorer.scored"],
            "skipped": sum(v for k, v in fields.items() if k.startswith("scorer.skipped")),
            "users_in_table": users,
            "user_writes": fields["scorer.users_updated"],
            "score_changes_synced": fields["score_sync.users_changed"],
            "pinpoint_endpoint_updates": fields["score_sync.pinpoint_endpoints_updated"],
            "pinpoint_endpoints_with_score": pinpoint_updated,
            "eventbridge_events": fields["score_sync.events_published"],
            "scorer_failed_records": failures["scorer"],
            "score_sync_failed_records": failures["score_sync"],
        }
        | (
            {
                name: fields[f"scorer.{name}"]
                for name in (
                    "touches_recorded",
                    "conversions_attributed",
                    "conversions_unattributed",
                    "conversions_already_credited",
                )
            }
            if attribution
            else {}
        ),
        engine_log_calls=dict(sorted(lines.aws_calls.items())),
        wall_s=time.perf_counter() - started,
    )


# The Lambda Python runtime's log line format (its default handler on the root logger).
_LAMBDA_LOG_FORMAT = (
    "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t00000000-0000-4000-8000-000000000000\t%(message)s\n"
)


class _DroppedRecords(logging.Handler):
    """Counts the records the original's catch-all dropped, and the bytes and lines their log entries
    (tracebacks included) would take in the Lambda runtime's format, instead of printing them."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.text_bytes = 0
        self.lines = 0
        self.setFormatter(logging.Formatter(_LAMBDA_LOG_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        text = self.format(record)
        self.text_bytes += len(text.encode("utf-8"))
        self.lines += 1


def _populate_standin(standin: PinpointStandIn, workload: Workload, app_id: str) -> int:
    """Every endpoint of the population, with its user id (as the original's Pinpoint project held them)."""
    endpoints = 0
    for user in workload.population.users:
        for endpoint in user.endpoints:
            request: dict[str, Any] = {"ChannelType": endpoint.channel_type}
            if user.user_id is not None:
                request["User"] = {"UserId": user.user_id}
            standin.store.update(app_id, endpoint.endpoint_id, request)
            endpoints += 1
    return endpoints


def run_original(
    workload: Workload,
    batch_size: int = 100,
    observer: RunObserver = NO_OBSERVER,
    sync_batch_size: int = SYNC_BATCH_SIZE,
) -> CallRun:
    """The workload through the reference implementation of the original algorithm."""
    started = time.perf_counter()
    app_id = workload_app_id(workload)
    events = kinesis_events(workload, batch_size)
    logger = logging.getLogger(original.__name__)
    dropped = _DroppedRecords()
    saved_propagate, saved_level = logger.propagate, logger.level
    logger.addHandler(dropped)
    logger.propagate = False
    logger.setLevel(logging.ERROR)
    try:
        with patched_environ(LOCAL_AWS_ENV), mock_aws(), PinpointStandIn() as standin:
            _populate_standin(standin, workload, app_id)
            harness = boto3.Session(region_name=REGION)
            original.create_tables(harness.client("dynamodb"), ORIGINAL_DEFINITIONS, ORIGINAL_SCORES)
            original.seed_definitions(
                harness.client("dynamodb"), ORIGINAL_DEFINITIONS, app_id, ORIGINAL_POINTS
            )
            observer.start(harness)
            scorer_calls, updater_calls = ApiCallCounter(), ApiCallCounter()
            scorer_session = boto3.Session(region_name=REGION)
            scorer_calls.attach(scorer_session.events)
            observer.attach("scorer", scorer_session.events)
            dynamodb = scorer_session.client("dynamodb")
            pinpoint = scorer_session.client("pinpoint", endpoint_url=standin.endpoint_url)
            for event in events:
                logged = dropped.text_bytes, dropped.lines
                observer.invoke(
                    "scorer",
                    partial(
                        original.score_records,
                        event["Records"],
                        dynamodb,
                        pinpoint,
                        app_id,
                        ORIGINAL_DEFINITIONS,
                        ORIGINAL_SCORES,
                    ),
                )
                observer.logged("scorer", dropped.text_bytes - logged[0], dropped.lines - logged[1])
            dropped_by_scorer = dropped.count
            updater_session = boto3.Session(region_name=REGION)
            updater_calls.attach(updater_session.events)
            observer.attach("updater", updater_session.events)
            updater_pinpoint = updater_session.client("pinpoint", endpoint_url=standin.endpoint_url)
            updater_invocations = 0
            for stream_event in _stream_batches(harness, ORIGINAL_SCORES, sync_batch_size):
                updater_invocations += 1
                logged = dropped.text_bytes, dropped.lines
                observer.invoke(
                    "updater",
                    partial(original.update_endpoints, stream_event["Records"], updater_pinpoint, app_id),
                )
                observer.logged("updater", dropped.text_bytes - logged[0], dropped.lines - logged[1])
            observer.finish(harness)
            users = harness.client("dynamodb").scan(TableName=ORIGINAL_SCORES, Select="COUNT")["Count"]
    finally:
        logger.removeHandler(dropped)
        logger.propagate = saved_propagate
        logger.setLevel(saved_level)
    calls = Counter(scorer_calls.calls) + Counter(updater_calls.calls)
    return CallRun(
        name=f"original_batch{batch_size}",
        batch_size=batch_size,
        events=workload.events,
        records=len(workload.records),
        calls=dict(sorted(calls.items())),
        calls_by_function={"scorer": scorer_calls.by_operation(), "updater": updater_calls.by_operation()},
        invocations={"scorer": len(events), "updater": updater_invocations},
        outcome={
            "users_in_table": users,
            "records_dropped_by_scorer": dropped_by_scorer,
            "records_dropped_by_updater": dropped.count - dropped_by_scorer,
        },
        wall_s=time.perf_counter() - started,
    )


RUNS = ("ours_batch100", "ours_batch1000", "original_batch100")


def summarize(workload: Workload, runs: dict[str, CallRun]) -> dict[str, Any]:
    """B1's result from its three runs (B6 hands over the runs it watched, so they run once)."""
    ratio = runs["original_batch100"].per_1000_events / runs["ours_batch100"].per_1000_events
    return {
        "workload": {"users": workload.config.users, "events": workload.events, "seed": workload.config.seed},
        **{name: runs[name].as_dict() for name in RUNS},
        "ratio_original_to_ours_batch100": round(ratio, 2),
    }


def run(
    users: int = STANDARD_USERS, events: int = STANDARD_EVENTS, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """B1 on the standard workload (or a smaller one of the same shape): the three runs and the ratio."""
    workload = standard_workload(users, events)
    runs: dict[str, CallRun] = {}
    for name, runner, batch_size in (
        ("ours_batch100", run_ours, 100),
        ("ours_batch1000", run_ours, 1000),
        ("original_batch100", run_original, 100),
    ):
        runs[name] = runner(workload, batch_size)
        done = runs[name]
        log(f"  B1 {name}: {done.per_1000_events:.1f} calls per 1,000 events ({done.wall_s:.0f} s)")
    return summarize(workload, runs)
