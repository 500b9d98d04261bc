"""`make simulate TARGET=localstack` end to end, against the embedded cloud standing in for LocalStack.

What this runs is the LocalStack target's own code, unchanged: the health-check detection on
localhost:4566, tflocal's provider override for init/apply/destroy of examples/local, localstack-client's
endpoint routing for every client, the drain watch that compares the stream with the scorer's log lines,
the batch statistics read back from CloudWatch Logs, and the verification of every score (Pinpoint off,
as on LocalStack's free tier). What answers is the stand-in (simulator/local_cloud/localstack_standin.py):
moto for the APIs, and the embedded Lambda runner for what LocalStack adds (running the functions of the
event source mappings, their output in CloudWatch Logs).

So it proves that the path works against an AWS-compatible endpoint on LocalStack's port; it does not
prove what only LocalStack itself can show: its Terraform API coverage and answers, its event source
mapping implementation (no bisect, no parallelization factor on LocalStack), its Lambda containers.
Users with Docker run that with docker-compose.yml (README, "LocalStack"). The stand-in takes LocalStack's
port 4566 when it is free; when it is taken (a LocalStack container, another test run on the same machine)
it takes a free port and the run is told where LocalStack is the way a user tells it, `LOCALSTACK_HOST`
(the detection, tflocal and localstack-client all follow it), so two runs side by side do not collide.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from simulator.local_cloud.localstack_standin import LOCALSTACK_PORT, LocalStackStandIn, port_in_use
from simulator.local_cloud.moto_server import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def standin() -> Iterator[LocalStackStandIn]:
    port = LOCALSTACK_PORT if port_in_use(LOCALSTACK_PORT) is None else free_port()
    lines: list[str] = []
    with LocalStackStandIn(port=port, log=lines.append) as running:
        yield running


def test_make_simulate_target_localstack_runs_the_whole_path(
    standin: LocalStackStandIn, tmp_path: Path
) -> None:
    make = shutil.which("make")
    assert make is not None, "make is not on PATH"
    args = f"--users 60 --events 600 --seed 5 --json --no-progress --timeout 300 --report-dir {tmp_path}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "LOCALSTACK"))}
    if standin.port != LOCALSTACK_PORT:  # 4566 was taken: say where, as a user with another port would
        env["LOCALSTACK_HOST"] = f"localhost:{standin.port}"
    # when the Makefile's simulate target runs with TARGET=localstack
    result = subprocess.run(
        [make, "--no-print-directory", "simulate", "TARGET=localstack", f"ARGS={args}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]

    # then the simulator ran on the LocalStack target and every score equals the oracle's
    state = json.loads(result.stdout[result.stdout.index("{") :])  # make's own lines come first
    assert state["target"] == "localstack"
    assert "localstack: tflocal init + apply of examples/local" in result.stderr
    assert state["mismatches"] == 0
    assert len(state["users"]) >= 30
    # and the statistics came back through CloudWatch Logs, where the functions' output was written
    scorer, sync = state["pipeline"]["scorer"], state["pipeline"]["score_sync"]
    assert scorer["records"] >= 600 and scorer["scored"] > 0 and sync["events_published"] > 0
    report = json.loads(Path(state["report"]).read_text())
    assert report["verification"]["eventbridge"]["checked"] is True
    assert report["verification"]["eventbridge"]["missing"] == 0
    assert report["verification"]["pinpoint"]["checked"] is False  # Pinpoint is off on LocalStack
    # and tflocal went through the stand-in's port: the stand-in ran both deployed functions, then the destroy
    # removed the mappings (the watcher stopped them) and the functions
    assert sorted(standin.started_functions) == sorted(standin.stopped_functions)
    assert {name.rsplit("-", 1)[-1] for name in standin.started_functions} >= {"scorer", "sync"}
    assert standin.pipeline_stats().get("function_errors", 0) == 0
    lambda_ = boto3.client(
        "lambda",
        endpoint_url=standin.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert lambda_.list_functions()["Functions"] == []
    assert lambda_.list_event_source_mappings()["EventSourceMappings"] == []


def test_a_taken_port_is_a_clear_failure_not_a_skip() -> None:
    port = free_port()  # not 4566: another run on this machine may hold it
    with LocalStackStandIn(port=port, log=lambda _: None) as first:
        assert port_in_use(first.port)
        with pytest.raises(RuntimeError, match=f"needs port {port}, but something is listening"):
            LocalStackStandIn(port=port).start()
