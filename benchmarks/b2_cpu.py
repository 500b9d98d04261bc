"""B2: scorer CPU per event with AWS stubbed in-process, beside the parsing floor measured in the same run.

Ours: `pipeline.scorer.process_batch` (the body of `scorer.handler`: decode, parse, normalize, classify,
user reads and ring checks, score, plan, build the writes, the batch log line and EMF) over the
standard workload in Lambda Kinesis events, with an in-memory DynamoDB fake that answers Scan,
BatchGetItem, UpdateItem and TransactWriteItems from dicts (users and overflow buckets persist across
batches, so later batches read existing users as on AWS). The fake's own time is measured and
subtracted; the log lines go to a discarding stream. A fresh fake and runtime per repetition
(otherwise every event would be a duplicate the second time).

Floor: `json.loads(base64.b64decode(data))` of the same records, nothing else.

Both are timed with `time.perf_counter_ns` in alternating repetitions; the figures are the medians
(minima reported beside them).
"""

from __future__ import annotations

import base64
import binascii
import cProfile
import gc
import io
import json
import pstats
import statistics
import time
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from engagement_scoring.core.config import ScorerConfig
from engagement_scoring.core.keys import content_key
from engagement_scoring.pipeline.scorer import ScorerRuntime, decode_record, process_batch

from benchmarks.b1_api_calls import DEFAULT_TIERS
from benchmarks.b2_fakes import FakeDynamoDB, FakeSQS, _Discard, parse_floor
from benchmarks.common import (
    ROOT,
    STANDARD_EVENTS,
    STANDARD_SEED,
    STANDARD_USERS,
    kinesis_events,
    standard_workload,
)
from simulator.successor import SuccessorMix, SuccessorRates
from simulator.workload import Workload, WorkloadConfig, generate

BATCH_SIZES = (100, 500)
HEADLINE_BATCH_SIZE = 500  # the module's default scorer_batch_size (variables.tf)
REPETITIONS = 7
QUICK_USERS, QUICK_RECORDS = 300, 3000  # --quick: the per-format workloads (a smoke run)
PROFILE = ROOT / "build" / "bench" / "b2_profile.txt"


def _runtime() -> tuple[ScorerRuntime, FakeDynamoDB]:
    config = ScorerConfig.from_env(
        {
            "RULES_TABLE": "rules",
            "SCORES_TABLE": "scores",
            "PROCESSED_EVENTS_TABLE": "ledger",
            "FAILURE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/failures",
            "TIERS": json.dumps(DEFAULT_TIERS),
        }
    )
    fake = FakeDynamoDB("rules", "scores", "ledger")
    return ScorerRuntime(config, fake, FakeSQS(), sleep=lambda _: None), fake


def time_ours(events: list[dict[str, Any]]) -> tuple[int, dict[str, int]]:
    """Nanoseconds in process_batch over all events, minus the fake's own time; and what it did."""
    runtime, fake = _runtime()
    sink = _Discard()
    scored = failed = 0
    gc.collect()
    with redirect_stdout(sink):
        started = time.perf_counter_ns()
        for event in events:
            response = process_batch(event, runtime)
            failed += len(response["batchItemFailures"])
        elapsed = time.perf_counter_ns() - started
    scored = sum(int(item.get("events_applied", {}).get("N", "0")) for item in fake.users.values())
    return elapsed - fake.stub_ns, {
        "stub_ns": fake.stub_ns,
        "events_applied": scored,
        "failed_records": failed,
        "fake_calls": fake.calls,
    }


def time_floor(events: list[dict[str, Any]]) -> int:
    """Nanoseconds for base64 decode + json.loads of every record, nothing else."""
    b64decode, loads = base64.b64decode, json.loads
    gc.collect()
    started = time.perf_counter_ns()
    for event in events:
        for record in event["Records"]:
            loads(b64decode(record["kinesis"]["data"]))
    return time.perf_counter_ns() - started


def time_format_floor(events: list[dict[str, Any]]) -> int:
    """Nanoseconds for `parse_floor` of every record."""
    floor = parse_floor
    gc.collect()
    started = time.perf_counter_ns()
    for event in events:
        for record in event["Records"]:
            floor(record["kinesis"]["data"])
    return time.perf_counter_ns() - started


