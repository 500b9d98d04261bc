"""results.json, the table in docs/benchmarks.md and the one-screen summary, from one run's figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Target

RESULTS = ROOT / "benchmarks" / "results.json"
DOCS = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

TARGETS = {
    "B1": Target("at least 10x fewer calls than the original at batch size 100", 10.0, at_most=False),
    # Issue 13 item 18: B2 as deployed, at most 1.5x the parsing floor (it was 2x in-process).
    "B2": Target("at most 1.5x the parsing floor", 1.5, at_most=True),
    "B3": Target("at least 50,000 events/s", 50_000.0, at_most=False),
    "B4": Target("at most 100 ms per handler", 100.0, at_most=True),
    # Issue #9: ours costs at most the original per million events at batch size 100 (goal: a fifth).
    "B6": Target("at most the original's cost per million events at batch size 100", 1.0, at_most=True),
}
PERFORMANCE = ROOT / "docs" / "performance.md"


@dataclass(frozen=True, slots=True)
class Row:
    benchmark: str
    metric: str
    target: str
    measured: str
    ratio: str
    verdict: str  # pass | FAIL | info | not run


def _verdict(met: bool | None, ran: bool) -> str:
    if not ran:
        return "not run"
    if met is None:
        return "not measured"
    return "pass" if met else "FAIL"


def _fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}{unit}"


def evaluate(results: dict[str, Any]) -> tuple[list[Row], list[str]]:
    """Table rows and the list of missed targets (benchmarks that ran and missed)."""
    details = results["details"]
    rows: list[Row] = []
    missed: list[str] = []
    calls = results["api_calls_per_1000_events"]
    ran = "B1" in details
    ratio = details["B1"]["ratio_original_to_ours_batch100"] if ran else None
    met = TARGETS["B1"].met(ratio)
    rows += [
        Row(
            "B1",
            "AWS calls per 1,000 events, ours, batch 100",
            "≥ 10x fewer than the original",
            _fmt(calls["ours_batch100"], 1),
            f"{_fmt(ratio, 1)}x fewer" if ratio else "—",
            _verdict(met, ran),
        ),
        Row(
            "B1",
            "AWS calls per 1,000 events, ours, batch 1,000",
            "(information)",
            _fmt(calls["ours_batch1000"], 1),
            (
                f"{calls['original_batch100'] / calls['ours_batch1000']:,.1f}x fewer"
                if ran and calls["ours_batch1000"]
                else "—"
            ),
            "info" if ran else "not run",
        ),
        Row(
            "B1",
            "AWS calls per 1,000 events, original algorithm, batch 100",
            "(reference)",
            _fmt(calls["original_batch100"], 1),
            "1x" if ran else "—",
            "info" if ran else "not run",
        ),
    ]
    if met is False:
        missed.append("B1")

    cpu = results["cpu_us_per_event"]
    ran = "B2" in details
    ratio = cpu["ours"] / cpu["floor"] if ran and cpu["floor"] else None
    met = TARGETS["B2"].met(ratio)
    batch = details["B2"]["headline_batch_size"] if ran else None
    rows += [
        Row(
            "B2",
            f"scorer CPU per event, handler as deployed, AWS stubbed (batch {batch})"
            if batch
            else "scorer CPU per event",
            "≤ 1.5x the floor",
            _fmt(cpu["ours"], 1, " µs"),
            f"{_fmt(ratio, 2)}x the floor" if ratio else "—",
            _verdict(met, ran),
        ),
        Row(
            "B2",
            "floor: base64 decode + json.loads of the same records",
            "(reference)",
            _fmt(cpu["floor"], 1, " µs"),
            "1x" if ran else "—",
            "info" if ran else "not run",
        ),
    ]
    for name, entry in (results.get("cpu_us_per_event_by_format") or {}).items():
        rows.append(
            Row(
                "B2",
                f"scorer CPU per record, {name} only (batch {batch}), against its own floor",
                "(information)",
                _fmt(entry["ours"], 1, " µs"),
                f"{_fmt(entry['ratio'], 2)}x its floor ({_fmt(entry['floor'], 1, ' µs')})",
                "info",
            )
        )
    if met is False:
        missed.append("B2")

    rate = results["simulator_events_per_s"]
    ran = "B3" in details
    met = TARGETS["B3"].met(rate)
    rows.append(
        Row(
            "B3",
            "simulator generation, one core",
            "≥ 50,000 events/s",
            _fmt(rate, 0, " events/s"),
            f"{rate / 50_000:.2f}x the target" if rate else "—",
            _verdict(met, ran),
        )
    )
    if met is False:
        missed.append("B3")

    ran = "B4" in details
    for handler in ("scorer", "score_sync"):
        value = results["import_ms"][handler]
        met = TARGETS["B4"].met(value)
        rows.append(
            Row(
                "B4",
                f"import time, `handlers.{handler}`",
                "≤ 100 ms",
                _fmt(value, 1, " ms"),
                f"{value / 100:.2f}x the limit" if value is not None else "—",
                _verdict(met, ran),
            )
        )
        if met is False and "B4" not in missed:
            missed.append("B4")

    ran = "B5" in details
    verdict = "not run" if not ran else ("info" if results["simulate_wall_s"] is not None else "not measured")
    rows += [
        Row("B5", "`make simulate` default workload, wall time", "(reported)",
            _fmt(results["simulate_wall_s"], 1, " s"), "—", verdict),
        Row("B5", "`make simulate`, peak memory (process tree)", "(reported)",
            _fmt(results["simulate_peak_mb"], 0, " MB"), "—", verdict),
    ]  # fmt: skip

    ran = "B6" in details
    b6 = details.get("B6") or {}
    cost = results.get("cost_per_million_events") or {}
    ratio = b6.get("ratio_ours_to_original_batch100") if ran else None
    met = TARGETS["B6"].met(ratio)
    runs = b6.get("runs", {})
    same = cost.get("ours_same_sinks_as_original") if ran else None
    same_ratio = b6.get("ratio_ours_same_sinks_to_original_batch100") if ran else None

    def dollars(run: str) -> str:
        return f"${runs[run]['usd_per_million_events']:,.3f}" if run in runs else "—"

    rows += [
        Row("B6", "USD per million events, ours, batch 100", "≤ the original's (goal: a fifth)",
            f"${cost['ours']:,.3f}" if cost else "—", f"{ratio:.2f}x the original" if ratio else "—",
            _verdict(met, ran)),
        Row("B6", "USD per million events, ours with the original's sinks (no EventBridge), batch 100",
            "(information)", f"${same:,.3f}" if same is not None else "—",
            f"{same_ratio:.2f}x the original" if same_ratio else "—", "info" if ran else "not run"),
        Row("B6", "USD per million events, ours, batch 1,000", "(information)", dollars("ours_batch1000"),
            "—", "info" if ran else "not run"),
        Row("B6", "USD per million events, original algorithm, batch 100", "(reference)",
            f"${cost['original']:,.3f}" if cost else "—", "1x" if ran else "—", "info" if ran else "not run"),
        Row("B6", "USD per million events, original algorithm, batch 1,000", "(information)",
            dollars("original_batch1000"), "—", "info" if ran else "not run"),
    ]  # fmt: skip
    if met is False:
        missed.append("B6")
    return rows, missed


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| | metric | target | measured | ratio | result |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    lines += [
        f"| {r.benchmark} | {r.metric} | {r.target} | {r.measured} | {r.ratio} | {r.verdict} |" for r in rows
    ]
    return "\n".join(lines)


def _b1_breakdown(b1: dict[str, Any]) -> str:
    runs = ("ours_batch100", "ours_batch1000", "original_batch100")
    operations = sorted({op for run in runs for op in b1[run]["calls_by_operation"]})
    lines = [
        "| operation | " + " | ".join(runs) + " |",
        "| --- |" + " ---: |" * len(runs),
    ]
    for op in operations:
        lines.append(
            f"| {op} | " + " | ".join(f"{b1[run]['calls_by_operation'].get(op, 0):,}" for run in runs) + " |"
        )
    lines.append("| **total** | " + " | ".join(f"**{b1[run]['total_calls']:,}**" for run in runs) + " |")
    return "\n".join(lines)


def results_section(results: dict[str, Any], rows: list[Row], missed: list[str]) -> str:
    machine = results["machine"]
    details = results["details"]
    parts = [
        START,
        "",
        f"Measured {results['measured_at']} on **{machine['cpu_model']}** ({machine['cpu_count']} CPUs), "
        f"Python {machine['python']} ({machine['platform']}); "
        f"benchmarks run: {', '.join(results['benchmarks_run'])}"
        + (" (**--quick**: smaller workloads, not the standard figures)" if results["quick"] else "")
        + "."
        + (
            "; kept from earlier runs: "
            + ", ".join(
                f"{name} ({results.get('measured_at_by_benchmark', {}).get(name)})"
                for name in results["benchmarks_kept"]
            )
            + "."
            if results.get("benchmarks_kept")
            else ""
        ),
        "",
        markdown_table(rows),
        "",
        f"Targets missed: {', '.join(missed) if missed else 'none'}.",
    ]
    if "B1" in details:
        b1 = details["B1"]
        w = b1["workload"]
        parts += [
            "",
            f"B1 calls by operation ({w['users']:,} users, {w['events']:,} events, seed {w['seed']}):",
            "",
            _b1_breakdown(b1),
        ]
    if "B2" in details:
        parts += [
            "",
            "B2 as deployed by scorer batch size (CPU time; medians and [min, max] over the repetitions; µs "
            "per record; the ratio is the median of each run's own):",
            "",
        ]
        parts += [
            "| batch size | ours | ours spread | floor | floor spread | ratio | ratio spread | load |",
            "| ---: |" + " ---: |" * 6 + " --- |",
        ]
        for size, b in details["B2"]["by_batch_size"].items():
            parts.append(
                f"| {size} | {b['ours_us_per_record_median']} | {b['ours_us_per_record_spread']} | "
                f"{b['floor_us_per_record_median']} | {b['floor_us_per_record_spread']} | "
                f"{b['ratio_median']}x | {b['ratio_spread']} | {_load(b)} |"
            )
        freeze = details["B2"].get("gc_freeze")
        if freeze:
            parts += ["", gc_freeze_line(freeze)]
        stages = details["B2"].get("stages_us_per_event")
        if stages:
            parts += [
                "",
                f"Where ours goes at batch size {details['B2']['headline_batch_size']} (µs per record): "
                + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in stages.items())
                + ".",
            ]
        by_format = details["B2"].get("by_format")
        if by_format:
            parts += [
                "",
                "B2 by format (one format per workload, same number of records; medians and [min, max] in µs "
                "per Kinesis record; each format's floor is base64 + gunzip where gzip + json.loads, the "
                "log events' messages included):",
                "",
                "| format | records | JSON documents per record | ours | ours spread | floor | floor spread "
                "| ratio | load |",
                "| --- |" + " ---: |" * 7 + " --- |",
            ]
            for name, b in by_format.items():
                parts.append(
                    f"| {name} | {b['records']:,} | {b['json_documents_per_record']} | "
                    f"{b['ours_us_per_record_median']} | {b['ours_us_per_record_spread']} | "
                    f"{b['floor_us_per_record_median']} | {b['floor_us_per_record_spread']} | "
                    f"{b['ratio_median']}x | {_load(b)} |"
                )
    if "B6" in details:
        parts += ["", "B6 USD per million events by service (batch 100; details in docs/performance.md):", ""]
        parts += [cost_breakdown_table(details["B6"])]
        monitoring = details["B6"].get("monitoring_monthly")
        if monitoring:
            parts += ["", monitoring_line(monitoring)]
        archive = details["B6"].get("archive_per_million_events")
        if archive:  # only with python -m benchmarks --archive
            parts += ["", archive_line(archive)]
    if "B5" in details and details["B5"].get("reason"):
        parts += ["", f"B5 not measured: {details['B5']['reason']}."]
    parts += ["", END]
    return "\n".join(parts)


def _load(entry: dict[str, Any]) -> str:
    """The load average (1, 5, 15 min) before -> after a measurement."""
    load = entry.get("load_average")
    return f"{load[0]} → {load[1]}" if load else "—"


def gc_freeze_line(freeze: dict[str, Any]) -> str:
    """The gc.freeze experiment: each variant's handler figure, ratio and cold start, with the load."""
    names = {
        "none": "the handler as is (gc.freeze() at import end and after init)",
        "nofreeze": "without either",
        "import": "at import end only",
    }
    variants = [name for name in names if name in freeze]
    return (
        f"gc.freeze, as deployed ({freeze['repetitions']} interleaved repetitions, load average "
        f"{freeze['load_average'][0]} before, {freeze['load_average'][1]} after): "
        + "; ".join(
            f"{names[v]} {freeze[v]['handler_us_per_record']['median']} µs per record "
            f"{freeze[v]['handler_us_per_record']['spread']}, {freeze[v]['ratio']['median']}x the floor "
            f"{freeze[v]['ratio']['spread']}, cold start (import + init, CPU) "
            f"{freeze[v]['cold_start_ms']['median']} ms {freeze[v]['cold_start_ms']['spread']}"
            for v in variants
        )
        + "."
    )


