"""End to end: Terraform applies the module to the embedded cloud, the simulator streams its default
(successor) workload of ~2,000 records for 200 users (SES bare and EventBridge-wrapped with redeliveries,
SMS in CloudWatch Logs records with double statuses, inbound STOP through SNS/SQS/Pipes, custom app
events, records without a user key; privacy-proxy readers and scanner-protected addresses at the default
shares; 30% of the SMS records through the module's SMS log group and its subscription filter) with
duplicates and malformed records injected, and every user's
score and tier, the scorer's counters, the EventBridge sink and the per-campaign attribution table (the
routed records sent first and drained, the order the oracle reads them in) must equal the oracle; with
decay on, then the clock advances two days and the refresher's cooling is checked against the oracle as
of then, and so are the window rules: a sliding one (two opens in a day), which time alone clears, and an
all-time one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_small_simulation_matches_the_oracle_on_the_embedded_cloud(tmp_path: Path) -> None:
    # given the embedded cloud and a seeded workload with injected duplicates and malformed records
    command = [
        sys.executable, "-m", "simulator", "run", "--target", "embedded",
        "--users", "200", "--events", "2000", "--seed", "11",
        "--duplicate-rate", "0.05", "--malformed-rate", "0.02", "--route-share", "0.3",
        "--json", "--no-progress", "--timeout", "400", "--report-dir", str(tmp_path),
        # decay on, and after the stream drained the clock moves two days past the newest event
        "--decay-half-life-hours", "168", "--advance-hours", "48",
        "--tf-var", 'window_rules=[{"name": "two_opens_day", "event_types": ["_email.open"], "threshold": 2,'
        ' "window_hours": 24}, {"name": "clicked_ever", "event_types": ["_email.click"], "threshold": 1}]',
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'lambda_src'}:{ROOT}", PYTHONDONTWRITEBYTECODE="1")
    # when the simulator runs the whole pipeline
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    # then stdout is exactly one JSON object and nothing disagrees with the oracle
    state = json.loads(result.stdout)
    assert state["mismatches"] == 0
    assert len(state["users"]) >= 150
    assert {user["tier"] for user in state["users"].values()} >= {"cold", "warm"}
    assert state["duplicates"] > 0 and state["malformed"] > 0
    # and the scorer counted exactly the events the oracle counts (duplicates, EventBridge redeliveries and
    # second SMS statuses suppressed, not rescored), skipped the records without a user key and rejected
    # every malformed record, each with a reason
    report = json.loads(Path(state["report"]).read_text())
    scorer = state["pipeline"]["scorer"]
    assert scorer["scored"] == report["oracle"]["counted"] > 500
    assert scorer["duplicates_suppressed"] > 0 and scorer["once_per_message_suppressed"] > 0
    assert scorer["skipped"]["no_user_key"] == report["oracle"]["skipped"]["no_user_key"] > 0
    assert sum(scorer["rejected"].values()) == state["malformed"]
    assert scorer["retryable_failures"] == 0
    # and a share of the SMS records took the module's real route (PutLogEvents into its log group, its
    # subscription filter into the stream) and scored like the rest
    assert report["routes"]["put_log_events_calls"] > 5, report["routes"]
    assert scorer["skipped"]["control_message"] == 1  # CloudWatch Logs checking the new destination
    # and attribution (on by default) credited every conversion as the oracle does: the routed records went
    # first and drained before the direct ones, the order the oracle reads them in (simulator/routes.py)
    assert report["routes"]["drained_before_direct"] is True, report["routes"]
    verification = report["verification"]
    assert verification["campaign_mismatches"] == 0, verification["campaign_details"]
    assert verification["campaigns_compared"] >= 3 and state["campaigns"], verification
    # and the default machine shares are on: privacy-proxy opens and scanner bursts, each generated one caught
    # by the policy, weighed 0 by the scorer as by the oracle (examples/local lists the simulator's scanner)
    machine = report["oracle"]["machine_engagement"]
    for reason in ("privacy_proxy_open", "scanner_list", "burst"):
        row = machine["reasons"][reason]
        assert row["machine_generated"] == row["caught"] > 0, machine
    assert machine["machine_missed"] == 0, machine
    assert scorer["machine_not_counted"] > 0 and scorer["machine_flagged"]["privacy_proxy_open"] > 0
    counters = report["verification"]["counters"]
    assert counters["checked"] is True and counters["ok"] == counters["expected"] >= 5, counters
    # and the EventBridge sink holds the expected updates; Customer Profiles too where the example turns
    # the sink on (examples/local declares `customer_profiles_domain_name`)
    check = report["verification"]["eventbridge"]
    assert check["checked"] is True, check
    assert check["expected"] > 100 and check["missing"] == 0 and check["wrong"] == 0, check
    # and the time advance: the refresher, run with the simulator's clock until nothing was due, cooled the
    # users (each due user read once and written once), and as of that clock every user's score and tier,
    # and what EventBridge and Customer Profiles last saw (tier, score within one point), match the oracle
    advance = report["verification"]["advance"]
    # (at least the users the oracle knows must be due: two publication steps from their final score, or
    # out of their final tier; which others are due depends on the batching)
    first = advance["refresher_runs"][0]
    assert first["users_due"] == first["users_read"] == first["users_refreshed"], advance
    assert advance["users_refreshed"] >= advance["users_certainly_due"] > 20, advance
    assert advance["refresher_runs"][-1]["users_due"] == 0 and advance["mismatches"] == 0, advance
    # and the sliding rule matched at the users' newest events is cleared by the refresher alone (its 24 h
    # window is empty two days later), while the all-time rule stays: as of the clock, as the oracle says
    assert sum(run["rules_changed"] for run in advance["refresher_runs"]) > 0, advance
    rules = {name for user in state["users"].values() for name in user["rules"]}
    assert rules == {"clicked_ever"}, rules
    assert advance["eventbridge"]["ok"] == advance["eventbridge"]["expected"] > 100, advance
    profiles = report["verification"]["customer_profiles"]
    if profiles["checked"]:
        assert advance["customer_profiles"]["ok"] == advance["customer_profiles"]["expected"], advance
        assert profiles["expected"] > 100, profiles
        assert profiles["missing"] == profiles["wrong"] == profiles["unexpected"] == 0, profiles
    else:
        assert profiles["reason"] == "Customer Profiles sink off", profiles
