"""A saved plan applies on another runner: `terraform plan -out` in one copy of the repository, `terraform
apply` of that plan file in a second, clean copy (no build/, no .terraform/, other file timestamps), against
the embedded moto server, as a CI plan job and a later apply job do. Then a plan in the first copy, given the
state (a remote backend's role), must show no change: both copies build the same zip bytes.

The root under test calls the module with an existing stream (created with boto3) and no sinks, to keep the
apply short; the zip and the functions are what this test is about."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import boto3
import pytest

from simulator.local_cloud.moto_server import EmbeddedMoto
from tests.conftest import copy_module

pytestmark = pytest.mark.apply

PREFIX = "savedplan"  # the moto server is shared by the session: keep clear of other tests' names
REGION = "us-east-1"

ROOT_MODULE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" { type = string }
variable "stream_arn" { type = string }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  endpoints {
    cloudwatchlogs = var.endpoint
    dynamodb       = var.endpoint
    events         = var.endpoint
    iam            = var.endpoint
    kinesis        = var.endpoint
    lambda         = var.endpoint
    sqs            = var.endpoint
    sts            = var.endpoint
  }
}

module "engagement_scoring" {
  source = "../"

  name_prefix                 = "savedplan"
  existing_kinesis_stream_arn = var.stream_arn
  deletion_protection_enabled = false
  # The saved-plan flow is about the Lambda package; monitoring is applied by test_tf_apply.py.
  create_alarms    = false
  create_dashboard = false
}

output "scorer_function_name" { value = module.engagement_scoring.scorer_function_name }
output "lambda_package_path" { value = module.engagement_scoring.lambda_package_path }
"""


def terraform(binary: str, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            binary,
            args[0],
            "-no-color",
            *(["-input=false"] if args[0] not in ("output", "show") else []),
            *args[1:],
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in (0, 2), (
        f"terraform {' '.join(args)} in {cwd}:\n{result.stdout}{result.stderr}"
    )
    return result


def make_copy(base: Path, name: str) -> Path:
    root = copy_module(base / name) / "root"
    root.mkdir()
    (root / "main.tf").write_text(ROOT_MODULE)
    return root


def test_a_plan_saved_in_one_copy_applies_from_a_clean_second_copy(
    tmp_path: Path, terraform_binary: str, tf_env: dict[str, str], moto_server: EmbeddedMoto
) -> None:
    kinesis = boto3.client("kinesis", endpoint_url=moto_server.endpoint_url, region_name=REGION)
    kinesis.create_stream(StreamName=f"{PREFIX}-input", ShardCount=1)
    stream_arn = kinesis.describe_stream_summary(StreamName=f"{PREFIX}-input")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    variables = [f"-var=endpoint={moto_server.endpoint_url}", f"-var=stream_arn={stream_arn}"]

    # Given copy A, where the plan is made and saved
    copy_a = make_copy(tmp_path, "a")
    terraform(terraform_binary, tf_env, copy_a, "init")
    terraform(terraform_binary, tf_env, copy_a, "plan", "-out=plan.tfplan", *variables)

    # And copy B: the same repository files only (its lock file as a repository commits it), every source
    # file with another timestamp, and the plan file
    copy_b = make_copy(tmp_path, "b")
    assert not (copy_b.parent / "build").exists()
    for source in (copy_b.parent / "lambda_src").rglob("*"):
        os.utime(source, (1_000_000_000, 1_000_000_000))
    shutil.copy2(copy_a / ".terraform.lock.hcl", copy_b / ".terraform.lock.hcl")
    shutil.copy2(copy_a / "plan.tfplan", copy_b / "plan.tfplan")
    terraform(terraform_binary, tf_env, copy_b, "init")

    try:
        # When B applies A's plan file
        terraform(terraform_binary, tf_env, copy_b, "apply", "plan.tfplan")

        # Then the functions run the zip B built, byte for byte
        outputs = terraform(terraform_binary, tf_env, copy_b, "output", "-raw", "lambda_package_path").stdout
        zip_b = (copy_b / outputs).read_bytes()
        function = boto3.client("lambda", endpoint_url=moto_server.endpoint_url, region_name=REGION)
        config = function.get_function_configuration(FunctionName=f"{PREFIX}-scorer")
        assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_b).digest()).decode()

        # And a plan in A with that state (a remote backend's role) builds the same bytes: no change
        shutil.copy2(copy_b / "terraform.tfstate", copy_a / "terraform.tfstate")
        replan = terraform(terraform_binary, tf_env, copy_a, "plan", "-detailed-exitcode", *variables)
        assert replan.returncode == 0, replan.stdout
        assert (copy_a / outputs).read_bytes() == zip_b
    finally:
        terraform(terraform_binary, tf_env, copy_b, "destroy", "-auto-approve", *variables)
        kinesis.delete_stream(StreamName=f"{PREFIX}-input")
