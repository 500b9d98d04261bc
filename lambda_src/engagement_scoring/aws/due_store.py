"""DynamoDB access of the refresher: Query the sparse `due` index per shard, read the due users' items
strongly consistent (BatchGetItem), and write each refreshed user with one UpdateItem conditioned on
its `version` (docs/scoring.md, "Refresher")."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from engagement_scoring.aws.errors import backoff_delay, describe, error_code, is_retryable
from engagement_scoring.core.changes import image
from engagement_scoring.core.due import Refresh, due_shard
from engagement_scoring.core.timed import encode_windows

DUE_INDEX = "due"
BATCH_GET_KEYS = 100
UNPROCESSED_ATTEMPTS = 5
QUERY_PAGE = 1000

OK = "ok"
CONFLICT = "conflict"  # the version moved: a concurrent writer (the scorer) won, and set a new due time
RETRY = "retry"  # throttling, 5xx, network: the user stays due and the next run takes it
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    detail: str = ""


def _number(value: Any) -> dict[str, str]:
    return {"N": format(value, "f")}


def refresh_update(
    user_key: str,
    expected_version: int,
    change: Refresh,
    now_ms: int,
    events_applied: int | None = None,
    create: bool = False,
) -> dict[str, Any]:
    """The UpdateItem arguments (less the table) of one refreshed user.

    Only what the decay changes is written: score, raw score, as_of (now: the stored state is the decayed
    sum at as_of, so a later event older than now is applied exactly, core/model.py), channels, tier,
    version, updated_at, `pub` when this write is a publication, and the next due time. `mf` is removed:
    it counts the machine-flagged events of the write that carries it, and this write counts none. The
    dedupe ring, the endpoint ids and the event count are left as they are. With window rules configured,
    the pruned window state `wr` and the rules matched now (`rules`) are written (removed when empty) in
    the same update; the limit counters `lc` are left as they are.

    The rescoring command (engagement_scoring/rescore.py) writes through the same update: `events_applied`
    sets the event count too (the events the archive counts now), and `create` conditions the write on
    the item not existing (a user only in the archive) instead of on `expected_version`."""
    state = change.state
    names = {
        "#score": "score",
        "#raw": "raw_score",
        "#as_of": "as_of",
        "#channels": "channels",
        "#version": "version",
        "#updated": "updated_at",
        "#tier": "tier",
        "#mf": "mf",
        "#due_at": "due_at",
        "#due_sh": "due_sh",
    }
    values: dict[str, Any] = {
        ":score": _number(change.score),
        ":raw": _number(state.raw),
        ":as_of": {"N": str(state.as_of or 0)},
        ":channels": {"M": {name: _number(value) for name, value in state.channels.items()}},
        ":version": {"N": str(state.version)},
        ":updated": {"N": str(now_ms)},
    }
    if not create:
        values[":expected"] = {"N": str(expected_version)}
    sets = [
        "#score = :score",
        "#raw = :raw",
        "#as_of = :as_of",
        "#channels = :channels",
        "#version = :version",
        "#updated = :updated",
    ]
    if events_applied is not None:
        names["#events"] = "events_applied"
        sets.append("#events = :events")
        values[":events"] = {"N": str(events_applied)}
    removed = ["#mf"]
    if change.tier is None:
        removed.append("#tier")
    else:
        sets.append("#tier = :tier")
        values[":tier"] = {"S": change.tier}
    if change.publish is not None:
        names["#pub"] = "pub"
        published: dict[str, Any] = {"s": _number(change.publish.score)}
        if change.publish.tier is not None:
            published["t"] = {"S": change.publish.tier}
        sets.append("#pub = :pub")
        values[":pub"] = {"M": published}
    if change.timed is not None:  # window rules configured: `wr` pruned and `rules` as of now
        names.update({"#wr": "wr", "#rules": "rules"})
        window_values, window_removed = encode_windows(change.timed)
        sets.extend(f"#{name[1:]} = {name}" for name in (":wr", ":rules") if name in window_values)
        values.update(window_values)
        removed.extend(window_removed)
    if change.due_at is None:
        removed.extend(("#due_at", "#due_sh"))
    else:
        sets.extend(("#due_at = :due_at", "#due_sh = :due_sh"))
        values[":due_at"] = {"N": str(change.due_at)}
        values[":due_sh"] = {"S": due_shard(user_key)}
    return {
        "Key": {"user_key": {"S": user_key}},
        "UpdateExpression": "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removed),
        "ConditionExpression": "attribute_not_exists(#version)" if create else "#version = :expected",
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
    }


class DueStore:
    def __init__(self, client: Any, scores_table: str, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.scores_table = scores_table
        self.sleep = sleep

    def due_keys(self, shard: str, now_s: int) -> Iterator[list[str]]:
        """Pages of user keys whose `due_at` <= now in one shard (the index is eventually consistent:
        a key may be stale, which the strongly consistent read catches)."""
        request: dict[str, Any] = {
            "TableName": self.scores_table,
            "IndexName": DUE_INDEX,
            "KeyConditionExpression": "#sh = :sh AND #at <= :now",
            "ExpressionAttributeNames": {"#sh": "due_sh", "#at": "due_at"},
            "ExpressionAttributeValues": {":sh": {"S": shard}, ":now": {"N": str(now_s)}},
            "Limit": QUERY_PAGE,
        }
        while True:
            response = self.client.query(**request)
            keys = [
                item["user_key"]["S"]
                for item in response.get("Items", [])
                if isinstance(item.get("user_key"), dict) and "S" in item["user_key"]
            ]
            if keys:
                yield keys
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return
            request["ExclusiveStartKey"] = last_key

    def oldest_due(self, shard: str, now_s: int) -> int | None:
        """The earliest `due_at` <= now in one shard's index (one Query of one key), None when none is due."""
        response = self.client.query(
            TableName=self.scores_table,
            IndexName=DUE_INDEX,
            KeyConditionExpression="#sh = :sh AND #at <= :now",
            ExpressionAttributeNames={"#sh": "due_sh", "#at": "due_at"},
            ExpressionAttributeValues={":sh": {"S": shard}, ":now": {"N": str(now_s)}},
            Limit=1,
        )
        items = response.get("Items", [])
        due_at = items[0].get("due_at") if items else None
        return int(due_at["N"]) if isinstance(due_at, dict) and "N" in due_at else None

    def read_users(self, user_keys: Sequence[str]) -> tuple[list[dict[str, Any]], set[str]]:
        """The items of these users (plain values), strongly consistent, and the keys not read."""
        found: list[dict[str, Any]] = []
        unresolved: set[str] = set()
        for start in range(0, len(user_keys), BATCH_GET_KEYS):
            chunk = user_keys[start : start + BATCH_GET_KEYS]
            pending: dict[str, Any] = {
                self.scores_table: {
                    "Keys": [{"user_key": {"S": key}} for key in chunk],
                    "ConsistentRead": True,
                }
            }
            for attempt in range(UNPROCESSED_ATTEMPTS):
                if attempt:
                    self.sleep(backoff_delay(attempt))
                try:
                    response = self.client.batch_get_item(RequestItems=pending)
                except Exception as exc:
                    if not is_retryable(exc):
                        raise
                    continue
                found.extend(
                    image(item) or {} for item in response.get("Responses", {}).get(self.scores_table, [])
                )
                pending = response.get("UnprocessedKeys") or {}
                if not pending:
                    break
            if pending:
                unresolved.update(key["user_key"]["S"] for key in pending[self.scores_table]["Keys"])
        return found, unresolved

    def write(self, update: dict[str, Any]) -> Outcome:
        """One conditional UpdateItem, the result classified."""
        try:
            self.client.update_item(TableName=self.scores_table, **update)
        except Exception as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                return Outcome(CONFLICT, code)
            return Outcome(RETRY if is_retryable(exc) else INVALID, describe(exc))
        return Outcome(OK)
