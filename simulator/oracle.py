"""The oracle: what every user's score, channel scores and tier must be after a run.

An independent implementation of the scoring semantics of docs/architecture.md (it never imports
lambda_src), applied to the exact bytes the producer sent:

- Records are parsed the way the contract describes the input formats. Anything that is not a
  JSON object with a string `event_type`, a numeric `event_timestamp` and a user key is rejected
  and scores nothing (as do custom-format events with an unknown `schema`).
- User key: `auto` = the endpoint's `User.UserId` when the record carries one, else
  `client.client_id`; `endpoint_id` = `client.client_id` (else `endpoint.Id`); `user_id` = the
  endpoint's `User.UserId`, records without one are rejected.
- `_test.event_stream` and event types without a rule score nothing.
- Each distinct record counts once: identical bytes (re-sent duplicates) count zero more times.
- A `once_per_message` rule counts once per (user key, event type, message id); the first such
  event in stream order counts. Message id: e-mail `facets.email_channel.mail_event.mail.message_id`,
  else SMS `attributes.message_id`, else campaign `campaign_id`/`campaign_activity_id`/`treatment_id`,
  else journey `journey_id`/`journey_run_id`/`journey_activity_id`; events without one count
  normally. (Generated records never carry two of these, so the precedence cannot matter.)
- Decay: `as_of` = the newest counted event's time; raw = sum(points * 2^(-(as_of - t) / H)),
  channel scores alike; no decay when H = 0 (exact decimal sums).
- score = clamp(raw, floor, ceiling); tier = the tier with the highest `min_score` <= score, the
  lowest tier for scores below every `min_score`, None without tiers.
- Channel: the rule's `channel`, else the event type's prefix (`_email` email, `_SMS` sms,
  `_campaign`/`_push`/`_journey` push, `_session`/`_userauth`/`_monetization`/`_in_app` in_app,
  anything else custom).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Number = Decimal | float
CUSTOM_SCHEMA = "engagement.event/1"
PREFIX_CHANNELS = {
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
TEST_EVENT = "_test.event_stream"
USER_KEY_MODES = ("auto", "endpoint_id", "user_id")


@dataclass(frozen=True, slots=True)
class Rule:
    event_type: str
    points: Decimal
    channel: str | None = None
    once_per_message: bool = False


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    min_score: Decimal


@dataclass(frozen=True, slots=True)
class Settings:
    user_key_mode: str = "auto"
    decay_half_life_hours: float = 0.0
    floor: Decimal | None = None
    ceiling: Decimal | None = None
    tiers: tuple[Tier, ...] = ()

    @property
    def decays(self) -> bool:
        return self.decay_half_life_hours > 0

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Settings:
        """Settings from the scorer function's environment (contract variable names and defaults)."""
        mode = env.get("USER_KEY_MODE") or "auto"
        if mode not in USER_KEY_MODES:
            raise ValueError(f"USER_KEY_MODE {mode!r} is not one of {USER_KEY_MODES}")
        tiers = tuple(
            Tier(str(t["name"]), Decimal(str(t["min_score"]))) for t in json.loads(env.get("TIERS") or "[]")
        )
        return cls(
            user_key_mode=mode,
            decay_half_life_hours=float(env.get("DECAY_HALF_LIFE_HOURS") or 0),
            floor=_optional_decimal(env.get("SCORE_FLOOR")),
            ceiling=_optional_decimal(env.get("SCORE_CEILING")),
            tiers=tiers,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "user_key_mode": self.user_key_mode,
            "decay_half_life_hours": self.decay_half_life_hours,
            "score_floor": None if self.floor is None else float(self.floor),
            "score_ceiling": None if self.ceiling is None else float(self.ceiling),
            "tiers": [{"name": t.name, "min_score": float(t.min_score)} for t in self.tiers],
        }


def _optional_decimal(value: str | None) -> Decimal | None:
    return None if value is None or value.strip() == "" else Decimal(value.strip())


