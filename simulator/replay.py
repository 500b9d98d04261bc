"""Replay of recorded stream records from a JSONL file (`--events-file`).

Each line is one record, sent byte for byte (without its line break), like a real stream would
carry it: lines that are not valid records (not JSON, truncated, empty...) are sent as they are,
for the engine to reject. Only the final line break of the file does not make an extra record.
One exception: a CloudWatch Logs subscription document (`messageType` + `logEvents`) is written
decompressed (gzip bytes may hold line breaks) and gzip-compressed again on replay, as CloudWatch
Logs puts it into the stream (fixed mtime, so a generated file replays to the same bytes).

A file may mix formats: Pinpoint, SES, End User Messaging SMS, inbound SMS, custom events, bare or
in their envelopes (EventBridge, CloudWatch Logs, SNS, SQS). The partition key is the record's user
key where its format has one, so one user's records keep file order on one shard, on any shard
count (`tests/unit/simulator/test_replay_shards.py`): Pinpoint `endpoint.User.UserId` (or the
endpoint an app event carries as JSON in `client_context.custom.endpoint`, as the engine reads it),
else `client.client_id` (the `auto` mode); custom `user_key`; the SES tag
`user_key` (`mail.tags`); the SMS `context.user_key`. Records without one (and lines that are no
records) get the line number.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from simulator.injection import StreamRecord
from simulator.successor import address_partition_key

GZIP_MAGIC = b"\x1f\x8b"
USER_KEY_TAG = "user_key"


def read_events_file(path: Path) -> list[StreamRecord]:
    content = path.read_bytes()
    if content.endswith(b"\n"):
        content = content[:-1]
    if not content:
        return []
    records = []
    for number, line in enumerate(content.split(b"\n"), start=1):
        data = line[:-1] if line.endswith(b"\r") else line
        value = _json(data)
        key = replay_partition_key(value, number)
        if isinstance(value, dict) and "messageType" in value and "logEvents" in value:
            data = gzip.compress(data, mtime=0)
        records.append(StreamRecord(key, data))
    return records


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _first(value: Any) -> str | None:
    """A tag's value: SES tags are lists of strings, SMS context values strings."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v), None)
    return value if isinstance(value, str) and value else None


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def innermost(value: Any) -> Any:
    """The (first) payload inside a record's envelopes."""
    for _ in range(4):  # envelopes nest at most 3 deep
        if not isinstance(value, dict):
            return None
        if "detail-type" in value and "detail" in value:
            value = value["detail"]
        elif value.get("Type") == "Notification" and isinstance(value.get("Message"), str):
            value = _json(value["Message"].encode())
        elif value.get("eventSource") == "aws:sqs" and isinstance(value.get("body"), str):
            value = _json(value["body"].encode())
        elif "messageType" in value and isinstance(value.get("logEvents"), list):
            message = _dig(value["logEvents"][0], "message") if value["logEvents"] else None
            value = _json(message.encode()) if isinstance(message, str) else None
        else:
            break
    return value


def user_key_of(value: Any) -> str | None:
    """The user key a record names, looking through its envelopes; None when it names none."""
    value = innermost(value)
    if not isinstance(value, dict):
        return None
    embedded = _dig(value, "client_context", "custom", "endpoint")
    candidates = (
        _dig(value, "endpoint", "User", "UserId"),
        _dig(_json(embedded.encode()) if isinstance(embedded, str) else None, "User", "UserId"),
        _dig(value, "client", "client_id"),
        value.get("user_key") if "schema" in value else None,
        _first(_dig(value, "mail", "tags", USER_KEY_TAG)),
        _first(_dig(value, "context", USER_KEY_TAG)),
    )
    return next((key for key in candidates if isinstance(key, str) and key), None)


def replay_partition_key(value: Any, line_number: int) -> str:
    """The user key; else, as the generator keys them, a digest of the one recipient (so a user keyed by
    address keeps one shard) or the message id; else the line number."""
    key = user_key_of(value)
    if key is not None:
        return key
    payload = innermost(value)
    destination = _dig(payload, "mail", "destination")
    if isinstance(destination, list) and len(destination) == 1 and isinstance(destination[0], str):
        return address_partition_key("email", destination[0].lower())
    for field in ("destinationPhoneNumber", "originationNumber"):
        number = _dig(payload, field)
        if isinstance(number, str) and number:
            return address_partition_key("sms", number)
    message_id = _dig(payload, "messageId")
    return message_id if isinstance(message_id, str) and message_id else f"line-{line_number}"


def write_events_file(path: Path, records: list[StreamRecord]) -> None:
    """One record per line; CloudWatch Logs records decompressed (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for record in records:
            data = record.data
            if data[:2] == GZIP_MAGIC:
                data = gzip.decompress(data)
                if gzip.compress(data, mtime=0) != record.data:
                    raise ValueError("a gzip record that does not replay to the same bytes")
            if b"\n" in data:
                raise ValueError("a record with a line break cannot be written to a JSONL file")
            out.write(data)
            out.write(b"\n")
