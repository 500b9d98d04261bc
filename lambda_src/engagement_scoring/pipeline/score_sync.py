"""A DynamoDB stream batch of user scores in, one output per changed user to Pinpoint, EventBridge and
Customer Profiles."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from engagement_scoring.aws.sinks import CustomerProfilesSink, EventBridgeSink, PinpointSink
from engagement_scoring.core.changes import (
    InvalidImage,
    StreamChange,
    coalesce,
    conversions_of,
    parse_stream_record,
)
from engagement_scoring.core.config import SyncConfig
from engagement_scoring.observability import CallCounter, JsonLog, emf_lines, print_emf

FUNCTION = "score_sync"
# EMF metric SinkFailures, dimensions Function and Sink: users a sink failed for in the batch (retried by
# Lambda), one value per enabled sink, zeros included, so an alarm sees a steady series.
SINK_FAILURES = "SinkFailures"
SINK_DIMENSION = "Sink"
SINK_PINPOINT = "pinpoint"
SINK_EVENTBRIDGE = "eventbridge"
SINK_CUSTOMER_PROFILES = "customer_profiles"
SINKS = (SINK_PINPOINT, SINK_EVENTBRIDGE, SINK_CUSTOMER_PROFILES)


class SyncRuntime:
    def __init__(
        self,
        config: SyncConfig,
        pinpoint: Any = None,
        events: Any = None,
        profiles: Any = None,
        calls: CallCounter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.calls = calls or CallCounter()
        self.log = JsonLog(FUNCTION, config.log_level)
        self.pinpoint = (
            PinpointSink(
                self.calls.attach(pinpoint),
                config.pinpoint_application_id,
                config.pinpoint_score_metric,
                config.pinpoint_tier_attribute,
                sleep,
            )
            if pinpoint is not None and config.pinpoint_application_id
            else None
        )
        self.events = (
            EventBridgeSink(self.calls.attach(events), config.event_bus_name, config.event_source, sleep)
            if events is not None and config.event_bus_name
            else None
        )
        self.profiles = (
            CustomerProfilesSink(
                self.calls.attach(profiles),
                config.customer_profiles_domain,
                config.customer_profiles_object_type,
                config.customer_profiles_create_object_type,
                sleep,
            )
            if profiles is not None and config.customer_profiles_domain
            else None
        )

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> SyncRuntime:
        from engagement_scoring.aws.clients import make_client

        config = SyncConfig.from_env(os.environ if env is None else env)
        return cls(
            config,
            pinpoint=make_client("pinpoint") if config.pinpoint_application_id else None,
            events=make_client("events") if config.event_bus_name else None,
            profiles=make_client("customer-profiles") if config.customer_profiles_domain else None,
        )


def sequence_numbers(event: Any) -> list[str]:
    """Every SequenceNumber in a DynamoDB stream Lambda event."""
    records = event.get("Records") if isinstance(event, dict) else None
    found = []
    for record in records if isinstance(records, list) else ():
        body = record.get("dynamodb") if isinstance(record, dict) else None
        seq = body.get("SequenceNumber") if isinstance(body, dict) else None
        if isinstance(seq, str) and seq:
            found.append(seq)
    return found


def process_stream_batch(event: Any, runtime: SyncRuntime) -> dict[str, Any]:
    """Publish the batch's score changes; returns the partial batch response."""
    runtime.calls.reset()
    records = event.get("Records") if isinstance(event, dict) else None
    records = records if isinstance(records, list) else []
    parsed: list[StreamChange] = []
    ignored = 0
    for record in records:
        try:
            parsed.append(parse_stream_record(record))
        except (InvalidImage, RecursionError):
            ignored += 1
    changes = coalesce(parsed)
    failed_users: set[str] = set()
    sink_failures: dict[str, int] = {}
    errors: list[str] = []
    endpoints_updated = no_endpoint = published = profiles_updated = 0
    if runtime.pinpoint is not None:
        # Endpoints carry the score and tier only: a change of the matched rules alone is not sent.
        result = runtime.pinpoint.update([change for change in changes if change.score_changed])
        failed_users |= result.failed_users
        sink_failures[SINK_PINPOINT] = len(result.failed_users)
        endpoints_updated, no_endpoint = result.delivered, result.skipped_no_endpoint
        errors += result.errors
    if runtime.events is not None:
        result = runtime.events.publish(changes, conversions_of(parsed))
        failed_users |= result.failed_users
        sink_failures[SINK_EVENTBRIDGE] = len(result.failed_users)
        published = result.delivered
        errors += result.errors
    if runtime.profiles is not None:
        result = runtime.profiles.put(changes)
        failed_users |= result.failed_users
        sink_failures[SINK_CUSTOMER_PROFILES] = len(result.failed_users)
        profiles_updated = result.delivered
        errors += result.errors
    failures: dict[str, None] = {}
    for change in changes:
        if change.user_key in failed_users:
            failures.update((seq, None) for seq in change.sequence_numbers)
    # A user whose only output was a ConversionAttributed event (#11) is not among the changes.
    for record in parsed:
        if record.user_key in failed_users and record.sequence_number is not None:
            failures[record.sequence_number] = None
    runtime.log.emit(
        "INFO",
        "scores synced",
        records=len(records),
        users_changed=len(changes),
        pinpoint_endpoints_updated=endpoints_updated,
        events_published=published,
        profiles_updated=profiles_updated,
        retryable_failures=len(failures),
        no_endpoint=no_endpoint,
        ignored_records=ignored,
        aws_calls=runtime.calls.snapshot(),
        errors=sorted(set(errors)),
    )
    totals = {
        "UsersChanged": len(changes),
        "PinpointEndpointsUpdated": endpoints_updated,
        "EventsPublished": published,
        "ProfilesUpdated": profiles_updated,
        "UsersWithoutEndpoint": no_endpoint,
        "SinkCalls": runtime.calls.total,
        "RetryableFailures": len(failures),
    }
    print_emf(
        emf_lines(
            runtime.config.metrics_namespace,
            FUNCTION,
            totals,
            {SINK_FAILURES: sink_failures},
            breakdown_dimension=SINK_DIMENSION,
        )
    )
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq in failures]}
