"""The per-record fast paths written for benchmark B2 give the results the specification defines.

Every expected value here is computed without the engine's code, so a bug shared by a fast path and the
function it replaced cannot pass: the `ref_*` functions are the parsing code as it was before the B2
optimizations (standing alone: they call nothing in lambda_src but its data types and constants); the
score arithmetic is checked against the formulas of docs/scoring.md written out below (`expected_*`) and
against states worked out by hand (HAND_COMPUTED), both on generated inputs (mutated AWS records, random
attribute values, random score states and candidates) and through the scorer itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from engagement_scoring.aws import score_store
from engagement_scoring.aws.score_store import ScoreStore
from engagement_scoring.core import changes
from engagement_scoring.core.aggregation import Candidate, UserWrite, plan_user_writes
from engagement_scoring.core.changes import InvalidImage
from engagement_scoring.core.dedupe import RingUpdate, add_entries, content_entry
from engagement_scoring.core.due import due_shard, next_due
from engagement_scoring.core.events import (
    MAX_CAMPAIGN_BYTES,
    MAX_ENDPOINT_ID_BYTES,
    MAX_EVENT_TYPE_BYTES,
    MAX_MESSAGE_ID_BYTES,
    MAX_TIMESTAMP_MS,
    MAX_USER_KEY_BYTES,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.core.keys import content_key, digest
from engagement_scoring.core.model import ScoringModel, Tier, UserState
from engagement_scoring.core.rules import Rule
from engagement_scoring.formats import fields, pinpoint
from engagement_scoring.pipeline import scorer
from engine_support import AwsResources, FakeContext, custom_event, kinesis_event, load_event
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

HOUR_MS = 3_600_000
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("auto", "endpoint_id", "user_id")
PINPOINT_FIXTURES = sorted(
    f"pinpoint/{path.name}" for path in (Path(__file__).parents[2] / "events" / "pinpoint").glob("*.json")
)


def outcome(function: Callable[..., Any], *args: Any) -> tuple[str, str]:
    """The repr of the result (NaN is not equal to itself), or the type and text of the exception
    (RecordRejected: its reason)."""
    try:
        return ("ok", repr(function(*args)))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


# ---- reference: formats/fields.py required_text, formats/pinpoint.py ------------------------------


def ref_fits(value: str, max_bytes: int) -> bool:
    """The UTF-8 length limit (lone surrogates count as the 3 bytes they would take)."""
    return len(value.encode("utf-8", "surrogatepass")) <= max_bytes


def ref_epoch_ms(value: Any) -> int:
    """Epoch milliseconds: an integer, or a float with an integral value, from 1970 to 9999."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejected("bad_timestamp")
    if isinstance(value, float):
        if not math.isfinite(value) or value != math.floor(value):
            raise RecordRejected("bad_timestamp")
        value = int(value)
    if not 0 <= value <= MAX_TIMESTAMP_MS:
        raise RecordRejected("bad_timestamp")
    return value


def ref_required_text(value: Any, missing_reason: str, max_bytes: int) -> str:
    if not isinstance(value, str) or not value:
        raise RecordRejected(missing_reason)
    if not ref_fits(value, max_bytes):
        raise RecordRejected("field_too_long")
    return value


_CAMPAIGN_PARTS = ("campaign_id", "campaign_activity_id", "treatment_id")
_JOURNEY_PARTS = ("journey_id", "journey_run_id", "journey_activity_id")


def ref_as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def ref_user_id_of(endpoint: Any) -> str | None:
    user_id = ref_as_dict(ref_as_dict(endpoint).get("User")).get("UserId")
    return user_id if isinstance(user_id, str) and user_id else None


def ref_user_id(record: dict[str, Any]) -> str | None:
    found = ref_user_id_of(record.get("endpoint"))
    if found is not None:
        return found
    embedded = ref_as_dict(ref_as_dict(record.get("client_context")).get("custom")).get("endpoint")
    if isinstance(embedded, str):
        try:
            embedded = json.loads(embedded)
        except (ValueError, RecursionError):
            return None
    return ref_user_id_of(embedded)


def ref_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def ref_message_id(record: dict[str, Any], attributes: dict[str, Any]) -> str | None:
    mail = ref_as_dict(
        ref_as_dict(
            ref_as_dict(ref_as_dict(record.get("facets")).get("email_channel")).get("mail_event")
        ).get("mail")
    )
    found = ref_text(mail.get("message_id")) or ref_text(attributes.get("message_id"))
    if found is None:
        for parts in (_JOURNEY_PARTS, _CAMPAIGN_PARTS):
            if ref_text(attributes.get(parts[0])):
                found = ":".join(
                    value if isinstance(value := attributes.get(part), str) else "" for part in parts
                )
                break
    if found is not None and not ref_fits(found, MAX_MESSAGE_ID_BYTES):
        raise RecordRejected("field_too_long")
    return found


def ref_carries_endpoint_id(record: dict[str, Any], event_type: str, attributes: dict[str, Any]) -> bool:
    if "campaign_id" in attributes or "journey_id" in attributes:
        return True
    if event_type.startswith(("_email.", "_SMS.")):
        return False
    facets = record.get("facets")
    if isinstance(facets, dict) and ("email_channel" in facets or "sms_channel" in facets):
        return False
    return isinstance(record.get("application"), dict)


def ref_campaign(attributes: dict[str, Any]) -> str | None:
    for name in ("campaign_id", "journey_id"):
        found = ref_text(attributes.get(name))
        if found is not None:
            if not ref_fits(found, MAX_CAMPAIGN_BYTES):
                raise RecordRejected("field_too_long")
            return found
    return None


