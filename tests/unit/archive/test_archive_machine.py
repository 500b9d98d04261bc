"""Machine engagement in the archive's SQL (sql/archive_events.sql): the verdict the queries give each SES and
Pinpoint e-mail open and click is the engine's own (core/machine.classify, with burst flags from
core/machine.burst_indexes over the same records in the order they were sent), and the points follow the
weights.

The records are the documented shapes of tests/events (SES Open and Click, Pinpoint _email.open and
_email.click) with their times, user agents, addresses and links changed: an open with Apple's proxy user
agent, an open from a proxy address, a click one second after the send, a burst of three links within half a
second, a scanner's click, a person's open and click minutes later. They are written in time order (the
order the SQL judges bursts in; docs/operations.md says where the two orders can differ).
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring import archive
from engagement_scoring.core.events import FormatSettings, NormalizedEvent
from engagement_scoring.core.machine import REASONS, burst_indexes, classify, parse_policy
from engagement_scoring.core.rules import ORIGINAL_POINTS
from engagement_scoring.pipeline.scorer import decode_record

from simulator.oracle import Settings, expect, rules_from_items

EVENTS = Path(__file__).resolve().parents[2] / "events"
ARRIVAL_MS = 1_761_955_200_000  # 2025-11-01
SEND_MS = 1_761_900_000_000
SEND_ISO = "2025-10-31T08:40:00.000Z"  # SEND_MS
PROXY_UA = "Mozilla/5.0"
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
DESKTOP_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0"
SCANNER_UA = "ExampleLinkScanner/2.0 (+https://scanner.example.com)"
# Opens count once per message, so that a weight-0 proxy open (no touch) and a later human open show.
RULES = tuple(
    {"event_type": name, "points": points, "once_per_message": name == "_email.open"}
    for name, points in ORIGINAL_POINTS.items()
)
LISTS = {
    "scanner_user_agents": ["examplelinkscanner"],
    "scanner_cidrs": ["198.51.100.0/24"],
    "privacy_proxy_cidrs": ["203.0.113.0/25", "2001:db8::/32"],
}
POLICIES: dict[str, dict[str, Any]] = {
    "weights 0": {"weights": dict.fromkeys(REASONS, 0), **LISTS},
    "weights 0.5": {"weights": dict.fromkeys(REASONS, 0.5), **LISTS},
    "weights 1": {"weights": dict.fromkeys(REASONS, 1), **LISTS},
    "defaults, no lists": {},
    "mixed, long proximity window, burst of 3": {
        "weights": {"privacy_proxy_open": 0.5, "send_time_proximity": 0, "scanner_list": 0.25, "burst": 0.5},
        "send_time_proximity_seconds": 120,
        "burst_min_links": 3,
        **LISTS,
    },
}


def _sample(folder: str, name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((EVENTS / folder / f"{name}.json").read_text())
    return value


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms - SEND_MS, 1000)
    minutes, seconds = divmod(seconds + 40 * 60, 60)
    hours, minutes = divmod(minutes + 8 * 60, 60)
    assert hours < 24
    return f"2025-10-31T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def _ses(kind: str, user: str, message: str, after_ms: int, ua: str, ip: str, link: str = "") -> bytes:
    record = copy.deepcopy(_sample("ses", kind))
    record["mail"]["messageId"] = message
    record["mail"]["timestamp"] = SEND_ISO
    record["mail"]["tags"]["user_key"] = [user]
    sub = record[kind]
    sub.update({"timestamp": _iso(SEND_MS + after_ms), "userAgent": ua, "ipAddress": ip})
    if kind == "click":
        sub["link"] = link
    return json.dumps(record, separators=(",", ":")).encode()


def _pinpoint(
    kind: str, endpoint: str, message: str, after_ms: int, ua: str, ip: str, link: str = ""
) -> bytes:
    record = copy.deepcopy(_sample("pinpoint", f"email_{kind}"))
    record["client"]["client_id"] = endpoint
    record["attributes"] = {"campaign_id": "pp-campaign", "campaign_activity_id": "a1", "treatment_id": "0"}
    record["event_timestamp"] = SEND_MS + after_ms
    mail_event = record["facets"]["email_channel"]["mail_event"]
    mail_event["mail"].update({"message_id": message, "message_send_timestamp": SEND_MS})
    mail_event[kind] = {"ip_address": ip, "user_agent": ua, **({"link": link} if link else {})}
    return json.dumps(record, separators=(",", ":")).encode()


def _records() -> list[bytes]:
    """In time order per (user, message): the order the SQL judges bursts in."""
    minute = 60_000
    return [
        # Apple's proxy fetches the pixel 30 s after the send, the person opens 12 minutes later (proxy too).
        _ses("open", "reader-1", "msg-proxy", 30_000, PROXY_UA, "192.0.2.1"),
        _ses("open", "reader-1", "msg-proxy", 12 * minute, f" {PROXY_UA} ", "192.0.2.1"),
        _ses("click", "reader-1", "msg-proxy", 13 * minute, PHONE_UA, "192.0.2.1", "https://example.com/a"),
        # An open from a proxy address with a browser's user agent; an IPv6 proxy address (not matched in SQL
        # nor here: the address is outside the IPv4 block); an address with a leading zero (no address).
        _ses("open", "reader-2", "msg-net", 5 * minute, PHONE_UA, "203.0.113.7"),
        _ses("open", "reader-2", "msg-net-2", 6 * minute, PHONE_UA, "203.0.113.200"),
        _ses("open", "reader-2", "msg-net-3", 7 * minute, PHONE_UA, "203.0.113.07"),
        # A click with the proxy's user agent from a proxy address: privacy_proxy_open is for opens only.
        _ses("click", "reader-2", "msg-net", 8 * minute, PROXY_UA, "203.0.113.7", "https://example.com/a"),
        # A click 1 s after the send (send-time proximity), and one 90 s after it.
        _ses("click", "quick-1", "msg-quick", 1_000, DESKTOP_UA, "192.0.2.9", "https://example.com/a"),
        _ses("click", "quick-1", "msg-quick-2", 90_000, DESKTOP_UA, "192.0.2.9", "https://example.com/a"),
        # A scanner (listed user agent) follows three links within half a second, 4 s after the send.
        _ses("click", "corp-1", "msg-scan", 4_000, SCANNER_UA, "192.0.2.50", "https://example.com/a"),
        _ses("click", "corp-1", "msg-scan", 4_200, SCANNER_UA, "192.0.2.50", "https://example.com/b"),
        _ses("click", "corp-1", "msg-scan", 4_450, SCANNER_UA, "192.0.2.50", "https://example.com/c"),
        # The person clicks minutes later.
        _ses("click", "corp-1", "msg-scan", 9 * minute, DESKTOP_UA, "192.0.2.60", "https://example.com/a"),
        # An unlisted burst 5 minutes after the send: three links, then one of them again, within 0.6 s.
        _ses("click", "burst-1", "msg-burst", 5 * minute, DESKTOP_UA, "192.0.2.70", "https://example.com/a"),
        _ses(
            "click",
            "burst-1",
            "msg-burst",
            5 * minute + 300,
            DESKTOP_UA,
            "192.0.2.70",
            "https://example.com/b",
        ),
        _ses(
            "click",
            "burst-1",
            "msg-burst",
            5 * minute + 500,
            DESKTOP_UA,
            "192.0.2.70",
            "https://example.com/a",
        ),
        _ses(
            "click",
            "burst-1",
            "msg-burst",
            5 * minute + 600,
            DESKTOP_UA,
            "192.0.2.70",
            "https://example.com/c",
        ),
        # Its links again 2 s later: out of the window of the earlier clicks.
        _ses(
            "click",
            "burst-1",
            "msg-burst",
            5 * minute + 2_700,
            DESKTOP_UA,
            "192.0.2.70",
            "https://example.com/d",
        ),
        # A scanner address (listed block), and Pinpoint's e-mail events with the same signals.
        _ses(
            "click",
            "corp-2",
            "msg-scan-net",
            7 * minute,
            DESKTOP_UA,
            "198.51.100.23",
            "https://example.com/a",
        ),
        _pinpoint("open", "endpoint-1", "pp-msg-1", 20_000, PROXY_UA, "192.0.2.1"),
        _pinpoint("open", "endpoint-1", "pp-msg-1", 30 * minute, PHONE_UA, "192.0.2.1"),
        _pinpoint("click", "endpoint-1", "pp-msg-1", 3_000, SCANNER_UA, "192.0.2.2", "https://example.com/a"),
        _pinpoint("click", "endpoint-1", "pp-msg-1", 3_400, SCANNER_UA, "192.0.2.2", "https://example.com/b"),
        _pinpoint(
            "click", "endpoint-1", "pp-msg-1", 31 * minute, DESKTOP_UA, "192.0.2.3", "https://example.com/a"
        ),
    ]


Key = tuple[str, str, int, str | None]  # user, type, time, message


def _engine_verdicts(records: list[bytes], text: str) -> dict[Key, tuple[float, tuple[str, ...]]]:
    """The engine's verdict on every open and click: classify() from the record, burst from
    burst_indexes() over the events in the order of `records`."""
    policy = parse_policy(text)
    events = [
        event
        for data in records
        for event in decode_record(base64.b64encode(data).decode("ascii"), FormatSettings())
        if type(event) is NormalizedEvent
    ]
    bursts = burst_indexes(events, policy)
    verdicts = {}
    for index, event in enumerate(events):
        verdict = classify(event, policy, index in bursts)
        key = (event.user_key, event.event_type, event.timestamp_ms, event.message_id)
        verdicts[key] = (float(verdict.weight), verdict.reasons)
    assert len(verdicts) == len(records) == len(events)
    return verdicts


def _sql(root: Path, settings: archive.QuerySettings, select: str) -> list[dict[str, Any]]:
    shared = (archive.SQL_DIR / f"{archive.SHARED_PART}.sql").read_text()
    return archive.run_duckdb(
        archive.duckdb_connect(root), archive._render("WITH\n" + shared + select, settings.variables())
    )


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_sql_verdicts_and_scores_are_the_engines(tmp_path: Path, policy: str) -> None:
    records = _records()
    archive.LocalArchive(tmp_path).write(records, ARRIVAL_MS)
    text = json.dumps(POLICIES[policy])
    settings = archive.QuerySettings(source=archive.LOCAL_SOURCE, rules=RULES, machine=parse_policy(text))

    # Every event's verdict: the engine's weight and reasons.
    engine = _engine_verdicts(records, text)
    rows = _sql(
        tmp_path,
        settings,
        "\nSELECT user_key, event_type, ts_ms, message_id, machine_weight, machine_reasons FROM events",
    )
    got = {
        (r["user_key"], r["event_type"], r["ts_ms"], r["message_id"]): (
            r["machine_weight"],
            tuple(r["machine_reasons"].split(",")) if r["machine_reasons"] else (),
        )
        for r in rows
    }
    assert got == engine
    # The shapes carry every reason under the policies that have the lists (not vacuous).
    found = {reason for _, reasons in engine.values() for reason in reasons}
    assert found == (set(REASONS) if "scanner_cidrs" in POLICIES[policy] else set(REASONS) - {"scanner_list"})

    # Scores: the oracle applies the same policy on its own (weight 0 no touch, once-per-message opens).
    expected = expect(
        records, rules_from_items(RULES), Settings.from_environment({"MACHINE_ENGAGEMENT": text})
    )
    connection = archive.duckdb_connect(tmp_path)
    rescored = {
        row["user_key"]: row
        for row in archive.run_duckdb(connection, archive.render_query("rescoring", settings))
    }
    assert set(rescored) == set(expected.users)
    for user_key, user in expected.users.items():
        row = rescored[user_key]
        assert (row["score"], row["events"], row["as_of"]) == (
            float(user.score),
            user.events_applied,
            user.as_of,
        ), user_key
    top = {
        row["user_key"]: row
        for row in archive.run_duckdb(connection, archive.render_query("top_users", settings))
    }
    assert {key: row["points"] for key, row in top.items()} == {
        key: float(user.raw_score) for key, user in expected.users.items()
    }
    # The user's history shows each event's weight, reasons and weighted points.
    history = archive.run_duckdb(connection, archive.render_query("user_history", settings), ["corp-1"])
    assert [(r["machine_weight"], r["machine_reasons"]) for r in history] == [
        (weight, ",".join(reasons) or None)
        for (user, _, _, _), (weight, reasons) in sorted(engine.items(), key=lambda item: item[0][2])
        if user == "corp-1"
    ]
    assert [r["points"] for r in history] == [50 * r["machine_weight"] for r in history]
    campaigns = archive.run_duckdb(connection, archive.render_query("campaign_engagement", settings))
    assert sum(r["points"] for r in campaigns) == sum(r["points"] for r in top.values())


def test_weights_change_the_scores(tmp_path: Path) -> None:
    """Not vacuous: the same archive scores differently under weights 0, 0.5 and 1."""
    archive.LocalArchive(tmp_path).write(_records(), ARRIVAL_MS)
    connection = archive.duckdb_connect(tmp_path)
    totals = []
    for name in ("weights 0", "weights 0.5", "weights 1"):
        machine = parse_policy(json.dumps(POLICIES[name]))
        settings = archive.QuerySettings(source=archive.LOCAL_SOURCE, rules=RULES, machine=machine)
        rows = archive.run_duckdb(connection, archive.render_query("rescoring", settings))
        totals.append(sum(row["score"] for row in rows))
    assert totals[0] < totals[1] < totals[2]
