"""Where score changes go: Pinpoint endpoints (UpdateEndpointsBatch) and EventBridge (PutEvents)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engagement_scoring.aws.errors import backoff_delay, describe, is_retryable
from engagement_scoring.core.changes import ScoreChange

PINPOINT_BATCH = 100
EVENTBRIDGE_BATCH = 10
SINK_ATTEMPTS = 4


@dataclass(slots=True)
class SinkResult:
    failed_users: set[str] = field(default_factory=set)
    delivered: int = 0
    skipped_no_endpoint: int = 0
    errors: list[str] = field(default_factory=list)


def json_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


class PinpointSink:
    """Sets the score as an endpoint Metric (numeric, usable in segment ranges) and the tier as an Attribute.

    Only Id, Metrics and Attributes are sent: the endpoint's channel, address and User stay as they are.
    Users without known endpoint ids (transactional-only users) are skipped and counted.
    """

    def __init__(
        self,
        client: Any,
        application_id: str,
        metric: str,
        tier_attribute: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.application_id = application_id
        self.metric = metric
        self.tier_attribute = tier_attribute
        self.sleep = sleep

    def items(self, change: ScoreChange) -> list[dict[str, Any]]:
        items = []
        for endpoint_id in change.endpoint_ids:
            item: dict[str, Any] = {"Id": endpoint_id, "Metrics": {self.metric: float(change.score)}}
            if change.tier is not None:
                item["Attributes"] = {self.tier_attribute: [change.tier]}
            items.append(item)
        return items

    def update(self, changes: Sequence[ScoreChange]) -> SinkResult:
        result = SinkResult()
        owned: list[tuple[str, dict[str, Any]]] = []
        for change in changes:
            if not change.endpoint_ids:
                result.skipped_no_endpoint += 1
                continue
            owned.extend((change.user_key, item) for item in self.items(change))
        for start in range(0, len(owned), PINPOINT_BATCH):
            chunk = owned[start : start + PINPOINT_BATCH]
            error = self._send([item for _, item in chunk])
            if error is None:
                result.delivered += len(chunk)
            else:
                result.errors.append(error)
                result.failed_users.update(user_key for user_key, _ in chunk)
        return result

    def _send(self, items: list[dict[str, Any]]) -> str | None:
        """None when Pinpoint accepted the batch, else the error code (after retrying transient errors)."""
        error = "not attempted"
        for attempt in range(SINK_ATTEMPTS):
            if attempt:
                self.sleep(backoff_delay(attempt))
            try:
                self.client.update_endpoints_batch(
                    ApplicationId=self.application_id, EndpointBatchRequest={"Item": items}
                )
                return None
            except Exception as exc:
                error = describe(exc)
                if not is_retryable(exc):
                    return error
        return error


def change_detail(change: ScoreChange) -> dict[str, Any]:
    return {
        "user_key": change.user_key,
        "score": json_number(change.score),
        "previous_score": json_number(change.previous_score),
        "tier": change.tier,
        "previous_tier": change.previous_tier,
        "channels": {name: json_number(value) for name, value in sorted(change.channels.items())},
        "as_of": change.as_of,
    }


class EventBridgeSink:
    """EngagementScoreChanged for every change, and EngagementTierChanged when the tier moved."""

    def __init__(
        self, client: Any, event_bus_name: str, source: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.event_bus_name = event_bus_name
        self.source = source
        self.sleep = sleep

    def entries(self, change: ScoreChange) -> list[dict[str, Any]]:
        detail = json.dumps(change_detail(change), separators=(",", ":"))
        detail_types = ["EngagementScoreChanged"]
        if change.tier_changed:
            detail_types.append("EngagementTierChanged")
        return [
            {"Source": self.source, "DetailType": kind, "Detail": detail, "EventBusName": self.event_bus_name}
            for kind in detail_types
        ]

    def publish(self, changes: Sequence[ScoreChange]) -> SinkResult:
        result = SinkResult()
        pending = [(change.user_key, entry) for change in changes for entry in self.entries(change)]
        for attempt in range(SINK_ATTEMPTS):
            if not pending:
                break
            if attempt:
                self.sleep(backoff_delay(attempt))
            retry: list[tuple[str, dict[str, Any]]] = []
            for start in range(0, len(pending), EVENTBRIDGE_BATCH):
                chunk = pending[start : start + EVENTBRIDGE_BATCH]
                try:
                    response = self.client.put_events(Entries=[entry for _, entry in chunk])
                except Exception as exc:
                    result.errors.append(describe(exc))
                    if not is_retryable(exc):
                        result.failed_users.update(user_key for user_key, _ in chunk)
                    else:
                        retry.extend(chunk)
                    continue
                outcomes = response.get("Entries") or []
                for position, owned in enumerate(chunk):
                    outcome = outcomes[position] if position < len(outcomes) else {}
                    if outcome.get("EventId") and not outcome.get("ErrorCode"):
                        result.delivered += 1
                    else:
                        result.errors.append(str(outcome.get("ErrorCode", "NoEventId")))
                        retry.append(owned)
            pending = retry
        result.failed_users.update(user_key for user_key, _ in pending)
        return result
