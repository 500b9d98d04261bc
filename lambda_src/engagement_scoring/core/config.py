"""Settings of both functions, read from environment variables (names and defaults: docs/architecture.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from engagement_scoring.core.attribution import AttributionConfig, InvalidAttribution
from engagement_scoring.core.attribution import config_from_env as attribution_from_env
from engagement_scoring.core.events import RECIPIENT_USER_KEYS, USER_KEY_MODES, FormatSettings
from engagement_scoring.core.machine import DEFAULT_POLICY, InvalidPolicy, MachinePolicy, parse_policy
from engagement_scoring.core.model import InvalidTiers, ScoringModel, parse_tiers
from engagement_scoring.core.windows import InvalidWindowRules, WindowRule, parse_window_rules

# SES message tag names allow these characters (and SMS context keys are free text), so one name
# works for both.
_TAG_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")
# An SSM parameter name (/path/name or name) or its ARN.
_PARAMETER = re.compile(r"(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter)?[A-Za-z0-9_.\-/]{1,2048}")
# The HMAC key must not be guessable: at least this many characters (docs/formats.md suggests 32
# random bytes, base64-encoded).
MIN_HASH_KEY_CHARS = 16


class ConfigError(ValueError):
    """An environment variable has a value the function cannot work with."""


def _decimal(env: Mapping[str, str], name: str, default: str | None) -> Decimal | None:
    text = env.get(name, "").strip() or default
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise ConfigError(f"{name} must be a number") from exc
    if not value.is_finite():
        raise ConfigError(f"{name} must be finite")
    return value


def _tag_name(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not _TAG_NAME.fullmatch(value):
        raise ConfigError(f"{name} must be 1 to 256 letters, digits, '_' or '-'")
    return value


def _number(env: Mapping[str, str], name: str, default: str) -> Decimal:
    value = _decimal(env, name, default)
    assert value is not None  # a default is given
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text not in ("true", "false"):
        raise ConfigError(f"{name} must be true or false")
    return text == "true"


def _name(env: Mapping[str, str], name: str, default: str, pattern: re.Pattern[str], rule: str) -> str:
    text = env.get(name, "").strip() or default
    if text and not pattern.fullmatch(text):
        raise ConfigError(f"{name} must be {rule}")
    return text


# The Customer Profiles API's own patterns (botocore model: `name`, `typeName`); a type name starting with
# "_" is reserved for the service's standard object types.
PROFILES_DOMAIN_PATTERN = re.compile(r"[a-zA-Z0-9_-]{1,64}")
PROFILES_OBJECT_TYPE_PATTERN = re.compile(r"[a-zA-Z][a-zA-Z_0-9-]{0,254}")


@dataclass(frozen=True, slots=True)
class ScorerConfig:
    rules_table: str
    scores_table: str
    processed_events_table: str
    failure_queue_url: str
    user_key_mode: str = "auto"
    model: ScoringModel = field(default_factory=ScoringModel)
    rules_cache_ttl_seconds: float = 60.0
    dedupe_ttl_hours: float = 168.0
    once_per_message_ttl_hours: float = 2160.0
    metrics_namespace: str = "EngagementScoring"
    log_level: str = "INFO"
    user_key_tag: str = "user_key"
    campaign_tag: str = "campaign"
    recipient_user_key: str = "none"
    recipient_hash_key_parameter: str = ""
    max_clock_skew_seconds: float = 3600.0
    machine: MachinePolicy = DEFAULT_POLICY
    # Publication threshold (points, docs/scoring.md "Publication threshold"): a write sets `pub` (and so
    # reaches the sinks) when the score moved this much since the last publication, or the tier changed.
    publish_min_delta: Decimal = Decimal(0)
    window_rules: tuple[WindowRule, ...] = ()
    # Campaign attribution (#11): on when CAMPAIGN_ATTRIBUTION_TABLE names the per-campaign table.
    campaign_table: str = ""
    attribution: AttributionConfig | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScorerConfig:
        mode = env.get("USER_KEY_MODE", "").strip() or "auto"
        if mode not in USER_KEY_MODES:
            raise ConfigError(f"USER_KEY_MODE must be one of {', '.join(USER_KEY_MODES)}")
        recipient_user_key = env.get("RECIPIENT_USER_KEY", "").strip() or "none"
        if recipient_user_key not in RECIPIENT_USER_KEYS:
            raise ConfigError(f"RECIPIENT_USER_KEY must be one of {', '.join(RECIPIENT_USER_KEYS)}")
        hash_key_parameter = env.get("RECIPIENT_HASH_KEY_PARAMETER", "").strip()
        if recipient_user_key == "hashed_address" and not hash_key_parameter:
            raise ConfigError("RECIPIENT_HASH_KEY_PARAMETER must name the SSM parameter for hashed_address")
        if hash_key_parameter and not _PARAMETER.fullmatch(hash_key_parameter):
            raise ConfigError("RECIPIENT_HASH_KEY_PARAMETER must be an SSM parameter name or ARN")
        try:
            tiers = parse_tiers(env.get("TIERS", "").strip() or "[]")
            model = ScoringModel(
                half_life_hours=_number(env, "DECAY_HALF_LIFE_HOURS", "0"),
                floor=_decimal(env, "SCORE_FLOOR", None),
                ceiling=_decimal(env, "SCORE_CEILING", None),
                tiers=tiers,
                tier_hysteresis=_number(env, "TIER_HYSTERESIS_POINTS", "0"),
            )
        except (InvalidTiers, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        try:
            machine = parse_policy(env.get("MACHINE_ENGAGEMENT", ""))
        except InvalidPolicy as exc:
            raise ConfigError(f"MACHINE_ENGAGEMENT: {exc}") from exc
        try:
            window_rules = parse_window_rules(env.get("WINDOW_RULES", ""))
        except InvalidWindowRules as exc:
            raise ConfigError(f"WINDOW_RULES: {exc}") from exc
        campaign_table = env.get("CAMPAIGN_ATTRIBUTION_TABLE", "").strip()
        try:
            attribution = attribution_from_env(env) if campaign_table else None
        except InvalidAttribution as exc:
            raise ConfigError(f"attribution: {exc}") from exc
        return cls(
            rules_table=env.get("RULES_TABLE", ""),
            scores_table=env.get("SCORES_TABLE", ""),
            processed_events_table=env.get("PROCESSED_EVENTS_TABLE", ""),
            failure_queue_url=env.get("FAILURE_QUEUE_URL", ""),
            user_key_mode=mode,
            model=model,
            rules_cache_ttl_seconds=float(_number(env, "RULES_CACHE_TTL_SECONDS", "60")),
            dedupe_ttl_hours=float(_number(env, "DEDUPE_TTL_HOURS", "168")),
            once_per_message_ttl_hours=float(_number(env, "ONCE_PER_MESSAGE_TTL_HOURS", "2160")),
            metrics_namespace=env.get("METRICS_NAMESPACE", "").strip() or "EngagementScoring",
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
            user_key_tag=_tag_name(env, "USER_KEY_TAG", "user_key"),
            campaign_tag=_tag_name(env, "CAMPAIGN_TAG", "campaign"),
            recipient_user_key=recipient_user_key,
            recipient_hash_key_parameter=hash_key_parameter,
            max_clock_skew_seconds=float(_number(env, "MAX_CLOCK_SKEW_SECONDS", "3600")),
            machine=machine,
            publish_min_delta=_number(env, "SCORE_PUBLISH_MIN_DELTA", "0"),
            window_rules=window_rules,
            campaign_table=campaign_table,
            attribution=attribution,
        )

    def format_settings(self, recipient_hash_key: str | None = None) -> FormatSettings:
        """What the normalizers read; `recipient_hash_key` is the SSM parameter's value (hashed_address)."""
        key: bytes | None = None
        if self.recipient_user_key == "hashed_address":
            if recipient_hash_key is None or len(recipient_hash_key) < MIN_HASH_KEY_CHARS:
                raise ConfigError(
                    f"the parameter {self.recipient_hash_key_parameter} must hold at least "
                    f"{MIN_HASH_KEY_CHARS} characters"
                )
            key = recipient_hash_key.encode("utf-8")
        return FormatSettings(
            self.user_key_mode, self.user_key_tag, self.campaign_tag, self.recipient_user_key, key
        )


