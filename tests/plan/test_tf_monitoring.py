"""Plan tests of monitoring.tf: alarms, their SNS topic and the dashboard.

Every alarm and dashboard metric on the handlers' namespace is checked against the EMF documents the code
itself prints (the scorer and the score sync run here on a batch that needs no AWS call), so a renamed
metric or dimension in the code fails this file rather than silently leaving an alarm without data.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from typing import Any

import boto3
import pytest
import tftest
from botocore.stub import Stubber
from engagement_scoring.core.config import ScorerConfig, SyncConfig
from engagement_scoring.core.due import DUE_SHARDS
from engagement_scoring.pipeline import refresher, score_sync, scorer
from engagement_scoring.pipeline.score_sync import SyncRuntime
from engagement_scoring.pipeline.scorer import ScorerRuntime

from simulator.local_cloud.moto_server import EmbeddedMoto
from tests.plan.test_tf_plan import ACCOUNT, EVENT_BUS, KMS_KEY, PINPOINT_APP, REGION, Plan, wrapper
from tests.plan.test_tf_variables import VariablesRoot, variables_root

pytestmark = pytest.mark.plan

__all__ = ["variables_root", "wrapper"]  # fixtures used here, defined in the other plan test files

NAMESPACE = "Scoring/Monitored"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:ops-alerts"
ALARM_ARN_PREFIX = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:"
CUSTOM_THRESHOLDS = {
    "iterator_age_seconds": 120,
    "function_errors": 3,
    "function_throttles": 4,
    "failure_queue_messages": 5,
    "failure_queue_oldest_message_seconds": 7200,
    "rejected_records_per_minute": 25,
    "sink_failures_per_5_minutes": 6,
}
CASES: dict[str, dict[str, Any]] = {
    # Defaults, both sinks on: a topic and a key are created.
    "created": {
        "name_prefix": "mon",
        "metrics_namespace": NAMESPACE,
        "pinpoint_application_id": PINPOINT_APP,
        "event_bus_arn": EVENT_BUS,
    },
    # A topic given, custom thresholds.
    "given": {"name_prefix": "mongiven", "alarm_sns_topic_arn": TOPIC, "alarm_thresholds": CUSTOM_THRESHOLDS},
    # The deployment's key encrypts the created topic; no dashboard.
    "kms": {"name_prefix": "monkms", "kms_key_arn": KMS_KEY, "create_dashboard": False},
    "dashboard only": {"name_prefix": "mondash", "create_alarms": False},
    # Decay on: the refresher and its lag alarm, default threshold (3 schedule periods of 15 minutes).
    "refresher": {"name_prefix": "monref", "metrics_namespace": NAMESPACE, "decay_half_life_hours": 24},
    # A daily refresher with a given lag threshold: the alarm's period stops at CloudWatch's day.
    "daily refresher": {
        "name_prefix": "monday",
        "decay_half_life_hours": 24,
        "refresher_schedule_minutes": 1440,
        "alarm_thresholds": {"refresher_lag_seconds": 7200},
    },
}
MONITORING_TYPES = (
    "aws_cloudwatch_metric_alarm",
    "aws_cloudwatch_dashboard",
    "aws_sns_topic",
    "aws_sns_topic_policy",
    "aws_kms_key",
)


# ---------------------------------------------------------------------------------------------------------
# What the code emits
# ---------------------------------------------------------------------------------------------------------

Metric = tuple[str, str, frozenset[tuple[str, str]]]  # namespace, name, dimensions


def emf_metrics(output: str) -> set[Metric]:
    found: set[Metric] = set()
    for line in output.splitlines():
        document = json.loads(line)
        for directive in document.get("_aws", {}).get("CloudWatchMetrics", []):
            for dimension_set in directive["Dimensions"]:
                dimensions = frozenset((name, document[name]) for name in dimension_set)
                for metric in directive["Metrics"]:
                    found.add((directive["Namespace"], metric["Name"], dimensions))
    return found


def _client(service: str) -> Any:
    return boto3.client(
        service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


def emitted(namespace: str) -> set[Metric]:
    """Every metric the scorer and the score sync (all three sinks on) print for batches that need no AWS
    call: one record rejected, one skipped (so the per-reason documents appear too); an empty stream batch."""
    scorer_runtime = ScorerRuntime(
        ScorerConfig("rules", "scores", "ledger", "", metrics_namespace=namespace),
        _client("dynamodb"),
        _client("sqs"),
        sleep=lambda _: None,
    )
    test_event = json.dumps({"event_type": "_test.event_stream", "event_timestamp": 1, "client": {}})
    records = [
        {"eventID": "shardId-0:1", "kinesis": {"sequenceNumber": "1", "data": "bm90IGpzb24="}},
        {
            "eventID": "shardId-0:2",
            "kinesis": {"sequenceNumber": "2", "data": _b64(test_event)},
        },
    ]
    clients = {
        "pinpoint": _client("pinpoint"),
        "events": _client("events"),
        "profiles": _client("customer-profiles"),
    }
    sync_runtime = SyncRuntime(
        SyncConfig(
            pinpoint_application_id="app",
            event_bus_name="bus",
            customer_profiles_domain="domain",
            metrics_namespace=namespace,
        ),
        **clients,
    )
    out = io.StringIO()
    stubs = [Stubber(client) for client in clients.values()]  # no response queued: any call would fail
    for stub in stubs:
        stub.activate()
    try:
        with redirect_stdout(out):
            scorer.process_batch({"Records": records}, scorer_runtime)
            score_sync.process_stream_batch({"Records": []}, sync_runtime)
    finally:
        for stub in stubs:
            stub.deactivate()
    metrics = emf_metrics("\n".join(line for line in out.getvalue().splitlines() if '"_aws"' in line))
    assert any(name == "RecordsRejected" and ("Reason", "not_json") in dims for _, name, dims in metrics)
    return metrics


def emitted_by_refresher(namespace: str) -> set[Metric]:
    """What the refresher prints for a run that finds nobody due (each shard's Query answers no item)."""
    client = _client("dynamodb")
    runtime = refresher.RefresherRuntime(
        refresher.RefresherConfig.from_env(
            {"SCORES_TABLE": "scores", "DECAY_HALF_LIFE_HOURS": "24", "METRICS_NAMESPACE": namespace}
        ),
        client,
    )
    out = io.StringIO()
    with Stubber(client) as stub, redirect_stdout(out):
        for _ in range(DUE_SHARDS):
            stub.add_response("query", {"Items": []})
        refresher.run(runtime, now_s=1_700_000_000)
        stub.assert_no_pending_responses()
    return emf_metrics("\n".join(line for line in out.getvalue().splitlines() if '"_aws"' in line))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# ---------------------------------------------------------------------------------------------------------
# Plans
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plans(wrapper: tftest.TerraformTest, moto_server: EmbeddedMoto) -> Iterator[dict[str, Plan]]:
    def plan(inputs: dict[str, Any]) -> Plan:
        tf_vars = {"aws_endpoint_url": moto_server.endpoint_url, "inputs": inputs}
        return Plan(wrapper.plan(output=True, tf_vars=tf_vars, lock=False))

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(plan, inputs) for name, inputs in CASES.items()}
        yield {name: future.result() for name, future in futures.items()}


