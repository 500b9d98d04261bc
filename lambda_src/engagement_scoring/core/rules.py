"""Scoring rules: points per event type, the channel bucket and the once-per-message flag."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from engagement_scoring.core.limits import DEFAULT_PERIOD_HOURS, MAX_PERIOD_HOURS, Limit

CHANNELS = frozenset({"email", "sms", "push", "in_app", "custom"})

_PREFIX_CHANNELS = {
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

# The point table of the original "Amazon Pinpoint Engagement Scoring" solution. Terraform seeds the
# same table by default (var.score_rules); tests use this copy to prove the defaults reproduce it.
ORIGINAL_POINTS: Mapping[str, int] = {
    "_email.click": 50,
    "_email.open": 10,
    "_email.delivered": 2,
    "_email.hardbounce": -1000,
    "_email.complaint": -1000,
    "_email.unsubscribe": -500,
    "_SMS.SUCCESS": 2,
    "_SMS.OPTOUT": -500,
    "_campaign.send": 2,
    "_campaign.opened_notification": 50,
    "_campaign.received_foreground": 2,
    "_campaign.received_background": 2,
    "_session.start": 2,
    "_userauth.sign_up": 50,
    "_monetization.purchase": 100,
}


def derive_channel(event_type: str) -> str:
    """Channel of an event type from its prefix (`_email.open` -> email); anything unknown is custom."""
    return _PREFIX_CHANNELS.get(event_type.partition(".")[0], "custom")


@dataclass(frozen=True, slots=True)
class Rule:
    event_type: str
    points: Decimal
    channel: str | None = None
    once_per_message: bool = False
    # Point limit (#10, core/limits.py): at most max_points per UTC period of limit_period_hours.
    max_points: Decimal | None = None
    limit_period_hours: int | None = None
    # derive_channel(event_type), computed once per rule rather than once per counted event (B2).
    prefix_channel: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix_channel", derive_channel(self.event_type))

    def channel_for(self, event_channel: str | None) -> str:
        """The rule's channel wins, then the channel the event names (custom format), then the prefix."""
        return self.channel or event_channel or self.prefix_channel


def original_rules() -> dict[str, Rule]:
    """The original solution's rules: its points, no channel override, no once-per-message."""
    return {event_type: Rule(event_type, Decimal(points)) for event_type, points in ORIGINAL_POINTS.items()}


class InvalidRule(ValueError):
    """A rules-table item that cannot be used (it is skipped and reported, the others still apply)."""


def rule_from_item(item: Mapping[str, Any]) -> Rule:
    """Build a rule from a plain (deserialized) rules-table item."""
    event_type = item.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise InvalidRule("event_type missing")
    points = item.get("points")
    if isinstance(points, bool) or not isinstance(points, (int, Decimal, str)):
        raise InvalidRule("points missing or not a number")
    try:
        points_value = Decimal(points)
    except InvalidOperation as exc:
        raise InvalidRule("points not a number") from exc
    if not points_value.is_finite():
        raise InvalidRule("points not finite")
    channel = item.get("channel")
    if channel is not None and channel not in CHANNELS:
        raise InvalidRule("unknown channel")
    once = item.get("once_per_message", False)
    if not isinstance(once, bool):
        raise InvalidRule("once_per_message not a boolean")
    max_points, period_hours = _limit(item, points_value)
    return Rule(event_type, points_value, channel, once, max_points, period_hours)


def _limit(item: Mapping[str, Any], points: Decimal) -> tuple[Decimal | None, int | None]:
    """The optional point limit of a rules-table item: (max_points, limit_period_hours) or (None, None)."""
    max_points = item.get("max_points")
    period = item.get("limit_period_hours")
    if max_points is None:
        if period is not None:
            raise InvalidRule("limit_period_hours without max_points")
        return None, None
    if isinstance(max_points, bool) or not isinstance(max_points, (int, Decimal)):
        raise InvalidRule("max_points not a number")
    max_value = Decimal(max_points)
    if not max_value.is_finite() or max_value <= 0:
        raise InvalidRule("max_points must be > 0")
    if points <= 0:
        raise InvalidRule("max_points needs positive points")
    if period is None:
        period = DEFAULT_PERIOD_HOURS
    if isinstance(period, bool) or not isinstance(period, (int, Decimal)):
        raise InvalidRule("limit_period_hours not a number")
    period_value = Decimal(period)
    if (
        not period_value.is_finite()
        or period_value != period_value.to_integral_value()
        or not 1 <= period_value <= MAX_PERIOD_HOURS
    ):
        raise InvalidRule(f"limit_period_hours must be a whole number 1-{MAX_PERIOD_HOURS}")
    return max_value, int(period_value)


def limits_of(rules: Mapping[str, Rule]) -> dict[str, Limit]:
    """The point limits of the rules that have one, by event type."""
    return {
        event_type: Limit(rule.max_points, rule.limit_period_hours or DEFAULT_PERIOD_HOURS)
        for event_type, rule in rules.items()
        if rule.max_points is not None
    }


def rules_from_items(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Rule], list[str]]:
    """All valid rules by event type, and a description of each invalid item (no item contents)."""
    rules: dict[str, Rule] = {}
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            rule = rule_from_item(item)
        except InvalidRule as exc:
            problems.append(f"item {index}: {exc}")
            continue
        rules[rule.event_type] = rule
    return rules, problems