def archive_line(archive: dict[str, Any]) -> str:
    """What the events archive adds per million events (benchmarks/archive_cost.py)."""
    parts, quantities = archive["breakdown_usd"], archive["quantities"]
    unpriced = f"; not priced: {', '.join(archive['unpriced'])}" if archive["unpriced"] else ""
    return (
        f"Events archive (create_archive): ${archive['usd_per_million_events']:,.4f} per million events "
        f"(Firehose {quantities['firehose_billed_gb']:.3f} GB billed in 5 KB steps "
        f"${parts['firehose']:,.4f}, {quantities['s3_puts']:.0f} S3 PUTs ${parts['s3_puts']:,.4f}, "
        f"{quantities['s3_stored_gb']:.4f} GB stored a month ${parts['s3_storage_month']:,.4f}), and "
        f"${archive['athena_usd_per_query']:,.4f} per Athena query over that archive{unpriced}."
    )


def monitoring_line(monitoring: dict[str, Any]) -> str:
    """What the alarms and the dashboard add a month, whatever the load (monitoring.tf)."""
    parts = monitoring["breakdown_usd"]
    return (
        "Monitoring (create_alarms, create_dashboard; fixed, any load): "
        f"${monitoring['monthly_usd']:,.2f} a month ({monitoring['alarms']} alarms ${parts['alarms']:,.2f}, "
        f"dashboard ${parts['dashboard']:,.2f}, the topic's key ${parts['topic_key']:,.2f}); list prices "
        f"without the free tier; not priced: {monitoring['not_priced']}."
    )


