"""Plan-level tests of the module (tftest), for several input combinations.

The wrapper root in fixtures/wrapper calls the module with fake credentials; the API calls a plan makes
(sts:GetCallerIdentity for the account, events:DescribeEventBus of the default bus for the region) go to
the session's embedded moto server. IAM policies are
built from resource names, so they are complete in the plan and are checked here statement by statement.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tftest

from simulator.local_cloud.moto_server import EmbeddedMoto
from tools.aws_calls import calls_by_function

ROOT = Path(__file__).resolve().parents[2]
MODULE = "module.engagement_scoring."
ACCOUNT = "123456789012"  # moto's default account
REGION = "eu-west-1"  # the wrapper's provider region
SKIP_IN_COPY = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "build")

pytestmark = pytest.mark.plan

# The original Pinpoint engagement scoring solution's rules (docs: ../shared/docs/domain.md), the
# module's default, written out here independently of variables.tf.
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

KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STREAM_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab"
EVENT_BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/scores"
PINPOINT_APP = "0123456789abcdef0123456789abcdef"
EXISTING_STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/external-events"

MINIMAL = {"name_prefix": "mini", "attribution_enabled": True}  # attribution is opt-in (off by default)
DISABLED = {
    "name_prefix": "off",
    "create": False,
    "pinpoint_application_id": "0123456789abcdef0123456789abcdef",
}
BOUNDARY = f"arn:aws:iam::{ACCOUNT}:policy/engagement-boundary"
FULL = {
    "name_prefix": "full",
    "attribution_enabled": True,
    "tags": {"team": "growth", "cost-center": "42"},
    "kms_key_arn": KMS_KEY,
    "stream_mode": "PROVISIONED",
    "stream_shard_count": 4,
    "stream_retention_hours": 48,
    "pinpoint_application_id": PINPOINT_APP,
    "event_bus_arn": EVENT_BUS,
    "decay_half_life_hours": 720,
    "score_floor": -100,
    "score_ceiling": 1000,
    "tiers": [{"name": "cold", "min_score": 0}, {"name": "hot", "min_score": 100}],
    "score_rules": [
        {"event_type": "_email.open", "points": 10, "once_per_message": True},
        {"event_type": "_email.click", "points": 50, "channel": "email", "max_points": 150},
        {"event_type": "webinar_attended", "points": 75.5, "channel": "custom", "once_per_message": True},
        {"event_type": "_email.complaint", "points": -1000},
    ],
    "window_rules": [
        {"name": "three_clicks", "event_types": ["_email.click"], "threshold": 3, "window_hours": 168},
    ],
    "attribution_touch_event_types": ["_email.click", "_SMS.SUCCESS"],
    "attribution_lookback_hours": 720,
    "attribution_max_touches": 10,
    "conversion_rules": [
        {
            "event_type": "_monetization.purchase",
            "value_metric": "_item_price",
            "quantity_metric": "_quantity",
        },
        {"event_type": "signup"},
    ],
    "campaign_costs": {"spring-sale": 1200, "welcome": 0},
    "lambda_tracing_mode": "Active",
    "lambda_runtime": "python3.13",
    "scorer_reserved_concurrency": 20,
    "score_sync_reserved_concurrency": 5,
    "log_retention_days": 365,
    "scorer_batch_size": 1000,
    "scorer_maximum_batching_window_seconds": 3,
    "scorer_parallelization_factor": 4,
    "scorer_starting_position": "LATEST",
    "scorer_maximum_retry_attempts": 3,
    "scorer_maximum_record_age_seconds": 3600,
    "score_sync_batch_size": 50,
    "score_sync_maximum_retry_attempts": 7,
    "deletion_protection_enabled": False,
    "point_in_time_recovery_enabled": False,
    "role_path": "/engagement/scoring/",
    "role_permissions_boundary": BOUNDARY,
}
EXISTING = {
    "name_prefix": "byo",
    "existing_kinesis_stream_arn": EXISTING_STREAM,
    "existing_kinesis_stream_kms_key_arn": STREAM_KEY,
    "pinpoint_application_id": PINPOINT_APP,
    # attribution_enabled left to its default: off
    # decay off, one sliding window rule: the refresher still exists, to clear the rule as time passes
    "window_rules": [
        {"name": "weekly_buyer", "event_types": ["purchase"], "threshold": 2, "window_hours": 168},
        {"name": "ever_opened", "event_types": ["_email.open"], "threshold": 1},
    ],
}

# Every client the code can build switched on (the IAM comparison at the end of this file).
EVERY_CLIENT = {
    **FULL,
    "name_prefix": "calls",
    "customer_profiles_domain_name": "scores",
    "recipient_user_key": "hashed_address",
    "recipient_hash_key_parameter": "engagement/recipient-hash-key",
}

# The only "*" resources the module may grant, each with the reason it cannot be narrower.
ALLOWED_WILDCARD_RESOURCES = {
    frozenset(
        {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    ): "X-Ray has no resource-level permissions",
}


class Plan:
    """One planned module: resources by address (module prefix stripped) with their planned values."""

    def __init__(self, raw: tftest.TerraformPlanOutput) -> None:
        self.raw = raw
        self.changes = {
            address.removeprefix(MODULE): change["change"]
            for address, change in raw.resource_changes.items()
            if address.startswith(MODULE)
        }

    def after(self, address: str) -> dict[str, Any]:
        return dict(self.changes[address]["after"])

    def unknown(self, address: str) -> dict[str, Any]:
        return dict(self.changes[address]["after_unknown"])

    def count(self, resource_type: str) -> int:
        return sum(1 for address in self.changes if address.startswith(resource_type + "."))

    def types(self) -> Counter[str]:
        """Managed resources by type (data sources read at apply are left out)."""
        return Counter(address.split(".")[0] for address in self.changes if not address.startswith("data."))

    def policy(self, address: str, attribute: str = "policy") -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.after(address)[attribute])
        return document

    def statements(self, address: str, attribute: str = "policy") -> dict[str, dict[str, Any]]:
        """Statements by Sid, with Action and Resource as sorted lists (rendering order is not meaningful)."""
        return {s["Sid"]: normalised(s) for s in self.policy(address, attribute)["Statement"]}

    def configured(self, resource: str) -> dict[str, Any]:
        """The configuration of a module resource: its expressions (with references) and depends_on."""
        module = self.raw.configuration["root_module"]["module_calls"]["engagement_scoring"]["module"]
        for candidate in module["resources"]:
            if candidate["address"] == resource:
                return dict(candidate)
        raise KeyError(resource)


@dataclass(frozen=True)
class PlanFailure:
    """A plan that failed, with Terraform's stderr (box drawing and line wrapping removed)."""

    output: str


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def normalised(stmt: dict[str, Any]) -> dict[str, Any]:
    return {**stmt, "Action": sorted(as_list(stmt["Action"])), "Resource": sorted(as_list(stmt["Resource"]))}


