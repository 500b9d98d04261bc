"""Where score changes go: Pinpoint endpoints (UpdateEndpointsBatch), EventBridge (PutEvents) and
Amazon Connect Customer Profiles (PutProfileObject)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engagement_scoring.aws.errors import backoff_delay, describe, error_code, is_retryable
from engagement_scoring.core.changes import ConversionCredit, ScoreChange, address_of

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

PINPOINT_BATCH = 100
EVENTBRIDGE_BATCH = 10
SINK_ATTEMPTS = 4
# Customer Profiles has no batch put (botocore 1.43's model: BatchGetProfile and
# BatchGetCalculatedAttributeForProfile only): one PutProfileObject per user, a few in flight at a time.
PROFILES_CONCURRENCY = 4


@dataclass(slots=True)
class SinkResult:
    failed_users: set[str] = field(default_factory=set)
    delivered: int = 0
    skipped_no_endpoint: int = 0
    errors: list[str] = field(default_factory=list)


def json_number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


class PinpointSink:
    """Sets the score as an endpoint Metric (numeric, usable in segment ranges) and the tier as an Attribute.

    Only Id, Metrics and Attributes are sent: the endpoint's channel, address and User stay as they are.
    Users without known endpoint ids (transactional-only users) are skipped and counted.
    """

    def __init__(
        self,
        client: Any,
        application_id: str,
        metric: str,
        tier_attribute: str,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.application_id = application_id
        self.metric = metric
        self.tier_attribute = tier_attribute
        self.sleep = sleep

    def items(self, change: ScoreChange) -> list[dict[str, Any]]:
        items = []
        for endpoint_id in change.endpoint_ids:
            item: dict[str, Any] = {"Id": endpoint_id, "Metrics": {self.metric: float(change.score)}}
            if change.tier is not None:
                item["Attributes"] = {self.tier_attribute: [change.tier]}
            items.append(item)
        return items

    def update(self, changes: Sequence[ScoreChange]) -> SinkResult:
        result = SinkResult()
        owned: list[tuple[str, dict[str, Any]]] = []
        for change in changes:
            if not change.endpoint_ids:
                result.skipped_no_endpoint += 1
                continue
            owned.extend((change.user_key, item) for item in self.items(change))
        for start in range(0, len(owned), PINPOINT_BATCH):
            chunk = owned[start : start + PINPOINT_BATCH]
            error = self._send([item for _, item in chunk])
            if error is None:
                result.delivered += len(chunk)
            else:
                result.errors.append(error)
                result.failed_users.update(user_key for user_key, _ in chunk)
        return result

    def _send(self, items: list[dict[str, Any]]) -> str | None:
        """None when Pinpoint accepted the batch, else the error code (after retrying transient errors)."""
        error = "not attempted"
        for attempt in range(SINK_ATTEMPTS):
            if attempt:
                self.sleep(backoff_delay(attempt))
            try:
                self.client.update_endpoints_batch(
                    ApplicationId=self.application_id, EndpointBatchRequest={"Item": items}
                )
                return None
            except Exception as exc:
                error = describe(exc)
                if not is_retryable(exc):
                    return error
        return error


def change_detail(change: ScoreChange) -> dict[str, Any]:
    """The detail both EventBridge events share; an address never leaves (its SHA-256 does instead)."""
    who = (
        {"user_key_sha256": hashlib.sha256(change.user_key.encode()).hexdigest()}
        if address_of(change.user_key)
        else {"user_key": change.user_key}
    )
    detail: dict[str, Any] = {
        **who,
        "version": change.version,
        "score": json_number(change.score),
        "previous_score": json_number(change.previous_score),
        "tier": change.tier,
        "previous_tier": change.previous_tier,
        "channels": {name: json_number(value) for name, value in sorted(change.channels.items())},
        "as_of": change.as_of,
    }
    if change.machine_flagged:  # only when machine-flagged events are behind the change
        detail["machine_flagged"] = change.machine_flagged
    return detail


def publication_id(detail_type: str, change: ScoreChange, detail: dict[str, Any]) -> str:
    """The same for every publication of one item version and detail type, so consumers drop repeats.

    32 hex digits of SHA-256 over the detail type, the user key and the item version (or, for an image
    without a version, over the canonical detail).
    """
    if change.version is not None:
        basis = f"{detail_type}\n{change.user_key}\n{change.version}"
    else:
        basis = f"{detail_type}\n{json.dumps(detail, sort_keys=True, separators=(',', ':'))}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


RULE_MATCHED = "EngagementRuleMatched"
RULE_CLEARED = "EngagementRuleCleared"


def rule_detail(detail_type: str, change: ScoreChange, rule: str) -> dict[str, Any]:
    """{event_id, user_key (or user_key_sha256), rule, version}; the id is stable per detail type, user,
    item version and rule, like the score events' (one version may match or clear several rules)."""
    who = (
        {"user_key_sha256": hashlib.sha256(change.user_key.encode()).hexdigest()}
        if address_of(change.user_key)
        else {"user_key": change.user_key}
    )
    detail: dict[str, Any] = {**who, "rule": rule, "version": change.version}
    if change.version is not None:
        basis = f"{detail_type}\n{change.user_key}\n{change.version}\n{rule}"
    else:
        basis = f"{detail_type}\n{json.dumps(detail, sort_keys=True, separators=(',', ':'))}"
    return {"event_id": hashlib.sha256(basis.encode()).hexdigest()[:32], **detail}


