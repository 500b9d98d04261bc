"""Plan tests of archive.tf: Firehose into S3, the bucket's protections, Glue, Athena and the named queries.

The named queries' SQL is what engagement_scoring.archive renders for DuckDB from the same inputs (so the
SQL that tests/unit/archive runs on DuckDB is the SQL Athena gets), and every archive input is validated
at plan.
"""

from __future__ import annotations

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import tftest
from engagement_scoring import archive
from engagement_scoring.core.machine import parse_policy

from simulator.local_cloud.moto_server import EmbeddedMoto
from tests.plan.test_tf_plan import (
    ACCOUNT,
    KMS_KEY,
    ORIGINAL_RULES,
    REGION,
    STREAM_KEY,
    Plan,
    statement,
    wrapper,
)
from tests.plan.test_tf_variables import VariablesRoot, variables_root

pytestmark = pytest.mark.plan

__all__ = ["variables_root", "wrapper"]  # fixtures used here, defined in the other plan test files

GIVEN_BUCKET = "acme-engagement-archive"
GIVEN_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/aaaaaaaa-12ab-34cd-56ef-1234567890ab"
EXISTING_STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/external-events"
CUSTOM_RULES = [
    {"event_type": "_email.open", "points": 7.5, "once_per_message": True},
    {"event_type": "_email.click", "points": 40, "channel": "custom"},
    {"event_type": "webinar attended", "points": -3},
]
CUSTOM_TIERS = [{"name": "low", "min_score": -25.5}, {"name": "high", "min_score": 100}]
CASES: dict[str, dict[str, Any]] = {
    "created": {"name_prefix": "Arch_ive", "create_archive": True},
    "given": {
        "name_prefix": "archgiven",
        "create_archive": True,
        "archive_bucket_name": GIVEN_BUCKET,
        "archive_kms_key_arn": GIVEN_KEY,
        "existing_kinesis_stream_arn": EXISTING_STREAM,
        "existing_kinesis_stream_kms_key_arn": STREAM_KEY,
        "kms_key_arn": KMS_KEY,
        "score_rules": CUSTOM_RULES,
        "tiers": CUSTOM_TIERS,
        "decay_half_life_hours": 36.5,
        "score_floor": -50,
        "score_ceiling": 1000,
        "user_key_mode": "endpoint_id",
        # Tag names that need quoting in the queries' JSON paths (the SES/SMS user and campaign).
        "user_key_tag": "crm-id",
        "campaign_tag": "camp-aign",
        "archive_lifecycle": {"transition_days": None, "expiration_days": None},
        "archive_buffering": {"size_mb": 128, "interval_seconds": 900},
        "archive_athena_bytes_scanned_cutoff": 0,
        # The SMS event-log route: with the archive, its second subscription into a decoding stream.
        "sms_configuration_set_names": ["sms-archived"],
        # Every machine-engagement input the SQL renders: weights, bounds, lists (a quote, capitals, a
        # repeated proxy agent, an IPv4 block not on its boundary, an IPv6 block).
        "machine_engagement": {
            "weights": {"send_time_proximity": 0.25, "burst": 1},
            "privacy_proxy_user_agents": ["Mozilla/5.0", "Proxy 'B'", "Mozilla/5.0"],
            "privacy_proxy_cidrs": ["203.0.113.77/25", "2001:db8::/32"],
            "scanner_user_agents": ["ExampleLinkScanner", "o'scan"],
            "scanner_cidrs": ["198.51.100.0/24", "192.0.2.9/32"],
            "send_time_proximity_seconds": 30,
            "burst_window_ms": 1500,
            "burst_min_links": 3,
        },
    },
    "create false": {"name_prefix": "archnone", "create": False, "create_archive": True},
}
ARCHIVE_TYPES = (
    "aws_kinesis_firehose_delivery_stream",
    "aws_s3_bucket",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_policy",
    "aws_glue_catalog_database",
    "aws_glue_catalog_table",
    "aws_athena_workgroup",
    "aws_athena_named_query",
)


