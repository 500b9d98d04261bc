"""Score changes from a DynamoDB stream batch: one per user, latest image against the oldest one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engagement_scoring.core.publication import Published, published_from_image


class InvalidImage(ValueError):
    """A stream record whose image is not DynamoDB JSON the score sync understands."""


def attribute_value(value: Any) -> Any:
    """Plain Python value of one DynamoDB JSON attribute value (N -> Decimal, SS -> set, M -> dict)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidImage("not an attribute value")
    ((kind, content),) = value.items()
    try:
        if kind == "S" and isinstance(content, str):
            return content
        if kind == "N" and isinstance(content, str):
            return Decimal(content)
        if kind == "BOOL" and isinstance(content, bool):
            return content
        if kind == "NULL":
            return None
        if kind == "M" and isinstance(content, dict):
            return _plain_map(content)
        if kind == "L" and isinstance(content, list):
            return [attribute_value(item) for item in content]
        if kind == "SS" and isinstance(content, list):
            for item in content:  # all(isinstance(item, str) ...) without a generator
                if not isinstance(item, str):
                    raise InvalidImage("unknown attribute type")
            return set(content)
        if kind == "NS" and isinstance(content, list) and all(isinstance(item, str) for item in content):
            return {Decimal(item) for item in content}
        if kind in ("B", "BS"):
            return content
    except (InvalidOperation, RecursionError) as exc:
        raise InvalidImage("bad attribute value") from exc
    raise InvalidImage("unknown attribute type")


def _plain_map(attributes: dict[Any, Any]) -> dict[str, Any]:
    """{str(name): attribute_value(value)} of a map's or an image's attributes."""
    plain: dict[str, Any] = {}
    for name, value in attributes.items():
        # Strings and numbers, most of a user item, are decoded here as attribute_value would, without
        # a call each: the scorer reads the item of every user it updates (benchmark B2).
        if isinstance(value, dict) and len(value) == 1:
            ((kind, content),) = value.items()
            if kind == "N" and isinstance(content, str):
                try:
                    plain[str(name)] = Decimal(content)
                except InvalidOperation as exc:
                    raise InvalidImage("bad attribute value") from exc
                continue
            if kind == "S" and isinstance(content, str):
                plain[str(name)] = content
                continue
        plain[str(name)] = attribute_value(value)
    return plain


def image(attributes: Any) -> dict[str, Any] | None:
    if attributes is None:
        return None
    if not isinstance(attributes, dict):
        raise InvalidImage("image is not a map")
    return _plain_map(attributes)


@dataclass(frozen=True, slots=True)
class StreamChange:
    """One usable DynamoDB stream record of the user scores table."""

    user_key: str
    sequence_number: str | None
    event_name: str
    old_image: dict[str, Any] | None
    new_image: dict[str, Any] | None


def parse_stream_record(record: Any) -> StreamChange:
    """Read a Lambda DynamoDB stream record; raises InvalidImage when it is not a user-scores record."""
    if not isinstance(record, dict) or not isinstance(record.get("dynamodb"), dict):
        raise InvalidImage("not a DynamoDB stream record")
    body = record["dynamodb"]
    keys = image(body.get("Keys")) or {}
    user_key = keys.get("user_key")
    if not isinstance(user_key, str) or not user_key:
        raise InvalidImage("no user_key")
    sequence_number = body.get("SequenceNumber")
    event_name = record.get("eventName")
    return StreamChange(
        user_key=user_key,
        sequence_number=sequence_number if isinstance(sequence_number, str) and sequence_number else None,
        event_name=event_name if isinstance(event_name, str) else "",
        old_image=image(body.get("OldImage")),
        new_image=image(body.get("NewImage")),
    )


def _score(snapshot: Mapping[str, Any] | None) -> Decimal | None:
    value = None if snapshot is None else snapshot.get("score")
    return value if isinstance(value, Decimal) and value.is_finite() else None


def _tier(snapshot: Mapping[str, Any] | None) -> str | None:
    value = None if snapshot is None else snapshot.get("tier")
    return value if isinstance(value, str) else None


