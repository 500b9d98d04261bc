"""Helpers for the simulator tests: stream read-back and a fake deployment implementing the
simulator <-> local cloud interface (docs/architecture.md).

The fake deployment's "pipeline" is the oracle itself (an ideal engine), optionally with a
planted bug, so the CLI's whole flow (read rules and settings, generate, produce into a real
moto Kinesis stream, read the scores table back, compare, report) runs without lambda_src.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from simulator.oracle import Settings, expect
from simulator.readback import read_rules

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
DEFAULT_TIERS = [
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
        self.lambda_client = FakeLambda({"scorer": scorer_env, "score-sync": sync_env or {}})
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.drained = False
        self.sent: list[tuple[str, str, bytes]] = []

    def client(self, service: str) -> Any:
        return self.lambda_client if service == "lambda" else self._client(service)

    def wait_until_drained(self, timeout_s: float) -> None:
        """Score what the stream holds with the oracle (the ideal engine), plus the planted bug."""
        self.sent = read_stream(self._client("kinesis"), self.outputs["stream_name"])
        records = [data for _, _, data in self.sent]
        if self.bug == "count_duplicates":  # an engine without the exactly-once ledger
            records = [d + b" " * i for i, d in enumerate(records)]
        settings = Settings.from_environment(self.lambda_client.environments["scorer"])
        rules = read_rules(self._client("dynamodb"), self.outputs["score_rules_table_name"])
        expectation = expect(records, rules, settings)
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
            detail = {"user_key": key, "score": float(user.score), "tier": user.tier}
            self.events.append({"detail-type": "EngagementScoreChanged", "detail": detail})
        self.drained = True

    def pipeline_stats(self) -> dict[str, Any] | None:
        return {"scorer": {"records": len(self.sent), "batches": 1, "scored": 0}}

    def pinpoint_endpoints(self) -> dict[str, dict[str, Any]] | None:
        return self.endpoints

    def eventbridge_events(self) -> list[dict[str, Any]] | None:
        return self.events
