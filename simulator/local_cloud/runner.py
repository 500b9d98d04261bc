"""Run the Lambda functions deployed to the emulator, fed by their stream event source mappings.

For every enabled Kinesis or DynamoDB Streams event source mapping the runner reads the mapping and the
function from the emulator and then behaves like Lambda's stream poller:

- one reader per shard (GetShardIterator at the mapping's StartingPosition, then GetRecords), children of
  a resharded shard start after their parent is finished;
- batches of at most BatchSize records (and 6 MB of event payload), gathered for at most
  MaximumBatchingWindowInSeconds; records of a shard are delivered in sequence order;
- ParallelizationFactor N: each shard's records go to N lanes by partition key (Kinesis) or item key
  (DynamoDB), so a key's records stay in order; lanes invoke concurrently (up to the worker pool size);
- a handler exception or timeout fails the whole batch; with ReportBatchItemFailures a response names
  failed records and the batch is retried from the lowest failed sequence number (an invalid response
  fails the whole batch, as on AWS);
- retries up to MaximumRetryAttempts (-1 = until the records expire), BisectBatchOnFunctionError splits a
  failed batch in halves (each split counts as one retry of its records), MaximumRecordAgeInSeconds
  discards expired records; discarded batches go to the on-failure destination (SQS or SNS) with AWS's
  message shape, and the shard moves on.

Simplifications (documented in the README): checkpoints live in memory (a retry re-sends the records the
runner holds instead of re-reading the shard), there is no 1-per-second GetRecords pacing, FilterCriteria
and tumbling windows are not applied (a warning is logged), and LATEST starts at the runner's start.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from simulator.local_cloud.events import (
    DYNAMODB,
    KINESIS,
    StreamRecord,
    dynamodb_record,
    invocation_event,
    kinesis_record,
    on_failure_record,
)
from simulator.local_cloud.stats import PipelineStats
from simulator.local_cloud.workers import FunctionPool, FunctionSpec, Invocation, new_work_dir, zip_sha256_b64

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024 - 64 * 1024  # synchronous invocation payload limit, with headroom
GET_RECORDS_LIMIT = 10_000
LogFn = Callable[[str], None]
LogSink = Callable[[str, str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class MappingConfig:
    """An event source mapping as the emulator reports it, with AWS defaults for absent fields."""

    uuid: str
    function_arn: str
    source_arn: str
    source_kind: str
    enabled: bool
    batch_size: int
    window_s: float
    starting_position: str
    starting_position_timestamp: Any
    bisect: bool
    max_retries: int  # -1 = infinite
    max_record_age_s: int  # -1 = infinite
    parallelization: int
    report_item_failures: bool
    on_failure_arn: str | None
    filter_criteria: Any
    tumbling_window_s: int

    @classmethod
    def from_api(cls, esm: Mapping[str, Any]) -> MappingConfig:
        source_arn = str(esm["EventSourceArn"])
        service = source_arn.split(":")[2]
        on_failure = (esm.get("DestinationConfig") or {}).get("OnFailure") or {}
        return cls(
            uuid=str(esm["UUID"]),
            function_arn=str(esm["FunctionArn"]),
            source_arn=source_arn,
            source_kind=KINESIS if service == "kinesis" else DYNAMODB if service == "dynamodb" else service,
            enabled=esm.get("State", "Enabled") in ("Enabled", "Enabling", "Creating", "Updating"),
            batch_size=int(esm.get("BatchSize") or 100),
            window_s=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=str(esm.get("StartingPosition") or "TRIM_HORIZON"),
            starting_position_timestamp=esm.get("StartingPositionTimestamp"),
            bisect=bool(esm.get("BisectBatchOnFunctionError") or False),
            max_retries=int(esm["MaximumRetryAttempts"])
            if esm.get("MaximumRetryAttempts") is not None
            else -1,
            max_record_age_s=(
                int(esm["MaximumRecordAgeInSeconds"])
                if esm.get("MaximumRecordAgeInSeconds") is not None
                else -1
            ),
            parallelization=max(1, int(esm.get("ParallelizationFactor") or 1)),
            report_item_failures="ReportBatchItemFailures" in (esm.get("FunctionResponseTypes") or []),
            on_failure_arn=on_failure.get("Destination"),
            filter_criteria=esm.get("FilterCriteria"),
            tumbling_window_s=int(esm.get("TumblingWindowInSeconds") or 0),
        )


@dataclass(frozen=True)
class RunnerSettings:
    poll_interval_s: float = 0.05  # idle GetRecords pause (AWS polls about once a second per shard)
    retry_backoff_s: float = 0.05  # first retry delay, doubled per attempt up to retry_backoff_max_s
    retry_backoff_max_s: float = 1.0
    discovery_interval_s: float = 2.0  # shard discovery (resharding)
    max_concurrency_per_function: int = 2  # worker processes per function; mind the 2-core machines
    # Test hooks (tests/reliability), off by default:
    # AWS_ENDPOINT_URL given to the functions, e.g. a fault-injecting proxy in front of the emulator
    # (simulator/local_cloud/fault_proxy.py); None = the emulator itself. The runner's own calls never use it.
    function_endpoint_url: str | None = None
    # Each batch is first invoked this many extra times, their results ignored, as when Lambda re-delivers
    # a batch whose response it lost: every batch reaches the function 1 + duplicate_deliveries times.
    duplicate_deliveries: int = 0


class _Lane:
    """Records waiting for one concurrent batch slot of a shard, in arrival order."""

    def __init__(self) -> None:
        self.records: deque[StreamRecord] = deque()
        self.condition = threading.Condition()
        self.first_waiting_since: float | None = None
        self.in_flight = False

    def idle(self) -> bool:
        with self.condition:
            return not self.records and not self.in_flight


class ShardConsumer:
    """Reads one shard and delivers its records to the function, lane by lane."""

    def __init__(self, runner: LocalLambdaRunner, mapping: MappingConfig, shard_id: str) -> None:
        self.runner = runner
        self.mapping = mapping
        self.shard_id = shard_id
        self.lanes = [_Lane() for _ in range(mapping.parallelization)]
        self.last_empty_poll_started = float("-inf")
        self.reader_finished = False  # the shard is closed and read to its end
        self._last_sequence: str | None = None
        self.threads = [threading.Thread(target=self._read, name=f"read-{shard_id}", daemon=True)]
        self.threads += [
            threading.Thread(target=self._deliver, args=(lane,), name=f"lane-{shard_id}-{i}", daemon=True)
            for i, lane in enumerate(self.lanes)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout_s: float) -> None:
        for thread in self.threads:
            thread.join(timeout=timeout_s)
        for lane in self.lanes:
            with lane.condition:
                lane.condition.notify_all()

    @property
    def finished(self) -> bool:
        return self.reader_finished and all(lane.idle() for lane in self.lanes)

    def idle_since(self, moment: float) -> bool:
        """True when every record read so far is done and an empty read started at or after `moment`."""
        read_done = self.reader_finished or self.last_empty_poll_started >= moment
        return read_done and all(lane.idle() for lane in self.lanes)

    def buffered(self) -> int:
        return sum(len(lane.records) for lane in self.lanes)

    # reading ------------------------------------------------------------------------------------------
    def _iterator(self, after: str | None) -> str:
        runner, mapping = self.runner, self.mapping
        if mapping.source_kind == KINESIS:
            # By name: moto 5.2 answers GetShardIterator with StreamARN by ResourceNotFound.
            args: dict[str, Any] = {
                "StreamName": mapping.source_arn.split("/", 1)[1],
                "ShardId": self.shard_id,
            }
            client = runner.kinesis
        else:
            args = {"StreamArn": mapping.source_arn, "ShardId": self.shard_id}
            client = runner.dynamodbstreams
        if after is not None:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        elif mapping.starting_position == "AT_TIMESTAMP" and mapping.source_kind == KINESIS:
            args.update(ShardIteratorType="AT_TIMESTAMP", Timestamp=mapping.starting_position_timestamp)
        else:
            args["ShardIteratorType"] = "LATEST" if mapping.starting_position == "LATEST" else "TRIM_HORIZON"
        return str(client.get_shard_iterator(**args)["ShardIterator"])

    def _get_records(self, iterator: str) -> tuple[list[StreamRecord], str | None]:
        runner, mapping = self.runner, self.mapping
        if mapping.source_kind == KINESIS:
            response = runner.kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            role = runner.function_role(mapping.function_arn)
            records = [
                kinesis_record(raw, self.shard_id, mapping.source_arn, runner.region, role)
                for raw in response.get("Records", [])
            ]
        else:
            response = runner.dynamodbstreams.get_records(ShardIterator=iterator, Limit=1000)
            records = [dynamodb_record(raw, mapping.source_arn, runner.region) for raw in response["Records"]]
        return records, response.get("NextShardIterator")

    def _read(self) -> None:
        stop = self.runner.stop_event
        iterator: str | None = None
        cap = 2 * self.mapping.batch_size * self.mapping.parallelization + GET_RECORDS_LIMIT
        failures = 0
        while not stop.is_set():
            if self.buffered() >= cap:
                stop.wait(self.runner.settings.poll_interval_s)
                continue
            started = time.monotonic()
            try:
                if iterator is None:
                    iterator = self._iterator(self._last_sequence)
                records, iterator = self._get_records(iterator)
                failures = 0
            except (ClientError, BotoCoreError) as exc:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    self.runner.log(
                        f"runner: reading {self.shard_id} failed ({type(exc).__name__}), retrying"
                    )
                iterator = None  # expired or invalid iterators are re-created after the last record read
                stop.wait(min(2.0, self.runner.settings.poll_interval_s * 2**failures))
                continue
            if records:
                self._last_sequence = records[-1].sequence_number
                self._distribute(records)
                self.runner.note_activity(records_read=len(records))
            else:
                self.last_empty_poll_started = started
            if iterator is None:  # closed shard, read to its end
                self.reader_finished = True
                return
            if not records:
                stop.wait(self.runner.settings.poll_interval_s)

    def _distribute(self, records: list[StreamRecord]) -> None:
        # A page reaches each lane whole: appended one record at a time, a lane with no batching window
        # could wake between two appends and invoke with part of a page Lambda would deliver at once.
        now = time.monotonic()
        count = len(self.lanes)
        by_lane: dict[int, list[StreamRecord]] = {}
        for record in records:
            index = 0 if count == 1 else zlib.crc32(record.partition_key.encode()) % count
            by_lane.setdefault(index, []).append(record)
        for index, page in by_lane.items():
            lane = self.lanes[index]
            with lane.condition:
                if not lane.records:
                    lane.first_waiting_since = now
                lane.records.extend(page)
                lane.condition.notify()

    # delivering ---------------------------------------------------------------------------------------
    def _next_batch(self, lane: _Lane) -> list[StreamRecord] | None:
        """Wait for a full batch or the end of the batching window; mark the lane in flight."""
        stop = self.runner.stop_event
        batch_size, window = self.mapping.batch_size, self.mapping.window_s
        with lane.condition:
            while not stop.is_set():
                if lane.records:
                    waited = time.monotonic() - (lane.first_waiting_since or 0.0)
                    if len(lane.records) >= batch_size or waited >= window:
                        break
                    lane.condition.wait(timeout=window - waited)
                else:
                    lane.condition.wait(timeout=0.5)
            if stop.is_set():
                return None
            batch: list[StreamRecord] = []
            payload = 0
            while lane.records and len(batch) < batch_size:
                size = lane.records[0].size_bytes + 2
                if batch and payload + size > MAX_PAYLOAD_BYTES:
                    break
                batch.append(lane.records.popleft())
                payload += size
            lane.first_waiting_since = time.monotonic() if lane.records else None
            lane.in_flight = True
        return batch

    def _deliver(self, lane: _Lane) -> None:
        while not self.runner.stop_event.is_set():
            batch = self._next_batch(lane)
            if batch is None:
                return
            try:
                self.runner.note_activity()
                self._process(batch)
            except Exception as exc:  # the runner must never stall silently
                self.runner.log(f"runner: delivery on {self.shard_id} crashed: {type(exc).__name__}: {exc}")
                self.runner.stats.count("runner_errors")
            finally:
                # Count the activity before the lane looks idle, so a drain check never misses this batch.
                self.runner.note_activity()
                with lane.condition:
                    lane.in_flight = False

    def _process(self, batch: list[StreamRecord]) -> None:
        """Invoke until every record of `batch` succeeded or was discarded (to the on-failure destination)."""
        runner, mapping = self.runner, self.mapping
        work: deque[tuple[list[StreamRecord], int]] = deque([(batch, 0)])
        while work and not runner.stop_event.is_set():
            records, attempts = work.popleft()
            records = self._discard_expired(records, attempts)
            if not records:
                continue
            for _ in range(runner.settings.duplicate_deliveries):
                runner.invoke(mapping.function_arn, invocation_event(records))
                runner.stats.count("duplicate_deliveries")
            invocation = runner.invoke(mapping.function_arn, invocation_event(records))
            failed_from, partial = self._failed_from(invocation, records)
            if failed_from is None:
                continue
            remaining = records[failed_from:]
            if 0 <= mapping.max_retries <= attempts:
                self._discard(remaining, "RetryAttemptsExhausted", attempts + 1, invocation.function_error)
                continue
            runner.stats.count("retries")
            delay = min(runner.settings.retry_backoff_max_s, runner.settings.retry_backoff_s * 2**attempts)
            runner.stop_event.wait(delay)
            if mapping.bisect and not partial and len(remaining) > 1:
                runner.stats.count("bisections")
                middle = len(remaining) // 2
                work.appendleft((remaining[middle:], attempts + 1))
                work.appendleft((remaining[:middle], attempts + 1))
            else:
                work.appendleft((remaining, attempts + 1))

    def _failed_from(self, invocation: Invocation, records: list[StreamRecord]) -> tuple[int | None, bool]:
        """Index of the first record to retry (None: batch succeeded); True when it was a partial failure."""
        if not invocation.ok:
            return 0, False
        if not self.mapping.report_item_failures:
            return None, False
        result = invocation.result
        if result is None:
            return None, False
        if not isinstance(result, dict):
            self.runner.stats.count("invalid_responses")
            return 0, False
        failures = result.get("batchItemFailures")
        if not failures:
            return None, False
        position = {record.sequence_number: index for index, record in enumerate(records)}
        indexes = []
        for failure in failures if isinstance(failures, list) else [None]:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not isinstance(identifier, str) or identifier not in position:
                self.runner.stats.count("invalid_responses")
                return 0, False  # AWS: an invalid item identifier fails the whole batch
            indexes.append(position[identifier])
        self.runner.stats.count("partial_failures")
        return min(indexes), True

    def _discard_expired(self, records: list[StreamRecord], attempts: int) -> list[StreamRecord]:
        max_age = self.mapping.max_record_age_s
        if max_age < 0:
            return records
        now = time.time()
        expired = [record for record in records if now - record.arrival > max_age]
        if expired:
            self._discard(expired, "RecordAgeExceeded", attempts, None)
            return [record for record in records if now - record.arrival <= max_age]
        return records

    def _discard(self, records: list[StreamRecord], condition: str, invokes: int, error: str | None) -> None:
        runner, mapping = self.runner, self.mapping
        runner.stats.count("batches_discarded")
        runner.stats.count("records_discarded", len(records))
        if mapping.on_failure_arn is None:
            runner.log(
                f"runner: {len(records)} records of {self.shard_id} discarded ({condition}), no destination"
            )
            return
        message = on_failure_record(
            source_kind=mapping.source_kind,
            function_arn=mapping.function_arn,
            condition=condition,
            invoke_count=invokes,
            shard_id=self.shard_id,
            stream_arn=mapping.source_arn,
            records=records,
            function_error=error,
            now=time.time(),
        )
        runner.send_on_failure(mapping.on_failure_arn, message)
        runner.log(
            f"runner: {len(records)} records of {self.shard_id} sent to the on-failure destination "
            f"({condition})"
        )


class _MappingPoller:
    """Discovers the shards of one mapping's source and runs a ShardConsumer per shard."""

    def __init__(self, runner: LocalLambdaRunner, mapping: MappingConfig) -> None:
        self.runner = runner
        self.mapping = mapping
        self.consumers: dict[str, ShardConsumer] = {}
        self.thread = threading.Thread(target=self._loop, name=f"esm-{mapping.uuid[:8]}", daemon=True)
        self._lock = threading.Lock()

    def _shards(self) -> list[tuple[str, str | None]]:
        if self.mapping.source_kind == KINESIS:
            shards: list[dict[str, Any]] = []
            args: dict[str, Any] = {"StreamName": self.mapping.source_arn.split("/", 1)[1]}
            while True:
                page = self.runner.kinesis.list_shards(**args)
                shards += page["Shards"]
                if not page.get("NextToken"):
                    break
                args = {"NextToken": page["NextToken"]}
        else:
            shards = []
            args = {"StreamArn": self.mapping.source_arn}
            while True:
                description = self.runner.dynamodbstreams.describe_stream(**args)["StreamDescription"]
                shards += description["Shards"]
                if not description.get("LastEvaluatedShardId"):
                    break
                args["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        return [(shard["ShardId"], shard.get("ParentShardId")) for shard in shards]

    def discover(self) -> None:
        shards = self._shards()
        known = {shard_id for shard_id, _ in shards}
        with self._lock:
            for shard_id, parent in shards:
                if shard_id in self.consumers:
                    continue
                parent_consumer = self.consumers.get(parent) if parent else None
                parent_pending = parent in known and (parent_consumer is None or not parent_consumer.finished)
                if parent_pending:
                    continue  # keep the order across a reshard: children after their parent
                consumer = ShardConsumer(self.runner, self.mapping, shard_id)
                self.consumers[shard_id] = consumer
                consumer.start()

    def start(self) -> None:
        self.discover()
        self.thread.start()

    def _loop(self) -> None:
        while not self.runner.stop_event.wait(self.runner.settings.discovery_interval_s):
            with contextlib.suppress(ClientError, BotoCoreError):
                self.discover()

    def all_consumers(self) -> list[ShardConsumer]:
        with self._lock:
            return list(self.consumers.values())

    def join(self, timeout_s: float) -> None:
        self.thread.join(timeout=timeout_s)
        for consumer in self.all_consumers():
            consumer.join(timeout_s)


class LocalLambdaRunner:
    """Runs the stream-triggered functions of an emulator (moto) locally; a context manager.

    code_zips maps a function name to its deployment package (moto does not serve code back); when the
    emulator reports a CodeSha256, the zip must match it, so the runner runs exactly what was deployed.
    function_names limits the runner to those functions' mappings (default: all).
    """

    def __init__(
        self,
        endpoint_url: str,
        code_zips: Mapping[str, Path],
        *,
        region: str = "us-east-1",
        pinpoint_endpoint_url: str | None = None,
        customer_profiles_endpoint_url: str | None = None,
        settings: RunnerSettings | None = None,
        log: LogFn = _quiet,
        log_sink: LogSink | None = None,
        function_names: set[str] | None = None,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self.pinpoint_endpoint_url = pinpoint_endpoint_url
        self.customer_profiles_endpoint_url = customer_profiles_endpoint_url
        self.code_zips = {name: Path(path) for name, path in code_zips.items()}
        self.settings = settings or RunnerSettings()
        self.log = log
        self.log_sink = log_sink
        self.function_names = function_names  # None = every function with a stream mapping
        self.stats = PipelineStats()
        self.stop_event = threading.Event()
        self._activity = 0
        self._activity_lock = threading.Lock()
        self._pools: dict[str, FunctionPool] = {}
        self._specs: dict[str, FunctionSpec] = {}
        self._pollers: list[_MappingPoller] = []
        self._error_logs = 0
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)
        self.lambda_ = session.client("lambda", endpoint_url=endpoint_url, config=config)
        self.kinesis = session.client("kinesis", endpoint_url=endpoint_url, config=config)
        self.dynamodbstreams = session.client("dynamodbstreams", endpoint_url=endpoint_url, config=config)
        self.sqs = session.client("sqs", endpoint_url=endpoint_url, config=config)
        self.sns = session.client("sns", endpoint_url=endpoint_url, config=config)

    # lifecycle ------------------------------------------------------------------------------------------
    def mappings(self) -> list[MappingConfig]:
        found: list[MappingConfig] = []
        args: dict[str, Any] = {}
        while True:
            page = self.lambda_.list_event_source_mappings(**args)
            found += [MappingConfig.from_api(esm) for esm in page["EventSourceMappings"]]
            if not page.get("NextMarker"):
                return found
            args = {"Marker": page["NextMarker"]}

    def _function_spec(self, function_arn: str) -> FunctionSpec:
        config = self.lambda_.get_function_configuration(FunctionName=function_arn)
        name = config["FunctionName"]
        if name not in self.code_zips:
            raise RuntimeError(f"no deployment package known for function {name}: pass it in code_zips")
        zip_path = self.code_zips[name]
        deployed = config.get("CodeSha256", "")
        if deployed and zip_sha256_b64(zip_path) != deployed:
            raise RuntimeError(f"{zip_path} is not the package deployed as {name} (CodeSha256 differs)")
        return FunctionSpec(
            name=name,
            arn=config["FunctionArn"],
            handler=config["Handler"],
            timeout_s=float(config.get("Timeout", 3)),
            memory_mb=int(config.get("MemorySize", 128)),
            role_arn=config.get("Role", ""),
            variables=dict((config.get("Environment") or {}).get("Variables") or {}),
            code_zip=zip_path,
            code_sha256=deployed,
        )

    def start(self) -> LocalLambdaRunner:
        mappings = [
            m
            for m in self.mappings()
            if m.enabled
            and m.source_kind in (KINESIS, DYNAMODB)
            and (self.function_names is None or m.function_arn.split(":")[6] in self.function_names)
        ]
        lanes: dict[str, int] = {}
        for mapping in mappings:
            if mapping.filter_criteria or mapping.tumbling_window_s:
                self.log(
                    f"runner: mapping {mapping.uuid[:8]}: FilterCriteria/tumbling windows are not applied"
                )
            if mapping.function_arn not in self._specs:
                self._specs[mapping.function_arn] = self._function_spec(mapping.function_arn)
            lanes[mapping.function_arn] = lanes.get(mapping.function_arn, 0) + mapping.parallelization
        for arn, spec in self._specs.items():
            self._pools[arn] = FunctionPool(
                spec=spec,
                region=self.region,
                endpoint_url=self.settings.function_endpoint_url or self.endpoint_url,
                pinpoint_endpoint_url=self.pinpoint_endpoint_url,
                customer_profiles_endpoint_url=self.customer_profiles_endpoint_url,
                work_dir=new_work_dir(spec.name),
                max_concurrency=max(1, min(self.settings.max_concurrency_per_function, lanes[arn])),
            )
        for mapping in mappings:
            poller = _MappingPoller(self, mapping)
            self._pollers.append(poller)
            poller.start()
        names = sorted(spec.name for spec in self._specs.values())
        self.log(f"runner: {len(mappings)} event source mappings, functions: {', '.join(names) or 'none'}")
        return self

    def stop(self) -> None:
        self.stop_event.set()
        for pool in self._pools.values():
            pool.close()  # unblocks lanes waiting on a worker
        for poller in self._pollers:
            poller.join(timeout_s=10)
        self._pools.clear()

    def __enter__(self) -> LocalLambdaRunner:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # used by the consumers --------------------------------------------------------------------------------
    def function_role(self, function_arn: str) -> str:
        return self._specs[function_arn].role_arn

    def note_activity(self, records_read: int = 0) -> None:
        with self._activity_lock:
            self._activity += 1
        if records_read:
            self.stats.count("records_read", records_read)

    def invoke(self, function_arn: str, event: dict[str, Any]) -> Invocation:
        invocation = self._pools[function_arn].invoke(event)
        self.stats.count("invocations")
        self.stats.count("records_delivered", len(event["Records"]))
        if invocation.timed_out:
            self.stats.count("timeouts")
        if not invocation.ok:
            self.stats.count("function_errors")
            self._error_logs += 1
            if self._error_logs <= 5 or self._error_logs % 100 == 0:
                error = invocation.error or {}
                message = str(error.get("errorMessage", ""))[:200]
                name = self._specs[function_arn].name
                self.log(f"runner: {name} failed ({error.get('errorType')}: {message}) [#{self._error_logs}]")
        self.stats.add_logs(invocation.logs)
        if self.log_sink is not None and invocation.logs:
            self.log_sink(self._specs[function_arn].name, invocation.logs)
        return invocation

    def invoke_by_name(self, function_name: str, event: dict[str, Any]) -> Invocation:
        """Invoke a function that no stream mapping feeds (the scheduled refresher), as its schedule would:
        one synchronous invocation in a worker of its own (created on first use; its package must be in
        code_zips)."""
        config = self.lambda_.get_function_configuration(FunctionName=function_name)
        arn = config["FunctionArn"]
        if arn not in self._pools:
            spec = self._specs[arn] = self._function_spec(arn)
            self._pools[arn] = FunctionPool(
                spec=spec,
                region=self.region,
                endpoint_url=self.settings.function_endpoint_url or self.endpoint_url,
                pinpoint_endpoint_url=self.pinpoint_endpoint_url,
                customer_profiles_endpoint_url=self.customer_profiles_endpoint_url,
                work_dir=new_work_dir(spec.name),
                max_concurrency=1,
            )
        invocation = self._pools[arn].invoke(event)
        self.stats.count("invocations")
        if not invocation.ok:
            self.stats.count("function_errors")
        self.stats.add_logs(invocation.logs)
        if self.log_sink is not None and invocation.logs:
            self.log_sink(self._specs[arn].name, invocation.logs)
        return invocation

    def send_on_failure(self, destination_arn: str, message: dict[str, Any]) -> None:
        body = json.dumps(message)
        parts = destination_arn.split(":")
        try:
            if parts[2] == "sqs":
                url = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
                self.sqs.send_message(QueueUrl=url, MessageBody=body)
            elif parts[2] == "sns":
                self.sns.publish(TopicArn=destination_arn, Message=body)
            else:
                self.log(f"runner: unsupported on-failure destination service {parts[2]}")
                return
        except (ClientError, BotoCoreError) as exc:
            self.log(f"runner: sending to the on-failure destination failed: {type(exc).__name__}")
            self.stats.count("on_failure_send_errors")
            return
        self.stats.count("on_failure_messages")

    # observation --------------------------------------------------------------------------------------------
    def consumers(self) -> list[ShardConsumer]:
        return [consumer for poller in self._pollers for consumer in poller.all_consumers()]

    def worker_pids(self, function_name: str | None = None) -> list[int]:
        """Process ids of the live worker processes (of one function, or all): shutdown and crash tests."""
        pools = [p for p in self._pools.values() if function_name in (None, p.spec.name)]
        return [pid for pool in pools for pid in pool.pids()]

    def threads(self) -> list[threading.Thread]:
        """Every thread the runner started (for shutdown checks)."""
        threads = [poller.thread for poller in self._pollers]
        return threads + [thread for consumer in self.consumers() for thread in consumer.threads]

    def pipeline_stats(self) -> dict[str, Any]:
        return self.stats.snapshot()

    def wait_until_drained(self, timeout_s: float, progress: LogFn | None = None) -> None:
        """Return once everything in the streams has been delivered and no batch is in flight or retrying.

        Drained = over one observation period nothing happened (no record read, no batch started or ended)
        and every shard reader finished an empty GetRecords call that began inside that period. Records
        written before the period (by a producer, or by a handler into a DynamoDB stream) are therefore
        all consumed. Raises TimeoutError after `timeout_s`.
        """
        deadline = time.monotonic() + timeout_s
        last_report = time.monotonic()
        while True:
            with self._activity_lock:
                activity = self._activity
            period_start = time.monotonic()
            while time.monotonic() < deadline:
                consumers = self.consumers()
                if all(consumer.idle_since(period_start) for consumer in consumers):
                    break
                with self._activity_lock:
                    if self._activity != activity:
                        break
                time.sleep(0.02)
            with self._activity_lock:
                quiet = self._activity == activity
            if quiet and all(consumer.idle_since(period_start) for consumer in self.consumers()):
                return
            if time.monotonic() >= deadline:
                busy = [c.shard_id for c in self.consumers() if not c.idle_since(period_start)]
                raise TimeoutError(f"pipeline not drained after {timeout_s:.0f}s; busy shards: {busy}")
            if progress is not None and time.monotonic() - last_report >= 5:
                last_report = time.monotonic()
                delivered = self.stats.snapshot()["runner"].get("records_delivered", 0)
                progress(f"draining: {delivered} records delivered so far")
