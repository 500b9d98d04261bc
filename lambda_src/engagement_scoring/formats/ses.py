"""Amazon SES event publishing records (configuration-set event destinations), all ten event types.

    {"eventType": "Open", "mail": {"timestamp": "...", "messageId": "...", "destination": [...],
     "tags": {"user_key": ["u-123"], "campaign": ["spring-sale"], ...}, ...},
     "open": {"timestamp": "2017-08-09T22:00:19.652Z", "ipAddress": "...", "userAgent": "..."}}

Field map, event-type table and user-key rules: docs/formats.md. In short: the user is the tag named by
USER_KEY_TAG; without it, and only when RECIPIENT_USER_KEY opts in, each recipient the event names is
a user of its own (one event per recipient); otherwise the record is skipped as `no_user_key`.
Records without event publishing name the type `notificationType`; they are read the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from types import MappingProxyType
from typing import Any

from engagement_scoring.core.events import (
    MAX_MESSAGE_ID_BYTES,
    MAX_USER_KEY_BYTES,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.formats.fields import campaign, first_tag_value, iso_or_epoch_ms, required_text
from engagement_scoring.formats.recipients import EMAIL, normalized_email, recipient_user_key

NAME = "ses"

# eventType -> (the sub-object that describes it, the rule name; None: decided per record)
EVENT_TYPES: Mapping[str, tuple[str, str | None]] = {
    "Send": ("send", "_email.send"),
    "Delivery": ("delivery", "_email.delivered"),
    "Open": ("open", "_email.open"),
    "Click": ("click", "_email.click"),
    "Bounce": ("bounce", None),  # Permanent: hard bounce, anything else: soft bounce
    "Complaint": ("complaint", "_email.complaint"),
    "Reject": ("reject", "_email.rejected"),
    "Rendering Failure": ("failure", "_email.rendering_failure"),
    "DeliveryDelay": ("deliveryDelay", "_email.delivery_delay"),
    "Subscription": ("subscription", None),  # unsubscribe, or another subscription change
}
# Where an event type names the recipients it concerns: (list in the sub-object, key of each item;
# None: the items are the addresses).
_RECIPIENT_LISTS: Mapping[str, tuple[str, str | None]] = {
    "Bounce": ("bouncedRecipients", "emailAddress"),
    "Complaint": ("complainedRecipients", "emailAddress"),
    "Delivery": ("recipients", None),
    "DeliveryDelay": ("delayedRecipients", "emailAddress"),
}
# Events of the whole message: every destination is a recipient.
_WHOLE_MESSAGE = frozenset({"Send", "Reject", "Rendering Failure"})
# Open, Click and Subscription name no recipient: the destination stands in only when there is one.
_OPT_OUT = "OptOut"


def matches(record: dict[str, Any]) -> bool:
    return "mail" in record and ("eventType" in record or "notificationType" in record)


def _event_type_name(record: dict[str, Any]) -> str:
    name = record.get("eventType")
    if name is None:
        name = record.get("notificationType")
    if not isinstance(name, str) or not name:
        raise RecordRejected("missing_event_type")
    return name


def _opted_out_topics(preferences: Any) -> set[str]:
    statuses = preferences.get("topicSubscriptionStatus") if isinstance(preferences, dict) else None
    if not isinstance(statuses, list):
        return set()
    return {
        str(status.get("topicName"))
        for status in statuses
        if isinstance(status, dict) and status.get("subscriptionStatus") == _OPT_OUT
    }


def is_unsubscribe(subscription: Any) -> bool:
    """A Subscription event that newly unsubscribes from all topics or opts out of any topic."""
    if not isinstance(subscription, dict):
        return False
    new, old = subscription.get("newTopicPreferences"), subscription.get("oldTopicPreferences")
    new_all = isinstance(new, dict) and new.get("unsubscribeAll") is True
    old_all = isinstance(old, dict) and old.get("unsubscribeAll") is True
    if new_all and not old_all:
        return True
    return bool(_opted_out_topics(new) - _opted_out_topics(old))


def rule_event_type(name: str, sub: Any) -> str:
    """The rule name for an SES event type (unknown future types: `_email.` + the lower-case name)."""
    known = EVENT_TYPES.get(name)
    if known is not None and known[1] is not None:
        return known[1]
    if name == "Bounce":
        bounce_type = sub.get("bounceType") if isinstance(sub, dict) else None
        return "_email.hardbounce" if bounce_type == "Permanent" else "_email.softbounce"
    if name == "Subscription":
        return "_email.unsubscribe" if is_unsubscribe(sub) else "_email.subscription"
    return "_email." + name.lower().replace(" ", "_")


def recipients(name: str, sub: Any, mail: dict[str, Any]) -> list[str]:
    """The normalized, distinct addresses the event concerns (it may name none)."""
    listed: list[Any] | None = None
    where = _RECIPIENT_LISTS.get(name)
    if where is not None and isinstance(sub, dict):
        items = sub.get(where[0])
        if isinstance(items, list):
            field = where[1]
            listed = (
                items
                if field is None
                else [item.get(field) if isinstance(item, dict) else None for item in items]
            )
    if listed is None:
        destination = mail.get("destination")
        destination = destination if isinstance(destination, list) else []
        listed = destination if name in _WHOLE_MESSAGE or len(destination) == 1 else []
    found: dict[str, None] = {}
    for value in listed:
        address = normalized_email(value)
        if address is not None:
            found[address] = None
    return list(found)


def _details(name: str, sub: Any, mail: dict[str, Any]) -> Mapping[str, str | int] | None:
    """What #13's classifiers read of an open or a click: send time, user agent, IP, link."""
    if name not in ("Open", "Click") or not isinstance(sub, dict):
        return None
    details: dict[str, str | int] = {}
    with suppress(RecordRejected):  # the event keeps its own time; only this detail is missing
        details["send_time_ms"] = iso_or_epoch_ms(mail.get("timestamp"))
    for field, key in (("userAgent", "user_agent"), ("ipAddress", "ip"), ("link", "link")):
        value = sub.get(field)
        if isinstance(value, str) and value:
            details[key] = value
    return MappingProxyType(details)