def time_stages(events: list[dict[str, Any]]) -> dict[str, int]:
    """Nanoseconds of the per-record path's stages, cumulatively (each includes the previous ones):
    the engine's parsing (strict base64, UTF-8, json.loads), + the content key, + normalize (the whole
    `decode_record`). The rest of process_batch is per-batch work (classify, reads, score, writes, logs)."""
    datas = [record["kinesis"]["data"] for event in events for record in event["Records"]]
    a2b, loads = binascii.a2b_base64, json.loads
    gc.collect()
    started = time.perf_counter_ns()
    for data in datas:
        loads(a2b(data, strict_mode=True).decode("utf-8"))
    parsed = time.perf_counter_ns() - started
    gc.collect()
    started = time.perf_counter_ns()
    for data in datas:
        raw = a2b(data, strict_mode=True)
        loads(raw.decode("utf-8"))
        content_key(raw)
    keyed = time.perf_counter_ns() - started
    gc.collect()
    started = time.perf_counter_ns()
    for data in datas:
        decode_record(data, "auto")
    decoded = time.perf_counter_ns() - started
    return {"parse": parsed, "parse_and_content_key": keyed, "decode_record": decoded}


def _per_event_us(ns: int, events: int) -> float:
    return ns / 1000.0 / events


def profile_ours(events: list[dict[str, Any]], top: int = 25) -> str:
    """cProfile of one pass (tottime order): where the per-record time goes."""
    runtime, _ = _runtime()
    profiler = cProfile.Profile()
    with redirect_stdout(_Discard()):
        profiler.enable()
        for event in events:
            process_batch(event, runtime)
        profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("tottime").print_stats(top)
    return text.getvalue()


def _measure(events: list[dict[str, Any]], n: int, repetitions: int) -> dict[str, Any]:
    """Alternating repetitions of ours and the floor; medians and minima in microseconds per record."""
    ours_ns: list[int] = []
    floor_ns: list[int] = []
    details: dict[str, int] = {}
    for _ in range(repetitions):
        ns, details = time_ours(events)
        ours_ns.append(ns)
        floor_ns.append(time_floor(events))
    ours_us = _per_event_us(int(statistics.median(ours_ns)), n)
    floor_us = _per_event_us(int(statistics.median(floor_ns)), n)
    return {
        "ours_us_per_event_median": round(ours_us, 2),
        "ours_us_per_event_min": round(_per_event_us(min(ours_ns), n), 2),
        "floor_us_per_event_median": round(floor_us, 2),
        "floor_us_per_event_min": round(_per_event_us(min(floor_ns), n), 2),
        "ratio_median": round(ours_us / floor_us, 2),
        "stub_us_per_event_excluded": round(_per_event_us(details["stub_ns"], n), 2),
        "events_applied": details["events_applied"],
        "failed_records": details["failed_records"],
    }


def _stages(events: list[dict[str, Any]], n: int, ours_us: float, repetitions: int) -> dict[str, float]:
    samples = [time_stages(events) for _ in range(repetitions)]
    parse, keyed, decoded = (
        _per_event_us(int(statistics.median(sample[name] for sample in samples)), n)
        for name in ("parse", "parse_and_content_key", "decode_record")
    )
    return {
        "parse_strict_base64_utf8_json": round(parse, 2),
        "content_key_blake2b": round(keyed - parse, 2),
        "normalize": round(decoded - keyed, 2),
        "per_batch_work_rest": round(ours_us - decoded, 2),
    }


# One format per workload (`cpu_us_per_event_by_format`): the successor generator with a mix of one
# activity kind. SES bare (`ses`) and wrapped by the default-bus rule (`ses_eventbridge`), without
# redeliveries (the standard workload has no duplicates either); SMS in CloudWatch Logs subscription
# records (gzip, one to three status events each; no STOP replies, they come through SQS/Pipes);
# custom: the app's push and session events.
_NONE = {name: 0.0 for name in SuccessorMix.__dataclass_fields__}
FORMAT_WORKLOADS: dict[str, tuple[SuccessorMix, SuccessorRates] | None] = {
    "pinpoint": None,
    "ses": (SuccessorMix(**{**_NONE, "ses_campaign": 1.0}), SuccessorRates(ses_wrapped=0.0)),
    "ses_eventbridge": (
        SuccessorMix(**{**_NONE, "ses_campaign": 1.0}),
        SuccessorRates(ses_wrapped=1.0, eventbridge_redelivery=0.0),
    ),
    "sms": (SuccessorMix(**{**_NONE, "sms_campaign": 1.0}), SuccessorRates(sms_stop=0.0)),
    "custom": (SuccessorMix(**{**_NONE, "push_notification": 12.0, "app_session": 28.0}), SuccessorRates()),
}


def format_workload(name: str, users: int = STANDARD_USERS, records: int = STANDARD_EVENTS) -> Workload:
    """`records` Kinesis records of one format (FORMAT_WORKLOADS), same seed as the standard workload."""
    shape = FORMAT_WORKLOADS[name]
    if shape is None:
        return standard_workload(users, records)
    mix, rates = shape
    config = WorkloadConfig(
        formats=("successor",),
        users=users,
        events=records,
        seed=STANDARD_SEED,
        successor_mix=mix,
        successor_rates=rates,
    )
    return generate(config)


