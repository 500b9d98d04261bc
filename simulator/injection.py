"""Duplicate and malformed records mixed into the stream to exercise the engine.

Duplicates re-send the exact bytes of an earlier event (Kinesis is at-least-once; producers
retry), either right after it or anywhere later in the stream: the engine must count them zero
times. Malformed records are records that can never be scored; each kind is chosen so that any
engine following the contract rejects it (a record that merely lacks a rule would prove nothing):

| kind | bytes |
| --- | --- |
| `not_json` | plain text |
| `binary` | bytes that are not UTF-8 |
| `empty` | zero bytes |
| `truncated_json` | the first part of a real record |
| `json_array` | a real record wrapped in `[...]` |
| `json_scalar` | a JSON string, number or null |
| `missing_event_type` | a real record without `event_type` |
| `missing_client` | a real record without `client` and `endpoint` (so no user key at all) |
| `wrong_types` | `event_type` a number, `event_timestamp` a word, `client` a string |
| `unknown_schema_version` | a custom-format event with schema `engagement.event/99` |

No malformed record contains a line break (LF or CR), so a `generate` JSONL file replays byte for byte.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from simulator.funnels import GeneratedEvent, GroundTruth

MALFORMED_KINDS = (
    "not_json",
    "binary",
    "empty",
    "truncated_json",
    "json_array",
    "json_scalar",
    "missing_event_type",
    "missing_client",
    "wrong_types",
    "unknown_schema_version",
)

EVENT = "event"
DUPLICATE = "duplicate"
MALFORMED = "malformed"


class StreamRecord(NamedTuple):
    """One Kinesis record to send. `kind` is event, duplicate or malformed."""

    partition_key: str
    data: bytes
    kind: str = EVENT
    malformed_kind: str | None = None
    truth: GroundTruth | None = None  # the generated event's (a duplicate: its original's); None: malformed


MalformFn = Callable[[str, bytes, random.Random], bytes]


def inject(
    events: Sequence[GeneratedEvent],
    *,
    duplicate_rate: float,
    malformed_rate: float,
    seed: int,
    kinds: Sequence[str] = MALFORMED_KINDS,
    malform: MalformFn | None = None,
) -> list[StreamRecord]:
    """The stream: `events` in order, plus round(rate * len(events)) duplicates and malformed records.

    A generated redelivery (an EventBridge event delivered twice) is a duplicate; `kinds` and `malform`
    make the malformed records (default: the Pinpoint kinds above)."""
    malform = malform or malformed
    if not 0 <= duplicate_rate <= 1 or not 0 <= malformed_rate <= 1:
        raise ValueError("duplicate and malformed rates must be within [0, 1]")
    rng = random.Random(f"{seed}:inject")
    n = len(events)
    extra: dict[int, list[StreamRecord]] = {}  # records inserted after position i
    if n:
        for source in rng.sample(range(n), min(n, round(duplicate_rate * n))):
            # half right after the original (a producer retry), half anywhere later (a replay)
            after = source if rng.random() < 0.5 else rng.randrange(source, n)
            original = events[source]
            extra.setdefault(after, []).append(
                StreamRecord(original.partition_key, original.data, DUPLICATE, None, original.truth)
            )
        for i in range(round(malformed_rate * n)):
            kind = kinds[i % len(kinds)]
            base = events[rng.randrange(n)]
            data = malform(kind, base.data, rng)
            extra.setdefault(rng.randrange(n), []).append(
                StreamRecord(base.partition_key, data, MALFORMED, kind)
            )
    out: list[StreamRecord] = []
    for i, event in enumerate(events):
        kind = DUPLICATE if event.redelivery else EVENT
        out.append(StreamRecord(event.partition_key, event.data, kind, None, event.truth))
        if i in extra:
            out.extend(extra[i])
    return out


def malformed(kind: str, base: bytes, rng: random.Random) -> bytes:
    """Bytes of one malformed record of `kind`, derived from a real record's bytes `base`."""
    if kind == "not_json":
        return f"event_type=_email.open&seq={rng.getrandbits(32)}".encode()
    if kind == "binary":
        return b"\xff\xfe\x00" + bytes(b for b in rng.randbytes(48) if b not in (0x0A, 0x0D))
    if kind == "empty":
        return b""
    if kind == "truncated_json":
        return base[: rng.randrange(1, len(base) - 1)]
    if kind == "json_array":
        return b"[" + base + b"]"
    if kind == "json_scalar":
        return rng.choice((b'"_email.open"', b"42", b"null", b"true"))
    parsed: dict[str, Any] = json.loads(base)
    if kind == "missing_event_type":
        del parsed["event_type"]
    elif kind == "missing_client":
        parsed.pop("client", None)
        parsed.pop("endpoint", None)
    elif kind == "wrong_types":
        parsed.update(event_type=rng.randrange(1000), event_timestamp="yesterday", client="nobody")
    elif kind == "unknown_schema_version":
        parsed = {
            "schema": "engagement.event/99",
            "event_type": "_email.click",
            "user_key": _user_key(parsed),
            "timestamp": parsed["event_timestamp"],
        }
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return json.dumps(parsed, separators=(",", ":")).encode()


def _user_key(record: dict[str, Any]) -> str:
    user_id = (record.get("endpoint") or {}).get("User", {}).get("UserId")
    return str(user_id or record["client"]["client_id"])