def rules_from_items(items: Iterable[Mapping[str, Any]]) -> dict[str, Rule]:
    """Rules from score_rules items (already deserialized: numbers as Decimal or int)."""
    rules: dict[str, Rule] = {}
    for item in items:
        event_type = str(item["event_type"])
        channel = item.get("channel")
        rules[event_type] = Rule(
            event_type,
            Decimal(str(item["points"])),
            str(channel) if channel else None,
            bool(item.get("once_per_message", False)),
        )
    return rules


def channel_of(event_type: str, rule: Rule | None = None) -> str:
    if rule is not None and rule.channel:
        return rule.channel
    prefix = event_type.split(".", 1)[0]
    return PREFIX_CHANNELS.get(prefix, "custom")


def tier_for(score: Number, tiers: tuple[Tier, ...]) -> str | None:
    if not tiers:
        return None
    ordered = sorted(tiers, key=lambda t: t.min_score)
    reached = [t for t in ordered if t.min_score <= score]
    return (reached[-1] if reached else ordered[0]).name


def clamp(raw: Number, floor: Decimal | None, ceiling: Decimal | None) -> Number:
    if isinstance(raw, float):
        if floor is not None and raw < float(floor):
            return float(floor)
        if ceiling is not None and raw > float(ceiling):
            return float(ceiling)
        return raw
    if floor is not None and raw < floor:
        return floor
    if ceiling is not None and raw > ceiling:
        return ceiling
    return raw


