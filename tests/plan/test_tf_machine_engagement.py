"""The module's `machine_engagement` input reaches the scorer as the MACHINE_ENGAGEMENT JSON it parses.

A root holding the module's variables.tf and machine_engagement.tf (the local the scorer's environment
takes, lambda.tf) is applied (no resources, no provider: well under a second per case) and its output is
parsed by ScorerConfig, so Terraform's own jsonencode of the defaults and of a full policy is what the
scorer sees. lambda.tf's one line is checked statically here and after apply in tests/apply."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring.core.config import ScorerConfig
from engagement_scoring.core.machine import DEFAULT_POLICY, MachinePolicy

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.plan


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, tf_env: dict[str, str]) -> Any:
    directory = tmp_path_factory.mktemp("machine")
    for name in ("variables.tf", "machine_engagement.tf"):
        shutil.copy2(ROOT / name, directory / name)
    (directory / "output.tf").write_text('output "env" {\n  value = local.machine_engagement\n}\n')

    def run(*args: str) -> str:
        result = subprocess.run(
            [terraform_binary, *args, "-no-color"],
            cwd=directory,
            env=tf_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    run("init", "-backend=false", "-input=false")

    def rendered(machine_engagement: dict[str, Any] | None) -> str:
        inputs: dict[str, Any] = {"name_prefix": "machine"}
        if machine_engagement is not None:
            inputs["machine_engagement"] = machine_engagement
        (directory / "case.tfvars.json").write_text(json.dumps(inputs))
        run("apply", "-auto-approve", "-input=false", "-lock=false", "-var-file=case.tfvars.json")
        value: str = json.loads(run("output", "-json", "env"))
        return value

    return rendered


def policy_of(text: str) -> MachinePolicy:
    return ScorerConfig.from_env({"MACHINE_ENGAGEMENT": text}).machine


def test_the_defaults_reach_the_scorer_as_its_own_defaults(render: Any) -> None:
    assert policy_of(render(None)) == DEFAULT_POLICY
    assert policy_of(render({"weights": {}})) == DEFAULT_POLICY


def test_a_full_policy_reaches_the_scorer_as_given(render: Any) -> None:
    policy = policy_of(
        render(
            {
                "weights": {"privacy_proxy_open": 0.1, "send_time_proximity": 1},
                "privacy_proxy_cidrs": ["192.0.2.0/24"],
                "scanner_user_agents": ["ExampleLinkScanner"],
                "scanner_cidrs": ["2001:db8::/32"],
                "send_time_proximity_seconds": 30,
                "burst_window_ms": 1500,
                "burst_min_links": 3,
            }
        )
    )
    assert policy.weights == {
        "privacy_proxy_open": Decimal("0.1"),
        "send_time_proximity": Decimal(1),
        "scanner_list": Decimal(0),
        "burst": Decimal(0),
    }
    assert [str(network) for network in policy.proxy_networks] == ["192.0.2.0/24"]
    assert [str(network) for network in policy.scanner_networks] == ["2001:db8::/32"]
    assert policy.scanner_user_agents == ("examplelinkscanner",)
    assert policy.proxy_user_agents == {"Mozilla/5.0"}
    assert (policy.send_time_proximity_ms, policy.burst_window_ms, policy.burst_min_links) == (
        30_000,
        1500,
        3,
    )


def test_the_scorer_environment_carries_the_local() -> None:
    lambda_tf = (ROOT / "lambda.tf").read_text()
    scorer_env = lambda_tf[lambda_tf.index("scorer_environment") : lambda_tf.index("score_sync_environment")]
    assert re.search(r"^\s+MACHINE_ENGAGEMENT\s+=\s+local\.machine_engagement$", scorer_env, re.M)