CONVERSION_ATTRIBUTED = "ConversionAttributed"


def _decimal_number(text: Any) -> int | float | None:
    try:
        return json_number(Decimal(str(text)))
    except ArithmeticError:
        return None


def conversion_detail(credit: ConversionCredit) -> dict[str, Any]:
    """{event_id, user_key (or user_key_sha256), conversion_type, at, value, attributed, models}; models:
    per model the campaigns' shares `[{campaign, conversions, value}]` (empty when unattributed). The id
    is stable per user and conversion (its ledger digest): every publication of it carries the same."""
    who = (
        {"user_key_sha256": hashlib.sha256(credit.user_key.encode()).hexdigest()}
        if address_of(credit.user_key)
        else {"user_key": credit.user_key}
    )
    raw = credit.detail
    models = raw.get("credit")
    if not isinstance(models, dict):
        models = {}
    basis = f"{CONVERSION_ATTRIBUTED}\n{credit.user_key}\n{credit.digest}"
    return {
        "event_id": hashlib.sha256(basis.encode()).hexdigest()[:32],
        **who,
        "conversion_type": raw.get("conversion_type"),
        "at": raw.get("at"),
        "value": _decimal_number(raw.get("value")),
        "attributed": bool(raw.get("attributed")),
        "models": {
            str(model): [
                {
                    "campaign": campaign,
                    "conversions": _decimal_number(share[0]),
                    "value": _decimal_number(share[1]),
                }
                for campaign, share in sorted(shares.items())
                if isinstance(share, list) and len(share) == 2
            ]
            for model, shares in sorted(models.items())
            if isinstance(shares, dict)
        },
    }


