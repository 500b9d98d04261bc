"""Helpers for the simulator tests: stream read-back and a fake deployment implementing the
simulator <-> local cloud interface (docs/architecture.md).

The fake deployment's "pipeline" is the oracle itself (an ideal engine), optionally with a
planted bug, so the CLI's whole flow (read rules and settings, generate, produce into a real
moto Kinesis stream, read the scores table back, compare, report) runs without lambda_src.
`assert_deployment_contract` is what the CLI relies on from any deployment, with results worked out by
hand; it runs on the fake (test_fake_deployment.py) and on the embedded cloud
(tests/integration/test_embedded_deployment_contract.py), so the fake cannot drift from the real thing.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from simulator.oracle import Expectation, Settings, expect
from simulator.readback import function_environment, read_rules, read_scores

_names = itertools.count()
_serializer = TypeSerializer()
DEFAULT_RULES = {
    "_email.click": 50,
    "_email.open": 10,
    "_email.delivered": 2,
    "_email.hardbounce": -1000,
    "_email.complaint": -1000,
    "_email.unsubscribe": -500,
    "_SMS.SUCCESS": 2,
    "_SMS.OPTOUT": -500,
    "_campaign.send": 2,
    "_campaign.opened_notification": 50,
    "_campaign.received_foreground": 2,
    "_campaign.received_background": 2,
    "_session.start": 2,
    "_userauth.sign_up": 50,
    "_monetization.purchase": 100,
}
DEFAULT_TIERS: list[dict[str, Any]] = [
    {"name": "cold", "min_score": 0},
    {"name": "warm", "min_score": 50},
    {"name": "hot", "min_score": 150},
]


def unique_name(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


def create_stream(kinesis: Any, shards: int = 2) -> str:
    name = unique_name("sim-stream")
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
    return name


def read_stream(kinesis: Any, stream: str) -> list[tuple[str, str, bytes]]:
    """Every record of every shard as (shard id, partition key, data), each shard in order."""
    out: list[tuple[str, str, bytes]] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            out += [(shard["ShardId"], r["PartitionKey"], r["Data"]) for r in page["Records"]]
            iterator = page.get("NextShardIterator")
            if not page["Records"]:
                break
    return out


class FakeLambda:
    def __init__(self, environments: dict[str, dict[str, str]]) -> None:
        self.environments = environments

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        return {"FunctionName": FunctionName, "Environment": {"Variables": self.environments[FunctionName]}}


class _Recording:
    """A boto3 client whose calls that send records are noted, in order, in `calls`."""

    RECORDED = ("put_records", "put_record", "put_log_events")

    def __init__(self, client: Any, service: str, calls: list[tuple[str, Any]]) -> None:
        self._client, self._service, self._calls = client, service, calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if name not in self.RECORDED:
            return method

        def recorded(**kwargs: Any) -> Any:
            self._calls.append((f"{self._service}.{name}", kwargs))
            return method(**kwargs)

        return recorded


class FakeDeployment:
    """The interface of simulator/targets.py over moto Kinesis + DynamoDB, with an ideal engine."""

    name = "fake"

    def __init__(
        self,
        client: Callable[[str], Any],
        scorer_env: dict[str, str],
        sync_env: dict[str, str] | None = None,
        rules: dict[str, int] | None = None,
        bug: str | None = None,
        sms_route: bool = False,
    ) -> None:
        self._client = client
        self.bug = bug
        kinesis, dynamodb = client("kinesis"), client("dynamodb")
        stream = create_stream(kinesis)
        rules_table, scores_table = unique_name("rules"), unique_name("scores")
        for table, key in ((rules_table, "event_type"), (scores_table, "user_key")):
            dynamodb.create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        for event_type, points in (rules or DEFAULT_RULES).items():
            dynamodb.put_item(
                TableName=rules_table, Item={"event_type": {"S": event_type}, "points": {"N": str(points)}}
            )
        self.outputs = {
            "stream_name": stream,
            "score_rules_table_name": rules_table,
            "user_scores_table_name": scores_table,
            "scorer_function_name": "scorer",
            "score_sync_function_name": "score-sync",
            "pinpoint_application_id": "app-under-test",
        }
        if sms_route:  # the module's SMS event log group, its subscription filter into the stream
            group = unique_name("/sms/events")
            logs = client("logs")
            logs.create_log_group(logGroupName=group)
            arn = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
            logs.put_subscription_filter(
                logGroupName=group, filterName="ingest", filterPattern="", destinationArn=arn
            )
            self.outputs["sms_event_log_group_name"] = group
        self.lambda_client = FakeLambda({"scorer": scorer_env, "score-sync": sync_env or {}})
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.drained = False
        self.sent: list[tuple[str, str, bytes]] = []
        # What the ideal engine consumed, drain after drain: each drain the records that arrived since the
        # one before, shard after shard (records of other shards reach the scorer in no set order; only a
        # drain orders them), and the calls that sent records, with the drains between them.
        self.consumed: list[bytes] = []
        self.calls: list[tuple[str, Any]] = []
        self.expectation: Expectation | None = None
        self.profile_objects: dict[str, dict[str, Any]] = {}

    def client(self, service: str) -> Any:
        if service == "lambda":
            return self.lambda_client
        client = self._client(service)
        return _Recording(client, service, self.calls) if service in ("kinesis", "logs") else client

    def wait_until_drained(self, timeout_s: float) -> None:
        """Score what the stream holds with the oracle (the ideal engine), plus the planted bug: the records
        of earlier drains first, then the new ones shard by shard."""
        self.calls.append(("drain", None))
        before = Counter(shard for shard, _, _ in self.sent)
        self.sent = read_stream(self._client("kinesis"), self.outputs["stream_name"])
        seen: Counter[str] = Counter()
        for shard, _, data in self.sent:
            seen[shard] += 1
            if seen[shard] > before[shard]:
                self.consumed.append(data)
        records = list(self.consumed)
        if self.bug == "count_duplicates":  # an engine without the exactly-once ledger
            records = [d + b" " * i for i, d in enumerate(records)]
        settings = Settings.from_environment(self.lambda_client.environments["scorer"])
        rules = read_rules(self._client("dynamodb"), self.outputs["score_rules_table_name"])
        expectation = self.expectation = expect(records, rules, settings)
        dynamodb = self._client("dynamodb")
        for key, user in expectation.users.items():
            item: dict[str, Any] = {
                "user_key": key,
                "score": Decimal(str(user.score)),
                "raw_score": Decimal(str(user.raw_score)),
                "channels": {c: Decimal(str(v)) for c, v in user.channels.items()},
                "events_applied": user.events_applied,
                "as_of": user.as_of,
                "version": 1,
            }
            if user.tier is not None:
                item["tier"] = user.tier
            if user.rules:  # window rules matched (#10): a String Set, absent when none
                item["rules"] = set(user.rules)
            dynamodb.put_item(
                TableName=self.outputs["user_scores_table_name"],
                Item={k: _serializer.serialize(v) for k, v in item.items()},
            )
            for endpoint_id in user.endpoint_ids:
                self.endpoints[endpoint_id] = {
                    "Id": endpoint_id,
                    "Metrics": {"EngagementScore": float(user.score)},
                    "Attributes": {"EngagementTier": [user.tier]} if user.tier else {},
                }
            if self.lambda_client.environments["score-sync"].get("CUSTOMER_PROFILES_DOMAIN"):
                self.profile_objects[key] = {
                    "user_key": key,
                    "score": float(user.score),
                    "channels": {c: float(v) for c, v in user.channels.items()},
                    "rules": list(user.rules),
                    **({"tier": user.tier} if user.tier else {}),
                }
            detail = {"user_key": key, "score": float(user.score), "tier": user.tier}
            self.events.append({"detail-type": "EngagementScoreChanged", "detail": detail})
            for rule in user.rules:
                rule_detail = {"user_key": key, "rule": rule, "version": 1}
                self.events.append({"detail-type": "EngagementRuleMatched", "detail": rule_detail})
        self.drained = True

    def pipeline_stats(self) -> dict[str, Any] | None:
        """The ideal engine's batch line: what the oracle counted."""
        e = self.expectation
        scorer: dict[str, Any] = {
            "records": len(self.sent),
            "batches": 1,
            "scored": 0,
            "retryable_failures": 0,
        }
        if e is not None:
            scorer |= {
                "scored": e.counted,
                "duplicates_suppressed": e.duplicates,
                "once_per_message_suppressed": e.once_per_message_suppressed,
                "machine_not_counted": e.machine_not_counted,
                "machine_flagged": dict(e.machine_flagged),
                "skipped": dict(e.skipped),
                "rejected": dict(e.rejected),
            }
        return {"scorer": scorer}

    def pinpoint_endpoints(self) -> dict[str, dict[str, Any]] | None:
        return self.endpoints

    def eventbridge_events(self) -> list[dict[str, Any]] | None:
        return self.events

    def customer_profiles_objects(self) -> dict[str, dict[str, Any]] | None:
        return self.profile_objects


