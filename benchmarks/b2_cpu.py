"""B2: scorer CPU per record with AWS stubbed in-process, beside the parsing floor measured in the same run.

Ours, as deployed (b2_deployed.py): `handlers.scorer.handler` as it is, in a fresh process per repetition
that imports the handler, builds its runtime with real boto3 clients and serves the batches one at a
time, as an execution environment does; DynamoDB and SQS are in-memory fakes (b2_fakes.py, checked
against moto: the fake answers Scan, BatchGetItem, UpdateItem and TransactWriteItems from dicts, users and
overflow buckets persisting across batches), whose own time is subtracted; the log lines go to a
discarding stream. Nothing is frozen out of the garbage collector by the harness.

Floor: `parse_floor` of the same records in the same process, batch by batch: base64 decode, gunzip for
CloudWatch Logs subscription data, json.loads (and of the log events' messages); for Pinpoint records that
is `json.loads(base64.b64decode(data))`, nothing else.

Figures: CPU time of the process (`time.thread_time_ns`), medians over the repetitions and [min, max];
the ratio is the median of each run's own ratio. At the headline batch size the gc.freeze variants run
interleaved with the handler as it is (the measurements behind the handler's choice, results.json
`gc_freeze`). Per format: one-format workloads of the same size (FORMAT_WORKLOADS). The stages and the
cProfile (build/bench/b2_profile.txt) are in-process `process_batch` runs: where the time goes.
"""

from __future__ import annotations

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

from benchmarks import b2_deployed
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


def _record_entry(
    deployed: dict[str, Any], load: list[str], documents: float | None = None
) -> dict[str, Any]:
    """One variant's figures from b2_deployed.measure in the per-record shape results.json keeps."""
    handler, floor = deployed["handler_us_per_record"], deployed["floor_us_per_record"]
    entry: dict[str, Any] = {
        "records": deployed["records"],
        "ours_us_per_record_median": handler["median"],
        "ours_us_per_record_spread": handler["spread"],
        "floor_us_per_record_median": floor["median"],
        "floor_us_per_record_spread": floor["spread"],
        # the median of each run's own ratio (both timed in the same process, batch by batch)
        "ratio_median": deployed["ratio"]["median"],
        "ratio_spread": deployed["ratio"]["spread"],
        "events_applied": deployed["events_applied"],
        "failed_records": deployed["failed_records"],
        "load_average": load,  # /proc/loadavg (1, 5, 15 min) before and after the repetitions
    }
    if documents is not None:
        entry["json_documents_per_record"] = documents
    return entry


def _documents_per_record(events: list[dict[str, Any]]) -> float:
    datas = [record["kinesis"]["data"] for event in events for record in event["Records"]]
    return round(sum(parse_floor(data) for data in datas) / len(datas), 2)


def run_by_format(
    repetitions: int,
    users: int = STANDARD_USERS,
    records: int = STANDARD_EVENTS,
    batch_size: int = HEADLINE_BATCH_SIZE,
    log: Callable[[str], None] = print,
    known: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """B2 as deployed (b2_deployed: the handler as it is, a fresh process per repetition) on each one-format
    workload of the same number of records, against that format's own floor (`parse_floor`); `known`
    holds formats already measured in this run (the pinpoint headline), which are not measured again."""
    results: dict[str, Any] = {}
    for name in FORMAT_WORKLOADS:
        events = kinesis_events(format_workload(name, users, records), batch_size)
        documents = _documents_per_record(events)
        if known and name in known:
            measured = known[name]
        else:
            measured = b2_deployed.measure(events, repetitions, log=log, variants=("none",), label=name)
        results[name] = _record_entry(measured["none"], measured["load_average"], documents)
    return results


def run(
    repetitions: int = REPETITIONS,
    log: Callable[[str], None] = print,
    profile_path: Path | None = PROFILE,
    quick: bool = False,
) -> dict[str, Any]:
    """B2 as deployed (b2_deployed.py): the scorer handler as it is, in a fresh process per repetition
    holding one batch at a time, at batch sizes 500 (the headline) and 100; at 500 interleaved with the
    gc.freeze variants (the measurements behind the handler's choice); then per format. The stages and the
    profile are in-process (information: where the time goes)."""
    users, records = (QUICK_USERS, QUICK_RECORDS) if quick else (STANDARD_USERS, STANDARD_EVENTS)
    workload = standard_workload(users, records)
    n = len(workload.records)
    results: dict[str, Any] = {
        "records": n,
        "repetitions": repetitions,
        "gc": "as deployed: the handler as is, a fresh process per repetition, the harness freezes nothing",
        "by_batch_size": {},
    }
    headline = kinesis_events(workload, HEADLINE_BATCH_SIZE)
    freeze = b2_deployed.measure(headline, repetitions, log=log, label=f"batch {HEADLINE_BATCH_SIZE}")
    results["gc_freeze"] = freeze
    results["by_batch_size"][str(HEADLINE_BATCH_SIZE)] = _record_entry(freeze["none"], freeze["load_average"])
    for batch_size in BATCH_SIZES:
        if batch_size != HEADLINE_BATCH_SIZE:
            events = kinesis_events(workload, batch_size)
            deployed = b2_deployed.measure(
                events, repetitions, log=log, variants=("none",), label=f"batch {batch_size}"
            )
            results["by_batch_size"][str(batch_size)] = _record_entry(
                deployed["none"], deployed["load_average"]
            )
    entry = results["by_batch_size"][str(HEADLINE_BATCH_SIZE)]
    time_ours(headline)  # warm-up: imports, caches
    results["stages_us_per_event"] = _stages(
        headline,
        n,
        statistics.median(_per_event_us(time_ours(headline)[0], n) for _ in range(3)),
        repetitions,
    )
    if profile_path is not None:
        profile_path.parent.mkdir(parents=True, exist_ok=True)
        profile_path.write_text(profile_ours(headline, top=40), encoding="utf-8")
        results["profile"] = str(profile_path.relative_to(ROOT))
    del workload, headline
    results["headline_batch_size"] = HEADLINE_BATCH_SIZE
    results["ours"] = entry["ours_us_per_record_median"]
    results["floor"] = entry["floor_us_per_record_median"]
    results["by_format"] = run_by_format(repetitions, users, records, log=log, known={"pinpoint": freeze})
    return results
