"""`run --route-share`: the records taking the module's SMS route reach the stream on other shards than a
user's direct records, so `run` sends them first and waits for the drain, then the direct ones, and the
oracle reads the records in exactly that order (simulator/routes.py, "Stream order")."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from simulator_support import FakeDeployment

import simulator.cli as cli
import simulator.oracle as oracle


def _identity(data: bytes) -> Any:
    """A record as the oracle's input and as the routes carry it: an SMS record by its log messages (the
    route re-wraps them), any other record by its bytes."""
    if data[:2] == b"\x1f\x8b":
        return ("sms", tuple(e["message"] for e in json.loads(gzip.decompress(data))["logEvents"]))
    return data


def test_routed_records_go_first_and_drain_and_the_oracle_reads_the_records_in_send_order(
    fake_deployment: Callable[..., FakeDeployment],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a deployment with the module's SMS log group subscribed to its two-shard stream, whose engine
    # consumes drain after drain (shard after shard within one), and the oracle's input observed
    deployment = fake_deployment(sms_route=True)
    read: list[bytes] = []
    original_expect = oracle.expect

    def observed_expect(records: Any, *args: Any, **kwargs: Any) -> oracle.Expectation:
        records = list(records)
        read.extend(records)
        return original_expect(records, *args, **kwargs)

    monkeypatch.setattr(oracle, "expect", observed_expect)

    # when a run sends half of the SMS records through the route (no STOP replies: no inbound topic here)
    code = cli.main(
        [
            "run", "--users", "60", "--events", "600", "--seed", "5", "--route-share", "0.5",
            "--funnel", "sms_stop=0", "--json", "--no-progress", "--report-dir", str(tmp_path),
        ]
    )  # fmt: skip

    # then every routed record went first, one PutLogEvents each, then a drain, then the direct records
    assert code == 0, capsys.readouterr().err[-3000:]
    kinds = [name for name, _ in deployment.calls]
    routed = kinds.count("logs.put_log_events")
    assert routed > 10 and kinds[:routed] == ["logs.put_log_events"] * routed, kinds
    assert kinds[routed] == "drain" and set(kinds[routed + 1 : -1]) == {"kinesis.put_records"}, kinds
    sent: list[Any] = []
    for name, kwargs in deployment.calls:
        if name == "logs.put_log_events":
            sent.append(("sms", tuple(e["message"] for e in kwargs["logEvents"])))
        elif name == "kinesis.put_records":
            sent += [_identity(entry["Data"]) for entry in kwargs["Records"]]
    # and the oracle read the records in exactly that order, so it agrees with the engine
    assert [_identity(data) for data in read] == sent
    state = json.loads(capsys.readouterr().out)
    assert state["mismatches"] == 0
    report = json.loads(Path(state["report"]).read_text())
    assert report["routes"]["drained_before_direct"] is True
    assert report["routes"]["put_log_events_calls"] == routed
