"""SES event publishing records: every event type from AWS's documented samples, bare and EventBridge-
wrapped, user keys (tag, recipient address, keyed hash), recipients, times, identity and rejections."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

import pytest
from engagement_scoring.core.events import (
    DEFAULT_SETTINGS,
    FormatSettings,
    NormalizedEvent,
    RecordRejected,
    SkippedRecord,
)
from engagement_scoring.formats import normalize
from engagement_scoring.pipeline.scorer import decode_record
from engine_support import encode, eventbridge, load_event

MESSAGE_ID = "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
HASH_KEY = "an-example-hmac-key-of-32-chars!"
ADDRESSES = FormatSettings(recipient_user_key="address")
HASHED = FormatSettings(recipient_user_key="hashed_address", recipient_hash_key=HASH_KEY.encode())


def iso_ms(text: str) -> int:
    """Epoch ms of an SES timestamp, computed with strptime (not the engine's parser)."""
    moment = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    return round(moment.timestamp() * 1000)


# fixture -> (rule name, the timestamp the event must carry: its own sub-object's, else the mail's)
EXPECTED = {
    "ses/send.json": ("_email.send", "2016-10-14T05:02:16.645Z"),  # "send": {} has no time
    "ses/delivery.json": ("_email.delivered", "2016-10-19T23:21:04.133Z"),
    "ses/open.json": ("_email.open", "2017-08-09T22:00:19.652Z"),
    "ses/click.json": ("_email.click", "2017-08-09T23:51:25.570Z"),
    "ses/bounce_permanent.json": ("_email.hardbounce", "2017-08-05T00:41:02.669Z"),
    "ses/bounce_transient.json": ("_email.softbounce", "2017-08-05T00:41:02.669Z"),
    "ses/complaint.json": ("_email.complaint", "2017-08-05T00:41:02.669Z"),
    "ses/reject.json": ("_email.rejected", "2016-10-14T17:38:15.211Z"),
    "ses/rendering_failure.json": ("_email.rendering_failure", "2018-01-22T18:43:06.197Z"),
    "ses/delivery_delay.json": ("_email.delivery_delay", "2020-06-16T00:25:40.095Z"),
    "ses/subscription_unsubscribe.json": ("_email.unsubscribe", "2022-01-12T01:00:17.910Z"),
    "ses/subscription_opt_in.json": ("_email.subscription", "2022-01-12T01:00:17.910Z"),
}


def events(record: Any, settings: FormatSettings = DEFAULT_SETTINGS) -> list[NormalizedEvent]:
    results = normalize(record, settings)
    assert all(isinstance(result, NormalizedEvent) for result in results), results
    return [result for result in results if isinstance(result, NormalizedEvent)]


def untagged(name: str) -> dict[str, Any]:
    record = load_event(name)
    del record["mail"]["tags"]["user_key"]
    return record


def hmac_key(kind: str, address: str) -> str:
    return f"{kind}-hmac:" + hmac.new(HASH_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "eventbridge"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_event_type_normalizes_to_its_rule_name_and_time(name: str, wrapped: bool) -> None:
    # given a documented SES record tagged with the user and the campaign, bare or in EventBridge
    record = load_event(name)
    payload = eventbridge(record) if wrapped else record
    # when the scorer decodes it
    (event,) = decode_record(encode(payload))
    # then
    event_type, moment = EXPECTED[name]
    assert isinstance(event, NormalizedEvent)
    assert (event.user_key, event.event_type, event.timestamp_ms) == (
        "example-user-1",
        event_type,
        iso_ms(moment),
    )
    assert event.message_id == record["mail"]["messageId"]
    assert (event.campaign, event.metrics, event.endpoint_id, event.channel) == (
        "example-campaign",
        None,
        None,
        None,
    )
    assert event.identity is not None and event.content_key.startswith("e#")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_same_event_bare_or_wrapped_has_one_content_key(name: str) -> None:
    (bare,) = decode_record(encode(load_event(name)))
    (wrapped,) = decode_record(encode(eventbridge(load_event(name), event_id="another-delivery")))
    assert isinstance(bare, NormalizedEvent) and isinstance(wrapped, NormalizedEvent)
    assert bare.content_key == wrapped.content_key


def test_all_ten_event_types_are_covered() -> None:
    names = {load_event(name)["eventType"] for name in EXPECTED}
    assert names == {
        "Send",
        "Delivery",
        "Open",
        "Click",
        "Bounce",
        "Complaint",
        "Reject",
        "Rendering Failure",
        "DeliveryDelay",
        "Subscription",
    }


def test_two_events_of_one_message_have_different_content_keys() -> None:
    first = load_event("ses/open.json")
    second = load_event("ses/open.json")
    second["open"]["timestamp"] = "2017-08-09T22:05:19.652Z"
    (a,) = decode_record(encode(first))
    (b,) = decode_record(encode(second))
    assert isinstance(a, NormalizedEvent) and isinstance(b, NormalizedEvent)
    assert a.content_key != b.content_key


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        ({"unsubscribeAll": True}, {"unsubscribeAll": False}, "_email.unsubscribe"),
        ({"unsubscribeAll": True}, None, "_email.unsubscribe"),
        ({"unsubscribeAll": True}, {"unsubscribeAll": True}, "_email.subscription"),  # no change
        (
            {"topicSubscriptionStatus": [{"topicName": "news", "subscriptionStatus": "OptOut"}]},
            {"topicSubscriptionStatus": [{"topicName": "news", "subscriptionStatus": "OptIn"}]},
            "_email.unsubscribe",
        ),
        (
            {"topicSubscriptionStatus": [{"topicName": "news", "subscriptionStatus": "OptOut"}]},
            {"topicSubscriptionStatus": [{"topicName": "news", "subscriptionStatus": "OptOut"}]},
            "_email.subscription",
        ),
        (
            {"topicSubscriptionStatus": [{"topicName": "news", "subscriptionStatus": "OptIn"}]},
            {"topicSubscriptionStatus": [{"topicName": "news", "subscriptionStatus": "OptOut"}]},
            "_email.subscription",
        ),
        ({}, {}, "_email.subscription"),
    ],
)
def test_a_subscription_change_is_an_unsubscribe_when_it_newly_opts_out(
    new: dict[str, Any], old: dict[str, Any] | None, expected: str
) -> None:
    record = load_event("ses/subscription_unsubscribe.json")
    record["subscription"]["newTopicPreferences"] = new
    if old is None:
        del record["subscription"]["oldTopicPreferences"]
    else:
        record["subscription"]["oldTopicPreferences"] = old
    assert events(record)[0].event_type == expected


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined", None])
def test_every_bounce_that_is_not_permanent_is_soft(bounce_type: str | None) -> None:
    record = load_event("ses/bounce_permanent.json")
    record["bounce"]["bounceType"] = bounce_type
    assert events(record)[0].event_type == "_email.softbounce"


