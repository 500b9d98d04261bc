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
holds; only their envelopes (ids, owner, times of the envelope) and partition keys are AWS's.

Stream order. The routed records reach the stream under other partition keys than a user's direct records
(CloudWatch Logs keys a log stream's records by the stream, `ByLogStream`; Pipes by its own key), so on
other shards, and the order in which the scorer sees one user's routed and direct records would depend on
the machine; attribution (docs/attribution.md), point limits, once-per-message, hysteresis and the window
rules all follow stream order. So `run` sends them in a fixed order (`RoutePlan.stream_order`): the routed
records first, in generated order, then waits until the pipeline has drained them, then the direct ones,
in generated order; the oracle reads the records in that same order. Among themselves the routed SMS
records keep their order: all of them go into one log stream (LOG_STREAM), whose records share one
partition key, so one shard and one lane (the embedded cloud delivers `ByLogStream` as AWS does,
simulator/local_cloud/moto_delivery.py). The routed STOP replies come through Pipes in batches, but
they carry no user key (see above), so their order changes nothing. SES records
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
    drained_before_direct: bool = False  # `run` waited for them to drain before the direct records

    def to_json(self) -> dict[str, int | bool]:
        return {
            "put_log_events_calls": self.log_calls,
            "log_events_put": self.log_events_put,
            "sns_published": self.sns_published,
            "drained_before_direct": self.drained_before_direct,
        }


def _chosen(data: bytes, share: float) -> bool:
    """A stable choice by the record's bytes: the same seed routes the same records."""
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") < share * 2**64


@dataclass(slots=True)
class RoutePlan:
    """Which records take the routes and which go straight in, each in generated order."""

    direct: list[StreamRecord]
    routed: list[StreamRecord]

    @property
    def stream_order(self) -> list[StreamRecord]:
        """The order the scorer sees each user's records in, and the oracle reads them in: the routed ones
        (sent first and drained) before the direct ones."""
        return self.routed + self.direct


def plan(records: list[StreamRecord], share: float, route_inbound: bool) -> RoutePlan:
    """Generated SMS status records and (with `route_inbound`) STOP replies, about `share` of them, take
    the routes; duplicates and malformed records always go straight into the stream."""
    direct: list[StreamRecord] = []
    routed: list[StreamRecord] = []
    for record in records:
        routable = record.kind == EVENT and (
            record.data[:2] == GZIP_MAGIC or (route_inbound and b'"eventSource":"aws:sqs"' in record.data)
        )
        if routable and _chosen(record.data, share):
            routed.append(record)
        else:
            direct.append(record)
    return RoutePlan(direct, routed)


def split(
    records: list[StreamRecord], share: float, route_inbound: bool
) -> tuple[list[StreamRecord], list[bytes]]:
    """(records to put into the stream, records to send through the routes) of `plan`."""
    chosen = plan(records, share, route_inbound)
    return chosen.direct, [r.data for r in chosen.routed]


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
