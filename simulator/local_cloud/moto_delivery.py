"""Deliveries AWS performs and moto 5.2.5 gets wrong or leaves out, done inside the moto server process.

`install()` patches the moto process once (`moto_server.main()` calls it, like the other patches):

1. EventBridge rule targets that are Kinesis streams. moto stores them, and PutEvents then fails with an
   HTTP 500 for every event the rule matches (`Rule.send_to_targets` raises NotImplementedError). Here
   the event is put into the stream as EventBridge does: the record is the event JSON (`version`, `id`,
   `detail-type`, `source`, `account`, `time`, `region`, `resources`, `detail`), or what the target's
   `Input` / `InputPath` / `InputTransformer` makes of it; the partition key is
   `KinesisParameters.PartitionKeyPath` on the event, else the event id (delivery_templates.py). A
   delivery that fails (stream gone, record over 1 MiB, key over 256 characters) goes to the target's
   `DeadLetterConfig` SQS queue with EventBridge's message attributes (RULE_ARN, TARGET_ARN,
   ERROR_CODE, ERROR_MESSAGE, RETRY_ATTEMPTS); these failures are not retryable, so, as on AWS, the
   event goes there without retries. A DISABLED rule delivers to no target (moto delivers anyway).
2. CloudWatch Logs subscription filters into Kinesis. moto delivers (DATA_MESSAGE, gzip, one record per
   PutLogEvents call) but ignores the filter pattern and numbers log events 0, 1, 2... as JSON integers,
   where AWS's ids are 56-digit strings. Here the filter pattern is applied (moto's own matcher, the one
   its FilterLogEvents uses: terms and quoted terms; other pattern syntaxes match everything), every log
   event gets a 56-digit string id, and a new subscription filter into a stream first puts AWS's
   CONTROL_MESSAGE record ("CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."), which
   consumers must skip. moto puts each record under a random partition key, which is AWS's `Random`
   distribution; a filter's default (and the module's: it sets none) is `ByLogStream`, "log events from
   the same log stream are kept together": here every record of one log stream has one partition key
   (a digest of group and stream), so one shard and one lane hold them in PutLogEvents order. moto keeps
   no `distribution` (it describes every filter as ByLogStream), so a filter asking for Random is
   delivered ByLogStream too.
3. Concurrent writers to one Kinesis shard: moto numbers a record "last + 1" without a lock ("not safe for
   concurrency"), so two PutRecord(s) calls at once (a producer beside one of the deliveries above) can
   get the same sequence number and one record replaces the other. Shard writes are serialized here.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from simulator.local_cloud.delivery_templates import (
    eventbridge_event,
    iso_time,
    rule_partition_key,
    rule_target_input,
)

KINESIS_MAX_RECORD_BYTES = 1024 * 1024
KINESIS_MAX_PARTITION_KEY = 256
CONTROL_MESSAGE_TEXT = "CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."
_LOG_EVENT_IDS = itertools.count(1)
_SHARD_LOCK = threading.Lock()
_INSTALLED = False


class DeliveryError(Exception):
    """A delivery EventBridge would not retry: the event goes to the dead-letter queue."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def log_event_id() -> str:
    """A unique 56-digit log event id, increasing in ingestion order (AWS's ids have 56 digits)."""
    return str(10**55 + next(_LOG_EVENT_IDS))


def subscription_envelope(
    owner: str, log_group: str, log_stream: str, filter_name: str, log_events: list[dict[str, Any]]
) -> dict[str, Any]:
    """The DATA_MESSAGE CloudWatch Logs writes to a Kinesis stream, in the documented field order."""
    return {
        "owner": owner,
        "logGroup": log_group,
        "logStream": log_stream,
        "subscriptionFilters": [filter_name],
        "messageType": "DATA_MESSAGE",
        "logEvents": [
            {"id": str(event["id"]), "timestamp": event["timestamp"], "message": event["message"]}
            for event in log_events
        ],
    }


def control_message(timestamp_ms: int) -> dict[str, Any]:
    """The record CloudWatch Logs puts into a Kinesis destination to check it is reachable."""
    return {
        "messageType": "CONTROL_MESSAGE",
        "owner": "CloudwatchLogs",
        "logGroup": "",
        "logStream": "",
        "subscriptionFilters": [],
        "logEvents": [{"id": "", "timestamp": timestamp_ms, "message": CONTROL_MESSAGE_TEXT}],
    }


def log_stream_partition_key(account: str, group: str, stream: str) -> str:
    """The partition key of a log stream's records under the `ByLogStream` distribution: one per stream."""
    return "cwl-" + hashlib.sha256(f"{account}:{group}:{stream}".encode()).hexdigest()[:32]


def _gzip_record(document: dict[str, Any]) -> str:
    """moto keeps Kinesis data base64-encoded, as the API carries it."""
    return base64.b64encode(gzip.compress(json.dumps(document, separators=(",", ":")).encode())).decode()


def _put_into_stream(stream_arn: str, partition_key: str, data: bytes) -> None:
    from moto.kinesis import kinesis_backends
    from moto.utilities.arns import parse_arn

    if len(data) > KINESIS_MAX_RECORD_BYTES:
        raise DeliveryError("INVALID_PARAMETER", f"the record has {len(data)} bytes, over Kinesis' 1 MiB")
    if len(partition_key) > KINESIS_MAX_PARTITION_KEY:
        raise DeliveryError("INVALID_PARAMETER", "the partition key is longer than 256 characters")
    arn = parse_arn(stream_arn)
    try:
        backend = kinesis_backends[arn.account][arn.region]
        backend.put_record(stream_arn, arn.resource_id, partition_key, "", base64.b64encode(data).decode())
    except Exception as exc:  # moto raises its own ResourceNotFoundError for a missing stream
        raise DeliveryError("NO_RESOURCE", f"{type(exc).__name__}: {exc}") from exc


