"""Apply the successor wiring to the embedded moto server and see records reach the stream the way AWS
delivers them: an SES event on the default bus through the module's rules and targets, and an End User
Messaging SMS event record through the log group's subscription filter. What arrives is read with boto3
from every shard and decoded with the scorer's own envelope and format code.

Kept within the apply-test budget (about a minute): the stream is made with boto3 and passed as
existing_kinesis_stream_arn (the provider waits ~30 s on a created one against moto), and the inbound SMS
route (SNS -> SQS -> pipe) is checked in plan only (each of its queues and the queue policy cost the
provider's ~25 s attribute wait on moto; the pipe's delivery is tested in tests/integration/local_cloud).
The module's own re-plan without changes is test_tf_apply.py's.

What moto 5.2.5 cannot take, and so is left out here (docs/formats.md, "Wiring"):
`aws_sesv2_configuration_set` (the provider's read of GetConfigurationSet fails to deserialize moto's
answer) and `aws_sesv2_configuration_set_event_destination` (moto has no event-destination operations: HTTP
404), so the configuration set is named with create_ses_event_destinations = false;
`aws_customerprofiles_domain` (no Customer Profiles in moto; tests/apply/test_customer_profiles_domain.py
applies it to the stand-in), so an existing domain is named and only the sync's environment and policy are
applied. The embedded cloud performs the deliveries moto only stores (simulator/local_cloud/README.md).
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import tftest
from engagement_scoring.core.events import NormalizedEvent
from engagement_scoring.formats import normalize
from engagement_scoring.formats.envelopes import gunzip, unwrap

from simulator.local_cloud.moto_server import EmbeddedMoto

PREFIX = "wiretest"  # the moto server is shared by the session: keep clear of other tests' names
REGION = "us-east-1"
SES_SET = "wiretest-mail"
SMS_SET = "wiretest-sms"
PROFILES_DOMAIN = "wiretest-profiles"
EVENTS = Path(__file__).resolve().parents[1] / "events"
SKIP_IN_COPY = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "build")

pytestmark = pytest.mark.apply

ROOT_MODULE = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" { type = string }
variable "region" { type = string }
variable "name_prefix" { type = string }
variable "ses_set" { type = string }
variable "sms_set" { type = string }
variable "profiles_domain" { type = string }
variable "stream_arn" { type = string }

provider "aws" {
  region                      = var.region
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
    lambda         = var.endpoint
    pipes          = var.endpoint
    sns            = var.endpoint
    sqs            = var.endpoint
    sts            = var.endpoint
  }
}

module "engagement_scoring" {
  source = "../module"

  name_prefix                   = var.name_prefix
  ses_configuration_set_names   = [var.ses_set]
  create_ses_event_destinations = false
  sms_configuration_set_names   = [var.sms_set]
  existing_kinesis_stream_arn   = var.stream_arn
  deletion_protection_enabled   = false # the tables are destroyed at the end
  # Monitoring (KMS, SNS, CloudWatch) is applied by test_tf_apply.py; this test is about the routes.
  create_alarms    = false
  create_dashboard = false
  customer_profiles_domain_name = var.profiles_domain
}

output "module" { value = module.engagement_scoring }
"""


@dataclass
class Deployment:
    test: tftest.TerraformTest
    outputs: dict[str, Any]
    moto: EmbeddedMoto
    tf_vars: dict[str, str]

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@dataclass(frozen=True)
class StreamRecord:
    partition_key: str
    data: bytes

    def document(self) -> Any:
        raw = gunzip(self.data) if self.data[:2] == b"\x1f\x8b" else self.data
        return json.loads(raw)


