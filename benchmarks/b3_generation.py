"""B3: simulator generation throughput without AWS, on one core.

`simulator.workload.generate(WorkloadConfig(formats=("pinpoint",)))`, what `python -m simulator run
--formats pinpoint` does before sending (population, funnels, injection), for the standard workload
(benchmarks/common.py); CPU time of this process
(`time.process_time`), pinned to one CPU while it runs; one warm-up, then the median of the runs.
The population's share (a fixed cost, Faker name pools) is timed separately and reported beside.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.common import STANDARD_EVENTS, STANDARD_SEED, STANDARD_USERS
from simulator.population import PopulationConfig, build_population
from simulator.workload import WorkloadConfig, generate

REPETITIONS = 5


@contextmanager
def one_core() -> Iterator[int | None]:
    """Pin this process to one CPU for the block (where the OS allows it); yields the CPU or None."""
    get_affinity = getattr(os, "sched_getaffinity", None)
    set_affinity = getattr(os, "sched_setaffinity", None)
    if get_affinity is None or set_affinity is None:
        yield None
        return
    saved = get_affinity(0)
    cpu = min(saved)
    set_affinity(0, {cpu})
    try:
        yield cpu
    finally:
        set_affinity(0, saved)


def run(repetitions: int = REPETITIONS, log: Callable[[str], None] = print) -> dict[str, Any]:
    config = WorkloadConfig(
        formats=("pinpoint",), users=STANDARD_USERS, events=STANDARD_EVENTS, seed=STANDARD_SEED
    )
    cpu_s: list[float] = []
    wall_s: list[float] = []
    population_s: list[float] = []
    with one_core() as cpu:
        generate(config)  # warm-up: imports, Faker's locale data
        for _ in range(repetitions):
            started_cpu, started_wall = time.process_time(), time.perf_counter()
            workload = generate(config)
            cpu_s.append(time.process_time() - started_cpu)
            wall_s.append(time.perf_counter() - started_wall)
            started_cpu = time.process_time()
            build_population(
                PopulationConfig(users=config.users, engagement_spread=config.engagement_spread), config.seed
            )
            population_s.append(time.process_time() - started_cpu)
    events = workload.events
    median_cpu = statistics.median(cpu_s)
    result = {
        "events": events,
        "users": config.users,
        "repetitions": repetitions,
        "pinned_cpu": cpu,
        "cpu_s_median": round(median_cpu, 4),
        "cpu_s_min": round(min(cpu_s), 4),
        "wall_s_median": round(statistics.median(wall_s), 4),
        "events_per_s": round(events / median_cpu),
        "events_per_s_best": round(events / min(cpu_s)),
        "population_cpu_s_median": round(statistics.median(population_s), 4),
    }
    log(f"  B3: {result['events_per_s']} events/s (median of {repetitions}, CPU time, one core)")
    return result
