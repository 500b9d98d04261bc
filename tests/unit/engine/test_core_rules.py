"""The rule model: the original point table, channel derivation and rules-table items."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.core.rules import (
    ORIGINAL_POINTS,
    InvalidRule,
    Rule,
    derive_channel,
    original_rules,
    rule_from_item,
    rules_from_items,
)

# The original solution's table, written out independently of ORIGINAL_POINTS (domain.md).
EXPECTED_ORIGINAL = [
    ("_email.click", 50, "email"),
    ("_email.open", 10, "email"),
    ("_email.delivered", 2, "email"),
    ("_email.hardbounce", -1000, "email"),
    ("_email.complaint", -1000, "email"),
    ("_email.unsubscribe", -500, "email"),
    ("_SMS.SUCCESS", 2, "sms"),
    ("_SMS.OPTOUT", -500, "sms"),
    ("_campaign.send", 2, "push"),
    ("_campaign.opened_notification", 50, "push"),
    ("_campaign.received_foreground", 2, "push"),
    ("_campaign.received_background", 2, "push"),
    ("_session.start", 2, "in_app"),
    ("_userauth.sign_up", 50, "in_app"),
    ("_monetization.purchase", 100, "in_app"),
]


@pytest.mark.parametrize(("event_type", "points", "channel"), EXPECTED_ORIGINAL)
def test_every_original_rule_has_its_points_and_channel(event_type: str, points: int, channel: str) -> None:
    # given the default rules
    rules = original_rules()
    # then each original event type scores its original points in the channel of its prefix
    assert rules[event_type].points == Decimal(points)
    assert rules[event_type].channel_for(None) == channel
    assert rules[event_type].once_per_message is False


def test_the_original_table_has_exactly_the_fifteen_rules() -> None:
    assert set(ORIGINAL_POINTS) == {event_type for event_type, _, _ in EXPECTED_ORIGINAL}


@pytest.mark.parametrize(
    ("event_type", "channel"),
    [
        ("_email.open", "email"),
        ("_SMS.OPTOUT", "sms"),
        ("_sms.optout", "custom"),  # prefixes are case-sensitive, as Pinpoint spells them
        ("_campaign.send", "push"),
        ("_push.received", "push"),
        ("_journey.send", "push"),
        ("_session.start", "in_app"),
        ("_userauth.sign_in", "in_app"),
        ("_monetization.purchase", "in_app"),
        ("_in_app.message_displayed", "in_app"),
        ("purchase_completed", "custom"),
        ("webinar_attended", "custom"),
        ("_email", "email"),
    ],
)
def test_channel_is_derived_from_the_event_type_prefix(event_type: str, channel: str) -> None:
    assert derive_channel(event_type) == channel


def test_rule_channel_wins_over_event_channel_which_wins_over_prefix() -> None:
    assert Rule("_email.open", Decimal(1), channel="custom").channel_for("sms") == "custom"
    assert Rule("_email.open", Decimal(1)).channel_for("sms") == "sms"
    assert Rule("_email.open", Decimal(1)).channel_for(None) == "email"


def test_rules_table_items_become_rules_and_invalid_items_are_reported() -> None:
    # given plain items as a Scan returns them (numbers as Decimal)
    items: list[dict[str, Any]] = [
        {"event_type": "_email.open", "points": Decimal(5), "once_per_message": True},
        {"event_type": "webinar_attended", "points": Decimal("12.5"), "channel": "custom"},
        {"event_type": "broken", "points": "many"},
        {"points": Decimal(1)},
        {"event_type": "bad_channel", "points": Decimal(1), "channel": "fax"},
    ]
    # when
    rules, problems = rules_from_items(items)
    # then
    assert rules == {
        "_email.open": Rule("_email.open", Decimal(5), None, True),
        "webinar_attended": Rule("webinar_attended", Decimal("12.5"), "custom", False),
    }
    assert len(problems) == 3


@pytest.mark.parametrize(
    "item",
    [
        {"event_type": "x", "points": True},
        {"event_type": "x", "points": Decimal("NaN")},
        {"event_type": "x", "points": Decimal(1), "once_per_message": "yes"},
        {"event_type": "", "points": Decimal(1)},
    ],
)
def test_invalid_rule_items_are_refused(item: dict[str, object]) -> None:
    with pytest.raises(InvalidRule):
        rule_from_item(item)