@pytest.fixture(scope="module")
def plans(wrapper: tftest.TerraformTest, moto_server: EmbeddedMoto) -> dict[str, Plan]:
    def plan(inputs: dict[str, Any]) -> Plan:
        tf_vars = {"aws_endpoint_url": moto_server.endpoint_url, "inputs": inputs}
        return Plan(wrapper.plan(output=True, tf_vars=tf_vars, lock=False))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(plan, inputs) for name, inputs in CASES.items()}
        return {name: future.result() for name, future in futures.items()}


def archive_addresses(plan: Plan) -> list[str]:
    return sorted(
        address
        for address in plan.changes
        if not address.startswith("data.archive_file.")
        and (address.split(".")[0] in ARCHIVE_TYPES or ".archive" in address.split("[")[0])
    )


def test_archive_is_under_create(plans: dict[str, Plan]) -> None:
    # Off by default: test_tf_plan.py's minimal plan lists every resource type it creates, none of these.
    assert plans["create false"].changes == {}
    assert archive_addresses(plans["given"]) and not archive_addresses(plans["create false"])


def test_created_archive_has_every_part(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    types = plan.types()
    assert {name: types[name] for name in ARCHIVE_TYPES} == {
        **{name: 1 for name in ARCHIVE_TYPES},
        "aws_athena_named_query": 4,
    }
    assert types["aws_kms_key"] == 2  # the archive's and the alarm topic's
    assert "aws_iam_role.archive_firehose[0]" in plan.changes
    assert "aws_cloudwatch_log_group.archive[0]" in plan.changes


def test_created_bucket_name_is_legal_and_protected(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    bucket = plan.after("aws_s3_bucket.archive[0]")["bucket"]
    assert re.fullmatch(r"arch-ive-[0-9a-f]{8}-archive-" + ACCOUNT, bucket), bucket
    assert len(bucket) <= 63
    assert plan.after("aws_s3_bucket.archive[0]")["force_destroy"] is False
    block = plan.after("aws_s3_bucket_public_access_block.archive[0]")
    assert all(
        block[name]
        for name in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    assert (
        plan.after("aws_s3_bucket_versioning.archive[0]")["versioning_configuration"][0]["status"]
        == "Enabled"
    )
    rule = plan.after("aws_s3_bucket_server_side_encryption_configuration.archive[0]")["rule"][0]
    assert rule["bucket_key_enabled"] is True
    assert rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
    assert plan.unknown("aws_s3_bucket_server_side_encryption_configuration.archive[0]")["rule"][0][
        "apply_server_side_encryption_by_default"
    ][0]["kms_master_key_id"]  # the created key
    policy = plan.policy("aws_s3_bucket_policy.archive[0]")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    for item in policy["Statement"]:
        item["Resource"] = sorted(item["Resource"])
    assert policy["Statement"] == [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Principal": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_lifecycle_follows_the_input(plans: dict[str, Plan]) -> None:
    rules = {
        r["id"]: r for r in plans["created"].after("aws_s3_bucket_lifecycle_configuration.archive[0]")["rule"]
    }
    assert set(rules) == {"incomplete-uploads", "events", "errors", "athena-results"}
    assert rules["incomplete-uploads"]["abort_incomplete_multipart_upload"][0]["days_after_initiation"] == 1
    events = rules["events"]
    assert events["filter"][0]["prefix"] == "events/"
    assert [(t["days"], t["storage_class"]) for t in events["transition"]] == [(30, "STANDARD_IA")]
    assert events["expiration"][0]["days"] == 365
    assert events["noncurrent_version_expiration"][0]["noncurrent_days"] == 7
    assert rules["errors"]["expiration"][0]["days"] == 30
    assert rules["athena-results"]["expiration"][0]["days"] == 7
    assert all(
        not rules[name]["abort_incomplete_multipart_upload"]
        for name in ("events", "errors", "athena-results")
    )


def test_firehose_reads_the_stream_and_writes_gzip_lines_by_day(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    stream = plan.after("aws_kinesis_firehose_delivery_stream.archive[0]")
    assert stream["name"] == "Arch_ive-events-archive" and stream["destination"] == "extended_s3"
    assert plan.unknown("aws_kinesis_firehose_delivery_stream.archive[0]")["kinesis_source_configuration"][0][
        "kinesis_stream_arn"
    ]  # the created stream's
    s3 = stream["extended_s3_configuration"][0]
    bucket = plan.after("aws_s3_bucket.archive[0]")["bucket"]
    assert s3["bucket_arn"] == f"arn:aws:s3:::{bucket}"
    assert s3["prefix"] == "events/dt=!{timestamp:yyyy-MM-dd}/"
    assert s3["error_output_prefix"] == "errors/!{firehose:error-output-type}/dt=!{timestamp:yyyy-MM-dd}/"
    assert s3["compression_format"] == "GZIP"
    assert (s3["buffering_size"], s3["buffering_interval"]) == (64, 300)
    processing = s3["processing_configuration"][0]
    assert processing["enabled"] is True
    assert [p["type"] for p in processing["processors"]] == ["AppendDelimiterToRecord"]
    assert s3["cloudwatch_logging_options"][0]["enabled"] is True
    # The prefix is the local layout's (engagement_scoring.archive), so DuckDB and Athena read the same paths.
    assert s3["prefix"].startswith(archive.EVENTS_PREFIX + archive.PARTITION + "=")
    given = plans["given"].after("aws_kinesis_firehose_delivery_stream.archive[0]")
    assert given["kinesis_source_configuration"][0]["kinesis_stream_arn"] == EXISTING_STREAM
    given_s3 = given["extended_s3_configuration"][0]
    assert (given_s3["buffering_size"], given_s3["buffering_interval"]) == (128, 900)
    assert given_s3["kms_key_arn"] == GIVEN_KEY and given_s3["bucket_arn"] == f"arn:aws:s3:::{GIVEN_BUCKET}"


def test_firehose_role_has_exactly_its_grants(plans: dict[str, Plan]) -> None:
    plan = plans["given"]
    bucket_arn = f"arn:aws:s3:::{GIVEN_BUCKET}"
    statements = plan.statements("aws_iam_role_policy.archive_firehose[0]")
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/kinesisfirehose/archgiven-events-archive"
    plain = {sid: {k: v for k, v in s.items() if k != "Condition"} for sid, s in statements.items()}
    assert plain == {
        "ReadIngestStream": statement(
            [
                "kinesis:DescribeStream",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kinesis:ListShards",
            ],
            [EXISTING_STREAM],
            "ReadIngestStream",
        ),
        "DecryptIngestStream": statement(["kms:Decrypt"], [STREAM_KEY], "DecryptIngestStream"),
        "WriteArchiveObjects": statement(
            [
                "s3:AbortMultipartUpload",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
                "s3:PutObject",
            ],
            [bucket_arn, f"{bucket_arn}/*"],
            "WriteArchiveObjects",
        ),
        "EncryptArchiveObjects": statement(
            ["kms:Decrypt", "kms:GenerateDataKey"], [GIVEN_KEY], "EncryptArchiveObjects"
        ),
        "WriteDeliveryErrors": statement(
            ["logs:PutLogEvents"], [f"{log_group}:log-stream:*"], "WriteDeliveryErrors"
        ),
    }
    assert statements["DecryptIngestStream"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"kinesis.{REGION}.amazonaws.com"}
    }
    assert statements["EncryptArchiveObjects"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, f"{bucket_arn}/*"]},
    }
    trust = json.loads(plan.after("aws_iam_role.archive_firehose[0]")["assume_role_policy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": ACCOUNT}}


# The SMS event-log route, decoded (the "given" case has sms_configuration_set_names, "created" has not).
SMS_ARCHIVE_RESOURCES = [
    "aws_cloudwatch_log_stream.archive_sms_logs[0]",
    "aws_cloudwatch_log_subscription_filter.archive_sms_logs[0]",
    "aws_iam_role.archive_sms_firehose[0]",
    "aws_iam_role.archive_sms_subscription[0]",
    "aws_iam_role_policy.archive_sms_firehose[0]",
    "aws_iam_role_policy.archive_sms_subscription[0]",
    "aws_kinesis_firehose_delivery_stream.archive_sms_logs[0]",
]


def test_sms_log_route_archive_exists_only_with_the_archive_and_the_sms_log_route(
    plans: dict[str, Plan],
) -> None:
    assert sorted(a for a in plans["given"].changes if "archive_sms" in a) == SMS_ARCHIVE_RESOURCES
    # The archive without the SMS log route: one delivery stream, no second subscription.
    assert not [a for a in plans["created"].changes if "archive_sms" in a]
    assert plans["created"].count("aws_cloudwatch_log_subscription_filter") == 0
    # The SMS log route without the archive (tests/plan/test_tf_successor.py, the `successor` plan) has its
    # one subscription only: test_sms_event_log_group_is_subscribed_into_the_stream.
    assert plans["given"].count("aws_cloudwatch_log_subscription_filter") == 2  # a log group takes two


def test_sms_log_route_is_decoded_into_the_archive_layout(plans: dict[str, Plan]) -> None:
    plan = plans["given"]
    stream = plan.after("aws_kinesis_firehose_delivery_stream.archive_sms_logs[0]")
    assert stream["name"] == "archgiven-sms-archive" and stream["destination"] == "extended_s3"
    # Direct PUT: CloudWatch Logs puts the records, no Kinesis source; encrypted with the archive's key.
    assert stream["kinesis_source_configuration"] == []
    assert stream["server_side_encryption"] == [
        {"enabled": True, "key_type": "CUSTOMER_MANAGED_CMK", "key_arn": GIVEN_KEY}
    ]
    s3 = stream["extended_s3_configuration"][0]
    first = plan.after("aws_kinesis_firehose_delivery_stream.archive[0]")["extended_s3_configuration"][0]
    # Same bucket, prefix (the Glue table's dt partitions), errors, key, buffering and compression.
    for name in (
        "bucket_arn",
        "prefix",
        "error_output_prefix",
        "kms_key_arn",
        "buffering_size",
        "buffering_interval",
        "compression_format",
    ):
        assert s3[name] == first[name], name
    assert s3["prefix"] == "events/dt=!{timestamp:yyyy-MM-dd}/" and s3["kms_key_arn"] == GIVEN_KEY
    # Objects are named after the delivery stream: told apart from the Kinesis route's.
    assert stream["name"] != plan.after("aws_kinesis_firehose_delivery_stream.archive[0]")["name"]
    processing = s3["processing_configuration"][0]
    assert processing["enabled"] is True
    assert [
        (p["type"], [(q["parameter_name"], q["parameter_value"]) for q in p["parameters"]])
        for p in processing["processors"]
    ] == [
        ("Decompression", [("CompressionFormat", "GZIP")]),
        ("CloudWatchLogProcessing", [("DataMessageExtraction", "true")]),
        ("AppendDelimiterToRecord", []),
    ]
    logging = s3["cloudwatch_logging_options"][0]
    assert logging == {
        "enabled": True,
        "log_group_name": "/aws/kinesisfirehose/archgiven-events-archive",
        "log_stream_name": "SmsEventLogDelivery",
    }
    # The second subscription: every log event of the module's SMS event log group into that stream.
    subscription = plan.after("aws_cloudwatch_log_subscription_filter.archive_sms_logs[0]")
    assert subscription["log_group_name"] == "/engagement-scoring/archgiven/sms-events"
    assert subscription["filter_pattern"] == ""
    expressions = plan.configured("aws_cloudwatch_log_subscription_filter.archive_sms_logs")["expressions"]
    assert (
        "aws_kinesis_firehose_delivery_stream.archive_sms_logs[0].arn"
        in (expressions["destination_arn"]["references"])
    )
    assert "aws_iam_role.archive_sms_subscription[0].arn" in expressions["role_arn"]["references"]
    module = plan.raw.output_changes["module"]["after"]
    assert module["archive_sms_firehose_stream_name"] == "archgiven-sms-archive"
    assert plans["created"].raw.output_changes["module"]["after"]["archive_sms_firehose_stream_name"] is None


def test_sms_log_route_roles_have_exactly_their_grants(plans: dict[str, Plan]) -> None:
    plan = plans["given"]
    bucket_arn = f"arn:aws:s3:::{GIVEN_BUCKET}"
    log_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/kinesisfirehose/archgiven-events-archive"
    statements = plan.statements("aws_iam_role_policy.archive_sms_firehose[0]")
    plain = {sid: {k: v for k, v in s.items() if k != "Condition"} for sid, s in statements.items()}
    # No Kinesis read: this stream has no Kinesis source.
    assert plain == {
        "WriteArchiveObjects": statement(
            [
                "s3:AbortMultipartUpload",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
                "s3:PutObject",
            ],
            [bucket_arn, f"{bucket_arn}/*"],
            "WriteArchiveObjects",
        ),
        "EncryptArchiveObjects": statement(
            ["kms:Decrypt", "kms:GenerateDataKey"], [GIVEN_KEY], "EncryptArchiveObjects"
        ),
        "WriteDeliveryErrors": statement(
            ["logs:PutLogEvents"], [f"{log_group}:log-stream:SmsEventLogDelivery"], "WriteDeliveryErrors"
        ),
    }
    assert statements["EncryptArchiveObjects"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        "StringLike": {"kms:EncryptionContext:aws:s3:arn": [bucket_arn, f"{bucket_arn}/*"]},
    }
    trust = json.loads(plan.after("aws_iam_role.archive_sms_firehose[0]")["assume_role_policy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": ACCOUNT}}
    assert plan.after("aws_iam_role.archive_sms_firehose[0]")["name"] == "archgiven-sms-archive"

    stream_arn = f"arn:aws:firehose:{REGION}:{ACCOUNT}:deliverystream/archgiven-sms-archive"
    assert plan.statements("aws_iam_role_policy.archive_sms_subscription[0]") == {
        "PutEventLogRecords": statement(
            ["firehose:PutRecord", "firehose:PutRecordBatch"], [stream_arn], "PutEventLogRecords"
        )
    }
    sms_group = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/engagement-scoring/archgiven/sms-events"
    (subscriber,) = json.loads(plan.after("aws_iam_role.archive_sms_subscription[0]")["assume_role_policy"])[
        "Statement"
    ]
    assert subscriber["Principal"] == {"Service": "logs.amazonaws.com"}
    assert subscriber["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"{sms_group}:*"},
    }
    assert plan.after("aws_iam_role.archive_sms_subscription[0]")["name"] == "archgiven-sms-log-archive"


def test_given_bucket_and_key_are_used_not_created(plans: dict[str, Plan]) -> None:
    plan = plans["given"]
    types = plan.types()
    assert not any(types[name] for name in ARCHIVE_TYPES if name.startswith("aws_s3_"))
    assert plan.count("aws_kms_key.archive") == 0
    workgroup = plan.after("aws_athena_workgroup.archive[0]")["configuration"][0]
    assert workgroup["bytes_scanned_cutoff_per_query"] is None
    assert workgroup["result_configuration"][0]["encryption_configuration"][0] == {
        "encryption_option": "SSE_KMS",
        "kms_key_arn": GIVEN_KEY,
    }


def test_glue_table_projects_the_day_partitions(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    bucket = plan.after("aws_s3_bucket.archive[0]")["bucket"]
    assert plan.after("aws_glue_catalog_database.archive[0]")["name"] == "arch_ive_events_archive"
    table = plan.after("aws_glue_catalog_table.archive[0]")
    assert table["name"] == "events" and table["table_type"] == "EXTERNAL_TABLE"
    assert [(k["name"], k["type"]) for k in table["partition_keys"]] == [("dt", "string")]
    parameters = table["parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.dt.type"] == "date"
    assert parameters["projection.dt.format"] == "yyyy-MM-dd"
    assert parameters["projection.dt.range"] == "2026-01-01,NOW"
    assert parameters["storage.location.template"] == f"s3://{bucket}/events/dt=${{dt}}/"
    descriptor = table["storage_descriptor"][0]
    assert descriptor["location"] == f"s3://{bucket}/events/"
    assert [(c["name"], c["type"]) for c in descriptor["columns"]] == [("line", "string")]
    serde = descriptor["ser_de_info"][0]
    assert serde["serialization_library"] == "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    assert serde["parameters"]["field.delim"] == "\u0001"


def test_workgroup_enforces_encrypted_results_in_the_bucket(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    bucket = plan.after("aws_s3_bucket.archive[0]")["bucket"]
    configuration = plan.after("aws_athena_workgroup.archive[0]")["configuration"][0]
    assert configuration["enforce_workgroup_configuration"] is True
    assert configuration["bytes_scanned_cutoff_per_query"] == 107374182400
    result = configuration["result_configuration"][0]
    assert result["output_location"] == f"s3://{bucket}/athena-results/"
    assert result["encryption_configuration"][0]["encryption_option"] == "SSE_KMS"


def _expected_sql(inputs: dict[str, Any], name: str) -> str:
    database = f"{inputs['name_prefix'].lower().replace('-', '_')}_events_archive"
    settings = archive.QuerySettings(
        source=f'"{database}"."events"',
        rules=tuple(
            inputs.get("score_rules", [{"event_type": k, "points": v} for k, v in ORIGINAL_RULES.items()])
        ),
        half_life_hours=inputs.get("decay_half_life_hours", 0),
        score_floor=inputs.get("score_floor"),
        score_ceiling=inputs.get("score_ceiling"),
        tiers=tuple(
            inputs.get(
                "tiers",
                [
                    {"name": "cold", "min_score": 0},
                    {"name": "warm", "min_score": 50},
                    {"name": "hot", "min_score": 150},
                ],
            )
        ),
        user_key_mode=inputs.get("user_key_mode", "auto"),
        user_key_tag=inputs.get("user_key_tag", "user_key"),
        campaign_tag=inputs.get("campaign_tag", "campaign"),
        machine=parse_policy(json.dumps(inputs.get("machine_engagement", {}))),
    )
    return archive.render_query(name, settings)


@pytest.mark.parametrize("case", ["created", "given"])
def test_named_queries_are_the_sql_tested_on_duckdb(plans: dict[str, Plan], case: str) -> None:
    plan = plans[case]
    inputs = CASES[case]
    queries = {
        address.split('"')[1]: plan.after(address)
        for address in plan.changes
        if address.startswith("aws_athena_named_query.archive[")
    }
    assert set(queries) == set(archive.QUERIES)
    for name, query in queries.items():
        assert query["name"] == f"{inputs['name_prefix']}-{name.replace('_', '-')}"
        assert query["database"] == f"{inputs['name_prefix'].lower()}_events_archive"
        assert query["query"] == _expected_sql(inputs, name), name
        assert "${" not in query["query"]
    if case == "given":
        rescoring = queries["rescoring"]["query"]
        assert "CAST(131400000 AS double)" in rescoring  # 36.5 hours in ms
        assert "('webinar attended', CAST(-3 AS double), CAST(NULL AS varchar), false)" in rescoring
        assert "('low', CAST(-25.5 AS double))" in rescoring
        assert "user_key = ?" in queries["user_history"]["query"]
        assert """'$.mail.tags["crm-id"][0]'""" in rescoring and """'$.context["camp-aign"]'""" in rescoring
        # The machine-engagement policy as SQL: 203.0.113.0/25 and 192.0.2.9/32 as numbers, the IPv6
        # block left out, the weights given and the defaults.
        assert "u.ip4 BETWEEN 3405803776 AND 3405803903" in rescoring
        assert "u.ip4 BETWEEN 3221225993 AND 3221225993" in rescoring
        assert "trim(u.ua) IN ('Mozilla/5.0', 'Proxy ''B''')" in rescoring
        assert "strpos(lower(u.ua), 'o''scan') > 0" in rescoring
        assert "strpos(lower(u.ua), 'examplelinkscanner') > 0" in rescoring
        assert "CAST(0.25 AS double)" in rescoring and "<= 30000" in rescoring


# ---------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------

INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "bucket name with capitals",
        {"archive_bucket_name": "My_Bucket"},
        "archive_bucket_name",
        "S3 bucket name",
    ),
    (
        "key alias",
        {"archive_kms_key_arn": "alias/archive"},
        "archive_kms_key_arn",
        "KMS key ARN (not an alias)",
    ),
    (
        "fractional days",
        {"archive_lifecycle": {"expiration_days": 400.5}},
        "archive_lifecycle",
        "whole number >= 1",
    ),
    (
        "unknown storage class",
        {"archive_lifecycle": {"transition_storage_class": "COLD"}},
        "archive_lifecycle",
        "transition_storage_class must be one of",
    ),
    (
        "infrequent access too early",
        {"archive_lifecycle": {"transition_days": 10}},
        "archive_lifecycle",
        "at least 30 for STANDARD_IA",
    ),
    (
        "expiry before transition",
        {"archive_lifecycle": {"transition_days": 90, "expiration_days": 60}},
        "archive_lifecycle",
        "later than transition_days",
    ),
    ("buffer too large", {"archive_buffering": {"size_mb": 129}}, "archive_buffering", "from 1 to 128"),
    (
        "interval too long",
        {"archive_buffering": {"interval_seconds": 901}},
        "archive_buffering",
        "from 0 to 900",
    ),
    (
        "not a date",
        {"archive_projection_start_date": "2026-13-01"},
        "archive_projection_start_date",
        "a date YYYY-MM-DD",
    ),
    (
        "cutoff below Athena's minimum",
        {"archive_athena_bytes_scanned_cutoff": 1000},
        "archive_athena_bytes_scanned_cutoff",
        ">= 10485760",
    ),
]


@pytest.mark.parametrize(
    ("inputs", "variable", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_archive_input_is_rejected_with_its_message(
    variables_root: VariablesRoot, inputs: dict[str, Any], variable: str, message: str
) -> None:
    code, output = variables_root.plan({"name_prefix": "engagement", "create_archive": True, **inputs})
    assert code != 0, output
    assert output.count("Error: ") == 1, output
    assert f"var.{variable}" in output, output
    assert message in output, output


def test_archive_inputs_at_their_bounds_are_accepted(variables_root: VariablesRoot) -> None:
    code, output = variables_root.plan(
        {
            "name_prefix": "engagement",
            "create_archive": True,
            "archive_bucket_name": "a.b-9",
            "archive_lifecycle": {
                "transition_days": 1,
                "transition_storage_class": "GLACIER_IR",
                "expiration_days": 2,
                "noncurrent_expiration_days": 1,
            },
            "archive_buffering": {"size_mb": 1, "interval_seconds": 0},
            "archive_athena_bytes_scanned_cutoff": 10485760,
        }
    )
    assert code == 0, output