@pytest.fixture(scope="module")
def deployment(
    module_copy: Path,
    tmp_path_factory: pytest.TempPathFactory,
    terraform_binary: str,
    tf_env: dict[str, str],
    moto_server: EmbeddedMoto,
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("apply-successor")
    shutil.copytree(module_copy, workdir / "module", ignore=SKIP_IN_COPY)
    (workdir / "root").mkdir()
    (workdir / "root/main.tf").write_text(ROOT_MODULE)
    test = tftest.TerraformTest(str(workdir / "root"), binary=terraform_binary, env=tf_env)
    test.setup(cleanup_on_exit=True)
    kinesis = boto3.client("kinesis", endpoint_url=moto_server.endpoint_url, region_name=REGION)
    kinesis.create_stream(StreamName=f"{PREFIX}-events", ShardCount=2)
    stream_arn = kinesis.describe_stream_summary(StreamName=f"{PREFIX}-events")["StreamDescriptionSummary"][
        "StreamARN"
    ]
    tf_vars = {
        "endpoint": moto_server.endpoint_url,
        "stream_arn": stream_arn,
        "region": REGION,
        "name_prefix": PREFIX,
        "ses_set": SES_SET,
        "sms_set": SMS_SET,
        "profiles_domain": PROFILES_DOMAIN,
    }
    try:
        test.apply(tf_vars=tf_vars)
        yield Deployment(test, test.output()["module"], moto_server, tf_vars)
    finally:
        test.destroy(tf_vars=tf_vars, auto_approve=True)
        kinesis.delete_stream(StreamName=f"{PREFIX}-events")


def stream_records(deployment: Deployment, until: int, timeout_s: float = 30) -> list[StreamRecord]:
    """Every record in the stream (all shards, from the start), polled until at least `until` arrived."""
    kinesis = deployment.client("kinesis")
    stream = deployment.outputs["stream_name"]
    deadline = time.monotonic() + timeout_s
    while True:
        records = []
        for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
            iterator = kinesis.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                batch = kinesis.get_records(ShardIterator=iterator, Limit=1000)
                records += [StreamRecord(r["PartitionKey"], r["Data"]) for r in batch["Records"]]
                iterator = batch.get("NextShardIterator") if batch["Records"] else None
        if len(records) >= until or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def scored(payload: Any) -> list[tuple[str, str]]:
    """(user key, event type) of what the scorer's formats make of one unwrapped payload."""
    return [(e.user_key, e.event_type) for e in normalize(payload) if isinstance(e, NormalizedEvent)]


def ses_open(tags: dict[str, list[str]]) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((EVENTS / "ses/open.json").read_text())
    record["mail"]["messageId"] = f"wiretest-{uuid.uuid4()}"
    record["mail"]["tags"] = {"ses:configuration-set": [SES_SET], **tags}
    return record


def put_ses_event(deployment: Deployment, record: dict[str, Any]) -> str:
    """Put an SES event on the default bus as SES publishes it (source aws.ses); returns its event id."""
    answer = deployment.client("events").put_events(
        Entries=[
            {
                "EventBusName": "default",
                "Source": "aws.ses",
                "DetailType": "Email Opened",
                "Resources": [f"arn:aws:ses:{REGION}:123456789012:configuration-set/{SES_SET}"],
                "Detail": json.dumps(record),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0, answer
    event_id: str = answer["Entries"][0]["EventId"]
    return event_id


def test_every_event_reaches_the_stream_once_keyed_by_its_user_where_it_has_one(
    deployment: Deployment,
) -> None:
    # Given the applied wiring and an SES open with the user tag, one without it, one of another set
    tagged = ses_open({"user_key": ["u-wire-1"], "campaign": ["spring"]})
    untagged = ses_open({})
    foreign = ses_open({"user_key": ["u-wire-2"]})
    foreign["mail"]["tags"]["ses:configuration-set"] = ["somebody-elses-set"]

    # When SES publishes them and End User Messaging writes an event record
    put_ses_event(deployment, tagged)
    untagged_id = put_ses_event(deployment, untagged)
    put_ses_event(deployment, foreign)
    sms_record = json.loads((EVENTS / "sms/text_delivered.json").read_text())
    sms_record["context"] = {"user_key": "u-wire-3"}
    logs = deployment.client("logs")
    group = deployment.outputs["sms_event_log_group_name"]
    logs.create_log_stream(logGroupName=group, logStreamName="wiretest")
    logs.put_log_events(
        logGroupName=group,
        logStreamName="wiretest",
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(sms_record)}],
    )

    # Then the stream holds CloudWatch Logs' control message, the SMS record and two SES events (moto's
    # deliveries run inside PutEvents / PutLogEvents: nothing else can still arrive)
    records = stream_records(deployment, until=4)
    documents = [(record, record.document()) for record in records]
    control = [d for _, d in documents if d.get("messageType") == "CONTROL_MESSAGE"]
    log_data = [(r, d) for r, d in documents if d.get("messageType") == "DATA_MESSAGE"]
    ses = [(r, d) for r, d in documents if d.get("source") == "aws.ses"]
    assert (len(control), len(log_data), len(ses), len(documents)) == (1, 1, 2, 4)

    # SES: the tagged event keyed by its user, the untagged one by its event id, the foreign one not at all
    by_message = {d["detail"]["mail"]["messageId"]: (r, d) for r, d in ses}
    assert set(by_message) == {tagged["mail"]["messageId"], untagged["mail"]["messageId"]}
    keyed_record, keyed_event = by_message[tagged["mail"]["messageId"]]
    assert keyed_record.partition_key == "u-wire-1"
    assert keyed_event["detail"] == tagged and keyed_event["detail-type"] == "Email Opened"
    assert by_message[untagged["mail"]["messageId"]][0].partition_key == untagged_id
    assert [scored(p.value) for p in unwrap(keyed_event) or []] == [[("u-wire-1", "_email.open")]]

    # SMS event record: the subscription envelope around the log event, which the scorer reads
    ((_, envelope),) = log_data
    assert envelope["logGroup"] == group
    assert [scored(p.value) for p in unwrap(envelope) or []] == [[("u-wire-3", "_SMS.SUCCESS")]]


def test_outputs_name_what_a_user_attaches(deployment: Deployment) -> None:
    outputs = deployment.outputs
    iam = deployment.client("iam")
    role = iam.get_role(RoleName=f"{PREFIX}-sms-log-writer")["Role"]
    group = deployment.client("logs").describe_log_groups(
        logGroupNamePrefix=outputs["sms_event_log_group_name"]
    )
    (log_group,) = group["logGroups"]
    assert outputs["sms_event_destination_role_arn"] == role["Arn"]
    assert outputs["sms_event_log_group_arn"] in (log_group["arn"], log_group["arn"].removesuffix(":*"))
    # The printed command names the role and log group that exist
    (command,) = outputs["sms_event_destination_commands"].values()
    assert f"IamRoleArn={role['Arn']},LogGroupArn={outputs['sms_event_log_group_arn']}" in command
    assert f"--configuration-set-name {SMS_SET}" in command
    assert outputs["ses_configuration_set_names"] == [SES_SET]
    assert set(outputs["ses_event_rule_arns"]) == {"keyed", "unkeyed"}


def test_sync_environment_and_policy_name_the_profiles_domain(deployment: Deployment) -> None:
    config = deployment.client("lambda").get_function_configuration(
        FunctionName=deployment.outputs["score_sync_function_name"]
    )
    variables = config["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if k.startswith("CUSTOMER_PROFILES_")} == {
        "CUSTOMER_PROFILES_DOMAIN": PROFILES_DOMAIN,
        "CUSTOMER_PROFILES_OBJECT_TYPE": "EngagementScore",
        "CUSTOMER_PROFILES_CREATE_OBJECT_TYPE": "true",
    }
    policy = deployment.client("iam").get_role_policy(
        RoleName=f"{PREFIX}-score-sync", PolicyName="customer-profiles"
    )["PolicyDocument"]
    (grant,) = policy["Statement"]
    assert sorted(grant["Resource"]) == [
        f"arn:aws:profile:{REGION}:123456789012:domains/{PROFILES_DOMAIN}",
        f"arn:aws:profile:{REGION}:123456789012:domains/{PROFILES_DOMAIN}/object-types/EngagementScore",
    ]
    scorer = deployment.client("lambda").get_function_configuration(
        FunctionName=deployment.outputs["scorer_function_name"]
    )["Environment"]["Variables"]
    assert (scorer["USER_KEY_TAG"], scorer["CAMPAIGN_TAG"], scorer["RECIPIENT_USER_KEY"]) == (
        "user_key",
        "campaign",
        "none",
    )
