"""Machine engagement: verdicts on AWS's SES Open and Click samples, the policy's weights through the real
scorer on moto, once-per-message with weight-0 events, bursts inside a batch, the policy's parsing, and a
property test that no record the SES format accepts makes the classifier raise."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.core.config import ConfigError, ScorerConfig
from engagement_scoring.core.events import DEFAULT_SETTINGS, NormalizedEvent, RecordRejected
from engagement_scoring.core.machine import (
    BURST,
    DEFAULT_POLICY,
    HUMAN,
    PRIVACY_PROXY_OPEN,
    SCANNER_LIST,
    SEND_TIME_PROXIMITY,
    InvalidPolicy,
    MachinePolicy,
    burst_indexes,
    classify,
    parse_policy,
)
from engagement_scoring.formats import normalize
from engagement_scoring.pipeline.score_sync import SyncRuntime, process_stream_batch
from engagement_scoring.pipeline.scorer import process_batch
from engine_support import (
    AwsResources,
    batch_line,
    kinesis_event,
    load_event,
    log_lines,
    stream_record,
    user_image,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

USER = "example-user-1"  # the user_key tag of the SES samples
# What Apple Mail Privacy Protection's image proxy sends (docs/scoring.md, sources).
PROXY_USER_AGENT = "Mozilla/5.0"
SENT = dt.datetime(2017, 8, 9, 21, 59, 49, 927000, tzinfo=dt.UTC)  # mail.timestamp of the samples


def iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ses_open(after_s: float, user_agent: str | None = None, message: str | None = None) -> dict[str, Any]:
    """AWS's SES Open sample, opened `after_s` seconds after sending (and another user agent)."""
    record = load_event("ses/open.json")
    record["open"]["timestamp"] = iso(SENT + dt.timedelta(seconds=after_s))
    if user_agent is not None:
        record["open"]["userAgent"] = user_agent
    if message is not None:
        record["mail"]["messageId"] = message
    return record


def ses_click(
    after_s: float, link: str = "https://www.example.com/a", message: str | None = None
) -> dict[str, Any]:
    """AWS's SES Click sample sent at SENT, clicked on `link` `after_s` seconds later."""
    record = load_event("ses/click.json")
    record["mail"]["timestamp"] = iso(SENT)
    record["click"]["timestamp"] = iso(SENT + dt.timedelta(seconds=after_s))
    record["click"]["link"] = link
    if message is not None:
        record["mail"]["messageId"] = message
    return record


def event_of(record: dict[str, Any]) -> NormalizedEvent:
    (event,) = normalize(record, DEFAULT_SETTINGS)
    assert isinstance(event, NormalizedEvent)
    return event


def policy(**values: Any) -> MachinePolicy:
    return parse_policy(json.dumps(values))


# --- the classifier on documented record shapes -----------------------------------------------------------


def test_the_samples_as_aws_documents_them_are_human() -> None:
    # AWS's Open comes 30 s after sending from an iPhone's Mail, its Click 80 s after: no reason applies
    assert classify(event_of(load_event("ses/open.json")), DEFAULT_POLICY) == HUMAN
    assert classify(event_of(load_event("ses/click.json")), DEFAULT_POLICY) == HUMAN


def test_an_open_with_the_privacy_proxy_user_agent_is_a_privacy_proxy_open() -> None:
    verdict = classify(event_of(ses_open(3600, PROXY_USER_AGENT)), DEFAULT_POLICY)
    assert verdict.reasons == (PRIVACY_PROXY_OPEN,) and verdict.weight == 0


def test_a_browser_user_agent_that_starts_like_the_proxy_one_is_not_the_proxy() -> None:
    browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)"
    assert classify(event_of(ses_open(3600, browser)), DEFAULT_POLICY) == HUMAN


def test_an_open_from_a_listed_proxy_address_is_a_privacy_proxy_open() -> None:
    # the sample's ipAddress is 192.0.2.1 (a documentation address)
    listed = policy(privacy_proxy_cidrs=["192.0.2.0/24"])
    assert classify(event_of(ses_open(3600)), listed).reasons == (PRIVACY_PROXY_OPEN,)
    assert classify(event_of(ses_open(3600)), policy(privacy_proxy_cidrs=["198.51.100.0/24"])) == HUMAN