# ---- parsing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    user_key: str
    event_type: str
    timestamp: int
    message_id: str | None
    endpoint_id: str | None  # set on campaign, journey and app events that carry their endpoint


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse(data: bytes, user_key_mode: str = "auto") -> ParsedEvent:
    """One record's meaning for scoring, or `Rejected(reason)`."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting exhausts the JSON parser's stack
        raise Rejected("invalid_json") from None
    if not isinstance(obj, dict):
        raise Rejected("not_an_object")
    if "schema" in obj:
        return _parse_custom(obj)
    event_type = obj.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise Rejected("invalid_event_type")
    timestamp = obj.get("event_timestamp")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
        raise Rejected("invalid_timestamp")
    client = obj.get("client")
    client_id = client.get("client_id") if isinstance(client, dict) else None
    client_id = client_id if isinstance(client_id, str) and client_id else None
    endpoint = obj.get("endpoint")
    endpoint = endpoint if isinstance(endpoint, dict) else None
    user = endpoint.get("User") if endpoint else None
    user_id = user.get("UserId") if isinstance(user, dict) else None
    user_id = user_id if isinstance(user_id, str) and user_id else None
    endpoint_id_field = endpoint.get("Id") if endpoint else None
    if user_key_mode == "user_id":
        key = user_id
        if key is None:
            raise Rejected("no_user_id")
    elif user_key_mode == "endpoint_id":
        key = client_id or (endpoint_id_field if isinstance(endpoint_id_field, str) else None)
    else:
        key = user_id or client_id
    if not key:
        raise Rejected("no_user_key")
    attributes = obj.get("attributes")
    attributes = attributes if isinstance(attributes, dict) else {}
    return ParsedEvent(
        key,
        event_type,
        int(timestamp),
        _message_id(obj, attributes),
        (client_id or endpoint_id_field) if endpoint is not None else None,
    )


def _message_id(obj: dict[str, Any], attributes: dict[str, Any]) -> str | None:
    mail_message_id = _dig(obj, "facets", "email_channel", "mail_event", "mail", "message_id")
    if mail_message_id:
        return f"email:{mail_message_id}"
    if attributes.get("message_id"):
        return f"sms:{attributes['message_id']}"
    if attributes.get("campaign_id"):
        parts = (attributes.get(k, "") for k in ("campaign_id", "campaign_activity_id", "treatment_id"))
        return "campaign:" + "/".join(str(p) for p in parts)
    if attributes.get("journey_id"):
        parts = (attributes.get(k, "") for k in ("journey_id", "journey_run_id", "journey_activity_id"))
        return "journey:" + "/".join(str(p) for p in parts)
    return None


def _dig(obj: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _parse_custom(obj: dict[str, Any]) -> ParsedEvent:
    if obj.get("schema") != CUSTOM_SCHEMA:
        raise Rejected("unknown_schema")
    event_type, user_key, timestamp = obj.get("event_type"), obj.get("user_key"), obj.get("timestamp")
    if not isinstance(event_type, str) or not event_type:
        raise Rejected("invalid_event_type")
    if not isinstance(user_key, str) or not user_key:
        raise Rejected("no_user_key")
    if isinstance(timestamp, str):
        try:
            moment = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
        except ValueError:
            raise Rejected("invalid_timestamp") from None
        if moment.tzinfo is None:
            raise Rejected("invalid_timestamp")
        millis = round(moment.timestamp() * 1000)
    elif isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        millis = int(timestamp)
    else:
        raise Rejected("invalid_timestamp")
    message_id = obj.get("message_id")
    return ParsedEvent(user_key, event_type, millis, f"custom:{message_id}" if message_id else None, None)


# ---- the expectation --------------------------------------------------------------------------


@dataclass(slots=True)
class ExpectedUser:
    user_key: str
    score: Number
    raw_score: Number
    channels: dict[str, Number]
    tier: str | None
    events_applied: int
    as_of: int
    endpoint_ids: set[str] = field(default_factory=set)


@dataclass(slots=True)
class Expectation:
    users: dict[str, ExpectedUser]
    counted: int = 0
    duplicates: int = 0
    once_per_message_suppressed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)


def expect(records: Iterable[bytes], rules: Mapping[str, Rule], settings: Settings) -> Expectation:
    """The final state the pipeline must reach after consuming `records` (in this order)."""
    seen_bytes: set[bytes] = set()
    seen_messages: set[tuple[str, str, str]] = set()
    applied: dict[str, list[tuple[int, Decimal, str]]] = {}
    endpoints: dict[str, set[str]] = {}
    result = Expectation(users={})
    for data in records:
        if data in seen_bytes:
            result.duplicates += 1
            continue
        seen_bytes.add(data)
        try:
            event = parse(data, settings.user_key_mode)
        except Rejected as rejected:
            result.rejected[rejected.reason] = result.rejected.get(rejected.reason, 0) + 1
            continue
        if event.event_type == TEST_EVENT:
            result.skipped["test_event"] = result.skipped.get("test_event", 0) + 1
            continue
        rule = rules.get(event.event_type)
        if rule is None:
            result.skipped["no_rule"] = result.skipped.get("no_rule", 0) + 1
            continue
        if rule.once_per_message and event.message_id is not None:
            message_key = (event.user_key, event.event_type, event.message_id)
            if message_key in seen_messages:
                result.once_per_message_suppressed += 1
                continue
            seen_messages.add(message_key)
        result.counted += 1
        applied.setdefault(event.user_key, []).append(
            (event.timestamp, rule.points, channel_of(event.event_type, rule))
        )
        if event.endpoint_id is not None:
            endpoints.setdefault(event.user_key, set()).add(event.endpoint_id)
    for user_key, events in applied.items():
        result.users[user_key] = _score(user_key, events, settings, endpoints.get(user_key, set()))
    return result


def _score(
    user_key: str, events: list[tuple[int, Decimal, str]], settings: Settings, endpoint_ids: set[str]
) -> ExpectedUser:
    as_of = max(t for t, _, _ in events)
    raw: Number
    channels: dict[str, Number] = {}
    if settings.decays:
        half_life_ms = settings.decay_half_life_hours * 3_600_000
        terms = [(float(p) * 2.0 ** (-(as_of - t) / half_life_ms), c) for t, p, c in events]
        raw = math.fsum(v for v, _ in terms)
        for channel in {c for _, c in terms}:
            channels[channel] = math.fsum(v for v, c in terms if c == channel)
    else:
        raw = sum((p for _, p, _ in events), Decimal(0))
        exact: dict[str, Decimal] = {}
        for _, p, c in events:
            exact[c] = exact.get(c, Decimal(0)) + p
        channels.update(exact)
    score = clamp(raw, settings.floor, settings.ceiling)
    return ExpectedUser(
        user_key, score, raw, channels, tier_for(score, settings.tiers), len(events), as_of, endpoint_ids
    )
