"""Apply examples/local to the embedded moto server, check the real resources with boto3, re-plan for
no changes, and destroy in the end (fixture teardown)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import tftest

from simulator.local_cloud.moto_server import EmbeddedMoto

PREFIX = "applytest"  # the moto server is shared by the session: keep clear of other tests' names
REGION = "us-east-1"
SKIP_IN_COPY = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "build")

pytestmark = pytest.mark.apply

ORIGINAL_RULES = {
    "_email.click": 50,
    "_email.open": 10,
    "_email.delivered": 2,
    "_email.hardbounce": -1000,
    "_email.complaint": -1000,
    "_email.unsubscribe": -500,
    "_SMS.SUCCESS": 2,
    "_SMS.OPTOUT": -500,
    "_campaign.send": 2,
    "_campaign.opened_notification": 50,
    "_campaign.received_foreground": 2,
    "_campaign.received_background": 2,
    "_session.start": 2,
    "_userauth.sign_up": 50,
    "_monetization.purchase": 100,
}


class Deployment:
    def __init__(self, test: tftest.TerraformTest, outputs: dict[str, Any], moto: EmbeddedMoto, app_id: str):
        self.test = test
        self.outputs = outputs
        self.moto = moto
        self.pinpoint_application_id = app_id

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


@pytest.fixture(scope="module")
def deployment(
    module_copy: Path,
    tmp_path_factory: pytest.TempPathFactory,
    terraform_binary: str,
    tf_env: dict[str, str],
    moto_server: EmbeddedMoto,
) -> Iterator[Deployment]:
    copy = tmp_path_factory.mktemp("apply") / "module"
    shutil.copytree(module_copy, copy, ignore=SKIP_IN_COPY)
    test = tftest.TerraformTest(str(copy / "examples/local"), binary=terraform_binary, env=tf_env)
    test.setup(cleanup_on_exit=True)
    # aws_pinpoint_app cannot be applied against moto: the application is created with boto3, as the
    # simulator does.
    pinpoint = boto3.client("pinpoint", endpoint_url=moto_server.endpoint_url, region_name=REGION)
    app_id = pinpoint.create_app(CreateApplicationRequest={"Name": PREFIX})["ApplicationResponse"]["Id"]
    tf_vars = {
        "aws_endpoint_url": moto_server.endpoint_url,
        "name_prefix": PREFIX,
        "pinpoint_application_id": app_id,
    }
    try:
        test.apply(tf_vars=tf_vars)
        outputs = {name: output for name, output in test.output().items()}
        yield Deployment(test, outputs, moto_server, app_id)
    finally:
        test.destroy(tf_vars=tf_vars, auto_approve=True)
        pinpoint.delete_app(ApplicationId=app_id)


def test_outputs_name_the_pipeline(deployment: Deployment) -> None:
    outputs = deployment.outputs
    assert outputs["stream_name"] == f"{PREFIX}-events"
    assert outputs["score_rules_table_name"] == f"{PREFIX}-score-rules"
    assert outputs["user_scores_table_name"] == f"{PREFIX}-user-scores"
    assert outputs["processed_events_table_name"] == f"{PREFIX}-processed-events"
    assert outputs["scorer_function_name"] == f"{PREFIX}-scorer"
    assert outputs["score_sync_function_name"] == f"{PREFIX}-score-sync"
    assert outputs["pinpoint_application_id"] == deployment.pinpoint_application_id
    assert outputs["failure_queue_url"].endswith(f"/{PREFIX}-failures")
    assert outputs["observer_queue_url"].endswith(f"/{PREFIX}-observed-events")
    assert outputs["event_bus_name"] == f"{PREFIX}-scores"
    assert (
        outputs.get("campaign_attribution_table_name") is None
    )  # examples/local: attribution off by default


def test_stream_exists_on_demand_and_encrypted(deployment: Deployment) -> None:
    summary = deployment.client("kinesis").describe_stream_summary(
        StreamName=deployment.outputs["stream_name"]
    )
    stream = summary["StreamDescriptionSummary"]
    assert stream["StreamARN"] == deployment.outputs["stream_arn"]
    assert stream["StreamStatus"] == "ACTIVE"
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert stream["RetentionPeriodHours"] == 24
    assert (stream["EncryptionType"], stream["KeyId"]) == ("KMS", "alias/aws/kinesis")


def test_tables_have_the_contract_keys_stream_ttl_and_backups(deployment: Deployment) -> None:
    dynamodb = deployment.client("dynamodb")
    keys = {}
    for output, key in (
        ("score_rules_table_name", "event_type"),
        ("user_scores_table_name", "user_key"),
        ("processed_events_table_name", "event_key"),
    ):
        name = deployment.outputs[output]
        table = dynamodb.describe_table(TableName=name)["Table"]
        keys[name] = [(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]]
        assert keys[name] == [(key, "HASH")]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    scores = dynamodb.describe_table(TableName=deployment.outputs["user_scores_table_name"])["Table"]
    assert scores["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert scores["LatestStreamArn"] == deployment.outputs["user_scores_stream_arn"]
    ttl = dynamodb.describe_time_to_live(TableName=deployment.outputs["processed_events_table_name"])
    assert ttl["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_the_fifteen_original_rules_are_seeded(deployment: Deployment) -> None:
    items = deployment.client("dynamodb").scan(TableName=deployment.outputs["score_rules_table_name"])[
        "Items"
    ]
    assert {item["event_type"]["S"]: float(item["points"]["N"]) for item in items} == ORIGINAL_RULES
    assert all(set(item) == {"event_type", "points"} for item in items)


def test_functions_run_the_zip_with_the_contract_handlers_and_environment(deployment: Deployment) -> None:
    lambda_client = deployment.client("lambda")
    outputs = deployment.outputs
    zip_bytes = (Path(deployment.test.tfdir) / outputs["lambda_package_path"]).read_bytes()
    code_sha256 = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    expected_environment = {
        "scorer": {
            "RULES_TABLE": outputs["score_rules_table_name"],
            "SCORES_TABLE": outputs["user_scores_table_name"],
            "PROCESSED_EVENTS_TABLE": outputs["processed_events_table_name"],
            "FAILURE_QUEUE_URL": outputs["failure_queue_url"],
            "USER_KEY_MODE": "auto",
            "DECAY_HALF_LIFE_HOURS": "0",
            "TIERS": json.dumps(
                [
                    {"min_score": 0, "name": "cold"},
                    {"min_score": 50, "name": "warm"},
                    {"min_score": 150, "name": "hot"},
                ],
                separators=(",", ":"),
            ),
            "RULES_CACHE_TTL_SECONDS": "60",
            "DEDUPE_TTL_HOURS": "168",
            "ONCE_PER_MESSAGE_TTL_HOURS": "2160",
            "METRICS_NAMESPACE": "EngagementScoring",
            "LOG_LEVEL": "INFO",
            # machine_engagement as examples/local sets it, as Terraform's jsonencode writes it (keys sorted)
            "MACHINE_ENGAGEMENT": json.dumps(
                {
                    "burst_min_links": 2,
                    "burst_window_ms": 1000,
                    "privacy_proxy_cidrs": [],
                    "privacy_proxy_user_agents": ["Mozilla/5.0"],
                    "scanner_cidrs": [],
                    "scanner_user_agents": [
                        "ExampleLinkScanner"
                    ],  # examples/local lists the simulator's scanner
                    "send_time_proximity_seconds": 10,
                    "weights": {},
                },
                separators=(",", ":"),
            ),
            "USER_KEY_TAG": "user_key",
            "CAMPAIGN_TAG": "campaign",
            "RECIPIENT_USER_KEY": "none",
            "MAX_CLOCK_SKEW_SECONDS": "3600",
            "SCORE_PUBLISH_MIN_DELTA": "10",
            "TIER_HYSTERESIS_POINTS": "0",
        },
        "score_sync": {
            "FAILURE_QUEUE_URL": outputs["failure_queue_url"],
            "USER_KEY_MODE": "auto",
            "PINPOINT_APPLICATION_ID": deployment.pinpoint_application_id,
            "PINPOINT_SCORE_METRIC": "EngagementScore",
            "PINPOINT_TIER_ATTRIBUTE": "EngagementTier",
            "EVENT_BUS_NAME": outputs["event_bus_arn"],
            "EVENT_SOURCE": "engagement.scoring",
            "METRICS_NAMESPACE": "EngagementScoring",
            "LOG_LEVEL": "INFO",
        },
    }
    for function, handler in (
        ("scorer", "engagement_scoring.handlers.scorer.handler"),
        ("score_sync", "engagement_scoring.handlers.score_sync.handler"),
    ):
        config = lambda_client.get_function_configuration(FunctionName=outputs[f"{function}_function_name"])
        assert config["FunctionArn"] == outputs[f"{function}_function_arn"]
        assert (config["Handler"], config["Runtime"]) == (handler, "python3.12")
        assert config["Environment"]["Variables"] == expected_environment[function]
        assert config["CodeSha256"] == code_sha256
        assert config["Role"].endswith(f":role/{PREFIX}-{function.replace('_', '-')}")


def test_event_source_mappings_are_configured_for_partial_failures(deployment: Deployment) -> None:
    lambda_client = deployment.client("lambda")
    outputs = deployment.outputs
    queue_arn = deployment.client("sqs").get_queue_attributes(
        QueueUrl=outputs["failure_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    for function, source, batch_size, uuid in (
        ("scorer", outputs["stream_arn"], 500, outputs["scorer_event_source_mapping_uuid"]),
        (
            "score_sync",
            outputs["user_scores_stream_arn"],
            100,
            outputs["score_sync_event_source_mapping_uuid"],
        ),
    ):
        # All mappings, filtered here: moto's FunctionName filter misses mappings created with a function ARN.
        mappings = lambda_client.list_event_source_mappings()["EventSourceMappings"]
        mine = [m for m in mappings if m["FunctionArn"] == outputs[f"{function}_function_arn"]]
        assert [m["UUID"] for m in mine] == [uuid]
        mapping = mine[0]
        assert mapping["EventSourceArn"] == source
        assert mapping["FunctionArn"] == outputs[f"{function}_function_arn"]
        assert mapping["BatchSize"] == batch_size
        assert mapping["StartingPosition"] == "TRIM_HORIZON"
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BisectBatchOnFunctionError"] is True
        assert mapping["ParallelizationFactor"] == 1
        assert (mapping["MaximumRetryAttempts"], mapping["MaximumRecordAgeInSeconds"]) == (10, 21600)
        assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": queue_arn}}


def test_pinpoint_streams_its_events_into_the_stream(deployment: Deployment) -> None:
    stream = deployment.client("pinpoint").get_event_stream(ApplicationId=deployment.pinpoint_application_id)
    assert stream["EventStream"]["DestinationStreamArn"] == deployment.outputs["stream_arn"]
    role_name = stream["EventStream"]["RoleArn"].rsplit("/", 1)[1]
    assert role_name == f"{PREFIX}-pinpoint-stream"
    policy = deployment.client("iam").get_role_policy(RoleName=role_name, PolicyName="put-events")
    statements = policy["PolicyDocument"]["Statement"]
    assert [s["Resource"] for s in statements] == [deployment.outputs["stream_arn"]]


def test_queues_logs_and_roles_exist(deployment: Deployment) -> None:
    sqs = deployment.client("sqs")
    failure_queue = sqs.get_queue_attributes(
        QueueUrl=deployment.outputs["failure_queue_url"], AttributeNames=["All"]
    )
    assert failure_queue["Attributes"]["SqsManagedSseEnabled"] == "true"
    assert failure_queue["Attributes"]["MessageRetentionPeriod"] == "1209600"
    groups = deployment.client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{PREFIX}-")[
        "logGroups"
    ]
    assert {(g["logGroupName"], g["retentionInDays"]) for g in groups} == {
        (f"/aws/lambda/{PREFIX}-scorer", 30),
        (f"/aws/lambda/{PREFIX}-score-sync", 30),
    }
    iam = deployment.client("iam")
    for role, policy in (("scorer", "scoring"), ("score-sync", "score-sync")):
        document = iam.get_role_policy(RoleName=f"{PREFIX}-{role}", PolicyName=policy)["PolicyDocument"]
        assert {s["Sid"] for s in document["Statement"]} >= {"SendFailures", "WriteLogs"}


def test_observer_queue_receives_what_is_published_on_the_bus(deployment: Deployment) -> None:
    # Given the bus the score sync publishes to, when a score event is put on it
    detail = {"user_key": "u-1", "score": 60, "previous_score": 10, "tier": "warm", "previous_tier": "cold"}
    put = deployment.client("events").put_events(
        Entries=[
            {
                "EventBusName": deployment.outputs["event_bus_name"],
                "Source": deployment.outputs["event_source"],
                "DetailType": "EngagementScoreChanged",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert put["FailedEntryCount"] == 0

    # Then the observer rule copies it into the queue the simulator reads
    sqs = deployment.client("sqs")
    deadline = time.monotonic() + 15
    received: list[dict[str, Any]] = []
    while not received and time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=deployment.outputs["observer_queue_url"], MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        received = [json.loads(m["Body"]) for m in messages.get("Messages", [])]
    assert [(event["detail-type"], event["detail"]) for event in received] == [
        ("EngagementScoreChanged", detail)
    ]


def test_replan_shows_no_changes(deployment: Deployment) -> None:
    plan = deployment.test.plan(
        output=True,
        tf_vars={
            "aws_endpoint_url": deployment.moto.endpoint_url,
            "name_prefix": PREFIX,
            "pinpoint_application_id": deployment.pinpoint_application_id,
        },
    )
    changes = {address: change["change"]["actions"] for address, change in plan.resource_changes.items()}
    # the module with Pinpoint wiring (34, with terraform_data.lambda_source), its monitoring (11 alarms,
    # topic, topic policy, key, dashboard) and the observer (4)
    assert len(changes) == 53
    assert {address: actions for address, actions in changes.items() if actions != ["no-op"]} == {}
