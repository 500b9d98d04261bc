"""B6's DynamoDB capacity and billed quantities are deterministic, so they are a test too: a small
workload of the standard shape through both pipelines (B1's harness, watched by B6's recorders).
The original's units are checked against its call counts (an independent count: one eventually
consistent GetItem of a small definition, one UpdateItem of a small user item per scored event);
ours must have every request priced and the figures must add up. CPU time is not asserted (a timing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import b6_cost, prices, report
from benchmarks.b1_api_calls import ORIGINAL_DEFINITIONS, ORIGINAL_SCORES
from benchmarks.common import standard_workload

# Runs a benchmark's workload through the handlers on in-process moto: not a unit test (issue #8 item 16).
pytestmark = pytest.mark.integration

USERS, EVENTS = 60, 400


@pytest.fixture(scope="module")
def b6(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    plot = tmp_path_factory.mktemp("b6") / "b6.png"
    result = b6_cost.run(
        USERS,
        EVENTS,
        log=print,
        plot_path=plot,
        density_events=200,
        density_points=((300, True), (10, False)),
        with_scales=False,
    )
    result["plot_file"] = plot
    return result


def test_the_result_has_the_fields_the_issue_names(b6: dict[str, Any]) -> None:
    cost = b6["cost_per_million_events"]
    assert set(cost) == {
        "ours",
        "original",
        "ours_same_sinks_as_original",
        "breakdown",
        "units_per_1000_events",
        "prices_as_of",
    }
    assert set(cost["units_per_1000_events"]) == {"ours", "original"}
    assert cost["prices_as_of"] == prices.PRICES_AS_OF
    for service, figures in cost["breakdown"].items():
        assert set(figures) == {"ours", "original"}, service
    assert set(b6["runs"]) == {"ours_batch100", "ours_batch1000", "original_batch100", "original_batch1000"}
    assert Path(b6["plot_file"]).read_bytes().startswith(b"\x89PNG")


def test_the_originals_units_match_its_calls(b6: dict[str, Any]) -> None:
    for name in ("original_batch100", "original_batch1000"):
        run = b6["runs"][name]
        capacity = run["dynamodb_capacity"]["by_table"]
        calls = run["calls"]
        # eventually consistent GetItem (the default) of an item under 4 KB: 0.5 each
        assert capacity[ORIGINAL_DEFINITIONS]["GetItem"]["read_units"] == 0.5 * calls["dynamodb.GetItem"]
        # UpdateItem of a user item under 1 KB: 1 each
        assert capacity[ORIGINAL_SCORES]["UpdateItem"]["write_units"] == calls["dynamodb.UpdateItem"]
        assert run["stored"][ORIGINAL_SCORES]["max_item_bytes"] < 1024


def test_every_request_of_ours_is_priced(b6: dict[str, Any]) -> None:
    for name in ("ours_batch100", "ours_batch1000"):
        capacity = b6["runs"][name]["dynamodb_capacity"]
        assert capacity["unpriced_requests"] == {}, name
        assert capacity["uncharged_errors"] == {}, name
        dynamodb_calls = sum(
            n for call, n in b6["runs"][name]["calls"].items() if call.startswith("dynamodb.")
        )
        requests = capacity["totals"]["requests"]
        # a request touching two tables counts once per table
        assert dynamodb_calls <= requests <= 2 * dynamodb_calls, name


def test_ours_units_follow_the_items_and_the_rules(b6: dict[str, Any]) -> None:
    run = b6["runs"]["ours_batch100"]
    assert all(stored["max_item_bytes"] < 1024 for stored in run["stored"].values())
    for table, operations in run["dynamodb_capacity"]["by_table"].items():
        for operation, usage in operations.items():
            if operation in ("TransactWriteItems", "ExecuteTransaction"):
                assert usage["write_units"] == 2 * usage["items"], (table, operation)
            elif operation in (
                "UpdateItem",
                "PutItem",
                "DeleteItem",
                "BatchWriteItem",
                "BatchExecuteStatement",
            ):
                assert usage["write_units"] >= usage["items"], (table, operation)
            if operation == "BatchGetItem":
                assert usage["items"] * 0.5 <= usage["read_units"] <= usage["items"], (table, operation)


def test_the_figures_add_up(b6: dict[str, Any]) -> None:
    cost = b6["cost_per_million_events"]
    for side in ("ours", "original"):
        total = sum(figures[side] for figures in cost["breakdown"].values())
        assert total == pytest.approx(cost[side], abs=1e-3)
        units = cost["units_per_1000_events"][side]
        dynamodb = 1000 * (
            units["dynamodb_read_request_units"] * prices.usd("dynamodb_read_request_unit")
            + units["dynamodb_write_request_units"] * prices.usd("dynamodb_write_request_unit")
        )
        assert cost["breakdown"]["dynamodb"][side] == pytest.approx(dynamodb, rel=1e-3)
    # both pipelines read the same records from the stream
    assert cost["breakdown"]["kinesis"]["ours"] == cost["breakdown"]["kinesis"]["original"]
    assert b6["ratio_ours_to_original_batch100"] == pytest.approx(cost["ours"] / cost["original"], rel=1e-2)


def test_ours_with_the_originals_sinks_leaves_out_eventbridge_and_the_wait_for_it(b6: dict[str, Any]) -> None:
    cost = b6["cost_per_million_events"]
    same, breakdown = cost["ours_same_sinks_as_original"], cost["breakdown"]
    same_breakdown = b6["ours_same_sinks_as_original_breakdown"]
    # the run publishes to EventBridge; without it that line is 0 and the rest is as measured, but Lambda,
    # which no longer waits for PutEvents (20 ms a call, assumed), costs less
    assert breakdown["eventbridge"]["ours"] > 0 and same_breakdown["eventbridge"] == 0
    for service in ("dynamodb", "dynamodb_storage", "kinesis", "customer_profiles", "sqs"):
        assert same_breakdown[service] == breakdown[service]["ours"], service
    assert 0 < same_breakdown["lambda"] < breakdown["lambda"]["ours"]
    assert sum(same_breakdown.values()) == pytest.approx(same, abs=1e-3)
    assert same < cost["ours"] - breakdown["eventbridge"]["ours"]
    assert b6["ratio_ours_same_sinks_to_original_batch100"] == pytest.approx(
        same / cost["original"], rel=1e-2
    )
    # and make bench's table prints it
    results = json.loads(report.RESULTS.read_text(encoding="utf-8"))  # the other benchmarks' figures
    results["details"]["B6"], results["cost_per_million_events"] = b6, cost
    rows, _ = report.evaluate(results)
    (row,) = [r for r in rows if "original's sinks" in r.metric]
    assert row.measured == f"${same:,.3f}"


def test_the_density_sweep_goes_from_sparse_to_dense(b6: dict[str, Any]) -> None:
    for side in ("ours", "original"):
        sparse, dense = b6["density_sweep"][side]
        # 200 records on 4 shards make one batch per shard: the sparse end needs the standard sizes
        assert sparse["interleaved"] and sparse["events_per_user_batch"] < dense["events_per_user_batch"]
        assert dense["events_per_user_batch"] > 5
        assert sparse["usd_per_million_events"] > 0 and dense["usd_per_million_events"] > 0


def test_interleaving_keeps_every_record_and_each_users_order() -> None:
    workload = standard_workload(50, 300)
    dealt = b6_cost.interleaved(workload)
    assert sorted(r.data for r in dealt.records) == sorted(r.data for r in workload.records)
    for key in {r.partition_key for r in workload.records}:
        assert [r.data for r in dealt.records if r.partition_key == key] == [
            r.data for r in workload.records if r.partition_key == key
        ]


def test_the_monthly_bill_model_scales_and_sizes() -> None:
    assert b6_cost.scale_fill(1_000_000)[:2] == (1, 1)
    scorer_fill, sync_fill, rate = b6_cost.scale_fill(1_000_000_000)
    assert 90 <= scorer_fill <= 100 and sync_fill == 100 and rate == pytest.approx(380.5, rel=1e-3)


def test_the_monitoring_cost_is_priced_from_the_price_list(b6: dict[str, Any]) -> None:
    monitoring = b6["monitoring_monthly"]
    alarm, dashboard, key = (
        prices.usd("cloudwatch_alarm_metric_month"),
        prices.usd("cloudwatch_dashboard_month"),
        prices.usd("kms_key_month"),
    )
    assert alarm > 0 and dashboard > 0 and key > 0
    assert monitoring["alarms"] == b6_cost.MONITORING_ALARMS
    assert monitoring["breakdown_usd"] == {
        "alarms": round(b6_cost.MONITORING_ALARMS * alarm, 2),
        "dashboard": dashboard,
        "topic_key": key,
    }
    assert monitoring["monthly_usd"] == round(b6_cost.MONITORING_ALARMS * alarm + dashboard + key, 2)
    bare = b6_cost.monitoring_monthly(dashboard=False, topic_key=False)
    assert bare["monthly_usd"] == round(b6_cost.MONITORING_ALARMS * alarm, 2)
    assert "the topic's key $1.00" in report.monitoring_line(monitoring)