def statement(actions: list[str], resources: list[str], sid: str) -> dict[str, Any]:
    """An Allow statement in the form Plan.statements returns."""
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": sorted(resources)}


@pytest.fixture(scope="module")
def wrapper(
    module_copy: Path, tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, tf_env: dict[str, str]
) -> Iterator[tftest.TerraformTest]:
    copy = tmp_path_factory.mktemp("plan") / "module"
    shutil.copytree(module_copy, copy, ignore=SKIP_IN_COPY)
    shutil.copytree(ROOT / "tests/plan/fixtures", copy / "tests/plan/fixtures", ignore=SKIP_IN_COPY)
    test = tftest.TerraformTest(
        str(copy / "tests/plan/fixtures/wrapper"), binary=terraform_binary, env=tf_env
    )
    test.setup(cleanup_on_exit=True)
    yield test


# Inputs that must make the plan fail, with the message each must fail with: one rule checked through a
# module call (test_tf_variables.py covers every rule), and the cross-input preconditions.
FAILING: dict[str, tuple[dict[str, Any], str]] = {
    "validation via module call": (
        {"scorer_batch_size": 0},
        "scorer_batch_size must be a whole number from 1 to 10000",
    ),
    "floor not below ceiling": (
        {"score_floor": 100, "score_ceiling": 100},
        "score_floor must be lower than score_ceiling",
    ),
    "dedupe shorter than retention": (
        {"stream_retention_hours": 200, "dedupe_ttl_hours": 168},
        "dedupe_ttl_hours must be >= stream_retention_hours",
    ),
    "touch type also a conversion": (
        {"attribution_enabled": True, "conversion_rules": [{"event_type": "_email.click"}]},
        "An event type cannot be both in attribution_touch_event_types and in conversion_rules.",
    ),
}


@pytest.fixture(scope="module")
def plans(wrapper: tftest.TerraformTest, moto_server: EmbeddedMoto) -> dict[str, Plan | PlanFailure | None]:
    """Every plan of this file, run side by side (a plan is mostly single-threaded provider start-up).

    Values are a Plan, a PlanFailure, or None for a plan without output that succeeded. Concurrent
    plans are safe here: there is no state (so no lock is needed) and each name_prefix has its own zip.
    """

    def plan(inputs: dict[str, Any], output: bool) -> Plan | PlanFailure | None:
        tf_vars = {"aws_endpoint_url": moto_server.endpoint_url, "inputs": inputs}
        try:
            if output:
                return Plan(wrapper.plan(output=True, tf_vars=tf_vars, lock=False))
            wrapper.plan(tf_vars=tf_vars, lock=False)
            return None
        except tftest.TerraformTestError as error:
            stderr = error.args[-1]  # TerraformTestError(message, stderr)
            return PlanFailure(re.sub(r"\s+", " ", re.sub(r"[│╷╵├─]", " ", stderr)))

    jobs: dict[str, tuple[dict[str, Any], bool]] = {
        "minimal": (MINIMAL, True),
        "disabled": (DISABLED, True),
        "every_client": (EVERY_CLIENT, True),
        "full": (FULL, True),
        "existing": (EXISTING, True),
    }
    for index, (case, (inputs, _)) in enumerate(FAILING.items()):
        jobs[case] = ({"name_prefix": f"bad{index}", **inputs}, False)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(plan, inputs, output) for name, (inputs, output) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


def planned(plans: dict[str, Plan | PlanFailure | None], name: str) -> Plan:
    result = plans[name]
    if not isinstance(result, Plan):
        pytest.fail(f"plan {name} failed: {result}")
    return result


@pytest.fixture(scope="module")
def minimal(plans: dict[str, Plan | PlanFailure | None]) -> Plan:
    return planned(plans, "minimal")


@pytest.fixture(scope="module")
def full(plans: dict[str, Plan | PlanFailure | None]) -> Plan:
    return planned(plans, "full")


@pytest.fixture(scope="module")
def existing(plans: dict[str, Plan | PlanFailure | None]) -> Plan:
    return planned(plans, "existing")


# ---------------------------------------------------------------------------------------------------------
# The wrapper itself
# ---------------------------------------------------------------------------------------------------------


def test_wrapper_forwards_every_module_variable() -> None:
    declared = set(re.findall(r'^variable "([^"]+)"', (ROOT / "variables.tf").read_text(), re.M))
    wrapper_tf = (ROOT / "tests/plan/fixtures/wrapper/main.tf").read_text()
    forwarded = set(re.findall(r"^\s+(\w+)\s+=\s+(?:try\()?var\.inputs\.(\w+)", wrapper_tf, re.M))
    assert {name for name, source in forwarded if name == source} == declared