def ref_metrics(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > 50:
        raise RecordRejected("bad_metrics")
    for name, figure in value.items():
        if isinstance(figure, bool) or not isinstance(figure, (int, float)):
            raise RecordRejected("bad_metrics")
        if not (isinstance(figure, int) or math.isfinite(figure)) or abs(figure) > 1e18:
            raise RecordRejected("bad_metrics")
        if not name or not ref_fits(name, 128):
            raise RecordRejected("bad_metrics")
    return value or None


def ref_details(record: dict[str, Any], event_type: str) -> Any:
    if event_type not in ("_email.open", "_email.click"):
        return None
    mail_event = ref_as_dict(ref_as_dict(record.get("facets")).get("email_channel")).get("mail_event")
    if not isinstance(mail_event, dict):
        return None
    details: dict[str, Any] = {}
    sent = ref_as_dict(mail_event.get("mail")).get("message_send_timestamp")
    if isinstance(sent, int) and not isinstance(sent, bool) and 0 <= sent <= 253_402_300_799_999:
        details["send_time_ms"] = sent
    action = ref_as_dict(mail_event.get(event_type.removeprefix("_email.")))
    for field, key in (("user_agent", "user_agent"), ("ip_address", "ip"), ("link", "link")):
        if ref_text(action.get(field)):
            details[key] = action[field]
    return MappingProxyType(details) if details else None


def ref_pinpoint_normalize(
    record: dict[str, Any], content_key: str, user_key_mode: str
) -> list[NormalizedEvent | SkippedRecord]:
    event_type = ref_required_text(record.get("event_type"), "missing_event_type", MAX_EVENT_TYPE_BYTES)
    if event_type == "_test.event_stream":
        return [SkippedRecord("test_event")]
    timestamp = ref_epoch_ms(record.get("event_timestamp"))
    client_id = ref_required_text(
        ref_as_dict(record.get("client")).get("client_id"), "missing_client_id", MAX_ENDPOINT_ID_BYTES
    )
    attributes = ref_as_dict(record.get("attributes"))
    if user_key_mode == "endpoint_id":
        user_key = client_id
    else:
        found = ref_user_id(record)
        if found is None and user_key_mode == "user_id":
            raise RecordRejected("no_user_id")
        user_key = found or client_id
        if not ref_fits(user_key, MAX_USER_KEY_BYTES):
            raise RecordRejected("field_too_long")
    message_id = ref_message_id(record, attributes)
    endpoint_id = client_id if ref_carries_endpoint_id(record, event_type, attributes) else None
    metrics = ref_metrics(record.get("metrics"))
    return [
        NormalizedEvent(
            user_key=user_key,
            event_type=event_type,
            timestamp_ms=timestamp,
            channel=None,
            message_id=message_id,
            endpoint_id=endpoint_id,
            content_key=content_key,
            campaign=ref_campaign(attributes),
            metrics=metrics,
            details=ref_details(record, event_type),
        )
    ]


def pinpoint_normalize(
    record: dict[str, Any], content_key: str, user_key_mode: str
) -> list[NormalizedEvent | SkippedRecord]:
    """The current normalizer with the reference's arguments (the scorer sets the content key later)."""
    results = pinpoint.normalize(record, FormatSettings(user_key_mode=user_key_mode))
    for result in results:
        if isinstance(result, NormalizedEvent):
            result.content_key = content_key
    return results


# ---- reference: core/changes.py attribute_value and image, aws/score_store.py user_state ----------


def ref_attribute_value(value: Any) -> Any:
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
            return {str(name): ref_attribute_value(item) for name, item in content.items()}
        if kind == "L" and isinstance(content, list):
            return [ref_attribute_value(item) for item in content]
        if kind == "SS" and isinstance(content, list) and all(isinstance(item, str) for item in content):
            return set(content)
        if kind == "NS" and isinstance(content, list) and all(isinstance(item, str) for item in content):
            return {Decimal(item) for item in content}
        if kind in ("B", "BS"):
            return content
    except (InvalidOperation, RecursionError) as exc:
        raise InvalidImage("bad attribute value") from exc
    raise InvalidImage("unknown attribute type")


def ref_image(attributes: Any) -> dict[str, Any] | None:
    if attributes is None:
        return None
    if not isinstance(attributes, dict):
        raise InvalidImage("image is not a map")
    return {str(name): ref_attribute_value(value) for name, value in attributes.items()}


def ref_user_state(item: dict[str, Any]) -> UserState:
    def decimal_of(name: str, fallback: Decimal = Decimal(0)) -> Decimal:
        value = item.get(name)
        return value if isinstance(value, Decimal) and value.is_finite() else fallback

    raw = decimal_of("raw_score", decimal_of("score"))
    as_of = item.get("as_of")
    channels = item.get("channels")
    endpoint_ids = item.get("endpoint_ids")
    return UserState(
        raw=raw,
        as_of=int(as_of) if isinstance(as_of, Decimal) and as_of.is_finite() else None,
        channels={
            str(name): value
            for name, value in (channels.items() if isinstance(channels, dict) else ())
            if isinstance(value, Decimal) and value.is_finite()
        },
        events_applied=int(decimal_of("events_applied")),
        endpoint_ids=tuple(sorted(endpoint_ids)) if isinstance(endpoint_ids, set) else (),
        version=int(decimal_of("version")),
    )


# ---- expected user states: the model's formulas written out here, never the engine's code ----------
#
# docs/scoring.md: with events of points p_i at times t_i and as_of = the newest time (the stored as_of
# included), raw = stored raw * 2^(-(as_of - stored as_of) / H) + sum_i p_i * 2^(-(as_of - t_i) / H),
# rounded to 6 decimal places per write (H = half-life; a stored state without as_of has nothing to
# carry); without decay raw is the exact sum, 38 significant digits. Channel scores alike, per channel.
# These functions share no code with lambda_src, so a bug in the engine cannot hide in its reference.

_DIGITS_38 = Context(prec=38)
_PREFIX_CHANNEL = {
    "_email": "email",
    "_SMS": "sms",
    "_campaign": "push",
    "_push": "push",
    "_journey": "push",
    "_session": "in_app",
    "_userauth": "in_app",
    "_monetization": "in_app",
    "_in_app": "in_app",
}


def expected_channel(rule: Rule, event_channel: str | None) -> str:
    """docs/architecture.md: the rule's channel, else the event's (custom format), else the type's prefix."""
    return rule.channel or event_channel or _PREFIX_CHANNEL.get(rule.event_type.split(".")[0], "custom")


def expected_endpoint_ids(known: Sequence[str], seen: Iterable[str | None]) -> tuple[str, ...]:
    """Known ids first, then new ones in order of appearance; at most 50 kept."""
    merged = list(known)[:50]
    for endpoint_id in seen:
        if endpoint_id and endpoint_id not in merged and len(merged) < 50:
            merged.append(endpoint_id)
    return tuple(merged)


def expected_chunks(accepted: Sequence[Candidate], max_entries: int) -> list[list[Candidate]]:
    """One write per chunk (layout v2): one ring entry per candidate (two with a once key), at most
    `max_entries` entries a write; each chunk as full as it can be, in stream order."""
    chunks: list[list[Candidate]] = []
    entries = 0
    for candidate in accepted:
        keys = 1 if candidate.once_key is None else 2
        if chunks and entries + keys <= max_entries:
            chunks[-1].append(candidate)
            entries += keys
        else:
            chunks.append([candidate])
            entries = keys
    return chunks


def expected_as_of(state: UserState, chunk: Sequence[Candidate]) -> int:
    times = [candidate.event.timestamp_ms for candidate in chunk]
    return max(times) if state.as_of is None else max(state.as_of, *times)


def expected_exact_state(state: UserState, chunk: Sequence[Candidate]) -> UserState:
    """Without decay: the plain sums in stream order, each addition rounded to 38 digits."""
    raw = state.raw
    channels = dict(state.channels)
    for candidate in chunk:
        points = candidate.rule.points
        channel = expected_channel(candidate.rule, candidate.event.channel)
        raw = _DIGITS_38.add(raw, points)
        channels[channel] = _DIGITS_38.add(channels.get(channel, Decimal(0)), points)
    return UserState(
        raw=raw,
        as_of=expected_as_of(state, chunk),
        channels=channels,
        events_applied=state.events_applied + len(chunk),
        endpoint_ids=expected_endpoint_ids(state.endpoint_ids, (c.event.endpoint_id for c in chunk)),
        version=state.version + 1,
    )


def expected_decayed_sums(
    state: UserState, chunk: Sequence[Candidate], half_life_hours: Decimal
) -> tuple[float, dict[str, float], float]:
    """With decay: raw and channel scores at as_of by the closed form, and the sum of the terms' sizes
    (the scale of the floating-point error)."""
    half_life_ms = float(half_life_hours) * 3_600_000
    as_of = expected_as_of(state, chunk)

    def weight(at_ms: int) -> float:
        return math.pow(0.5, (as_of - at_ms) / half_life_ms)

    carry = 0.0 if state.as_of is None else weight(state.as_of)
    raw = float(state.raw) * carry
    scale = abs(raw)
    channels = {name: float(value) * carry for name, value in state.channels.items()}
    scale += sum(abs(value) for value in channels.values())
    for candidate in chunk:
        term = float(candidate.rule.points) * weight(candidate.event.timestamp_ms)
        channel = expected_channel(candidate.rule, candidate.event.channel)
        raw += term
        channels[channel] = channels.get(channel, 0.0) + term
        scale += 2 * abs(term)
    return raw, channels, scale


def assert_close(actual: Decimal, expected: float, scale: float, what: str) -> None:
    # 6-decimal rounding of the stored number, plus floating-point error relative to the terms' sizes
    assert abs(float(actual) - expected) <= 1e-6 + 1e-12 * scale, (what, actual, expected)


def assert_expected_writes(
    writes: Sequence[UserWrite],
    user_key: str,
    state: UserState,
    accepted: Sequence[Candidate],
    model: ScoringModel,
    max_entries: int,
) -> None:
    """`writes` are the ones the formulas above give, chained: each starts from the previous one's state."""
    chunks = expected_chunks(accepted, max_entries)
    assert [list(write.candidates) for write in writes] == chunks
    for write, chunk in zip(writes, chunks, strict=True):
        assert write.user_key == user_key
        assert write.expected_version == state.version
        exact = expected_exact_state(state, chunk)
        if model.decays:
            raw, channels, scale = expected_decayed_sums(state, chunk, model.half_life_hours)
            assert_close(write.state.raw, raw, scale, "raw")
            assert set(write.state.channels) == set(channels)
            for name, value in channels.items():
                assert_close(write.state.channels[name], value, scale, name)
            # the stored numbers, everything but raw and channels exactly
            assert replace(write.state, raw=exact.raw, channels=exact.channels) == exact
        else:
            assert write.state == exact
        state = write.state


# ---- reference: aws/score_store.py write_actions --------------------------------------------------

# The user item's attribute names (docs/architecture.md) behind the update's placeholders.
USER_ATTRIBUTES = {
    "#score": "score",
    "#raw": "raw_score",
    "#as_of": "as_of",
    "#channels": "channels",
    "#events": "events_applied",
    "#version": "version",
    "#updated": "updated_at",
    "#tier": "tier",
    "#endpoints": "endpoint_ids",
    "#dk": "dk",
    "#dd": "dd",
    "#mf": "mf",
    "#due_at": "due_at",
    "#due_sh": "due_sh",
}


def ref_number(value: Decimal | int) -> dict[str, str]:
    """A DynamoDB number in plain notation (no exponent)."""
    return {"N": format(value, "f") if isinstance(value, Decimal) else str(value)}


def expected_score_and_tier(raw: Decimal, model: ScoringModel) -> tuple[Decimal, str | None]:
    """raw clamped to floor/ceiling; the tier with the highest min_score <= score, the lowest below all."""
    score = raw
    if model.floor is not None and score < model.floor:
        score = model.floor
    if model.ceiling is not None and score > model.ceiling:
        score = model.ceiling
    tiers = sorted(model.tiers, key=lambda tier: tier.min_score)
    if not tiers:
        return score, None
    reached = [tier for tier in tiers if tier.min_score <= score]
    return score, (reached[-1] if reached else tiers[0]).name


def ref_write_actions(
    store: ScoreStore,
    write: UserWrite,
    ring: RingUpdate,
    had_directory: bool,
    model: ScoringModel,
    now_ms: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    state = write.state
    score, tier = expected_score_and_tier(state.raw, model)
    values: dict[str, Any] = {
        ":score": ref_number(score),
        ":raw": ref_number(state.raw),
        ":as_of": ref_number(state.as_of or 0),
        ":channels": {"M": {name: ref_number(value) for name, value in state.channels.items()}},
        ":events": ref_number(state.events_applied),
        ":version": ref_number(state.version),
        ":updated": ref_number(now_ms),
        ":dk": {"B": ring.ring},
    }
    assignments = [
        "#score = :score",
        "#raw = :raw",
        "#as_of = :as_of",
        "#channels = :channels",
        "#events = :events",
        "#version = :version",
        "#updated = :updated",
        "#dk = :dk",
    ]
    names = [
        "#score",
        "#raw",
        "#as_of",
        "#channels",
        "#events",
        "#version",
        "#updated",
        "#tier",
        "#dk",
        "#mf",
    ]
    if state.endpoint_ids:
        assignments.append("#endpoints = :endpoints")
        values[":endpoints"] = {"SS": list(state.endpoint_ids)}
        names.append("#endpoints")
    removed = []
    if tier is None:
        removed.append("#tier")
    else:
        assignments.append("#tier = :tier")
        values[":tier"] = {"S": tier}
    if ring.directory:
        assignments.append("#dd = :dd")
        values[":dd"] = {
            "M": {
                suffix: {"L": [ref_number(entry.count), ref_number(entry.expires_at)]}
                for suffix, entry in ring.directory.items()
            }
        }
    elif had_directory:
        removed.append("#dd")
    reasons = Counter(reason for candidate in write.candidates for reason in candidate.reasons)
    if reasons:
        assignments.append("#mf = :mf")
        values[":mf"] = {"M": {reason: ref_number(reasons[reason]) for reason in sorted(reasons)}}
    else:
        removed.append("#mf")
    if model.decays:
        # the refresher's index: when the decayed score next matters (core/due.py, its own tests)
        due = next_due(model, state.raw, state.as_of or 0, None, store.publish_min_delta)
        names += ["#due_at", "#due_sh"]
        if due is None:
            removed += ["#due_at", "#due_sh"]
        else:
            assignments += ["#due_at = :due_at", "#due_sh = :due_sh"]
            values[":due_at"] = ref_number(due)
            values[":due_sh"] = {"S": due_shard(write.user_key)}
    if ring.directory or had_directory:
        names.append("#dd")
    expression = "SET " + ", ".join(assignments)
    if removed:
        expression += " REMOVE " + ", ".join(removed)
    if write.expected_version:
        condition = "#version = :expected"
        values[":expected"] = ref_number(write.expected_version)
    else:
        condition = "attribute_not_exists(#version)"
    update = {
        "TableName": store.scores_table,
        "Key": {"user_key": {"S": write.user_key}},
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {name: USER_ATTRIBUTES[name] for name in names},
        "ExpressionAttributeValues": values,
    }
    buckets = [
        {
            "Update": {
                "TableName": store.ledger_table,
                "Key": {"event_key": {"S": f"b#{write.user_key}#{suffix}"}},
                "UpdateExpression": "ADD d :d SET expires_at = :e",
                "ExpressionAttributeValues": {":d": {"BS": digests}, ":e": ref_number(expires_at)},
            }
        }
        for suffix, (digests, expires_at) in ring.evicted.items()
    ]
    return update, buckets


# ---- reference: pipeline/scorer.py _kinesis_fields --------------------------------------------------


def ref_kinesis_fields(record: Any) -> tuple[str | None, str | None, Any]:
    if not isinstance(record, dict):
        return None, None, None
    kinesis = record.get("kinesis")
    kinesis = kinesis if isinstance(kinesis, dict) else {}
    sequence_number = kinesis.get("sequenceNumber")
    event_id = record.get("eventID")
    shard_id = event_id.partition(":")[0] if isinstance(event_id, str) and event_id else None
    return (
        sequence_number if isinstance(sequence_number, str) and sequence_number else None,
        shard_id,
        kinesis.get("data"),
    )


# ---- strategies ------------------------------------------------------------------------------------

# Short and long texts: long ones (and multi-byte ones) take the paths that check the UTF-8 length.
texts = (
    st.text(max_size=12)
    | st.text(min_size=60, max_size=300)
    | st.builds(
        lambda char, n: char * n,
        st.sampled_from(["a", "é", "€", "😀", "\ud800"]),
        # lengths about the limits: 4 bytes a character at most, 256/512/1024 bytes
        st.sampled_from([1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 300, 511, 512, 513, 700, 1024, 1025]),
    )
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, 1_732_300_000_000, 253_402_300_799_999, 253_402_300_800_000, -1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1.7e12, 1.5, float("nan")])
    | texts
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
keys_of_interest = st.sampled_from(
    [
        "event_type",
        "event_timestamp",
        "client",
        "client_id",
        "attributes",
        "facets",
        "email_channel",
        "sms_channel",
        "mail_event",
        "mail",
        "message_id",
        "endpoint",
        "User",
        "UserId",
        "client_context",
        "custom",
        "application",
        "campaign_id",
        "campaign_activity_id",
        "treatment_id",
        "journey_id",
        "journey_run_id",
        "journey_activity_id",
        "metrics",
        "open",
        "click",
        "message_send_timestamp",
        "user_agent",
        "ip_address",
        "link",
    ]
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The usual shape of a field, or now and then any JSON value in its place."""
    return st.one_of(strategy, strategy, strategy, json_values)


usual_texts = (
    st.sampled_from(["_email.open", "_campaign.send", "_SMS.SUCCESS", "x", "_test.event_stream"]) | texts
)
attribute_names = st.sampled_from(
    [
        "message_id",
        "campaign_id",
        "campaign_activity_id",
        "treatment_id",
        "journey_id",
        "journey_run_id",
        "journey_activity_id",
    ]
)
endpoints = st.fixed_dictionaries(
    {}, optional={"User": maybe(st.fixed_dictionaries({}, optional={"UserId": texts}))}
)
mails = st.fixed_dictionaries({}, optional={"message_id": texts})
email_channels = st.fixed_dictionaries({"mail_event": maybe(st.fixed_dictionaries({"mail": maybe(mails)}))})
# Pinpoint-shaped records whose fields are each usual, long, missing or of another type.
pinpoint_records = st.fixed_dictionaries(
    {
        "event_type": maybe(usual_texts),
        "event_timestamp": maybe(st.integers(-1, 253_402_300_800_000)),
        "client": maybe(st.fixed_dictionaries({}, optional={"client_id": texts})),
    },
    optional={
        "attributes": maybe(st.dictionaries(attribute_names, maybe(texts), max_size=5)),
        "endpoint": maybe(endpoints),
        "facets": maybe(
            st.fixed_dictionaries(
                {}, optional={"email_channel": maybe(email_channels), "sms_channel": json_values}
            )
        ),
        "client_context": maybe(
            st.fixed_dictionaries(
                {
                    "custom": maybe(
                        st.fixed_dictionaries({"endpoint": maybe(endpoints.map(json.dumps) | texts)})
                    )
                }
            )
        ),
        "application": json_values,
        "metrics": maybe(
            json_values
            | st.dictionaries(
                st.text(max_size=130),
                st.integers(-(10**19), 10**19) | st.floats(allow_nan=True, allow_infinity=True),
                max_size=3,
            )
        ),
    },
)


def mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Randomly delete, replace, retype or add parts of a valid record, at any depth."""
    if isinstance(value, dict) and depth < 6:
        result = dict(value)
        for key in list(result):
            choice = data.draw(st.integers(0, 6))
            if choice == 0:
                del result[key]
            elif choice == 1:
                result[key] = data.draw(json_values)
            elif choice in (2, 3):
                result[key] = mutate(result[key], data, depth + 1)
        for _ in range(data.draw(st.integers(0, 2))):
            result[data.draw(keys_of_interest)] = data.draw(json_values)
        return result
    if data.draw(st.integers(0, 3)) == 0:
        return data.draw(json_values)
    return value


# ---- pinpoint normalizer ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", PINPOINT_FIXTURES)
def test_pinpoint_normalize_matches_the_reference_on_every_fixture(name: str, mode: str) -> None:
    record = load_event(name)
    assert outcome(pinpoint_normalize, record, "e#k", mode) == outcome(
        ref_pinpoint_normalize, record, "e#k", mode
    )


@SETTINGS
@given(st.sampled_from(PINPOINT_FIXTURES), st.sampled_from(MODES), st.data())
def test_pinpoint_normalize_matches_the_reference_on_mutated_records(
    name: str, mode: str, data: st.DataObject
) -> None:
    record = mutate(load_event(name), data)
    assume(isinstance(record, dict))
    assert outcome(pinpoint_normalize, record, "e#k", mode) == outcome(
        ref_pinpoint_normalize, record, "e#k", mode
    )


@SETTINGS
@given(pinpoint_records | st.dictionaries(keys_of_interest, json_values, max_size=8), st.sampled_from(MODES))
def test_pinpoint_normalize_matches_the_reference_on_random_records(
    record: dict[str, Any], mode: str
) -> None:
    assert outcome(pinpoint_normalize, record, "e#k", mode) == outcome(
        ref_pinpoint_normalize, record, "e#k", mode
    )


# Where each checked text sits in a record, and fixtures that reach that check.
TEXT_FIELDS = {
    ("event_type",): ["pinpoint/email_open.json"],
    ("client", "client_id"): ["pinpoint/email_open.json", "pinpoint/campaign_send.json"],
    ("endpoint", "User", "UserId"): ["pinpoint/campaign_opened_notification.json"],
    ("facets", "email_channel", "mail_event", "mail", "message_id"): ["pinpoint/email_open.json"],
    ("attributes", "message_id"): ["pinpoint/sms_success.json"],
    ("attributes", "journey_id"): ["pinpoint/campaign_send.json"],
    ("attributes", "campaign_activity_id"): ["pinpoint/campaign_send.json"],
}


@pytest.mark.parametrize("path", sorted(TEXT_FIELDS))
def test_pinpoint_normalize_matches_the_reference_about_the_length_limits(path: tuple[str, ...]) -> None:
    # every limit is in UTF-8 bytes: 1 to 4 a character, so lengths on both sides of limit / 4 and limit
    for name in TEXT_FIELDS[path]:
        for char in ("a", "é", "😀", "\ud800"):
            for length in (0, 1, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513, 1024, 1025):
                record = load_event(name)
                parent = record
                for key in path[:-1]:
                    parent = parent.setdefault(key, {})
                parent[path[-1]] = char * length
                for mode in MODES:
                    assert outcome(pinpoint_normalize, record, "e#k", mode) == outcome(
                        ref_pinpoint_normalize, record, "e#k", mode
                    ), (path, char, length, mode)


@pytest.mark.parametrize(
    "timestamp",
    [0, 1, 1_732_300_000_000, 253_402_300_799_999, 253_402_300_800_000, -1, True, False, 1.0, 1.5, "1", None],
)
def test_pinpoint_normalize_matches_the_reference_on_event_timestamps(timestamp: Any) -> None:
    record = load_event("pinpoint/email_open.json")
    record["event_timestamp"] = timestamp
    assert outcome(pinpoint_normalize, record, "e#k", "auto") == outcome(
        ref_pinpoint_normalize, record, "e#k", "auto"
    )


@SETTINGS
@given(scalars | json_values, st.sampled_from([MAX_EVENT_TYPE_BYTES, MAX_USER_KEY_BYTES, 4, 1, 0]))
def test_required_text_matches_the_reference(value: Any, max_bytes: int) -> None:
    assert outcome(fields.required_text, value, "missing", max_bytes) == outcome(
        ref_required_text, value, "missing", max_bytes
    )


# ---- DynamoDB images and stored user states --------------------------------------------------------

numbers_text = st.sampled_from(["1", "-2.5", "0", "1E+2", "0.000001", "NaN", "Infinity", "1e400", "x", ""])
attribute_values = st.recursive(
    st.builds(lambda s: {"S": s}, st.text(max_size=8) | json_values)
    | st.builds(lambda n: {"N": n}, numbers_text | st.text(max_size=6) | json_values)
    | st.builds(lambda b: {"BOOL": b}, json_values)
    | st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=4) | json_values, max_size=3))
    # (no NaN in a set: its order would depend on the NaN objects' identities)
    | st.builds(lambda v: {"NS": v}, st.lists(st.sampled_from(["1", "-2.5", "1E+2", "x"]), max_size=3))
    | st.builds(lambda: {"NULL": True})
    | st.dictionaries(st.sampled_from(["S", "N", "X"]), json_values, max_size=2)
    | json_values,
    lambda children: (
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=8), children, max_size=3))
        | st.builds(lambda items: {"L": items}, st.lists(children, max_size=3))
    ),
    max_leaves=10,
)
stored_numbers = st.builds(lambda n: {"N": n}, numbers_text)
stored_values = (
    stored_numbers
    | st.builds(
        lambda m: {"M": m},
        st.dictionaries(
            st.sampled_from(["email", "sms"]) | st.text(max_size=3), stored_numbers | attribute_values
        ),
    )
    | st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=4), max_size=3))
    | attribute_values
)
# Items shaped like the stored users, with numbers that are sometimes not finite or not numbers.
user_items = st.dictionaries(
    st.sampled_from(
        ["user_key", "score", "raw_score", "as_of", "channels", "events_applied", "version", "endpoint_ids"]
    )
    | st.text(max_size=6),
    stored_values,
    max_size=9,
)
# The same shapes with only well-formed DynamoDB JSON (numbers still sometimes not finite or not numbers):
# most of `user_items` fails to decode, which the user-state test would discard (72% of its draws).
well_formed_values = st.recursive(
    st.builds(lambda s: {"S": s}, st.text(max_size=8))
    | stored_numbers
    | st.builds(lambda b: {"BOOL": b}, st.booleans())
    | st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=4), max_size=3))
    | st.builds(lambda v: {"NS": v}, st.lists(st.sampled_from(["1", "-2.5", "1E+2"]), max_size=3))
    | st.builds(lambda: {"NULL": True}),
    lambda children: (
        st.builds(lambda m: {"M": m}, st.dictionaries(st.text(max_size=8), children, max_size=3))
        | st.builds(lambda items: {"L": items}, st.lists(children, max_size=3))
    ),
    max_leaves=8,
)


