"""The real Terraform AWS provider manages `aws_customerprofiles_domain` against the Customer Profiles
stand-in: apply, a re-plan without changes, an update in place, destroy. Every request the provider sends
must pass the stand-in's validation against botocore's customer-profiles model, so the stand-in serves
what the module's domain resource needs, in the shapes the provider reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import tftest

from simulator.local_cloud.customer_profiles_standin import CustomerProfilesStandIn

pytestmark = pytest.mark.apply

ROOT_MODULE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" { type = string }
variable "expiration_days" { type = number }

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  endpoints {
    customerprofiles = var.endpoint
  }
}

resource "aws_customerprofiles_domain" "this" {
  domain_name             = "engagement-apply"
  default_expiration_days = var.expiration_days
  dead_letter_queue_url   = "https://sqs.us-east-1.amazonaws.com/123456789012/engagement-profiles-dlq"
  default_encryption_key  = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  tags                    = { Project = "engagement" }
}

output "domain_name" { value = aws_customerprofiles_domain.this.domain_name }
"""


@pytest.fixture
def standin() -> Iterator[CustomerProfilesStandIn]:
    with CustomerProfilesStandIn() as server:
        yield server


def test_the_provider_creates_reads_updates_and_destroys_a_domain(
    standin: CustomerProfilesStandIn, tmp_path: Path, terraform_binary: str, tf_env: dict[str, str]
) -> None:
    (tmp_path / "main.tf").write_text(ROOT_MODULE)
    test = tftest.TerraformTest(str(tmp_path), binary=terraform_binary, env=tf_env)
    test.setup(cleanup_on_exit=True)
    tf_vars = {"endpoint": standin.endpoint_url, "expiration_days": "365"}
    profiles = standin_client(standin)
    try:
        test.apply(tf_vars=tf_vars)
        domain = profiles.get_domain(DomainName="engagement-apply")
        assert (domain["DefaultExpirationDays"], domain["Tags"]) == (365, {"Project": "engagement"})
        assert domain["DeadLetterQueueUrl"].endswith("/engagement-profiles-dlq")
        assert test.output()["domain_name"] == "engagement-apply"

        unchanged = test.plan(output=True, tf_vars=tf_vars)
        assert [
            change
            for change in unchanged.resource_changes.values()
            if change["change"]["actions"] != ["no-op"]
        ] == []

        test.apply(tf_vars={**tf_vars, "expiration_days": "400"})
        assert profiles.get_domain(DomainName="engagement-apply")["DefaultExpirationDays"] == 400
        assert standin.calls["UpdateDomain"] >= 1
    finally:
        test.destroy(tf_vars=tf_vars, auto_approve=True)

    assert standin.domain_names() == []
    assert standin.calls["CreateDomain"] == 1 and standin.calls["DeleteDomain"] == 1
    assert standin.rejected == {} and standin.internal_errors == []


def standin_client(standin: CustomerProfilesStandIn) -> Any:
    return boto3.client(
        "customer-profiles",
        endpoint_url=standin.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