def test_provider_constraints_admit_only_the_versions_the_module_supports(
    wrapper: tftest.TerraformTest, terraform_binary: str, tf_env: dict[str, str]
) -> None:
    # `terraform providers` lists each module's own requirements, as Terraform read them from versions.tf.
    tree = subprocess.run(
        [terraform_binary, "providers", "-no-color"],
        cwd=wrapper.tfdir,
        env=tf_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    module_part = tree.split("module.engagement_scoring", 1)[1]
    requirements = dict(re.findall(r"provider\[registry\.terraform\.io/hashicorp/(\w+)\] (.+)", module_part))
    assert requirements == {"aws": ">= 5.0.0, < 7.0.0", "archive": ">= 2.5.0, < 3.0.0"}


def test_region_is_not_read_from_the_aws_region_data_source(minimal: Plan) -> None:
    # aws_region's `name` is deprecated in provider 6.x and `region` missing in 5.x: the module reads
    # neither; the ARNs in the policies still carry the provider's region (checked statement by statement
    # in test_minimal_policies_grant_exactly_what_each_function_needs).
    module = minimal.raw.configuration["root_module"]["module_calls"]["engagement_scoring"]["module"]
    assert "aws_region" not in {resource["type"] for resource in module["resources"]}


def test_create_false_plans_nothing_and_reads_nothing(plans: dict[str, Plan | PlanFailure | None]) -> None:
    disabled = planned(plans, "disabled")
    # Pinpoint is set too: the toggle wins over every feature input.
    assert disabled.changes == {}
    read = (
        disabled.raw.get("prior_state", {}).get("values", {}).get("root_module", {}).get("child_modules", [])
    )
    assert [resource["address"] for module in read for resource in module.get("resources", [])] == []
    outputs = disabled.raw.outputs["module"]
    assert {name: value for name, value in outputs.items() if value not in (None, False, {}, [])} == {}


# ---------------------------------------------------------------------------------------------------------
# Minimal: name_prefix only
# ---------------------------------------------------------------------------------------------------------


def test_minimal_creates_the_whole_pipeline(minimal: Plan) -> None:
    # Everything is created; the Lambda zip is read (built) at apply, on the runner that applies.
    assert {
        address: change["actions"]
        for address, change in minimal.changes.items()
        if address.startswith("data.")
    } == {"data.archive_file.this[0]": ["read"]}
    assert all(
        change["actions"] == ["create"] for a, change in minimal.changes.items() if not a.startswith("data.")
    )
    assert minimal.types() == Counter(
        {
            "aws_kinesis_stream": 1,
            # score rules, user scores, processed events, campaign attribution (attribution.tf)
            "aws_dynamodb_table": 4,
            "aws_dynamodb_table_item": 15,
            "aws_lambda_function": 2,
            "aws_lambda_event_source_mapping": 2,
            "aws_cloudwatch_log_group": 2,
            "aws_iam_role": 2,
            "aws_iam_role_policy": 3,
            "aws_sqs_queue": 1,
            "terraform_data": 1,
            # monitoring.tf: 11 alarms, their topic, its policy and key, the dashboard
            "aws_cloudwatch_metric_alarm": 11,
            "aws_sns_topic": 1,
            "aws_sns_topic_policy": 1,
            "aws_kms_key": 1,
            "aws_cloudwatch_dashboard": 1,
        }
    )


def test_minimal_stream_is_on_demand_and_encrypted_with_the_aws_managed_key(minimal: Plan) -> None:
    stream = minimal.after("aws_kinesis_stream.this[0]")
    assert stream["name"] == "mini-events"
    assert stream["stream_mode_details"] == [{"stream_mode": "ON_DEMAND"}]
    assert stream["shard_count"] is None
    assert stream["retention_period"] == 24
    assert (stream["encryption_type"], stream["kms_key_id"]) == ("KMS", "alias/aws/kinesis")


def test_tables_follow_the_contract(minimal: Plan) -> None:
    rules = minimal.after("aws_dynamodb_table.score_rules[0]")
    scores = minimal.after("aws_dynamodb_table.user_scores[0]")
    ledger = minimal.after("aws_dynamodb_table.processed_events[0]")

    assert (rules["name"], rules["hash_key"], rules["attribute"]) == (
        "mini-score-rules",
        "event_type",
        [{"name": "event_type", "type": "S"}],
    )
    assert (scores["name"], scores["hash_key"], scores["attribute"]) == (
        "mini-user-scores",
        "user_key",
        [{"name": "user_key", "type": "S"}],
    )
    assert (scores["stream_enabled"], scores["stream_view_type"]) == (True, "NEW_AND_OLD_IMAGES")
    assert (ledger["name"], ledger["hash_key"]) == ("mini-processed-events", "event_key")
    assert ledger["ttl"] == [{"attribute_name": "expires_at", "enabled": True}]
    for name, table in (("score_rules", rules), ("user_scores", scores), ("processed_events", ledger)):
        assert table["billing_mode"] == "PAY_PER_REQUEST"
        # Data protection is on by default: DynamoDB refuses to delete the table, and backups are continuous.
        assert table["point_in_time_recovery"][0]["enabled"] is True
        assert table["deletion_protection_enabled"] is True
        assert table["range_key"] is None
        # No customer key: no server_side_encryption block, so DynamoDB uses its AWS owned key.
        assert "server_side_encryption" not in table
        assert minimal.unknown(f"aws_dynamodb_table.{name}[0]")["server_side_encryption"] is True
    assert rules["stream_enabled"] is not True and ledger["stream_enabled"] is not True
    # Campaign attribution (#11, attribution.tf): turned on here, protected like the other tables.
    campaigns = minimal.after("aws_dynamodb_table.campaign_attribution[0]")
    assert (campaigns["name"], campaigns["hash_key"], campaigns["attribute"]) == (
        "mini-campaign-attribution",
        "campaign",
        [{"name": "campaign", "type": "S"}],
    )
    assert (campaigns["billing_mode"], campaigns["range_key"]) == ("PAY_PER_REQUEST", None)
    assert campaigns.get("ttl", []) == []  # credits never expire
    assert campaigns["point_in_time_recovery"][0]["enabled"] is True
    assert campaigns["deletion_protection_enabled"] is True
    assert "server_side_encryption" not in campaigns
    assert minimal.statements("aws_iam_role_policy.scorer_attribution[0]") == {
        "WriteTouchesAndConversionLedger": statement(
            ["dynamodb:PutItem"],
            [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/mini-processed-events"],
            "WriteTouchesAndConversionLedger",
        ),
        "CreditCampaigns": statement(
            ["dynamodb:UpdateItem"],
            [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/mini-campaign-attribution"],
            "CreditCampaigns",
        ),
    }


def test_default_rules_are_the_original_solutions_table(minimal: Plan) -> None:
    items = {
        address: json.loads(minimal.after(address)["item"])
        for address in minimal.changes
        if address.startswith("aws_dynamodb_table_item.")
    }
    seeded = {item["event_type"]["S"]: item for item in items.values()}
    assert {event_type: float(item["points"]["N"]) for event_type, item in seeded.items()} == ORIGINAL_RULES
    # Minimal items: the key and the points, nothing that is not set.
    assert all(set(item) == {"event_type", "points"} for item in seeded.values())
    assert all(
        address == f'aws_dynamodb_table_item.score_rule["{item["event_type"]["S"]}"]'
        for address, item in items.items()
    )
    assert {minimal.after(address)["hash_key"] for address in items} == {"event_type"}


def test_event_source_mappings_report_partial_failures_and_bisect(minimal: Plan) -> None:
    scorer = minimal.after('aws_lambda_event_source_mapping.this["scorer"]')
    sync = minimal.after('aws_lambda_event_source_mapping.this["score_sync"]')
    for mapping in (scorer, sync):
        assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
        assert mapping["bisect_batch_on_function_error"] is True
        # LATEST would drop every record written before the mapping exists (the first deploy's events).
        assert mapping["starting_position"] == "TRIM_HORIZON"
        assert mapping["parallelization_factor"] == 1
        assert mapping["maximum_retry_attempts"] == 10
        assert mapping["maximum_record_age_in_seconds"] == 21600
        assert mapping["enabled"] is True
    assert (scorer["batch_size"], scorer["maximum_batching_window_in_seconds"]) == (500, 1)
    assert (sync["batch_size"], sync["maximum_batching_window_in_seconds"]) == (100, 5)


def test_event_source_mappings_wire_sources_functions_and_the_failure_queue(minimal: Plan) -> None:
    # One mapping per stream reader (local.event_source_mappings), each invoking the function of its own key.
    expressions = minimal.configured("aws_lambda_event_source_mapping.this")["expressions"]
    destination = expressions["destination_config"][0]["on_failure"][0]["destination_arn"]
    assert "aws_sqs_queue.this[0].arn" in destination["references"]
    assert {"aws_lambda_function.this", "each.key"} <= set(expressions["function_name"]["references"])
    assert {"local.event_source_mappings", "each.key"} <= set(expressions["event_source_arn"]["references"])
    assert {a for a in minimal.changes if a.startswith("aws_lambda_event_source_mapping.")} == {
        'aws_lambda_event_source_mapping.this["scorer"]',
        'aws_lambda_event_source_mapping.this["score_sync"]',
    }
    # The created stream's and the table stream's ARNs are only known after apply: the mappings read them from
    # the resources (tests/apply/test_tf_apply.py checks each mapping's source; the existing-stream case below
    # checks the scorer's).
    for name in ("scorer", "score_sync"):
        assert minimal.unknown(f'aws_lambda_event_source_mapping.this["{name}"]')["event_source_arn"] is True


def test_functions_share_one_zip_with_the_contract_handlers(minimal: Plan) -> None:
    scorer = minimal.after('aws_lambda_function.this["scorer"]')
    sync = minimal.after('aws_lambda_function.this["score_sync"]')
    assert (scorer["function_name"], scorer["handler"]) == (
        "mini-scorer",
        "engagement_scoring.handlers.scorer.handler",
    )
    assert (sync["function_name"], sync["handler"]) == (
        "mini-score-sync",
        "engagement_scoring.handlers.score_sync.handler",
    )
    for function in (scorer, sync):
        assert function["runtime"] == "python3.12"
        assert function["architectures"] == ["arm64"]
        assert function["tracing_config"] == [{"mode": "PassThrough"}]
        assert function["reserved_concurrent_executions"] == -1
        assert function["kms_key_arn"] is None
        assert function["filename"].endswith("build/lambda/mini-engagement-scoring.zip")
    # A first deploy builds the zip where the plan is applied (see main.tf), so the hash is known after apply.
    for name in ("scorer", "score_sync"):
        assert minimal.unknown(f'aws_lambda_function.this["{name}"]')["source_code_hash"] is True
        expressions = minimal.configured("aws_lambda_function.this")["expressions"]
        assert (
            "data.archive_file.this[0].output_base64sha256" in expressions["source_code_hash"]["references"]
        )
    archive = minimal.raw.configuration["root_module"]["module_calls"]["engagement_scoring"]["module"]
    read = [r for r in archive["resources"] if r["address"] == "data.archive_file.this"]
    assert read[0]["depends_on"] == ["terraform_data.lambda_source"]
    assert (scorer["memory_size"], scorer["timeout"], sync["memory_size"], sync["timeout"]) == (
        512,
        60,
        256,
        60,
    )
    # The environment holds resource attributes (table names, queue URL): its values are checked after apply.
    assert minimal.unknown('aws_lambda_function.this["scorer"]')["environment"] == [{"variables": True}]


def test_log_groups_exist_before_the_functions(minimal: Plan) -> None:
    for name in ("scorer", "score_sync"):
        group = minimal.after(f'aws_cloudwatch_log_group.function["{name}"]')
        assert group["name"] == f"/aws/lambda/mini-{name.replace('_', '-')}"
        assert group["retention_in_days"] == 30
        assert group["kms_key_id"] is None
        depends_on = minimal.configured("aws_lambda_function.this")["depends_on"]
        assert "aws_cloudwatch_log_group.function" in depends_on


def test_failure_queue_uses_sqs_managed_encryption(minimal: Plan) -> None:
    queue = minimal.after("aws_sqs_queue.this[0]")
    assert queue["name"] == "mini-failures"
    assert queue["sqs_managed_sse_enabled"] is True
    assert queue["kms_master_key_id"] is None
    assert queue["message_retention_seconds"] == 1209600


def test_minimal_policies_grant_exactly_what_each_function_needs(minimal: Plan) -> None:
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    assert minimal.statements('aws_iam_role_policy.function["scorer"]') == {
        "ReadIngestStream": statement(
            [
                "kinesis:DescribeStream",
                "kinesis:DescribeStreamSummary",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            [arn.format("kinesis", "stream/mini-events")],
            "ReadIngestStream",
        ),
        "ReadScoreRules": statement(
            ["dynamodb:Scan"], [arn.format("dynamodb", "table/mini-score-rules")], "ReadScoreRules"
        ),
        "WriteScoresAndLedger": statement(
            [
                "dynamodb:BatchGetItem",
                "dynamodb:UpdateItem",
            ],
            [
                arn.format("dynamodb", "table/mini-user-scores"),
                arn.format("dynamodb", "table/mini-processed-events"),
            ],
            "WriteScoresAndLedger",
        ),
        "SendFailures": statement(["sqs:SendMessage"], [arn.format("sqs", "mini-failures")], "SendFailures"),
        "WriteLogs": statement(
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [arn.format("logs", "log-group:/aws/lambda/mini-scorer:*")],
            "WriteLogs",
        ),
    }
    assert minimal.statements('aws_iam_role_policy.function["score_sync"]') == {
        "ReadScoreChanges": statement(
            [
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            ],
            [arn.format("dynamodb", "table/mini-user-scores/stream/*")],
            "ReadScoreChanges",
        ),
        "SendFailures": statement(["sqs:SendMessage"], [arn.format("sqs", "mini-failures")], "SendFailures"),
        "WriteLogs": statement(
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [arn.format("logs", "log-group:/aws/lambda/mini-score-sync:*")],
            "WriteLogs",
        ),
    }
    for role in ("scorer", "score_sync"):
        trust = minimal.policy(f'aws_iam_role.function["{role}"]', "assume_role_policy")
        assert [(s["Principal"], s["Action"]) for s in trust["Statement"]] == [
            ({"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")
        ]


# ---------------------------------------------------------------------------------------------------------
# Every combination: no wildcard actions, no "*" resources beyond the documented exceptions
# ---------------------------------------------------------------------------------------------------------


PREFIXES = {
    "minimal": MINIMAL["name_prefix"],
    "full": FULL["name_prefix"],
    "existing": EXISTING["name_prefix"],
}
# ARNs the inputs name: the module may grant on them as they are.
GIVEN_ARNS = {
    KMS_KEY,
    STREAM_KEY,
    EVENT_BUS,
    EXISTING_STREAM,
    f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{PINPOINT_APP}",
}


@pytest.mark.parametrize("combination", PREFIXES)
def test_policies_have_no_wildcards(combination: str, request: pytest.FixtureRequest) -> None:
    plan: Plan = request.getfixturevalue(combination)
    prefix = PREFIXES[combination]
    policies = [address for address in plan.changes if address.startswith("aws_iam_role_policy.")]
    assert len(policies) >= 2
    for address in policies:
        for stmt in plan.policy(address)["Statement"]:
            actions = as_list(stmt["Action"])
            resources = as_list(stmt["Resource"])
            assert stmt["Effect"] == "Allow" and "NotAction" not in stmt and "NotResource" not in stmt
            assert all("*" not in action for action in actions), (address, stmt)
            if "*" in resources:
                assert frozenset(actions) in ALLOWED_WILDCARD_RESOURCES, (address, stmt)
                assert resources == ["*"]
                continue
            for resource in resources:
                # At most one trailing pattern below a named resource: its log streams, table streams,
                # or an application's endpoints; the named resource is this deployment's or an input.
                named = re.sub(r"[/:]\*$", "", resource)
                assert "*" not in named, (address, resource)
                assert named in GIVEN_ARNS or re.fullmatch(
                    rf"arn:aws:[a-z0-9-]+:{REGION}:{ACCOUNT}:[a-z-]*[:/]?(/aws/lambda/)?{prefix}-[a-z-]+(/stream|/index/due)?",
                    named,
                ), (address, resource)


# ---------------------------------------------------------------------------------------------------------
# Full: customer key, provisioned stream, Pinpoint, EventBridge, decay, floor and ceiling
# ---------------------------------------------------------------------------------------------------------


def test_full_adds_the_pinpoint_event_stream_and_its_role(full: Plan) -> None:
    assert full.types() - Counter({"aws_dynamodb_table_item": 4}) == Counter(
        {
            "aws_dynamodb_table_item": 1,  # campaign_costs, the report's (costs) item (attribution.tf)
            "aws_kinesis_stream": 1,
            "aws_dynamodb_table": 4,
            # decay is on: the refresher function, its log group, role and policy, its schedule and the
            # schedule's role and policy (refresher.tf); the scorer's attribution policy
            "aws_lambda_function": 3,
            "aws_lambda_event_source_mapping": 2,
            "aws_cloudwatch_log_group": 3,
            "aws_iam_role": 5,
            "aws_iam_role_policy": 6,
            "aws_scheduler_schedule": 1,
            "aws_sqs_queue": 1,
            "aws_pinpoint_event_stream": 1,
            "terraform_data": 1,
            # monitoring.tf: 11 alarms and the refresher lag alarm, a topic with its own key (also under
            # kms_key_arn), a dashboard
            "aws_cloudwatch_metric_alarm": 12,
            "aws_sns_topic": 1,
            "aws_sns_topic_policy": 1,
            "aws_kms_key": 1,
            "aws_cloudwatch_dashboard": 1,
        }
    )
    assert full.after("aws_pinpoint_event_stream.this[0]")["application_id"] == PINPOINT_APP
    role = full.after("aws_iam_role.pinpoint_stream[0]")
    assert role["name"] == "full-pinpoint-stream"
    trust = full.policy("aws_iam_role.pinpoint_stream[0]", "assume_role_policy")["Statement"]
    trust[0]["Condition"]["ArnLike"]["aws:SourceArn"].sort()
    app_arn = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{PINPOINT_APP}"
    assert trust == [
        {
            "Sid": "PinpointAssumeRole",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Principal": {"Service": "pinpoint.amazonaws.com"},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                "ArnLike": {"aws:SourceArn": [app_arn, f"{app_arn}/*"]},
            },
        }
    ]
    assert full.statements("aws_iam_role_policy.pinpoint_stream[0]") == {
        "PutEvents": statement(
            ["kinesis:DescribeStream", "kinesis:PutRecord", "kinesis:PutRecords"],
            [f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/full-events"],
            "PutEvents",
        ),
        "UseStreamKey": statement(["kms:GenerateDataKey"], [KMS_KEY], "UseStreamKey"),
    }


def test_full_encrypts_everything_with_the_customer_key(full: Plan) -> None:
    stream = full.after("aws_kinesis_stream.this[0]")
    assert (stream["encryption_type"], stream["kms_key_id"]) == ("KMS", KMS_KEY)
    for table in ("score_rules", "user_scores", "processed_events", "campaign_attribution"):
        assert full.after(f"aws_dynamodb_table.{table}[0]")["server_side_encryption"] == [
            {"enabled": True, "kms_key_arn": KMS_KEY}
        ]
    queue = full.after("aws_sqs_queue.this[0]")
    assert queue["kms_master_key_id"] == KMS_KEY
    # SQS managed SSE is left unset with a customer key (the two exclude each other): only AWS decides it.
    assert "sqs_managed_sse_enabled" not in queue
    for name in ("scorer", "score_sync"):
        assert full.after(f'aws_cloudwatch_log_group.function["{name}"]')["kms_key_id"] == KMS_KEY
        assert full.after(f'aws_lambda_function.this["{name}"]')["kms_key_arn"] == KMS_KEY
        assert full.statements(f'aws_iam_role_policy.function["{name}"]')["UseCustomerKey"] == statement(
            ["kms:Decrypt", "kms:GenerateDataKey"], [KMS_KEY], "UseCustomerKey"
        )


@pytest.mark.parametrize(
    ("combination", "path", "boundary"),
    [("minimal", "/", None), ("full", "/engagement/scoring/", BOUNDARY)],
)
def test_every_role_gets_the_path_and_permissions_boundary(
    combination: str, path: str, boundary: str | None, request: pytest.FixtureRequest
) -> None:
    plan: Plan = request.getfixturevalue(combination)
    roles = {address: plan.after(address) for address in plan.changes if address.startswith("aws_iam_role.")}
    assert len(roles) >= 2
    assert {address: (role["path"], role.get("permissions_boundary")) for address, role in roles.items()} == {
        address: (path, boundary) for address in roles
    }


def test_full_turns_data_protection_off_on_every_table(full: Plan) -> None:
    for table in ("score_rules", "user_scores", "processed_events", "campaign_attribution"):
        planned = full.after(f"aws_dynamodb_table.{table}[0]")
        assert planned["deletion_protection_enabled"] is False
        assert planned["point_in_time_recovery"][0]["enabled"] is False


def test_full_stream_is_provisioned(full: Plan) -> None:
    stream = full.after("aws_kinesis_stream.this[0]")
    assert stream["stream_mode_details"] == [{"stream_mode": "PROVISIONED"}]
    assert (stream["shard_count"], stream["retention_period"]) == (4, 48)


def test_full_writes_campaign_costs_as_the_campaign_tables_costs_item(full: Plan, minimal: Plan) -> None:
    # #11 item 6: the report reads the deployed costs from the table it reports on (--costs-json overrides)
    item = full.after("aws_dynamodb_table_item.campaign_costs[0]")
    assert (item["table_name"], item["hash_key"]) == ("full-campaign-attribution", "campaign")
    assert json.loads(item["item"]) == {
        "campaign": {"S": "(costs)"},
        "costs": {"M": {"spring-sale": {"N": "1200"}, "welcome": {"N": "0"}}},
    }
    # no costs (the default {}): no item
    assert "aws_dynamodb_table_item.campaign_costs[0]" not in minimal.changes


def test_full_rule_items_carry_only_the_attributes_that_are_set(full: Plan) -> None:
    items = {
        json.loads(change["after"]["item"])["event_type"]["S"]: json.loads(change["after"]["item"])
        for address, change in full.changes.items()
        if address.startswith("aws_dynamodb_table_item.score_rule")
    }
    assert items == {
        "_email.open": {
            "event_type": {"S": "_email.open"},
            "points": {"N": "10"},
            "once_per_message": {"BOOL": True},
        },
        "_email.click": {
            "event_type": {"S": "_email.click"},
            "points": {"N": "50"},
            "channel": {"S": "email"},
            "max_points": {"N": "150"},
            "limit_period_hours": {"N": "24"},
        },
        "webinar_attended": {
            "event_type": {"S": "webinar_attended"},
            "points": {"N": "75.5"},
            "channel": {"S": "custom"},
            "once_per_message": {"BOOL": True},
        },
        "_email.complaint": {"event_type": {"S": "_email.complaint"}, "points": {"N": "-1000"}},
    }


def test_full_settings_reach_functions_and_mappings(full: Plan) -> None:
    scorer_esm = full.after('aws_lambda_event_source_mapping.this["scorer"]')
    assert {
        key: scorer_esm[key]
        for key in (
            "batch_size",
            "maximum_batching_window_in_seconds",
            "parallelization_factor",
            "starting_position",
            "maximum_retry_attempts",
            "maximum_record_age_in_seconds",
        )
    } == {
        "batch_size": 1000,
        "maximum_batching_window_in_seconds": 3,
        "parallelization_factor": 4,
        "starting_position": "LATEST",
        "maximum_retry_attempts": 3,
        "maximum_record_age_in_seconds": 3600,
    }
    sync_esm = full.after('aws_lambda_event_source_mapping.this["score_sync"]')
    assert (sync_esm["batch_size"], sync_esm["maximum_retry_attempts"]) == (50, 7)
    scorer = full.after('aws_lambda_function.this["scorer"]')
    sync = full.after('aws_lambda_function.this["score_sync"]')
    assert (scorer["reserved_concurrent_executions"], sync["reserved_concurrent_executions"]) == (20, 5)
    for function in (scorer, sync):
        assert function["tracing_config"] == [{"mode": "Active"}]
        assert function["runtime"] == "python3.13"
    assert full.after('aws_cloudwatch_log_group.function["scorer"]')["retention_in_days"] == 365


def test_full_score_sync_may_write_to_this_pinpoint_app_and_bus_only(full: Plan) -> None:
    statements = full.statements('aws_iam_role_policy.function["score_sync"]')
    app_arn = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{PINPOINT_APP}"
    assert statements["UpdatePinpointEndpoints"] == statement(
        ["mobiletargeting:UpdateEndpointsBatch"],
        [app_arn, f"{app_arn}/*"],
        "UpdatePinpointEndpoints",
    )
    assert statements["PublishScoreEvents"] == statement(
        ["events:PutEvents"], [EVENT_BUS], "PublishScoreEvents"
    )
    for role in ("scorer", "score_sync"):
        assert full.statements(f'aws_iam_role_policy.function["{role}"]')["WriteTraces"] == {
            "Sid": "WriteTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "Resource": ["*"],
        }


def test_full_tags_every_taggable_resource(full: Plan) -> None:
    taggable = {address for address, change in full.changes.items() if "tags" in change["after"]}
    # Event source mapping tags arrived late in AWS provider 5.x; the module supports aws >= 5.0.
    mappings = {
        'aws_lambda_event_source_mapping.this["scorer"]',
        'aws_lambda_event_source_mapping.this["score_sync"]',
    }
    assert mappings <= taggable
    tagged = taggable - mappings
    # stream, 4 tables, 3 functions, 3 log groups, 5 roles, the queue; 12 alarms (one the refresher lag),
    # their topic and its key
    # (a dashboard and a schedule have no tags)
    assert len(tagged) == 31, sorted(tagged)
    for address in tagged:
        assert full.after(address)["tags"] == FULL["tags"], address


def test_full_refresher_has_its_index_schedule_and_exact_permissions(full: Plan) -> None:
    scores = full.after("aws_dynamodb_table.user_scores[0]")
    assert sorted(scores["attribute"], key=lambda a: a["name"]) == [
        {"name": "due_at", "type": "N"},
        {"name": "due_sh", "type": "S"},
        {"name": "user_key", "type": "S"},
    ]
    assert [
        {key: index[key] for key in ("name", "hash_key", "range_key", "projection_type")}
        for index in scores["global_secondary_index"]
    ] == [{"name": "due", "hash_key": "due_sh", "range_key": "due_at", "projection_type": "KEYS_ONLY"}]
    function = full.after('aws_lambda_function.this["refresher"]')
    assert (function["function_name"], function["handler"], function["timeout"]) == (
        "full-refresher",
        "engagement_scoring.handlers.refresher.handler",
        300,
    )
    assert function["kms_key_arn"] == KMS_KEY
    expressions = full.configured("aws_lambda_function.this")["expressions"]
    assert "data.archive_file.this[0].output_path" in expressions["filename"]["references"]
    schedule = full.after("aws_scheduler_schedule.refresher[0]")
    assert schedule["schedule_expression"] == "rate(15 minutes)"
    assert schedule["flexible_time_window"] == [{"mode": "OFF", "maximum_window_in_minutes": None}]
    assert schedule["target"][0]["input"] == "{}"
    assert schedule["target"][0]["retry_policy"][0]["maximum_retry_attempts"] == 0
    target = full.configured("aws_scheduler_schedule.refresher")["expressions"]["target"][0]
    assert 'aws_lambda_function.this["refresher"].arn' in target["arn"]["references"]
    assert "aws_iam_role.refresher_schedule[0].arn" in target["role_arn"]["references"]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/full-user-scores"
    statements = full.statements('aws_iam_role_policy.function["refresher"]')
    assert {sid: statements[sid] for sid in ("QueryDueIndex", "RefreshScores", "WriteLogs")} == {
        "QueryDueIndex": statement(["dynamodb:Query"], [f"{table}/index/due"], "QueryDueIndex"),
        "RefreshScores": statement(
            ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"], [table], "RefreshScores"
        ),
        "WriteLogs": statement(
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/full-refresher:*"],
            "WriteLogs",
        ),
    }
    assert set(statements) == {"QueryDueIndex", "RefreshScores", "WriteLogs", "UseCustomerKey", "WriteTraces"}
    assert full.statements("aws_iam_role_policy.refresher_schedule[0]") == {
        "InvokeRefresher": statement(
            ["lambda:InvokeFunction"],
            [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:full-refresher"],
            "InvokeRefresher",
        )
    }
    trust = full.policy("aws_iam_role.refresher_schedule[0]", "assume_role_policy")["Statement"]
    assert [(s["Principal"], s["Condition"]) for s in trust] == [
        ({"Service": "scheduler.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": ACCOUNT}})
    ]


def test_without_decay_there_is_no_refresher_and_no_index(minimal: Plan) -> None:
    assert not [address for address in minimal.changes if "refresher" in address]
    assert minimal.after("aws_dynamodb_table.user_scores[0]").get("global_secondary_index") == []


def test_a_sliding_window_rule_without_decay_has_the_refresher(existing: Plan) -> None:
    """EXISTING: decay off and a sliding window rule (window_rules.tf, local.refresher_wanted)."""
    assert sorted(address for address in existing.changes if "refresher" in address) == [
        'aws_cloudwatch_log_group.function["refresher"]',
        'aws_cloudwatch_metric_alarm.this["refresher_lag"]',
        'aws_iam_role.function["refresher"]',
        "aws_iam_role.refresher_schedule[0]",
        'aws_iam_role_policy.function["refresher"]',
        "aws_iam_role_policy.refresher_schedule[0]",
        'aws_lambda_function.this["refresher"]',
        "aws_scheduler_schedule.refresher[0]",
    ]
    scores = existing.after("aws_dynamodb_table.user_scores[0]")
    assert [index["name"] for index in scores["global_secondary_index"]] == ["due"]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/byo-user-scores"
    assert existing.statements('aws_iam_role_policy.function["refresher"]')["QueryDueIndex"]["Resource"] == [
        f"{table}/index/due"
    ]
    schedule = existing.after("aws_scheduler_schedule.refresher[0]")
    assert schedule["schedule_expression"] == "rate(15 minutes)"
    # (its environment, WINDOW_RULES included, is unknown at plan: the embedded run shows it end to end)


# ---------------------------------------------------------------------------------------------------------
# Existing stream: nothing created for ingest, everything pointed at the given ARN
# ---------------------------------------------------------------------------------------------------------


def test_existing_stream_is_used_not_created(existing: Plan) -> None:
    assert existing.count("aws_kinesis_stream") == 0
    # attribution off (its default): no campaign table, no attribution policy for the scorer
    assert existing.count("aws_dynamodb_table") == 3
    assert "aws_iam_role_policy.scorer_attribution[0]" not in existing.changes
    assert (
        existing.after('aws_lambda_event_source_mapping.this["scorer"]')["event_source_arn"]
        == EXISTING_STREAM
    )
    assert existing.after("aws_pinpoint_event_stream.this[0]")["destination_stream_arn"] == EXISTING_STREAM
    scorer = existing.statements('aws_iam_role_policy.function["scorer"]')
    assert scorer["ReadIngestStream"]["Resource"] == [EXISTING_STREAM]
    # The stream's own key is granted; the module's stores still use AWS owned/managed keys.
    assert scorer["UseCustomerKey"]["Resource"] == [STREAM_KEY]
    assert "UseCustomerKey" not in existing.statements('aws_iam_role_policy.function["score_sync"]')
    pinpoint = existing.statements("aws_iam_role_policy.pinpoint_stream[0]")
    assert pinpoint["PutEvents"]["Resource"] == [EXISTING_STREAM]
    assert pinpoint["UseStreamKey"]["Resource"] == [STREAM_KEY]


# ---------------------------------------------------------------------------------------------------------
# Bad input through a module call, and the cross-input rules
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", FAILING)
def test_plan_fails_with_the_intended_message(plans: dict[str, Plan | PlanFailure | None], case: str) -> None:
    failure = plans[case]
    message = FAILING[case][1]
    assert isinstance(failure, PlanFailure), f"the plan of {case!r} did not fail"
    assert message in failure.output, failure.output
    assert failure.output.count("Error: ") == 1, failure.output


# ---------------------------------------------------------------------------------------------------------
# IAM grants what the code calls, both directions (tools/aws_calls.py reads the calls from lambda_src)
# ---------------------------------------------------------------------------------------------------------

# Actions the Lambda service itself uses with the function's role, not the function's code: polling the
# event source, the on-failure destination of the mapping, the runtime's logs and traces, and the customer
# key the services use on the function's behalf.
SERVICE_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "sqs:SendMessage",
}
PLATFORM_ACTIONS = {
    "scorer": SERVICE_ACTIONS
    | {
        "kinesis:DescribeStream",
        "kinesis:DescribeStreamSummary",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
    },
    "score_sync": SERVICE_ACTIONS
    | {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"},
    "refresher": SERVICE_ACTIONS,
}
# Which module inputs make each function build a client of each service (the code builds it only when its
# setting is present). Every client the code builds must be listed here or in ALWAYS_BUILT.
GATED_BY = {
    ("score_sync", "pinpoint"): ("pinpoint_application_id",),
    ("score_sync", "events"): ("event_bus_arn",),
    ("score_sync", "customer-profiles"): ("customer_profiles_domain_name",),
    ("scorer", "ssm"): ("recipient_hash_key_parameter",),
    # the refresher exists only with decay or a sliding window rule
    ("refresher", "dynamodb"): ("decay_half_life_hours",),
}
ALWAYS_BUILT = {("scorer", "dynamodb"), ("scorer", "sqs")}
DECLARED = set(re.findall(r'^variable "([^"]+)"', (ROOT / "variables.tf").read_text(), re.M))


@pytest.fixture(scope="module")
def code_calls() -> dict[str, dict[str, dict[str, set[str]]]]:
    return calls_by_function()


def granted_to(plan: Plan, function: str) -> set[str]:
    """Every action of every role policy attached to the function's role (in any file of the module)."""
    actions: set[str] = set()
    for address in plan.changes:
        if not address.startswith("aws_iam_role_policy."):
            continue
        config_address = re.sub(r"\[[^]]*\]$", "", address)
        references = plan.configured(config_address)["expressions"]["role"]["references"]
        # the function's own policy (for_each over the functions) and any other attached to its role
        own = address == f'aws_iam_role_policy.function["{function}"]'
        if own or f'aws_iam_role.function["{function}"]' in references:
            for stmt in plan.policy(address)["Statement"]:
                actions.update(as_list(stmt["Action"]))
    return actions


def test_every_client_the_code_builds_has_a_known_gate(
    code_calls: dict[str, dict[str, dict[str, set[str]]]],
) -> None:
    built = {(function, service) for function, services in code_calls.items() for service in services}
    assert built == ALWAYS_BUILT | set(GATED_BY)
    # The reading itself finds the calls it must (a broken reader would make the comparisons vacuous).
    assert code_calls["scorer"]["dynamodb"] and code_calls["score_sync"]["pinpoint"]


@pytest.mark.parametrize("combination", ["minimal", "full", "existing", "every_client"])
@pytest.mark.parametrize("function", ["scorer", "score_sync", "refresher"])
def test_roles_grant_nothing_the_code_does_not_call(
    combination: str,
    function: str,
    code_calls: dict[str, dict[str, dict[str, set[str]]]],
    request: pytest.FixtureRequest,
) -> None:
    plan = (
        planned(request.getfixturevalue("plans"), "every_client") if combination == "every_client" else None
    )
    plan = plan or request.getfixturevalue(combination)
    called = {action for actions in code_calls[function].values() for action in actions}
    unused = granted_to(plan, function) - called - PLATFORM_ACTIONS[function]
    assert unused == set()


@pytest.mark.parametrize(
    ("function", "service"), sorted(ALWAYS_BUILT | set(GATED_BY)), ids=lambda value: str(value)
)
def test_roles_grant_everything_the_code_calls(
    function: str,
    service: str,
    code_calls: dict[str, dict[str, dict[str, set[str]]]],
    plans: dict[str, Plan | PlanFailure | None],
) -> None:
    inputs = GATED_BY.get((function, service), ())
    missing = [name for name in inputs if name not in DECLARED]
    if missing:
        sites = sorted({site for sites in code_calls[function][service].values() for site in sites})
        pytest.skip(f"the module has no input {missing} yet, so nothing builds these calls: {sites}")
    assert all(name in EVERY_CLIENT for name in inputs), f"set {inputs} in EVERY_CLIENT to enable {service}"
    called = code_calls[function][service]
    assert set(called) - granted_to(planned(plans, "every_client"), function) == set(), called
