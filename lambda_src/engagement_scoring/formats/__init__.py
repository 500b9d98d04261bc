"""Input formats: one normalizer module per source format, tried in registry order.

A format is one module in this package with

    NAME: str                                              # e.g. "ses", used in docs and tests
    def matches(record: dict) -> bool: ...                 # cheap: does the record look like this format?
    def normalize(record: dict, settings: FormatSettings, received_ms: int | None) \\
        -> list[NormalizedEvent | SkippedRecord]: ...      # raises RecordRejected(reason)

and its registration: its module name in FORMAT_MODULES below (the order they are tried in; the first
whose `matches` accepts a record normalizes it). Envelopes (CloudWatch Logs, EventBridge, SNS, SQS) are
unwrapped before (`envelopes.py`), so a format sees only its own records. docs/formats.md says how to
add one.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from engagement_scoring.core.events import (
    DEFAULT_SETTINGS,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)

# The registration: module names in this package, in the order they are tried.
FORMAT_MODULES = ("custom", "pinpoint", "ses", "sms")


def load_formats(names: Iterable[str]) -> tuple[ModuleType, ...]:
    """Import the format modules of this package by name and check they have what a format needs."""
    modules = []
    for name in names:
        module = importlib.import_module(f"{__name__}.{name}")
        if not isinstance(getattr(module, "NAME", None), str) or not all(
            callable(getattr(module, attribute, None)) for attribute in ("matches", "normalize")
        ):
            raise TypeError(f"format module {name!r} needs NAME, matches() and normalize()")
        modules.append(module)
    if len({module.NAME for module in modules}) != len(modules):
        raise TypeError("format NAMEs must be unique")
    return tuple(modules)


FORMATS: tuple[ModuleType, ...] = load_formats(FORMAT_MODULES)


def normalize(
    record: Any, settings: FormatSettings = DEFAULT_SETTINGS, received_ms: int | None = None
) -> list[NormalizedEvent | SkippedRecord]:
    """Normalize one decoded JSON payload with the first format that recognizes it."""
    if not isinstance(record, dict):
        raise RecordRejected("not_object")
    for record_format in FORMATS:
        if record_format.matches(record):
            results: list[NormalizedEvent | SkippedRecord] = record_format.normalize(
                record, settings, received_ms
            )
            return results
    raise RecordRejected("unknown_format")