# ---- user keys -----------------------------------------------------------------------------------


def test_the_user_key_and_campaign_tags_are_module_inputs() -> None:
    record = load_event("ses/open.json")
    record["mail"]["tags"].update({"customer": ["c-42"], "promo": ["winter"]})
    settings = FormatSettings(user_key_tag="customer", campaign_tag="promo")
    (event,) = events(record, settings)
    assert (event.user_key, event.campaign) == ("c-42", "winter")


def test_without_a_user_tag_the_record_is_skipped_unless_recipients_are_opted_in() -> None:
    assert normalize(untagged("ses/delivery.json")) == [SkippedRecord("no_user_key")]
    (event,) = events(untagged("ses/delivery.json"), ADDRESSES)
    assert event.user_key == "email:recipient@example.com"
    (hashed,) = events(untagged("ses/delivery.json"), HASHED)
    assert hashed.user_key == hmac_key("email", "recipient@example.com")
    assert "recipient" not in hashed.user_key


def test_a_tag_wins_over_the_recipients() -> None:
    (event,) = events(load_event("ses/delivery.json"), ADDRESSES)
    assert event.user_key == "example-user-1"


def test_an_untagged_record_naming_several_recipients_gives_one_event_per_recipient() -> None:
    # given a bounce for two recipients, one named as `"Name" <Mixed@Case>`
    record = load_event("ses/bounce_two_recipients_untagged.json")
    # when
    bounced = events(record, ADDRESSES)
    # then each normalized address is its own user, with a content key of its own
    assert [event.user_key for event in bounced] == [
        "email:recipient1@example.com",
        "email:recipient2@example.com",
    ]
    assert {event.event_type for event in bounced} == {"_email.hardbounce"}
    assert len({event.identity for event in bounced}) == 2
    assert [event.user_key for event in events(record, HASHED)] == [
        hmac_key("email", "recipient1@example.com"),
        hmac_key("email", "recipient2@example.com"),
    ]


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("ses/delivery.json", ("delivery", "recipients")),
        ("ses/complaint.json", ("complaint", "complainedRecipients")),
        ("ses/delivery_delay.json", ("deliveryDelay", "delayedRecipients")),
    ],
)
def test_the_recipients_are_the_ones_the_event_names(name: str, where: tuple[str, str]) -> None:
    # given a message to two recipients of which the event concerns one
    record = untagged(name)
    record["mail"]["destination"] = ["recipient@example.com", "recipient2@example.com"]
    named = record[where[0]][where[1]]
    assert len(named) == 1
    # then only that one gets an event
    assert [event.user_key for event in events(record, ADDRESSES)] == ["email:recipient@example.com"]