def _field(typical: Any) -> Any:
    # a field holds its typical type most of the time, and any other well-formed value otherwise
    return st.one_of(typical, typical, well_formed_values)


_channel_maps = st.builds(
    lambda m: {"M": m},
    st.dictionaries(
        st.sampled_from(["email", "sms"]) | st.text(max_size=3), _field(stored_numbers), max_size=3
    ),
)
well_formed_user_items = st.fixed_dictionaries(
    {},
    optional={
        "user_key": _field(st.builds(lambda s: {"S": s}, st.text(max_size=8))),
        "score": _field(stored_numbers),
        "raw_score": _field(stored_numbers),
        "as_of": _field(stored_numbers),
        "channels": _field(_channel_maps),
        "events_applied": _field(stored_numbers),
        "version": _field(stored_numbers),
        "endpoint_ids": _field(st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=4), max_size=5))),
        "dk": well_formed_values,
    },
)


@SETTINGS
@given(attribute_values | user_items | json_values)
@example({"SS": ["a", 1]})
@example({"SS": ["a", None]})
@example({"SS": []})
@example({"endpoint_ids": {"SS": ["a", True]}, "score": {"N": "1"}})
@example({"score": {"N": "x"}})
@example({"channels": {"M": {"email": {"N": ""}}}})
@example({"channels": {"M": {"email": {"S": 1}}}})
def test_image_matches_the_reference(value: Any) -> None:
    assert outcome(changes.image, value) == outcome(ref_image, value)
    assert outcome(changes.attribute_value, value) == outcome(ref_attribute_value, value)


