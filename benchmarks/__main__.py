"""`python -m benchmarks [--only B1,B2,...] [--quick]` (`make bench`): run, write, summarize, judge.

Writes benchmarks/results.json and the results section of docs/benchmarks.md, prints a one-screen
summary, and exits 1 when a benchmark that ran missed its target (2 on a usage error). A partial run
(--only) keeps the last figures of the benchmarks it left out from the previous results.json, each with
its own date in `measured_at_by_benchmark` (a --quick run keeps only --quick figures, and a standard
run only standard ones); benchmarks never measured stay null and "not run".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common import STANDARD_EVENTS, STANDARD_USERS, machine_info, standard_workload

ALL = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
# The top-level figures of results.json each benchmark owns (`ratios` entries apart).
OWNED: dict[str, tuple[str, ...]] = {
    "B1": ("api_calls_per_1000_events",),
    "B2": ("cpu_us_per_event", "cpu_us_per_event_by_format"),
    "B3": ("simulator_events_per_s",),
    "B4": ("import_ms",),
    "B5": ("simulate_wall_s", "simulate_peak_mb"),
    "B6": ("cost_per_million_events",),
    "B7": ("refresher",),
}
OWNED_RATIOS = {
    "B1": "original_to_ours_calls_batch100",
    "B2": "cpu_ours_to_floor",
    "B6": "cost_ours_to_original_batch100",
}
QUICK_USERS, QUICK_EVENTS = 300, 3000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(ALL))
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smaller workloads ({QUICK_USERS} users, {QUICK_EVENTS} events for B1, B5 and B6) and fewer "
        "repetitions: a smoke run, not the standard figures",
    )
    parser.add_argument(
        "--no-density-sweep",
        action="store_true",
        help="B6 without its density sweep and plot (the standard runs and the three loads only): the "
        "sweep is most of B6's time; results.json then has an empty density_sweep and no plot",
    )
    parser.add_argument(
        "--archive",
        action="store_true",
        help="B6 also prices the events archive (create_archive) per million events",
    )
    parser.add_argument(
        "--attribution-variant",
        action="store_true",
        help="only B6's attribution variant (ours at batch 100 on the standard workload, "
        "attribution_enabled off and on): writes results.json's b6_attribution, leaves the rest as it was",
    )
    args = parser.parse_args(argv)
    selected = [name.strip().upper() for name in (args.only or ",".join(ALL)).split(",") if name.strip()]
    unknown = sorted(set(selected) - set(ALL))
    if unknown or not selected:
        parser.error(f"--only takes a comma-separated subset of {','.join(ALL)}; got {args.only!r}")
    args.selected = [name for name in ALL if name in selected]
    return args


def run_benchmarks(
    selected: list[str],
    quick: bool,
    log: Callable[[str], None] = _log,
    density_sweep: bool = True,
    archive: bool = False,
) -> dict[str, Any]:
    details: dict[str, Any] = {}
    durations: dict[str, float] = {}
    # B6 watches the three runs B1 counts: with both selected, B6 runs first and B1 takes its runs.
    order = sorted(selected, key=lambda name: (name != "B6" or "B1" not in selected, ALL.index(name)))
    shared_runs: dict[str, Any] = {}
    for name in order:
        log(f"{name} ...")
        started = time.perf_counter()
        if name == "B1":
            from benchmarks import b1_api_calls

            if shared_runs:
                users, events = (QUICK_USERS, QUICK_EVENTS) if quick else (STANDARD_USERS, STANDARD_EVENTS)
                details[name] = b1_api_calls.summarize(standard_workload(users, events), shared_runs)
            elif quick:
                details[name] = b1_api_calls.run(QUICK_USERS, QUICK_EVENTS, log=log)
            else:
                details[name] = b1_api_calls.run(log=log)
        elif name == "B2":
            from benchmarks import b2_cpu

            details[name] = b2_cpu.run(repetitions=3 if quick else b2_cpu.REPETITIONS, log=log, quick=quick)
        elif name == "B3":
            from benchmarks import b3_generation

            details[name] = b3_generation.run(repetitions=3 if quick else b3_generation.REPETITIONS, log=log)
        elif name == "B4":
            from benchmarks import b4_import

            details[name] = b4_import.run(runs=3 if quick else b4_import.RUNS, log=log)
        elif name == "B5":
            from benchmarks import b5_simulate

            extra = ["--users", str(QUICK_USERS), "--events", str(QUICK_EVENTS)] if quick else []
            details[name] = b5_simulate.run(extra, log=log)
        elif name == "B6":
            from benchmarks import b6_cost

            keep = shared_runs if "B1" in selected else None
            if quick:
                details[name] = b6_cost.run(
                    QUICK_USERS,
                    QUICK_EVENTS,
                    log=log,
                    density_events=300,
                    density_points=((300, True), (30, False)),
                    call_runs_out=keep,
                    scale_workload=(30, 150),
                    archive=archive,
                )
            elif density_sweep:
                details[name] = b6_cost.run(log=log, call_runs_out=keep, archive=archive)
            else:
                details[name] = b6_cost.run(
                    log=log, call_runs_out=keep, density_points=(), plot_path=None, archive=archive
                )
        elif name == "B7":
            from benchmarks import b7_refresher

            details[name] = b7_refresher.run(200 if quick else b7_refresher.DUE, log=log)
        durations[name] = round(time.perf_counter() - started, 1)
    b1, b2, b3, b4, b5, b6, b7 = (details.get(name) for name in ALL)
    return {
        "api_calls_per_1000_events": {
            run: (b1[run]["calls_per_1000_events"] if b1 else None)
            for run in ("ours_batch100", "ours_batch1000", "original_batch100")
        },
        "cpu_us_per_event": {"ours": b2["ours"] if b2 else None, "floor": b2["floor"] if b2 else None},
        # per Kinesis record of a one-format workload; each format against its own parsing floor
        "cpu_us_per_event_by_format": (
            {
                name: {
                    "ours": entry["ours_us_per_record_median"],
                    "floor": entry["floor_us_per_record_median"],
                    "ratio": entry["ratio_median"],
                }
                for name, entry in b2["by_format"].items()
            }
            if b2 and "by_format" in b2
            else None
        ),
        "simulator_events_per_s": b3["events_per_s"] if b3 else None,
        "import_ms": {
            "scorer": b4["scorer"] if b4 else None,
            "score_sync": b4["score_sync"] if b4 else None,
        },
        "simulate_wall_s": b5["wall_s"] if b5 else None,
        "simulate_peak_mb": b5["peak_mb"] if b5 else None,
        "cost_per_million_events": b6["cost_per_million_events"] if b6 else None,
        "refresher": b7,
        "ratios": {
            "original_to_ours_calls_batch100": b1["ratio_original_to_ours_batch100"] if b1 else None,
            "cpu_ours_to_floor": round(b2["ours"] / b2["floor"], 2) if b2 else None,
            "cost_ours_to_original_batch100": b6["ratio_ours_to_original_batch100"] if b6 else None,
        },
        "quick": quick,
        "benchmarks_run": selected,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "benchmark_seconds": durations,
        "details": details,
    }


def keep_previous(results: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """`results` of this run with, for every benchmark it did not run, the figures `previous` holds (a
    results.json of the same kind, --quick or not), so a partial run never nulls the others' figures.
    `measured_at_by_benchmark` dates each benchmark's figures; `benchmarks_run` stays this run's."""
    measured_at = results["measured_at"]
    dates = {name: measured_at for name in results["benchmarks_run"]}
    kept: list[str] = []
    if previous and bool(previous.get("quick")) == bool(results.get("quick")):
        previous_dates = previous.get("measured_at_by_benchmark") or {}
        previous_details = previous.get("details") or {}
        for name in ALL:
            if name in results["benchmarks_run"] or name not in previous_details:
                continue
            kept.append(name)
            results["details"][name] = previous_details[name]
            for key in OWNED[name]:
                results[key] = previous.get(key)
            if name in OWNED_RATIOS:
                results["ratios"][OWNED_RATIOS[name]] = (previous.get("ratios") or {}).get(OWNED_RATIOS[name])
            seconds = (previous.get("benchmark_seconds") or {}).get(name)
            if seconds is not None:
                results["benchmark_seconds"][name] = seconds
            dates[name] = previous_dates.get(name) or previous.get("measured_at")
    if previous and "b6_attribution" in previous:  # written by --attribution-variant only
        results["b6_attribution"] = previous["b6_attribution"]
    results["benchmarks_kept"] = kept
    results["measured_at_by_benchmark"] = {name: dates[name] for name in ALL if name in dates}
    return results


def attribution_variant_main(quick: bool) -> int:
    """`--attribution-variant`: B6's attribution variant alone, into results.json's `b6_attribution`."""
    from benchmarks import b6_cost, report

    started = time.perf_counter()
    users, events = (QUICK_USERS, QUICK_EVENTS) if quick else (STANDARD_USERS, STANDARD_EVENTS)
    variant = b6_cost.attribution_variant(users, events, log=_log)
    variant |= {
        "quick": quick,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine_info(),
    }
    if not quick:  # a smoke run never replaces the standard figures
        results = json.loads(report.RESULTS.read_text(encoding="utf-8"))
        results["b6_attribution"] = variant
        report.RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({key: variant[key] for key in variant if key != "sides"}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks import report

    if args.attribution_variant:
        return attribution_variant_main(args.quick)

    results = run_benchmarks(
        args.selected, args.quick, density_sweep=not args.no_density_sweep, archive=args.archive
    )
    try:
        previous = json.loads(report.RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    results = keep_previous(results, previous if isinstance(previous, dict) else None)
    rows, missed = report.evaluate(results)
    results["targets_missed"] = missed
    report.write(results, rows, missed)
    print(report.summary(results, rows, missed))
    return 1 if set(missed) & set(results["benchmarks_run"]) else 0


if __name__ == "__main__":
    sys.exit(main())