@dataclass(frozen=True, slots=True)
class SyncConfig:
    pinpoint_application_id: str = ""
    pinpoint_score_metric: str = "EngagementScore"
    pinpoint_tier_attribute: str = "EngagementTier"
    event_bus_name: str = ""
    event_source: str = "engagement.scoring"
    customer_profiles_domain: str = ""
    customer_profiles_object_type: str = "EngagementScore"
    customer_profiles_create_object_type: bool = True
    metrics_namespace: str = "EngagementScoring"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SyncConfig:
        return cls(
            pinpoint_application_id=env.get("PINPOINT_APPLICATION_ID", "").strip(),
            pinpoint_score_metric=env.get("PINPOINT_SCORE_METRIC", "").strip() or "EngagementScore",
            pinpoint_tier_attribute=env.get("PINPOINT_TIER_ATTRIBUTE", "").strip() or "EngagementTier",
            event_bus_name=env.get("EVENT_BUS_NAME", "").strip(),
            event_source=env.get("EVENT_SOURCE", "").strip() or "engagement.scoring",
            customer_profiles_domain=_name(
                env, "CUSTOMER_PROFILES_DOMAIN", "", PROFILES_DOMAIN_PATTERN, "1-64 of A-Z a-z 0-9 _ -"
            ),
            customer_profiles_object_type=_name(
                env,
                "CUSTOMER_PROFILES_OBJECT_TYPE",
                "EngagementScore",
                PROFILES_OBJECT_TYPE_PATTERN,
                "a letter, then up to 254 of A-Z a-z 0-9 _ -",
            ),
            customer_profiles_create_object_type=_flag(env, "CUSTOMER_PROFILES_CREATE_OBJECT_TYPE", True),
            metrics_namespace=env.get("METRICS_NAMESPACE", "").strip() or "EngagementScoring",
            log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
        )
