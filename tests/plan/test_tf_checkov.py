"""checkov, offline, over the module and its examples (as `make checkov` runs it): no failed check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov/bin/checkov"

pytestmark = pytest.mark.plan


def test_checkov_finds_no_failed_check() -> None:
    if not CHECKOV.exists():
        pytest.fail(f"checkov is not installed at {CHECKOV}: run `make checkov` once to create .venv-checkov")

    # Same scope and skips as `make checkov` (.checkov.yaml: directory ., terraform, --skip-download)
    result = subprocess.run(
        [str(CHECKOV), "--config-file", ".checkov.yaml", "--skip-download", "--output", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    reports: Any = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    terraform = [report for report in reports if report.get("check_type") == "terraform"]
    assert terraform, result.stdout[:2000] + result.stderr[-2000:]
    summary = terraform[0]["summary"]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}): {check['check_name']}"
        for check in terraform[0]["results"]["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert summary["parsing_errors"] == 0
    # The scan really covered the module: functions, tables, stream, queue, roles, log groups.
    assert summary["resource_count"] >= 20 and summary["passed"] >= 100, summary
    assert result.returncode == 0, result.stderr[-2000:]
