"""The scorer's settings of the successor formats: defaults from the contract and clear errors."""

from __future__ import annotations

import pytest
from engagement_scoring.core.config import ConfigError, ScorerConfig
from engagement_scoring.core.events import FormatSettings

BASE = {"RULES_TABLE": "r", "SCORES_TABLE": "s", "PROCESSED_EVENTS_TABLE": "p", "FAILURE_QUEUE_URL": "q"}


def config(**env: str) -> ScorerConfig:
    return ScorerConfig.from_env({**BASE, **env})


def test_defaults_are_the_contracts() -> None:
    settings = config()
    assert (settings.user_key_tag, settings.campaign_tag, settings.recipient_user_key) == (
        "user_key",
        "campaign",
        "none",
    )
    assert (settings.recipient_hash_key_parameter, settings.max_clock_skew_seconds) == ("", 3600.0)
    assert settings.publish_min_delta == 0  # unset: every change is published
    assert settings.format_settings() == FormatSettings()


def test_values_are_read() -> None:
    settings = config(
        USER_KEY_TAG="customer-id",
        CAMPAIGN_TAG="promo_code",
        RECIPIENT_USER_KEY="hashed_address",
        RECIPIENT_HASH_KEY_PARAMETER="/engagement/recipient-hash-key",
        MAX_CLOCK_SKEW_SECONDS="600",
        USER_KEY_MODE="user_id",
        SCORE_PUBLISH_MIN_DELTA="7.5",
    )
    assert settings.max_clock_skew_seconds == 600.0
    assert str(settings.publish_min_delta) == "7.5"
    formats = settings.format_settings("k" * 32)
    assert (formats.user_key_tag, formats.campaign_tag, formats.recipient_user_key) == (
        "customer-id",
        "promo_code",
        "hashed_address",
    )
    assert (formats.user_key_mode, formats.recipient_hash_key) == ("user_id", b"k" * 32)
    assert "k" * 32 not in repr(formats)  # the key never reaches a log line through a repr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"USER_KEY_TAG": "user key"}, "USER_KEY_TAG must be"),
        ({"USER_KEY_TAG": "x" * 257}, "USER_KEY_TAG must be"),
        ({"CAMPAIGN_TAG": "camp@ign"}, "CAMPAIGN_TAG must be"),
        ({"RECIPIENT_USER_KEY": "phone"}, "RECIPIENT_USER_KEY must be one of none, address, hashed_address"),
        ({"RECIPIENT_USER_KEY": "hashed_address"}, "RECIPIENT_HASH_KEY_PARAMETER must name"),
        ({"RECIPIENT_HASH_KEY_PARAMETER": "bad name!"}, "RECIPIENT_HASH_KEY_PARAMETER must be"),
        ({"MAX_CLOCK_SKEW_SECONDS": "-1"}, "MAX_CLOCK_SKEW_SECONDS must not be negative"),
        ({"MAX_CLOCK_SKEW_SECONDS": "an hour"}, "MAX_CLOCK_SKEW_SECONDS must be a number"),
        ({"MAX_CLOCK_SKEW_SECONDS": "Infinity"}, "MAX_CLOCK_SKEW_SECONDS must be finite"),
        ({"SCORE_PUBLISH_MIN_DELTA": "-1"}, "SCORE_PUBLISH_MIN_DELTA must not be negative"),
        ({"SCORE_PUBLISH_MIN_DELTA": "ten"}, "SCORE_PUBLISH_MIN_DELTA must be a number"),
    ],
)
def test_invalid_values_are_a_config_error_that_names_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config(**env)


@pytest.mark.parametrize(
    "parameter",
    [
        "engagement-hash-key",
        "/engagement/recipient-hash-key",
        "arn:aws:ssm:us-east-1:123456789012:parameter/key",
    ],
)
def test_parameter_names_and_arns_are_accepted(parameter: str) -> None:
    assert config(RECIPIENT_HASH_KEY_PARAMETER=parameter).recipient_hash_key_parameter == parameter


@pytest.mark.parametrize("value", [None, "", "too-short"])
def test_a_hash_key_must_be_long_enough(value: str | None) -> None:
    settings = config(RECIPIENT_USER_KEY="hashed_address", RECIPIENT_HASH_KEY_PARAMETER="/k")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        settings.format_settings(value)
