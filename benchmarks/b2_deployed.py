"""B2 as deployed: the scorer handler in a fresh process per repetition, holding what a Lambda holds.

A child process (`python -m benchmarks.b2_deployed --child VARIANT FILE`) does what an execution
environment does: imports `engagement_scoring.handlers.scorer` and builds the runtime with real boto3
clients (`ScorerRuntime.from_environment()`, dummy credentials, no call is made) — that is the cold
start, timed — then serves the batches of FILE one at a time: each line is one Lambda Kinesis event as
JSON, `json.loads` untimed (the runtime's job), then `handler(event, context)` timed. The only
difference from Lambda is DynamoDB and SQS: the handler's runtime talks to `b2_cpu.FakeDynamoDB` and
`FakeSQS` (the fake's own time is subtracted; the real boto3 clients stay referenced, as on Lambda). No
harness object is frozen; the process holds one batch at a time and the fake's stored users (on AWS
they would be in DynamoDB, not in the process: slightly against us). The floor is `b2_cpu.parse_floor` of
the same batch's records, timed in the same child right after each batch. Times are the child's CPU
time (`time.thread_time_ns`): on a shared machine wall time counts the other processes' turns.

Variants (gc.freeze() moves every object alive at that moment out of the cyclic collector's reach; the
handler calls it at the end of its module's import and once after the first invocation's init, a choice
these variants measured):
- `none`: the handler as it is;
- `nofreeze`: the handler without either freeze (gc.freeze a no-op in the child; gc.unfreeze() afterwards
  would not do: the collector's generation counts differ from never freezing);
- `import`: the import-end freeze only.
The parent runs the variants interleaved (none, nofreeze, import, none, ...), one fresh process each.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

# Only the standard library at module level: the child must not load the simulator (benchmarks.common
# imports it) into the process whose collector it measures.
ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("none", "nofreeze", "import")
BATCHES = ROOT / "build" / "bench" / "b2_deployed_batches.jsonl"
SCORER_ENV = {
    "RULES_TABLE": "rules",
    "SCORES_TABLE": "scores",
    "PROCESSED_EVENTS_TABLE": "ledger",
    "FAILURE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/failures",
}


def child(variant: str, path: Path) -> dict[str, Any]:
    """One execution environment's life over the batches in `path`; nanoseconds, see the module docstring."""
    clock = time.thread_time_ns  # CPU time: the machine is shared, wall time would time the others too
    freeze = gc.freeze
    if variant == "nofreeze":
        gc.freeze = lambda: None  # the handler's own gc.freeze() calls become no-ops
    started = clock()
    import engagement_scoring.handlers.scorer as scorer_handler

    if variant == "import":
        gc.freeze = lambda: None  # only the import-end freeze happens
    import_ns = clock() - started

    from engagement_scoring.pipeline.scorer import ScorerRuntime

    from benchmarks.b2_fakes import FakeDynamoDB, FakeSQS, LambdaContext, _Discard, parse_floor

    fake = FakeDynamoDB("rules", "scores", "ledger", clock=clock)
    build = ScorerRuntime.from_environment
    init: dict[str, Any] = {}

    def from_environment(env: Any = None) -> ScorerRuntime:
        """The handler's own init, timed: the real runtime with real boto3 clients (kept referenced, as on
        Lambda), then the same configuration on the fakes for the calls."""
        began = clock()
        init["deployed"] = build(env)
        init["ns"] = clock() - began
        return ScorerRuntime(init["deployed"].config, fake, FakeSQS(), sleep=lambda _: None)

    ScorerRuntime.from_environment = from_environment  # type: ignore[method-assign]
    context = LambdaContext()
    handler_ns = floor_ns = records = failed = 0
    with path.open("rb") as lines, redirect_stdout(_Discard()):
        for line in lines:
            event = json.loads(line)
            began = clock()
            response = scorer_handler.handler(event, context)
            handler_ns += clock() - began
            failed += len(response["batchItemFailures"])
            datas = [record["kinesis"]["data"] for record in event["Records"]]
            records += len(datas)
            began = clock()
            for data in datas:
                parse_floor(data)
            floor_ns += clock() - began
            del event, datas, response
    gc.freeze = freeze
    return {
        "variant": variant,
        "import_ns": import_ns,
        "init_ns": init["ns"],
        "cold_start_ns": import_ns + init["ns"],
        # the first invocation's init is in it; the fake's own time is not
        "handler_ns": handler_ns - init["ns"] - fake.stub_ns,
        "floor_ns": floor_ns,
        "records": records,
        "failed_records": failed,
        "events_applied": sum(
            int(item.get("events_applied", {}).get("N", "0")) for item in fake.users.values()
        ),
        "collections": [stats["collections"] for stats in gc.get_stats()],
        "frozen_objects": gc.get_freeze_count(),
    }