def test_the_privacy_proxy_reason_is_for_opens_only() -> None:
    # a person clicks through the relay too: a click from a proxy address is no proxy open
    listed = policy(privacy_proxy_cidrs=["192.0.2.0/24"])
    assert classify(event_of(ses_click(600)), listed) == HUMAN


def test_a_click_one_second_after_sending_is_flagged_for_send_time_proximity() -> None:
    verdict = classify(event_of(ses_click(1)), DEFAULT_POLICY)
    assert verdict.reasons == (SEND_TIME_PROXIMITY,) and verdict.weight == Decimal("0.5")


def test_send_time_proximity_follows_its_threshold() -> None:
    assert classify(event_of(ses_click(30)), DEFAULT_POLICY) == HUMAN
    assert classify(event_of(ses_click(30)), policy(send_time_proximity_seconds=60)).reasons == (
        SEND_TIME_PROXIMITY,
    )
    assert classify(event_of(ses_click(1)), policy(send_time_proximity_seconds=0)) == HUMAN


def test_a_human_click_minutes_later_carries_no_reason() -> None:
    assert classify(event_of(ses_click(240)), DEFAULT_POLICY) == HUMAN


def test_scanner_lists_match_user_agent_substrings_and_addresses() -> None:
    record = ses_click(600)
    record["click"]["userAgent"] = "Mozilla/5.0 (compatible; ExampleLinkScanner/2.1)"
    by_agent = policy(scanner_user_agents=["examplelinkscanner"])
    assert classify(event_of(record), by_agent).reasons == (SCANNER_LIST,)
    by_address = policy(scanner_cidrs=["192.0.2.0/28"])
    assert classify(event_of(ses_click(600)), by_address).reasons == (SCANNER_LIST,)
    assert classify(event_of(ses_open(600)), by_address).reasons == (SCANNER_LIST,)
    assert classify(event_of(ses_click(600)), policy(scanner_cidrs=["2001:db8::/32"])) == HUMAN


def test_the_weight_is_the_lowest_of_the_reasons() -> None:
    # a proxy open 2 s after sending: proximity 0.5, proxy 0.25 -> 0.25
    weights = policy(weights={"privacy_proxy_open": 0.25})
    verdict = classify(event_of(ses_open(2, PROXY_USER_AGENT)), weights)
    assert verdict.reasons == (PRIVACY_PROXY_OPEN, SEND_TIME_PROXIMITY)
    assert verdict.weight == Decimal("0.25")


def test_pinpoint_email_opens_are_classified_too() -> None:
    # the Pinpoint email facets carry the same send time, user agent and address (formats/pinpoint.py)
    record = load_event("pinpoint/email_open.json")
    (event,) = normalize(record, DEFAULT_SETTINGS)
    assert isinstance(event, NormalizedEvent)
    assert classify(event, DEFAULT_POLICY) == HUMAN  # opened 60 s after sending from a browser
    record["facets"]["email_channel"]["mail_event"]["open"]["user_agent"] = PROXY_USER_AGENT
    (proxied,) = normalize(record, DEFAULT_SETTINGS)
    assert isinstance(proxied, NormalizedEvent)
    assert classify(proxied, DEFAULT_POLICY).reasons == (PRIVACY_PROXY_OPEN,)


def test_other_event_types_are_human() -> None:
    # End User Messaging SMS has no link-click event type: no SMS event is ever classified
    assert classify(event_of(load_event("ses/delivery.json")), DEFAULT_POLICY) == HUMAN
    for result in normalize(load_event("sms/text_delivered.json"), DEFAULT_SETTINGS):
        assert isinstance(result, NormalizedEvent) and classify(result, DEFAULT_POLICY) == HUMAN


# --- bursts in stream order ------------------------------------------------------------------------------


def test_distinct_links_of_one_message_within_a_second_are_a_burst() -> None:
    events = [
        event_of(ses_click(300, "https://www.example.com/a")),
        event_of(ses_click(300.4, "https://www.example.com/b")),
        event_of(ses_click(300.9, "https://www.example.com/c")),
        event_of(ses_click(900, "https://www.example.com/d")),  # the person, later
    ]
    # stream order decides (docs/scoring.md, "Burst"): the first click has no earlier click with it, so
    # burst alone does not flag it (before #13's item 18: {0, 1, 2}, a verdict batch cuts could change)
    assert burst_indexes(events, DEFAULT_POLICY) == {1, 2}


