"""The oracle's machine-engagement policy, from hand-written SES records (docs/scoring.md, "Machine
engagement"): points times the lowest weight of an event's reasons; weight 0 writes nothing and leaves the
once-per-message slot free."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from simulator.machine_policy import MachineSettings
from simulator.oracle import Rule, Settings, expect

T0 = 1_760_000_000_000
SECOND = 1000
PROXY_AGENT = "Mozilla/5.0"
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605.1.15"
SCANNER = "ExampleLinkScanner/2.0"


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def ses(
    kind: str, at: int, agent: str, link: str | None = None, message: str = "m-1", sent: int = T0
) -> bytes:
    sub: dict[str, Any] = {"timestamp": iso(at), "ipAddress": "203.0.113.7", "userAgent": agent}
    if link is not None:
        sub["link"] = link
    mail = {"timestamp": iso(sent), "messageId": message, "tags": {"user_key": ["u-1"]}}
    return json.dumps({"eventType": kind, "mail": mail, kind.lower(): sub}).encode()


def rules(once: bool = False) -> dict[str, Rule]:
    return {
        "_email.open": Rule("_email.open", Decimal(10), None, once),
        "_email.click": Rule("_email.click", Decimal(50), None, once),
    }


def settings(**policy: Any) -> Settings:
    return Settings(machine=MachineSettings.from_json(json.dumps(policy)))


def score(records: list[bytes], once: bool = False, **policy: Any) -> Decimal:
    users = expect(records, rules(once), settings(**policy)).users
    return Decimal(str(users["u-1"].score)) if "u-1" in users else Decimal(0)


@pytest.mark.parametrize(("weight", "points"), [(0, 0), (0.5, 5), (1, 10)])
def test_a_proxy_open_scores_its_points_times_the_weight(weight: float, points: int) -> None:
    # given a privacy-proxy open an hour after the send (no other reason)
    records = [ses("Open", T0 + 3600 * SECOND, PROXY_AGENT)]
    # then its points are multiplied by the weight of privacy_proxy_open
    assert score(records, weights={"privacy_proxy_open": weight}) == points


@pytest.mark.parametrize(("weight", "points"), [(0, 0), (0.5, 25), (1, 50)])
def test_a_click_seconds_after_the_send_scores_times_the_proximity_weight(weight: float, points: int) -> None:
    records = [ses("Click", T0 + 3 * SECOND, BROWSER, "https://shop.example.com/a")]
    assert score(records, weights={"send_time_proximity": weight}) == points


def test_the_default_policy_halves_proximity_and_drops_proxy_opens() -> None:
    expectation = expect(
        [ses("Open", T0 + 2 * SECOND, BROWSER), ses("Open", T0 + 3600 * SECOND, PROXY_AGENT)],
        rules(),
        Settings(),
    )
    assert expectation.users["u-1"].score == Decimal(5)
    assert expectation.machine_not_counted == 1
    assert expectation.machine_flagged == {"send_time_proximity": 1, "privacy_proxy_open": 1}


def test_the_lowest_weight_of_several_reasons_applies() -> None:
    # a scanner-listed click 2 s after the send: proximity 0.5 and scanner_list 1 -> 0.5
    records = [ses("Click", T0 + 2 * SECOND, SCANNER, "https://shop.example.com/a")]
    policy: dict[str, Any] = {"scanner_user_agents": ["examplelinkscanner"], "weights": {"scanner_list": 1}}
    assert score(records, **policy) == 25


def test_a_weight_zero_open_keeps_the_once_per_message_slot_free_and_a_weighted_one_takes_it() -> None:
    proxy = ses("Open", T0 + 60 * SECOND, PROXY_AGENT)
    human = ses("Open", T0 + 7200 * SECOND, BROWSER)
    # weight 0: the person's later open counts in full
    assert score([proxy, human], once=True) == 10
    # weight 0.5: the proxy open is the message's open; the later one is suppressed
    expectation = expect([proxy, human], rules(True), settings(weights={"privacy_proxy_open": 0.5}))
    assert expectation.users["u-1"].score == 5 and expectation.once_per_message_suppressed == 1


def test_a_re_sent_weight_zero_event_is_not_counted_again_rather_than_a_duplicate() -> None:
    proxy = ses("Open", T0 + 60 * SECOND, PROXY_AGENT)
    expectation = expect([proxy, proxy], rules(), Settings())
    assert expectation.machine_not_counted == 2 and expectation.duplicates == 0
    assert expectation.machine_flagged == {"privacy_proxy_open": 1}
    assert expectation.machine_flagged_arrivals == {"privacy_proxy_open": 2}


def test_burst_needs_distinct_links_of_one_message_within_the_window() -> None:
    a, b = "https://shop.example.com/a", "https://shop.example.com/b"
    later = T0 + 3600 * SECOND
    burst = [ses("Click", later, BROWSER, a), ses("Click", later + 400, BROWSER, b)]
    # burst weight 0: the second click, with the first before it in stream order, is not counted; the
    # first has no earlier click with it (docs/scoring.md, "Burst")
    assert score(burst) == 50
    assert score(list(reversed(burst))) == 50  # stream order, not click time, decides which one
    assert score(burst, weights={"burst": 1}) == 100
    # the same link twice, or two links 2 s apart, or two messages: no burst
    assert score([ses("Click", later, BROWSER, a), ses("Click", later + 400, BROWSER, a)]) == 100
    assert score([ses("Click", later, BROWSER, a), ses("Click", later + 2000, BROWSER, b)]) == 100
    other = ses("Click", later + 400, BROWSER, b, message="m-2")
    assert score([ses("Click", later, BROWSER, a), other]) == 100


def test_truths_tally_caught_and_falsely_flagged_per_reason() -> None:
    records = [
        ses("Open", T0 + 20 * SECOND, PROXY_AGENT),  # machine, meant as proxy open
        ses("Open", T0 + 5 * SECOND, BROWSER),  # a quick human: flagged by proximity
        ses("Open", T0 + 3600 * SECOND, BROWSER),  # human, no reason
    ]
    truths = [("machine", ("privacy_proxy_open",)), ("human", ()), ("human", ())]
    tally = expect(records, rules(), Settings(), truths).machine_truth
    assert tally.to_json() == {
        "machine_events": 1,
        "human_events": 2,
        "machine_missed": 0,
        "generated": {"privacy_proxy_open": 1},
        "caught": {"privacy_proxy_open": 1},
        "machine_flagged": {"privacy_proxy_open": 1},
        "human_flagged": {"send_time_proximity": 1},
    }


def test_settings_read_the_scorer_environment() -> None:
    env = {"MACHINE_ENGAGEMENT": json.dumps({"weights": {"burst": 0.25}, "send_time_proximity_seconds": 30})}
    machine = Settings.from_environment(env).machine
    assert machine.weights["burst"] == Decimal("0.25") and machine.send_time_proximity_ms == 30_000
    assert machine.weights["send_time_proximity"] == Decimal("0.5")
    assert Settings.from_environment({}).machine == MachineSettings()
