"""The oracle: what every user's score, channel scores and tier must be after a run, and what the scorer
must have counted, skipped and rejected.

An independent implementation of the scoring semantics of docs/architecture.md and docs/formats.md (it
never imports lambda_src, and keeps its own event-type tables), applied to the exact bytes the producer
sent:

- Envelopes are opened first: CloudWatch Logs subscription data (gzip; one payload per log event,
  `CONTROL_MESSAGE` skipped as `control_message`), EventBridge (`detail`), SNS (`Message`) and SQS as
  Pipes passes it on (`body`); an envelope that is broken rejects its record (a broken log event only
  itself). Formats are told apart by their fields: custom (`schema`), Pinpoint (`event_type`), SES
  (`mail` + `eventType`), End User Messaging SMS status (`eventTimestamp`) and inbound two-way SMS.
- SES: `SES_EVENT_TYPES` maps each `eventType` to its rule name (Bounce by `bounceType`, Subscription by
  whether it newly unsubscribes); the time is the type object's `timestamp`, else `mail.timestamp`.
  SMS: TEXT_SUCCESSFUL / TEXT_DELIVERED are `_SMS.SUCCESS` and final failures `_SMS.FAILURE`, both once
  per message whatever the rule says; other types `_SMS.<type>`. Inbound opt-out keywords are
  `_SMS.OPTOUT` at the envelope's time.
- User key: the tag named by `USER_KEY_TAG` (SES `mail.tags`, SMS `context`); without it, with
  `RECIPIENT_USER_KEY=address`, the recipients (`email:` / `sms:` + the normalized address; one event
  per recipient the SES event names); otherwise the payload is skipped `no_user_key`. Pinpoint: `auto`
  = the endpoint's `User.UserId` when the record carries one, else `client.client_id`; `endpoint_id` =
  `client.client_id` (else `endpoint.Id`); `user_id` = the endpoint's `User.UserId`, records without
  one are rejected. Custom: `user_key` as given.
- `_test.event_stream` and event types without a rule score nothing (`test_event`, `no_rule`); skips
  and rejections count every time a payload arrives.
- Each distinct event counts once (`dedupe_key`, see `parse_record`): for Pinpoint and custom records
  the payload's bytes, for SES and SMS what identifies the event (type, message id, time, user), so an
  EventBridge redelivery or the same event bare and wrapped counts once.
- A once-per-message event (the rule's flag, or the SMS format's) counts once per (user key, event
  type, message id); the first such event in stream order counts. Message id: SES `mail.messageId`,
  SMS `messageId`, inbound `previousPublishedMessageId`; Pinpoint e-mail
  `facets.email_channel.mail_event.mail.message_id`, else SMS `attributes.message_id`, else campaign
  `campaign_id`/`campaign_activity_id`/`treatment_id`, else journey
  `journey_id`/`journey_run_id`/`journey_activity_id`; custom `message_id`; events without one count
  normally.
- Decay: `as_of` = the newest counted event's time; raw = sum(points * 2^(-(as_of - t) / H)),
  channel scores alike; no decay when H = 0 (exact decimal sums).
- score = clamp(raw, floor, ceiling); tier = the tier with the highest `min_score` <= score, the
  lowest tier for scores below every `min_score`, None without tiers.
- Channel: the rule's `channel`, else the channel a custom event names, else the event type's prefix
  (`_email` email, `_SMS` sms, `_campaign`/`_push`/`_journey` push,
  `_session`/`_userauth`/`_monetization`/`_in_app` in_app, anything else custom).
- Point limits (#10): a rule with `max_points` lets a user earn at most that many (weighted) points per
  period of `limit_period_hours` (default 24) counted from the Unix epoch; the first counted events in
  stream order earn, the one reaching the limit earns the rest, an event of a period older than the
  newest one seen for that user and rule earns 0.
- Window rules (#10, `WINDOW_RULES`): over every counted event of the user (a type only a window rule
  names counts at 0 points), at the user's `as_of`: count (or sum of the metric) of the events of its
  types (and channel) in its window >= threshold. Sliding: UTC hour of the event >= hour(as_of) -
  window_hours; dates: from 00:00 UTC <= t < the day after `to`; neither: all. Brute force over the
  events, no state. The measured events stay on the user (`ExpectedUser.measured`), so the time-advance
  phase evaluates the same rules at its clock (`matched_rules(..., now)`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from simulator.machine_policy import CLICK_EVENT, OPEN_EVENT, MachineSettings, Signals

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
RECIPIENT_USER_KEYS = ("none", "address")  # hashed_address: the oracle cannot know the HMAC key
CHANNELS = ("email", "sms", "push", "in_app", "custom")
GZIP_MAGIC = b"\x1f\x8b"
MAX_ENVELOPE_DEPTH = 3
ENVELOPE_MARKERS = ("detail-type", "Type", "eventSource", "messageType")


@dataclass(frozen=True, slots=True)
class Rule:
    event_type: str
    points: Decimal
    channel: str | None = None
    once_per_message: bool = False
    max_points: Decimal | None = None
    limit_period_hours: int = 24


@dataclass(frozen=True, slots=True)
class WindowRule:
    """One entry of WINDOW_RULES as the module validated it."""

    name: str
    event_types: frozenset[str]
    measure: str
    threshold: Decimal
    metric: str | None
    window_hours: int | None
    start: dt.date | None
    end: dt.date | None  # inclusive
    channel: str | None

    def measures(self, event: tuple[int, str, str, Mapping[str, Any] | None], as_of: int) -> Decimal | None:
        timestamp, event_type, channel, metrics = event
        if event_type not in self.event_types or (self.channel is not None and channel != self.channel):
            return None
        if self.window_hours is not None and timestamp // 3_600_000 < as_of // 3_600_000 - self.window_hours:
            return None
        day = dt.datetime.fromtimestamp(timestamp / 1000, dt.UTC).date()
        if (self.start is not None and day < self.start) or (self.end is not None and day > self.end):
            return None
        if self.measure == "count":
            return Decimal(1)
        value = (metrics or {}).get(self.metric or "")
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return Decimal(repr(value))


def window_rules_from_json(text: str | None) -> tuple[WindowRule, ...]:
    def date(value: Any) -> dt.date | None:
        return dt.date.fromisoformat(value) if value else None

    return tuple(
        WindowRule(
            str(entry["name"]),
            frozenset(entry["event_types"]),
            entry.get("measure") or "count",
            Decimal(str(entry["threshold"])),
            entry.get("metric"),
            int(entry["window_hours"]) if entry.get("window_hours") is not None else None,
            date(entry.get("from")),
            date(entry.get("to")),
            entry.get("channel"),
        )
        for entry in json.loads(text or "[]")
    )


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    min_score: Decimal


@dataclass(frozen=True, slots=True)
class Attribution:
    """Campaign attribution's settings (#11, docs/attribution.md), read from the scorer's environment by
    the oracle's own code: touch types, look-back, touches kept, conversion rules (type -> metrics)."""

    touch_types: frozenset[str]
    lookback_ms: int
    max_touches: int
    conversions: Mapping[str, tuple[str | None, str | None]]

    @classmethod
    def from_environment(cls, env: Mapping[str, str]) -> Attribution | None:
        if not (env.get("CAMPAIGN_ATTRIBUTION_TABLE") or "").strip():
            return None
        touches = env.get("ATTRIBUTION_TOUCH_EVENT_TYPES") or ""
        rules = env.get("CONVERSION_RULES") or ""
        conversions = (
            {
                str(rule["event_type"]): (rule.get("value_metric"), rule.get("quantity_metric"))
                for rule in json.loads(rules)
            }
            if rules.strip()
            else {"_monetization.purchase": ("_item_price", "_quantity")}
        )
        return cls(
            frozenset(json.loads(touches) if touches.strip() else DEFAULT_TOUCH_TYPES),
            int(env.get("ATTRIBUTION_LOOKBACK_HOURS") or 168) * 3_600_000,
            int(env.get("ATTRIBUTION_MAX_TOUCHES") or 50),
            conversions,
        )


