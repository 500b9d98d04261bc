"""A partial `python -m benchmarks --only ...` run keeps the other benchmarks' last figures."""

from __future__ import annotations

import copy
from typing import Any

from benchmarks.__main__ import keep_previous


def results(run: list[str], at: str, quick: bool = False, **figures: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "api_calls_per_1000_events": None,
        "cpu_us_per_event": None,
        "cost_per_million_events": None,
        "ratios": {"original_to_ours_calls_batch100": None, "cpu_ours_to_floor": None,
                   "cost_ours_to_original_batch100": None},
        "quick": quick,
        "benchmarks_run": run,
        "measured_at": at,
        "benchmark_seconds": {name: 1.0 for name in run},
        "details": {name: {"from": at} for name in run},
    }  # fmt: skip
    out.update(figures)
    return out


def test_a_partial_run_keeps_the_figures_and_dates_of_the_benchmarks_it_left_out() -> None:
    previous = results(["B2", "B6"], "2026-12-01T10:00:00+00:00", cpu_us_per_event={"ours": 40})
    previous["cost_per_million_events"] = {"ours": 0.9}
    previous["ratios"].update(cpu_ours_to_floor=1.9, cost_ours_to_original_batch100=1.02)
    previous["measured_at_by_benchmark"] = {
        "B2": "2026-11-30T09:00:00+00:00",
        "B6": "2026-12-01T10:00:00+00:00",
    }
    now = results(["B6"], "2026-12-03T18:00:00+00:00", cost_per_million_events={"ours": 0.5})
    now["ratios"]["cost_ours_to_original_batch100"] = 0.57
    merged = keep_previous(copy.deepcopy(now), previous)
    # B6 ran: this run's figures; B2 did not: the previous figures with their own date
    assert merged["cost_per_million_events"] == {"ours": 0.5}
    assert merged["ratios"] == {
        "original_to_ours_calls_batch100": None,
        "cpu_ours_to_floor": 1.9,
        "cost_ours_to_original_batch100": 0.57,
    }
    assert merged["cpu_us_per_event"] == {"ours": 40}
    assert merged["details"]["B2"] == {"from": "2026-12-01T10:00:00+00:00"}
    assert merged["measured_at_by_benchmark"] == {
        "B2": "2026-11-30T09:00:00+00:00",
        "B6": "2026-12-03T18:00:00+00:00",
    }
    assert (merged["benchmarks_run"], merged["benchmarks_kept"]) == (["B6"], ["B2"])
    # B1 was in neither run: it stays null and absent from the dates
    assert merged["api_calls_per_1000_events"] is None and "B1" not in merged["details"]


def test_quick_and_standard_figures_are_never_mixed_and_no_previous_file_is_fine() -> None:
    previous = results(["B2"], "2026-12-01T10:00:00+00:00", quick=True, cpu_us_per_event={"ours": 99})
    merged = keep_previous(results(["B6"], "2026-12-03T18:00:00+00:00"), previous)
    assert merged["cpu_us_per_event"] is None and merged["benchmarks_kept"] == []
    alone = keep_previous(results(["B6"], "2026-12-03T18:00:00+00:00"), None)
    assert alone["measured_at_by_benchmark"] == {"B6": "2026-12-03T18:00:00+00:00"}
