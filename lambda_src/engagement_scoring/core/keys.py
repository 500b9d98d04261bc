"""Keys of the exactly-once ledger (`processed_events`)."""

from __future__ import annotations

from hashlib import blake2b


def content_key(data: bytes) -> str:
    """`e#` + blake2b-128 of the record's bytes: replays and re-sends of the same bytes share it."""
    return "e#" + blake2b(data, digest_size=16).hexdigest()


def once_per_message_key(user_key: str, event_type: str, message_id: str) -> str:
    """The key that marks a once-per-message rule as counted for this user and message."""
    return f"m#{user_key}#{event_type}#{message_id}"