ATTRIBUTION_MODELS = ("last_touch", "first_touch", "linear")


class Attributor:
    """The oracle's attribution, written apart from the engine's: per user the touches in stream order
    (a list of [time, stream number, campaign, type, message id]), conversions credited in exact fractions
    from the touches seen before them in the stream, totals per campaign and model."""

    def __init__(self, config: Attribution) -> None:
        self.config = config
        self.touches: dict[str, list[tuple[int, int, str, str, str | None]]] = {}
        self.numbers: dict[str, int] = {}
        self.campaigns: dict[str, dict[str, list[Fraction]]] = {}
        self.unattributed = [Fraction(0), Fraction(0)]

    @staticmethod
    def _metric(metrics: Mapping[str, Any] | None, name: str | None) -> Fraction | None:
        value = (metrics or {}).get(name) if name is not None else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return Fraction(Decimal(str(value)))

    def _credit(self, campaign: str, model: str, conversions: Fraction, value: Fraction) -> None:
        totals = self.campaigns.setdefault(
            campaign, {m: [Fraction(0), Fraction(0)] for m in ATTRIBUTION_MODELS}
        )
        totals[model][0] += conversions
        totals[model][1] += value

    def event(self, event: ParsedEvent, machine_flagged: bool) -> None:
        """A counted event, in stream order."""
        config = self.config
        rule = config.conversions.get(event.event_type)
        if rule is not None:
            price = self._metric(event.metrics, rule[0])
            quantity = self._metric(event.metrics, rule[1])
            value = Fraction(0) if price is None else price * (Fraction(1) if quantity is None else quantity)
            start = event.timestamp - config.lookback_ms
            window = [t for t in self.touches.get(event.user_key, []) if start <= t[0] <= event.timestamp]
            if not window:
                self.unattributed[0] += 1
                self.unattributed[1] += value
            else:
                latest = max(window, key=lambda t: (t[0], t[1]))
                earliest_time = min(t[0] for t in window)
                earliest = max((t for t in window if t[0] == earliest_time), key=lambda t: t[1])
                self._credit(latest[2], "last_touch", Fraction(1), value)
                self._credit(earliest[2], "first_touch", Fraction(1), value)
                for touch in window:
                    self._credit(touch[2], "linear", Fraction(1, len(window)), value / len(window))
        if (
            event.event_type in config.touch_types
            and event.campaign is not None
            and event.campaign not in ("(unattributed)", "(costs)")
            and not machine_flagged
        ):
            kept = self.touches.setdefault(event.user_key, [])
            same = (event.campaign, event.event_type, event.message_id)
            if event.message_id is not None and any((t[2], t[3], t[4]) == same for t in kept):
                return
            number = self.numbers.get(event.user_key, 0)
            self.numbers[event.user_key] = number + 1
            kept.append((event.timestamp, number, event.campaign, event.event_type, event.message_id))
            newest = max(t[0] for t in kept)
            kept[:] = sorted(
                (t for t in kept if t[0] >= newest - config.lookback_ms), key=lambda t: (t[0], t[1])
            )[-config.max_touches :]