def test_no_burst_for_one_link_twice_slow_clicks_or_other_messages() -> None:
    same_link = [event_of(ses_click(300)), event_of(ses_click(300.2))]
    slow = [
        event_of(ses_click(300, "https://www.example.com/a")),
        event_of(ses_click(301.5, "https://www.example.com/b")),
    ]
    other_message = [
        event_of(ses_click(300, "https://www.example.com/a")),
        event_of(ses_click(300.2, "https://www.example.com/b", message="another-message-id")),
    ]
    for events in (same_link, slow, other_message):
        assert burst_indexes(events, DEFAULT_POLICY) == set()
    assert burst_indexes(slow, policy(burst_window_ms=2000)) == {1}  # the second, with the first before it
    three_needed = policy(burst_min_links=3)
    assert burst_indexes(slow, three_needed) == set()


# --- the policy ---------------------------------------------------------------------------------------


def test_defaults_and_an_empty_setting_are_the_documented_policy() -> None:
    assert parse_policy("") == DEFAULT_POLICY == parse_policy("{}")
    assert DEFAULT_POLICY.weights == {
        PRIVACY_PROXY_OPEN: 0,
        SCANNER_LIST: 0,
        BURST: 0,
        SEND_TIME_PROXIMITY: Decimal("0.5"),
    }
    assert DEFAULT_POLICY.send_time_proximity_ms == 10_000
    assert DEFAULT_POLICY.proxy_user_agents == {PROXY_USER_AGENT}


def test_the_module_input_shape_parses() -> None:
    # what jsonencode(var.machine_engagement) gives with every optional attribute at its default
    text = json.dumps(
        {
            "weights": {"privacy_proxy_open": 0, "scanner_list": 0, "burst": 0, "send_time_proximity": 0.5},
            "privacy_proxy_user_agents": ["Mozilla/5.0"],
            "privacy_proxy_cidrs": [],
            "scanner_user_agents": [],
            "scanner_cidrs": [],
            "send_time_proximity_seconds": 10,
            "burst_window_ms": 1000,
            "burst_min_links": 2,
        }
    )
    assert parse_policy(text) == DEFAULT_POLICY


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "JSON object"),
        ('{"weights": {"privacy_proxy_open": 1.5}}', "from 0 to 1"),
        ('{"weights": {"privacy_proxy_open": -0.1}}', "from 0 to 1"),
        ('{"weights": {"privacy_proxy_open": true}}', "from 0 to 1"),
        ('{"weights": {"human": 1}}', "keys among"),
        ('{"scanner_cidrs": ["10.0.0.0/33"]}', "not a CIDR block"),
        ('{"scanner_cidrs": "10.0.0.0/8"}', "list of non-empty strings"),
        ('{"send_time_proximity_seconds": -1}', "whole number"),
        ('{"burst_min_links": 1}', "whole number"),
        ('{"weight": {}}', "unknown keys"),
    ],
)
def test_a_bad_policy_fails_the_configuration_with_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidPolicy, match=message):
        parse_policy(text)
    env = {"MACHINE_ENGAGEMENT": text}
    with pytest.raises(ConfigError, match="MACHINE_ENGAGEMENT"):
        ScorerConfig.from_env(env)


# --- through the real scorer pipeline on moto ------------------------------------------------------------


def score_of(aws: AwsResources) -> tuple[Decimal, Decimal] | None:
    item = aws.scores().get(USER)
    return None if item is None else (item["score"], item["channels"].get("email", Decimal(0)))