# ---- the deployment contract, checked on the fake and on the embedded cloud ----------------------

EVENTS = Path(__file__).resolve().parents[2] / "events"
CONTRACT_SYNC_ENV = {"PINPOINT_APPLICATION_ID": "app-under-test", "EVENT_BUS_NAME": "scores"}


def _custom(user_key: str, event_type: str, offset_ms: int) -> bytes:
    record = {
        "schema": "engagement.event/1",
        "event_type": event_type,
        "user_key": user_key,
        "timestamp": 1_732_300_000_000 + offset_ms,
    }
    return json.dumps(record, separators=(",", ":")).encode()


def _fixture(name: str) -> bytes:
    """A Pinpoint fixture of tests/events on one line (a record of an events file)."""
    return json.dumps(json.loads((EVENTS / "pinpoint" / name).read_text()), separators=(",", ":")).encode()


_EMAIL_OPEN = _fixture("email_open.json")
# Records in shapes the simulator generates (Pinpoint fixtures of tests/events, custom events), with a
# duplicate, a record without a rule and one that is not JSON; (partition key, data).
CONTRACT_RECORDS: list[tuple[str, bytes]] = [
    ("contract-a", _custom("contract-a", "_email.open", 1)),
    ("contract-a", _custom("contract-a", "_email.click", 2)),
    ("contract-b", _custom("contract-b", "_email.hardbounce", 3)),
    ("contract-c", _custom("contract-c", "_session.start", 4)),
    ("contract-c", _custom("contract-c", "_monetization.purchase", 5)),
    ("contract-c", _custom("contract-c", "_userauth.sign_up", 6)),
    ("example-user-2", _fixture("app_monetization_purchase.json")),
    ("example-user-2", _fixture("app_custom_event.json")),
    ("recipient", _EMAIL_OPEN),
    ("recipient", _EMAIL_OPEN),
    ("garbage", b"not json"),
]
# What any deployment of the module with its default rules and tiers must end with, worked out by hand
# from the original points: score, tier, channels, events counted.
CONTRACT_USERS: dict[str, tuple[Decimal, str, dict[str, Decimal], int]] = {
    # open 10 + click 50
    "contract-a": (Decimal(60), "warm", {"email": Decimal(60)}, 2),
    # hard bounce -1000 (below every tier: the lowest)
    "contract-b": (Decimal(-1000), "cold", {"email": Decimal(-1000)}, 1),
    # session 2 + purchase 100 + sign-up 50
    "contract-c": (Decimal(152), "hot", {"in_app": Decimal(152)}, 3),
    # purchase 100; purchase_completed has no rule
    "example-user-2": (Decimal(100), "warm", {"in_app": Decimal(100)}, 1),
    # one open, sent twice
    "2d7cba1b-6b8e-4f2f-9c1a-7e4d8b0c5a11": (Decimal(10), "cold", {"email": Decimal(10)}, 1),
}
# The app event names its endpoint: the Pinpoint sink writes the user's score and tier there.
CONTRACT_ENDPOINTS = {"example-app-endpoint-7": (100.0, ["warm"])}
CONTRACT_OUTPUTS = (
    "stream_name",
    "score_rules_table_name",
    "user_scores_table_name",
    "scorer_function_name",
    "score_sync_function_name",
    "pinpoint_application_id",
)