@dataclass(frozen=True, slots=True)
class Settings:
    user_key_mode: str = "auto"
    decay_half_life_hours: float = 0.0
    floor: Decimal | None = None
    ceiling: Decimal | None = None
    tiers: tuple[Tier, ...] = ()
    user_key_tag: str = "user_key"
    recipient_user_key: str = "none"
    machine: MachineSettings = field(default_factory=MachineSettings)
    # Publication threshold (SCORE_PUBLISH_MIN_DELTA, points): the sinks show the state of the last write
    # that moved the score this much since the previous publication (or changed the tier).
    publish_min_delta: Decimal = Decimal(0)
    # Tier hysteresis (TIER_HYSTERESIS_POINTS): a user keeps a higher tier while its score stays less than
    # this far below that tier's min_score.
    tier_hysteresis: Decimal = Decimal(0)
    window_rules: tuple[WindowRule, ...] = ()
    # Campaign attribution (#11, docs/attribution.md): its touch and conversion types are counted at 0
    # points when no score rule names them (on when CAMPAIGN_ATTRIBUTION_TABLE is set).
    attribution_types: frozenset[str] = frozenset()
    attribution: Attribution | None = None  # the models' settings, None when attribution is off
    campaign_tag: str = "campaign"

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
        recipient = env.get("RECIPIENT_USER_KEY") or "none"
        if recipient not in RECIPIENT_USER_KEYS:
            raise ValueError(
                f"RECIPIENT_USER_KEY {recipient!r}: the oracle checks only {RECIPIENT_USER_KEYS} "
                "(a keyed hash of the address needs the secret key)"
            )
        return cls(
            user_key_tag=env.get("USER_KEY_TAG") or "user_key",
            recipient_user_key=recipient,
            user_key_mode=mode,
            decay_half_life_hours=float(env.get("DECAY_HALF_LIFE_HOURS") or 0),
            floor=_optional_decimal(env.get("SCORE_FLOOR")),
            ceiling=_optional_decimal(env.get("SCORE_CEILING")),
            tiers=tiers,
            machine=MachineSettings.from_json(env.get("MACHINE_ENGAGEMENT")),
            publish_min_delta=Decimal(env.get("SCORE_PUBLISH_MIN_DELTA") or "0"),
            tier_hysteresis=Decimal(env.get("TIER_HYSTERESIS_POINTS") or "0"),
            window_rules=window_rules_from_json(env.get("WINDOW_RULES")),
            attribution_types=attribution_types_from_env(env),
            attribution=Attribution.from_environment(env),
            campaign_tag=env.get("CAMPAIGN_TAG") or "campaign",
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "user_key_mode": self.user_key_mode,
            "decay_half_life_hours": self.decay_half_life_hours,
            "score_floor": None if self.floor is None else float(self.floor),
            "score_ceiling": None if self.ceiling is None else float(self.ceiling),
            "tiers": [{"name": t.name, "min_score": float(t.min_score)} for t in self.tiers],
            "user_key_tag": self.user_key_tag,
            "recipient_user_key": self.recipient_user_key,
            "score_publish_min_delta": float(self.publish_min_delta),
            "tier_hysteresis_points": float(self.tier_hysteresis),
            "window_rules": [rule.name for rule in self.window_rules],
        }


DEFAULT_TOUCH_TYPES = ("_email.open", "_email.click", "_SMS.SUCCESS", "_campaign.opened_notification")
DEFAULT_CONVERSION_TYPES = ("_monetization.purchase",)


def attribution_types_from_env(env: Mapping[str, str]) -> frozenset[str]:
    """The touch and conversion event types of the scorer's attribution settings (none when it is off)."""
    if not (env.get("CAMPAIGN_ATTRIBUTION_TABLE") or "").strip():
        return frozenset()
    touches = env.get("ATTRIBUTION_TOUCH_EVENT_TYPES") or ""
    rules = env.get("CONVERSION_RULES") or ""
    return frozenset(json.loads(touches) if touches.strip() else DEFAULT_TOUCH_TYPES) | frozenset(
        [str(rule["event_type"]) for rule in json.loads(rules)] if rules.strip() else DEFAULT_CONVERSION_TYPES
    )


def _optional_decimal(value: str | None) -> Decimal | None:
    return None if value is None or value.strip() == "" else Decimal(value.strip())


def rules_from_items(items: Iterable[Mapping[str, Any]]) -> dict[str, Rule]:
    """Rules from score_rules items (already deserialized: numbers as Decimal or int)."""
    rules: dict[str, Rule] = {}
    for item in items:
        event_type = str(item["event_type"])
        channel = item.get("channel")
        max_points = item.get("max_points")
        rules[event_type] = Rule(
            event_type,
            Decimal(str(item["points"])),
            str(channel) if channel else None,
            bool(item.get("once_per_message", False)),
            Decimal(str(max_points)) if max_points is not None else None,
            int(item.get("limit_period_hours") or 24),
        )
    return rules


def channel_of(event_type: str, rule: Rule | None = None, event_channel: str | None = None) -> str:
    """The rule's channel, else the one the event names (custom format), else the type's prefix."""
    if rule is not None and rule.channel:
        return rule.channel
    if event_channel:
        return event_channel
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
    # What makes this event the same as another (exactly-once): see `parse_record`.
    dedupe_key: Any = None
    channel: str | None = None  # the channel the event itself names (custom format)
    once_per_message: bool = False  # the format counts it once per message (SMS success / failure)
    signals: Signals | None = None  # e-mail opens and clicks: what the machine-engagement policy reads
    metrics: Mapping[str, Any] | None = None  # custom / Pinpoint `metrics`, SMS price: for sum window rules
    campaign: str | None = None  # SES tag / SMS context key, Pinpoint campaign_id else journey_id, custom


@dataclass(frozen=True, slots=True)
class Skipped:
    """A payload that scores nothing by design (no user key, a CloudWatch Logs control message...)."""

    reason: str


class Rejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Outcome = ParsedEvent | Skipped | Rejected


def parse(data: bytes, user_key_mode: str = "auto") -> ParsedEvent:
    """One bare Pinpoint or custom record's meaning for scoring, or `Rejected(reason)`."""
    outcomes = parse_record(data, Settings(user_key_mode=user_key_mode))
    if len(outcomes) != 1:
        raise Rejected("several_events")
    outcome = outcomes[0]
    if isinstance(outcome, Rejected):
        raise outcome
    if isinstance(outcome, Skipped):
        raise Rejected(outcome.reason)
    return outcome