@pytest.mark.parametrize("name", ["ses/send.json", "ses/reject.json", "ses/rendering_failure.json"])
def test_events_of_the_whole_message_concern_every_destination(name: str) -> None:
    record = untagged(name)
    record["mail"]["destination"] = ["recipient1@example.com", "recipient2@example.com"]
    assert [event.user_key for event in events(record, ADDRESSES)] == [
        "email:recipient1@example.com",
        "email:recipient2@example.com",
    ]


@pytest.mark.parametrize("name", ["ses/open.json", "ses/click.json", "ses/subscription_unsubscribe.json"])
def test_opens_clicks_and_subscriptions_use_the_destination_only_when_there_is_one(name: str) -> None:
    # an open names nobody: with one destination it is that recipient's, with several nobody's
    (event,) = events(untagged(name), ADDRESSES)
    assert event.user_key == "email:recipient@example.com"
    record = untagged(name)
    record["mail"]["destination"] = ["recipient1@example.com", "recipient2@example.com"]
    assert normalize(record, ADDRESSES) == [SkippedRecord("no_user_key")]


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("recipient@example.com", "email:recipient@example.com"),
        ("  Recipient@EXAMPLE.com ", "email:recipient@example.com"),
        ('"Recipient Name" <Recipient@Example.com>', "email:recipient@example.com"),
        ("Recipient Name <recipient@example.com>", "email:recipient@example.com"),
    ],
)
def test_addresses_are_normalized(written: str, key: str) -> None:
    record = untagged("ses/delivery.json")
    record["delivery"]["recipients"] = [written]
    assert [event.user_key for event in events(record, ADDRESSES)] == [key]


@pytest.mark.parametrize("written", ["", "not an address", "a@b", "two@@example.com", "<>", 7, None])
def test_an_address_that_cannot_be_normalized_is_no_user_key(written: Any) -> None:
    record = untagged("ses/delivery.json")
    record["delivery"]["recipients"] = [written]
    assert normalize(record, ADDRESSES) == [SkippedRecord("no_user_key")]


# ---- details, times and rejections ----------------------------------------------------------------


def test_opens_and_clicks_carry_what_classifiers_read() -> None:
    (click,) = events(load_event("ses/click.json"))
    assert dict(click.details or {}) == {
        "send_time_ms": iso_ms("2017-08-09T23:50:05.795Z"),
        "ip": "192.0.2.1",
        "user_agent": (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/60.0.3112.90 Safari/537.36"
        ),
        "link": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
    }
    with pytest.raises(TypeError):
        click.details["ip"] = "198.51.100.1"  # type: ignore[index]
    assert events(load_event("ses/delivery.json"))[0].details is None


def test_records_without_event_publishing_name_the_type_notification_type() -> None:
    record = load_event("ses/bounce_permanent.json")
    record["notificationType"] = record.pop("eventType")
    assert events(record)[0].event_type == "_email.hardbounce"


def test_an_unknown_future_event_type_gets_a_rule_name_of_its_own() -> None:
    record = load_event("ses/send.json")
    record["eventType"] = "Email Forwarded"
    (event,) = events(record)
    assert (event.event_type, event.timestamp_ms) == (
        "_email.email_forwarded",
        iso_ms("2016-10-14T05:02:16.645Z"),
    )


def mutated(name: str, path: tuple[str, ...], value: Any) -> dict[str, Any]:
    record = load_event(name)
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    if value is KeyError:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return record


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (mutated("ses/open.json", ("eventType",), 5), "missing_event_type"),
        (mutated("ses/open.json", ("mail",), "x"), "missing_mail"),
        (mutated("ses/open.json", ("mail", "messageId"), KeyError), "missing_message_id"),
        (mutated("ses/open.json", ("mail", "messageId"), "m" * 1100), "field_too_long"),
        (mutated("ses/open.json", ("open", "timestamp"), "yesterday"), "bad_timestamp"),
        (mutated("ses/open.json", ("open", "timestamp"), "2017-08-09T22:00:19.652"), "bad_timestamp"),
        (mutated("ses/send.json", ("mail", "timestamp"), KeyError), "bad_timestamp"),
        (mutated("ses/open.json", ("mail", "tags", "user_key"), ["u" * 600]), "field_too_long"),
        (mutated("ses/open.json", ("mail", "tags", "campaign"), ["c" * 600]), "field_too_long"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(RecordRejected) as rejected:
        normalize(record)
    assert rejected.value.reason == reason


def test_a_missing_or_odd_tag_value_is_no_tag() -> None:
    odd: list[Any] = [[], [""], [7], {}, None]
    for value in odd:
        record = load_event("ses/open.json")
        record["mail"]["tags"]["user_key"] = value
        assert normalize(record) == [SkippedRecord("no_user_key")]