def cost_breakdown_table(b6: dict[str, Any]) -> str:
    cost = b6["cost_per_million_events"]
    lines = ["| service | ours | original |", "| --- | ---: | ---: |"]
    for service, figures in cost["breakdown"].items():
        lines.append(f"| {service} | ${figures['ours']:,.4f} | ${figures['original']:,.4f} |")
    lines.append(f"| **total** | **${cost['ours']:,.4f}** | **${cost['original']:,.4f}** |")
    return "\n".join(lines)


def _units_table(b6: dict[str, Any]) -> str:
    runs = ("ours_batch100", "ours_batch1000", "original_batch100", "original_batch1000")
    present = [run for run in runs if run in b6["runs"]]
    quantities = list(b6["runs"][present[0]]["units_per_1000_events"])
    lines = ["| per 1,000 events | " + " | ".join(present) + " |", "| --- |" + " ---: |" * len(present)]
    for quantity in quantities:
        cells = [f"{b6['runs'][run]['units_per_1000_events'][quantity]:,.6g}" for run in present]
        lines.append(f"| {quantity.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _run_table(b6: dict[str, Any]) -> str:
    services = list(b6["cost_per_million_events"]["breakdown"])
    lines = [
        "| run | events per user per batch | " + " | ".join(services) + " | total |",
        "| --- | ---: |" + " ---: |" * (len(services) + 1),
    ]
    for name, run in b6["runs"].items():
        cells = [f"${run['breakdown_usd_per_million'][service]:,.4f}" for service in services]
        lines.append(
            f"| {name} | {run['events_per_user_batch']} | "
            + " | ".join(cells)
            + f" | **${run['usd_per_million_events']:,.4f}** |"
        )
    return "\n".join(lines)


def _scale_table(b6: dict[str, Any]) -> str:
    lines = [
        "| events per month | average events/s | pipeline | monthly bill | DynamoDB | Lambda | Kinesis "
        "| other | shards needed | Lambda concurrency needed | measured at batch fill (scorer/sync) |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for events, entry in b6["scales"].items():
        for side in ("ours", "original"):
            bill = entry[side]
            parts = bill["breakdown_usd"]
            dynamodb = parts["dynamodb"] + parts["dynamodb_storage"]
            other = sum(
                v for k, v in parts.items() if k not in ("dynamodb", "dynamodb_storage", "lambda", "kinesis")
            )
            fill = bill["measured_at_batch_fill"]
            lines.append(
                f"| {int(events):,} | {bill['average_events_per_s']:,} | {side} | "
                f"**${bill['monthly_usd']:,.2f}** | ${dynamodb:,.2f} | ${parts['lambda']:,.2f} | "
                f"${parts['kinesis']:,.2f} | ${other:,.2f} | {bill['shards_needed']} | "
                f"{bill['lambda_concurrency_needed']:,} | {fill['scorer']}/{fill['sync']} |"
            )
    return "\n".join(lines)


def _prices_table(b6: dict[str, Any]) -> str:
    lines = ["| price | USD | unit | evidence | page |", "| --- | ---: | --- | --- | --- |"]
    for price in b6["prices"]:
        value = "not found" if price["usd"] is None else f"{price['usd']:.10g}"
        evidence = price["evidence"] + (f" ({price['seen_in']})" if price["seen_in"] else "")
        note = f" — {price['note']}" if price["note"] else ""
        lines.append(f"| {price['price']} | {value} | {price['unit']}{note} | {evidence} | {price['page']} |")
    return "\n".join(lines)


def performance_section(results: dict[str, Any]) -> str:
    b6 = results["details"]["B6"]
    cost = b6["cost_per_million_events"]
    assumptions = b6["assumptions"]
    w = b6["workload"]
    latency = ", ".join(f"{call} {ms:g}" for call, ms in assumptions["call_latency_ms"].items())
    stored = b6["runs"]["ours_batch100"]["stored"]
    sweep_lines = ["| users | events | pipeline | events per user per batch | USD per million events |",
                   "| ---: | ---: | --- | ---: | ---: |"]  # fmt: skip
    for side, points in b6["density_sweep"].items():
        for point in points:
            sweep_lines.append(
                f"| {point['users']:,} | {point['events']:,} | {side} | {point['events_per_user_batch']} | "
                f"${point['usd_per_million_events']:,.4f} |"
            )
    parts = [
        START,
        "",
        f"Measured {results['measured_at']} by `make bench` (B6) on {w['users']:,} users, "
        f"{w['events']:,} events (seed {w['seed']})"
        + (" — **--quick**: a smoke run, not the standard figures" if results["quick"] else "")
        + f"; prices as of {cost['prices_as_of']} (us-east-1).",
        "",
        f"**Per million events at batch size 100: ours ${cost['ours']:,.3f}, the original "
        f"${cost['original']:,.3f} ({b6['ratio_ours_to_original_batch100']:.2f}x).**",
        "",
        f"With the original's sinks (it publishes to Pinpoint only; the EventBridge sink is ours alone): "
        f"ours ${cost['ours_same_sinks_as_original']:,.3f} "
        f"({b6['ratio_ours_same_sinks_to_original_batch100']:.2f}x the original), the measured run without "
        "its EventBridge line and without the sync's wait for PutEvents.",
        "",
        cost_breakdown_table(b6),
        "",
        "Every run (USD per million events by service):",
        "",
        _run_table(b6),
        "",
        "Billed units per 1,000 events:",
        "",
        _units_table(b6),
        "",
        "Stored items after ours at batch 100 (bytes by DynamoDB's item-size rules):",
        "",
        "| table | items | mean | p95 | largest |",
        "| --- | ---: | ---: | ---: | ---: |",
        *(
            f"| {table} | {s['items']:,} | {s['mean_item_bytes']:,} | {s['p95_item_bytes']:,.0f} | "
            f"{s['max_item_bytes']:,.0f} |"
            for table, s in stored.items()
        ),
        "",
        "### The bill at three loads (module defaults)",
        "",
        _scale_table(b6) if b6["scales"] else "(not run)",
        "",
        "### Cost against user density",
        "",
        f"![cost per million events against events per user per batch]({Path(b6['plot']).name})"
        if b6.get("plot")
        else "(no plot written)",
        "",
        *sweep_lines,
        "",
        "### Assumptions of this run",
        "",
        f"- Latency per AWS call, ms (assumed, not measured): {latency}; any other call "
        f"{assumptions['default_call_latency_ms']:g}.",
        f"- Lambda: {assumptions['architecture']}, memory {assumptions['memory_mb']} MB; CPU measured on "
        f"this machine scaled by {assumptions['one_vcpu_mb']} MB / memory (a full vCPU at "
        f"{assumptions['one_vcpu_mb']} MB).",
        f"- Kinesis {assumptions['stream_mode']}; CloudWatch Logs kept {assumptions['log_retention_days']} "
        f"days; storage at three loads assumes {assumptions['events_per_user_for_storage']} events per user "
        "per month.",
        "- Priced at nothing because no price was found: "
        + (", ".join(assumptions["unpriced"]) or "none")
        + ".",
        "",
        "### Prices",
        "",
        _prices_table(b6),
        "",
        END,
    ]
    return "\n".join(parts)


def _replace_section(path: Any, section: str, title: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else f"# {title}\n\n{START}\n{END}\n"
    if START in text and END in text:
        before, _, rest = text.partition(START)
        _, _, after = rest.partition(END)
        text = before + section + after
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def write(results: dict[str, Any], rows: list[Row], missed: list[str]) -> None:
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    _replace_section(DOCS, results_section(results, rows, missed), "Benchmarks")
    if "B6" in results["benchmarks_run"]:  # kept figures leave the page as that run wrote it
        _replace_section(PERFORMANCE, performance_section(results), "Performance and cost")


def summary(results: dict[str, Any], rows: list[Row], missed: list[str]) -> str:
    machine = results["machine"]
    width = max(len(r.metric) for r in rows)
    lines = [
        f"benchmarks on {machine['cpu_model']} ({machine['cpu_count']} CPUs), Python {machine['python']}"
        + ("  [--quick]" if results["quick"] else ""),
    ]
    for r in rows:
        lines.append(f"  {r.benchmark}  {r.metric:<{width}}  {r.measured:>16}  {r.ratio:>20}  {r.verdict}")
    lines.append(f"targets missed: {', '.join(missed) if missed else 'none'}")
    lines.append(f"wrote {RESULTS.relative_to(ROOT)} and {DOCS.relative_to(ROOT)}")
    return "\n".join(lines)
