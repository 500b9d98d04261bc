"""EventBridge Pipes with an SQS source and a Kinesis target, run by the embedded cloud (moto stores pipes).

moto 5.2.5 keeps `aws_pipes_pipe` resources (Create/Describe/List/Start/StopPipe) and moves nothing. The
moto server process (`moto_server.main()`) runs a `PipesService`: a thread that finds the running pipes and,
per pipe, polls the source queue through the emulator's own SQS API and writes to the stream through its
Kinesis API, as the Pipes service is a client of both:

- `SqsQueueParameters.BatchSize` (default 10) messages at most per batch, gathered for at most
  `MaximumBatchingWindowInSeconds` (default 0: a batch goes as soon as messages are there);
- each message becomes the pipe's SQS event (`messageId`, `receiptHandle`, `body`, `attributes`,
  `messageAttributes`, `md5OfBody`, `eventSource`, `eventSourceARN`, `awsRegion`); the record is that
  event as JSON, or `TargetParameters.InputTemplate` rendered on it (JSON paths see the body parsed when
  it is JSON, AWS's "implicit body data parsing"; reserved variables `aws.pipes.*`);
- the partition key is `KinesisStreamParameters.PartitionKey`, a constant or a JSON path into the event;
- one PutRecords per batch; a message is deleted from the queue only after its record was written. A
  record that fails (PutRecords entry error, a partition key path that does not resolve) leaves its
  message in the queue: it comes back after the visibility timeout, and the queue's redrive policy moves
  it to a dead-letter queue after maxReceiveCount receives (SQS's own behaviour, as on AWS);
- `SourceParameters.FilterCriteria`: a message no filter matches is deleted without delivery.

Not run: pipes with an enrichment (nothing runs Lambda code in the moto process), sources other than SQS
and targets other than Kinesis (each left alone). Pipes in moto's default account only.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from simulator.local_cloud.delivery_templates import (
    MISSING,
    UNKNOWN,
    json_path,
    partition_key_value,
    render_template,
)

RUNNING = "RUNNING"
SQS_RECEIVE_MAX = 10
KINESIS_PUT_RECORDS_MAX = 500


@dataclass(frozen=True)
class PipeSpec:
    """What the service needs of one pipe, read from moto's pipes backend."""

    arn: str
    name: str
    region: str
    source_arn: str
    target_arn: str
    batch_size: int
    window_s: float
    partition_key: str
    input_template: str | None
    filter_patterns: tuple[str, ...]

    @classmethod
    def from_pipe(cls, pipe: Any) -> PipeSpec:
        source = (pipe.source_parameters or {}).get("SqsQueueParameters") or {}
        filters = ((pipe.source_parameters or {}).get("FilterCriteria") or {}).get("Filters") or []
        target = pipe.target_parameters or {}
        return cls(
            arn=pipe.arn,
            name=pipe.name,
            region=pipe.region_name,
            source_arn=pipe.source,
            target_arn=pipe.target,
            batch_size=int(source.get("BatchSize") or 10),
            window_s=float(source.get("MaximumBatchingWindowInSeconds") or 0),
            partition_key=str((target.get("KinesisStreamParameters") or {}).get("PartitionKey") or ""),
            input_template=target.get("InputTemplate"),
            filter_patterns=tuple(str(f["Pattern"]) for f in filters if f.get("Pattern")),
        )

    @staticmethod
    def runnable(pipe: Any) -> bool:
        return (
            pipe.desired_state == RUNNING
            and not pipe.enrichment
            and str(pipe.source).split(":")[2:3] == ["sqs"]
            and str(pipe.target).split(":")[2:3] == ["kinesis"]
        )