@SETTINGS
@given(well_formed_user_items)
@example({"as_of": {"N": "NaN"}, "version": {"N": "Infinity"}, "events_applied": {"N": "-Infinity"}})
@example({"raw_score": {"N": "NaN"}, "score": {"N": "7"}, "channels": {"M": {"email": {"N": "NaN"}}}})
@example({"raw_score": {"S": "7"}, "score": {"N": "sNaN"}, "endpoint_ids": {"SS": ["b", "a"]}})
@example({"as_of": {"N": "1.9"}, "version": {"N": "-2.5"}, "channels": {"M": {}}, "endpoint_ids": {"L": []}})
def test_user_state_matches_the_reference(item: dict[str, Any]) -> None:
    try:
        plain = ref_image(item) or {}
    except InvalidImage:
        plain = None
    assume(plain is not None)
    assert outcome(score_store.user_state, plain) == outcome(ref_user_state, plain)


# User items as the scorer writes them (every attribute it reads, and some it does not), with numbers
# that are sometimes not finite, not plain integers or not numbers, and every attribute sometimes another
# well-formed or malformed value: `user_entry` reads such items by name, never through the image.
_integers_text = (
    st.integers(0, 10**15).map(str) | numbers_text | st.sampled_from(["007", "1.0", "-3", "\u0661"])
)
_scorer_numbers = st.builds(lambda n: {"N": n}, _integers_text)
_bytes = st.builds(lambda b: {"B": b}, st.binary(max_size=60))
_published = st.builds(
    lambda s, t: {"M": {"s": s, **({} if t is None else {"t": t})}},
    _scorer_numbers | well_formed_values,
    st.none() | st.builds(lambda s: {"S": s}, st.sampled_from(["cold", "hot"])) | well_formed_values,
)
_directories = st.builds(
    lambda m: {"M": m},
    st.dictionaries(
        st.sampled_from(["2025-10-02", "m3", "2025-10-02.1"]),
        st.builds(lambda c, e: {"L": [c, e]}, _scorer_numbers, _scorer_numbers) | well_formed_values,
        max_size=3,
    ),
)
_SCORER_ATTRIBUTES = {
    "user_key": st.builds(lambda s: {"S": s}, st.text(max_size=8)),
    "score": _scorer_numbers,
    "raw_score": _scorer_numbers,
    "as_of": _scorer_numbers,
    "channels": _channel_maps,
    "events_applied": _scorer_numbers,
    "version": _scorer_numbers,
    "updated_at": _scorer_numbers,
    "dk": _bytes,
    "endpoint_ids": st.builds(lambda v: {"SS": v}, st.lists(st.text(max_size=4), max_size=5)),
    "tier": st.builds(lambda s: {"S": s}, st.sampled_from(["cold", "warm", "hot"])),
    "pub": _published,
    "rc": st.builds(lambda b: {"B": b}, st.binary(min_size=19, max_size=19) | st.binary(max_size=40)),
    "dd": _directories,
    "ca": st.builds(
        lambda m: {"M": m},
        st.dictionaries(st.text(max_size=4), st.builds(lambda s: {"S": s}, st.text(max_size=4)), max_size=2),
    ),
    "mf": st.builds(
        lambda m: {"M": m},
        st.dictionaries(st.sampled_from(["burst", "scanner_list"]), _scorer_numbers, max_size=2),
    ),
    "wr": well_formed_values,
    "lc": well_formed_values,
    "rules": well_formed_values,
}
scorer_user_items = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(shape, shape, shape, well_formed_values, attribute_values)
        for name, shape in _SCORER_ATTRIBUTES.items()
    },
)