# A user key derived from a recipient address starts with its kind (docs/architecture.md, "Normalized
# event"); keyed hashes of an address (`email-hmac:`, `sms-hmac:`) are not addresses.
ADDRESS_KEY_KINDS = {"email:": "email", "sms:": "sms"}


def address_of(user_key: str) -> tuple[str, str] | None:
    """(kind, address) of a user keyed by a recipient address, None for every other user key."""
    for prefix, kind in ADDRESS_KEY_KINDS.items():
        if user_key.startswith(prefix) and len(user_key) > len(prefix):
            return kind, user_key[len(prefix) :]
    return None


@dataclass(slots=True)
class ScoreChange:
    user_key: str
    score: Decimal
    previous_score: Decimal | None
    tier: str | None
    previous_tier: str | None
    channels: dict[str, Decimal]
    as_of: int | None
    endpoint_ids: tuple[str, ...]
    sequence_numbers: list[str] = field(default_factory=list)
    version: int | None = None  # the item version of the latest image: what a publication is a state of
    rules: tuple[str, ...] = ()  # window rules matched now (#10), sorted
    updated_at: int | None = None  # epoch ms, wall clock of the latest write
    # Machine-flagged events (weight > 0) behind this change, by reason: the sum of the `mf` maps of the
    # user's new images in the batch (docs/scoring.md, "Machine engagement").
    machine_flagged: dict[str, int] = field(default_factory=dict)
    previous_rules: tuple[str, ...] = ()  # window rules matched in the oldest image of the batch (#10)

    @property
    def tier_changed(self) -> bool:
        return self.tier != self.previous_tier

    @property
    def score_changed(self) -> bool:
        """The score or the tier moved (a change may also be only a change of the matched rules)."""
        return self.score != self.previous_score or self.tier_changed

    @property
    def rules_matched(self) -> tuple[str, ...]:
        """Window rules matched now and not in the oldest image: one EngagementRuleMatched each."""
        previous = set(self.previous_rules)
        return tuple(name for name in self.rules if name not in previous)

    @property
    def rules_cleared(self) -> tuple[str, ...]:
        """Window rules matched in the oldest image and not now: one EngagementRuleCleared each."""
        now = set(self.rules)
        return tuple(name for name in self.previous_rules if name not in now)


@dataclass(slots=True)
class _UserRecords:
    oldest: dict[str, Any] | None
    latest: dict[str, Any] | None = None
    sequence_numbers: list[str] = field(default_factory=list)
    machine_flagged: dict[str, int] = field(default_factory=dict)
    published: dict[str, Any] | None = None  # the newest image whose write moved `pub` (a publication)


def _pub(snapshot: Mapping[str, Any] | None) -> Published | None:
    return None if snapshot is None else published_from_image(snapshot.get("pub"))


def _add_machine_flagged(total: dict[str, int], image: Mapping[str, Any] | None) -> None:
    """Add a written image's per-write `mf` counts (reason -> whole number >= 0) to `total`."""
    counts = None if image is None else image.get("mf")
    if not isinstance(counts, dict):
        return
    for reason, count in counts.items():
        if (
            isinstance(count, Decimal)
            and count.is_finite()
            and count > 0
            and count == count.to_integral_value()
        ):
            total[reason] = total.get(reason, 0) + int(count)