class EventBridgeSink:
    """EngagementScoreChanged when the score or tier moved, EngagementTierChanged when the tier moved, and
    EngagementRuleMatched / EngagementRuleCleared per window rule newly matched / cleared (#10)."""

    def __init__(
        self, client: Any, event_bus_name: str, source: str, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.event_bus_name = event_bus_name
        self.source = source
        self.sleep = sleep

    def entries(self, change: ScoreChange) -> list[dict[str, Any]]:
        detail = change_detail(change)
        detail_types = ["EngagementScoreChanged"] if change.score_changed else []
        if change.tier_changed:
            detail_types.append("EngagementTierChanged")
        entries = [
            {
                "Source": self.source,
                "DetailType": kind,
                "Detail": json.dumps(
                    {"event_id": publication_id(kind, change, detail), **detail}, separators=(",", ":")
                ),
                "EventBusName": self.event_bus_name,
            }
            for kind in detail_types
        ]
        # Window rules (#10): one event per rule newly matched or cleared in this batch.
        for kind, names in ((RULE_MATCHED, change.rules_matched), (RULE_CLEARED, change.rules_cleared)):
            for name in names:
                entries.append(
                    {
                        "Source": self.source,
                        "DetailType": kind,
                        "Detail": json.dumps(rule_detail(kind, change, name), separators=(",", ":")),
                        "EventBusName": self.event_bus_name,
                    }
                )
        return entries

    def publish(
        self, changes: Sequence[ScoreChange], conversions: Sequence[ConversionCredit] = ()
    ) -> SinkResult:
        result = SinkResult()
        pending = [(change.user_key, entry) for change in changes for entry in self.entries(change)]
        # Campaign attribution (#11): one ConversionAttributed per conversion a write of the batch credited.
        pending += [
            (
                credit.user_key,
                {
                    "Source": self.source,
                    "DetailType": CONVERSION_ATTRIBUTED,
                    "Detail": json.dumps(conversion_detail(credit), separators=(",", ":")),
                    "EventBusName": self.event_bus_name,
                },
            )
            for credit in conversions
        ]
        for attempt in range(SINK_ATTEMPTS):
            if not pending:
                break
            if attempt:
                self.sleep(backoff_delay(attempt))
            retry: list[tuple[str, dict[str, Any]]] = []
            for start in range(0, len(pending), EVENTBRIDGE_BATCH):
                chunk = pending[start : start + EVENTBRIDGE_BATCH]
                try:
                    response = self.client.put_events(Entries=[entry for _, entry in chunk])
                except Exception as exc:
                    result.errors.append(describe(exc))
                    if not is_retryable(exc):
                        result.failed_users.update(user_key for user_key, _ in chunk)
                    else:
                        retry.extend(chunk)
                    continue
                outcomes = response.get("Entries") or []
                for position, owned in enumerate(chunk):
                    outcome = outcomes[position] if position < len(outcomes) else {}
                    if outcome.get("EventId") and not outcome.get("ErrorCode"):
                        result.delivered += 1
                    else:
                        result.errors.append(str(outcome.get("ErrorCode", "NoEventId")))
                        retry.append(owned)
            pending = retry
        result.failed_users.update(user_key for user_key, _ in pending)
        return result


PROFILE_USER_KEY = "engagement_user_key"  # the profile key the object type indexes user keys under
PROFILE_CHANNELS = ("email", "sms", "push", "in_app", "custom")
PROFILE_TIER_TARGET = "_profile.Attributes.EngagementTier"
MISSING = "missing"


def profile_object_type() -> dict[str, Any]:
    """PutProfileObjectType's arguments besides DomainName and ObjectTypeName (docs/scoring.md says why).

    One object per user: `user_key` is the UNIQUE key (a new put replaces the user's object) and a
    PROFILE key (it ties the object to the profile holding that key, created when there is none). A user
    keyed by an address also carries it as `email_address` / `phone_number`, mapped into the standard
    profile and matched against the profile's own `_email` / `_phone` keys, after the user key
    (SECONDARY), so an existing profile with that address gets the score. The score and the channel
    scores are NUMBER fields (usable in calculated attributes), the tier is copied into the profile's
    Attributes (usable in segments as it is).
    """
    fields: dict[str, dict[str, str]] = {
        "user_key": {"Source": "_source.user_key", "ContentType": "STRING"},
        "score": {"Source": "_source.score", "ContentType": "NUMBER"},
        "tier": {"Source": "_source.tier", "ContentType": "STRING", "Target": PROFILE_TIER_TARGET},
        "updated_at": {"Source": "_source.updated_at", "ContentType": "STRING"},
    }
    for channel in PROFILE_CHANNELS:
        fields[f"channel_{channel}"] = {"Source": f"_source.channels.{channel}", "ContentType": "NUMBER"}
    fields["email_address"] = {
        "Source": "_source.email_address",
        "ContentType": "EMAIL_ADDRESS",
        "Target": "_profile.EmailAddress",
    }
    fields["phone_number"] = {
        "Source": "_source.phone_number",
        "ContentType": "PHONE_NUMBER",
        "Target": "_profile.PhoneNumber",
    }
    return {
        "Description": "Engagement score of one user, written by the engagement-scoring score sync",
        "AllowProfileCreation": True,
        "Fields": fields,
        "Keys": {
            PROFILE_USER_KEY: [{"StandardIdentifiers": ["PROFILE", "UNIQUE"], "FieldNames": ["user_key"]}],
            "_email": [{"StandardIdentifiers": ["PROFILE", "SECONDARY"], "FieldNames": ["email_address"]}],
            "_phone": [{"StandardIdentifiers": ["PROFILE", "SECONDARY"], "FieldNames": ["phone_number"]}],
        },
    }


def _iso_ms(epoch_ms: int) -> str:
    moment = dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def profile_object(change: ScoreChange) -> dict[str, Any]:
    """The EngagementScore object of one change: {user_key, score, channels, tier, rules, updated_at}."""
    body: dict[str, Any] = {
        "user_key": change.user_key,
        "score": json_number(change.score),
        "channels": {name: json_number(value) for name, value in sorted(change.channels.items())},
        "rules": list(change.rules),
    }
    if change.tier is not None:
        body["tier"] = change.tier
    if change.updated_at is not None:
        body["updated_at"] = _iso_ms(change.updated_at)
    address = address_of(change.user_key)
    if address is not None:
        kind, value = address
        body["email_address" if kind == "email" else "phone_number"] = value
    return body


class CustomerProfilesSink:
    """One PutProfileObject per changed user into the domain's score object type, a few at a time.

    The object type is checked once per execution environment (GetProfileObjectType) and created when
    missing and allowed (PutProfileObjectType; two environments creating it at once put the same
    definition, which is harmless). An existing type is never overwritten. A put that meets
    ResourceNotFoundException makes the next batch check again (the type or the domain was deleted).
    """

    def __init__(
        self,
        client: Any,
        domain: str,
        object_type: str,
        create_object_type: bool,
        sleep: Callable[[float], None] = time.sleep,
        concurrency: int = PROFILES_CONCURRENCY,
    ) -> None:
        self.client = client
        self.domain = domain
        self.object_type = object_type
        self.create_object_type = create_object_type
        self.sleep = sleep
        self.concurrency = concurrency
        self.object_type_ready = False
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def ensure_object_type(self) -> str | None:
        """None when the object type exists (now); else the error that keeps this batch from putting."""
        if self.object_type_ready:
            return None
        found = self._call(
            lambda: self.client.get_profile_object_type(
                DomainName=self.domain, ObjectTypeName=self.object_type
            ),
            missing_ok=True,
        )
        if found == MISSING:
            if not self.create_object_type:
                return "ObjectTypeMissing"
            found = self._call(
                lambda: self.client.put_profile_object_type(
                    DomainName=self.domain, ObjectTypeName=self.object_type, **profile_object_type()
                )
            )
        if found is None:
            self.object_type_ready = True
        return found

    def put(self, changes: Sequence[ScoreChange]) -> SinkResult:
        result = SinkResult()
        if not changes:
            return result
        error = self.ensure_object_type()
        if error is not None:
            result.errors.append(error)
            result.failed_users.update(change.user_key for change in changes)
            return result
        if len(changes) == 1:
            outcomes = [self._put_one(changes[0])]
        else:
            outcomes = list(self._executor().map(self._put_one, changes))
        for change, outcome in zip(changes, outcomes, strict=True):
            if outcome is None:
                result.delivered += 1
            else:
                result.errors.append(outcome)
                result.failed_users.add(change.user_key)
        if "ResourceNotFoundException" in result.errors:
            self.object_type_ready = False
        return result

    def _executor(self) -> ThreadPoolExecutor:
        # Imported on first use: concurrent.futures (and the logging it imports) costs ~10 ms of cold
        # start, which deployments without this sink should not pay (benchmark B4).
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="profiles")
            return self._pool

    def _put_one(self, change: ScoreChange) -> str | None:
        body = json.dumps(profile_object(change), separators=(",", ":"))
        return self._call(
            lambda: self.client.put_profile_object(
                DomainName=self.domain, ObjectTypeName=self.object_type, Object=body
            )
        )

    def _call(self, call: Callable[[], Any], missing_ok: bool = False) -> str | None:
        """None on success (MISSING for a ResourceNotFound when `missing_ok`), else the error code (after
        retrying transient errors)."""
        error = "not attempted"
        for attempt in range(SINK_ATTEMPTS):
            if attempt:
                self.sleep(backoff_delay(attempt))
            try:
                call()
                return None
            except Exception as exc:
                if missing_ok and error_code(exc) == "ResourceNotFoundException":
                    return MISSING
                error = describe(exc)
                if not is_retryable(exc):
                    return error
        return error