USER_ITEM_SETTINGS = settings(SETTINGS, max_examples=150)  # (the tests' budget: about 3 s each)


def long_way_user_entry(attributes: Any) -> tuple[Any, Any]:
    """What the scorer read of a user item before `user_entry`: its image, then `stored_user`."""
    plain = ref_image(attributes) or {}
    return plain.get("user_key"), score_store.stored_user(plain)


@USER_ITEM_SETTINGS
@given(scorer_user_items | well_formed_user_items | user_items | attribute_values)
@example({"dd": {"NULL": True}, "version": {"N": "3"}})
@example({"raw_score": {"N": "NaN"}, "score": {"N": "7"}, "as_of": {"N": "007"}})
@example({"version": {"N": "1.0"}, "pub": {"M": {"s": {"N": "5"}, "t": {"N": "1"}}}})
@example({"pub": {"M": {"s": {"N": "Infinity"}, "t": {"S": "hot"}}}, "rc": {"B": bytes(19)}})
@example({"as_of": {"N": "\u0661"}, "updated_at": {"N": "x"}})
@example({"user_key": {"S": "u"}, "mf": {"M": {"burst": {"N": "x"}}}})
@example({"pub": {"M": {"s": {"N": "5"}, "x": {"Q": "1"}}}})
def test_user_items_read_as_their_image(item: Any) -> None:
    assert outcome(score_store.user_entry, item) == outcome(long_way_user_entry, item)