@pytest.mark.parametrize(("weight", "points"), [(0, None), (0.5, Decimal(5)), (1, Decimal(10))])
def test_a_proxy_open_scores_its_points_times_the_weight(
    aws: AwsResources, capsys: pytest.CaptureFixture[str], weight: float, points: Decimal | None
) -> None:
    # given the policy's weight for privacy-proxy opens
    runtime = aws.scorer(MACHINE_ENGAGEMENT=json.dumps({"weights": {"privacy_proxy_open": weight}}))
    capsys.readouterr()
    # when a proxy open an hour after sending arrives (the original's 10 points for an open)
    process_batch(kinesis_event([ses_open(3600, PROXY_USER_AGENT)]), runtime)
    # then the score and the email channel carry 10 x weight; weight 0 writes nothing at all
    assert score_of(aws) == (None if points is None else (points, points))
    output = capsys.readouterr().out
    line = batch_line(output)
    assert line["machine_flagged"] == {PRIVACY_PROXY_OPEN: 1}
    assert line["machine_not_counted"] == (1 if weight == 0 else 0)
    assert line["scored"] == (0 if weight == 0 else 1)
    by_reason = [doc for doc in log_lines(output) if doc.get("Reason") == PRIVACY_PROXY_OPEN]
    assert [doc["MachineFlagged"] for doc in by_reason] == [1]


def test_default_policy_on_a_batch_of_documented_shapes(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the default policy and one user's batch: a proxy open, a click 1 s after sending, a burst of
    # two links in another message, and a human click four minutes after sending
    batch = [
        ses_open(5, PROXY_USER_AGENT),
        ses_click(1, "https://www.example.com/early"),
        ses_click(120, "https://www.example.com/a", message="burst-message"),
        ses_click(120.3, "https://www.example.com/b", message="burst-message"),
        ses_click(240, "https://www.example.com/human"),
    ]
    capsys.readouterr()
    process_batch(kinesis_event(batch), aws.scorer())
    # then the early click (50 x 0.5), the burst's first click (50: nothing before it in stream order,
    # docs/scoring.md "Burst") and the human click (50) count; the burst's second click does not
    assert score_of(aws) == (Decimal(125), Decimal(125))
    line = batch_line(capsys.readouterr().out)
    assert line["machine_flagged"] == {PRIVACY_PROXY_OPEN: 1, SEND_TIME_PROXIMITY: 2, BURST: 1}
    assert line["machine_not_counted"] == 2
    assert line["scored"] == 3


def test_a_weight_0_open_does_not_take_the_once_per_message_slot(aws: AwsResources) -> None:
    # given opens counted once per message
    aws.put_rule("_email.open", 10, once_per_message=True)
    runtime = aws.scorer()
    # when a proxy open arrives, then (in a later batch) the person's own open of the same message
    process_batch(kinesis_event([ses_open(5, PROXY_USER_AGENT)]), runtime)
    assert score_of(aws) is None
    process_batch(kinesis_event([ses_open(3600)], first_sequence=2000), runtime)
    # then the person's open counts in full, and a third open of the message is suppressed
    assert score_of(aws) == (Decimal(10), Decimal(10))
    process_batch(kinesis_event([ses_open(7200)], first_sequence=3000), runtime)
    assert score_of(aws) == (Decimal(10), Decimal(10))


def test_inside_one_batch_the_person_s_open_counts_after_a_proxy_open(aws: AwsResources) -> None:
    aws.put_rule("_email.open", 10, once_per_message=True)
    process_batch(kinesis_event([ses_open(5, PROXY_USER_AGENT), ses_open(3600)]), aws.scorer())
    assert score_of(aws) == (Decimal(10), Decimal(10))


def test_a_weighted_open_takes_the_once_per_message_slot(aws: AwsResources) -> None:
    # an open 2 s after sending counts half (the default 0.5) and is this message's counted open
    aws.put_rule("_email.open", 10, once_per_message=True)
    runtime = aws.scorer()
    process_batch(kinesis_event([ses_open(2)]), runtime)
    process_batch(kinesis_event([ses_open(3600)], first_sequence=2000), runtime)
    assert score_of(aws) == (Decimal(5), Decimal(5))


def test_weight_1_counts_machine_events_as_human(aws: AwsResources) -> None:
    everything_human = {
        "weights": {"privacy_proxy_open": 1, "send_time_proximity": 1, "burst": 1, "scanner_list": 1}
    }
    batch = [
        ses_open(5, PROXY_USER_AGENT),
        ses_click(120, "https://www.example.com/a"),
        ses_click(120.3, "https://www.example.com/b"),
    ]
    process_batch(kinesis_event(batch), aws.scorer(MACHINE_ENGAGEMENT=json.dumps(everything_human)))
    assert score_of(aws) == (Decimal(110), Decimal(110))


def test_weights_apply_on_the_decaying_model_too(aws: AwsResources) -> None:
    # with decay the scorer takes the other arithmetic path (Contribution objects): the same weighting
    runtime = aws.scorer(DECAY_HALF_LIFE_HOURS="24")
    process_batch(kinesis_event([ses_click(1), ses_open(5, PROXY_USER_AGENT)]), runtime)
    assert score_of(aws) == (Decimal(25), Decimal(25))


def test_a_weighted_event_is_counted_exactly_once_on_redelivery(aws: AwsResources) -> None:
    runtime = aws.scorer()
    batch = kinesis_event([ses_click(1)])
    process_batch(batch, runtime)
    process_batch(batch, runtime)
    assert score_of(aws) == (Decimal(25), Decimal(25))


# --- no record the format accepts makes the classifier raise -----------------------------------------------

_text = st.one_of(
    st.none(), st.text(max_size=40), st.integers(), st.floats(allow_nan=True), st.lists(st.text())
)
_times = st.one_of(
    st.none(),
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(9000, 1, 1)).map(
        lambda moment: iso(moment.replace(tzinfo=dt.UTC))
    ),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.text(max_size=30),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["Open", "Click"]),
    sent=_times,
    at=_times,
    user_agent=_text,
    ip=st.one_of(_text, st.ip_addresses().map(str)),
    link=_text,
    cidrs=st.lists(
        st.tuples(st.ip_addresses(), st.integers(0, 128)).map(
            lambda pair: f"{pair[0]}/{min(pair[1], pair[0].max_prefixlen)}"
        ),
        max_size=3,
    ),
)
def test_classify_never_raises_on_a_record_the_format_accepts(
    kind: str, sent: Any, at: Any, user_agent: Any, ip: Any, link: Any, cidrs: list[str]
) -> None:
    record = load_event("ses/open.json" if kind == "Open" else "ses/click.json")
    sub = record[kind.lower()]
    for field, value in (("timestamp", at), ("userAgent", user_agent), ("ipAddress", ip), ("link", link)):
        if value is None:
            sub.pop(field, None)
        else:
            sub[field] = value
    if sent is None:
        record["mail"].pop("timestamp")
    else:
        record["mail"]["timestamp"] = sent
    try:
        events = normalize(record, DEFAULT_SETTINGS)
    except RecordRejected:  # not a record the format accepts
        return
    lists = policy(privacy_proxy_cidrs=cidrs, scanner_cidrs=cidrs, scanner_user_agents=["scan"])
    normalized = [event for event in events if isinstance(event, NormalizedEvent)]
    for machine_policy in (DEFAULT_POLICY, lists):
        bursts = burst_indexes(normalized + normalized, machine_policy)
        for event in normalized:
            verdict = classify(event, machine_policy, burst=bool(bursts))
            assert 0 <= verdict.weight <= 1


