"""Every name the module derives from `name_prefix` stays within AWS's limit for its resource type.

name_prefix admits 48 characters (variables.tf). The AWS provider does not check most of these lengths
at plan and moto does not check them at apply, so a suffix that is too long only fails on a real
`terraform apply`. One plan with the longest prefix and every optional part on (the archive and its
SMS log route, SES and SMS wiring, Customer Profiles, attribution, the refresher, alarms, the dashboard)
checks them all; a resource type with a name this table does not know fails the test, so a new one
cannot slip through unchecked.
"""

from __future__ import annotations

from typing import Any

import pytest
import tftest

from simulator.local_cloud.moto_server import EmbeddedMoto
from tests.plan.test_tf_plan import FULL, Plan, wrapper
from tests.plan.test_tf_successor import SUCCESSOR

pytestmark = pytest.mark.plan

__all__ = ["wrapper"]  # fixture used here, defined in test_tf_plan.py

LONGEST_PREFIX = "Longest_prefix-" + "x" * 33  # 48 characters, the most name_prefix admits

# (resource type, attribute) -> AWS's maximum length (each service's API reference, CreateX / PutX).
LIMITS: dict[tuple[str, str], int] = {
    ("aws_iam_role", "name"): 64,
    ("aws_iam_role_policy", "name"): 128,
    ("aws_lambda_function", "function_name"): 64,
    ("aws_cloudwatch_log_group", "name"): 512,
    ("aws_cloudwatch_log_subscription_filter", "name"): 512,
    ("aws_cloudwatch_log_stream", "name"): 512,
    ("aws_sqs_queue", "name"): 80,
    ("aws_kinesis_stream", "name"): 128,
    ("aws_kinesis_firehose_delivery_stream", "name"): 64,
    ("aws_dynamodb_table", "name"): 255,
    ("aws_s3_bucket", "bucket"): 63,
    ("aws_glue_catalog_database", "name"): 255,
    ("aws_glue_catalog_table", "name"): 255,
    ("aws_athena_workgroup", "name"): 128,
    ("aws_athena_named_query", "name"): 128,
    ("aws_scheduler_schedule", "name"): 64,
    ("aws_cloudwatch_event_rule", "name"): 64,
    ("aws_cloudwatch_event_target", "target_id"): 64,
    ("aws_sns_topic", "name"): 256,
    ("aws_cloudwatch_metric_alarm", "alarm_name"): 255,
    ("aws_cloudwatch_dashboard", "dashboard_name"): 255,
    ("aws_pipes_pipe", "name"): 64,
    ("aws_kms_alias", "name"): 256,
    ("aws_customerprofiles_domain", "domain_name"): 64,
    ("aws_sesv2_configuration_set", "configuration_set_name"): 64,
    ("aws_sesv2_configuration_set_event_destination", "event_destination_name"): 64,
    ("aws_pinpointsmsvoicev2_configuration_set", "name"): 64,
}
NAME_ATTRIBUTES = {attribute for _, attribute in LIMITS} | {"name"}

INPUTS: dict[str, Any] = {
    **FULL,
    **SUCCESSOR,
    "name_prefix": LONGEST_PREFIX,
    "create_archive": True,
    "create_alarms": True,
    "create_dashboard": True,
}


@pytest.fixture(scope="module")
def longest(wrapper: tftest.TerraformTest, moto_server: EmbeddedMoto) -> Plan:
    tf_vars = {"aws_endpoint_url": moto_server.endpoint_url, "inputs": INPUTS}
    return Plan(wrapper.plan(output=True, tf_vars=tf_vars, lock=False))


def named_resources(plan: Plan) -> list[tuple[str, str, str, str]]:
    """(address, type, attribute, value) of every planned name-like attribute known at plan."""
    found = []
    for address in plan.changes:
        after = plan.after(address) or {}
        kind = address.split("[")[0].rsplit(".", 2)[-2]
        for attribute in NAME_ATTRIBUTES:
            value = after.get(attribute)
            if isinstance(value, str):
                found.append((address, kind, attribute, value))
    return found


def test_every_derived_name_fits_its_aws_limit_with_the_longest_prefix(longest: Plan) -> None:
    names = named_resources(longest)
    assert len(LONGEST_PREFIX) == 48
    # the plan has the parts whose names are longest: the archive, its SMS route, the refresher
    kinds = {kind for _, kind, _, _ in names}
    assert {"aws_kinesis_firehose_delivery_stream", "aws_scheduler_schedule", "aws_athena_workgroup"} <= kinds
    too_long = []
    unknown = set()
    for address, kind, attribute, value in names:
        limit = LIMITS.get((kind, attribute))
        if limit is None:
            if attribute == "name":
                unknown.add(kind)
            continue
        if len(value) > limit:
            too_long.append(f"{address}.{attribute} = {value!r}: {len(value)} > {limit}")
    assert too_long == []
    assert unknown == set(), f"resource types with a name and no limit in LIMITS: {sorted(unknown)}"
    # and names that contain the prefix contain all of it (none is cut short to fit)
    prefixed = [value for _, _, _, value in names if value.startswith(LONGEST_PREFIX[:20])]
    assert prefixed and all(value.startswith(LONGEST_PREFIX) for value in prefixed)
