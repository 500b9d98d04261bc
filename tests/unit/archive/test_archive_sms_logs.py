"""The SMS event-log route reaches the archive decoded (archive.tf: the second subscription on the module's
SMS event log group, into a delivery stream with the Decompression and CloudWatchLogProcessing processors).

Firehose does not run here: `archive.write_local_archive` is the stand-in for what that stream writes (each
log event's message, one a line, in objects of its own). These tests run the real sql/archive_events.sql on
DuckDB over what it writes and check that an SMS record that came through the log group gives the rows of
the same SMS event sent bare, and the rows the scorer's decoder gives for the subscription record itself;
and that the simulator's `--archive-dir` writes routed SMS records so (the rescoring of a run that routes
every SMS record equals the oracle's for every user).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring import archive
from engagement_scoring.core.events import FormatSettings
from engagement_scoring.core.machine import REASONS, parse_policy

from simulator import cli, routes
from simulator.oracle import Settings, expect, rules_from_items
from simulator.workload import WorkloadConfig, generate
from tests.unit.archive.test_archive_successor import (
    ARRIVAL_MS,
    EVENTS,
    RULES,
    _compact,
    _engine_rows,
    _sql_events,
)

SETTINGS = archive.QuerySettings(source=archive.LOCAL_SOURCE, rules=RULES)
COLUMNS = ("format", "event_type", "ts_ms", "user_key", "campaign", "message_id")


def _envelope(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((EVENTS / "envelopes" / f"{name}.json").read_text())
    return value


def _subscription_record(envelope: dict[str, Any]) -> bytes:
    """The record as a CloudWatch Logs subscription delivers it (gzip JSON)."""
    return gzip.compress(_compact(envelope), mtime=0)


def _rows(root: Path) -> list[tuple[Any, ...]]:
    return sorted(tuple(row[c] for c in COLUMNS) for row in _sql_events(root, SETTINGS))


def test_extraction_keeps_exactly_the_log_events_messages() -> None:
    envelope = _envelope("cloudwatch_logs_sms")
    messages = archive.extract_log_messages(_subscription_record(envelope))
    assert messages == [event["message"].encode() for event in envelope["logEvents"]]
    assert [json.loads(m)["eventType"] for m in messages] == ["TEXT_SUCCESSFUL", "TEXT_DELIVERED"]
    # A CONTROL_MESSAGE's message is text, not JSON.
    control = archive.extract_log_messages(_subscription_record(_envelope("cloudwatch_logs_control")))
    assert control == [b"CWL CONTROL MESSAGE: Checking health of destination Kinesis stream."]
    for bad in (b'{"eventType":"TEXT_DELIVERED"}', gzip.compress(b"[1, 2]"), gzip.compress(b"\xff")):
        with pytest.raises(archive.NotASubscriptionRecord):
            archive.extract_log_messages(bad)


def test_a_log_route_record_is_decoded_by_the_sql_like_the_bare_record(tmp_path: Path) -> None:
    envelope = _envelope("cloudwatch_logs_sms")
    record = _subscription_record(envelope)
    control = _subscription_record(_envelope("cloudwatch_logs_control"))

    # The SMS log route as archived: the Kinesis route's gzip copies (no row) beside the decoded stream's
    # lines, a CONTROL_MESSAGE and a record that is no subscription record among them.
    routed = tmp_path / "routed"
    kinesis_route, sms_route = archive.write_local_archive(
        routed, [record, control], [record, control, b"not gzip"], ARRIVAL_MS
    )
    assert (kinesis_route.records_written, sms_route.records_written, sms_route.records_failed) == (2, 3, 1)
    names = sorted(p.name for p in (routed / archive.EVENTS_PREFIX).glob("dt=*/*.gz"))
    assert [n.startswith(archive.SMS_LOGS_OBJECT_NAME + "-1-") for n in names] == [False, True]

    # The same SMS events sent bare (direct records: other bytes, the same JSON values).
    bare = tmp_path / "bare"
    archive.LocalArchive(bare).write(
        [json.dumps(json.loads(e["message"])).encode() for e in envelope["logEvents"]], ARRIVAL_MS
    )

    got, want = _rows(routed), _rows(bare)
    assert len(want) == 2 and {row[0] for row in want} == {"sms"}
    assert got == want  # each event once: the gzip copies and the control message give no row
    # And what the scorer's decoder reads from the subscription record itself.
    engine = sorted(("sms", *row) for _, row in _engine_rows(record, FormatSettings()))
    assert got == engine
    # Through a named query: TEXT_SUCCESSFUL then TEXT_DELIVERED, one _SMS.SUCCESS of the message.
    connection = archive.duckdb_connect(routed)
    rescored = archive.run_duckdb(connection, archive.render_query("rescoring", SETTINGS))
    assert [(r["user_key"], r["events"]) for r in rescored] == [("example-user-1", 1)]
    assert rescored[0]["raw_score"] == dict((r["event_type"], r["points"]) for r in RULES)["_SMS.SUCCESS"]


def test_simulated_archive_with_every_sms_record_routed_rescores_like_the_oracle(tmp_path: Path) -> None:
    """`python -m simulator run --archive-dir DIR --route-share 1`: every SMS status record goes through
    the log group, and the local archive holds it decoded, so the rescoring sees every SMS event (without
    the route the SQL sees none of them: test_archive_successor.py)."""
    workload = generate(
        WorkloadConfig(users=120, events=1500, seed=7, duplicate_rate=0.03, malformed_rate=0.01)
    )
    direct, routed = routes.split(workload.records, 1.0, route_inbound=False)
    assert routed and all(data[:2] == routes.GZIP_MAGIC for data in routed)
    cli.write_archive(tmp_path, [r.data for r in direct], routed)

    policy = json.dumps({"weights": dict.fromkeys(REASONS, 1)})
    expected = expect(
        [r.data for r in workload.records],
        rules_from_items(RULES),
        Settings.from_environment({"MACHINE_ENGAGEMENT": policy}),
    )
    # the same policy for the SQL, which weighs opens and clicks as the engine does (test_archive_machine.py)
    settings = dataclasses.replace(SETTINGS, machine=parse_policy(policy))
    rows = {
        row["user_key"]: row
        for row in archive.run_duckdb(
            archive.duckdb_connect(tmp_path), archive.render_query("rescoring", settings)
        )
    }
    assert set(rows) == set(expected.users) and len(rows) > 50
    for user_key, user in expected.users.items():
        row = rows[user_key]
        assert (row["score"], row["events"], row["as_of"]) == (
            float(user.score),
            user.events_applied,
            user.as_of,
        ), user_key
    formats = Counter(row["format"] for row in _sql_events(tmp_path, settings))
    assert formats["sms"] > 50 and formats["ses"] > 300
