"""The run's report: a one-screen summary on stderr, `report.json` and a PNG histogram of scores by tier.

Only user keys (user ids, endpoint ids or client ids), scores and tiers appear: never a name,
an e-mail address or a phone number.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from simulator.verify import plain

REPORT_FILE = "report.json"
HISTOGRAM_FILE = "scores_by_tier.png"
NO_TIER = "(no tier)"


def user_states(items: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """{user_key: {"score", "tier", "rules"}} from user_scores items (the shape `--json` prints); `rules`
    are the sorted names of the window rules matched, [] when none."""
    return {
        key: {
            "score": plain(item.get("score")),
            "tier": item.get("tier"),
            "rules": sorted(item["rules"]) if isinstance(item.get("rules"), set | list) else [],
        }
        for key, item in sorted(items.items())
    }


def tier_counts(users: Mapping[str, Mapping[str, Any]], tier_order: list[str]) -> dict[str, int]:
    counts = Counter(u["tier"] if u["tier"] is not None else NO_TIER for u in users.values())
    ordered = [t for t in tier_order if t in counts] + sorted(k for k in counts if k not in tier_order)
    return {t: counts[t] for t in ordered}


def top_users(users: Mapping[str, Mapping[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    scored = [(key, u) for key, u in users.items() if isinstance(u["score"], int | float)]
    scored.sort(key=lambda ku: (-ku[1]["score"], ku[0]))
    return [{"user_key": key, "score": u["score"], "tier": u["tier"]} for key, u in scored[:n]]


def write_report(report: Mapping[str, Any], report_dir: Path) -> Path:
    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / REPORT_FILE
    path.write_text(json.dumps(report, indent=2, sort_keys=False, default=str) + "\n")
    return path


def write_histogram(users: Mapping[str, Mapping[str, Any]], tier_order: list[str], report_dir: Path) -> Path:
    """A stacked histogram of the users' scores, one colour per tier (matplotlib, Agg, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    report_dir.mkdir(parents=True, exist_ok=True)
    path = report_dir / HISTOGRAM_FILE
    by_tier: dict[str, list[float]] = {}
    for u in users.values():
        if isinstance(u["score"], int | float):
            by_tier.setdefault(u["tier"] if u["tier"] is not None else NO_TIER, []).append(float(u["score"]))
    labels = [t for t in tier_order if t in by_tier] + sorted(t for t in by_tier if t not in tier_order)
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if labels:
        axes.hist([by_tier[t] for t in labels], bins=40, stacked=True, label=labels)
        axes.legend(title="tier")
    else:
        axes.text(0.5, 0.5, "no scored users", ha="center", va="center", transform=axes.transAxes)
    axes.set_xlabel("score")
    axes.set_ylabel("users")
    axes.set_title(f"Engagement scores by tier ({sum(len(v) for v in by_tier.values())} users)")
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def print_summary(report: Mapping[str, Any], console: Console) -> None:
    """One screen: what was sent, what the pipeline did, the users, the verification."""
    stream, producer = report["stream"], report["producer"]
    pipeline, verification = report.get("pipeline"), report["verification"]
    console.rule(f"[bold]engagement scoring simulation: {report['run']['target']}")
    malformed = ", ".join(f"{k} {v}" for k, v in stream["malformed_kinds"].items()) or "none"
    console.print(
        f"sent [bold]{stream['records']}[/] records: {stream['events']} events, {stream['duplicates']} "
        f"duplicates, {stream['malformed']} malformed ({malformed}) in {producer['elapsed_s']:.1f}s "
        f"({producer['records_per_s']:,.0f} rec/s, {producer['put_records_calls']} PutRecords calls, "
        f"{producer['entries_retried']} entries retried)"
    )
    scorer = (pipeline or {}).get("scorer")
    if scorer:
        rejected = ", ".join(f"{k} {v}" for k, v in (scorer.get("rejected") or {}).items()) or "none"
        skipped = ", ".join(f"{k} {v}" for k, v in (scorer.get("skipped") or {}).items()) or "none"
        console.print(
            f"scorer: {scorer.get('records', '?')} records in {scorer.get('batches', '?')} batches, scored "
            f"[bold]{scorer.get('scored', '?')}[/], "
            f"duplicates suppressed {scorer.get('duplicates_suppressed', '?')}, "
            f"once-per-message suppressed {scorer.get('once_per_message_suppressed', '?')}, "
            f"retryable failures {scorer.get('retryable_failures', 0)}",
            highlight=False,
        )
        console.print(f"  skipped: {skipped}; rejected: {rejected}", markup=False, highlight=False)
        sync = (pipeline or {}).get("score_sync") or {}
        if sync:
            console.print(
                f"score sync: {sync.get('users_changed', '?')} user changes, "
                f"{sync.get('pinpoint_endpoints_updated', '?')} Pinpoint endpoint updates, "
                f"{sync.get('events_published', '?')} events published",
                markup=False,
                highlight=False,
            )
    else:
        console.print("pipeline: batch statistics not observable on this target")
    oracle = report.get("oracle")
    if oracle:
        console.print(
            f"oracle expects: {oracle['counted']} events counted, {oracle['users']} users, "
            f"{oracle['once_per_message_suppressed']} once-per-message suppressed"
        )
        machine = oracle.get("machine_engagement") or {}
        if machine.get("reasons"):
            console.print(
                f"machine engagement: {machine['machine_events']} machine and "
                f"{machine['human_events']} human opens/clicks (ground truth), "
                f"{machine['machine_missed']} machine ones without any reason; "
                f"{oracle.get('machine_not_counted', 0)} arrivals weighted 0",
                markup=False,
                highlight=False,
            )
            for reason, row in machine["reasons"].items():
                scorer_flagged = "?" if row["scorer_flagged"] is None else row["scorer_flagged"]
                console.print(
                    f"  {reason}: machine events meant {row['machine_generated']}, caught {row['caught']} "
                    f"(machine events flagged {row['machine_flagged']}); "
                    f"human events flagged {row['human_flagged']}; flagged by the oracle "
                    f"{row['oracle_flagged']}, by the scorer {scorer_flagged} (per batch)",
                    markup=False,
                    highlight=False,
                )
    users = report["users"]
    tiers = ", ".join(f"{t} {n}" for t, n in users["per_tier"].items()) or "none"
    advanced = (report.get("verification") or {}).get("advance")
    as_of = f" as of the time advance, {advanced['now_iso']}" if advanced else ""
    console.print(f"users: [bold]{users['count']}[/] ({tiers}){as_of}")
    table = Table(title="top ten users", title_justify="left", show_edge=False, padding=(0, 1))
    table.add_column("#", justify="right")
    table.add_column("user key")
    table.add_column("score", justify="right")
    table.add_column("tier")
    for rank, user in enumerate(users["top"], start=1):
        score = user["score"]
        shown = f"{score:,.3f}" if isinstance(score, float) else f"{score:,}"
        table.add_row(str(rank), escape(user["user_key"]), shown, escape(str(user["tier"] or "-")))
    console.print(table)
    if verification.get("oracle"):
        for name in ("counters", "pinpoint", "eventbridge", "customer_profiles"):
            sink = verification.get(name)
            if sink is None:
                continue
            if sink.get("checked"):
                console.print(
                    f"{name}: {sink['ok']}/{sink['expected']} as expected, {sink['missing']} missing, "
                    f"{sink['wrong']} wrong, {sink['unexpected']} unexpected ({sink['observed']} observed)"
                )
            else:
                console.print(f"{name}: not checked ({sink.get('reason', 'not observable')})")
        advance = verification.get("advance")
        if advance:
            runs = advance["refresher_runs"]
            console.print(
                f"time advance to {advance['now_iso']}: {len(runs)} refresher runs, "
                f"{advance['users_refreshed']} users refreshed, {advance['mismatches']} mismatches as of then"
                + (f" ({advance['reason']})" if advance["reason"] else "")
            )
            for name in ("eventbridge", "customer_profiles"):
                sink = advance.get(name)
                if sink:  # what the sink last saw, and the refresher's own events, as of the clock
                    notes = {"tier_moved_by_the_refresher": "tier moves", "rule_events": "rule events"}
                    extra = ", ".join(f"{sink[key]} {label}" for key, label in notes.items() if key in sink)
                    console.print(
                        f"  {name} as of then: {sink['ok']}/{sink['expected']} as expected, "
                        f"{sink['missing']} missing, {sink['wrong']} wrong"
                        + (f" ({extra})" if extra else ""),
                        markup=False,
                    )
        if (
            "campaign_mismatches" in verification
        ):  # attribution on: the per-campaign table against the oracle's
            console.print(
                f"campaigns: {verification.get('campaigns_compared', 0)} in the oracle's per-campaign table, "
                f"{verification['campaign_mismatches']} differences from the campaign table"
            )
        style = "green" if verification["mismatches"] == 0 else "red"
        console.print(
            f"mismatches against the oracle: [bold {style}]{verification['mismatches']}[/] "
            f"(users {verification['score_mismatches']}, "
            f"counters {verification.get('counter_mismatches', 0)}, "
            f"pinpoint {verification['pinpoint_mismatches']}, "
            f"eventbridge {verification['eventbridge_mismatches']}, "
            f"customer profiles {verification.get('customer_profiles_mismatches', 0)}"
            + (
                f", campaigns {verification['campaign_mismatches']}"
                if "campaign_mismatches" in verification
                else ""
            )
            + ")"
        )
        for m in verification["details"][:5]:
            console.print(
                f"  {m['user_key']} {m['field']}: expected {m['expected']!r}, got {m['actual']!r}",
                markup=False,
            )
    else:
        console.print("mismatches: 0 (replayed events file: no oracle)")
    files = report.get("files", {})
    phases = report["run"].get("phases_s") or {}
    if phases:
        console.print(
            "phases: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in phases.items()), markup=False
        )
    console.print(
        f"wall time {report['run']['wall_time_s']:.1f}s; report {files.get('report', '-')}, "
        f"histogram {files.get('histogram', '-')}",
        markup=False,
    )
