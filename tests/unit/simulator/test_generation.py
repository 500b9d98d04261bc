"""The population and the funnels: reproducible, unique, AWS-shaped, with the configured rates."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from functools import cache
from typing import Any

import pytest

from simulator.funnels import ActivityMix, FunnelRates
from simulator.oracle import parse
from simulator.population import APNS, EMAIL, GCM, SMS, PopulationConfig, build_population
from simulator.workload import DEFAULT_PERIOD_END_MS, WorkloadConfig, generate

PINPOINT = ("pinpoint",)  # these tests check the Pinpoint funnels

DAY_MS = 86_400_000
ENVELOPE = {
    "event_type",
    "event_timestamp",
    "arrival_timestamp",
    "event_version",
    "application",
    "client",
    "device",
    "session",
    "attributes",
    "awsAccountId",
}
CAMPAIGN_KEYS = ("campaign_id", "campaign_activity_id", "treatment_id")
JOURNEY_KEYS = ("journey_id", "journey_run_id", "journey_activity_id")


@cache
def default_workload(seed: int = 11) -> list[bytes]:
    return [
        r.data
        for r in generate(WorkloadConfig(formats=PINPOINT, users=1500, events=20000, seed=seed)).records
    ]


@cache
def parsed(seed: int = 11) -> list[dict[str, Any]]:
    return [json.loads(d) for d in default_workload(seed)]


# ---- population ----------------------------------------------------------------------------------


def test_population_is_reproducible_and_seed_dependent() -> None:
    a, b = build_population(PopulationConfig(users=300), 5), build_population(PopulationConfig(users=300), 5)
    c = build_population(PopulationConfig(users=300), 6)

    def fingerprint(p: Any) -> list[tuple[Any, ...]]:
        return [(u.user_id, u.first_name, [(e.endpoint_id, e.address) for e in u.endpoints]) for u in p.users]

    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(a) != fingerprint(c)


def test_population_has_every_channel_multi_endpoint_users_and_anonymous_devices() -> None:
    users = build_population(PopulationConfig(users=2000), 3).users
    channels = Counter(e.channel_type for u in users for e in u.endpoints)
    assert all(channels[c] > 100 for c in (EMAIL, SMS, GCM, APNS))
    assert sum(1 for u in users if len(u.endpoints) > 1) > 200
    assert sum(1 for u in users if len(u.endpoints_on(EMAIL)) > 1) > 20
    anonymous = [u for u in users if u.user_id is None]
    assert 40 < len(anonymous) < 200
    assert all(u.user_key == u.endpoints[0].endpoint_id for u in anonymous)
    assert len({u.user_key for u in users}) == len(users)
    assert len({u.time_zone for u in users}) >= 8


def test_personal_data_stays_out_of_repr() -> None:
    user = next(u for u in build_population(PopulationConfig(users=50), 1).users if u.user_id)
    text = repr(user) + repr(user.endpoints)
    assert user.first_name not in text and user.last_name not in text
    assert all(e.address not in text for e in user.endpoints)


# ---- reproducibility and uniqueness --------------------------------------------------------------


def test_same_seed_gives_identical_records_and_another_seed_different_ones() -> None:
    config = WorkloadConfig(
        formats=PINPOINT, users=400, events=5000, seed=42, duplicate_rate=0.05, malformed_rate=0.02
    )
    first, second = generate(config).records, generate(config).records
    assert first == second
    other = generate(
        WorkloadConfig(
            formats=PINPOINT, users=400, events=5000, seed=43, duplicate_rate=0.05, malformed_rate=0.02
        )
    )
    assert len({r.data for r in first} & {r.data for r in other.records}) < 10  # only malformed constants


def test_exactly_the_requested_number_of_events() -> None:
    for events in (0, 1, 777):
        assert generate(WorkloadConfig(formats=PINPOINT, users=50, events=events)).events == events


def test_every_generated_event_has_unique_bytes_and_a_unique_timestamp() -> None:
    data = default_workload()
    assert len(set(data)) == len(data) == 20000
    timestamps = [r["event_timestamp"] for r in parsed()]
    assert len(set(timestamps)) == len(timestamps)


# ---- time ----------------------------------------------------------------------------------------


def test_events_are_spread_over_the_period_in_stream_order() -> None:
    records = parsed()
    times = [r["event_timestamp"] for r in records]
    start = DEFAULT_PERIOD_END_MS - 30 * DAY_MS
    assert times == sorted(times)
    assert start <= times[0] and times[-1] <= DEFAULT_PERIOD_END_MS
    days = Counter((t - start) // DAY_MS for t in times)
    assert len(days) == 30 and min(days.values()) > 20000 / 30 / 3
    assert all(r["arrival_timestamp"] >= r["event_timestamp"] for r in records)


# ---- shapes --------------------------------------------------------------------------------------


def _check_shape(r: dict[str, Any], owners: set[str]) -> None:
    event_type = r["event_type"]
    assert r.keys() >= ENVELOPE, event_type
    assert isinstance(r["event_timestamp"], int) and isinstance(r["arrival_timestamp"], int)
    assert r["event_version"] == "3.1" and r["awsAccountId"].isdigit()
    assert r["application"]["app_id"] and isinstance(r["client"]["client_id"], str)
    assert all(isinstance(v, str) for v in r["attributes"].values()), event_type
    assert all(isinstance(v, float | int) for v in r.get("metrics", {}).values()), event_type
    attributes = r["attributes"]
    campaign = all(k in attributes for k in CAMPAIGN_KEYS)
    journey = all(k in attributes for k in JOURNEY_KEYS)
    assert not (campaign and journey)
    if "endpoint" in r:
        endpoint = r["endpoint"]
        assert endpoint["Id"] == r["client"]["client_id"] and endpoint["Id"] in owners
        assert endpoint["ChannelType"] in (EMAIL, SMS, GCM, APNS) and endpoint["Address"]
        assert isinstance(endpoint["User"], dict)
    if event_type.startswith("_email."):
        mail_event = r["facets"]["email_channel"]["mail_event"]
        mail = mail_event["mail"]
        assert mail["message_id"] and mail["destination"] and mail["from_address"]
        assert mail["common_headers"]["subject"]
        detail = {
            "_email.send": "send",
            "_email.delivered": "delivery",
            "_email.rejected": "reject",
            "_email.hardbounce": "bounce",
            "_email.softbounce": "bounce",
            "_email.complaint": "complaint",
            "_email.open": "open",
            "_email.click": "click",
            "_email.unsubscribe": "unsubscribe",
        }[event_type]
        assert detail in mail_event
        if event_type == "_email.click":
            assert mail_event["click"]["link"].startswith("https://")
        if event_type in ("_email.hardbounce", "_email.softbounce"):
            expected = "Permanent" if event_type == "_email.hardbounce" else "Transient"
            assert mail_event["bounce"]["bounce_type"] == expected
        if "endpoint" not in r:  # transactional: random client id, no campaign or journey
            assert not campaign and not journey and r["client"]["client_id"] not in owners
        else:
            assert campaign or journey
    elif event_type.startswith("_SMS."):
        for key in (
            "record_status",
            "message_id",
            "destination_phone_number",
            "iso_country_code",
            "message_type",
        ):
            assert attributes[key], key
        assert r["metrics"]["price_in_millicents_usd"] > 0
        assert campaign or journey
        assert r["endpoint"]["ChannelType"] == SMS
    elif event_type.startswith("_campaign."):
        assert campaign and r["endpoint"]["ChannelType"] in (GCM, APNS)
    elif event_type == "_journey.send":
        assert journey and r["endpoint"]["ChannelType"] in (GCM, APNS)
    elif event_type == "_test.event_stream":
        assert "endpoint" not in r
    else:  # app events: sessions, sign-up/in, purchases, custom events
        assert r["session"]["session_id"] and r["session"]["start_timestamp"] <= r["event_timestamp"]
        assert r["application"]["sdk"]["name"] and r["device"]["platform"]["name"] in ("android", "ios")
        assert r["endpoint"]["ChannelType"] in (GCM, APNS)
        if event_type == "_session.stop":
            assert (
                r["session"]["duration"] == r["session"]["stop_timestamp"] - r["session"]["start_timestamp"]
            )
        if event_type == "_monetization.purchase":
            assert r["attributes"]["_currency"] and r["metrics"]["_item_price"] > 0


def test_every_record_has_the_pinpoint_shape_of_its_event_type() -> None:
    owners = {
        e.endpoint_id for u in build_population(PopulationConfig(users=1500), 11).users for e in u.endpoints
    }
    for record in parsed():
        _check_shape(record, owners)


def test_every_kind_of_event_appears() -> None:
    types = Counter(r["event_type"] for r in parsed())
    expected = {
        "_email.send",
        "_email.delivered",
        "_email.open",
        "_email.click",
        "_email.hardbounce",
        "_email.softbounce",
        "_email.complaint",
        "_email.unsubscribe",
        "_SMS.SUCCESS",
        "_SMS.FAILURE",
        "_SMS.OPTOUT",
        "_SMS.BUFFERED",
        "_campaign.send",
        "_campaign.received_foreground",
        "_campaign.received_background",
        "_campaign.opened_notification",
        "_journey.send",
        "_session.start",
        "_session.stop",
        "_userauth.sign_up",
        "_monetization.purchase",
        "webinar_attended",
    }
    assert expected <= set(types), expected - set(types)
    transactional = [r for r in parsed() if r["event_type"] == "_email.send" and "endpoint" not in r]
    assert transactional


def test_partition_key_is_the_user_key() -> None:
    for record in generate(WorkloadConfig(formats=PINPOINT, users=300, events=3000, seed=2)).records:
        assert parse(record.data).user_key == record.partition_key


def test_a_users_endpoints_all_map_to_one_user_key() -> None:
    keys: dict[str, set[str]] = defaultdict(set)
    for r in parsed():
        if "endpoint" in r:
            keys[r["endpoint"]["User"].get("UserId") or r["client"]["client_id"]].add(
                r["client"]["client_id"]
            )
    assert any(len(endpoints) > 1 for endpoints in keys.values())


# ---- funnel rates --------------------------------------------------------------------------------


def test_funnel_rates_are_respected() -> None:
    rates = FunnelRates(
        email_rejected=0.0,
        email_hard_bounce=0.05,
        email_soft_bounce=0.05,
        email_complaint=0.0,
        email_open=0.5,
        email_repeat_open=0.0,
        email_click=0.2,
        email_unsubscribe=0.0,
        sms_failure=0.1,
        push_received=0.8,
        push_open=0.4,
    )
    mix = ActivityMix(app_session=0, test_event=0, email_transactional=0)
    config = WorkloadConfig(
        formats=PINPOINT, users=2000, events=60000, seed=9, rates=rates, mix=mix, engagement_spread=0
    )
    by_message: dict[str, Counter[str]] = defaultdict(Counter)
    push: Counter[str] = Counter()
    sms: Counter[str] = Counter()
    for record in generate(config).records:
        r = json.loads(record.data)
        event_type = r["event_type"]
        if event_type.startswith("_email."):
            by_message[r["facets"]["email_channel"]["mail_event"]["mail"]["message_id"]][event_type] += 1
        elif event_type.startswith("_campaign."):
            push[event_type.rsplit("_", 1)[0] if "received" in event_type else event_type] += 1
        elif event_type.startswith("_SMS."):
            sms[event_type] += 1
    sent = [m for m in by_message.values() if m["_email.send"]]
    delivered = [m for m in sent if m["_email.delivered"]]
    opened = [m for m in delivered if m["_email.open"]]
    clicked = [m for m in opened if m["_email.click"]]
    assert len(sent) > 5000
    assert sum(1 for m in sent if m["_email.hardbounce"]) / len(sent) == pytest.approx(0.05, abs=0.015)
    assert sum(1 for m in sent if m["_email.softbounce"]) / len(sent) == pytest.approx(0.05, abs=0.015)
    assert len(opened) / len(delivered) == pytest.approx(0.5, abs=0.03)
    assert len(clicked) / len(opened) == pytest.approx(0.2, abs=0.03)
    assert all(m["_email.open"] == 1 for m in opened)  # repeat opens off
    received = push["_campaign.received"]
    assert received / push["_campaign.send"] == pytest.approx(0.8, abs=0.03)
    assert push["_campaign.opened_notification"] / received == pytest.approx(0.4, abs=0.04)
    finals = sms["_SMS.SUCCESS"] + sms["_SMS.FAILURE"]
    assert sms["_SMS.FAILURE"] / finals == pytest.approx(0.1, abs=0.03)


def test_repeat_opens_make_several_opens_of_one_message() -> None:
    per_message = Counter(
        r["facets"]["email_channel"]["mail_event"]["mail"]["message_id"]
        for r in parsed()
        if r["event_type"] == "_email.open"
    )
    assert max(per_message.values()) >= 2
