"""The archive's SQL (sql/archive_events.sql, shared by every named query) decodes the successor formats as
the engine does: DuckDB runs the real SQL files over the tests/events samples (SES bare, in EventBridge and
SNS envelopes; End User Messaging SMS bare, in EventBridge and SQS envelopes; Pinpoint; custom) written in
the archive's layout, and every row it gives is compared with what the scorer's own decoder
(pipeline/scorer.decode_record, i.e. formats/) gives for the same record: event type, time, user key,
campaign, message id.

What the SQL does not decode is asserted too, so that it stays what docs/operations.md says: CloudWatch Logs
subscription records (gzip data) give no row (the explain command reads them: test_explain.py).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring import archive
from engagement_scoring.core.events import FormatSettings, NormalizedEvent, RecordRejected
from engagement_scoring.core.machine import REASONS, parse_policy
from engagement_scoring.core.rules import ORIGINAL_POINTS
from engagement_scoring.formats import sms
from engagement_scoring.pipeline.scorer import decode_record

from simulator.oracle import Settings, expect, rules_from_items
from simulator.workload import WorkloadConfig, generate

EVENTS = Path(__file__).resolve().parents[2] / "events"
FOLDERS = ("pinpoint", "custom", "ses", "sms", "envelopes")
RULES = tuple({"event_type": name, "points": points} for name, points in ORIGINAL_POINTS.items())
ARRIVAL_MS = 1_761_955_200_000  # 2025-11-01
DEFAULT_TAGS = ("user_key", "campaign")
# Tag names that need quoting in a JSON path (variables.tf allows '-').
DASHED_TAGS = ("crm-id", "camp-aign")

Row = tuple[str, int, str, str | None, str | None]  # event type, time, user key, campaign, message id


def _sample(folder: str, name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads((EVENTS / folder / f"{name}.json").read_text())
    return value


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _eventbridge(detail: dict[str, Any], event_id: str, time: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": "Email Event",
        "source": "aws.ses",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def _extra_records(tags: tuple[str, str]) -> list[bytes]:
    """Shapes the samples lack, built from them: every final SMS failure type, an SMS event in an SQS
    body, an SES record in an SNS notification and redelivered by EventBridge, a topic opt-out, a future
    SES event type."""
    extra: list[bytes] = []
    delivered = _sample("sms", "text_delivered")
    for index, name in enumerate(sorted(sms.FAILURE_TYPES)):
        record = {**delivered, "eventType": name, "messageId": f"sms-failure-{index}"}
        record["eventTimestamp"] = delivered["eventTimestamp"] + index
        extra.append(_compact(record))
    queued = {**_sample("sms", "text_queued"), "messageId": "sms-in-sqs"}
    extra.append(
        _compact(
            {
                "eventSource": "aws:sqs",
                "body": json.dumps(_rename_tags(queued, tags)),
                "attributes": {"SentTimestamp": "1"},
            }
        )
    )
    click = _sample("ses", "click")
    extra.append(
        _compact(
            {
                "Type": "Notification",
                "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
                "TopicArn": "arn:aws:sns:us-east-1:123456789012:ses-events",
                "Message": json.dumps(
                    _rename_tags(
                        {**click, "click": {**click["click"], "link": "https://example.com/b"}}, tags
                    )
                ),
                "Timestamp": "2017-08-09T23:51:25.570Z",
            }
        )
    )
    # The same delivery twice more, in EventBridge envelopes of different ids and times: one event.
    delivery = _sample("ses", "delivery")
    extra.append(_compact(_eventbridge(delivery, "redelivery-1", "2017-08-09T22:00:21Z")))
    extra.append(_compact(_eventbridge(delivery, "redelivery-2", "2017-08-09T22:05:00Z")))
    # A transient bounce of its own (the sample shares the permanent one's feedback id and time).
    transient = _sample("ses", "bounce_transient")
    transient["bounce"] = {**transient["bounce"], "feedbackId": "transient-feedback-1"}
    extra.append(_compact(transient))
    # A topic newly opted out of (the second of two), all topics still subscribed: an unsubscribe.
    subscription = _sample("ses", "subscription_opt_in")
    topics = copy.deepcopy(subscription)
    sub = topics["subscription"]
    sub["timestamp"] = "2022-01-12T01:00:20.000Z"
    sub["oldTopicPreferences"] = {
        "unsubscribeAll": False,
        "topicSubscriptionStatus": [
            {"topicName": "News", "subscriptionStatus": "OptOut"},
            {"topicName": "Offers", "subscriptionStatus": "OptIn"},
        ],
    }
    sub["newTopicPreferences"] = {
        "unsubscribeAll": False,
        "topicSubscriptionStatus": [
            {"topicName": "News", "subscriptionStatus": "OptOut"},
            {"topicName": "Offers", "subscriptionStatus": "OptOut"},
        ],
    }
    extra.append(_compact(topics))
    # An event type SES may add later, without a sub-object: `_email.` + its name, at the send time.
    future = {key: value for key, value in _sample("ses", "send").items() if key != "send"}
    extra.append(_compact({**future, "eventType": "Future Thing"}))
    return extra


def _rename_tags(value: Any, names: tuple[str, str]) -> Any:
    """The same record with the SES tags / SMS context keys user_key and campaign renamed to `names`."""
    if isinstance(value, list):
        return [_rename_tags(item, names) for item in value]
    if not isinstance(value, dict):
        return value
    renamed = {}
    for key, item in value.items():
        item = _rename_tags(item, names)
        if key in ("tags", "context") and isinstance(item, dict):
            item = {dict(zip(DEFAULT_TAGS, names, strict=True)).get(k, k): v for k, v in item.items()}
        renamed[key] = item
    return renamed


def _records(tags: tuple[str, str]) -> tuple[list[bytes], list[bytes]]:
    """(every record as the stream carries it, the CloudWatch Logs ones among them: gzip)."""
    records, gzipped = [], []
    for folder in FOLDERS:
        for path in sorted((EVENTS / folder).glob("*.json")):
            value = _rename_tags(json.loads(path.read_text()), tags)
            for event in value.get("logEvents", []) if value.get("messageType") == "DATA_MESSAGE" else []:
                event["message"] = json.dumps(_rename_tags(json.loads(event["message"]), tags))
            if "logEvents" in value:
                data = gzip.compress(_compact(value), mtime=0)
                gzipped.append(data)
            else:
                data = _compact(value)
            records.append(data)
    extra = [_compact(_rename_tags(json.loads(data), tags)) for data in _extra_records(tags)]
    return records + extra, gzipped


def _engine_rows(data: bytes, settings: FormatSettings) -> list[tuple[str, Row]]:
    """(content key, row) of every event the scorer decodes from `data`."""
    try:
        decoded = decode_record(base64.b64encode(data).decode("ascii"), settings)
    except RecordRejected:  # the whole record (a bare inbound SMS has no time)
        return []
    return [
        (e.content_key, (e.event_type, e.timestamp_ms, e.user_key, e.campaign, e.message_id))
        for e in decoded
        if type(e) is NormalizedEvent
    ]


def _sql_events(root: Path, settings: archive.QuerySettings) -> list[dict[str, Any]]:
    """The `events` CTE of the real sql/archive_events.sql, as every named query sees it."""
    shared = (archive.SQL_DIR / f"{archive.SHARED_PART}.sql").read_text()
    sql = archive._render(
        "WITH\n"
        + shared
        + "\nSELECT line, format, event_type, ts_ms, user_key, campaign, message_id FROM events",
        settings.variables(),
    )
    return archive.run_duckdb(archive.duckdb_connect(root), sql)


def _write(root: Path, records: Sequence[bytes]) -> None:
    archive.LocalArchive(root).write(records, ARRIVAL_MS)


@pytest.mark.parametrize("tags", [DEFAULT_TAGS, DASHED_TAGS], ids=["default tags", "dashed tags"])
def test_sql_rows_are_what_the_engine_decodes(tmp_path: Path, tags: tuple[str, str]) -> None:
    records, gzipped = _records(tags)
    _write(tmp_path, records)
    format_settings = FormatSettings(user_key_tag=tags[0], campaign_tag=tags[1])
    query_settings = archive.QuerySettings(
        source=archive.LOCAL_SOURCE, rules=RULES, user_key_tag=tags[0], campaign_tag=tags[1]
    )
    rows = _sql_events(tmp_path, query_settings)

    # The engine, record by record; an event whose content key came before is the same event.
    seen: set[str] = set()
    expected_by_line: dict[str, list[Row]] = {}
    duplicated_lines: set[str] = set()
    expected_unique: list[Row] = []
    gzip_events = 0
    for data in records:
        engine = _engine_rows(data, format_settings)
        if data in gzipped:
            gzip_events += len(engine)
            continue
        line = data.decode()
        expected_by_line[line] = [row for _, row in engine]
        for key, row in engine:
            if key in seen:
                duplicated_lines.add(line)
                continue
            seen.add(key)
            expected_unique.append(row)

    got_by_line: dict[str, list[Row]] = {}
    for got in rows:
        got_by_line.setdefault(got["line"], []).append(
            (got["event_type"], got["ts_ms"], got["user_key"], got["campaign"], got["message_id"])
        )
    # Every event once (redeliveries too), with the engine's columns.
    got_all = [r for line_rows in got_by_line.values() for r in line_rows]
    assert Counter(got_all) == Counter(expected_unique)
    # Row by row: each line that is no redelivery gives exactly the engine's rows.
    mismatches = [
        (line[:80], got_by_line.get(line, []), want)
        for line, want in expected_by_line.items()
        if line not in duplicated_lines and sorted(got_by_line.get(line, [])) != sorted(want)
    ]
    assert not mismatches, mismatches[:3]

    # The samples cover what the SQL claims to decode (not vacuous).
    formats = Counter(row["format"] for row in rows)
    assert formats == {"pinpoint": 19, "custom": 2, "ses": 15, "sms": len(sms.FAILURE_TYPES) + 5}
    types = {row["event_type"] for row in rows if row["format"] in ("ses", "sms")}
    assert {
        "_email.send",
        "_email.delivered",
        "_email.open",
        "_email.click",
        "_email.hardbounce",
        "_email.softbounce",
        "_email.complaint",
        "_email.rejected",
        "_email.rendering_failure",
        "_email.delivery_delay",
        "_email.unsubscribe",
        "_email.subscription",
        "_email.future_thing",
        "_SMS.SUCCESS",
        "_SMS.FAILURE",
        "_SMS.TEXT_QUEUED",
    } <= types
    enveloped = [
        row
        for row in rows
        if row["format"] in ("ses", "sms") and {"detail", "Message", "body"} & set(json.loads(row["line"]))
    ]
    assert {row["format"] for row in enveloped} == {"ses", "sms"}  # EventBridge / SNS / SQS envelopes
    assert {row["user_key"] for row in rows if row["format"] in ("ses", "sms")} == {"example-user-1"}
    assert {row["campaign"] for row in rows if row["format"] in ("ses", "sms")} == {"example-campaign"}
    # The redeliveries were there and are one event each.
    assert len(duplicated_lines) >= 2
    # Not decoded: the CloudWatch Logs records (gzip) carry two SMS events the engine reads.
    assert gzip_events == 2
    assert not any(line.startswith('{"messageType"') for line in got_by_line)


def test_once_per_message_and_the_tag_variables_reach_the_named_queries(tmp_path: Path) -> None:
    """Through the named queries: SMS successful then delivered count once (the engine's rule for
    _SMS.SUCCESS), and the rendered queries use the tag names given."""
    records, _ = _records(DASHED_TAGS)
    _write(tmp_path, records)
    settings = archive.QuerySettings(
        source=archive.LOCAL_SOURCE, rules=RULES, user_key_tag=DASHED_TAGS[0], campaign_tag=DASHED_TAGS[1]
    )
    connection = archive.duckdb_connect(tmp_path)
    history = archive.run_duckdb(
        connection, archive.render_query("user_history", settings), ["example-user-1"]
    )
    sms_success = [row for row in history if row["event_type"] == "_SMS.SUCCESS"]
    # text_successful and text_delivered: one message id, two events in the history ...
    assert len(sms_success) == 2 and len({row["message_id"] for row in sms_success}) == 1
    campaigns = {
        row["campaign"]: row
        for row in archive.run_duckdb(connection, archive.render_query("campaign_engagement", settings))
    }
    # ... counted once: points of the campaign's SMS success are one rule's worth.
    counted = archive.run_duckdb(
        connection,
        "WITH\n"
        + archive._render((archive.SQL_DIR / f"{archive.SHARED_PART}.sql").read_text(), settings.variables())
        + "\nSELECT count(*) AS n FROM scored WHERE event_type = '_SMS.SUCCESS' AND message_id = ?",
        [sms_success[0]["message_id"]],
    )
    assert counted == [{"n": 1}]
    assert campaigns["example-campaign"]["users"] == 1
    sql = archive.render_query("rescoring", settings)
    assert '$.mail.tags["crm-id"][0]' in sql and '$.context["camp-aign"]' in sql
    assert '["user_key"]' not in sql
    with pytest.raises(ValueError, match="tag name"):
        archive.QuerySettings(source="t", rules=RULES, user_key_tag="x\"]'").variables()


# Machine engagement policies (the module's machine_engagement input): every weight 1 (as if no policy), the
# defaults, and the simulator's scanner listed with weights between 0 and 1.
POLICIES: dict[str, dict[str, Any]] = {
    "weights 1": {"weights": dict.fromkeys(REASONS, 1)},
    "default policy": {},
    "scanner listed, weights 0.5 and 0.25": {
        "weights": {"privacy_proxy_open": 0.5, "send_time_proximity": 0.25, "scanner_list": 0.5, "burst": 0},
        "scanner_user_agents": ["ExampleLinkScanner"],
    },
}


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_rescoring_over_the_successor_workload_matches_the_oracle(tmp_path: Path, policy: str) -> None:
    """The simulator's successor workload (SES bare and in EventBridge, SMS, custom app events, re-sent
    duplicates, EventBridge redeliveries, malformed records, privacy-proxy readers and scanner-protected
    addresses), without its CloudWatch Logs gzip records (not decoded in SQL): the rescoring query gives
    every user the oracle's score, event count and newest event, under the same machine-engagement policy
    on both sides (the oracle applies it on its own: simulator/machine_policy.py)."""
    workload = generate(
        WorkloadConfig(users=120, events=1500, seed=7, duplicate_rate=0.03, malformed_rate=0.01)
    )
    records = [r.data for r in workload.records if not r.data.startswith(b"\x1f\x8b")]
    assert len(records) < len(workload.records)  # the gzip records were there
    writer = archive.LocalArchive(tmp_path)
    for offset in range(0, len(records), 97):
        writer.write(records[offset : offset + 97], ARRIVAL_MS + offset * 60_000)
    text = json.dumps(POLICIES[policy])
    expected = expect(
        records, rules_from_items(RULES), Settings.from_environment({"MACHINE_ENGAGEMENT": text})
    )
    settings = archive.QuerySettings(source=archive.LOCAL_SOURCE, rules=RULES, machine=parse_policy(text))
    # The workload's machines show the reasons (not vacuous): proxy opens, bursts, quick opens; the scanner
    # list when it is given.
    assert {"privacy_proxy_open", "send_time_proximity", "burst"} <= set(expected.machine_flagged)
    assert ("scanner_list" in expected.machine_flagged) == ("scanner_user_agents" in POLICIES[policy])
    connection = archive.duckdb_connect(tmp_path)
    rows = {
        row["user_key"]: row
        for row in archive.run_duckdb(connection, archive.render_query("rescoring", settings))
    }
    assert set(rows) == set(expected.users) and len(rows) > 50
    for user_key, user in expected.users.items():
        row = rows[user_key]
        assert (row["score"], row["events"], row["as_of"]) == (
            float(user.score),
            user.events_applied,
            user.as_of,
        )
    formats = Counter(row["format"] for row in _sql_events(tmp_path, settings))
    # The workload's SMS events come only in CloudWatch Logs records (left out here): SMS is covered above.
    assert formats["ses"] > 300 and formats["custom"] > 300 and formats["sms"] == 0
