"""The per-record fast paths written for benchmark B2 give exactly the results of the code they replaced.

Each `ref_*` function below is that code as it was before the B2 optimizations, kept here as the
specification; the tests compare it with the current code on the fixtures and on generated inputs
(mutated AWS records, random attribute values, random score states and candidates).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Sequence
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring.aws import score_store
from engagement_scoring.aws.score_store import ScoreStore, number
from engagement_scoring.core import changes
from engagement_scoring.core.aggregation import Candidate, UserWrite, plan_user_writes
from engagement_scoring.core.changes import InvalidImage
from engagement_scoring.core.events import (
    MAX_ENDPOINT_ID_BYTES,
    MAX_EVENT_TYPE_BYTES,
    MAX_MESSAGE_ID_BYTES,
    MAX_USER_KEY_BYTES,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.core.keys import content_key
from engagement_scoring.core.model import (
    Contribution,
    ScoringModel,
    Tier,
    UserState,
    _decayed_sums,
    apply_contributions,
    decay_factor,
    merge_endpoint_ids,
    score_view,
)
from engagement_scoring.core.rules import Rule
from engagement_scoring.formats import fields, pinpoint
from engagement_scoring.formats.fields import epoch_ms, fits
from engagement_scoring.pipeline import scorer
from engine_support import AwsResources, FakeContext, kinesis_event, load_event
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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


def ref_required_text(value: Any, missing_reason: str, max_bytes: int) -> str:
    if not isinstance(value, str) or not value:
        raise RecordRejected(missing_reason)
    if not fits(value, max_bytes):
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
    if found is not None and not fits(found, MAX_MESSAGE_ID_BYTES):
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


def ref_pinpoint_normalize(
    record: dict[str, Any], content_key: str, user_key_mode: str
) -> NormalizedEvent | SkippedRecord:
    event_type = ref_required_text(record.get("event_type"), "missing_event_type", MAX_EVENT_TYPE_BYTES)
    if event_type == "_test.event_stream":
        return SkippedRecord("test_event")
    timestamp = epoch_ms(record.get("event_timestamp"))
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
        if not fits(user_key, MAX_USER_KEY_BYTES):
            raise RecordRejected("field_too_long")
    return NormalizedEvent(
        user_key=user_key,
        event_type=event_type,
        timestamp_ms=timestamp,
        channel=None,
        message_id=ref_message_id(record, attributes),
        endpoint_id=client_id if ref_carries_endpoint_id(record, event_type, attributes) else None,
        content_key=content_key,
    )


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


# ---- reference: core/model.py apply_contributions, core/aggregation.py plan_user_writes -----------

_ARITHMETIC = Context(prec=38)


def ref_apply_contributions(
    state: UserState, contributions: Sequence[Contribution], model: ScoringModel
) -> UserState:
    if not contributions:
        return state
    newest = max(item.timestamp_ms for item in contributions)
    as_of = newest if state.as_of is None else max(state.as_of, newest)
    if model.decays:
        raw, channels = _decayed_sums(state, contributions, as_of, model.half_life_ms)
    else:
        raw = state.raw
        channels = dict(state.channels)
        for item in contributions:
            raw = _ARITHMETIC.add(raw, item.points)
            channels[item.channel] = _ARITHMETIC.add(channels.get(item.channel, Decimal(0)), item.points)
    return UserState(
        raw=raw,
        as_of=as_of,
        channels=channels,
        events_applied=state.events_applied + len(contributions),
        endpoint_ids=merge_endpoint_ids(state.endpoint_ids, (item.endpoint_id for item in contributions)),
        version=state.version + 1,
    )


def ref_plan_user_writes(
    user_key: str, state: UserState, accepted: Sequence[Candidate], model: ScoringModel, max_actions: int
) -> list[UserWrite]:
    chunks: list[list[Candidate]] = []
    actions = max_actions
    for candidate in accepted:
        if actions + candidate.key_count > max_actions:
            chunks.append([])
            actions = 1
        chunks[-1].append(candidate)
        actions += candidate.key_count
    writes = []
    for chunk in chunks:
        contributions = [
            Contribution(
                c.rule.points, c.event.timestamp_ms, c.rule.channel_for(c.event.channel), c.event.endpoint_id
            )
            for c in chunk
        ]
        new_state = ref_apply_contributions(state, contributions, model)
        writes.append(UserWrite(user_key, state.version, new_state, tuple(chunk)))
        state = new_state
    return writes


# ---- reference: aws/score_store.py transaction_actions --------------------------------------------


def ref_transaction_actions(
    store: ScoreStore,
    writes: Iterable[UserWrite],
    model: ScoringModel,
    now_ms: int,
    dedupe_ttl_s: int,
    once_ttl_s: int,
) -> list[dict[str, Any]]:
    def user_update(write: UserWrite) -> dict[str, Any]:
        state = write.state
        score, tier = score_view(state, model)
        values: dict[str, Any] = {
            ":score": number(score),
            ":raw": number(state.raw),
            ":as_of": number(state.as_of or 0),
            ":channels": {"M": {name: number(value) for name, value in state.channels.items()}},
            ":events": number(state.events_applied),
            ":version": number(state.version),
            ":updated": number(now_ms),
        }
        assignments = [
            "#score = :score",
            "#raw = :raw",
            "#as_of = :as_of",
            "#channels = :channels",
            "#events = :events",
            "#version = :version",
            "#updated = :updated",
        ]
        names = ["#score", "#raw", "#as_of", "#channels", "#events", "#version", "#updated", "#tier"]
        if state.endpoint_ids:
            assignments.append("#endpoints = :endpoints")
            values[":endpoints"] = {"SS": list(state.endpoint_ids)}
            names.append("#endpoints")
        expression = "SET " + ", ".join(assignments)
        if tier is None:
            expression += " REMOVE #tier"
        else:
            expression += ", #tier = :tier"
            values[":tier"] = {"S": tier}
        if write.expected_version:
            condition = "#version = :expected"
            values[":expected"] = number(write.expected_version)
        else:
            condition = "attribute_not_exists(#version)"
        return {
            "Update": {
                "TableName": store.scores_table,
                "Key": {"user_key": {"S": write.user_key}},
                "UpdateExpression": expression,
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {name: score_store._NAMES[name] for name in names},
                "ExpressionAttributeValues": values,
            }
        }

    def ledger_put(key: str, expires_at: int) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": store.ledger_table,
                "Item": {"event_key": {"S": key}, "expires_at": {"N": str(expires_at)}},
                "ConditionExpression": "attribute_not_exists(event_key)",
            }
        }

    now_s = now_ms // 1000
    actions = []
    for write in writes:
        actions.append(user_update(write))
        actions.extend(ledger_put(key, now_s + dedupe_ttl_s) for key in write.content_keys)
        actions.extend(ledger_put(key, now_s + once_ttl_s) for key in write.once_keys)
    return actions


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
    assert outcome(pinpoint.normalize, record, "e#k", mode) == outcome(
        ref_pinpoint_normalize, record, "e#k", mode
    )


@SETTINGS
@given(st.sampled_from(PINPOINT_FIXTURES), st.sampled_from(MODES), st.data())
def test_pinpoint_normalize_matches_the_reference_on_mutated_records(
    name: str, mode: str, data: st.DataObject
) -> None:
    record = mutate(load_event(name), data)
    if not isinstance(record, dict):
        return
    assert outcome(pinpoint.normalize, record, "e#k", mode) == outcome(
        ref_pinpoint_normalize, record, "e#k", mode
    )


@SETTINGS
@given(pinpoint_records | st.dictionaries(keys_of_interest, json_values, max_size=8), st.sampled_from(MODES))
def test_pinpoint_normalize_matches_the_reference_on_random_records(
    record: dict[str, Any], mode: str
) -> None:
    assert outcome(pinpoint.normalize, record, "e#k", mode) == outcome(
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
                    assert outcome(pinpoint.normalize, record, "e#k", mode) == outcome(
                        ref_pinpoint_normalize, record, "e#k", mode
                    ), (path, char, length, mode)


@pytest.mark.parametrize(
    "timestamp",
    [0, 1, 1_732_300_000_000, 253_402_300_799_999, 253_402_300_800_000, -1, True, False, 1.0, 1.5, "1", None],
)
def test_pinpoint_normalize_matches_the_reference_on_event_timestamps(timestamp: Any) -> None:
    record = load_event("pinpoint/email_open.json")
    record["event_timestamp"] = timestamp
    assert outcome(pinpoint.normalize, record, "e#k", "auto") == outcome(
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
@given(user_items)
@example({"as_of": {"N": "NaN"}, "version": {"N": "Infinity"}, "events_applied": {"N": "-Infinity"}})
@example({"raw_score": {"N": "NaN"}, "score": {"N": "7"}, "channels": {"M": {"email": {"N": "NaN"}}}})
@example({"raw_score": {"S": "7"}, "score": {"N": "sNaN"}, "endpoint_ids": {"SS": ["b", "a"]}})
@example({"as_of": {"N": "1.9"}, "version": {"N": "-2.5"}, "channels": {"M": {}}, "endpoint_ids": {"L": []}})
def test_user_state_matches_the_reference(item: dict[str, Any]) -> None:
    try:
        plain = ref_image(item) or {}
    except InvalidImage:
        return
    assert outcome(score_store.user_state, plain) == outcome(ref_user_state, plain)


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
def test_plan_user_writes_matches_the_reference(
    state: UserState, accepted: list[Candidate], model: ScoringModel, max_actions: int
) -> None:
    assert plan_user_writes("u", state, accepted, model, max_actions) == ref_plan_user_writes(
        "u", state, accepted, model, max_actions
    )


@SETTINGS
@given(states, st.lists(st.lists(candidates, max_size=6), max_size=4), models, st.integers(0, 2**45))
def test_transaction_actions_match_the_reference(
    state: UserState, users: list[list[Candidate]], model: ScoringModel, now_ms: int
) -> None:
    store = ScoreStore(None, "rules", "scores", "ledger")
    writes = [write for accepted in users for write in plan_user_writes("u", state, accepted, model)]
    actions = store.transaction_actions(writes, model, now_ms, 604_800, 7_776_000)
    expected = ref_transaction_actions(store, writes, model, now_ms, 604_800, 7_776_000)
    # the same requests, down to the order of every map's keys
    assert json.dumps(actions) == json.dumps(expected)


def test_the_decayed_path_still_matches_the_reference() -> None:
    model = ScoringModel(half_life_hours=Decimal(24))
    state = UserState(Decimal(100), 0, {"email": Decimal(100)}, 1, ("e-1",), 1)
    contributions = [Contribution(Decimal(10), 3_600_000 * 24, "email", "e-2")]
    assert apply_contributions(state, contributions, model) == ref_apply_contributions(
        state, contributions, model
    )
    assert decay_factor(3_600_000 * 24, model.half_life_ms) == 0.5


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


def test_the_ledger_holds_the_content_key_of_each_scored_record(aws: AwsResources) -> None:
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
    scored = scorer.decode_record(kinesis_event(payloads[:1])["Records"][0]["kinesis"]["data"], "auto")
    assert isinstance(scored, NormalizedEvent)
    assert scored.content_key == content_key(payloads[0])
    assert aws.ledger_keys() == {content_key(payloads[0])}
