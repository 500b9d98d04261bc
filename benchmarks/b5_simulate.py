"""B5: end to end, `make simulate` with the default workload: wall time and peak memory.

Runs what the Makefile's `simulate` target runs, `python -m simulator run` (default target and
workload; `--no-progress`, report under build/bench/simulate), in a child process with the
Makefile's environment. Peak memory: the largest sum of the resident set sizes of the child and all
its descendants (the embedded moto server, the Lambda workers), sampled from /proc every 0.1 s;
beside it the kernel's peak RSS of the largest single descendant (RUSAGE_CHILDREN).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT

BUILD = ROOT / "build" / "bench"
TIMEOUT_S = 1800.0
SAMPLE_INTERVAL_S = 0.1
# The machines are shared (24 GiB): a run whose process tree passes this is stopped and reported so.
MAX_TREE_MB = float(os.environ.get("BENCH_B5_MAX_MB", "12288"))
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def tree_rss_bytes(root_pid: int) -> int:
    """Sum of the resident set sizes of a process and all its descendants (0 if it is gone)."""
    children = _children_map()
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/statm", encoding="utf-8") as statm:
                total += int(statm.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
        pending.extend(children.get(pid, ()))
    return total


class _PeakSampler(threading.Thread):
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.peak = 0
        self.samples = 0
        self.over_limit = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self.process.pid))
            self.samples += 1
            if self.peak > MAX_TREE_MB * 2**20 and not self.over_limit:
                self.over_limit = True
                self.process.send_signal(signal.SIGINT)  # the simulator tears its local cloud down
            self._stop_event.wait(SAMPLE_INTERVAL_S)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def run(extra_args: list[str] | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    if not Path("/proc").is_dir():
        return {"wall_s": None, "peak_mb": None, "reason": "needs /proc to sample the process tree"}
    BUILD.mkdir(parents=True, exist_ok=True)
    report_dir = BUILD / "simulate"
    command = [
        sys.executable,
        "-m",
        "simulator",
        "run",
        "--no-progress",
        "--report-dir",
        str(report_dir),
        *(extra_args or []),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": "lambda_src:.",
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    stdout_path, stderr_path = BUILD / "simulate.stdout", BUILD / "simulate.stderr"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    log(f"  B5: {' '.join(command[1:])} (output in {stderr_path.relative_to(ROOT)}) ...")
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        sampler = _PeakSampler(process)
        sampler.start()
        try:
            returncode = process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=30)
            returncode = None
        finally:
            sampler.stop()
        wall_s = time.perf_counter() - started
    largest_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    tail = stderr_path.read_text(errors="replace").strip().splitlines()[-15:]
    result: dict[str, Any] = {
        "command": " ".join(["python", *command[1:]]),
        "exit_code": returncode,
        "wall_s": round(wall_s, 1),
        "peak_mb": round(sampler.peak / 2**20, 1),
        "largest_process_peak_mb": round(largest_kb / 1024, 1) if largest_kb > before else None,
        "samples": sampler.samples,
        "stderr_tail": tail,
    }
    errors = [line for line in tail if line.startswith("error:")]
    if sampler.over_limit:
        result.update(
            wall_s=None,
            peak_mb=None,
            reason=f"stopped after {wall_s:.0f} s: the process tree passed {MAX_TREE_MB:.0f} MB "
            f"(BENCH_B5_MAX_MB); peak sampled {sampler.peak / 2**20:.0f} MB",
        )
    elif returncode is None:
        result.update(wall_s=None, peak_mb=None, reason=f"did not finish within {TIMEOUT_S:.0f} s")
    elif returncode != 0:
        result.update(
            wall_s=None,
            peak_mb=None,
            reason=f"`python -m simulator run` exited with {returncode} after {wall_s:.0f} s "
            f"(peak {sampler.peak / 2**20:.0f} MB): " + (errors[-1] if errors else "see stderr_tail"),
        )
    log(f"  B5: exit {returncode}, wall {wall_s:.1f} s, peak {sampler.peak / 2**20:.0f} MB (process tree)")
    return result
