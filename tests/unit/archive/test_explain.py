"""`python -m engagement_scoring.explain` over a simulated local archive: per user, the contributions of the
counted events sum to the score the oracle computes for the same records (every format and envelope the
engine decodes, machine engagement on), and the command's JSON says the same."""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
from contextlib import redirect_stdout
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from engagement_scoring import archive, explain
from engagement_scoring.core.events import FormatSettings
from engagement_scoring.core.machine import parse_policy
from engagement_scoring.core.model import ScoringModel
from engagement_scoring.core.rules import ORIGINAL_POINTS, original_rules
from engagement_scoring.core.rules import rules_from_items as rules_from_engine
from moto import mock_aws

from simulator.oracle import Settings, expect, rules_from_items
from simulator.workload import WorkloadConfig, generate

RULES = [{"event_type": name, "points": points} for name, points in ORIGINAL_POINTS.items()]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    workload = generate(
        WorkloadConfig(users=60, events=1200, seed=11, duplicate_rate=0.03, malformed_rate=0.01)
    )
    root = tmp_path_factory.mktemp("archive")
    writer = archive.LocalArchive(root)
    records = [r.data for r in workload.records]
    for offset in range(0, len(records), 200):
        writer.write(records[offset : offset + 200], 1_761_955_200_000 + offset * 60_000)
    # Every record is read back, the CloudWatch Logs gzip records (binary, newline bytes and all) too.
    assert sum(1 for data in records if data.startswith(b"\x1f\x8b")) > 10
    assert [data for data, _ in archive.local_records(root)] == records
    return root, records


@pytest.mark.parametrize("half_life_hours", [0, 48])
def test_contributions_sum_to_the_oracles_score(
    simulated: tuple[Path, list[bytes]], half_life_hours: int
) -> None:
    root, readable = simulated
    env = {"DECAY_HALF_LIFE_HOURS": str(half_life_hours)}
    expected = expect(readable, rules_from_items(RULES), Settings.from_environment(env))
    model = ScoringModel(half_life_hours=Decimal(half_life_hours))
    checked = machine_seen = 0
    for user_key, user in sorted(expected.users.items())[:25]:
        result = explain.explain(
            explain.local_records(root, user_key),
            user_key,
            original_rules(),
            model,
            parse_policy(""),
            FormatSettings(),
        )
        counted = [line for line in result.lines if line.status == explain.COUNTED]
        assert len(counted) == user.events_applied, user_key
        assert math.isclose(sum(line.contribution for line in counted), float(user.raw_score), abs_tol=1e-5)
        assert math.isclose(result.score, float(user.score), abs_tol=1e-5), user_key
        assert result.as_of == user.as_of
        machine_seen += sum(1 for line in result.lines if line.reasons)
        checked += 1
    assert checked == 25
    assert machine_seen > 0  # the workload's machines are judged, not only plain events


def test_command_prints_json_and_a_table(simulated: tuple[Path, list[bytes]]) -> None:
    root, readable = simulated
    expected = expect(readable, rules_from_items(RULES), Settings.from_environment({}))
    user_key, user = max(expected.users.items(), key=lambda item: item[1].events_applied)
    out = io.StringIO()
    with redirect_stdout(out):
        assert explain.main(["--user", user_key, "--archive-dir", str(root), "--json"]) == 0
    printed = json.loads(out.getvalue())
    assert printed["user_key"] == user_key and math.isclose(printed["score"], float(user.score))
    assert sum(
        line["contribution"] for line in printed["lines"] if line["status"] == "counted"
    ) == pytest.approx(float(user.score))
    out = io.StringIO()
    with redirect_stdout(out):
        assert explain.main(["--user", user_key, "--archive-dir", str(root)]) == 0
    assert f"{user_key}: score {float(user.score):g}" in out.getvalue()
    assert f"{printed['records_read']} archived records name the user" in out.getvalue()


def _log_delivery(messages: list[dict[str, Any]], first_id: int) -> bytes:
    """A CloudWatch Logs subscription record (gzip) carrying `messages`, one log event each."""
    document = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/sms-voice/engagement-events",
        "logStream": "example-stream",
        "subscriptionFilters": ["engagement-scoring"],
        "logEvents": [
            {"id": str(first_id + i), "timestamp": m["eventTimestamp"] + 30, "message": json.dumps(m)}
            for i, m in enumerate(messages)
        ],
    }
    return gzip.compress(json.dumps(document).encode(), mtime=0)


