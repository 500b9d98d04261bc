"""Exactly-once keys: content keys, once-per-message keys and their 8-byte digests (layout v2)."""

from __future__ import annotations

from hashlib import blake2b


def content_key(data: bytes) -> str:
    """`e#` + blake2b-128 of the record's bytes: replays and re-sends of the same bytes share it."""
    return "e#" + blake2b(data, digest_size=16).hexdigest()


def once_per_message_key(user_key: str, event_type: str, message_id: str) -> str:
    """The key that marks a once-per-message rule as counted for this user and message."""
    return f"m#{user_key}#{event_type}#{message_id}"


def digest(key: str) -> bytes:
    """8-byte blake2b digest of a content or once-per-message key: the entry of a user's dedupe ring."""
    return blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