def write_batches(events: list[dict[str, Any]], path: Path = BATCHES) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    return path


def run_child(variant: str, path: Path) -> dict[str, Any]:
    from benchmarks.b1_api_calls import DEFAULT_TIERS
    from benchmarks.common import LOCAL_AWS_ENV

    env = {
        **os.environ,
        **LOCAL_AWS_ENV,
        **SCORER_ENV,
        "TIERS": json.dumps(DEFAULT_TIERS),
        "PYTHONPATH": f"{ROOT / 'lambda_src'}:{ROOT}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.b2_deployed", "--child", variant, str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return "unknown"


def _summary(samples: list[int], records: int) -> dict[str, Any]:
    per = [value / 1000.0 / records for value in samples]
    return {"median": round(statistics.median(per), 2), "spread": [round(min(per), 2), round(max(per), 2)]}


def measure(
    events: list[dict[str, Any]],
    repetitions: int,
    log: Callable[[str], None] = print,
    variants: tuple[str, ...] = VARIANTS,
    label: str = "",
) -> dict[str, Any]:
    """Interleaved repetitions of each variant (a fresh process each): per-record medians and [min, max]
    of the handler and the floor, their ratio per run, and the cold start in ms; the load average before
    and after."""
    path = write_batches(events)
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in variants}
    load_before = _load()
    for _ in range(repetitions):
        for variant in variants:
            runs[variant].append(run_child(variant, path))
    load_after = _load()
    out: dict[str, Any] = {"repetitions": repetitions, "load_average": [load_before, load_after]}
    for variant, samples in runs.items():
        records = samples[0]["records"]
        ratios = [s["handler_ns"] / s["floor_ns"] for s in samples]
        cold = [s["cold_start_ns"] / 1e6 for s in samples]
        out[variant] = {
            "records": records,
            "failed_records": sum(s["failed_records"] for s in samples),
            "events_applied": samples[-1]["events_applied"],
            "handler_us_per_record": _summary([s["handler_ns"] for s in samples], records),
            "floor_us_per_record": _summary([s["floor_ns"] for s in samples], records),
            "ratio": {
                "median": round(statistics.median(ratios), 2),
                "spread": [round(min(ratios), 2), round(max(ratios), 2)],
            },
            "cold_start_ms": {
                "median": round(statistics.median(cold), 1),
                "spread": [round(min(cold), 1), round(max(cold), 1)],
            },
            "gc_collections_per_generation": samples[-1]["collections"],
            "frozen_objects": samples[-1]["frozen_objects"],
        }
        entry = out[variant]
        handler, ratio, cold = entry["handler_us_per_record"], entry["ratio"], entry["cold_start_ms"]
        log(
            f"  B2 as deployed {label}, gc.freeze {variant}: handler {handler['median']} us/record "
            f"{handler['spread']}, {ratio['median']}x its floor {ratio['spread']}, cold start "
            f"{cold['median']} ms {cold['spread']} (load {load_before} -> {load_after})"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.b2_deployed")
    parser.add_argument("--child", choices=VARIANTS, required=True)
    parser.add_argument("batches", type=Path)
    args = parser.parse_args(argv)
    print(json.dumps(child(args.child, args.batches)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
