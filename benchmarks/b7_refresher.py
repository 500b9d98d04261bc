"""B7: the decay refresher's work is proportional to the users due (issue #10 item 3).

In-process moto (as the engine tests): `user_scores` with the sparse `due` index, DUE users whose due
time has passed and as many NOT_DUE users due later (written as the scorer writes them: one event each,
decay on, tiers). One refresher run at `now` (pipeline/refresher.py, the handler's code), its AWS calls
counted by the call counter and its wall time measured; then:

- users read per run / users due (target close to 1: users not due are never read);
- run time per 10,000 due users (moto in-process on this machine, scaled linearly from the run: a
  bound on the code's own cost plus moto's, not DynamoDB's latency);
- DynamoDB units per refresh, from the measured calls and the measured item sizes by DynamoDB's
  rounding (a strongly consistent read of an item under 4 KB is 1 read unit, a write of an item under
  1 KB 1 write unit, a changed index key 2 index write units), priced with benchmarks/prices.py, and
  the cost per day at 1 million users for the stated scenario (`SCENARIO`): arithmetic on the measured
  units, the scenario's refresh rate is a formula (docs/scoring.md, "Refresher"), not a measurement.

`python -m benchmarks.b7_refresher [--users N] [--write]`: print the figures; --write also sets the
`refresher` entry of benchmarks/results.json (the other entries are left as they are).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results.json"
DUE = 2000
TABLE = "bench-user-scores"
T0_S = 1_767_225_600
HALF_LIFE_HOURS = 720
SCENARIO = {
    "users": 1_000_000,
    "half_life_hours": HALF_LIFE_HOURS,
    "score": 100,
    "publication_step_points": 1,
    "note": "every user at score 100 decaying with a 720 h half-life, threshold 0 (step 1 point): "
    "100 * ln 2 / 720 points an hour = 2.31 refreshes a user a day",
}


def _item(user_key: str, due_at: int) -> dict[str, Any]:
    from engagement_scoring.core.due import due_shard

    return {
        "user_key": {"S": user_key},
        "score": {"N": "100"},
        "raw_score": {"N": "100"},
        "as_of": {"N": str(T0_S * 1000)},
        "channels": {"M": {"email": {"N": "100"}}},
        "tier": {"S": "hot"},
        "events_applied": {"N": "1"},
        "version": {"N": "1"},
        "updated_at": {"N": str(T0_S * 1000)},
        "dk": {"B": b"\x01" * 10},
        "due_at": {"N": str(due_at)},
        "due_sh": {"S": due_shard(user_key)},
    }


def _item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB item size: attribute names plus values (numbers about 1 byte per 2 digits + 1)."""
    size = 0
    for name, value in item.items():
        size += len(name)
        kind, content = next(iter(value.items()))
        if kind == "S":
            size += len(content.encode())
        elif kind == "N":
            size += (len(str(content).replace("-", "").replace(".", "")) + 1) // 2 + 1
        elif kind == "B":
            size += len(content)
        elif kind == "M":
            size += 3 + _item_bytes(content)
    return size


def run(due: int = DUE, log: Any = print) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    import boto3
    from engagement_scoring.pipeline.refresher import RefresherConfig, RefresherRuntime
    from engagement_scoring.pipeline.refresher import run as refresh
    from moto import mock_aws

    from benchmarks import prices

    now = T0_S + 24 * 3600
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "user_key", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "user_key", "AttributeType": "S"},
                {"AttributeName": "due_sh", "AttributeType": "S"},
                {"AttributeName": "due_at", "AttributeType": "N"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "due",
                    "KeySchema": [
                        {"AttributeName": "due_sh", "KeyType": "HASH"},
                        {"AttributeName": "due_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for index in range(due):
            client.put_item(TableName=TABLE, Item=_item(f"due-{index}", now - 60))
            client.put_item(TableName=TABLE, Item=_item(f"later-{index}", now + 3600))
        env = {
            "SCORES_TABLE": TABLE,
            "DECAY_HALF_LIFE_HOURS": str(HALF_LIFE_HOURS),
            "TIERS": '[{"name": "cold", "min_score": 0}, {"name": "hot", "min_score": 80}]',
            "LOG_LEVEL": "ERROR",
        }
        runtime = RefresherRuntime(RefresherConfig.from_env(env), client)
        load = os.getloadavg()
        started = time.perf_counter()
        stats = refresh(runtime, now)
        seconds = time.perf_counter() - started
        calls = runtime.calls.snapshot()
        written = client.get_item(TableName=TABLE, Key={"user_key": {"S": "due-0"}}, ConsistentRead=True)[
            "Item"
        ]
    item_bytes = _item_bytes(written)
    read_units = math.ceil(item_bytes / 4096)  # strongly consistent
    write_units = math.ceil(item_bytes / 1024) + 2  # the item, and the index entry deleted and put
    usd_per_refresh = read_units * prices.usd("dynamodb_read_request_unit") + write_units * prices.usd(
        "dynamodb_write_request_unit"
    )
    # the scenario: users * (score * ln 2 / H points an hour) * 24 h / step
    refreshes_per_day = 1_000_000 * 100 * math.log(2) / HALF_LIFE_HOURS * 24 / 1
    result = {
        "users_due": stats.users_due,
        "users_not_due": due,
        "users_read": stats.users_read,
        "users_refreshed": stats.users_refreshed,
        "users_read_per_user_due": round(stats.users_read / stats.users_due, 3) if stats.users_due else None,
        "aws_calls": calls,
        "run_seconds": round(seconds, 2),
        "run_seconds_per_10000_due_users": round(seconds / stats.users_due * 10_000, 1)
        if stats.users_due
        else None,
        "item_bytes_after_refresh": item_bytes,
        "units_per_refresh": {"read": read_units, "write": write_units},
        "dynamodb_usd_per_million_refreshes": round(usd_per_refresh * 1e6, 3),
        "scenario": SCENARIO,
        "scenario_refreshes_per_day": round(refreshes_per_day),
        "scenario_dynamodb_usd_per_day": round(refreshes_per_day * usd_per_refresh, 2),
        "schedule_queries_per_day_at_15_min": 16 * 96,
        "where": "in-process moto on this machine; load average before the run "
        + " ".join(f"{value:.1f}" for value in load),
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    log(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.b7_refresher", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--users", type=int, default=DUE, help=f"users due (and as many not due; default {DUE})"
    )
    parser.add_argument(
        "--write", action="store_true", help="set the refresher entry of benchmarks/results.json"
    )
    args = parser.parse_args(argv)
    result = run(args.users)
    if args.write:
        results = json.loads(RESULTS.read_text())
        results["refresher"] = result
        RESULTS.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        print(f"wrote the refresher entry of {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