@USER_ITEM_SETTINGS
@given(st.fixed_dictionaries({}, optional=_SCORER_ATTRIBUTES))
def test_user_items_as_the_scorer_writes_them_take_the_fast_path(item: dict[str, Any]) -> None:
    # (numbers that are not plain integers, a pub with other attributes, dd/ca/mf/wr as the image: all
    # still read by name or through the image's own decoding, without a fallback to the long way)
    assume(all(_is_plain(item, name) for name in ("as_of", "events_applied", "version", "updated_at")))
    for name in ("score", "raw_score"):
        assume(outcome(Decimal, item.get(name, {"N": "0"})["N"])[0] == "ok")
    for amount in item.get("channels", {"M": {}})["M"].values():
        assume(type(amount) is dict and list(amount) == ["N"] and outcome(Decimal, amount["N"])[0] == "ok")
    assume(outcome(ref_image, item)[0] == "ok")
    fast = score_store._fast_stored_user(item)
    assert fast is not None
    assert repr(fast) == repr(long_way_user_entry(item))  # repr: NaN is not equal to itself


def _is_plain(item: dict[str, Any], name: str) -> bool:
    digits = item.get(name, {"N": "0"}).get("N")
    return isinstance(digits, str) and digits.isascii() and digits.isdigit()


# ---- user writes and transactions ------------------------------------------------------------------

# Finite numbers of up to 41 digits (beyond the 38 the sums keep) with exponents from -12 to 12.
decimals = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(-(10**41), 10**41),
    st.integers(-12, 12),
) | st.builds(Decimal, st.sampled_from(["1", "-1000", "0.1", "-0", "0E-7", "1E+30"]))
CHANNELS = ("email", "sms", "push", "in_app", "custom")
ENDPOINTS = st.sampled_from([None, "", "e-1", "e-2", "e-3"])
rules = st.builds(
    Rule,
    st.sampled_from(["_email.open", "_SMS.SUCCESS", "_campaign.send", "webinar"]),
    decimals,
    st.sampled_from([None, *CHANNELS]),
)
candidates = st.builds(
    lambda rule, at, channel, endpoint, once, key: Candidate(
        NormalizedEvent("u", rule.event_type, at, channel, None, endpoint, key), rule, [], once
    ),
    rules,
    st.integers(0, 10**13),
    st.sampled_from([None, *CHANNELS]),
    ENDPOINTS,
    st.sampled_from([None, "m#1", "m#2"]),
    st.text(min_size=1, max_size=6),
)
# Candidates with a machine verdict (weight kept at 1: the sums stay the plain ones), for the `mf` map.
REASONS = ["burst", "privacy_proxy_open", "scanner_list", "send_time_proximity"]
flagged_candidates = st.builds(
    lambda candidate, reasons: replace(candidate, reasons=tuple(reasons)),
    candidates,
    st.lists(st.sampled_from(REASONS), unique=True, max_size=3),
)
states = st.builds(
    UserState,
    decimals,
    st.none() | st.integers(0, 10**13),
    st.dictionaries(st.sampled_from(CHANNELS), decimals, max_size=3),
    st.integers(0, 1000),
    st.lists(st.sampled_from(["e-1", "e-4", "e-5"]), unique=True, max_size=3).map(tuple)
    | st.just(tuple(f"k-{i}" for i in range(50))),
    st.integers(0, 50),
)
models = st.builds(
    ScoringModel,
    st.sampled_from([Decimal(0), Decimal(0), Decimal("0.5"), Decimal(24)]),
    st.sampled_from([None, Decimal(-50)]),
    st.sampled_from([None, Decimal(300)]),
    st.sampled_from([(), (Tier("cold", Decimal(0)), Tier("warm", Decimal(50)), Tier("hot", Decimal(100)))]),
)


@SETTINGS
@given(states, st.lists(candidates, max_size=12), models, st.sampled_from([2, 3, 4, 5, 7, 100]))
def test_plan_user_writes_follow_the_formulas(
    state: UserState, accepted: list[Candidate], model: ScoringModel, max_entries: int
) -> None:
    writes = plan_user_writes("u", state, accepted, model, max_entries)
    assert_expected_writes(writes, "u", state, accepted, model, max_entries)


DAY_MS = 24 * HOUR_MS
DAILY = ScoringModel(half_life_hours=Decimal(24))
HALF_HOURLY = ScoringModel(half_life_hours=Decimal("0.5"))
NO_DECAY = ScoringModel()


def counted(
    event_type: str,
    points: str | int,
    at_ms: int,
    *,
    event_channel: str | None = None,
    rule_channel: str | None = None,
    endpoint: str | None = None,
    once_key: str | None = None,
) -> Candidate:
    """An accepted candidate: an event of `event_type` at `at_ms` whose rule gives `points`."""
    event = NormalizedEvent("u", event_type, at_ms, event_channel, None, endpoint, f"e#{event_type}@{at_ms}")
    return Candidate(event, Rule(event_type, Decimal(points), rule_channel), [], once_key)


