"""Injection through the module's real routes (`--route-share`): a share of the SMS records takes the path
AWS would take, instead of a PutRecords straight into the stream.

- An SMS status record (a CloudWatch Logs DATA_MESSAGE) becomes one PutLogEvents call into the module's
  SMS event log group (output `sms_event_log_group_name`) with the same messages; the log group's
  subscription filter puts them into the stream (the embedded cloud performs that delivery, as AWS would).
- An inbound STOP reply (the SQS message Pipes would hand over) becomes an SNS Publish of the two-way SMS
  payload to the module's inbound topic (output `sms_inbound_topic_arn`); SNS -> SQS -> the pipe bring it
  to the stream. SNS stamps its own `Timestamp` (now), which is the reply's event time, so replies take
  this route only while no recipient is a user key (RECIPIENT_USER_KEY `none`: they are `no_user_key`
  either way); otherwise the oracle, which reads the generated time, would disagree.

What the records mean is unchanged (same payloads), so the oracle's expectation of the generated records
holds; only their envelopes (ids, owner, times of the envelope) and partition keys are AWS's. SES records
are not routed: moto has no SES event destinations, so the module's SES wiring cannot be applied on the
embedded cloud.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from simulator.injection import EVENT, StreamRecord

GZIP_MAGIC = b"\x1f\x8b"
LOG_STREAM = "simulator"
# examples/local inputs that create the routes
ROUTE_TF_VARS = {"sms_configuration_set_names": ["engagement-local"], "create_sms_inbound_topic": True}


@dataclass(slots=True)
class RouteStats:
    log_events_put: int = 0
    log_calls: int = 0
    sns_published: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "put_log_events_calls": self.log_calls,
            "log_events_put": self.log_events_put,
            "sns_published": self.sns_published,
        }


def _chosen(data: bytes, share: float) -> bool:
    """A stable choice by the record's bytes: the same seed routes the same records."""
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") < share * 2**64


def split(
    records: list[StreamRecord], share: float, route_inbound: bool
) -> tuple[list[StreamRecord], list[bytes]]:
    """(records to put into the stream, records to send through the routes): generated SMS status records
    and (with `route_inbound`) STOP replies, about `share` of them; duplicates and malformed records
    always go straight into the stream."""
    direct: list[StreamRecord] = []
    routed: list[bytes] = []
    for record in records:
        routable = record.kind == EVENT and (
            record.data[:2] == GZIP_MAGIC or (route_inbound and b'"eventSource":"aws:sqs"' in record.data)
        )
        if routable and _chosen(record.data, share):
            routed.append(record.data)
        else:
            direct.append(record)
    return direct, routed


def send(deployment: Any, routed: list[bytes]) -> RouteStats:
    """Put every routed record through its route on `deployment`."""
    stats = RouteStats()
    if not routed:
        return stats
    outputs = deployment.outputs
    group, topic = outputs.get("sms_event_log_group_name"), outputs.get("sms_inbound_topic_arn")
    logs, sns = deployment.client("logs"), deployment.client("sns")
    if group:
        logs.create_log_stream(logGroupName=group, logStreamName=LOG_STREAM)
    for data in routed:
        if data[:2] == GZIP_MAGIC:
            if not group:
                raise ValueError("SMS records to route, but the deployment has no SMS event log group")
            envelope = json.loads(gzip.decompress(data))
            now = int(time.time() * 1000)  # CloudWatch Logs refuses events older than 14 days
            events = [
                {"timestamp": now + i, "message": e["message"]} for i, e in enumerate(envelope["logEvents"])
            ]
            logs.put_log_events(logGroupName=group, logStreamName=LOG_STREAM, logEvents=events)
            stats.log_calls += 1
            stats.log_events_put += len(events)
        else:
            if not topic:
                raise ValueError("inbound replies to route, but the deployment has no inbound SMS topic")
            notification = json.loads(json.loads(data)["body"])
            sns.publish(TopicArn=topic, Message=notification["Message"])
            stats.sns_published += 1
    return stats