def parse_record(data: bytes, settings: Settings) -> list[Outcome]:
    """Every outcome of one Kinesis record: envelopes opened, each payload parsed by its format.

    Raises `Rejected` when the record as a whole is unreadable. Exactly-once keys (`dedupe_key`):
    SES (type, message id, event time, what tells two events of that type apart, user key); SMS status
    (type, message id, time, user key); inbound SMS (inbound id, user key); Pinpoint and custom: the
    payload's bytes (for an EventBridge `detail`, its canonical JSON), so a redelivered event or the same
    SES event bare and wrapped counts once.
    """
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            raise Rejected("bad_gzip") from None
    value = _json(data)
    if not isinstance(value, dict):
        raise Rejected("not_an_object")
    outcomes: list[Outcome] = []
    for payload, payload_bytes, received_ms in _payloads(value, data, None, 0):
        if isinstance(payload, Skipped | Rejected):
            outcomes.append(payload)
            continue
        try:
            outcomes.extend(_parse_payload(payload, payload_bytes, received_ms, settings))
        except Rejected as rejected:
            outcomes.append(rejected)
    if len(outcomes) == 1 and isinstance(outcomes[0], Rejected):
        raise outcomes[0]
    return outcomes


def _json(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):  # deep nesting exhausts the JSON parser's stack
        raise Rejected("invalid_json") from None


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


Payload = tuple[Any, bytes | None, int | None]  # (value or Skipped/Rejected, its bytes, delivery time)


def _payloads(
    value: dict[str, Any], data: bytes | None, received_ms: int | None, depth: int
) -> list[Payload]:
    """The payloads inside the envelopes around `value` (the value itself when it is none)."""
    if depth > MAX_ENVELOPE_DEPTH:
        raise Rejected("bad_envelope")
    if "detail-type" in value and "detail" in value:  # EventBridge
        detail = value["detail"]
        if not isinstance(detail, dict):
            raise Rejected("bad_envelope")
        return _inner(detail, None, _iso_ms(value.get("time")) or received_ms, depth)
    if value.get("Type") == "Notification" and "Message" in value:  # SNS
        message = value["Message"]
        if not isinstance(message, str):
            raise Rejected("bad_envelope")
        return _inner(_json(message), message.encode(), _iso_ms(value.get("Timestamp")) or received_ms, depth)
    if value.get("Type") in ("SubscriptionConfirmation", "UnsubscribeConfirmation") and "TopicArn" in value:
        return [(Skipped("sns_confirmation"), None, None)]
    if value.get("eventSource") == "aws:sqs" and "body" in value:  # SQS, as Pipes passes it on
        body = value["body"]
        if not isinstance(body, str):
            raise Rejected("bad_envelope")
        attributes = value.get("attributes")
        sent = attributes.get("SentTimestamp") if isinstance(attributes, dict) else None
        sent_ms = int(sent) if isinstance(sent, str) and sent.isascii() and sent.isdigit() else None
        return _inner(_json(body), body.encode(), sent_ms or received_ms, depth)
    if "messageType" in value and "logEvents" in value:  # CloudWatch Logs subscription data
        if value["messageType"] == "CONTROL_MESSAGE":
            return [(Skipped("control_message"), None, None)]
        events = value["logEvents"]
        if value["messageType"] != "DATA_MESSAGE" or not isinstance(events, list):
            raise Rejected("bad_envelope")
        if not events:
            return [(Skipped("empty_envelope"), None, None)]
        out: list[Payload] = []
        for event in events:
            message = event.get("message") if isinstance(event, dict) else None
            logged = event.get("timestamp") if isinstance(event, dict) else None
            logged = logged if isinstance(logged, int) and not isinstance(logged, bool) else None
            try:
                if not isinstance(message, str):
                    raise Rejected("bad_envelope")
                out.extend(_inner(_json(message), message.encode(), logged, depth))
            except Rejected as rejected:
                out.append((rejected, None, None))
        return out
    return [(value, data, received_ms)]


def _inner(value: Any, data: bytes | None, received_ms: int | None, depth: int) -> list[Payload]:
    if isinstance(value, dict) and any(k in value for k in ENVELOPE_MARKERS):
        return _payloads(value, data, received_ms, depth + 1)
    return [(value, data, received_ms)]