# --- the score sync: machine counts of the writes behind a change --------------------------------------


def test_the_sync_sums_the_machine_counts_of_the_writes_behind_a_change(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    # given two writes of one user in a stream batch, each image carrying the per-write `mf` map the
    # user-item writer is to set (docs/architecture.md, layout v2), and a write without machine events
    first = user_image("u1", 5, version=1)
    first["mf"] = {"M": {SEND_TIME_PROXIMITY: {"N": "1"}}}
    second = user_image("u1", 55, version=2)
    second["mf"] = {"M": {SEND_TIME_PROXIMITY: {"N": "2"}, PRIVACY_PROXY_OPEN: {"N": "1"}}}
    plain = user_image("u2", 10)
    event = {
        "Records": [
            stream_record(1, "INSERT", first),
            stream_record(2, "MODIFY", second, first),
            stream_record(3, "INSERT", plain),
        ]
    }
    # when the sync publishes the batch
    process_stream_batch(event, sync_runtime())
    # then the change carries the sum of both writes' counts; a change without machine events has none
    details = {
        message["detail"]["user_key"]: message["detail"]
        for message in aws.queue_messages(aws.bus_queue_url)
        if message["detail-type"] == "EngagementScoreChanged"
    }
    assert details["u1"]["machine_flagged"] == {PRIVACY_PROXY_OPEN: 1, SEND_TIME_PROXIMITY: 3}
    assert "machine_flagged" not in details["u2"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["open", "click"]),
    sent=st.one_of(st.none(), st.integers(), st.text(max_size=20), st.floats(allow_nan=True)),
    at=st.integers(min_value=0, max_value=253_402_300_799_999),
    user_agent=_text,
    ip=st.one_of(_text, st.ip_addresses().map(str)),
    link=_text,
)
def test_classify_never_raises_on_a_pinpoint_email_record_the_format_accepts(
    kind: str, sent: Any, at: int, user_agent: Any, ip: Any, link: Any
) -> None:
    record = load_event(f"pinpoint/email_{kind}.json")
    record["event_timestamp"] = at
    mail_event = record["facets"]["email_channel"]["mail_event"]
    mail_event["mail"]["message_send_timestamp"] = sent
    mail_event[kind] = {"user_agent": user_agent, "ip_address": ip, "link": link}
    try:
        events = normalize(record, DEFAULT_SETTINGS)
    except RecordRejected:  # not a record the format accepts
        return
    normalized = [event for event in events if isinstance(event, NormalizedEvent)]
    bursts = burst_indexes(normalized * 3, DEFAULT_POLICY)
    for event in normalized:
        assert 0 <= classify(event, DEFAULT_POLICY, burst=bool(bursts)).weight <= 1


