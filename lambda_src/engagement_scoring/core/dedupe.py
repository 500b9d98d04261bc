"""Exactly-once state inside a user item, layout v2 (docs/architecture.md): the ring `dk`, the overflow
directory `dd` and the `processed_events` buckets the ring evicts into. Pure: no I/O.

A ring entry is 10 bytes: the 8-byte blake2b digest of a content key or once-per-message key, then
where the entry goes when the ring evicts it (2 bytes, big endian): the UTC day of the event time for
a content digest (a duplicate has the same bytes, so the same event time), `ONCE_TAG` for a
once-per-message digest (bucketed by the digest). Newest entries last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from engagement_scoring.core.keys import digest

DIGEST_BYTES = 8
ENTRY_BYTES = DIGEST_BYTES + 2
ONCE_TAG = 0xFFFF
MAX_DAY = ONCE_TAG - 1  # 2149-06-05; event days outside [0, MAX_DAY] are clamped (the same both ways)
DAY_MS = 86_400_000
# Entries kept in the user item: a typical user's dedupe window fits (B6, docs/performance.md), and a
# full ring keeps the item under 1 KB (one write unit).
RING_CAPACITY = 40
# Digests per bucket item: about 1 KB with its key, so an overflow write stays 1 unit per bucket.
BUCKET_DIGESTS = 100
ONCE_BUCKETS = 8
# Ring entries one write adds at most (a user with more new events gets several writes in sequence):
# each evicted entry lands in one bucket, so a transaction holds at most RING_CAPACITY / 2 + this many
# buckets + 1 (61, under TransactWriteItems' 100 actions).
MAX_ENTRIES_PER_WRITE = 40
_EPOCH = date(1970, 1, 1)


def content_entry(content_key: str, timestamp_ms: int) -> bytes:
    day = min(max(timestamp_ms // DAY_MS, 0), MAX_DAY)
    return digest(content_key) + day.to_bytes(2, "big")


def once_entry(once_key: str) -> bytes:
    return digest(once_key) + b"\xff\xff"


def ring_entries(ring: bytes) -> list[bytes]:
    """The entries of a stored ring, oldest first (a trailing partial entry is ignored)."""
    return [ring[start : start + ENTRY_BYTES] for start in range(0, len(ring) - ENTRY_BYTES + 1, ENTRY_BYTES)]


def ring_digests(ring: bytes) -> set[bytes]:
    return {
        ring[start : start + DIGEST_BYTES] for start in range(0, len(ring) - ENTRY_BYTES + 1, ENTRY_BYTES)
    }


def bucket_base(entry: bytes) -> str:
    """The bucket family an entry belongs to: its event day (`2026-12-03`) or `m<0-7>` by digest."""
    tag = int.from_bytes(entry[DIGEST_BYTES:ENTRY_BYTES], "big")
    if tag == ONCE_TAG:
        return f"m{entry[0] % ONCE_BUCKETS}"
    return (_EPOCH + timedelta(days=tag)).isoformat()


def _base_and_chunk(suffix: str) -> tuple[str, int]:
    base, _, chunk = suffix.partition(".")
    return base, int(chunk) if chunk.isdigit() else 0


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    count: int  # digests written into the bucket
    expires_at: int  # epoch seconds: the bucket's TTL


Directory = dict[str, DirectoryEntry]


def directory(stored: Any) -> Directory:
    """The overflow directory from a plain (deserialized) `dd` map: suffix -> [count, expires_at]."""
    result: Directory = {}
    if isinstance(stored, Mapping):
        for suffix, value in stored.items():
            if (
                isinstance(suffix, str)
                and isinstance(value, list)
                and len(value) == 2
                and all(isinstance(part, Decimal) and part.is_finite() for part in value)
            ):
                result[suffix] = DirectoryEntry(int(value[0]), int(value[1]))
    return result


def buckets_to_read(entries: Iterable[bytes], listed: Directory, now_s: int) -> list[str]:
    """Suffixes of the unexpired buckets that could hold these entries' digests."""
    bases = {bucket_base(entry) for entry in entries}
    return [
        suffix
        for suffix, entry in listed.items()
        if entry.expires_at > now_s and _base_and_chunk(suffix)[0] in bases
    ]


@dataclass(frozen=True, slots=True)
class RingUpdate:
    ring: bytes
    directory: Directory
    evicted: dict[str, tuple[list[bytes], int]]  # suffix -> (digests, expires_at) to add to that bucket


def add_entries(
    ring: bytes,
    listed: Directory,
    new_entries: list[bytes],
    now_s: int,
    content_ttl_s: int,
    once_ttl_s: int,
    capacity: int = RING_CAPACITY,
) -> RingUpdate:
    """Append `new_entries` to the ring; when that passes `capacity`, the oldest go to buckets listed in
    the new directory (expired directory entries dropped) until half the capacity is left, so a heavy
    user's next writes fill the ring again as plain UpdateItems: one eviction (a TransactWriteItems)
    per about capacity / 2 new entries instead of one per write. An evicted digest goes to its family's
    newest bucket while that holds fewer than BUCKET_DIGESTS, else to a new chunk."""
    entries = ring_entries(ring) + new_entries
    overflow = len(entries) - capacity // 2 if len(entries) > capacity else 0
    evicted_entries, kept = entries[:overflow], entries[overflow:]
    new_directory = {suffix: entry for suffix, entry in listed.items() if entry.expires_at > now_s}
    evicted: dict[str, tuple[list[bytes], int]] = {}
    newest: dict[str, tuple[int, str]] = {}  # base -> (chunk, suffix) of the family's newest bucket
    for suffix in listed:
        base, chunk = _base_and_chunk(suffix)
        if base not in newest or chunk > newest[base][0]:
            newest[base] = (chunk, suffix)
    for entry in evicted_entries:
        base = bucket_base(entry)
        expires_at = now_s + (once_ttl_s if base.startswith("m") else content_ttl_s)
        chunk, suffix = newest.get(base, (-1, ""))
        current = new_directory.get(suffix) if chunk >= 0 else None
        if current is None or current.count >= BUCKET_DIGESTS:
            chunk += 1
            suffix = base if chunk == 0 else f"{base}.{chunk}"
            newest[base] = (chunk, suffix)
            current = DirectoryEntry(0, expires_at)
        new_directory[suffix] = DirectoryEntry(current.count + 1, max(current.expires_at, expires_at))
        digests, _ = evicted.get(suffix, ([], 0))
        digests.append(entry[:DIGEST_BYTES])
        evicted[suffix] = (digests, new_directory[suffix].expires_at)
    return RingUpdate(b"".join(kept), new_directory, evicted)
