"""An upgrade replaces nothing: the module's Terraform files as they were before the per-function for_each
layout (commit ad072f3: one resource per function and per alarm, `count`) are applied onto the embedded moto
server, then the current module is planned over that state. moved.tf maps every old address; without it the
plan destroys and re-creates every function, role, log group, mapping and alarm (issue 13 item 8).

Both copies carry the current lambda_src/, so the package is the same and the plan shows only what the
layout change does. The refresher, alarms and dashboard are on, so every moved resource exists in the
state. The only changes allowed are the refresher-lag alarm this version adds (issue 17 item 1) and the
dashboard that names it, and the refresher schedule's role, renamed to fit IAM's limit: nothing else is
created, and nothing else is destroyed, replaced or updated."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from simulator.local_cloud.moto_server import EmbeddedMoto
from tests.apply.test_saved_plan import terraform
from tests.conftest import copy_module

pytestmark = pytest.mark.apply

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS_LAYOUT = "ad072f3"  # main before the for_each layout and moved.tf
PREFIX = "upgrade"  # the moto server is shared by the session: keep clear of other tests' names

ROOT_MODULE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  endpoints {
    cloudwatch     = var.endpoint
    cloudwatchlogs = var.endpoint
    dynamodb       = var.endpoint
    events         = var.endpoint
    iam            = var.endpoint
    kinesis        = var.endpoint
    kms            = var.endpoint
    lambda         = var.endpoint
    scheduler      = var.endpoint
    sns            = var.endpoint
    sqs            = var.endpoint
    sts            = var.endpoint
  }
}

module "engagement_scoring" {
  source = "../"

  name_prefix                 = "upgrade"
  deletion_protection_enabled = false
  # decay on: the refresher's function, role, policy and log group exist too
  decay_half_life_hours = 24
}
"""


def previous_layout(base: Path) -> Path:
    """The module's *.tf files and sql/ at PREVIOUS_LAYOUT, the current lambda_src/, and the root above."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_LAYOUT, "--", "*.tf", "sql"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        pytest.fail(
            f"git archive {PREVIOUS_LAYOUT} failed (a shallow clone lacks it: fetch the history): "
            + archive.stderr.decode()
        )
    module = copy_module(base / "previous")
    for path in module.glob("*.tf"):
        path.unlink()
    shutil.rmtree(module / "sql")  # the SQL templates its archive.tf renders, with that version's variables
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(module, filter="data")
    assert not (module / "moved.tf").exists()
    root = module / "root"
    root.mkdir()
    (root / "main.tf").write_text(ROOT_MODULE)
    return root


def moved_blocks() -> list[tuple[str, str]]:
    """The (from, to) pairs of moved.tf."""
    text = (ROOT / "moved.tf").read_text()
    return re.findall(r"moved \{\s*from = (\S+)\s*to\s*= (\S+)\s*\}", text)


def changes(plan: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {
        change["address"]: tuple(change["change"]["actions"])
        for change in plan["resource_changes"]
        if change["change"]["actions"] != ["no-op"] and change["mode"] == "managed"
    }


def test_upgrading_from_the_per_function_resources_replaces_nothing(
    tmp_path: Path, terraform_binary: str, tf_env: dict[str, str], moto_server: EmbeddedMoto
) -> None:
    variables = [f"-var=endpoint={moto_server.endpoint_url}"]
    old = previous_layout(tmp_path)
    new = copy_module(tmp_path / "current") / "root"
    new.mkdir()
    (new / "main.tf").write_text(ROOT_MODULE)

    # Given the previous layout applied
    terraform(terraform_binary, tf_env, old, "init")
    applied_by = old
    try:
        terraform(terraform_binary, tf_env, old, "apply", "-auto-approve", *variables)
        state = json.loads(terraform(terraform_binary, tf_env, old, "show", "-json").stdout)
        old_addresses = {
            r["address"] for r in state["values"]["root_module"]["child_modules"][0]["resources"]
        }
        for address in (
            "aws_lambda_function.refresher[0]",
            "aws_lambda_event_source_mapping.score_sync[0]",
            'aws_cloudwatch_metric_alarm.sink_failures["pinpoint"]',
        ):
            assert f"module.engagement_scoring.{address}" in old_addresses

        # When the current module is planned over that state
        shutil.copy2(old / "terraform.tfstate", new / "terraform.tfstate")
        shutil.copy2(old / ".terraform.lock.hcl", new / ".terraform.lock.hcl")
        terraform(terraform_binary, tf_env, new, "init")
        applied_by = new
        terraform(terraform_binary, tf_env, new, "plan", "-out=upgrade.tfplan", *variables)
        plan = json.loads(terraform(terraform_binary, tf_env, new, "show", "-json", "upgrade.tfplan").stdout)

        # Then nothing is destroyed, replaced or updated: the new refresher-lag alarm is created, and the
        # dashboard's alarm widget gains it
        module = "module.engagement_scoring."
        assert changes(plan) == {
            module + 'aws_cloudwatch_metric_alarm.this["refresher_lag"]': ("create",),
            module + "aws_cloudwatch_dashboard.this[0]": ("update",),
            # renamed so that a 48-character name_prefix fits IAM's 64 (tests/plan/test_tf_names.py): the
            # schedule's role is replaced and the schedule points at the new one (CHANGELOG)
            module + "aws_iam_role.refresher_schedule[0]": ("delete", "create"),
            module + "aws_iam_role_policy.refresher_schedule[0]": ("delete", "create"),
            module + "aws_scheduler_schedule.refresher[0]": ("update",),
        }
        # and every block of moved.tf was used (each old address was in the state)
        moved = {
            c["previous_address"]: c["address"] for c in plan["resource_changes"] if "previous_address" in c
        }
        assert moved == {module + source: module + target for source, target in moved_blocks()}, moved
        assert len(moved) == 25  # 3 functions x (function, log group, role, policy), 2 mappings, 11 alarms
    finally:
        terraform(terraform_binary, tf_env, applied_by, "destroy", "-auto-approve", *variables)