# --- the scorer writes `mf`, the sync publishes it ---------------------------------------------------------


def published_machine_counts(aws: AwsResources, sync: SyncRuntime) -> list[dict[str, int] | None]:
    """Run the sync over the scores table's stream so far; the `machine_flagged` of each score change."""
    assert process_stream_batch(aws.stream_event(), sync) == {"batchItemFailures": []}
    return [
        message["detail"].get("machine_flagged")
        for message in aws.queue_messages(aws.bus_queue_url)
        if message["detail-type"] == "EngagementScoreChanged"
    ]


def test_the_score_change_carries_the_machine_flagged_events_the_scorer_counted(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    # given bursts weighted 0.5 (default 0), so one click is flagged twice (burst and send-time
    # proximity), and the default policy otherwise: a proxy open (weight 0: not counted, not in `mf`),
    # a click 1 s after sending, a burst of two links 2 s after sending, and a human click
    runtime = aws.scorer(MACHINE_ENGAGEMENT=json.dumps({"weights": {"burst": 0.5}}))
    batch = [
        ses_open(5, PROXY_USER_AGENT),
        ses_click(1, "https://www.example.com/early"),
        ses_click(120, "https://www.example.com/a", message="burst-message"),
        ses_click(120.3, "https://www.example.com/b", message="burst-message"),
        ses_click(240, "https://www.example.com/human"),
    ]
    # when the batch is scored and the sync reads the stream
    assert process_batch(kinesis_event(batch), runtime) == {"batchItemFailures": []}
    # then the user item's `mf` and the published detail count the counted flagged events by reason
    item = aws.scores()[USER]
    # (the burst's first click has no earlier click with it: docs/scoring.md "Burst")
    assert item["mf"] == {SEND_TIME_PROXIMITY: 1, BURST: 1}
    assert published_machine_counts(aws, sync_runtime()) == [{BURST: 1, SEND_TIME_PROXIMITY: 1}]


def test_a_write_without_machine_events_removes_the_earlier_counts(
    aws: AwsResources, sync_runtime: Callable[..., SyncRuntime]
) -> None:
    # given a write that counted a click 1 s after sending (flagged, weight 0.5)
    runtime = aws.scorer()
    process_batch(kinesis_event([ses_click(1, "https://www.example.com/early")]), runtime)
    assert aws.scores()[USER]["mf"] == {SEND_TIME_PROXIMITY: 1}
    # when a later batch counts only a human click of another message
    human = ses_click(240, "https://www.example.com/human", message="later-message")
    process_batch(kinesis_event([human], first_sequence=2000), runtime)
    # then that write removed `mf`, and the change over both writes counts the flagged click once
    assert "mf" not in aws.scores()[USER]
    assert published_machine_counts(aws, sync_runtime()) == [{SEND_TIME_PROXIMITY: 1}]
