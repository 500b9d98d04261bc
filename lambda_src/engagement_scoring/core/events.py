"""The normalized event every input format is turned into, the settings formats read, and the outcomes
of normalization (fields: docs/architecture.md, "Normalized event")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

USER_KEY_MODES = ("auto", "endpoint_id", "user_id")
# How a recipient address may stand in for a user key when a record names no user (RECIPIENT_USER_KEY).
RECIPIENT_USER_KEYS = ("none", "address", "hashed_address")

# Size limits keep every ledger key ("m#<user>#<type>#<message>") under DynamoDB's 2048-byte key limit.
MAX_USER_KEY_BYTES = 512
MAX_EVENT_TYPE_BYTES = 256
MAX_MESSAGE_ID_BYTES = 1024
MAX_ENDPOINT_ID_BYTES = 512
MAX_CAMPAIGN_BYTES = 512
# A record's numeric metrics: at most this many, names at most MAX_METRIC_NAME_BYTES.
MAX_METRICS = 50
MAX_METRIC_NAME_BYTES = 128
# Epoch milliseconds accepted as an event time: 1970-01-01 up to 9999-12-31.
MAX_TIMESTAMP_MS = 253_402_300_799_999


# Not frozen: a frozen dataclass pays object.__setattr__ per field, and one is built per record.
@dataclass(slots=True)
class NormalizedEvent:
    user_key: str
    event_type: str
    timestamp_ms: int
    channel: str | None
    message_id: str | None
    endpoint_id: str | None
    # "e#" + blake2b-128 of `identity`, else of the payload's bytes; set by the scorer once the rules
    # are known (only events with a rule need it).
    content_key: str
    campaign: str | None = None
    metrics: dict[str, int | float] | None = None
    # The format counts this event once per (user, type, message id), whatever the rule says.
    once_per_message: bool = False
    # What makes this event distinct when the format knows it (SES, SMS), independent of how the
    # record was serialized or wrapped.
    identity: str | None = None
    # Format-specific facts for later classifiers (send_time_ms, user_agent, ip, link); never logged.
    details: Mapping[str, str | int] | None = None


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A valid record (or part of one) that scores nothing by design, e.g. `_test.event_stream`."""

    reason: str


@dataclass(frozen=True, slots=True)
class FormatSettings:
    """What the normalizers read besides the record (environment: docs/architecture.md)."""

    user_key_mode: str = "auto"
    user_key_tag: str = "user_key"
    campaign_tag: str = "campaign"
    recipient_user_key: str = "none"
    # The HMAC-SHA256 key for `hashed_address` (from SSM; never logged).
    recipient_hash_key: bytes | None = None

    def __post_init__(self) -> None:
        if self.user_key_mode not in USER_KEY_MODES:
            raise ValueError(f"user_key_mode must be one of {', '.join(USER_KEY_MODES)}")
        if self.recipient_user_key not in RECIPIENT_USER_KEYS:
            raise ValueError(f"recipient_user_key must be one of {', '.join(RECIPIENT_USER_KEYS)}")
        if self.recipient_user_key == "hashed_address" and not self.recipient_hash_key:
            raise ValueError("hashed_address needs the HMAC key")

    def __repr__(self) -> str:  # the key never reaches a log line, not even through a repr
        return (
            f"FormatSettings(user_key_mode={self.user_key_mode!r}, user_key_tag={self.user_key_tag!r}, "
            f"campaign_tag={self.campaign_tag!r}, recipient_user_key={self.recipient_user_key!r})"
        )


DEFAULT_SETTINGS = FormatSettings()


class RecordRejected(Exception):
    """A record that can never be scored; `reason` is a short code safe to log and count."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