def stored(
    raw: str | int,
    as_of: int | None,
    channels: dict[str, str | int],
    events: int,
    version: int,
    endpoint_ids: tuple[str, ...] = (),
) -> UserState:
    return UserState(
        Decimal(raw), as_of, {name: Decimal(v) for name, v in channels.items()}, events, endpoint_ids, version
    )


NEW_USER = UserState()
FORTY_NINE = tuple(f"k-{i}" for i in range(49))

# (model, stored state, accepted candidates, max actions per write, the states the writes store), each
# worked out by hand: 2^-1 = 0.5 a half-life back, 2^-2 = 0.25 two, 2^-3 = 0.125 three.
HAND_COMPUTED = {
    "decay: three events in one write": (
        DAILY,
        NEW_USER,
        [
            counted("_email.open", 10, 0),
            counted("_SMS.SUCCESS", 40, DAY_MS),
            counted("_email.open", 8, 2 * DAY_MS),
        ],
        100,
        # as_of = 2 days: 10 * 2^-2 + 40 * 2^-1 + 8 = 2.5 + 20 + 8 = 30.5; email 2.5 + 8; sms 20
        [stored("30.5", 2 * DAY_MS, {"email": "10.5", "sms": 20}, 3, 1)],
    ),
    "decay: the stored score decays to the new event's time": (
        DAILY,
        stored(100, 0, {"email": 100}, 1, 1, ("e-1",)),
        [counted("_email.open", 10, DAY_MS, endpoint="e-2")],
        100,
        # 100 * 2^-1 + 10 = 60
        [stored(60, DAY_MS, {"email": 60}, 2, 2, ("e-1", "e-2"))],
    ),
    "decay: a late event is decayed to the stored as_of, which stays": (
        DAILY,
        stored(64, 3 * DAY_MS, {"push": 64}, 5, 3),
        [counted("_campaign.send", 32, 0)],
        100,
        # 64 + 32 * 2^-3 = 64 + 4 = 68
        [stored(68, 3 * DAY_MS, {"push": 68}, 6, 4)],
    ),
    "decay: an older and a newer event in one write": (
        DAILY,
        stored(80, DAY_MS, {"email": 80}, 1, 1),
        [counted("_email.click", -20, 0), counted("_SMS.SUCCESS", 5, 2 * DAY_MS)],
        100,
        # as_of = 2 days: 80 * 2^-1 - 20 * 2^-2 + 5 = 40 - 5 + 5 = 40; email 40 - 5 = 35; sms 5
        [stored(40, 2 * DAY_MS, {"email": 35, "sms": 5}, 3, 2)],
    ),
    "decay: half a half-life, rounded to 6 decimal places": (
        DAILY,
        NEW_USER,
        [counted("_email.open", 100, 0), counted("_email.open", 0, 12 * HOUR_MS)],
        100,
        # 100 * 2^-0.5 = 70.7106781186... -> 70.710678
        [stored("70.710678", 12 * HOUR_MS, {"email": "70.710678"}, 2, 1)],
    ),
    "decay: a 30-minute half-life and a negative score": (
        HALF_HOURLY,
        stored(-1000, 0, {"email": -1000}, 1, 7),
        [counted("_email.click", 50, HOUR_MS)],
        100,
        # one hour = two half-lives: -1000 * 2^-2 + 50 = -250 + 50 = -200
        [stored(-200, HOUR_MS, {"email": -200}, 2, 8)],
    ),
    "decay: two candidates a write (2 ring entries), each write from the one before": (
        DAILY,
        NEW_USER,
        [
            counted("_email.open", 16, 0),
            counted("_email.open", 16, DAY_MS),
            counted("_email.open", 16, 2 * DAY_MS),
        ],
        2,
        # first write at 1 day: 16 * 2^-1 + 16 = 24; second at 2 days: 24 * 2^-1 + 16 = 28
        # (= 16 * 2^-2 + 16 * 2^-1 + 16 in one go)
        [stored(24, DAY_MS, {"email": 24}, 2, 1), stored(28, 2 * DAY_MS, {"email": 28}, 3, 2)],
    ),
    "sum: the original points": (
        NO_DECAY,
        NEW_USER,
        [
            counted("_email.open", 10, 5),
            counted("_email.click", 50, 3),
            counted("_email.hardbounce", -1000, 9),
            counted("_SMS.SUCCESS", 2, 1),
        ],
        100,
        # 10 + 50 - 1000 + 2 = -938; email 10 + 50 - 1000 = -940; sms 2; as_of the newest, 9
        [stored(-938, 9, {"email": -940, "sms": 2}, 4, 1)],
    ),
    "sum: on a stored state, fractions exact": (
        NO_DECAY,
        stored("7.5", 100, {"custom": "7.5"}, 3, 4, ("e-1",)),
        [counted("webinar", "0.25", 50), counted("_monetization.purchase", 100, 200, endpoint="e-2")],
        100,
        # 7.5 + 0.25 + 100 = 107.75; custom 7.75; in_app 100; as_of 200
        [stored("107.75", 200, {"custom": "7.75", "in_app": 100}, 5, 5, ("e-1", "e-2"))],
    ),
    "sum: late events only, as_of stays": (
        NO_DECAY,
        stored(5, 1000, {"email": 5}, 1, 2),
        [counted("_email.open", 10, 10), counted("_email.click", 50, 20)],
        100,
        # 5 + 10 + 50 = 65; as_of stays 1000
        [stored(65, 1000, {"email": 65}, 3, 3)],
    ),
    "sum: channel from the rule, else the event, else the prefix": (
        NO_DECAY,
        NEW_USER,
        [
            counted("_email.open", 1, 1, event_channel="sms", rule_channel="push"),
            counted("webinar", 2, 2, event_channel="sms"),
            counted("_session.start", 3, 3),
            counted("webinar", 4, 4),
        ],
        100,
        [stored(10, 4, {"push": 1, "sms": 2, "in_app": 3, "custom": 4}, 4, 1)],
    ),
    "sum: once-per-message keys take a second ring entry": (
        NO_DECAY,
        NEW_USER,
        [
            counted("_email.open", 10, 1, once_key="m#1"),
            counted("_email.open", 20, 2, once_key="m#2"),
            counted("_email.click", 30, 3),
        ],
        4,
        # 2 + 2 = 4 entries: both opens in the first write; the click (2 + 2 + 1 > 4) starts a second
        [stored(30, 2, {"email": 30}, 2, 1), stored(60, 3, {"email": 60}, 3, 2)],
    ),
    "sum: 38 significant digits": (
        NO_DECAY,
        stored("9" * 38, 0, {"custom": "9" * 38}, 1, 1),
        [counted("webinar", "0.4", 1)],
        100,
        # 99...99.4 has 39 digits: rounded to 38, the 0.4 is lost
        [stored("9" * 38, 1, {"custom": "9" * 38}, 2, 2)],
    ),
    "sum: at most 50 endpoint ids, known ones first": (
        NO_DECAY,
        stored(0, 0, {}, 49, 1, FORTY_NINE),
        [
            counted("_campaign.send", 2, 1, endpoint="n-1"),
            counted("_campaign.send", 2, 2),
            counted("_campaign.send", 2, 3, endpoint="k-3"),
            counted("_campaign.send", 2, 4, endpoint="n-2"),
        ],
        100,
        [stored(8, 4, {"push": 8}, 53, 2, (*FORTY_NINE, "n-1"))],
    ),
}


