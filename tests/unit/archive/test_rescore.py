"""`python -m engagement_scoring.rescore` against a real emulator (the embedded moto server): the live table
is written by the real scorer from the same records the local archive holds, then a rule change is
previewed, applied through the refresher's conditional write, and published by the real score sync.

Custom app events with hand-checked points (original rules; the change: `_email.click` 50 -> 80):
  u-open   3 opens                      30 -> 30    cold  (unchanged)
  u-click  1 click                      50 -> 80    cold  (score changes)
  u-tier   3 clicks + 1 open           160 -> 250   warm -> hot
  u-late   only in the archive (the scorer never saw it)
  u-gone   only in the table (never archived)
"""

from __future__ import annotations

import base64
import io
import json
import math
import uuid
from collections.abc import Iterator
from contextlib import redirect_stdout
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from engagement_scoring import archive, rescore
from engagement_scoring.aws.due_store import DueStore
from engagement_scoring.core.config import ScorerConfig, SyncConfig
from engagement_scoring.core.rules import ORIGINAL_POINTS
from engagement_scoring.pipeline import refresher
from engagement_scoring.pipeline.refresher import RefresherConfig, RefresherRuntime
from engagement_scoring.pipeline.score_sync import SyncRuntime, process_stream_batch
from engagement_scoring.pipeline.scorer import ScorerRuntime, process_batch

from simulator.local_cloud.moto_server import EmbeddedMoto

T0 = 1_761_955_200_000  # 2025-11-01, long past: the scorer's clock-skew check passes
HOUR = 3_600_000
TIERS = [
    {"name": "cold", "min_score": 0},
    {"name": "warm", "min_score": 100},
    {"name": "hot", "min_score": 200},
]
NEW_RULES = [
    {"event_type": name, "points": 80 if name == "_email.click" else points}
    for name, points in ORIGINAL_POINTS.items()
]


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedMoto]:
    moto = EmbeddedMoto().start()
    try:
        yield moto
    finally:
        moto.stop()


