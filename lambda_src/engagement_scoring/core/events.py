"""The normalized event every input format is turned into, and the outcomes of normalization."""

from __future__ import annotations

from dataclasses import dataclass

USER_KEY_MODES = ("auto", "endpoint_id", "user_id")

# Size limits keep every ledger key ("m#<user>#<type>#<message>") under DynamoDB's 2048-byte key limit.
MAX_USER_KEY_BYTES = 512
MAX_EVENT_TYPE_BYTES = 256
MAX_MESSAGE_ID_BYTES = 1024
MAX_ENDPOINT_ID_BYTES = 512
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
    content_key: str


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A valid record that scores nothing by design (for example `_test.event_stream`)."""

    reason: str


class RecordRejected(Exception):
    """A record that can never be scored; `reason` is a short code safe to log and count."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