@pytest.mark.parametrize("case", sorted(HAND_COMPUTED))
def test_plan_user_writes_give_the_hand_computed_states(case: str) -> None:
    model, state, accepted, max_entries, expected = HAND_COMPUTED[case]
    writes = plan_user_writes("u", state, accepted, model, max_entries)
    assert [write.state for write in writes] == expected
    assert [write.expected_version for write in writes] == [
        state.version,
        *(s.version for s in expected[:-1]),
    ]


def test_the_scorer_stores_the_hand_computed_decayed_score(aws: AwsResources) -> None:
    # given a daily half-life and three custom events of one user in one batch
    payloads = [
        custom_event("u-decay", "_email.open", 0),
        custom_event("u-decay", "_SMS.SUCCESS", DAY_MS),
        custom_event("u-decay", "_email.open", 2 * DAY_MS),
    ]
    runtime = aws.scorer(DECAY_HALF_LIFE_HOURS="24")
    # when
    response = scorer.process_batch(kinesis_event(payloads), runtime, FakeContext())
    # then 10 * 2^-2 + 2 * 2^-1 + 10 = 2.5 + 1 + 10 = 13.5 (original points: open 10, SMS success 2)
    assert response == {"batchItemFailures": []}
    item = aws.scores()["u-decay"]
    assert (item["score"], item["raw_score"], item["as_of"]) == (Decimal("13.5"), Decimal("13.5"), 2 * DAY_MS)
    assert item["channels"] == {"email": Decimal("12.5"), "sms": Decimal(1)}


@SETTINGS
@given(
    states,
    st.lists(st.lists(flagged_candidates, max_size=6), max_size=4),
    models,
    st.integers(0, 2**45),
    st.integers(0, 60),
    st.booleans(),
)
def test_write_actions_match_the_reference(
    state: UserState,
    users: list[list[Candidate]],
    model: ScoringModel,
    now_ms: int,
    stored_entries: int,
    had_directory: bool,
) -> None:
    store = ScoreStore(None, "rules", "scores", "ledger")
    writes = [write for accepted in users for write in plan_user_writes("u", state, accepted, model)]
    stored = b"".join(content_entry(f"e#{n}", n * 40_000_000) for n in range(stored_entries))
    for write in writes:
        new = [content_entry(c.event.content_key, c.event.timestamp_ms) for c in write.candidates]
        ring = add_entries(stored, {}, new, now_ms // 1000, 604_800, 7_776_000)
        actions = store.write_actions(write, ring, had_directory, model, now_ms)
        expected = ref_write_actions(store, write, ring, had_directory, model, now_ms)
        # the same requests, down to the order of every map's keys
        assert json.dumps(actions, default=bytes.hex) == json.dumps(expected, default=bytes.hex)


# ---- the scorer's record loop ----------------------------------------------------------------------


@SETTINGS
@given(
    json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "kinesis": st.fixed_dictionaries(
                {}, optional={"sequenceNumber": json_values, "data": json_values}
            )
            | json_values,
            "eventID": json_values | st.sampled_from(["shardId-000000000001:495", ":1", "x"]),
        },
    )
)
@example({"eventID": "", "kinesis": {"sequenceNumber": "", "data": "x"}})
@example({"eventID": ":", "kinesis": []})
@example({"eventID": 5, "kinesis": {"sequenceNumber": 7}})
def test_kinesis_record_fields_match_the_reference(record: Any) -> None:
    sequence_number, shard_id, data = ref_kinesis_fields(record)
    assert scorer._sequence_number_and_data(record) == (sequence_number, data)
    assert scorer._shard_id(record) == shard_id


def test_the_record_loop_reads_sequence_numbers_as_the_reference(
    aws: AwsResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given records whose decoding fails with a bug (so each is returned by its sequence number, if it
    # has one), with sequence numbers the loop must read as _sequence_number_and_data does
    records: list[Any] = [
        {"kinesis": {"sequenceNumber": "", "data": "x"}},
        {"kinesis": {"sequenceNumber": 7, "data": "x"}},
        {"kinesis": ["sequenceNumber"]},
        "not a record",
        {"kinesis": {"sequenceNumber": "495", "data": "x"}},
        {"kinesis": {"data": "x"}},
    ]

    def bug(*_: Any) -> Any:
        raise RuntimeError("a bug in a normalizer")

    monkeypatch.setattr(scorer, "decode", bug)
    # when
    response = scorer.process_batch({"Records": records}, aws.scorer(), FakeContext())
    # then
    expected = [ref_kinesis_fields(record)[0] for record in records]
    assert response == {"batchItemFailures": [{"itemIdentifier": seq} for seq in expected if seq is not None]}
    assert expected.count(None) == 5


def ref_parse_record(data: Any) -> Any:
    """pipeline/scorer.py decode_record up to the JSON value, before B2 (json.loads)."""
    if not isinstance(data, str) or not data:
        raise RecordRejected("missing_data")
    if len(data) > scorer._MAX_BASE64_CHARS:
        raise RecordRejected("oversized")
    try:
        raw = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordRejected("not_base64") from exc
    if len(raw) > scorer.MAX_RECORD_BYTES:
        raise RecordRejected("oversized")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordRejected("not_utf8") from exc
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise RecordRejected("not_json") from exc


def encoded(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()


@SETTINGS
@given(
    st.text(max_size=40).map(encoded)
    | json_values.map(lambda value: encoded(json.dumps(value)))
    | st.sampled_from(
        [
            encoded("\ufeff{}"),  # a BOM: json.loads and JSONDecoder.decode both refuse it
            encoded('{"a": 1} x'),
            encoded(" [1] \n"),
            encoded("[" * 100_000),
            encoded("NaN"),
            encoded("1e999"),
            encoded('"\ud800"'),
            "e30=",
            "@@@@",
            "",
        ]
    )
    | json_values
)
def test_records_parse_as_with_json_loads(data: Any) -> None:
    assert outcome(lambda: scorer.parse_record(data)[1]) == outcome(ref_parse_record, data)


def test_the_ring_holds_the_content_key_digest_of_each_scored_record(aws: AwsResources) -> None:
    # given records with and without a rule: their content keys are computed after the rules are read
    payloads = [
        json.dumps(load_event(name)).encode()
        for name in ("pinpoint/email_open.json", "pinpoint/email_send.json", "pinpoint/app_custom_event.json")
    ]
    runtime = aws.scorer()
    # when
    response = scorer.process_batch(kinesis_event(payloads), runtime, FakeContext())
    # then the scored record's key is the hash of its bytes, as decode_record computes it
    assert response == {"batchItemFailures": []}
    (scored,) = scorer.decode_record(kinesis_event(payloads[:1])["Records"][0]["kinesis"]["data"], "auto")
    assert isinstance(scored, NormalizedEvent)
    assert scored.content_key == content_key(payloads[0])
    assert sum(len(digests) for digests in aws.dedupe_digests().values()) == 1
    assert digest(content_key(payloads[0])) in aws.dedupe_digests()[scored.user_key]
