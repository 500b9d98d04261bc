"""Burst across batches (#13 item 18): the user item's `rc` carries the recent clicks, so where Kinesis cuts
the batches changes no verdict. Through the real scorer on moto: a burst split across batches (every cut,
and clicks sent out of time order), a redelivered batch (same verdicts, `rc` unchanged), a weight-0 click
that still teaches `rc`; in the pure core: `rc` stays bounded under a click flood, and a property test that
any batch cut of a generated click sequence gives the oracle's verdicts (simulator/machine_policy.py,
written independently from docs/scoring.md)."""

from __future__ import annotations

import itertools
import json
from decimal import Decimal
from typing import Any

import pytest
from engagement_scoring.core.events import NormalizedEvent
from engagement_scoring.core.machine import (
    BURST,
    DEFAULT_POLICY,
    RC_CAPACITY,
    RC_ENTRY_BYTES,
    _digest,
    decode_recent_clicks,
    encode_recent_clicks,
    judge_clicks,
    parse_policy,
)
from engagement_scoring.pipeline.scorer import process_batch
from engine_support import AwsResources, batch_line, kinesis_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_machine import SENT, USER, ses_click

from simulator.machine_policy import MachineSettings as OraclePolicy

MESSAGE = "burst-message"
LINKS = ("https://www.example.com/a", "https://www.example.com/b", "https://www.example.com/c")
CLICK_POINTS = Decimal(50)
SENT_MS = int(SENT.timestamp() * 1000)


def burst_clicks() -> list[dict[str, Any]]:
    """Three links of one message within 0.6 s, two minutes after sending."""
    return [ses_click(120 + 0.3 * i, link, message=MESSAGE) for i, link in enumerate(LINKS)]


def run(aws: AwsResources, batches: list[list[dict[str, Any]]]) -> None:
    """Score each batch in turn with the default policy."""
    runtime = aws.scorer()
    for number, batch in enumerate(batches):
        process_batch(kinesis_event(batch, first_sequence=1000 * (number + 1)), runtime)


def score(aws: AwsResources) -> Decimal:
    return aws.scores()[USER]["score"]


@pytest.mark.parametrize("cut", [1, 2])
def test_a_burst_split_across_two_batches_gets_the_verdicts_of_one_batch(aws: AwsResources, cut: int) -> None:
    # given a burst of three links cut after its first or its second click
    clicks = burst_clicks()
    run(aws, [clicks[:cut], clicks[cut:]])
    # then as in one batch: the first click counts (nothing before it), the other two are burst (weight 0)
    assert score(aws) == CLICK_POINTS
    assert len(aws.scores()[USER]["rc"]) == 3 * RC_ENTRY_BYTES


def test_stream_order_not_click_time_decides_across_a_cut(aws: AwsResources) -> None:
    # given the burst's later click sent first, in its own batch, and the earlier click in the next batch
    later, earlier = ses_click(120.3, LINKS[1], message=MESSAGE), ses_click(120, LINKS[0], message=MESSAGE)
    runtime = aws.scorer()
    process_batch(kinesis_event([later], first_sequence=1000), runtime)
    assert score(aws) == CLICK_POINTS
    process_batch(kinesis_event([earlier], first_sequence=2000), runtime)
    # then the click sent second is the burst click, although it was clicked first
    assert score(aws) == CLICK_POINTS