def alarms(plan: Plan) -> dict[str, dict[str, Any]]:
    return {
        address: plan.after(address)
        for address in plan.changes
        if address.startswith("aws_cloudwatch_metric_alarm.")
    }


# ---------------------------------------------------------------------------------------------------------
# Alarms
# ---------------------------------------------------------------------------------------------------------


def test_every_alarm_watches_a_metric_that_exists(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    code = emitted(NAMESPACE)
    functions = {"mon-scorer", "mon-score-sync"}
    watched = set()
    for address, alarm in alarms(plan).items():
        dimensions = frozenset(alarm["dimensions"].items())
        if alarm["namespace"] == NAMESPACE:
            assert (NAMESPACE, alarm["metric_name"], dimensions) in code, address
        elif alarm["namespace"] == "AWS/Lambda":  # AWS's names for a function's metrics
            assert alarm["metric_name"] in {"IteratorAge", "Errors", "Throttles"}, address
            assert (
                set(alarm["dimensions"]) == {"FunctionName"}
                and alarm["dimensions"]["FunctionName"] in functions
            )
        else:
            assert alarm["namespace"] == "AWS/SQS", address
            assert alarm["metric_name"] in {
                "ApproximateNumberOfMessagesVisible",
                "ApproximateAgeOfOldestMessage",
            }
            assert alarm["dimensions"] == {"QueueName": "mon-failures"}, address
        watched.add((alarm["metric_name"], tuple(sorted(alarm["dimensions"].values()))))
        assert alarm["treat_missing_data"] == "notBreaching"  # an idle stream publishes nothing
        assert "docs/operations.md#" in alarm["alarm_description"]
    assert watched == {
        ("IteratorAge", ("mon-scorer",)),
        ("Errors", ("mon-scorer",)),
        ("Errors", ("mon-score-sync",)),
        ("Throttles", ("mon-scorer",)),
        ("Throttles", ("mon-score-sync",)),
        ("ApproximateNumberOfMessagesVisible", ("mon-failures",)),
        ("ApproximateAgeOfOldestMessage", ("mon-failures",)),
        ("RecordsRejected", ("scorer",)),
        ("SinkFailures", ("eventbridge", "score_sync")),
        ("SinkFailures", ("pinpoint", "score_sync")),
        ("SinkFailures", ("customer_profiles", "score_sync")),
    }


def test_there_is_one_sink_alarm_per_sink_of_the_code(plans: dict[str, Plan]) -> None:
    for plan in (plans["created"], plans["kms"]):  # sinks on and off: the same alarms
        sinks = [a["dimensions"]["Sink"] for a in alarms(plan).values() if a["metric_name"] == "SinkFailures"]
        assert sorted(sinks) == sorted(score_sync.SINKS)


def _refresher_lag(plan: Plan) -> dict[str, Any]:
    (alarm,) = [a for a in alarms(plan).values() if a["metric_name"] == "RefreshLagSeconds"]
    return alarm


def test_the_refresher_lag_alarm_watches_what_every_run_publishes(plans: dict[str, Plan]) -> None:
    # Only with the refresher: the plans without decay have no such alarm
    for name in ("created", "given", "kms"):
        assert not [a for a in alarms(plans[name]).values() if a["metric_name"] == "RefreshLagSeconds"]
    plan = plans["refresher"]
    alarm = _refresher_lag(plan)
    code = emitted_by_refresher(NAMESPACE)
    assert (NAMESPACE, "RefreshLagSeconds", frozenset(alarm["dimensions"].items())) in code
    assert alarm["namespace"] == NAMESPACE and alarm["alarm_name"] == "monref-refresher-lag"
    assert alarm["statistic"] == "Maximum" and alarm["comparison_operator"] == "GreaterThanThreshold"
    # every run publishes a datapoint: a period without one is a run that did not end
    assert alarm["treat_missing_data"] == "breaching"
    # default schedule 15 min: threshold 3 periods, the alarm's period 2 (one run's jitter never empties one)
    assert (alarm["threshold"], alarm["period"], alarm["evaluation_periods"]) == (2700, 1800, 1)
    assert "docs/operations.md#refresher-lag" in alarm["alarm_description"]
    # every other alarm of that plan is the usual set, plus this one
    assert len(alarms(plan)) == len(alarms(plans["kms"])) + 1

    daily = _refresher_lag(plans["daily refresher"])
    assert (daily["threshold"], daily["period"]) == (7200, 86400)

    # the dashboard shows the refresher's own metrics, and the alarm
    body = json.loads(plan.after("aws_cloudwatch_dashboard.this[0]")["dashboard_body"])
    (widget,) = [w for w in body["widgets"] if w["properties"]["title"].startswith("Refresher")]
    rows = [row for row in widget["properties"]["metrics"] if row[0] == NAMESPACE]
    assert {row[1] for row in rows} == {"RefreshLagSeconds", "UsersDue", "UsersRefreshed"}
    for row in rows:
        assert (NAMESPACE, row[1], frozenset([(row[2], row[3])])) in code, row
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert ALARM_ARN_PREFIX + "monref-refresher-lag" in alarm_widget["properties"]["alarms"]


def test_runbook_has_a_section_for_every_alarm(plans: dict[str, Plan]) -> None:
    from tests.plan.test_tf_plan import ROOT

    runbook = (ROOT / "docs/operations.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
        for h in re.findall(r"^## (.+)$", runbook, re.M)
    }
    for address, alarm in {**alarms(plans["created"]), **alarms(plans["refresher"])}.items():
        anchor = re.search(r"docs/operations\.md#([a-z0-9-]+)", alarm["alarm_description"])
        assert anchor is not None and anchor.group(1) in anchors, address


def _metric_key(alarm: dict[str, Any]) -> str:
    return f"{alarm['metric_name']}:{','.join(sorted(alarm['dimensions']))}"


def test_thresholds_come_from_the_inputs(plans: dict[str, Plan]) -> None:
    t = CUSTOM_THRESHOLDS
    expected = {
        "IteratorAge:FunctionName": t["iterator_age_seconds"] * 1000,
        "Errors:FunctionName": t["function_errors"],
        "Throttles:FunctionName": t["function_throttles"],
        "ApproximateNumberOfMessagesVisible:QueueName": t["failure_queue_messages"],
        "ApproximateAgeOfOldestMessage:QueueName": t["failure_queue_oldest_message_seconds"],
        "RecordsRejected:Function": t["rejected_records_per_minute"],
        "SinkFailures:Function,Sink": t["sink_failures_per_5_minutes"],
    }
    given = alarms(plans["given"])
    assert {_metric_key(a) for a in given.values()} == set(expected)
    for address, alarm in given.items():
        assert alarm["threshold"] == expected[_metric_key(alarm)], address
    defaults = {_metric_key(a): a["threshold"] for a in alarms(plans["created"]).values()}
    assert defaults["IteratorAge:FunctionName"] == 300_000
    assert defaults["ApproximateAgeOfOldestMessage:QueueName"] == 21600
    assert defaults["RecordsRejected:Function"] == 10
    assert defaults["SinkFailures:Function,Sink"] == 10


def test_a_given_topic_is_used_and_none_is_created(plans: dict[str, Plan]) -> None:
    plan = plans["given"]
    assert plan.count("aws_sns_topic") == 0 and plan.count("aws_kms_key") == 0
    for alarm in alarms(plan).values():
        assert alarm["alarm_actions"] == [TOPIC] and alarm["ok_actions"] == [TOPIC]


def test_a_created_topic_is_encrypted_with_a_key_cloudwatch_may_use(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    assert plan.count("aws_sns_topic") == 1 and plan.count("aws_kms_key") == 1
    assert plan.after("aws_sns_topic.alarms[0]")["name"] == "mon-alarms"
    assert plan.unknown("aws_sns_topic.alarms[0]")["kms_master_key_id"] is True  # the created key's ARN
    key = plan.after("aws_kms_key.alarms[0]")
    assert key["enable_key_rotation"] is True
    statements = {s["Sid"]: s for s in json.loads(key["policy"])["Statement"]}
    cloudwatch = statements["CloudWatchAlarmsPublishToTheTopic"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(cloudwatch["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"] == f"{ALARM_ARN_PREFIX}mon-*"
    assert cloudwatch["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    for alarm in alarms(plan).values():
        assert alarm["alarm_name"].startswith("mon-")
    for address in alarms(plan):
        assert plan.unknown(address)["alarm_actions"] is True  # the created topic's ARN

    # With kms_key_arn set the topic still gets its own key: a count cannot depend on a key ARN that may only
    # be known after apply (examples/complete creates its key in the same apply).
    kms = plans["kms"]
    assert kms.count("aws_kms_key") == 1
    assert kms.unknown("aws_sns_topic.alarms[0]")["kms_master_key_id"] is True


def test_each_toggle_leaves_out_what_it_names(plans: dict[str, Plan]) -> None:
    assert plans["kms"].count("aws_cloudwatch_dashboard") == 0
    assert plans["kms"].count("aws_cloudwatch_metric_alarm") == len(alarms(plans["given"]))
    dashboard_only = plans["dashboard only"]
    assert dashboard_only.count("aws_cloudwatch_dashboard") == 1
    assert not any(dashboard_only.count(t) for t in MONITORING_TYPES if t != "aws_cloudwatch_dashboard")
    body = json.loads(dashboard_only.after("aws_cloudwatch_dashboard.this[0]")["dashboard_body"])
    assert "alarm" not in {widget["type"] for widget in body["widgets"]}


# ---------------------------------------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------------------------------------


def test_the_dashboard_shows_existing_metrics_and_exactly_the_planned_alarms(plans: dict[str, Plan]) -> None:
    plan = plans["created"]
    code = emitted(NAMESPACE)
    code_names = {name for _, name, _ in code}
    dashboard = plan.after("aws_cloudwatch_dashboard.this[0]")
    assert dashboard["dashboard_name"] == "mon-engagement-scoring"
    body = json.loads(dashboard["dashboard_body"])
    widgets = body["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    for part in (
        "Throughput",
        "Skipped by reason",
        "Rejected by reason",
        "Iterator age",
        "Failures",
        "Sink calls",
        "Latency",
        "Alarms",
    ):
        assert any(title.startswith(part) for title in titles), part

    for widget in widgets:
        assert widget["width"] > 0 and widget["height"] > 0 and 0 <= widget["x"] < 24
        if widget["type"] != "metric":
            continue
        assert widget["properties"]["region"] == REGION
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):  # a SEARCH expression over one metric name, by Reason
                expression = row[0]["expression"]
                assert f"{{{NAMESPACE},Function,Reason}}" in expression
                name = re.search(r'MetricName="([A-Za-z]+)"', expression)
                assert name is not None and name.group(1) in code_names
                assert any(n == name.group(1) and "Reason" in dict(d) for _, n, d in code)
                continue
            namespace, metric_name, *rest = row
            options = rest.pop() if rest and isinstance(rest[-1], dict) else {}
            assert "stat" in options
            dimensions = frozenset(zip(rest[::2], rest[1::2], strict=True))
            if namespace == NAMESPACE:
                assert (namespace, metric_name, dimensions) in code, row
            else:
                assert namespace in {"AWS/Lambda", "AWS/SQS", "AWS/Kinesis"}, row

    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    planned = {ALARM_ARN_PREFIX + alarm["alarm_name"] for alarm in alarms(plan).values()}
    assert set(alarm_widget["properties"]["alarms"]) == planned
    assert len(alarm_widget["properties"]["alarms"]) == len(planned)


# ---------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------

INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "topic not an ARN": (
        {"alarm_sns_topic_arn": "ops-alerts"},
        "alarm_sns_topic_arn must be an SNS topic ARN",
    ),
    "negative threshold": (
        {"alarm_thresholds": {"iterator_age_seconds": -1}},
        "alarm_thresholds: every threshold must be a number >= 0.",
    ),
    "a count that is never reached": (
        {"alarm_thresholds": {"function_errors": 0}},
        "function_errors, function_throttles, failure_queue_messages and sink_failures_per_5_minutes must"
        " be >= 1",
    ),
    "refresher lag below a minute": (
        {"alarm_thresholds": {"refresher_lag_seconds": 30}},
        "alarm_thresholds.refresher_lag_seconds must be null (3 schedule periods) or at least 60",
    ),
    "oldest message beyond SQS retention": (
        {"alarm_thresholds": {"failure_queue_oldest_message_seconds": 1209601}},
        "alarm_thresholds.failure_queue_oldest_message_seconds must be at most 1209600",
    ),
}


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_invalid_monitoring_inputs_are_rejected_with_their_message(
    variables_root: VariablesRoot, case: tuple[dict[str, Any], str]
) -> None:
    inputs, message = case
    code, output = variables_root.plan({"name_prefix": "bad", **inputs})
    assert code != 0 and message in output, output


def test_valid_monitoring_inputs_are_accepted(variables_root: VariablesRoot) -> None:
    code, output = variables_root.plan(
        {"name_prefix": "ok", "alarm_sns_topic_arn": TOPIC, "alarm_thresholds": CUSTOM_THRESHOLDS}
    )
    assert code == 0, output
    code, output = variables_root.plan(
        {
            "name_prefix": "ok",
            "alarm_thresholds": {"iterator_age_seconds": 0, "rejected_records_per_minute": 0},
        }
    )
    assert code == 0, output
