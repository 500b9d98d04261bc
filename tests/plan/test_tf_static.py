"""Static checks of the Terraform code: formatting, and `terraform validate` of every root."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_IN_COPY = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "build")

pytestmark = pytest.mark.plan


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_terraform_files_are_formatted(terraform_binary: str, tf_env: dict[str, str]) -> None:
    result = run(
        [terraform_binary, "fmt", "-check", "-recursive", "-diff", "-no-color", str(ROOT)], ROOT, tf_env
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("root", [".", "examples/complete", "examples/local", "tests/plan/fixtures/wrapper"])
def test_terraform_validate(
    root: str, module_copy: Path, tmp_path: Path, terraform_binary: str, tf_env: dict[str, str]
) -> None:
    # Given a private copy of the module (init writes .terraform/), with the plan-test wrapper beside it
    copy = tmp_path / "module"
    shutil.copytree(module_copy, copy, ignore=SKIP_IN_COPY)
    shutil.copytree(ROOT / "tests/plan/fixtures", copy / "tests/plan/fixtures", ignore=SKIP_IN_COPY)
    workdir = copy / root

    # When it is initialised offline and validated
    init = run([terraform_binary, "init", "-backend=false", "-input=false", "-no-color"], workdir, tf_env)
    assert init.returncode == 0, init.stdout + init.stderr
    result = run([terraform_binary, "validate", "-json", "-no-color"], workdir, tf_env)

    # Then it is valid, without a single error or warning
    report = json.loads(result.stdout)
    assert report["valid"] is True, json.dumps(report["diagnostics"], indent=2)
    assert report["diagnostics"] == [], json.dumps(report["diagnostics"], indent=2)
