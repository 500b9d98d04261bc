"""Least-privilege and encryption review of the module, read from Terraform plans (offline, tftest).

Rule-based on purpose: tests/plan/test_tf_plan.py pins every statement of the known policies; this review
checks properties that must hold for *any* policy or store the module plans, so a statement or a table added
later is reviewed too. checkov runs in tests/plan/test_tf_checkov.py (zero failed checks).

Plans of the wrapper root tests/plan/fixtures/wrapper: `full` (customer KMS key, Pinpoint, EventBridge,
X-Ray tracing), `default` (name_prefix only) and `existing` (an existing stream with its own key).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import tftest

from simulator.local_cloud.moto_server import EmbeddedMoto

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
MODULE = "module.engagement_scoring."
ACCOUNT = "123456789012"  # moto's account, answered to sts:GetCallerIdentity
REGION = "eu-west-1"  # the wrapper's provider region
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
STREAM_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/99999999-12ab-34cd-56ef-1234567890ab"
EVENT_BUS = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/scores"
PINPOINT_APP = "0123456789abcdef0123456789abcdef"
EXISTING_STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/external-events"
SKIP_IN_COPY = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "build")

INPUTS: dict[str, dict[str, Any]] = {
    "full": {
        "name_prefix": "lp-full",
        "kms_key_arn": KMS_KEY,
        "pinpoint_application_id": PINPOINT_APP,
        "event_bus_arn": EVENT_BUS,
        "lambda_tracing_mode": "Active",
        "stream_mode": "PROVISIONED",
        "stream_shard_count": 2,
        # decay on: the refresher, its index, schedule and roles are reviewed too
        "decay_half_life_hours": 168,
        # attribution on: the campaign table and the scorer's attribution policy are reviewed too
        "attribution_enabled": True,
    },
    "default": {"name_prefix": "lp-min"},
    "existing": {
        "name_prefix": "lp-byo",
        "existing_kinesis_stream_arn": EXISTING_STREAM,
        "existing_kinesis_stream_kms_key_arn": STREAM_KEY,
        "pinpoint_application_id": PINPOINT_APP,
    },
}

# The documented exceptions (iam.tf, docs/reliability.md): the only resources with a "*", and why.
WILDCARD_EXCEPTIONS: list[tuple[re.Pattern[str], frozenset[str] | None, str]] = [
    (
        re.compile(r"^\*$"),
        frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"}),
        "X-Ray's write actions support no resource-level permissions",
    ),
    (
        re.compile(
            rf"^arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/(?P<prefix>[a-z0-9-]+)-(scorer|score-sync|refresher):\*$"
        ),
        frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
        "the log streams of the function's own log group",
    ),
    (
        re.compile(
            rf"^arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/(?P<prefix>[a-z0-9-]+)-user-scores/stream/\*$"
        ),
        None,
        "the stream label of the user_scores table is chosen by DynamoDB",
    ),
    (
        re.compile(rf"^arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{PINPOINT_APP}/\*$"),
        None,
        "endpoints and users are sub-resources of the one Pinpoint application",
    ),
]
PINPOINT_APP_ARN = f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{PINPOINT_APP}"
# Given as inputs, not created by the module.
EXTERNAL_RESOURCES = {KMS_KEY, STREAM_KEY, EVENT_BUS, EXISTING_STREAM, PINPOINT_APP_ARN}


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class PlannedModule:
    def __init__(self, raw: tftest.TerraformPlanOutput, prefix: str) -> None:
        self.prefix = prefix
        self.after = {
            address.removeprefix(MODULE): change["change"]["after"]
            for address, change in raw.resource_changes.items()
            if address.startswith(MODULE)
        }
        self.unknown = {
            address.removeprefix(MODULE): change["change"]["after_unknown"]
            for address, change in raw.resource_changes.items()
            if address.startswith(MODULE)
        }

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {a: v for a, v in self.after.items() if a.startswith(resource_type + ".")}

    def policies(self) -> dict[str, dict[str, Any]]:
        """Every permission policy (inline role policies) by address."""
        return {a: json.loads(v["policy"]) for a, v in self.of_type("aws_iam_role_policy").items()}

    def trust_policies(self) -> dict[str, dict[str, Any]]:
        return {a: json.loads(v["assume_role_policy"]) for a, v in self.of_type("aws_iam_role").items()}


@pytest.fixture(scope="module")
def plans(
    module_copy: Path,
    tmp_path_factory: pytest.TempPathFactory,
    terraform_binary: str,
    tf_env: dict[str, str],
    moto_server: EmbeddedMoto,
) -> Iterator[dict[str, PlannedModule]]:
    copy = tmp_path_factory.mktemp("least-privilege") / "module"
    shutil.copytree(module_copy, copy, ignore=SKIP_IN_COPY)
    shutil.copytree(ROOT / "tests/plan/fixtures", copy / "tests/plan/fixtures", ignore=SKIP_IN_COPY)
    wrapper = tftest.TerraformTest(
        str(copy / "tests/plan/fixtures/wrapper"), binary=terraform_binary, env=tf_env
    )
    wrapper.setup(cleanup_on_exit=True)

    def plan(inputs: dict[str, Any]) -> PlannedModule:
        tf_vars = {"aws_endpoint_url": moto_server.endpoint_url, "inputs": inputs}
        return PlannedModule(wrapper.plan(output=True, tf_vars=tf_vars, lock=False), inputs["name_prefix"])

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(plan, inputs) for name, inputs in INPUTS.items()}
        yield {name: future.result() for name, future in futures.items()}


def review_statement(statement: dict[str, Any], prefix: str) -> list[str]:
    """Everything wrong with one Allow statement of a permission policy (empty = fine)."""
    problems = []
    if set(statement) - {"Sid", "Effect", "Action", "Resource", "Condition"}:
        problems.append(f"unexpected keys (NotAction/NotResource/Principal?): {sorted(statement)}")
    if statement.get("Effect") != "Allow":
        return problems  # a Deny only narrows
    actions = as_list(statement.get("Action", []))
    for action in actions:
        if "*" in action or "?" in action or not re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action):
            problems.append(f"wildcard or malformed action {action!r}")
    for resource in as_list(statement.get("Resource", [])):
        if "*" not in resource:
            if resource in EXTERNAL_RESOURCES:
                continue
            arn = re.fullmatch(rf"arn:aws:[a-z0-9-]+:{REGION}:{ACCOUNT}:(?P<rest>.+)", resource)
            own = arn is not None and re.search(rf"(^|[/:]){re.escape(prefix)}-[a-z]", arn["rest"])
            if not own:
                problems.append(f"resource {resource!r} is not one of this deployment's resources")
            continue
        for pattern, allowed_actions, _reason in WILDCARD_EXCEPTIONS:
            match = pattern.fullmatch(resource)
            if match is None:
                continue
            if allowed_actions is not None and not set(actions) <= allowed_actions:
                problems.append(f"{resource!r} is granted for {sorted(set(actions) - allowed_actions)}")
            if "prefix" in match.groupdict() and match["prefix"] != prefix:
                problems.append(f"{resource!r} belongs to another deployment")
            break
        else:
            problems.append(f"undocumented wildcard resource {resource!r}")
    return problems


@pytest.mark.parametrize("case", INPUTS)
def test_no_wildcard_action_and_every_resource_scoped_except_the_documented_exceptions(
    plans: dict[str, PlannedModule], case: str
) -> None:
    planned = plans[case]
    policies = planned.policies()
    assert len(policies) >= 2  # scorer and score sync at least
    problems = {
        f"{address} {statement.get('Sid')}": review_statement(statement, planned.prefix)
        for address, policy in policies.items()
        for statement in policy["Statement"]
    }
    assert {key: found for key, found in problems.items() if found} == {}
    granted = {a for p in policies.values() for s in p["Statement"] for a in as_list(s["Action"])}
    # Nothing that administers IAM, deletes data or reads beyond the pipeline's own items.
    dangerous = re.compile(
        r"^(iam|sts|organizations|kms:(?!Decrypt$|GenerateDataKey$))|:(Delete|Create(?!LogStream$)|Put\w*Policy|PassRole|Tag|Untag)"
    )
    assert sorted(a for a in granted if dangerous.search(a)) == []


def test_the_review_catches_what_it_is_meant_to_catch() -> None:
    """The reviewer itself: each kind of over-grant is reported."""
    bad: list[dict[str, Any]] = [
        {"Sid": "a", "Effect": "Allow", "Action": "dynamodb:*", "Resource": "arn:aws:dynamodb:x"},
        {"Sid": "b", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"},
        {"Sid": "c", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
        {
            "Sid": "d",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": f"arn:aws:sqs:{REGION}:{ACCOUNT}:*",
        },
        {
            "Sid": "e",
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other-scorer:*",
        },
        {
            "Sid": "f",
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/someone-elses-table",
        },
    ]
    assert all(review_statement(statement, "lp-full") for statement in bad)
    good = {
        "Sid": "g",
        "Effect": "Allow",
        "Action": ["logs:PutLogEvents"],
        "Resource": [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/lp-full-scorer:*"],
    }
    assert review_statement(good, "lp-full") == []


@pytest.mark.parametrize("case", INPUTS)
def test_roles_trust_only_their_service_and_pinpoint_is_protected_from_confused_deputies(
    plans: dict[str, PlannedModule], case: str
) -> None:
    trust_policies = plans[case].trust_policies()
    assert len(trust_policies) >= 2  # the scorer's and the score sync's roles at least
    # The Pinpoint event stream's role exists exactly when there is a Pinpoint application.
    pinpoint_roles = [address for address in trust_policies if "pinpoint_stream" in address]
    assert len(pinpoint_roles) == (1 if "pinpoint_application_id" in INPUTS[case] else 0), sorted(
        trust_policies
    )
    for address, policy in trust_policies.items():
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow" and as_list(statement["Action"]) == ["sts:AssumeRole"]
            services = as_list(statement["Principal"]["Service"])
            assert set(statement["Principal"]) == {"Service"}, address
            if "pinpoint_stream" in address:
                assert services == ["pinpoint.amazonaws.com"]
                condition = statement["Condition"]
                assert condition["StringEquals"]["aws:SourceAccount"] == ACCOUNT
                assert all(
                    arn.startswith(f"arn:aws:mobiletargeting:{REGION}:{ACCOUNT}:apps/{PINPOINT_APP}")
                    for arn in as_list(condition["ArnLike"]["aws:SourceArn"])
                )
            elif "refresher_schedule" in address:
                # EventBridge Scheduler invokes the refresher; only this account's schedules may use the role
                assert services == ["scheduler.amazonaws.com"]
                assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
            else:
                assert services == ["lambda.amazonaws.com"], address


def test_every_store_is_encrypted_at_rest_with_the_customer_key_when_given(
    plans: dict[str, PlannedModule],
) -> None:
    full = plans["full"]
    streams, tables, queues = (
        full.of_type(t) for t in ("aws_kinesis_stream", "aws_dynamodb_table", "aws_sqs_queue")
    )
    assert len(streams) == 1 and len(tables) == 4 and len(queues) == 1  # with the campaign table
    for stream in streams.values():
        assert (stream["encryption_type"], stream["kms_key_id"]) == ("KMS", KMS_KEY)
    for address, table in tables.items():
        assert table["server_side_encryption"] == [{"enabled": True, "kms_key_arn": KMS_KEY}], address
    for queue in queues.values():
        assert queue["kms_master_key_id"] == KMS_KEY
    functions, log_groups = full.of_type("aws_lambda_function"), full.of_type("aws_cloudwatch_log_group")
    assert len(functions) == 3 and len(log_groups) == 3  # the scorer, the score sync, the refresher
    for address, function in functions.items():
        assert function["kms_key_arn"] == KMS_KEY, address  # environment variables
    for address, group in log_groups.items():
        assert group["kms_key_id"] == KMS_KEY, address


def test_every_store_is_encrypted_at_rest_by_default(plans: dict[str, PlannedModule]) -> None:
    default = plans["default"]
    streams, tables, queues = (
        default.of_type(t) for t in ("aws_kinesis_stream", "aws_dynamodb_table", "aws_sqs_queue")
    )
    assert len(streams) == 1 and len(tables) == 3 and len(queues) == 1
    for stream in streams.values():
        assert (stream["encryption_type"], stream["kms_key_id"]) == ("KMS", "alias/aws/kinesis")
    for address, table in tables.items():
        # No customer key: DynamoDB encrypts with its AWS owned key (it cannot be switched off); the
        # provider leaves the block unknown until apply, and no block may disable it.
        assert table.get("server_side_encryption") in (None, [])
        assert default.unknown[address].get("server_side_encryption") is True, address
    for queue in queues.values():
        assert queue["sqs_managed_sse_enabled"] is True


def test_an_existing_stream_keeps_its_own_key_and_the_key_is_granted_narrowly(
    plans: dict[str, PlannedModule],
) -> None:
    existing = plans["existing"]
    assert existing.of_type("aws_kinesis_stream") == {}
    grants = [
        statement
        for policy in existing.policies().values()
        for statement in policy["Statement"]
        if any(a.startswith("kms:") for a in as_list(statement["Action"]))
    ]
    assert grants and all(as_list(s["Resource"]) == [STREAM_KEY] for s in grants)
    assert {a for s in grants for a in as_list(s["Action"])} <= {"kms:Decrypt", "kms:GenerateDataKey"}
