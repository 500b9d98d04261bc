"""End to end: Terraform applies the module to the embedded cloud, the simulator streams ~2,000 events
for 200 users with duplicates and malformed records injected, and every user's score and tier must
equal the oracle, with the Pinpoint stand-in and EventBridge holding the expected updates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_small_simulation_matches_the_oracle_on_the_embedded_cloud(tmp_path: Path) -> None:
    # given the embedded cloud and a seeded workload with injected duplicates and malformed records
    command = [
        sys.executable, "-m", "simulator", "run", "--target", "embedded",
        "--users", "200", "--events", "2000", "--seed", "11",
        "--duplicate-rate", "0.05", "--malformed-rate", "0.02",
        "--json", "--no-progress", "--timeout", "400", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'lambda_src'}:{ROOT}", PYTHONDONTWRITEBYTECODE="1")
    # when the simulator runs the whole pipeline
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    # then stdout is exactly one JSON object and nothing disagrees with the oracle
    state = json.loads(result.stdout)
    assert state["mismatches"] == 0
    assert len(state["users"]) >= 150
    assert {user["tier"] for user in state["users"].values()} >= {"cold", "warm"}
    assert state["duplicates"] > 0 and state["malformed"] > 0
    # and the scorer counted exactly the events the oracle counts (duplicates suppressed, not rescored)
    # and rejected every malformed record, each with a reason
    report = json.loads(Path(state["report"]).read_text())
    scorer = state["pipeline"]["scorer"]
    assert scorer["scored"] == report["oracle"]["counted"]
    assert scorer["duplicates_suppressed"] > 0
    assert sum(scorer["rejected"].values()) == state["malformed"]
    assert scorer["retryable_failures"] == 0
    # and both sinks were checked and hold the expected updates
    for sink in ("pinpoint", "eventbridge"):
        check = report["verification"][sink]
        assert check["checked"] is True, check
        assert check["expected"] > 0 and check["missing"] == 0 and check["wrong"] == 0, check