def coalesce(changes: Iterable[StreamChange]) -> list[ScoreChange]:
    """One change per user whose score or tier differs between its oldest and latest image in the batch.

    Key-only images (moto's first INSERT of an update_item) carry no score and are passed over; a user
    whose latest record is a REMOVE has nothing to publish.
    """
    users: dict[str, _UserRecords] = {}
    for change in changes:
        records = users.get(change.user_key)
        if records is None:
            records = users[change.user_key] = _UserRecords(oldest=change.old_image)
        if change.sequence_number is not None:
            records.sequence_numbers.append(change.sequence_number)
        if change.event_name == "REMOVE":
            records.latest = None
        elif _score(change.new_image) is not None:
            records.latest = change.new_image
            _add_machine_flagged(records.machine_flagged, change.new_image)
            if _pub(change.new_image) is not None and _pub(change.new_image) != _pub(change.old_image):
                records.published = change.new_image
    result = []
    for user_key, records in users.items():
        latest = records.latest
        score = _score(latest)
        if latest is None or score is None:
            continue
        previous_score, previous_tier, tier = _score(records.oldest), _tier(records.oldest), _tier(latest)
        # Rule events (#10) compare the true oldest and latest images of the batch, whatever was published.
        rules, previous_rules = _rules(latest), _rules(records.oldest)
        latest_pub = _pub(latest)
        if latest_pub is not None:
            # Publication threshold (docs/scoring.md): the sinks hear of a user only when a write of this
            # batch moved `pub`, and then of the state that write published (the sinks never run ahead of
            # `pub`, so they lag the item by less than the threshold); items without `pub`: as before.
            # A change of the matched window rules (#10) is a publication even when score and tier,
            # and so `pub`, stayed the same.
            oldest_pub = _pub(records.oldest)
            if latest_pub == oldest_pub and rules == previous_rules:
                continue
            if oldest_pub is not None:
                previous_score, previous_tier = oldest_pub.score, oldest_pub.tier
            latest = records.published or latest
            score, tier = _score(latest), _tier(latest)
            if score is None:
                continue
        elif score == previous_score and tier == previous_tier and rules == previous_rules:
            continue
        channels = latest.get("channels")
        endpoint_ids = latest.get("endpoint_ids")
        result.append(
            ScoreChange(
                user_key=user_key,
                score=score,
                previous_score=previous_score,
                tier=tier,
                previous_tier=previous_tier,
                channels={
                    str(name): value
                    for name, value in (channels.items() if isinstance(channels, dict) else ())
                    if isinstance(value, Decimal) and value.is_finite()
                },
                as_of=_integer(latest.get("as_of")),
                endpoint_ids=tuple(sorted(item for item in endpoint_ids if isinstance(item, str)))
                if isinstance(endpoint_ids, set)
                else (),
                sequence_numbers=records.sequence_numbers,
                version=_integer(latest.get("version")),
                rules=rules,
                updated_at=_integer(latest.get("updated_at")),
                machine_flagged=dict(sorted(records.machine_flagged.items())),
                previous_rules=previous_rules,
            )
        )
    return result


def _rules(snapshot: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The sorted window rule names an image says are matched (`rules`, absent when none)."""
    value = None if snapshot is None else snapshot.get("rules")
    return tuple(sorted(item for item in value if isinstance(item, str))) if isinstance(value, set) else ()


def _integer(value: Any) -> int | None:
    return int(value) if isinstance(value, Decimal) and value.is_finite() else None


@dataclass(frozen=True, slots=True)
class ConversionCredit:
    """A conversion a scorer write credited (the user item's `ca`, #11): one ConversionAttributed event."""

    user_key: str
    digest: str  # 32 hex digits of the conversion's ledger key: what makes its event id stable
    detail: Mapping[str, Any]  # conversion_type, at, value, attributed, credit (model -> campaign -> shares)


def conversions_of(changes: Iterable[StreamChange]) -> list[ConversionCredit]:
    """The conversions newly credited by the writes of a batch: entries of a new image's `ca` that its old
    image does not hold (a later write that leaves `ca` alone, e.g. the refresher's, publishes nothing)."""
    import json

    found: list[ConversionCredit] = []
    for change in changes:
        if change.event_name == "REMOVE" or change.new_image is None:
            continue
        credited = change.new_image.get("ca")
        if not isinstance(credited, dict):
            continue
        before = change.old_image.get("ca") if change.old_image is not None else None
        before = before if isinstance(before, dict) else {}
        for digest, text in sorted(credited.items()):
            if not isinstance(text, str) or before.get(digest) == text:
                continue
            try:
                detail = json.loads(text)
            except ValueError:
                continue
            if isinstance(detail, dict):
                found.append(ConversionCredit(change.user_key, str(digest), detail))
    return found