def test_cloudwatch_logs_gzip_records_are_read_from_a_local_archive(tmp_path: Path) -> None:
    """Gzip records whose bytes hold newlines, and one stored as base64 text, are read whole, beside
    text records, and explain counts the SMS events inside them."""
    template = json.loads(
        (Path(__file__).resolve().parents[2] / "events" / "sms" / "text_delivered.json").read_text()
    )
    records, carrying_newline = [], 0
    for n in range(40):
        message = {**template, "messageId": f"sms-{n}", "eventTimestamp": 1_761_955_200_000 + n * 1000}
        message["eventType"] = "TEXT_SUCCESSFUL"
        data = _log_delivery([message], n)
        carrying_newline += b"\n" in data
        records.append(data)
    assert carrying_newline > 0  # a plain line split would cut these records
    other = {**template, "messageId": "sms-other", "context": {"user_key": "someone-else"}}
    records.append(_log_delivery([other], 99))
    text = json.dumps({"schema": "engagement.event/1", "event_type": "_session.start",
                       "user_key": "example-user-1", "timestamp": 1_761_955_300_000}).encode()  # fmt: skip
    stored_as_base64 = base64.b64encode(records[0])
    archive.LocalArchive(tmp_path).write([*records, text, stored_as_base64], 1_761_955_200_000)

    everything = [data for data, _ in archive.local_records(tmp_path)]
    assert everything == [*records, text, records[0]]
    found = explain.local_records(tmp_path, "example-user-1")
    assert [data for data, _ in found] == [*records[:40], text, records[0]]
    assert {day for _, day in found} == {"2025-11-01"}
    rules = {**original_rules(), **rules_from_engine([{"event_type": "_SMS.SUCCESS", "points": 3}])[0]}
    result = explain.explain(
        found, "example-user-1", rules, ScoringModel(), parse_policy(""), FormatSettings()
    )
    statuses = [line.status for line in result.lines]
    # 40 SMS successes counted, the session start (original rules: 1 point), the base64 copy a duplicate.
    assert statuses.count("counted") == 41 and statuses.count("duplicate") == 1
    assert result.records_unreadable == 0
    assert result.score == 40 * 3 + ORIGINAL_POINTS["_session.start"]


def test_athena_path_on_moto() -> None:
    """moto's Athena answers StartQueryExecution with results seeded through its moto-api (it runs no SQL):
    this checks the request (workgroup, execution parameter, SQL) and the reading of the result pages."""
    line = json.dumps(
        {"schema": "engagement.event/1", "event_type": "_session.start", "user_key": "u-1", "timestamp": 5000}
    )
    with mock_aws():
        athena = boto3.client("athena", region_name="us-east-1")
        athena.create_work_group(Name="wg")
        seeded: dict[str, Any] = {
            "results": [
                {
                    "rows": [
                        {"Data": [{"VarCharValue": "line"}, {"VarCharValue": "dt"}]},
                        {"Data": [{"VarCharValue": line}, {"VarCharValue": "2025-11-01"}]},
                        {"Data": [{"VarCharValue": line}, {"VarCharValue": "2025-11-02"}]},
                    ],
                    "column_info": [
                        {
                            "Name": "line",
                            "Type": "varchar",
                            "CatalogName": "c",
                            "SchemaName": "s",
                            "TableName": "t",
                            "Label": "line",
                            "Precision": 0,
                            "Scale": 0,
                            "Nullable": "UNKNOWN",
                            "CaseSensitive": True,
                        },
                        {
                            "Name": "dt",
                            "Type": "varchar",
                            "CatalogName": "c",
                            "SchemaName": "s",
                            "TableName": "t",
                            "Label": "dt",
                            "Precision": 0,
                            "Scale": 0,
                            "Nullable": "UNKNOWN",
                            "CaseSensitive": True,
                        },
                    ],
                }
            ]
        }
        import requests

        response = requests.post(
            "http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json=seeded
        )
        assert response.status_code == 201
        records = explain.athena_records(athena, "wg", "db", "events", "u-1")
        executions = athena.list_query_executions(WorkGroup="wg")["QueryExecutionIds"]
        execution = athena.get_query_execution(QueryExecutionId=executions[0])["QueryExecution"]
    assert records == [(line.encode(), "2025-11-01"), (line.encode(), "2025-11-02")]
    assert execution["WorkGroup"] == "wg"
    assert 'FROM "db"."events" WHERE strpos(line, ?) > 0' in execution["Query"]
    result = explain.explain(
        records, "u-1", original_rules(), ScoringModel(), parse_policy(""), FormatSettings()
    )
    assert [line.status for line in result.lines] == ["counted", "duplicate"] and result.score == 2