def run_by_format(
    repetitions: int,
    users: int = STANDARD_USERS,
    records: int = STANDARD_EVENTS,
    batch_size: int = HEADLINE_BATCH_SIZE,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """B2 on each one-format workload of the same number of records: ours and that format's own floor
    (`parse_floor`) in alternating repetitions, medians per Kinesis record; the ratio is ours / floor."""
    results: dict[str, Any] = {}
    for name in FORMAT_WORKLOADS:
        workload = format_workload(name, users, records)
        events = kinesis_events(workload, batch_size)
        documents = sum(parse_floor(r["kinesis"]["data"]) for e in events for r in e["Records"])
        del workload
        time_ours(events)  # warm-up
        ours_ns: list[int] = []
        floor_ns: list[int] = []
        details: dict[str, int] = {}
        for _ in range(repetitions):
            ns, details = time_ours(events)
            ours_ns.append(ns)
            floor_ns.append(time_format_floor(events))
        ours_us = _per_event_us(int(statistics.median(ours_ns)), records)
        floor_us = _per_event_us(int(statistics.median(floor_ns)), records)
        results[name] = {
            "records": records,
            "json_documents_per_record": round(documents / records, 2),
            "ours_us_per_record_median": round(ours_us, 2),
            "ours_us_per_record_spread": [
                round(_per_event_us(v, records), 2) for v in (min(ours_ns), max(ours_ns))
            ],
            "floor_us_per_record_median": round(floor_us, 2),
            "floor_us_per_record_spread": [
                round(_per_event_us(v, records), 2) for v in (min(floor_ns), max(floor_ns))
            ],
            "ratio_median": round(ours_us / floor_us, 2),
            "events_applied": details["events_applied"],
            "failed_records": details["failed_records"],
        }
        log(
            f"  B2 {name}: ours {ours_us:.1f} us/record, its floor {floor_us:.1f} us/record "
            f"({ours_us / floor_us:.2f}x; {documents / records:.2f} JSON documents per record)"
        )
    return results


def run(
    repetitions: int = REPETITIONS,
    log: Callable[[str], None] = print,
    profile_path: Path | None = PROFILE,
    quick: bool = False,
) -> dict[str, Any]:
    """B2 at each batch size; the harness's own objects (the 20,000 Lambda records, the workload) are
    frozen out of the cyclic collector while timing, as a Lambda holds one batch, not the whole workload
    (the figures without freezing are reported beside)."""
    workload = standard_workload()
    n = len(workload.records)
    results: dict[str, Any] = {
        "records": n,
        "repetitions": repetitions,
        "gc": "harness objects frozen (gc.freeze) while timing; collector on",
        "by_batch_size": {},
        "gc_not_frozen": {},
    }
    for batch_size in BATCH_SIZES:
        events = kinesis_events(workload, batch_size)
        time_ours(events)  # warm-up: imports, caches
        time_floor(events)
        gc.collect()
        gc.freeze()
        try:
            entry = _measure(events, n, repetitions)
            if batch_size == HEADLINE_BATCH_SIZE:
                results["stages_us_per_event"] = _stages(
                    events, n, entry["ours_us_per_event_median"], repetitions
                )
                if profile_path is not None:
                    profile_path.parent.mkdir(parents=True, exist_ok=True)
                    profile_path.write_text(profile_ours(events, top=40), encoding="utf-8")
                    results["profile"] = str(profile_path.relative_to(ROOT))
        finally:
            gc.unfreeze()
        results["by_batch_size"][str(batch_size)] = entry
        unfrozen = _measure(events, n, max(3, repetitions // 2))
        results["gc_not_frozen"][str(batch_size)] = {
            key: unfrozen[key]
            for key in ("ours_us_per_event_median", "floor_us_per_event_median", "ratio_median")
        }
        log(
            f"  B2 batch {batch_size}: ours {entry['ours_us_per_event_median']:.1f} us/event, floor "
            f"{entry['floor_us_per_event_median']:.1f} us/event ({entry['ratio_median']:.2f}x; without "
            f"freezing the harness objects {unfrozen['ratio_median']:.2f}x)"
        )
    headline = results["by_batch_size"][str(HEADLINE_BATCH_SIZE)]
    results["headline_batch_size"] = HEADLINE_BATCH_SIZE
    results["ours"] = headline["ours_us_per_event_median"]
    results["floor"] = headline["floor_us_per_event_median"]
    del workload, events
    users, records = (QUICK_USERS, QUICK_RECORDS) if quick else (STANDARD_USERS, STANDARD_EVENTS)
    results["by_format"] = run_by_format(repetitions, users, records, log=log)
    return results