class Cloud:
    def __init__(self, moto: EmbeddedMoto, half_life_hours: int) -> None:
        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=moto.endpoint_url,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )

        self.dynamodb, self.sqs, self.events = client("dynamodb"), client("sqs"), client("events")
        self.streams = client("dynamodbstreams")
        # Fresh names per test on the module's one server.
        prefix = f"rs-{uuid.uuid4().hex[:8]}"
        rules, self.scores, ledger, self.bus = (f"{prefix}-{n}" for n in ("rules", "scores", "ledger", "bus"))
        for name, key, stream in (
            (rules, "event_type", False),
            (self.scores, "user_key", True),
            (ledger, "event_key", False),
        ):
            extra: dict[str, Any] = {}
            attributes = [{"AttributeName": key, "AttributeType": "S"}]
            if stream:  # the user scores table: its stream and the refresher's `due` index
                extra = {
                    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "due",
                            "KeySchema": [
                                {"AttributeName": "due_sh", "KeyType": "HASH"},
                                {"AttributeName": "due_at", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "KEYS_ONLY"},
                        }
                    ],
                }
                attributes += [
                    {"AttributeName": "due_sh", "AttributeType": "S"},
                    {"AttributeName": "due_at", "AttributeType": "N"},
                ]
            self.dynamodb.create_table(
                TableName=name,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=attributes,
                BillingMode="PAY_PER_REQUEST",
                **extra,
            )
        self.dynamodb.batch_write_item(
            RequestItems={
                rules: [
                    {"PutRequest": {"Item": {"event_type": {"S": t}, "points": {"N": str(p)}}}}
                    for t, p in ORIGINAL_POINTS.items()
                ]
            }
        )
        failures = self.sqs.create_queue(QueueName=f"{prefix}-failures")["QueueUrl"]
        self.bus_copy = self.sqs.create_queue(QueueName=f"{prefix}-bus-copy")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.bus_copy, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.events.create_event_bus(Name=self.bus)
        self.events.put_rule(
            Name="copy", EventBusName=self.bus, EventPattern=json.dumps({"source": ["engagement.scoring"]})
        )
        self.events.put_targets(Rule="copy", EventBusName=self.bus, Targets=[{"Id": "q", "Arn": arn}])
        self.env = {
            "RULES_TABLE": rules,
            "SCORES_TABLE": self.scores,
            "PROCESSED_EVENTS_TABLE": ledger,
            "FAILURE_QUEUE_URL": failures,
            "DECAY_HALF_LIFE_HOURS": str(half_life_hours),
            "TIERS": json.dumps(TIERS),
        }
        self.scorer = ScorerRuntime(
            ScorerConfig.from_env(self.env), self.dynamodb, self.sqs, sleep=lambda _: None
        )
        self.sequence = 1000
        stream_arn = self.dynamodb.describe_table(TableName=self.scores)["Table"]["LatestStreamArn"]
        shard = self.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0][
            "ShardId"
        ]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def score(self, records: list[bytes]) -> None:
        batch = []
        for data in records:
            self.sequence += 1
            batch.append(
                {
                    "kinesis": {
                        "partitionKey": "p",
                        "sequenceNumber": str(self.sequence),
                        "data": base64.b64encode(data).decode(),
                    },
                    "eventSource": "aws:kinesis",
                    "eventID": f"shardId-000000000000:{self.sequence}",
                }
            )
        response = process_batch({"Records": batch}, self.scorer)
        assert response == {"batchItemFailures": []}

    def items(self) -> dict[str, dict[str, Any]]:
        return {item["user_key"]: item for item in rescore.scan_table(self.dynamodb, self.scores)}

    def sync(self) -> list[dict[str, Any]]:
        """Run the score sync over the stream records since the last call; the events it published."""
        records = []
        while True:
            page = self.streams.get_records(ShardIterator=self.iterator)
            self.iterator = page["NextShardIterator"]
            if not page["Records"]:
                break
            for record in page["Records"]:
                body = dict(record["dynamodb"])
                body.pop("ApproximateCreationDateTime", None)
                records.append(
                    {
                        "eventID": record["eventID"],
                        "eventName": record["eventName"],
                        "eventSource": "aws:dynamodb",
                        "dynamodb": body,
                    }
                )
        runtime = SyncRuntime(
            SyncConfig.from_env({"EVENT_BUS_NAME": self.bus}), events=self.events, sleep=lambda _: None
        )
        assert process_stream_batch({"Records": records}, runtime) == {"batchItemFailures": []}
        published = []
        while batch := self.sqs.receive_message(QueueUrl=self.bus_copy, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            published += [json.loads(m["Body"]) for m in batch]
            self.sqs.delete_message_batch(
                QueueUrl=self.bus_copy,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )
        return published


def event(user: str, event_type: str, at_ms: int) -> bytes:
    return json.dumps(
        {"schema": "engagement.event/1", "event_type": event_type, "user_key": user, "timestamp": at_ms}
    ).encode()


HISTORY = {
    "u-open": ["_email.open"] * 3,
    "u-click": ["_email.click"],
    "u-tier": ["_email.click", "_email.open", "_email.click", "_email.click"],
}


# With decay the refresher runs at T0 + 12 h before the rescoring: the table's as_of is then 9 h past
# the archive's newest event for u-tier, and the diff must compare both at the same time.
REFRESHED_AT = T0 + 12 * HOUR


def setup(server: EmbeddedMoto, tmp_path: Path, half_life_hours: int) -> tuple[Cloud, archive.LocalArchive]:
    cloud = Cloud(server, half_life_hours)
    records = [
        event(user, kind, T0 + i * HOUR) for user, kinds in HISTORY.items() for i, kind in enumerate(kinds)
    ]
    cloud.score([*records, event("u-gone", "_email.open", T0)])
    if half_life_hours:
        runtime = RefresherRuntime(RefresherConfig.from_env(cloud.env), cloud.dynamodb, sleep=lambda _: None)
        stats = refresher.run(runtime, now_s=REFRESHED_AT // 1000)
        assert stats.users_refreshed == 4, stats.summary()
        assert {int(item["as_of"]) for item in cloud.items().values()} == {REFRESHED_AT}
    writer = archive.LocalArchive(tmp_path / "archive")
    writer.write([*records, event("u-late", "_monetization.purchase", T0)], T0)
    return cloud, writer


def run(cloud: Cloud, tmp_path: Path, rules: list[dict[str, Any]] | None, *flags: str) -> dict[str, Any]:
    argv = [
        "--scores-table",
        cloud.scores,
        "--archive-dir",
        str(tmp_path / "archive"),
        "--json",
        "--tiers",
        json.dumps(TIERS),
    ]
    argv += ["--half-life-hours", cloud.env["DECAY_HALF_LIFE_HOURS"]]
    if rules is not None:
        path = tmp_path / "rules.json"
        path.write_text(json.dumps(rules))
        argv += ["--rules-file", str(path)]
    out = io.StringIO()
    with redirect_stdout(out):
        code = rescore.main([*argv, *flags], dynamodb=cloud.dynamodb)
    assert code == 0
    return dict(json.loads(out.getvalue()))


@pytest.mark.parametrize("half_life_hours", [0, 48])
def test_preview_counts_apply_publishes_and_a_second_run_changes_nothing(
    server: EmbeddedMoto, tmp_path: Path, half_life_hours: int
) -> None:
    cloud, _ = setup(server, tmp_path, half_life_hours)
    cloud.sync()  # the scorer's own publications
    # Same rules: the engine's table and the SQL agree (within the tolerance) for every user.
    same = run(cloud, tmp_path, None)
    assert (same["compared"], same["changing"], same["only_in_archive"], same["only_in_table"]) == (
        3,
        0,
        1,
        1,
    )
    before = cloud.items()
    paged = [item["user_key"] for item in rescore.scan_table(cloud.dynamodb, cloud.scores, page_size=1)]
    assert sorted(paged) == sorted(before) == ["u-click", "u-gone", "u-open", "u-tier"]
    preview = run(cloud, tmp_path, NEW_RULES)
    assert (preview["compared"], preview["score_changed"], preview["tier_changed"]) == (3, 2, 1)
    assert (preview["changing"], preview["only_in_archive"], preview["only_in_table"]) == (2, 1, 1)
    largest = {row["user_key"]: row for row in preview["largest"]}
    assert [row["user_key"] for row in preview["largest"]] == ["u-late", "u-tier", "u-click"]
    assert (largest["u-tier"]["old_tier"], largest["u-tier"]["new_tier"]) == ("warm", "hot")
    if half_life_hours == 0:
        assert (largest["u-tier"]["old_score"], largest["u-tier"]["new_score"]) == (160, 250)
        assert largest["u-click"]["delta"] == 30
    assert cloud.items() == before  # a dry run writes nothing
    assert cloud.sync() == []

    def untouched(user: str) -> dict[str, Any]:
        """What rescoring does not own: the dedupe ring, the ledger and bookkeeping of other writers."""
        item = cloud.dynamodb.get_item(
            TableName=cloud.scores, Key={"user_key": {"S": user}}, ConsistentRead=True
        )
        return {
            k: v
            for k, v in item["Item"].items()
            if k in ("dk", "dd", "endpoint_ids", "wr", "lc", "rules", "ca")
        }

    kept = untouched("u-tier")
    assert kept["dk"]["B"]
    applied = run(cloud, tmp_path, NEW_RULES, "--apply")
    assert untouched("u-tier") == kept
    assert (applied["written"], applied["skipped"], applied["failed"]) == (2, 0, 0)
    after = cloud.items()
    assert "u-late" not in after  # not created without --create-missing
    assert after["u-gone"] == before["u-gone"] and after["u-open"] == before["u-open"]
    tier = after["u-tier"]
    assert tier["tier"] == "hot" and tier["version"] == before["u-tier"]["version"] + 1
    assert tier["events_applied"] == 4 and tier["pub"]["t"] == "hot"
    # u-tier's points from the new rules (events at T0 + i h), decayed to the time the diff compared at.
    h = half_life_hours * HOUR
    at = REFRESHED_AT if h else T0 + 3 * HOUR
    assert tier["as_of"] == at
    weights = [2 ** (-(at - T0 - i * HOUR) / h) if h else 1.0 for i in range(4)]
    expected = 80 * (weights[0] + weights[2] + weights[3]) + 10 * weights[1]
    assert math.isclose(float(tier["score"]), expected, abs_tol=1e-5)
    published = cloud.sync()
    kinds = sorted((p["detail-type"], p["detail"]["user_key"]) for p in published)
    assert kinds == [
        ("EngagementScoreChanged", "u-click"),
        ("EngagementScoreChanged", "u-tier"),
        ("EngagementTierChanged", "u-tier"),
    ]

    again = run(cloud, tmp_path, NEW_RULES, "--apply")
    assert (again["changing"], again["written"], again["skipped"]) == (0, 0, 0)
    assert cloud.items() == after
    assert cloud.sync() == []


def test_only_in_archive_users_are_created_when_asked(server: EmbeddedMoto, tmp_path: Path) -> None:
    cloud, _ = setup(server, tmp_path, 0)
    created = run(cloud, tmp_path, None, "--apply", "--create-missing")
    assert (created["written"], created["only_in_archive"]) == (1, 1)
    late = cloud.items()["u-late"]
    assert (late["score"], late["tier"], late["events_applied"], late["version"]) == (100, "warm", 1, 1)
    assert "dk" not in late
    assert run(cloud, tmp_path, None)["only_in_archive"] == 0
    # The tables an operator reads (rich), the same numbers.
    out = io.StringIO()
    argv = [
        "--scores-table",
        cloud.scores,
        "--archive-dir",
        str(tmp_path / "archive"),
        "--tiers",
        json.dumps(TIERS),
    ]
    with redirect_stdout(out):
        assert rescore.main(argv, dynamodb=cloud.dynamodb) == 0
    text = out.getvalue()
    assert "rescoring preview (dry run)" in text and "largest changes" in text
    assert [line.split()[-2] for line in text.splitlines() if "compared (in archive and table)" in line] == [
        "4"
    ]


def test_a_concurrent_scorer_write_between_read_and_write_wins_and_a_rerun_loses_nothing(
    server: EmbeddedMoto, tmp_path: Path
) -> None:
    cloud, writer = setup(server, tmp_path, 0)
    config = ScorerConfig.from_env(cloud.env)
    rescored, problems = rescore.rescored_rows(
        archive.run_duckdb(
            archive.duckdb_connect(tmp_path / "archive"),
            rescore.rescoring_sql(config, NEW_RULES, archive.LOCAL_SOURCE),
        )
    )
    assert not problems
    result, planned = rescore.diff(rescored, rescore.scan_table(cloud.dynamodb, cloud.scores), config.model)
    assert sorted(plan.change.user_key for plan in planned) == ["u-click", "u-tier"]
    # Between the read and the write, a purchase for u-click is scored (and archived, as Firehose would).
    purchase = event("u-click", "_monetization.purchase", T0 + 5 * HOUR)
    cloud.score([purchase])
    writer.write([purchase], T0 + 5 * HOUR)
    rescore.apply(DueStore(cloud.dynamodb, cloud.scores), result, planned)
    assert (result.written, result.skipped) == (1, 1)
    assert [c.user_key for c in result.changes if c.outcome.startswith("skipped")] == ["u-click"]
    assert cloud.items()["u-click"]["score"] == 150  # the scorer's write stands: 50 + 100
    rerun = run(cloud, tmp_path, NEW_RULES, "--apply")
    assert (rerun["changing"], rerun["written"]) == (1, 1)
    click = cloud.items()["u-click"]
    assert (click["score"], click["events_applied"]) == (Decimal(180), 2)  # 80 + 100: nothing lost
    assert run(cloud, tmp_path, NEW_RULES)["changing"] == 0


def test_bad_input_is_a_clear_error(
    server: EmbeddedMoto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud, _ = setup(server, tmp_path, 0)
    (tmp_path / "rules.json").write_text('{"not": "a list"}')
    code = rescore.main(
        [
            "--scores-table",
            cloud.scores,
            "--archive-dir",
            str(tmp_path / "archive"),
            "--rules-file",
            str(tmp_path / "rules.json"),
        ],
        dynamodb=cloud.dynamodb,
    )
    assert code == 2 and "JSON list" in capsys.readouterr().err
    code = rescore.main(["--scores-table", cloud.scores, "--tiers", "nonsense"], dynamodb=cloud.dynamodb)
    assert code == 2
    assert rescore.main(["--scores-table", cloud.scores, "--archive-dir", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err
    archived = ["--archive-dir", str(tmp_path / "archive")]
    assert rescore.main(["--scores-table", "no-such-table", *archived], dynamodb=cloud.dynamodb) == 1
    assert "reading no-such-table failed: ResourceNotFoundException" in capsys.readouterr().err
    rows, problems = rescore.rescored_rows([{"user_key": "x", "raw_score": "NaN", "as_of": 1, "events": 1}])
    assert rows == {} and problems


def test_athena_path_reads_the_rows_as_text_and_gives_the_same_diff(
    server: EmbeddedMoto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's Athena runs no SQL: the rescoring rows DuckDB computes are seeded (as Athena's text values)
    through its moto-api; this checks the request and that the text rows give the same preview."""
    import requests

    cloud, _ = setup(server, tmp_path, 0)
    config = ScorerConfig.from_env({"TIERS": json.dumps(TIERS)})
    rows = archive.run_duckdb(
        archive.duckdb_connect(tmp_path / "archive"),
        rescore.rescoring_sql(config, NEW_RULES, archive.LOCAL_SOURCE),
    )
    names = list(rows[0])
    column = {"Type": "varchar", "CatalogName": "c", "SchemaName": "s", "TableName": "t", "Precision": 0}
    seeded: dict[str, Any] = {
        "results": [
            {
                "rows": [{"Data": [{"VarCharValue": name} for name in names]}]
                + [
                    {
                        "Data": [
                            {} if row[name] is None else {"VarCharValue": str(row[name])} for name in names
                        ]
                    }
                    for row in rows
                ],
                "column_info": [
                    {
                        **column,
                        "Name": name,
                        "Label": name,
                        "Scale": 0,
                        "Nullable": "UNKNOWN",
                        "CaseSensitive": True,
                    }
                    for name in names
                ],
            }
        ]
    }
    assert (
        requests.post(f"{server.endpoint_url}/moto-api/static/athena/query-results", json=seeded).status_code
        == 201
    )
    athena = boto3.client(
        "athena",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    athena.create_work_group(Name=f"{cloud.scores}-wg")
    for name, value in (
        ("AWS_ENDPOINT_URL", server.endpoint_url),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ):
        monkeypatch.setenv(name, value)
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(NEW_RULES))
    argv = ["--scores-table", cloud.scores, "--rules-file", str(path), "--tiers", json.dumps(TIERS), "--json"]
    out = io.StringIO()
    with redirect_stdout(out):
        code = rescore.main(
            [*argv, "--workgroup", f"{cloud.scores}-wg", "--database", "db"], dynamodb=cloud.dynamodb
        )
    assert code == 0
    through_athena = json.loads(out.getvalue())
    assert through_athena == run(cloud, tmp_path, NEW_RULES)
    assert through_athena["changing"] == 2 and through_athena["tier_changed"] == 1
    execution_id = athena.list_query_executions(WorkGroup=f"{cloud.scores}-wg")["QueryExecutionIds"][0]
    query = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Query"]
    assert 'FROM "db"."events"' in query and "CAST(80 AS double)" in query


def test_the_tier_hysteresis_of_the_item_holds_as_in_a_scorer_write() -> None:
    """A hot user at 190 (kept hot by 20 points of hysteresis) rescored to 185 stays hot: a score change,
    no tier change, and the write keeps the tier."""
    model = ScorerConfig.from_env({"TIERS": json.dumps(TIERS), "TIER_HYSTERESIS_POINTS": "20"}).model
    item = {"user_key": "u-h", "score": Decimal(190), "raw_score": Decimal(190), "as_of": Decimal(T0)}
    item |= {
        "tier": "hot",
        "events_applied": Decimal(3),
        "version": Decimal(4),
        "pub": {"s": Decimal(190), "t": "hot"},
    }
    rescored = {"u-h": rescore.Rescored("u-h", Decimal(185), T0, 3, {"email": Decimal(185)})}
    result, planned = rescore.diff(rescored, [item], model, now_ms=T0)
    assert (result.score_changed, result.tier_changed) == (1, 0)
    assert [(c.old_tier, c.new_tier) for c in result.changes] == [("hot", "hot")]
    assert planned[0].update["ExpressionAttributeValues"][":tier"] == {"S": "hot"}


@pytest.mark.parametrize("policy", ["weights 0.5", "mixed, long proximity window, burst of 3"])
def test_machine_engagement_the_scorer_applied_is_what_the_sql_applies(
    server: EmbeddedMoto, tmp_path: Path, policy: str
) -> None:
    """The real scorer scores documented SES and Pinpoint open and click shapes (proxy opens, quick clicks,
    bursts, scanners, people) under a machine-engagement policy; rescoring them from the archive with the
    same policy changes no user, and with the default policy it changes some (not vacuous)."""
    from tests.unit.archive.test_archive_machine import POLICIES, _records

    cloud = Cloud(server, 0)
    text = json.dumps(POLICIES[policy])
    cloud.env["MACHINE_ENGAGEMENT"] = text
    cloud.scorer = ScorerRuntime(
        ScorerConfig.from_env(cloud.env), cloud.dynamodb, cloud.sqs, sleep=lambda _: None
    )
    records = _records()
    cloud.score(records)
    archive.LocalArchive(tmp_path / "archive").write(records, T0)
    same = run(cloud, tmp_path, None, "--machine-engagement", text)
    users = len(cloud.items())
    assert users >= 6
    assert (same["compared"], same["changing"], same["only_in_archive"], same["only_in_table"]) == (
        users,
        0,
        0,
        0,
    )
    defaults = run(cloud, tmp_path, None)
    assert defaults["changing"] > 0