def test_a_redelivered_batch_gets_the_same_verdicts_and_leaves_rc_as_it_was(
    aws: AwsResources, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the burst's first click in one batch and the other two in the next
    clicks = burst_clicks()
    runtime = aws.scorer()
    process_batch(kinesis_event(clicks[:1], first_sequence=1000), runtime)
    second = kinesis_event(clicks[1:], first_sequence=2000)
    capsys.readouterr()
    process_batch(second, runtime)
    first_line = batch_line(capsys.readouterr().out)
    item = aws.scores()[USER]
    # when the second batch is delivered again, and then the first one
    process_batch(second, runtime)
    again = batch_line(capsys.readouterr().out)
    process_batch(kinesis_event(clicks[:1], first_sequence=1000), runtime)
    first_again = batch_line(capsys.readouterr().out)
    # then the verdicts repeat, nothing more is counted and `rc` holds each click once
    assert first_line["machine_flagged"] == again["machine_flagged"] == {BURST: 2}
    assert again["machine_not_counted"] == 2 and again["scored"] == 0
    assert first_again["machine_flagged"] == {}  # the first click stays what it was: no burst
    after = aws.scores()[USER]
    assert after["rc"] == item["rc"] and len(after["rc"]) == 3 * RC_ENTRY_BYTES
    assert after["score"] == item["score"] == CLICK_POINTS


def test_a_weight_0_click_still_teaches_rc_when_the_item_exists(aws: AwsResources) -> None:
    # given a user with an item (a human click of another message) and a scanner list that weighs 0
    env = {"MACHINE_ENGAGEMENT": json.dumps({"scanner_user_agents": ["ExampleLinkScanner"]})}
    runtime = aws.scorer(**env)
    process_batch(kinesis_event([ses_click(60, LINKS[0], message="other")], first_sequence=1000), runtime)
    assert score(aws) == CLICK_POINTS
    # when the scanner's click (not counted) comes in one batch and another link of the message next
    scanner = ses_click(120, LINKS[0], message=MESSAGE)
    scanner["click"]["userAgent"] = "ExampleLinkScanner/2.0"
    process_batch(kinesis_event([scanner], first_sequence=2000), runtime)
    # then an rc-only write: `rc` holds the scanner's click alone (the click a minute earlier is older
    # than the window before the newest), and the score did not move
    assert decode_recent_clicks(aws.scores()[USER]["rc"])[0].at_ms == 120_000 + SENT_MS
    assert score(aws) == CLICK_POINTS
    process_batch(kinesis_event([ses_click(120.4, LINKS[1], message=MESSAGE)], first_sequence=3000), runtime)
    # then the second click is a burst click (weight 0): the score did not move
    assert score(aws) == CLICK_POINTS


# --- the pure core ---------------------------------------------------------------------------------------


def click(user: str, message: str, link: str, at_ms: int, n: int) -> NormalizedEvent:
    return NormalizedEvent(
        user,
        "_email.click",
        at_ms,
        "email",
        message,
        None,
        f"e#click-{n}",
        details={"link": link, "send_time_ms": 0},
    )


def test_rc_stays_bounded_under_a_click_flood() -> None:
    # given a scanner clicking 500 distinct links of one message within half a second
    flood = [click(USER, MESSAGE, f"https://www.example.com/{n}", 1_000_000 + n, n) for n in range(500)]
    flags, entries = judge_clicks((), flood, DEFAULT_POLICY)
    # then every click after the first is a burst click and `rc` keeps the newest RC_CAPACITY clicks
    assert flags == [False] + [True] * 499
    assert len(entries) == RC_CAPACITY
    assert [entry.at_ms for entry in entries] == [1_000_000 + n for n in range(500 - RC_CAPACITY, 500)]
    assert len(encode_recent_clicks(entries)) == RC_CAPACITY * RC_ENTRY_BYTES == 380
    # and a policy that needs more links than RC_CAPACITY remembers as many clicks as a burst needs
    thirty = parse_policy(json.dumps({"burst_min_links": 30}))
    flags, entries = judge_clicks((), flood, thirty)
    assert flags == [False] * 29 + [True] * 471 and len(entries) == 29
    # and a click more than the window after the flood leaves only itself
    _, later = judge_clicks(entries, [click(USER, "next", LINKS[0], 1_002_000, 999)], DEFAULT_POLICY)
    assert [entry.at_ms for entry in later] == [1_002_000]


_clicks = st.lists(
    st.tuples(
        st.sampled_from(["u1", "u2"]),
        st.sampled_from(["m1", "m2"]),
        st.sampled_from(LINKS),
        st.integers(0, 4000),  # ms: clicks cluster within a few burst windows, out of time order too
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    raw=_clicks,
    cuts=st.lists(st.integers(0, 64), max_size=6),
    repeats=st.lists(st.integers(0, 59), max_size=4),
    window=st.sampled_from([300, 1000]),
    min_links=st.sampled_from([2, 3]),
    dense=st.booleans(),
)
def test_any_batch_cut_gives_the_oracle_s_verdicts(
    raw: list[tuple[str, str, str, int]],
    cuts: list[int],
    repeats: list[int],
    window: int,
    min_links: int,
    dense: bool,
) -> None:
    if dense:  # up to 60 clicks within 40 ms: past RC_CAPACITY, so the cap decides what is remembered
        raw = [(user, message, link, at // 100) for user, message, link, at in raw]
    policy = parse_policy(json.dumps({"burst_window_ms": window, "burst_min_links": min_links}))
    oracle = OraclePolicy.from_json(json.dumps({"burst_window_ms": window, "burst_min_links": min_links}))
    events = [click(user, message, link, at, n) for n, (user, message, link, at) in enumerate(raw)]
    # re-sent copies later in the stream (same content key): a copy keeps its click's verdict
    stream = events + [events[i] for i in repeats if i < len(events)]
    expected = oracle.bursts(
        (f"e#click-{n}", user, message, at, link) for n, (user, message, link, at) in enumerate(raw)
    )
    # when the stream is cut anywhere into batches, each user's `rc` stored (encoded) between batches
    stored: dict[str, bytes] = {}
    first: dict[str, bool] = {}
    copies: list[tuple[str, bool, bool]] = []  # (content key, verdict, still remembered after its batch)
    bounds = sorted({0, len(stream), *(min(cut, len(stream)) for cut in cuts)})
    for start, end in itertools.pairwise(bounds):
        batch = stream[start:end]
        for user in sorted({event.user_key for event in batch}):
            mine = [event for event in batch if event.user_key == user]
            flags, entries = judge_clicks(decode_recent_clicks(stored.get(user, b"")), mine, policy)
            stored[user] = encode_recent_clicks(entries)
            assert len(entries) <= RC_CAPACITY
            held = {entry.click for entry in entries}
            for event, flag in zip(mine, flags, strict=True):
                if event.content_key in first:
                    copies.append((event.content_key, flag, _digest(event.content_key) in held))
                else:
                    first[event.content_key] = flag
    # then every click has the oracle's verdict, whatever the cut and the copies between
    assert first == {event.content_key: event.content_key in expected for event in events}
    # and a copy of a click `rc` still remembers repeats its verdict (a forgotten one is judged again:
    # docs/scoring.md, "Burst"; the dedupe ring still keeps it from counting twice)
    for key, flag, remembered in copies:
        if remembered:
            assert flag == first[key]


def test_an_rc_only_write_leaves_the_score_state_and_its_due_time(aws: AwsResources) -> None:
    # given decay and a window rule on clicks (the item's due time is the rule's, an hour on) and a
    # scanner list that weighs 0
    env = {
        "DECAY_HALF_LIFE_HOURS": "720",
        "MACHINE_ENGAGEMENT": json.dumps({"scanner_user_agents": ["ExampleLinkScanner"]}),
        "WINDOW_RULES": json.dumps(
            [{"name": "clicked", "event_types": ["_email.click"], "threshold": 1, "window_hours": 1}]
        ),
    }
    runtime = aws.scorer(**env)
    process_batch(kinesis_event([ses_click(60, LINKS[0], message="other")], first_sequence=1000), runtime)
    before = aws.scores()[USER]
    assert before["rules"] == {"clicked"}
    assert before["due_at"] <= (SENT_MS + 60_000) // 1000 + 3 * 3600  # the rule's end: before decay's
    # when only a weight-0 click comes: `rc` learns it in a write that counts nothing
    scanner = ses_click(120, LINKS[0], message=MESSAGE)
    scanner["click"]["userAgent"] = "ExampleLinkScanner/2.0"
    process_batch(kinesis_event([scanner], first_sequence=2000), runtime)
    after = aws.scores()[USER]
    # then the item moved one version on with `rc`, and kept its score, window state and due time
    assert after["version"] == before["version"] + 1 and after["rc"] != before["rc"]
    for name in ("score", "raw_score", "events_applied", "due_at", "due_sh", "rules", "wr", "dk"):
        assert after.get(name) == before.get(name), name