def sqs_pipe_event(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """The event a pipe builds from one received SQS message (the shape Lambda's SQS events have)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: {
                "stringValue": value.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": value.get("DataType"),
            }
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def path_view(event: dict[str, Any]) -> dict[str, Any]:
    """The event as JSON paths see it: a body that is JSON is parsed (implicit body data parsing)."""
    try:
        body = json.loads(event["body"])
    except (TypeError, ValueError):
        return event
    return {**event, "body": body}


def pipe_record(spec: PipeSpec, event: dict[str, Any], ingestion_time: str) -> tuple[bytes, str | None]:
    """(record data, partition key or None when the key path does not resolve) for one pipe event."""
    view = path_view(event)
    if spec.input_template is None:
        data = json.dumps(event)
    else:
        reserved = {
            "aws.pipes.pipe-arn": spec.arn,
            "aws.pipes.pipe-name": spec.name,
            "aws.pipes.source-arn": spec.source_arn,
            "aws.pipes.enrichment-arn": "",
            "aws.pipes.target-arn": spec.target_arn,
            "aws.pipes.event.ingestion-time": ingestion_time,
            "aws.pipes.event": event,
            "aws.pipes.event.json": event,
        }

        def lookup(name: str) -> Any:
            if name.startswith("$"):
                return json_path(view, name)
            return reserved.get(name, UNKNOWN)

        data = render_template(spec.input_template, lookup)
    key: str | None = spec.partition_key
    if spec.partition_key.startswith("$"):
        value = json_path(view, spec.partition_key)
        key = None if value is MISSING else partition_key_value(value)
    return data.encode(), key


def _matches_any(patterns: tuple[str, ...], view: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern

    return any(EventPattern.load(pattern).matches_event(view) for pattern in patterns)  # type: ignore[arg-type]


class _PipeWorker:
    """Moves one pipe's messages, batch after batch, until stopped."""

    def __init__(self, service: PipesService, spec: PipeSpec) -> None:
        self.service = service
        self.spec = spec
        self.stop_event = threading.Event()
        parts = spec.source_arn.split(":")
        self.queue_name, self.queue_account = parts[5], parts[4]
        self.stream_name = spec.target_arn.split("/", 1)[1]
        self.sqs = service.client("sqs", spec.region)
        self.kinesis = service.client("kinesis", spec.region)
        self.thread = threading.Thread(target=self._loop, name=f"pipe-{spec.name}", daemon=True)
        self._queue_url: str | None = None

    def _receive(self) -> list[dict[str, Any]]:
        """One batch: up to BatchSize messages, gathered for at most the window from the first one."""
        if self._queue_url is None:
            self._queue_url = self.sqs.get_queue_url(
                QueueName=self.queue_name, QueueOwnerAWSAccountId=self.queue_account
            )["QueueUrl"]
        spec = self.spec
        batch: list[dict[str, Any]] = []
        first_at = 0.0
        while not self.stop_event.is_set() and len(batch) < spec.batch_size:
            wanted = min(SQS_RECEIVE_MAX, spec.batch_size - len(batch))
            messages = self.sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=wanted,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                if not messages:
                    return []  # nothing waiting
                first_at = time.monotonic()
            batch += messages
            if time.monotonic() - first_at >= spec.window_s:
                break
            if len(messages) < wanted:
                self.stop_event.wait(self.service.poll_interval_s)
        return batch

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        spec = self.spec
        ingestion_time = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        done: list[dict[str, Any]] = []
        entries: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for message in messages:
            event = sqs_pipe_event(message, spec.source_arn, spec.region)
            if spec.filter_patterns and not _matches_any(spec.filter_patterns, path_view(event)):
                done.append(message)  # filtered out: deleted, never delivered
                continue
            data, key = pipe_record(spec, event, ingestion_time)
            if key:
                entries.append((message, {"Data": data, "PartitionKey": key}))
        for start in range(0, len(entries), KINESIS_PUT_RECORDS_MAX):
            chunk = entries[start : start + KINESIS_PUT_RECORDS_MAX]
            response = self.kinesis.put_records(StreamName=self.stream_name, Records=[r for _, r in chunk])
            done += [
                m
                for (m, _), result in zip(chunk, response["Records"], strict=True)
                if "ErrorCode" not in result
            ]
        for start in range(0, len(done), SQS_RECEIVE_MAX):
            self.sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + SQS_RECEIVE_MAX])
                ],
            )

    def _loop(self) -> None:
        failures = 0
        while not self.stop_event.is_set():
            try:
                messages = self._receive()
                if messages:
                    self._deliver(messages)
                else:
                    self.stop_event.wait(self.service.poll_interval_s)
                failures = 0
            except (ClientError, BotoCoreError):
                failures += 1  # queue or stream gone (a destroy under way): back off, the supervisor decides
                self._queue_url = None
                self.stop_event.wait(min(2.0, self.service.poll_interval_s * 2**failures))

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)


class PipesService:
    """Finds the runnable pipes in moto's pipes backend and keeps one worker per pipe."""

    def __init__(
        self, endpoint_url: str, poll_interval_s: float = 0.1, discovery_interval_s: float = 0.5
    ) -> None:
        self.endpoint_url = endpoint_url
        self.poll_interval_s = poll_interval_s
        self.discovery_interval_s = discovery_interval_s
        self._stop = threading.Event()
        self._workers: dict[str, _PipeWorker] = {}
        self._thread = threading.Thread(target=self._supervise, name="pipes-service", daemon=True)
        self._session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
        self._config = Config(retries={"max_attempts": 3, "mode": "standard"})

    def client(self, service: str, region: str) -> Any:
        return self._session.client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=self._config
        )

    def runnable_pipes(self) -> dict[str, PipeSpec]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.pipes.models import pipes_backends

        found: dict[str, PipeSpec] = {}
        for backend in list(pipes_backends[DEFAULT_ACCOUNT_ID].values()):
            for pipe in list(backend.pipes.values()):
                if PipeSpec.runnable(pipe):
                    spec = PipeSpec.from_pipe(pipe)
                    found[spec.arn] = spec
        return found

    def _supervise(self) -> None:
        while not self._stop.is_set():
            wanted = self.runnable_pipes()
            for arn, worker in list(self._workers.items()):
                if wanted.get(arn) != worker.spec:  # deleted, stopped or changed
                    worker.stop()
                    del self._workers[arn]
            for arn, spec in wanted.items():
                if arn not in self._workers:
                    worker = _PipeWorker(self, spec)
                    self._workers[arn] = worker
                    worker.thread.start()
            self._stop.wait(self.discovery_interval_s)

    def start(self) -> PipesService:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for worker in self._workers.values():
            worker.stop()
        self._workers.clear()


def wait_for_pipe_sources(
    pipes: Any, sqs: Any, deadline: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Return once the SQS source queue of every running pipe is empty, nothing in flight or delayed
    (a client-side drain check: `pipes` and `sqs` are boto3 clients). Raises TimeoutError at `deadline`
    (time.monotonic())."""
    attributes = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    while True:
        pending: dict[str, int] = {}
        for pipe in pipes.list_pipes(DesiredState=RUNNING).get("Pipes", []):
            parts = str(pipe["Source"]).split(":")
            if parts[2:3] != ["sqs"]:
                continue
            url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=attributes)["Attributes"]
            waiting = sum(int(counts.get(name, 0)) for name in attributes)
            if waiting:
                pending[pipe["Name"]] = waiting
        if not pending:
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"pipe sources not drained: {pending} messages waiting")
        sleep(0.05)