def _iso_ms(value: Any) -> int | None:
    """Epoch ms of an ISO 8601 time with a zone; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return round(moment.timestamp() * 1000)


def _parse_payload(
    obj: Any, payload_bytes: bytes | None, received_ms: int | None, settings: Settings
) -> list[ParsedEvent | Skipped]:
    if not isinstance(obj, dict):
        raise Rejected("not_an_object")
    key_bytes = payload_bytes if payload_bytes is not None else _canonical(obj)
    if "schema" in obj:
        return [_parse_custom(obj, key_bytes)]
    if "event_type" in obj or "event_timestamp" in obj or "client" in obj:
        return [_parse_pinpoint(obj, settings.user_key_mode, key_bytes)]
    if "mail" in obj and ("eventType" in obj or "notificationType" in obj):
        return _parse_ses(obj, settings)
    if "eventTimestamp" in obj or "eventType" in obj:
        return [_parse_sms_status(obj, settings)]
    if "inboundMessageId" in obj or "originationNumber" in obj:
        return [_parse_inbound(obj, received_ms, settings)]
    raise Rejected("unknown_format")


def _parse_pinpoint(obj: dict[str, Any], user_key_mode: str, key_bytes: bytes) -> ParsedEvent:
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
        key_bytes,
        signals=_pinpoint_signals(obj, event_type),
        metrics=obj.get("metrics") if isinstance(obj.get("metrics"), dict) else None,
        campaign=_text(attributes.get("campaign_id")) or _text(attributes.get("journey_id")),
    )


def _pinpoint_signals(obj: dict[str, Any], event_type: str) -> Signals | None:
    """A Pinpoint e-mail open's or click's signals (facets.email_channel.mail_event); None when it shows
    none of them (the scorer then has nothing to judge)."""
    if event_type not in (OPEN_EVENT, CLICK_EVENT):
        return None
    mail_event = _dig(obj, "facets", "email_channel", "mail_event")
    if not isinstance(mail_event, dict):
        return None
    sent = _dig(mail_event, "mail", "message_send_timestamp")
    sent = sent if type(sent) is int and sent >= 0 else None
    action = mail_event.get("open" if event_type == OPEN_EVENT else "click")
    action = action if isinstance(action, dict) else {}
    agent, ip, link = (action.get(k) for k in ("user_agent", "ip_address", "link"))
    agent = agent if isinstance(agent, str) else ""
    ip = ip if isinstance(ip, str) else ""
    link = link if isinstance(link, str) and link else None
    if sent is None and not agent and not ip and link is None:
        return None
    return Signals(agent, ip, link, sent)


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


def _parse_custom(obj: dict[str, Any], key_bytes: bytes) -> ParsedEvent | Skipped:
    if obj.get("schema") != CUSTOM_SCHEMA:
        raise Rejected("unknown_schema")
    event_type, user_key, timestamp = obj.get("event_type"), obj.get("user_key"), obj.get("timestamp")
    if not isinstance(event_type, str) or not event_type:
        raise Rejected("invalid_event_type")
    if event_type == TEST_EVENT:
        return Skipped("test_event")
    if not isinstance(user_key, str) or not user_key:
        raise Rejected("no_user_key")
    if isinstance(timestamp, str):
        millis = _iso_ms(timestamp)
        if millis is None:
            raise Rejected("invalid_timestamp")
    elif isinstance(timestamp, int | float) and not isinstance(timestamp, bool):
        millis = int(timestamp)
    else:
        raise Rejected("invalid_timestamp")
    channel = obj.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise Rejected("invalid_channel")
    metrics = obj.get("metrics")
    if metrics is not None and not (
        isinstance(metrics, dict)
        and all(
            type(v) in (int, float) and math.isfinite(v) and isinstance(k, str) and k
            for k, v in metrics.items()
        )
    ):
        raise Rejected("invalid_metrics")
    message_id = obj.get("message_id")
    return ParsedEvent(
        user_key,
        event_type,
        millis,
        f"custom:{message_id}" if message_id else None,
        None,
        key_bytes,
        channel if isinstance(channel, str) else None,
        metrics=metrics,
        campaign=_text(obj.get("campaign")),
    )


# SES event publishing: eventType -> (its own object, the rule name; None: decided by that object).
# The oracle's own table, written from the mapping (never imported from lambda_src).
SES_EVENT_TYPES: dict[str, tuple[str, str | None]] = {
    "Send": ("send", "_email.send"),
    "Delivery": ("delivery", "_email.delivered"),
    "Open": ("open", "_email.open"),
    "Click": ("click", "_email.click"),
    "Bounce": ("bounce", None),  # bounceType Permanent: _email.hardbounce, else _email.softbounce
    "Complaint": ("complaint", "_email.complaint"),
    "Reject": ("reject", "_email.rejected"),
    "Rendering Failure": ("failure", "_email.rendering_failure"),
    "DeliveryDelay": ("deliveryDelay", "_email.delivery_delay"),
    "Subscription": ("subscription", None),  # unsubscribing: _email.unsubscribe, else _email.subscription
}
# Which recipients an event names, when no user tag names the user (docs/formats.md)
SES_RECIPIENTS = {
    "Bounce": ("bouncedRecipients", "emailAddress"),
    "Complaint": ("complainedRecipients", "emailAddress"),
    "Delivery": ("recipients", None),
    "DeliveryDelay": ("delayedRecipients", "emailAddress"),
}
SES_WHOLE_MESSAGE = ("Send", "Reject", "Rendering Failure")
SMS_SUCCESS = ("TEXT_SUCCESSFUL", "TEXT_DELIVERED")
SMS_FINAL_FAILURES = (
    "TEXT_BLOCKED",
    "TEXT_CARRIER_BLOCKED",
    "TEXT_CARRIER_UNREACHABLE",
    "TEXT_INVALID",
    "TEXT_INVALID_MESSAGE",
    "TEXT_PROTECT_BLOCKED",
    "TEXT_SPAM",
    "TEXT_TTL_EXPIRED",
    "TEXT_UNKNOWN",
    "TEXT_UNREACHABLE",
)
SMS_OPT_OUT_KEYWORDS = (
    "ARRET",
    "CANCEL",
    "END",
    "OPT-OUT",
    "OPTOUT",
    "QUIT",
    "REMOVE",
    "STOP",
    "TD",
    "UNSUBSCRIBE",
)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _tag(tags: Any, name: str) -> str | None:
    """A tag's value: SES tags are lists (the first non-empty string counts), SMS context values strings."""
    value = tags.get(name) if isinstance(tags, dict) else None
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v), None)
    return value if isinstance(value, str) and value else None


