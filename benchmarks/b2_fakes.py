"""B2's stand-ins and the per-format parsing floor, importing nothing but the standard library and the
engine's rule table: B2 as deployed (b2_deployed.py) loads this module into a process that must hold what a
Lambda holds, not the simulator.

`FakeDynamoDB` answers the scorer's DynamoDB calls from dicts (checked against moto by
tests/integration/benchmarks/test_b2_fake.py); `stub_ns` is the time spent in it, which B2 subtracts.
"""

from __future__ import annotations

import base64
import io
import json
import re
import time
import zlib
from collections.abc import Callable
from typing import Any

from engagement_scoring.core.rules import ORIGINAL_POINTS

_ASSIGNMENT = re.compile(r"(#\w+)\s*=\s*(:\w+)")


class _Events:
    def register_first(self, *args: Any, **kwargs: Any) -> None:
        return None

    register = register_first


class _Meta:
    events = _Events()


class FakeDynamoDB:
    """Answers the scorer's DynamoDB calls from memory, instantly; `stub_ns` is the time spent in here."""

    meta = _Meta()

    def __init__(
        self,
        rules_table: str,
        scores_table: str,
        ledger_table: str,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.clock = clock  # the harness's clock, so that what it subtracts is in the same units
        self.rules_table, self.scores_table, self.ledger_table = rules_table, scores_table, ledger_table
        self.rules = [
            {"event_type": {"S": event_type}, "points": {"N": str(points)}}
            for event_type, points in ORIGINAL_POINTS.items()
        ]
        self.users: dict[str, dict[str, Any]] = {}
        self.buckets: dict[str, set[bytes]] = {}
        self.stub_ns = 0
        self.calls = 0

    def scan(self, **request: Any) -> dict[str, Any]:
        started = self.clock()
        self.calls += 1
        response = {"Items": list(self.rules)}
        self.stub_ns += self.clock() - started
        return response

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        started = self.clock()
        self.calls += 1
        responses: dict[str, list[dict[str, Any]]] = {}
        for table, request in RequestItems.items():
            found: list[dict[str, Any]] = responses.setdefault(table, [])
            for key in request["Keys"]:
                if table == self.ledger_table:
                    event_key = key["event_key"]["S"]
                    digests = self.buckets.get(event_key)
                    if digests is not None:
                        found.append({"event_key": {"S": event_key}, "d": {"BS": sorted(digests)}})
                else:
                    item = self.users.get(key["user_key"]["S"])
                    if item is not None:
                        found.append(item)
        self.stub_ns += self.clock() - started
        return {"Responses": responses, "UnprocessedKeys": {}}

    def _apply_update(self, update: dict[str, Any]) -> None:
        if update["TableName"] == self.ledger_table:
            digests = update["ExpressionAttributeValues"][":d"]["BS"]
            self.buckets.setdefault(update["Key"]["event_key"]["S"], set()).update(digests)
            return
        names, values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
        set_clause, _, remove_clause = update["UpdateExpression"].partition("SET ")[2].partition(" REMOVE ")
        # An UpdateItem changes the stored item in place: attributes it neither sets nor removes stay (a
        # write that leaves `rc` or `pub` as they are must not drop them).
        key = update["Key"]["user_key"]["S"]
        item = dict(self.users.get(key) or {"user_key": update["Key"]["user_key"]})
        for name, value in _ASSIGNMENT.findall(set_clause):
            item[names[name]] = values[value]
        for name in re.findall(r"#\w+", remove_clause):
            item.pop(names[name], None)
        self.users[key] = item

    def update_item(self, **request: Any) -> dict[str, Any]:
        started = self.clock()
        self.calls += 1
        self._apply_update(request)
        self.stub_ns += self.clock() - started
        return {}

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        started = self.clock()
        self.calls += 1
        for action in TransactItems:
            self._apply_update(action["Update"])
        self.stub_ns += self.clock() - started
        return {}


class FakeSQS:
    meta = _Meta()

    def send_message_batch(self, **request: Any) -> dict[str, Any]:
        return {"Successful": [{"Id": entry["Id"]} for entry in request["Entries"]], "Failed": []}


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


def parse_floor(data: str) -> int:
    """A record's parsing floor, whatever its format: base64 decode, gunzip when it is gzip (CloudWatch Logs
    subscription data), json.loads, and json.loads of each log event's message inside a CloudWatch Logs
    envelope (the SMS events are JSON strings in it); the number of JSON documents parsed."""
    raw = base64.b64decode(data)
    if raw[:2] == b"\x1f\x8b":
        raw = zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    value = json.loads(raw)
    if isinstance(value, dict) and "logEvents" in value:
        for log_event in value["logEvents"]:
            json.loads(log_event["message"])
        return 1 + len(value["logEvents"])
    return 1


class LambdaContext:
    """The parts of the Lambda context the handlers use (as benchmarks.common's)."""

    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000