def assert_deployment_contract(deployment: Any, publish_min_delta: float = 0.0) -> None:
    """What simulator/cli.py relies on, the same on every deployment: outputs, the scorer's settings and
    rules, scores in the table after a drain, the batch statistics and both sinks' observations."""
    outputs = deployment.outputs
    assert all(isinstance(outputs.get(name), str) and outputs[name] for name in CONTRACT_OUTPUTS), outputs
    kinesis, dynamodb = deployment.client("kinesis"), deployment.client("dynamodb")
    lambda_client = deployment.client("lambda")
    settings = Settings.from_environment(function_environment(lambda_client, outputs["scorer_function_name"]))
    assert settings.to_json() == {
        "user_key_mode": "auto",
        "decay_half_life_hours": 0.0,
        "score_floor": None,
        "score_ceiling": None,
        "tiers": [{"name": t["name"], "min_score": float(t["min_score"])} for t in DEFAULT_TIERS],
        "user_key_tag": "user_key",
        "recipient_user_key": "none",
        "score_publish_min_delta": float(publish_min_delta),
        "tier_hysteresis_points": 0.0,
        "window_rules": [],
    }
    sync_env = function_environment(lambda_client, outputs["score_sync_function_name"])
    assert sync_env.get("PINPOINT_APPLICATION_ID") and sync_env.get("EVENT_BUS_NAME"), sync_env
    rules = read_rules(dynamodb, outputs["score_rules_table_name"])
    assert {name: int(rule.points) for name, rule in rules.items()} == DEFAULT_RULES

    kinesis.put_records(
        StreamName=outputs["stream_name"],
        Records=[{"PartitionKey": key, "Data": data} for key, data in CONTRACT_RECORDS],
    )
    deployment.wait_until_drained(timeout_s=300)

    items = read_scores(dynamodb, outputs["user_scores_table_name"])
    observed = {
        key: (item.get("score"), item.get("tier"), item.get("channels"), item.get("events_applied"))
        for key, item in items.items()
    }
    assert observed == CONTRACT_USERS
    assert all(items[key]["raw_score"] == CONTRACT_USERS[key][0] for key in items)
    stats = deployment.pipeline_stats()
    assert stats is not None and stats["scorer"]["records"] == len(CONTRACT_RECORDS), stats
    endpoints = deployment.pinpoint_endpoints()
    assert endpoints is not None
    assert {
        endpoint_id: (
            endpoint["Metrics"].get("EngagementScore"),
            endpoint["Attributes"].get("EngagementTier"),
        )
        for endpoint_id, endpoint in endpoints.items()
        if "EngagementScore" in endpoint.get("Metrics", {})
    } == CONTRACT_ENDPOINTS
    published: dict[str, list[Any]] = {}
    for event in deployment.eventbridge_events() or []:
        if event["detail-type"] == "EngagementScoreChanged":
            published.setdefault(event["detail"]["user_key"], []).append(event["detail"]["score"])
    # every user's final score was published (the real sync also publishes the steps before it)
    assert {key: scores[-1] for key, scores in published.items()} == {
        key: float(score) for key, (score, _, _, _) in CONTRACT_USERS.items()
    }
