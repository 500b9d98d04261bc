"""B4: handler import time, a cold-start proxy: `python -X importtime -c "import <handler>"`, fresh process.

The figure for a handler is the cumulative time of every top-level `engagement_scoring*` entry of the
importtime report (the package, `handlers` and the handler module with everything they import),
median over fresh processes. Like on Lambda (a read-only /var/task, no __pycache__ in the zip), the
Lambda package is compiled from source when it has no __pycache__ (PYTHONDONTWRITEBYTECODE=1 keeps
it so); the standard library comes from its own bytecode cache, as in the Lambda runtime.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from benchmarks.common import ROOT

HANDLERS = {
    "scorer": "engagement_scoring.handlers.scorer",
    "score_sync": "engagement_scoring.handlers.score_sync",
}
RUNS = 5
_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")


def import_us(module: str) -> tuple[int, bool]:
    """Cumulative microseconds of the top-level engagement_scoring imports for `import module`, and
    whether boto3/botocore got imported (they should not be, until the first invocation)."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "lambda_src"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    boto = False
    for line in completed.stderr.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        name = match.group(4)
        if name.split(".")[0] in ("boto3", "botocore"):
            boto = True
        if not match.group(3) and (name == "engagement_scoring" or name.startswith("engagement_scoring.")):
            total += int(match.group(2))
    if total == 0:
        raise RuntimeError(f"no importtime line for {module}")
    return total, boto


def run(runs: int = RUNS, log: Callable[[str], None] = print) -> dict[str, Any]:
    pycache = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "lambda_src").rglob("__pycache__"))
    result: dict[str, Any] = {"runs": runs, "lambda_src_pycache_dirs": pycache, "by_handler": {}}
    for name, module in HANDLERS.items():
        samples: list[int] = []
        boto = False
        for _ in range(runs):
            us, imported_boto = import_us(module)
            samples.append(us)
            boto = boto or imported_boto
        median_ms = statistics.median(samples) / 1000.0
        result["by_handler"][name] = {
            "module": module,
            "ms_median": round(median_ms, 1),
            "ms_min": round(min(samples) / 1000.0, 1),
            "ms_max": round(max(samples) / 1000.0, 1),
            "imports_boto": boto,
        }
        result[name] = round(median_ms, 1)
        log(f"  B4 {name}: {median_ms:.1f} ms (median of {runs} fresh processes)")
    return result
