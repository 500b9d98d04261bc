"""Input validation of the module: every bad input is rejected alone, with the message meant for it.

The module's variables.tf is planned on its own (a root with no resources and no providers), which
evaluates exactly the module's type constraints and validation blocks in a fraction of a second per
case. test_tf_plan.py shows that the same messages surface through a module call, and covers the
cross-input rules (preconditions), which need the whole module.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.plan


class VariablesRoot:
    """A root holding only the module's variables.tf."""

    def __init__(self, directory: Path, binary: str, env: dict[str, str]) -> None:
        self.directory = directory
        self.binary = binary
        self.env = env

    def plan(self, inputs: dict[str, Any]) -> tuple[int, str]:
        """Plan with `inputs` as a tfvars JSON file; return the exit code and the normalised output."""
        var_file = self.directory / "case.tfvars.json"
        var_file.write_text(json.dumps(inputs))
        result = subprocess.run(
            [self.binary, "plan", "-input=false", "-lock=false", "-no-color", f"-var-file={var_file.name}"],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return result.returncode, normalise(result.stdout + result.stderr)


def normalise(output: str) -> str:
    """Drop Terraform's box drawing and line wrapping so that messages can be matched as one line."""
    return re.sub(r"\s+", " ", re.sub(r"[│╷╵├─]", " ", output))


@pytest.fixture(scope="module")
def variables_root(
    tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, tf_env: dict[str, str]
) -> VariablesRoot:
    directory = tmp_path_factory.mktemp("variables")
    shutil.copy2(ROOT / "variables.tf", directory / "variables.tf")
    init = subprocess.run(
        [terraform_binary, "init", "-backend=false", "-input=false", "-no-color"],
        cwd=directory,
        env=tf_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    return VariablesRoot(directory, terraform_binary, tf_env)


VALID_EDGES: dict[str, dict[str, Any]] = {
    "minimal": {"name_prefix": "a"},
    "longest name prefix": {"name_prefix": "A" + "b-_9" * 11 + "xyz"},
    "upper bounds": {
        "name_prefix": "edge",
        "stream_mode": "PROVISIONED",
        "stream_shard_count": 10000,
        "stream_retention_hours": 8760,
        "dedupe_ttl_hours": 87600,
        "scorer_batch_size": 10000,
        "score_sync_batch_size": 10000,
        "scorer_maximum_batching_window_seconds": 300,
        "scorer_parallelization_factor": 10,
        "score_sync_parallelization_factor": 10,
        "scorer_maximum_retry_attempts": 10000,
        "scorer_maximum_record_age_seconds": 604800,
        "scorer_memory_size": 10240,
        "scorer_timeout": 900,
        "score_publish_min_delta": 1000000,
        "tier_hysteresis_points": 1000000,
        "refresher_schedule_minutes": 1440,
        "refresher_timeout": 900,
        "log_retention_days": 3653,
        "lambda_runtime": "python3.13",
        "lambda_architecture": "x86_64",
        "lambda_tracing_mode": "Active",
    },
    "lower bounds and sentinels": {
        "name_prefix": "edge",
        "stream_retention_hours": 24,
        "scorer_batch_size": 1,
        "score_sync_batch_size": 1,
        "scorer_maximum_batching_window_seconds": 0,
        "scorer_maximum_retry_attempts": -1,
        "scorer_maximum_record_age_seconds": -1,
        "score_sync_maximum_record_age_seconds": 60,
        "log_retention_days": 0,
        "scorer_reserved_concurrency": 1,
        "score_sync_reserved_concurrency": 1,
        "decay_half_life_hours": 0,
        "score_publish_min_delta": 0,
        "tier_hysteresis_points": 0,
        "refresher_schedule_minutes": 1,
        "refresher_timeout": 10,
        "tiers": [],
        "score_rules": [],
    },
    "rules with every optional attribute": {
        "name_prefix": "edge",
        "score_rules": [
            {"event_type": "_email.open", "points": 10, "once_per_message": True},
            {"event_type": "webinar_attended", "points": 75.5, "channel": "custom"},
            {"event_type": "Rendering Failure", "points": -1000000, "channel": "email"},
            {"event_type": "TEXT_DELIVERED", "points": 1000000, "channel": "sms", "once_per_message": False},
        ],
        "tiers": [{"name": "low", "min_score": -50}, {"name": "high", "min_score": 50}],
        "score_floor": -100,
        "score_ceiling": 100,
        "existing_kinesis_stream_arn": "arn:aws:kinesis:eu-west-1:123456789012:stream/external.events-1",
        "kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "event_bus_arn": "arn:aws:events:eu-west-1:123456789012:event-bus/scores",
        "pinpoint_application_id": "0123456789abcdef0123456789abcdef",
        "role_path": "/engagement/scoring-v2/",
        "role_permissions_boundary": "arn:aws:iam::123456789012:policy/boundaries/engagement",
        "create": False,
    },
    "machine engagement at its bounds": {
        "name_prefix": "edge",
        "machine_engagement": {
            "weights": {"privacy_proxy_open": 1, "scanner_list": 0, "send_time_proximity": 0.25},
            "privacy_proxy_cidrs": ["192.0.2.0/24", "2001:db8::/32"],
            "scanner_user_agents": ["ExampleLinkScanner"],
            "scanner_cidrs": ["198.51.100.7/32"],
            "send_time_proximity_seconds": 86400,
            "burst_window_ms": 0,
            "burst_min_links": 100,
        },
    },
    "successor wiring": {
        "name_prefix": "edge",
        "user_key_tag": "u" * 128,
        "campaign_tag": "c-_9" * 64,
        "recipient_user_key": "hashed_address",
        "recipient_hash_key_parameter": "/a/b.c_d-e",
        "max_clock_skew_seconds": 0,
        "ses_configuration_set_names": ["a", "S" * 64, "with_under-dash"],
        "create_ses_configuration_sets": True,
        "create_ses_event_destinations": False,
        "ses_event_types": ["SUBSCRIPTION"],
        "sms_configuration_set_names": ["sms"],
        "sms_event_types": ["ALL", "MEDIA_FILE_SIZE_EXCEEDED"],
        "sms_event_log_retention_days": 0,
        "sms_inbound_topic_arn": "arn:aws:sns:eu-west-1:123456789012:two-way_sms-1",
        "customer_profiles_domain_name": "D" * 64,
        "create_customer_profiles_domain": True,
        "customer_profiles_expiration_days": 1098,
        "customer_profiles_dead_letter_queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/dlq",
        "customer_profiles_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-0",
        "customer_profiles_object_type_name": "E" + "x_-9" * 63 + "y",
        "customer_profiles_create_object_type": False,
    },
    "attribution at its bounds": {
        "name_prefix": "edge",
        "attribution_enabled": False,
        "attribution_touch_event_types": [],
        "attribution_lookback_hours": 2160,
        "attribution_max_touches": 1,
        "conversion_rules": [
            {"event_type": "signup"},
            {"event_type": "b" * 256, "quantity_metric": "q" * 128},
        ],
        "campaign_costs": {"c" * 512: 0},
    },
    "hash key parameter as ARN, longest names": {
        "name_prefix": "edge",
        "recipient_hash_key_parameter": "arn:aws:ssm:eu-west-1:123456789012:parameter/" + "k" * 2002,
        "max_clock_skew_seconds": 604800,
        "customer_profiles_expiration_days": 1,
    },
}


@pytest.mark.parametrize("inputs", VALID_EDGES.values(), ids=VALID_EDGES.keys())
def test_valid_inputs_are_accepted(variables_root: VariablesRoot, inputs: dict[str, Any]) -> None:
    code, output = variables_root.plan(inputs)
    assert code == 0, output


def rule(event_type: Any = "_email.open", points: Any = 10, **extra: Any) -> dict[str, Any]:
    return {"event_type": event_type, "points": points, **extra}


# (case id, inputs on top of a valid name_prefix, variable expected in the error, message substring)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    ("name prefix starts with a digit", {"name_prefix": "1engagement"}, "name_prefix", "start with a letter"),
    ("name prefix too long", {"name_prefix": "a" * 49}, "name_prefix", "must be 1-48 characters"),
    (
        "name prefix with a dot",
        {"name_prefix": "acme.prod"},
        "name_prefix",
        "only letters, digits, '-' and '_'",
    ),
    ("empty name prefix", {"name_prefix": ""}, "name_prefix", "must be 1-48 characters"),
    ("scorer batch size 0", {"scorer_batch_size": 0}, "scorer_batch_size", "from 1 to 10000"),
    ("scorer batch size too big", {"scorer_batch_size": 10001}, "scorer_batch_size", "from 1 to 10000"),
    ("fractional batch size", {"score_sync_batch_size": 2.5}, "score_sync_batch_size", "whole number"),
    (
        "unknown starting position",
        {"scorer_starting_position": "AT_TIMESTAMP"},
        "scorer_starting_position",
        "must be LATEST or TRIM_HORIZON",
    ),
    (
        "lower-case starting position",
        {"score_sync_starting_position": "latest"},
        "score_sync_starting_position",
        "must be LATEST or TRIM_HORIZON",
    ),
    ("retention too short", {"stream_retention_hours": 23}, "stream_retention_hours", "from 24 to 8760"),
    ("retention too long", {"stream_retention_hours": 8761}, "stream_retention_hours", "from 24 to 8760"),
    ("unknown stream mode", {"stream_mode": "on_demand"}, "stream_mode", "ON_DEMAND or PROVISIONED"),
    ("zero shards", {"stream_shard_count": 0}, "stream_shard_count", "from 1 to 10000"),
    (
        "parallelization factor 11",
        {"scorer_parallelization_factor": 11},
        "scorer_parallelization_factor",
        "from 1 to 10",
    ),
    (
        "batching window 301 s",
        {"scorer_maximum_batching_window_seconds": 301},
        "scorer_maximum_batching_window_seconds",
        "from 0 to 300",
    ),
    (
        "retries below -1",
        {"score_sync_maximum_retry_attempts": -2},
        "score_sync_maximum_retry_attempts",
        "from -1",
    ),
    (
        "record age 59 s",
        {"scorer_maximum_record_age_seconds": 59},
        "scorer_maximum_record_age_seconds",
        "from 60 to 604800",
    ),
    (
        "duplicate event types",
        {"score_rules": [rule("_email.open", 10), rule("_email.open", 20)]},
        "score_rules",
        "event_type values must be unique",
    ),
    (
        "empty event type",
        {"score_rules": [rule("")]},
        "score_rules",
        "needs an event_type of 1-128 characters",
    ),
    ("event type with a quote", {"score_rules": [rule('_email"open')]}, "score_rules", "needs an event_type"),
    (
        "event type with a trailing space",
        {"score_rules": [rule("_email.open ")]},
        "score_rules",
        "needs an event_type",
    ),
    ("event type too long", {"score_rules": [rule("e" * 129)]}, "score_rules", "needs an event_type"),
    ("null event type", {"score_rules": [rule(None)]}, "score_rules", "needs an event_type"),
    (
        "points too large",
        {"score_rules": [rule(points=1000001)]},
        "score_rules",
        "points between -1000000 and 1000000",
    ),
    ("null points", {"score_rules": [rule(points=None)]}, "score_rules", "points between"),
    (
        "unknown channel",
        {"score_rules": [rule(channel="fax")]},
        "score_rules",
        "channel must be one of email, sms",
    ),
    (
        "missing points",
        {"score_rules": [{"event_type": "_email.open"}]},
        "score_rules",
        'attribute "points" is required',
    ),
    ("points as text", {"score_rules": [rule(points="ten")]}, "score_rules", "a number is required"),
    (
        "duplicate tier names",
        {"tiers": [{"name": "hot", "min_score": 1}, {"name": "hot", "min_score": 2}]},
        "tiers",
        "must be unique",
    ),
    (
        "duplicate tier thresholds",
        {"tiers": [{"name": "a", "min_score": 1}, {"name": "b", "min_score": 1}]},
        "tiers",
        "must be unique",
    ),
    (
        "tier name with spaces",
        {"tiers": [{"name": "very hot", "min_score": 1}]},
        "tiers",
        "name of 1-64 letters",
    ),
    ("unknown user key mode", {"user_key_mode": "email"}, "user_key_mode", "auto, endpoint_id or user_id"),
    ("negative decay", {"decay_half_life_hours": -1}, "decay_half_life_hours", "from 0 (no decay)"),
    ("dedupe shorter than a day", {"dedupe_ttl_hours": 23}, "dedupe_ttl_hours", "from 24 to 87600"),
    ("unsupported runtime", {"lambda_runtime": "python3.9"}, "lambda_runtime", "python3.12 or python3.13"),
    ("unknown log level", {"log_level": "TRACE"}, "log_level", "DEBUG, INFO, WARNING or ERROR"),
    (
        "retention CloudWatch rejects",
        {"log_retention_days": 42},
        "log_retention_days",
        "one of CloudWatch Logs' values",
    ),
    ("memory below 128 MB", {"scorer_memory_size": 64}, "scorer_memory_size", "from 128 to 10240"),
    ("timeout above 900 s", {"score_sync_timeout": 901}, "score_sync_timeout", "from 1 to 900"),
    (
        "refresher schedule of 0 minutes",
        {"refresher_schedule_minutes": 0},
        "refresher_schedule_minutes",
        "whole number of minutes from 1 to 1440",
    ),
    (
        "refresher schedule of part of a minute",
        {"refresher_schedule_minutes": 2.5},
        "refresher_schedule_minutes",
        "whole number of minutes from 1 to 1440",
    ),
    ("refresher timeout below 10 s", {"refresher_timeout": 5}, "refresher_timeout", "from 10 to 900"),
    (
        "negative reserved concurrency",
        {"scorer_reserved_concurrency": -1},
        "scorer_reserved_concurrency",
        "null or a whole number >= 1",
    ),
    (
        "scorer reserved concurrency 0 disables the function",
        {"scorer_reserved_concurrency": 0},
        "scorer_reserved_concurrency",
        "null or a whole number >= 1 (0 would stop the function",
    ),
    (
        "sync reserved concurrency 0 disables the function",
        {"score_sync_reserved_concurrency": 0},
        "score_sync_reserved_concurrency",
        "null or a whole number >= 1 (0 would stop the function",
    ),
    (
        "fractional sync reserved concurrency",
        {"score_sync_reserved_concurrency": 1.5},
        "score_sync_reserved_concurrency",
        "null or a whole number >= 1",
    ),
    ("role path without slashes", {"role_path": "engagement"}, "role_path", "must be an IAM path"),
    ("role path with a double slash", {"role_path": "/a//b/"}, "role_path", "must be an IAM path"),
    (
        "role ARN as permissions boundary",
        {"role_permissions_boundary": "arn:aws:iam::123456789012:role/boundary"},
        "role_permissions_boundary",
        "must be an IAM policy ARN",
    ),
    (
        "KMS alias instead of key ARN",
        {"kms_key_arn": "alias/engagement"},
        "kms_key_arn",
        "KMS key ARN (not an alias)",
    ),
    (
        "existing stream given by name",
        {"existing_kinesis_stream_arn": "engagement-events"},
        "existing_kinesis_stream_arn",
        "must be a Kinesis stream ARN",
    ),
    (
        "event bus given by name",
        {"event_bus_arn": "scores"},
        "event_bus_arn",
        "must be an EventBridge bus ARN",
    ),
    (
        "Pinpoint id with dashes",
        {"pinpoint_application_id": "0123-4567"},
        "pinpoint_application_id",
        "Pinpoint application id",
    ),
    ("reserved event source", {"event_source": "aws.scoring"}, "event_source", "must not start with 'aws.'"),
    (
        "reserved metrics namespace",
        {"metrics_namespace": "AWS/Lambda"},
        "metrics_namespace",
        "must not start with AWS/",
    ),
    ("floor out of range", {"score_floor": -2e9}, "score_floor", "between -1e9 and 1e9"),
    ("user key tag with a colon", {"user_key_tag": "ses:user"}, "user_key_tag", "1-128 letters, digits"),
    (
        "user key tag too long",
        {"user_key_tag": "u" * 129},
        "user_key_tag",
        "within EventBridge's 256 characters",
    ),
    ("empty campaign tag", {"campaign_tag": ""}, "campaign_tag", "1-256 letters, digits"),
    (
        "unknown recipient user key",
        {"recipient_user_key": "hashed"},
        "recipient_user_key",
        "none, address or hashed_address",
    ),
    (
        "hash key parameter with a space",
        {"recipient_hash_key_parameter": "my key"},
        "recipient_hash_key_parameter",
        "must be an SSM parameter name",
    ),
    (
        "hash key parameter too long",
        {"recipient_hash_key_parameter": "k" * 2049},
        "recipient_hash_key_parameter",
        "must be an SSM parameter name",
    ),
    ("negative clock skew", {"max_clock_skew_seconds": -1}, "max_clock_skew_seconds", "from 0 to 604800"),
    (
        "negative publication threshold",
        {"score_publish_min_delta": -1},
        "score_publish_min_delta",
        "from 0 (publish every change) to 1000000 points",
    ),
    (
        "negative tier hysteresis",
        {"tier_hysteresis_points": -0.5},
        "tier_hysteresis_points",
        "from 0 (off) to 1000000 points",
    ),
    (
        "publication threshold above a million",
        {"score_publish_min_delta": 1000001},
        "score_publish_min_delta",
        "from 0 (publish every change) to 1000000 points",
    ),
    (
        "SES configuration set with a dot",
        {"ses_configuration_set_names": ["news.letter"]},
        "ses_configuration_set_names",
        "distinct SES configuration set names",
    ),
    (
        "duplicate SES configuration sets",
        {"ses_configuration_set_names": ["a", "a"]},
        "ses_configuration_set_names",
        "distinct SES configuration set names",
    ),
    (
        "SES event type in SES v1 spelling",
        {"ses_event_types": ["Open"]},
        "ses_event_types",
        "distinct SESv2 event types",
    ),
    ("no SES event types", {"ses_event_types": []}, "ses_event_types", "non-empty list"),
    (
        "unknown SMS event type",
        {"sms_event_types": ["TEXT_OPTOUT"]},
        "sms_event_types",
        "End User Messaging event types",
    ),
    (
        "SMS configuration set too long",
        {"sms_configuration_set_names": ["s" * 65]},
        "sms_configuration_set_names",
        "distinct configuration set names",
    ),
    (
        "SMS log retention CloudWatch rejects",
        {"sms_event_log_retention_days": 2},
        "sms_event_log_retention_days",
        "one of CloudWatch Logs' values",
    ),
    (
        "inbound topic given by name",
        {"sms_inbound_topic_arn": "two-way-sms"},
        "sms_inbound_topic_arn",
        "must be a standard SNS topic ARN",
    ),
    (
        "FIFO inbound topic",
        {"sms_inbound_topic_arn": "arn:aws:sns:eu-west-1:123456789012:replies.fifo"},
        "sms_inbound_topic_arn",
        "must be a standard SNS topic ARN",
    ),
    (
        "profiles domain with a dot",
        {"customer_profiles_domain_name": "acme.profiles"},
        "customer_profiles_domain_name",
        "1-64 letters, digits",
    ),
    (
        "profiles expiration above 1098 days",
        {"customer_profiles_expiration_days": 1099},
        "customer_profiles_expiration_days",
        "from 1 to 1098",
    ),
    (
        "profiles DLQ given by ARN",
        {"customer_profiles_dead_letter_queue_url": "arn:aws:sqs:eu-west-1:123456789012:dlq"},
        "customer_profiles_dead_letter_queue_url",
        "must be an SQS queue URL",
    ),
    (
        "profiles key given as alias",
        {"customer_profiles_kms_key_arn": "alias/profiles"},
        "customer_profiles_kms_key_arn",
        "must be a KMS key ARN",
    ),
    (
        "object type starting with an underscore",
        {"customer_profiles_object_type_name": "_profile"},
        "customer_profiles_object_type_name",
        "starting with a letter",
    ),
    (
        "machine weight above 1",
        {"machine_engagement": {"weights": {"burst": 1.5}}},
        "machine_engagement",
        "weights must be numbers from 0 to 1",
    ),
    (
        "negative machine weight",
        {"machine_engagement": {"weights": {"send_time_proximity": -0.5}}},
        "machine_engagement",
        "weights must be numbers from 0 to 1",
    ),
    (
        "unknown machine reason",
        {"machine_engagement": {"weights": {"human": 1}}},
        "machine_engagement",
        "weights may name only privacy_proxy_open",
    ),
    (
        "scanner address that is no CIDR block",
        {"machine_engagement": {"scanner_cidrs": ["198.51.100.300/32"]}},
        "machine_engagement",
        "must be CIDR blocks",
    ),
    (
        "proxy address without a prefix length",
        {"machine_engagement": {"privacy_proxy_cidrs": ["192.0.2.1"]}},
        "machine_engagement",
        "must be CIDR blocks",
    ),
    (
        "empty scanner user agent",
        {"machine_engagement": {"scanner_user_agents": [""]}},
        "machine_engagement",
        "each user agent is 1-512 characters",
    ),
    (
        "burst of one link",
        {"machine_engagement": {"burst_min_links": 1}},
        "machine_engagement",
        "burst_min_links from 2 to 100",
    ),
    (
        "machine policy too large for the environment",
        {"machine_engagement": {"scanner_cidrs": [f"198.51.100.{i}/32" for i in range(100)]}},
        "machine_engagement",
        "at most 2048 characters",
    ),
    (
        "attribution look-back not whole hours",
        {"attribution_lookback_hours": 1.5},
        "attribution_lookback_hours",
        "whole number of hours from 1 to 2160",
    ),
    (
        "attribution look-back 0",
        {"attribution_lookback_hours": 0},
        "attribution_lookback_hours",
        "from 1 to 2160",
    ),
    ("51 touches", {"attribution_max_touches": 51}, "attribution_max_touches", "whole number from 1 to 50"),
    (
        "repeated touch type",
        {"attribution_touch_event_types": ["_email.click", "_email.click"]},
        "attribution_touch_event_types",
        "must not repeat an event type",
    ),
    (
        "empty touch type",
        {"attribution_touch_event_types": [""]},
        "attribution_touch_event_types",
        "each 1 to 256 characters",
    ),
    (
        "repeated conversion type",
        {"conversion_rules": [{"event_type": "buy"}, {"event_type": "buy", "value_metric": "v"}]},
        "conversion_rules",
        "must not repeat an event_type",
    ),
    (
        "empty value metric",
        {"conversion_rules": [{"event_type": "buy", "value_metric": ""}]},
        "conversion_rules",
        "value_metric or quantity_metric must be 1 to 128 characters",
    ),
    (
        "negative campaign cost",
        {"campaign_costs": {"spring": -1}},
        "campaign_costs",
        "every cost must be >= 0",
    ),
    (
        "campaign cost under the reserved (costs) name",
        {"campaign_costs": {"(costs)": 1}},
        "campaign_costs",
        "not the reserved (costs) or (unattributed)",
    ),
    (
        "queue retention above 14 days",
        {"failure_queue_retention_seconds": 1209601},
        "failure_queue_retention_seconds",
        "from 60 to 1209600",
    ),
]


@pytest.mark.parametrize(
    ("inputs", "variable", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_input_is_rejected_with_its_message(
    variables_root: VariablesRoot, inputs: dict[str, Any], variable: str, message: str
) -> None:
    # Given otherwise valid inputs, when one input is bad
    code, output = variables_root.plan({"name_prefix": "engagement", **inputs})

    # Then the plan fails with exactly one error, about that variable, with the intended message
    assert code != 0, output
    assert output.count("Error: ") == 1, output
    assert f"var.{variable}" in output, output
    assert message in output, output
