"""The embedded cloud's Customer Profiles plumbing, on the shared moto server and the real stand-in:
the domain the example passes to the module exists in the stand-in before the apply, and
`customer_profiles_objects()` reads back exactly what the deployed score sync's environment names.

The full path through Terraform needs the module's Customer Profiles inputs (the module work); this test
covers what the embedded target adds around them without an apply.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring.core.config import SyncConfig
from engagement_scoring.pipeline.score_sync import SyncRuntime, process_stream_batch

from simulator.local_cloud.customer_profiles_standin import CustomerProfilesStandIn
from simulator.local_cloud.moto_server import EmbeddedMoto
from simulator.targets import EmbeddedDeployment

pytestmark = pytest.mark.integration


@pytest.fixture
def deployment(moto_server: EmbeddedMoto, tmp_path: Path) -> Iterator[EmbeddedDeployment]:
    deployment = EmbeddedDeployment({"name_prefix": "cp-embedded"}, lambda _: None, run_dir=tmp_path)
    deployment.moto = moto_server  # the session's server: not stopped here
    deployment.customer_profiles = CustomerProfilesStandIn().start()
    try:
        yield deployment
    finally:
        deployment.customer_profiles.stop()
        assert deployment.customer_profiles.rejected == {}


def deploy_sync_function(deployment: EmbeddedDeployment, name: str, variables: dict[str, str]) -> None:
    """A score sync function as Terraform would leave it on moto (moto stores it; it never runs it)."""
    iam = deployment.client("iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    deployment.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": variables},
    )
    deployment.outputs = {"score_sync_function_name": name}


def stream_batch(*users: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventName": "INSERT",
                "dynamodb": {
                    "Keys": {"user_key": {"S": user}},
                    "SequenceNumber": str(seq),
                    "NewImage": {"user_key": {"S": user}, "score": {"N": str(seq)}, "version": {"N": "1"}},
                },
            }
            for seq, user in enumerate(users, start=1)
        ]
    }


def test_the_example_domain_is_created_and_the_deployed_sinks_objects_read_back(
    deployment: EmbeddedDeployment, tmp_path: Path
) -> None:
    # given an example that declares the module's domain input
    example = tmp_path / "example"
    example.mkdir()
    (example / "variables.tf").write_text('variable "customer_profiles_domain_name" {\n  type = string\n}\n')
    # when the embedded target prepares it
    deployment._prepare_customer_profiles_domain(example)
    # then the stand-in holds the domain the tf vars now pass in
    assert deployment.customer_profiles is not None
    domain = deployment.tf_vars["customer_profiles_domain_name"]
    assert domain == "cp-embedded-profiles" and deployment.customer_profiles.domain_names() == [domain]
    # and what a sync configured like the deployed function writes is what the deployment reads back
    variables = {"CUSTOMER_PROFILES_DOMAIN": domain, "CUSTOMER_PROFILES_OBJECT_TYPE": "Scores"}
    deploy_sync_function(deployment, "cp-embedded-score-sync", variables)
    sync = SyncRuntime(SyncConfig.from_env(variables), profiles=deployment.client("customer-profiles"))
    assert process_stream_batch(stream_batch("u-1", "u-2"), sync) == {"batchItemFailures": []}
    objects = deployment.customer_profiles_objects()
    assert objects is not None and {key: value["score"] for key, value in objects.items()} == {
        "u-1": 1,
        "u-2": 2,
    }


def test_without_the_input_no_domain_is_made_and_nothing_is_observable(
    deployment: EmbeddedDeployment, tmp_path: Path
) -> None:
    example = tmp_path / "example"
    example.mkdir()
    (example / "variables.tf").write_text('variable "name_prefix" {\n  type = string\n}\n')

    deployment._prepare_customer_profiles_domain(example)
    deploy_sync_function(deployment, "cp-embedded-no-profiles", {"EVENT_BUS_NAME": "bus"})

    assert deployment.customer_profiles is not None and deployment.customer_profiles.domain_names() == []
    assert "customer_profiles_domain_name" not in deployment.tf_vars
    assert deployment.customer_profiles_objects() is None