def _send_to_dead_letter_queue(
    rule: Any, target: dict[str, Any], event: dict[str, Any], error: DeliveryError
) -> None:
    from moto.sqs import sqs_backends
    from moto.utilities.arns import parse_arn

    queue_arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not queue_arn:
        return  # EventBridge drops the event
    arn = parse_arn(queue_arn)
    attributes = {
        "RULE_ARN": rule.arn,
        "TARGET_ARN": target["Arn"],
        "ERROR_CODE": error.code,
        "ERROR_MESSAGE": str(error)[:256],
        "RETRY_ATTEMPTS": "0",
    }
    try:
        sqs_backends[arn.account][arn.region].send_message(
            queue_name=arn.resource_id,
            message_body=json.dumps(event),
            message_attributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )
    except Exception:
        return  # InvocationsFailedToBeSentToDLQ: the event is lost, as on AWS


def deliver_to_kinesis(rule: Any, target: dict[str, Any], moto_event: dict[str, Any]) -> None:
    """Put one matched event into the target's stream, or into its dead-letter queue on failure."""
    event = eventbridge_event(moto_event)
    reserved = {
        "aws.events.rule-arn": rule.arn,
        "aws.events.rule-name": rule.name,
        "aws.events.event.ingestion-time": iso_time(moto_event.get("ingestion-time", time.time())),
        "aws.events.event": event,
        "aws.events.event.json": event,
    }
    try:
        data = rule_target_input(target, event, reserved).encode()
        _put_into_stream(target["Arn"], rule_partition_key(target, event), data)
    except DeliveryError as error:
        _send_to_dead_letter_queue(rule, target, event, error)


def _patch_eventbridge() -> None:
    import copy

    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def send_to_targets(self: Any, original_event: Any, transform_input: bool = True) -> None:
        if self.state == "DISABLED":
            return
        streams = [t for t in self.targets if parse_arn(t["Arn"]).service == "kinesis"]
        others = [t for t in self.targets if parse_arn(t["Arn"]).service != "kinesis"]
        if streams and self.event_pattern.matches_event(original_event):
            for target in streams:
                deliver_to_kinesis(self, target, original_event)
        if others:
            # moto's own delivery for the targets it supports, on a shallow copy that holds only them
            rest = copy.copy(self)
            rest.targets = others
            original(rest, original_event, transform_input)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]


def _patch_logs() -> None:
    from moto.kinesis import kinesis_backends
    from moto.logs.models import LogEvent, LogsBackend, LogStream
    from moto.logs.utils import EventMessageFilter
    from moto.utilities.arns import parse_arn

    original_init = LogEvent.__init__
    original_send = LogStream._send_log_events
    original_put_filter = LogsBackend.put_subscription_filter

    def init(self: Any, ingestion_time: int, log_event: dict[str, Any]) -> None:
        original_init(self, ingestion_time, log_event)
        self.event_id = log_event_id()

    def send_log_events(
        self: Any, service: str, destination_arn: str, filter_name: str, log_events: list[dict[str, Any]]
    ) -> None:
        subscription = self.log_group.subscription_filters.get(filter_name)
        pattern = EventMessageFilter(subscription.filter_pattern if subscription else "")
        matching = [event for event in log_events if pattern.matches(event["message"])]
        if not matching:
            return
        if service != "kinesis":
            original_send(self, service, destination_arn, filter_name, matching)
            return
        envelope = subscription_envelope(
            self.account_id, self.log_group.name, self.log_stream_name, filter_name, matching
        )
        stream = kinesis_backends[self.account_id][self.region].describe_stream(
            stream_arn=destination_arn, stream_name=None
        )
        key = log_stream_partition_key(self.account_id, self.log_group.name, self.log_stream_name)
        stream.put_record(partition_key=key, data=_gzip_record(envelope), explicit_hash_key="")

    def put_subscription_filter(
        self: Any,
        log_group_name: str,
        filter_name: str,
        filter_pattern: str,
        destination_arn: str,
        role_arn: str,
    ) -> None:
        group = self.groups.get(log_group_name)
        is_new = group is None or filter_name not in group.subscription_filters
        original_put_filter(self, log_group_name, filter_name, filter_pattern, destination_arn, role_arn)
        if is_new and parse_arn(destination_arn).service == "kinesis":
            stream = kinesis_backends[self.account_id][self.region_name].describe_stream(
                stream_arn=destination_arn, stream_name=None
            )
            record = _gzip_record(control_message(int(time.time() * 1000)))
            stream.put_record(partition_key=uuid.uuid4().hex, data=record, explicit_hash_key="")

    LogEvent.__init__ = init  # type: ignore[method-assign]
    LogStream._send_log_events = send_log_events  # type: ignore[method-assign]
    LogsBackend.put_subscription_filter = put_subscription_filter  # type: ignore[method-assign]


def serialized(put_record: Callable[..., Any]) -> Callable[..., str]:
    """moto's Shard.put_record with the "last + 1" numbering done under one lock."""

    def put_record_serialized(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
        with _SHARD_LOCK:
            return str(put_record(self, partition_key, data, explicit_hash_key))

    return put_record_serialized


def _patch_kinesis_shards() -> None:
    from moto.kinesis.models import Shard

    Shard.put_record = serialized(Shard.put_record)  # type: ignore[method-assign]


def install() -> None:
    """Patch this (moto server) process for good; idempotent."""
    global _INSTALLED
    if _INSTALLED:
        return
    _patch_kinesis_shards()
    _patch_eventbridge()
    _patch_logs()
    _INSTALLED = True
