"""Replay of recorded event-stream records from a JSONL file (`--events-file`).

Each line is one record, sent byte for byte (without its line break), like a real stream would
carry it: lines that are not valid records (not JSON, truncated, empty...) are sent as they are,
for the engine to reject. Only the final line break of the file does not make an extra record.
The partition key is the record's user key in `auto` mode when it has one, else the line number.
"""

from __future__ import annotations

import json
from pathlib import Path

from simulator.injection import StreamRecord


def read_events_file(path: Path) -> list[StreamRecord]:
    content = path.read_bytes()
    if content.endswith(b"\n"):
        content = content[:-1]
    if not content:
        return []
    records = []
    for number, line in enumerate(content.split(b"\n"), start=1):
        data = line[:-1] if line.endswith(b"\r") else line
        records.append(StreamRecord(replay_partition_key(data, number), data))
    return records


def replay_partition_key(data: bytes, line_number: int) -> str:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return f"line-{line_number}"
    if isinstance(obj, dict):
        endpoint = obj.get("endpoint")
        user = endpoint.get("User") if isinstance(endpoint, dict) else None
        user_id = user.get("UserId") if isinstance(user, dict) else None
        client = obj.get("client")
        client_id = client.get("client_id") if isinstance(client, dict) else None
        for key in (user_id, client_id, obj.get("user_key")):
            if isinstance(key, str) and key:
                return key
    return f"line-{line_number}"


def write_events_file(path: Path, records: list[StreamRecord]) -> None:
    """One record per line; records never contain a line break (JSON escapes them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for record in records:
            if b"\n" in record.data:
                raise ValueError("a record with a line break cannot be written to a JSONL file")
            out.write(record.data)
            out.write(b"\n")
