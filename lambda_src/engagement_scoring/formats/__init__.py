"""Input formats: one normalizer module per source format, tried in registry order.

A format module has `NAME`, `matches(record) -> bool` and
`normalize(record, content_key, user_key_mode) -> NormalizedEvent | SkippedRecord` (raising
RecordRejected). Adding SES or End User Messaging records means adding one module to FORMATS.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from engagement_scoring.core.events import NormalizedEvent, RecordRejected, SkippedRecord
from engagement_scoring.formats import custom, pinpoint

FORMATS: tuple[ModuleType, ...] = (custom, pinpoint)


def normalize(record: Any, content_key: str, user_key_mode: str) -> NormalizedEvent | SkippedRecord:
    """Normalize one decoded JSON value with the first format that recognizes it."""
    if not isinstance(record, dict):
        raise RecordRejected("not_object")
    for record_format in FORMATS:
        if record_format.matches(record):
            result: NormalizedEvent | SkippedRecord = record_format.normalize(
                record, content_key, user_key_mode
            )
            return result
    raise RecordRejected("unknown_format")
