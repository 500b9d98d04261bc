"""Plan-level tests of the successor wiring: SES (ses.tf), End User Messaging SMS (sms.tf) and the Customer
Profiles sink (customer_profiles.tf), through the same wrapper root as test_tf_plan.py.

Each resource exists when its inputs ask for it and not otherwise; every role's policy is checked statement by
statement (actions and resources exactly); the cross-input rules fail the plan with their message. The
variables' own validation messages are in test_tf_variables.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import tftest

from simulator.local_cloud.moto_server import EmbeddedMoto
from tests.plan.test_tf_plan import Plan, PlanFailure, statement

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"  # the wrapper's provider region
SKIP_IN_COPY = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "build")
ARN = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"

pytestmark = pytest.mark.plan

KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STREAM_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab"
EXISTING_STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/external-events"
INBOUND_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:two-way-sms"
ALL_SES_TYPES = [
    "SEND",
    "REJECT",
    "BOUNCE",
    "COMPLAINT",
    "DELIVERY",
    "OPEN",
    "CLICK",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
    "SUBSCRIPTION",
]

OFF = {"name_prefix": "off"}
# Everything created by the module, AWS managed keys.
SUCCESSOR = {
    "name_prefix": "succ",
    "tags": {"team": "growth"},
    "ses_configuration_set_names": ["marketing", "transactional"],
    "create_ses_configuration_sets": True,
    "sms_configuration_set_names": ["sms-main"],
    "create_sms_configuration_sets": True,
    "sms_event_types": ["TEXT_ALL", "VOICE_ALL"],
    "sms_event_log_retention_days": 90,
    "create_sms_inbound_topic": True,
    "customer_profiles_domain_name": "acme-profiles",
    "create_customer_profiles_domain": True,
    "customer_profiles_expiration_days": 400,
    "customer_profiles_dead_letter_queue_url": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/profiles-dlq",
    "customer_profiles_kms_key_arn": KMS_KEY,
    "user_key_tag": "uid",
    "campaign_tag": "cmp",
    "recipient_user_key": "hashed_address",
    "recipient_hash_key_parameter": "/engagement/hash-key",
    "max_clock_skew_seconds": 600,
}
# Existing configuration sets, topic, domain and stream, customer managed keys.
GIVEN = {
    "name_prefix": "given",
    "kms_key_arn": KMS_KEY,
    "existing_kinesis_stream_arn": EXISTING_STREAM,
    "existing_kinesis_stream_kms_key_arn": STREAM_KEY,
    "ses_configuration_set_names": ["existing-set"],
    "ses_event_types": ["OPEN", "CLICK"],
    "sms_configuration_set_names": ["sms-a", "sms-b"],
    "sms_inbound_topic_arn": INBOUND_TOPIC,
    "customer_profiles_domain_name": "existing-domain",
    "customer_profiles_object_type_name": "Scores",
    "customer_profiles_create_object_type": False,
    "recipient_hash_key_parameter": f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/hash-key",
}

# Cross-input rules: inputs on top of a fresh name_prefix, and the message the plan must fail with.
FAILING: dict[str, tuple[dict[str, Any], str]] = {
    "inbound topic created and given": (
        {"create_sms_inbound_topic": True, "sms_inbound_topic_arn": INBOUND_TOPIC},
        "Set either create_sms_inbound_topic or sms_inbound_topic_arn, not both.",
    ),
    "hashed recipient without a key": (
        {"recipient_user_key": "hashed_address"},
        "recipient_user_key = hashed_address needs recipient_hash_key_parameter",
    ),
    "bad SES event type via module call": (
        {"ses_configuration_set_names": ["a"], "ses_event_types": ["OPEN", "Open"]},
        "ses_event_types must be a non-empty list of distinct SESv2 event types",
    ),
}

COMPLETE_OVERRIDE = """
provider "aws" {
  region                      = "eu-west-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true

  endpoints {
    events = "%s"
    sts    = "%s"
  }
}
"""

NEW_TYPES = {
    "aws_sesv2_configuration_set",
    "aws_sesv2_configuration_set_event_destination",
    "aws_cloudwatch_event_rule",
    "aws_cloudwatch_event_target",
    "aws_pinpointsmsvoicev2_configuration_set",
    "aws_cloudwatch_log_subscription_filter",
    "aws_sns_topic_subscription",
    "aws_sqs_queue_policy",
    "aws_pipes_pipe",
    "aws_customerprofiles_domain",
}


@pytest.fixture(scope="module")
def plans(
    module_copy: Path,
    tmp_path_factory: pytest.TempPathFactory,
    terraform_binary: str,
    tf_env: dict[str, str],
    moto_server: EmbeddedMoto,
) -> Iterator[dict[str, Plan | PlanFailure]]:
    copy = tmp_path_factory.mktemp("plan-successor") / "module"
    shutil.copytree(module_copy, copy, ignore=SKIP_IN_COPY)
    shutil.copytree(ROOT / "tests/plan/fixtures", copy / "tests/plan/fixtures", ignore=SKIP_IN_COPY)
    wrapper = tftest.TerraformTest(
        str(copy / "tests/plan/fixtures/wrapper"), binary=terraform_binary, env=tf_env
    )
    wrapper.setup(cleanup_on_exit=True)

    def plan(inputs: dict[str, Any]) -> Plan | PlanFailure:
        tf_vars = {"aws_endpoint_url": moto_server.endpoint_url, "inputs": inputs}
        try:
            return Plan(wrapper.plan(output=True, tf_vars=tf_vars, lock=False))
        except tftest.TerraformTestError as error:
            return PlanFailure(re.sub(r"\s+", " ", re.sub(r"[│╷╵├─]", " ", error.args[-1])))

    # examples/complete as a user plans it, its provider pointed at the emulator by an override file.
    complete_dir = copy / "examples/complete"
    (complete_dir / "emulator_override.tf").write_text(
        COMPLETE_OVERRIDE % (moto_server.endpoint_url, moto_server.endpoint_url)
    )
    complete = tftest.TerraformTest(str(complete_dir), binary=terraform_binary, env=tf_env)
    complete.setup(cleanup_on_exit=True)

    def plan_complete() -> Plan | PlanFailure:
        try:
            return Plan(complete.plan(output=True, lock=False))
        except tftest.TerraformTestError as error:
            return PlanFailure(re.sub(r"\s+", " ", re.sub(r"[│╷╵├─]", " ", error.args[-1])))

    jobs: dict[str, dict[str, Any]] = {"off": OFF, "successor": SUCCESSOR, "given": GIVEN}
    for index, (case, (inputs, _)) in enumerate(FAILING.items()):
        jobs[case] = {"name_prefix": f"sbad{index}", **inputs}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(plan, inputs) for name, inputs in jobs.items()}
        futures["complete"] = pool.submit(plan_complete)
        yield {name: future.result() for name, future in futures.items()}


def planned(plans: dict[str, Plan | PlanFailure], name: str) -> Plan:
    result = plans[name]
    if not isinstance(result, Plan):
        pytest.fail(f"plan {name} failed: {result}")
    return result


@pytest.fixture(scope="module")
def off(plans: dict[str, Plan | PlanFailure]) -> Plan:
    return planned(plans, "off")


@pytest.fixture(scope="module")
def successor(plans: dict[str, Plan | PlanFailure]) -> Plan:
    return planned(plans, "successor")


@pytest.fixture(scope="module")
def given(plans: dict[str, Plan | PlanFailure]) -> Plan:
    return planned(plans, "given")


def outputs(plan: Plan) -> dict[str, Any]:
    """The module's planned outputs; values only known after apply are absent (planned_values drops the
    whole object then, output_changes keeps its known parts)."""
    value: dict[str, Any] = plan.raw.output_changes["module"]["after"]
    return value


def trust(plan: Plan, role: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = plan.policy(f"aws_iam_role.{role}", "assume_role_policy")["Statement"]
    return statements


# ---------------------------------------------------------------------------------------------------------
# Off by default
# ---------------------------------------------------------------------------------------------------------


def test_without_successor_inputs_no_successor_resource_exists(off: Plan) -> None:
    assert set(off.types()) & NEW_TYPES == set()
    # The monitoring's alarm topic is the only SNS topic without these inputs (and its alarms are its own).
    wiring = [a for a in off.changes if ("sms_" in a or "ses_" in a or "customer_profiles" in a)]
    assert [a for a in wiring if not a.startswith("aws_cloudwatch_metric_alarm.")] == []
    roles = {address for address in off.changes if address.startswith("aws_iam_role.")}
    assert roles == {'aws_iam_role.function["scorer"]', 'aws_iam_role.function["score_sync"]'}
    assert off.count("aws_cloudwatch_log_group") == 2 and off.count("aws_sqs_queue") == 1
    module = outputs(off)
    assert module["ses_event_rule_arns"] is None and module["ses_event_partition_key_path"] is None
    assert module["sms_event_destination_commands"] == {}
    for name in (
        "sms_event_log_group_name",
        "sms_event_destination_role_arn",
        "sms_inbound_topic_arn",
        "sms_inbound_queue_url",
        "sms_inbound_pipe_arn",
        "customer_profiles_domain_name",
        "customer_profiles_object_type_name",
    ):
        assert module[name] is None, name


# ---------------------------------------------------------------------------------------------------------
# SES: destination per configuration set, two rules on the default bus, PutRecord(s)-only role
# ---------------------------------------------------------------------------------------------------------


def test_ses_configuration_sets_publish_every_type_to_the_default_bus(successor: Plan) -> None:
    for name in ("marketing", "transactional"):
        assert (
            successor.after(f'aws_sesv2_configuration_set.this["{name}"]')["configuration_set_name"] == name
        )
        destination = successor.after(f'aws_sesv2_configuration_set_event_destination.this["{name}"]')
        assert destination["event_destination_name"] == "succ-scoring"
        (settings,) = destination["event_destination"]
        assert settings["enabled"] is True
        assert sorted(settings["matching_event_types"]) == sorted(ALL_SES_TYPES)
        assert settings["event_bridge_destination"] == [
            {"event_bus_arn": ARN.format("events", "event-bus/default")}
        ]
    assert successor.count("aws_sesv2_configuration_set_event_destination") == 2


def test_existing_ses_configuration_sets_get_a_destination_only(given: Plan) -> None:
    assert given.count("aws_sesv2_configuration_set") == 0
    destination = given.after('aws_sesv2_configuration_set_event_destination.this["existing-set"]')
    assert destination["configuration_set_name"] == "existing-set"
    assert sorted(destination["event_destination"][0]["matching_event_types"]) == ["CLICK", "OPEN"]


def test_ses_rules_split_on_the_user_key_tag_so_every_event_matches_exactly_one(successor: Plan) -> None:
    keyed = successor.after("aws_cloudwatch_event_rule.ses_keyed[0]")
    unkeyed = successor.after("aws_cloudwatch_event_rule.ses_unkeyed[0]")
    for rule, exists in ((keyed, True), (unkeyed, False)):
        assert rule["event_bus_name"] == "default"
        assert json.loads(rule["event_pattern"]) == {
            "source": ["aws.ses"],
            "detail": {
                "mail": {
                    "tags": {
                        "ses:configuration-set": ["marketing", "transactional"],
                        "uid": [{"exists": exists}],
                    }
                }
            },
        }
    assert (keyed["name"], unkeyed["name"]) == ("succ-ses-keyed", "succ-ses-unkeyed")


def test_ses_partition_key_is_the_user_tag_where_present_and_the_event_id_elsewhere(successor: Plan) -> None:
    # The keyed rule only sees events whose tag exists, so its path always resolves (AWS does not document
    # what a path that does not resolve does); the unkeyed target has no KinesisParameters, whose documented
    # default partition key is the event id.
    keyed = successor.after("aws_cloudwatch_event_target.ses_keyed[0]")
    unkeyed = successor.after("aws_cloudwatch_event_target.ses_unkeyed[0]")
    assert keyed["kinesis_target"] == [{"partition_key_path": "$.detail.mail.tags.uid[0]"}]
    assert unkeyed["kinesis_target"] == []
    assert outputs(successor)["ses_event_partition_key_path"] == "$.detail.mail.tags.uid[0]"
    for target in (keyed, unkeyed):
        assert (target["event_bus_name"], target["target_id"]) == ("default", "ingest-stream")
        assert target["input"] is None and target["input_path"] is None and target["input_transformer"] == []
    for name in ("ses_keyed", "ses_unkeyed"):
        expressions = successor.configured(f"aws_cloudwatch_event_target.{name}")["expressions"]
        assert expressions["arn"]["references"] == ["local.ingest_stream_arn"]
        assert "aws_iam_role.ses_events[0].arn" in expressions["role_arn"]["references"]


def test_ses_target_role_may_only_put_records_into_the_stream(successor: Plan, given: Plan) -> None:
    rules = [ARN.format("events", "rule/succ-ses-keyed"), ARN.format("events", "rule/succ-ses-unkeyed")]
    (assume,) = trust(successor, "ses_events[0]")
    assert assume["Principal"] == {"Service": "events.amazonaws.com"}
    assert assume["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    assert sorted(assume["Condition"]["ArnEquals"]["aws:SourceArn"]) == rules
    assert successor.statements("aws_iam_role_policy.ses_events[0]") == {
        "PutEvents": statement(
            ["kinesis:PutRecord", "kinesis:PutRecords"],
            [ARN.format("kinesis", "stream/succ-events")],
            "PutEvents",
        )
    }
    assert given.statements("aws_iam_role_policy.ses_events[0]") == {
        "PutEvents": statement(["kinesis:PutRecord", "kinesis:PutRecords"], [EXISTING_STREAM], "PutEvents"),
        "UseStreamKey": statement(["kms:GenerateDataKey"], [STREAM_KEY], "UseStreamKey"),
    }


# ---------------------------------------------------------------------------------------------------------
# SMS event records: log group, writer role, subscription into the stream, the printed command
# ---------------------------------------------------------------------------------------------------------


def test_sms_event_log_group_is_subscribed_into_the_stream(successor: Plan, given: Plan) -> None:
    group = successor.after("aws_cloudwatch_log_group.sms_events[0]")
    assert group["name"] == "/engagement-scoring/succ/sms-events"
    assert (group["retention_in_days"], group["kms_key_id"]) == (90, None)
    assert given.after("aws_cloudwatch_log_group.sms_events[0]")["kms_key_id"] == KMS_KEY
    subscription = successor.after("aws_cloudwatch_log_subscription_filter.sms_events[0]")
    # Without create_archive the group's only subscription is the stream's (archive.tf adds a second one).
    assert successor.count("aws_cloudwatch_log_subscription_filter") == 1
    assert successor.count("aws_kinesis_firehose_delivery_stream") == 0
    assert subscription["filter_pattern"] == ""
    assert subscription["log_group_name"] == "/engagement-scoring/succ/sms-events"
    expressions = successor.configured("aws_cloudwatch_log_subscription_filter.sms_events")["expressions"]
    assert expressions["destination_arn"]["references"] == ["local.ingest_stream_arn"]
    assert "aws_iam_role.sms_log_subscription[0].arn" in expressions["role_arn"]["references"]
    assert (
        given.after("aws_cloudwatch_log_subscription_filter.sms_events[0]")["destination_arn"]
        == EXISTING_STREAM
    )
    for name in ("sms-main",):
        assert successor.after(f'aws_pinpointsmsvoicev2_configuration_set.this["{name}"]')["name"] == name
    assert given.count("aws_pinpointsmsvoicev2_configuration_set") == 0


def test_sms_roles_are_least_privilege(successor: Plan, given: Plan) -> None:
    log_group = ARN.format("logs", "log-group:/engagement-scoring/succ/sms-events")
    (writer,) = trust(successor, "sms_log_writer[0]")
    assert writer["Principal"] == {"Service": "sms-voice.amazonaws.com"}
    assert writer["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": ARN.format("sms-voice", "configuration-set/sms-main")},
    }
    assert successor.statements("aws_iam_role_policy.sms_log_writer[0]") == {
        "WriteEventRecords": statement(
            ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            [f"{log_group}:*"],
            "WriteEventRecords",
        )
    }
    (subscriber,) = trust(successor, "sms_log_subscription[0]")
    assert subscriber["Principal"] == {"Service": "logs.amazonaws.com"}
    assert subscriber["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"{log_group}:*"},
    }
    assert successor.statements("aws_iam_role_policy.sms_log_subscription[0]") == {
        "PutEvents": statement(
            ["kinesis:PutRecord", "kinesis:PutRecords"],
            [ARN.format("kinesis", "stream/succ-events")],
            "PutEvents",
        )
    }
    assert given.statements("aws_iam_role_policy.sms_log_subscription[0]")["UseStreamKey"] == statement(
        ["kms:GenerateDataKey"], [STREAM_KEY], "UseStreamKey"
    )
    two_sets = trust(given, "sms_log_writer[0]")[0]["Condition"]["ArnLike"]["aws:SourceArn"]
    assert sorted(two_sets) == [
        ARN.format("sms-voice", "configuration-set/sms-a"),
        ARN.format("sms-voice", "configuration-set/sms-b"),
    ]


def test_sms_event_destination_commands_are_complete_in_the_plan(successor: Plan, given: Plan) -> None:
    role = f"arn:aws:iam::{ACCOUNT}:role/succ-sms-log-writer"
    group = ARN.format("logs", "log-group:/engagement-scoring/succ/sms-events")
    module = outputs(successor)
    assert module["sms_event_destination_commands"] == {
        "sms-main": "aws pinpoint-sms-voice-v2 create-event-destination"
        f" --region {REGION} --configuration-set-name sms-main"
        " --event-destination-name succ-scoring --matching-event-types TEXT_ALL VOICE_ALL"
        f" --cloud-watch-logs-destination IamRoleArn={role},LogGroupArn={group}"
    }
    # The ARNs the commands name are the ones the module creates (read after apply in tests/apply).
    assert successor.after("aws_iam_role.sms_log_writer[0]")["name"] == "succ-sms-log-writer"
    assert set(outputs(given)["sms_event_destination_commands"]) == {"sms-a", "sms-b"}


# ---------------------------------------------------------------------------------------------------------
# Inbound two-way SMS: SNS -> SQS (+ DLQ) -> pipe -> the stream
# ---------------------------------------------------------------------------------------------------------


def test_inbound_sms_route_from_a_created_topic(successor: Plan) -> None:
    topic = successor.after("aws_sns_topic.sms_inbound[0]")
    assert topic["name"] == "succ-sms-inbound"
    # The topic policy names the topic's ARN (known after apply): its statement as configured.
    assert successor.unknown("aws_sns_topic_policy.sms_inbound[0]")["policy"] is True
    (publish,) = successor.configured("data.aws_iam_policy_document.sms_inbound_topic")["expressions"][
        "statement"
    ]
    assert publish["actions"]["constant_value"] == ["sns:Publish"]
    assert publish["principals"][0]["identifiers"]["constant_value"] == ["sms-voice.amazonaws.com"]
    assert publish["condition"][0]["variable"]["constant_value"] == "aws:SourceAccount"
    queue = successor.after("aws_sqs_queue.sms_inbound[0]")
    dlq = successor.after("aws_sqs_queue.sms_inbound_dlq[0]")
    assert (queue["name"], dlq["name"]) == ("succ-sms-inbound", "succ-sms-inbound-dlq")
    assert queue["sqs_managed_sse_enabled"] is True and dlq["sqs_managed_sse_enabled"] is True
    assert successor.unknown("aws_sqs_queue.sms_inbound[0]")["redrive_policy"] is True
    redrive = successor.configured("aws_sqs_queue.sms_inbound")["expressions"]["redrive_policy"]
    assert "aws_sqs_queue.sms_inbound_dlq[0].arn" in redrive["references"]
    subscription = successor.after("aws_sns_topic_subscription.sms_inbound[0]")
    assert subscription["protocol"] == "sqs"
    assert subscription["raw_message_delivery"] is False  # the scorer unwraps the SNS notification
    # The queue policy names the created topic, whose ARN exists only after apply (its statement: see the
    # given-topic test below).
    assert successor.unknown("aws_sqs_queue_policy.sms_inbound[0]")["policy"] is True
    document = successor.configured("data.aws_iam_policy_document.sms_inbound_queue")["expressions"][
        "statement"
    ]
    assert "local.sms_inbound_topic_arn" in document[0]["condition"][0]["values"]["references"]


def test_inbound_sms_pipe_has_no_template_and_a_key_that_always_resolves(
    successor: Plan, given: Plan
) -> None:
    pipe = successor.after("aws_pipes_pipe.sms_inbound[0]")
    assert pipe["name"] == "succ-sms-inbound"
    assert pipe["source_parameters"][0]["sqs_queue_parameters"][0]["batch_size"] == 10
    (target,) = pipe["target_parameters"]
    assert target["input_template"] in (None, "")
    assert target["kinesis_stream_parameters"] == [{"partition_key": "$.messageId"}]
    assert pipe["enrichment"] in (None, "")
    assert given.after("aws_pipes_pipe.sms_inbound[0]")["target"] == EXISTING_STREAM


def test_inbound_sms_pipe_role_is_least_privilege(successor: Plan, given: Plan) -> None:
    (assume,) = trust(successor, "sms_inbound_pipe[0]")
    assert assume["Principal"] == {"Service": "pipes.amazonaws.com"}
    assert assume["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {"aws:SourceArn": ARN.format("pipes", "pipe/succ-sms-inbound")},
    }
    assert successor.statements("aws_iam_role_policy.sms_inbound_pipe[0]") == {
        "ReadInboundQueue": statement(
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            [ARN.format("sqs", "succ-sms-inbound")],
            "ReadInboundQueue",
        ),
        "PutEvents": statement(
            ["kinesis:PutRecord", "kinesis:PutRecords"],
            [ARN.format("kinesis", "stream/succ-events")],
            "PutEvents",
        ),
    }
    assert given.statements("aws_iam_role_policy.sms_inbound_pipe[0]") == {
        "ReadInboundQueue": statement(
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            [ARN.format("sqs", "given-sms-inbound")],
            "ReadInboundQueue",
        ),
        "PutEvents": statement(["kinesis:PutRecord", "kinesis:PutRecords"], [EXISTING_STREAM], "PutEvents"),
        "ReadEncryptedQueue": statement(["kms:Decrypt"], [KMS_KEY], "ReadEncryptedQueue"),
        "UseStreamKey": statement(["kms:GenerateDataKey"], [STREAM_KEY], "UseStreamKey"),
    }


def test_inbound_sms_from_a_given_topic(given: Plan) -> None:
    # no inbound topic of its own (the alarm topic is monitoring.tf's)
    assert not any(
        address.startswith(("aws_sns_topic.sms_inbound", "aws_sns_topic_policy.sms_inbound"))
        for address in given.changes
    )
    assert given.after("aws_sns_topic_subscription.sms_inbound[0]")["topic_arn"] == INBOUND_TOPIC
    policy = json.loads(given.after("aws_sqs_queue_policy.sms_inbound[0]")["policy"])["Statement"]
    assert [(s["Principal"], s["Action"], s["Resource"], s["Condition"]) for s in policy] == [
        (
            {"Service": "sns.amazonaws.com"},
            "sqs:SendMessage",
            ARN.format("sqs", "given-sms-inbound"),
            {"ArnEquals": {"aws:SourceArn": INBOUND_TOPIC}},
        )
    ]
    queue = given.after("aws_sqs_queue.sms_inbound[0]")
    assert queue["kms_master_key_id"] == KMS_KEY and "sqs_managed_sse_enabled" not in queue
    assert outputs(given)["sms_inbound_topic_arn"] == INBOUND_TOPIC


# ---------------------------------------------------------------------------------------------------------
# Customer Profiles sink and the scorer's format settings
# ---------------------------------------------------------------------------------------------------------


def test_customer_profiles_domain_is_created_when_asked(successor: Plan, given: Plan) -> None:
    domain = successor.after("aws_customerprofiles_domain.this[0]")
    assert {
        key: domain[key] for key in ("domain_name", "default_expiration_days", "default_encryption_key")
    } == {
        "domain_name": "acme-profiles",
        "default_expiration_days": 400,
        "default_encryption_key": KMS_KEY,
    }
    assert domain["dead_letter_queue_url"].endswith(f"/{ACCOUNT}/profiles-dlq")
    assert given.count("aws_customerprofiles_domain") == 0
    assert outputs(given)["customer_profiles_domain_name"] == "existing-domain"
    assert outputs(given)["customer_profiles_object_type_name"] == "Scores"


def test_score_sync_may_make_exactly_the_profile_calls_of_the_sink(successor: Plan, given: Plan) -> None:
    domain = ARN.format("profile", "domains/acme-profiles")
    assert successor.statements("aws_iam_role_policy.score_sync_customer_profiles[0]") == {
        "WriteScoreObjects": statement(
            ["profile:GetProfileObjectType", "profile:PutProfileObject", "profile:PutProfileObjectType"],
            [domain, f"{domain}/object-types/EngagementScore"],
            "WriteScoreObjects",
        )
    }
    domain = ARN.format("profile", "domains/existing-domain")
    # Without creating the object type, the sync only checks it.
    assert given.statements("aws_iam_role_policy.score_sync_customer_profiles[0]") == {
        "WriteScoreObjects": statement(
            ["profile:GetProfileObjectType", "profile:PutProfileObject"],
            [domain, f"{domain}/object-types/Scores"],
            "WriteScoreObjects",
        )
    }
    role = given.configured("aws_iam_role_policy.score_sync_customer_profiles")["expressions"]["role"]
    assert 'aws_iam_role.function["score_sync"].id' in role["references"]


def test_scorer_reads_only_the_named_hash_key_parameter(successor: Plan, given: Plan, off: Plan) -> None:
    assert successor.statements("aws_iam_role_policy.scorer_recipient_hash_key[0]") == {
        "ReadRecipientHashKey": statement(
            ["ssm:GetParameter"], [ARN.format("ssm", "parameter/engagement/hash-key")], "ReadRecipientHashKey"
        )
    }
    assert given.statements("aws_iam_role_policy.scorer_recipient_hash_key[0]")["ReadRecipientHashKey"][
        "Resource"
    ] == [ARN.format("ssm", "parameter/hash-key")]
    assert off.count("aws_iam_role_policy") == 2  # scoring, score-sync (attribution is off by default)


def test_every_new_role_and_resource_is_tagged(successor: Plan) -> None:
    for address in (
        "aws_iam_role.ses_events[0]",
        "aws_iam_role.sms_log_writer[0]",
        "aws_iam_role.sms_log_subscription[0]",
        "aws_iam_role.sms_inbound_pipe[0]",
        "aws_cloudwatch_event_rule.ses_keyed[0]",
        "aws_cloudwatch_event_rule.ses_unkeyed[0]",
        "aws_cloudwatch_log_group.sms_events[0]",
        "aws_sns_topic.sms_inbound[0]",
        "aws_sqs_queue.sms_inbound[0]",
        "aws_sqs_queue.sms_inbound_dlq[0]",
        "aws_pipes_pipe.sms_inbound[0]",
        "aws_customerprofiles_domain.this[0]",
        'aws_sesv2_configuration_set.this["marketing"]',
        'aws_pinpointsmsvoicev2_configuration_set.this["sms-main"]',
    ):
        assert successor.after(address)["tags"] == {"team": "growth"}, address


@pytest.mark.parametrize("case", FAILING)
def test_cross_input_rules_fail_the_plan_with_their_message(
    plans: dict[str, Plan | PlanFailure], case: str
) -> None:
    failure = plans[case]
    assert isinstance(failure, PlanFailure), f"the plan of {case!r} did not fail"
    assert FAILING[case][1] in failure.output, failure.output
    assert failure.output.count("Error: ") == 1, failure.output


def test_complete_example_plans_ses_and_sms_wiring_with_pinpoint_off(
    plans: dict[str, Plan | PlanFailure],
) -> None:
    complete = planned(plans, "complete")
    assert complete.count("aws_pinpoint_event_stream") == 0 and "aws_pinpoint_app" not in str(
        complete.raw.resource_changes
    )
    sets = ["engagement-marketing", "engagement-transactional"]
    for name in sets:
        destination = complete.after(f'aws_sesv2_configuration_set_event_destination.this["{name}"]')
        assert destination["event_destination"][0]["event_bridge_destination"][0]["event_bus_arn"].endswith(
            ":event-bus/default"
        )
    for rule in ("ses_keyed[0]", "ses_unkeyed[0]"):
        pattern = json.loads(complete.after(f"aws_cloudwatch_event_rule.{rule}")["event_pattern"])
        assert pattern["detail"]["mail"]["tags"]["ses:configuration-set"] == sets
        assert complete.count("aws_cloudwatch_event_target") == 2
    assert complete.after("aws_cloudwatch_log_group.sms_events[0]")["retention_in_days"] == 365
    assert complete.count("aws_cloudwatch_log_subscription_filter") == 1
    # the inbound SMS topic and the alarm topic (monitoring.tf)
    assert complete.count("aws_pipes_pipe") == 1 and complete.count("aws_sns_topic") == 2
    assert any(address.endswith("aws_sns_topic.sms_inbound[0]") for address in complete.changes)
    assert (
        complete.after("aws_customerprofiles_domain.this[0]")["domain_name"] == "engagement-complete-profiles"
    )