def _email_address(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(">") and "<" in text:
        text = text[text.rindex("<") + 1 : -1].strip()
    local, at, domain = text.partition("@")
    if (
        not at
        or not local
        or "@" in domain
        or "." not in domain
        or any(c.isspace() or c in "<>," for c in text)
    ):
        return None
    return text.lower()


def _phone_number(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = "".join(c for c in value.strip() if c not in " -().")
    digits = text[1:]
    if text[:1] != "+" or not 2 <= len(digits) <= 15 or not digits.isdigit() or not digits.isascii():
        return None
    return text if digits[0] != "0" else None


def _unsubscribes(subscription: Any) -> bool:
    """Newly unsubscribed from all, or newly opted out of a topic."""
    if not isinstance(subscription, dict):
        return False
    new, old = subscription.get("newTopicPreferences"), subscription.get("oldTopicPreferences")

    def all_off(preferences: Any) -> bool:
        return isinstance(preferences, dict) and preferences.get("unsubscribeAll") is True

    def opted_out(preferences: Any) -> set[str]:
        statuses = preferences.get("topicSubscriptionStatus") if isinstance(preferences, dict) else None
        return {
            str(s.get("topicName"))
            for s in (statuses if isinstance(statuses, list) else [])
            if isinstance(s, dict) and s.get("subscriptionStatus") == "OptOut"
        }

    return (all_off(new) and not all_off(old)) or bool(opted_out(new) - opted_out(old))


def _parse_ses(obj: dict[str, Any], settings: Settings) -> list[ParsedEvent | Skipped]:
    name = obj.get("eventType", obj.get("notificationType"))
    if not isinstance(name, str) or not name:
        raise Rejected("invalid_event_type")
    mail = obj.get("mail")
    if not isinstance(mail, dict):
        raise Rejected("no_mail")
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise Rejected("no_message_id")
    object_key, rule_name = SES_EVENT_TYPES.get(name, (name[:1].lower() + name[1:], None))
    sub = obj.get(object_key)
    own_time = sub.get("timestamp") if isinstance(sub, dict) else None
    timestamp = _iso_ms(own_time if own_time is not None else mail.get("timestamp"))
    if timestamp is None:
        raise Rejected("invalid_timestamp")
    if rule_name is None:
        if name == "Bounce":
            permanent = isinstance(sub, dict) and sub.get("bounceType") == "Permanent"
            rule_name = "_email.hardbounce" if permanent else "_email.softbounce"
        elif name == "Subscription":
            rule_name = "_email.unsubscribe" if _unsubscribes(sub) else "_email.subscription"
        else:
            rule_name = "_email." + name.lower().replace(" ", "_")
    tagged = _tag(mail.get("tags"), settings.user_key_tag)
    if tagged is not None:
        keys = [tagged]
    elif settings.recipient_user_key == "address":
        keys = [f"email:{a}" for a in _ses_recipients(name, sub, mail)]
    else:
        keys = []
    if not keys:
        return [Skipped("no_user_key")]
    tells_apart: Any = None
    if isinstance(sub, dict):
        if name in ("Bounce", "Complaint"):
            tells_apart = sub.get("feedbackId")
        elif name == "Click":
            tells_apart = sub.get("link")
        elif name == "Open":
            tells_apart = (sub.get("ipAddress"), sub.get("userAgent"))
        elif name == "Subscription":
            tells_apart = (sub.get("contactList"), sub.get("source"))
    signals = None
    if name in ("Open", "Click") and isinstance(sub, dict):
        agent, ip, link = (sub.get(k) for k in ("userAgent", "ipAddress", "link"))
        signals = Signals(
            agent if isinstance(agent, str) else "",
            ip if isinstance(ip, str) else "",
            link if isinstance(link, str) and link else None,
            _iso_ms(mail.get("timestamp")),
        )
    return [
        ParsedEvent(
            key,
            rule_name,
            timestamp,
            message_id,
            None,
            ("ses", name, message_id, timestamp, tells_apart, key),
            signals=signals,
            campaign=_tag(mail.get("tags"), settings.campaign_tag),
        )
        for key in keys
    ]


def _ses_recipients(name: str, sub: Any, mail: dict[str, Any]) -> list[str]:
    listed: list[Any] | None = None
    if (
        name in SES_RECIPIENTS
        and isinstance(sub, dict)
        and isinstance(sub.get(SES_RECIPIENTS[name][0]), list)
    ):
        field_name = SES_RECIPIENTS[name][1]
        items = sub[SES_RECIPIENTS[name][0]]
        listed = (
            items
            if field_name is None
            else [i.get(field_name) if isinstance(i, dict) else None for i in items]
        )
    if listed is None:
        destination = mail.get("destination")
        destination = destination if isinstance(destination, list) else []
        listed = destination if name in SES_WHOLE_MESSAGE or len(destination) == 1 else []
    found: dict[str, None] = {}
    for value in listed:
        address = _email_address(value)
        if address is not None:
            found[address] = None
    return list(found)


def _parse_sms_status(obj: dict[str, Any], settings: Settings) -> ParsedEvent | Skipped:
    name = obj.get("eventType")
    if not isinstance(name, str) or not name:
        raise Rejected("invalid_event_type")
    timestamp = obj.get("eventTimestamp")
    if isinstance(timestamp, float) and timestamp.is_integer():
        timestamp = int(timestamp)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise Rejected("invalid_timestamp")
    message_id = obj.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise Rejected("no_message_id")
    key = _tag(obj.get("context"), settings.user_key_tag)
    if key is None and settings.recipient_user_key == "address":
        number = _phone_number(obj.get("destinationPhoneNumber"))
        key = f"sms:{number}" if number else None
    if key is None:
        return Skipped("no_user_key")
    if name in SMS_SUCCESS:
        event_type, once = "_SMS.SUCCESS", True
    elif name in SMS_FINAL_FAILURES:
        event_type, once = "_SMS.FAILURE", True
    else:
        event_type, once = f"_SMS.{name}", False
    price = {
        name: obj[name] for name in ("totalMessagePrice", "totalCarrierFee") if obj.get(name) is not None
    }
    return ParsedEvent(
        key,
        event_type,
        timestamp,
        message_id,
        None,
        ("sms", name, message_id, timestamp, key),
        None,
        once,
        metrics=price or None,
        campaign=_tag(obj.get("context"), settings.campaign_tag),
    )


def _parse_inbound(obj: dict[str, Any], received_ms: int | None, settings: Settings) -> ParsedEvent | Skipped:
    inbound_id = obj.get("inboundMessageId")
    if not isinstance(inbound_id, str) or not inbound_id:
        raise Rejected("no_message_id")
    if received_ms is None:  # the payload has no time of its own: its envelope's stands in
        raise Rejected("invalid_timestamp")
    number = _phone_number(obj.get("originationNumber")) if settings.recipient_user_key == "address" else None
    if number is None:
        return Skipped("no_user_key")
    key = f"sms:{number}"
    opt_out = any(
        isinstance(obj.get(f), str) and obj[f].strip().upper() in SMS_OPT_OUT_KEYWORDS
        for f in ("messageKeyword", "messageBody")
    )
    replied_to = obj.get("previousPublishedMessageId")
    return ParsedEvent(
        key,
        "_SMS.OPTOUT" if opt_out else "_SMS.INBOUND",
        received_ms,
        replied_to if isinstance(replied_to, str) and replied_to else None,
        None,
        ("inbound", inbound_id, key),
    )


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
    rules: list[str] = field(default_factory=list)  # window rules matched at as_of, sorted
    # the counted events the window rules measure (time ms, event type, channel, metrics), any order
    measured: list[tuple[int, str, str, Mapping[str, Any] | None]] = field(default_factory=list)


@dataclass(slots=True)
class Expectation:
    users: dict[str, ExpectedUser]
    counted: int = 0
    duplicates: int = 0
    once_per_message_suppressed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    # Machine engagement: arrivals weighted 0 (not counted, never recorded, so a re-sent one arrives again),
    # distinct events and arrivals per reason, and the verdicts against the generator's ground truth.
    machine_not_counted: int = 0
    machine_flagged: dict[str, int] = field(default_factory=dict)
    machine_flagged_arrivals: dict[str, int] = field(default_factory=dict)
    machine_truth: MachineTruth = field(default_factory=lambda: MachineTruth())
    # Point limits: counted events that earned less than their points, and the points held back.
    limit_capped_events: int = 0
    points_not_counted: Decimal = Decimal(0)
    # Campaign attribution (#11): per campaign and model [conversions, value]; unattributed [n, value].
    campaigns: dict[str, dict[str, list[Fraction]]] = field(default_factory=dict)
    unattributed: list[Fraction] = field(default_factory=lambda: [Fraction(0), Fraction(0)])


@dataclass(slots=True)
class MachineTruth:
    """Distinct e-mail opens and clicks by ground truth: per reason, machine events the generator meant to
    carry it (`generated`), those of them whose verdict has it (`caught`), machine events whose verdict has it
    whether meant or not (`machine_flagged`: a proxy open seconds after the send also has send-time
    proximity), and human events whose verdict has it (`human_flagged`); `machine_missed` counts machine
    events with no reason at all."""

    machine_events: int = 0
    human_events: int = 0
    machine_missed: int = 0
    generated: dict[str, int] = field(default_factory=dict)
    caught: dict[str, int] = field(default_factory=dict)
    machine_flagged: dict[str, int] = field(default_factory=dict)
    human_flagged: dict[str, int] = field(default_factory=dict)

    def add(self, truth: tuple[str, tuple[str, ...]] | None, reasons: tuple[str, ...]) -> None:
        if truth is None:
            return
        actor, intended = truth
        if actor == "machine":
            self.machine_events += 1
            self.machine_missed += not reasons
            for reason in reasons:
                self.machine_flagged[reason] = self.machine_flagged.get(reason, 0) + 1
            for reason in intended:
                self.generated[reason] = self.generated.get(reason, 0) + 1
                if reason in reasons:
                    self.caught[reason] = self.caught.get(reason, 0) + 1
        else:
            self.human_events += 1
            for reason in reasons:
                self.human_flagged[reason] = self.human_flagged.get(reason, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "machine_events": self.machine_events,
            "human_events": self.human_events,
            "machine_missed": self.machine_missed,
            "generated": dict(sorted(self.generated.items())),
            "caught": dict(sorted(self.caught.items())),
            "machine_flagged": dict(sorted(self.machine_flagged.items())),
            "human_flagged": dict(sorted(self.human_flagged.items())),
        }


Truth = tuple[str, tuple[str, ...]]  # ("human" | "machine", the reasons the generator meant)


def _parse_cached(data: bytes, settings: Settings, parsed: dict[bytes, list[Outcome]]) -> list[Outcome]:
    outcomes = parsed.get(data)
    if outcomes is None:
        try:
            outcomes = parse_record(data, settings)
        except Rejected as rejected:
            outcomes = [rejected]
        parsed[data] = outcomes
    return outcomes


def expect(
    records: Iterable[bytes],
    rules: Mapping[str, Rule],
    settings: Settings,
    truths: Iterable[Truth | None] | None = None,
) -> Expectation:
    """The final state the pipeline must reach after consuming `records` (in this order).

    Per payload, in stream order: skips and rejections are counted every time they occur (a re-sent
    record is skipped again); an event without a rule is skipped `no_rule`; an event with a rule counts
    unless its `dedupe_key` was counted before (`duplicates`) or it repeats a (user, type, message) that
    counts once (`once_per_message_suppressed`). An e-mail open or click counts its points times the
    machine-engagement weight of its reasons (simulator/machine_policy.py); weight 0: not counted, not
    recorded (`machine_not_counted`). `truths` (parallel to `records`) tallies the verdicts of distinct
    opens and clicks against the generator's ground truth."""
    records = list(records)
    machine = settings.machine
    # An event type only a window rule names is counted at 0 points, so that the rule can measure it.
    # So is a touch or conversion type of campaign attribution.
    measured_only = (
        {t for w in settings.window_rules for t in w.event_types} | settings.attribution_types
    ) - set(rules)
    if measured_only:
        rules = {**rules, **{t: Rule(t, Decimal(0)) for t in measured_only}}
    limits: dict[tuple[str, str], tuple[int, Decimal]] = {}  # (user, type) -> (period, earned)
    measured: dict[str, list[tuple[int, str, str, Mapping[str, Any] | None]]] = {}
    seen_keys: set[Any] = set()
    seen_messages: set[tuple[str, str, str]] = set()
    applied: dict[str, list[tuple[int, Decimal, str]]] = {}
    endpoints: dict[str, set[str]] = {}
    result = Expectation(users={})
    parsed: dict[bytes, list[Outcome]] = {}  # re-sent records are parsed once
    # Burst needs the clicks before each click: one pass over the distinct clicks that have a rule, in
    # stream order (the first copy of a re-sent click holds its place).
    clicks: dict[Any, tuple[Any, str, str, int, str]] = {}
    for data in records:
        for outcome in _parse_cached(data, settings, parsed):
            if (
                isinstance(outcome, ParsedEvent)
                and outcome.event_type == CLICK_EVENT
                and outcome.event_type in rules
                and outcome.signals is not None
                and outcome.signals.link is not None
                and outcome.message_id is not None
            ):
                clicks[outcome.dedupe_key] = (
                    outcome.dedupe_key,
                    outcome.user_key,
                    outcome.message_id,
                    outcome.timestamp,
                    outcome.signals.link,
                )
    bursts = machine.bursts(clicks.values())
    judged: set[Any] = set()
    truth_list = list(truths) if truths is not None else [None] * len(records)

    def count(table: dict[str, int], reason: str) -> None:
        table[reason] = table.get(reason, 0) + 1

    attributor = Attributor(settings.attribution) if settings.attribution is not None else None

    for data, truth in zip(records, truth_list, strict=True):
        outcomes = _parse_cached(data, settings, parsed)
        for outcome in outcomes:
            if isinstance(outcome, Rejected):
                count(result.rejected, outcome.reason)
                continue
            if isinstance(outcome, Skipped):
                count(result.skipped, outcome.reason)
                continue
            event = outcome
            if event.event_type == TEST_EVENT:
                count(result.skipped, "test_event")
                continue
            rule = rules.get(event.event_type)
            if rule is None:
                count(result.skipped, "no_rule")
                continue
            weight = Decimal(1)
            reasons: tuple[str, ...] = ()
            if event.signals is not None:
                reasons = machine.reasons(
                    event.event_type, event.timestamp, event.signals, event.dedupe_key in bursts
                )
                for reason in reasons:
                    count(result.machine_flagged_arrivals, reason)
                if event.dedupe_key not in judged:
                    judged.add(event.dedupe_key)
                    for reason in reasons:
                        count(result.machine_flagged, reason)
                    result.machine_truth.add(truth, reasons)
                weight = machine.weight(reasons)
            if event.dedupe_key in seen_keys:
                result.duplicates += 1
                continue
            if weight == 0:  # not a touch: neither recorded nor holding the once-per-message slot
                result.machine_not_counted += 1
                continue
            seen_keys.add(event.dedupe_key)
            if (rule.once_per_message or event.once_per_message) and event.message_id is not None:
                message_key = (event.user_key, event.event_type, event.message_id)
                if message_key in seen_messages:
                    result.once_per_message_suppressed += 1
                    continue
                seen_messages.add(message_key)
            result.counted += 1
            if attributor is not None:
                attributor.event(event, bool(reasons))
            points = rule.points * weight
            if rule.max_points is not None and points > 0:
                earned = _limited(limits, rule, event.user_key, event.timestamp, points)
                if earned != points:
                    result.limit_capped_events += 1
                    result.points_not_counted += points - earned
                points = earned
            channel = channel_of(event.event_type, rule, event.channel)
            applied.setdefault(event.user_key, []).append((event.timestamp, points, channel))
            if settings.window_rules:
                measured.setdefault(event.user_key, []).append(
                    (event.timestamp, event.event_type, channel, event.metrics)
                )
            if event.endpoint_id is not None:
                endpoints.setdefault(event.user_key, set()).add(event.endpoint_id)
    for user_key, events in applied.items():
        user = result.users[user_key] = _score(user_key, events, settings, endpoints.get(user_key, set()))
        user.measured = measured.get(user_key, [])
        user.rules = matched_rules(settings.window_rules, user.measured, user.as_of)
    if attributor is not None:
        result.campaigns, result.unattributed = attributor.campaigns, attributor.unattributed
    return result


def _limited(
    limits: dict[tuple[str, str], tuple[int, Decimal]],
    rule: Rule,
    user_key: str,
    timestamp: int,
    points: Decimal,
) -> Decimal:
    """What one event earns under its rule's limit (stream order), updating the (user, rule) counter."""
    assert rule.max_points is not None
    period = timestamp // (rule.limit_period_hours * 3_600_000)
    newest, earned = limits.get((user_key, rule.event_type), (period, Decimal(0)))
    if period < newest:
        return Decimal(0)
    if period > newest:
        newest, earned = period, Decimal(0)
    gets = min(points, max(rule.max_points - earned, Decimal(0)))
    limits[(user_key, rule.event_type)] = (newest, earned + gets)
    return gets


def matched_rules(
    window_rules: Iterable[WindowRule],
    events: list[tuple[int, str, str, Mapping[str, Any] | None]],
    as_of: int,
) -> list[str]:
    """Names of the window rules whose measure over the counted `events` at `as_of` is >= threshold."""
    matched = []
    for rule in window_rules:
        values = [value for event in events if (value := rule.measures(event, as_of)) is not None]
        if sum(values, Decimal(0)) >= rule.threshold:
            matched.append(rule.name)
    return sorted(matched)


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


def sinks_may_show(final: Number, shown: Number, settings: Settings, tolerance: float = 0.0) -> bool:
    """Whether a sink showing score `shown` agrees with the final score `final` under the publication
    threshold: with 0, only the final score (within `tolerance`); with a threshold T > 0 the sinks show the
    last publication, and every later write moved the score by less than T from it (else it would have
    published), so |final - shown| < T (+ `tolerance`). Which write published last depends on how the
    stream was cut into batches and on the order retries deliver a user's events, which the oracle does
    not know; the tier is checked apart (a tier change always publishes, so the sinks' tier is final)."""
    threshold = settings.publish_min_delta
    try:
        if tolerance:
            difference = abs(float(final) - float(shown))
            return difference <= tolerance if threshold <= 0 else difference < float(threshold) + tolerance
        exact = abs(Decimal(str(final)) - Decimal(str(shown)))
    except (ValueError, ArithmeticError):
        return False
    return exact == 0 if threshold <= 0 else exact < threshold


def tiers_possible(score: Number, settings: Settings, tolerance: float = 0.0) -> set[str | None]:
    """The tiers a user with this final score may hold: its plain tier, and with hysteresis H every higher
    tier whose min_score - H <= score (it may have been reached earlier and kept). Which one depends on
    the scores the user's writes passed through, i.e. on how the stream was cut into batches."""
    plain = tier_for(score, settings.tiers)
    possible: set[str | None] = {plain}
    if settings.tier_hysteresis > 0:
        plain_min = next(t.min_score for t in settings.tiers if t.name == plain)
        for tier in settings.tiers:
            if (
                tier.min_score > plain_min
                and float(score) >= float(tier.min_score - settings.tier_hysteresis) - tolerance
            ):
                possible.add(tier.name)
    return possible