def _distinguishing(name: str, sub: Any) -> Any:
    """Within one message and type, what tells two events apart besides their time."""
    if not isinstance(sub, dict):
        return None
    if name in ("Bounce", "Complaint"):
        return sub.get("feedbackId")
    if name == "Click":
        return sub.get("link")
    if name == "Open":
        return [sub.get("ipAddress"), sub.get("userAgent")]
    if name == "Subscription":
        return [sub.get("contactList"), sub.get("source")]
    return None


def normalize(
    record: dict[str, Any], settings: FormatSettings, received_ms: int | None = None
) -> list[NormalizedEvent | SkippedRecord]:
    name = _event_type_name(record)
    mail = record.get("mail")
    if not isinstance(mail, dict):
        raise RecordRejected("missing_mail")
    message_id = required_text(mail.get("messageId"), "missing_message_id", MAX_MESSAGE_ID_BYTES)
    sub_key = EVENT_TYPES[name][0] if name in EVENT_TYPES else name[:1].lower() + name[1:]
    sub = record.get(sub_key)
    sent_at = mail.get("timestamp")
    moment = sub.get("timestamp") if isinstance(sub, dict) else None
    timestamp = iso_or_epoch_ms(moment if moment is not None else sent_at)
    event_type = rule_event_type(name, sub)
    tags = mail.get("tags")
    campaign_name = campaign(first_tag_value(tags, settings.campaign_tag))
    details = _details(name, sub, mail)
    identity_parts = [NAME, name, message_id, moment if moment is not None else sent_at]
    identity_parts.append(_distinguishing(name, sub))

    tagged = first_tag_value(tags, settings.user_key_tag)
    if tagged is not None:
        user_keys = [required_text(tagged, "missing_user_key", MAX_USER_KEY_BYTES)]
    elif settings.recipient_user_key == "none":
        return [SkippedRecord("no_user_key")]
    else:
        user_keys = [
            key
            for key in (
                recipient_user_key(EMAIL, address, settings) for address in recipients(name, sub, mail)
            )
            if key is not None
        ]
        if not user_keys:
            return [SkippedRecord("no_user_key")]
    events: list[NormalizedEvent | SkippedRecord] = []
    for user_key in user_keys:
        identity = json.dumps([*identity_parts, user_key], separators=(",", ":"))
        events.append(
            NormalizedEvent(
                user_key,
                event_type,
                timestamp,
                None,
                message_id,
                None,
                "",
                campaign_name,
                None,
                False,
                identity,
                details,
            )
        )
    return events
