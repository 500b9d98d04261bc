"""Field checks shared by the format normalizers; each failure is a RecordRejected with a reason code."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from engagement_scoring.core.events import (
    MAX_CAMPAIGN_BYTES,
    MAX_METRIC_NAME_BYTES,
    MAX_METRICS,
    MAX_TIMESTAMP_MS,
    RecordRejected,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Metric values beyond this are rejected: later sums must stay finite floats and fit a DynamoDB number.
MAX_METRIC_MAGNITUDE = 1e18
_ONE_MS = timedelta(milliseconds=1)


def fits(value: str, max_bytes: int) -> bool:
    """Whether `value` takes at most `max_bytes` in UTF-8 (encodes only when it could be too long)."""
    return len(value) * 4 <= max_bytes or len(value.encode("utf-8", "surrogatepass")) <= max_bytes


def required_text(value: Any, missing_reason: str, max_bytes: int) -> str:
    if not isinstance(value, str) or not value:
        raise RecordRejected(missing_reason)
    if len(value) * 4 > max_bytes and not fits(value, max_bytes):  # short values need no call to fits
        raise RecordRejected("field_too_long")
    return value


def optional_text(value: Any, invalid_reason: str, max_bytes: int) -> str | None:
    """A non-empty string or None; anything else is rejected with `invalid_reason`."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordRejected(invalid_reason)
    if not fits(value, max_bytes):
        raise RecordRejected("field_too_long")
    return value


def epoch_ms(value: Any) -> int:
    """Epoch milliseconds from an integer (or an integral float)."""
    if isinstance(value, bool):
        raise RecordRejected("bad_timestamp")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise RecordRejected("bad_timestamp")
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_TIMESTAMP_MS:
        raise RecordRejected("bad_timestamp")
    return value


def iso_or_epoch_ms(value: Any) -> int:
    """Epoch milliseconds from a number or an ISO 8601 string that names its zone."""
    if not isinstance(value, str):
        return epoch_ms(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise RecordRejected("bad_timestamp") from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RecordRejected("bad_timestamp")
    try:
        return epoch_ms((moment - _EPOCH) // _ONE_MS)
    except OverflowError as exc:
        raise RecordRejected("bad_timestamp") from exc


def campaign(value: Any) -> str | None:
    """A campaign name or id: a non-empty string, else None (a wrong type is not worth a rejection)."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) * 4 > MAX_CAMPAIGN_BYTES and not fits(value, MAX_CAMPAIGN_BYTES):
        raise RecordRejected("field_too_long")
    return value


def metrics(value: Any) -> dict[str, int | float] | None:
    """A map of metric name to finite number, or None when absent or empty; anything else is `bad_metrics`."""
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > MAX_METRICS:
        raise RecordRejected("bad_metrics")
    for name, number in value.items():
        if (
            type(number) not in (int, float)  # bool is not a metric
            or not -MAX_METRIC_MAGNITUDE <= number <= MAX_METRIC_MAGNITUDE  # also false for NaN
            or not name
            or not fits(name, MAX_METRIC_NAME_BYTES)
        ):
            raise RecordRejected("bad_metrics")
    return value or None


def first_tag_value(tags: Any, name: str) -> str | None:
    """The first non-empty string of a tag: SES tags are lists of strings, SMS context values strings."""
    if not isinstance(tags, dict):
        return None
    value = tags.get(name)
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item:
                return item
        return None
    return value if isinstance(value, str) and value else None
