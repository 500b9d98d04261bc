"""Target selection and configuration: LocalStack detection, tflocal setup, AWS setup, embedded teardown."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from simulator import targets
from simulator.local_cloud import localstack
from simulator.local_cloud.terraform import ROOT, copy_module

HEALTHY = {
    "services": {"kinesis": "running", "dynamodb": "available", "lambda": "running", "sqs": "available"},
    "edition": "community",
}


class FakeLocalStack:
    """Answers GET /_localstack/health with whatever the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body: bytes = json.dumps(HEALTHY).encode()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                code, body = (fake.status, fake.body) if self.path == "/_localstack/health" else (404, b"")
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})

    def answer(self, document: object, status: int = 200) -> None:
        self.status = status
        self.body = document if isinstance(document, bytes) else json.dumps(document).encode()


@pytest.fixture
def fake_localstack() -> Iterator[FakeLocalStack]:
    fake = FakeLocalStack()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_localstack_is_available_when_every_needed_service_runs(fake_localstack: FakeLocalStack) -> None:
    assert localstack.localstack_available(fake_localstack.url)


@pytest.mark.parametrize(
    "document",
    [
        {"services": {**HEALTHY["services"], "lambda": "disabled"}},  # type: ignore[dict-item]
        {"services": {**HEALTHY["services"], "kinesis": "error"}},  # type: ignore[dict-item]
        {"services": {"kinesis": "running", "dynamodb": "running", "sqs": "running"}},
        {"status": "ok"},
        ["not", "an", "object"],
        b"<html>not json</html>",
    ],
)
def test_localstack_is_unavailable_on_unhealthy_answers(
    fake_localstack: FakeLocalStack, document: object
) -> None:
    fake_localstack.answer(document)
    assert not localstack.localstack_available(fake_localstack.url)


def test_localstack_is_unavailable_on_errors_and_silence(fake_localstack: FakeLocalStack) -> None:
    fake_localstack.answer(HEALTHY, status=503)
    assert not localstack.localstack_available(fake_localstack.url)
    assert not localstack.localstack_available(f"http://127.0.0.1:{_closed_port()}")


def test_auto_picks_localstack_only_when_it_is_healthy(fake_localstack: FakeLocalStack) -> None:
    assert targets.resolve_target("auto", fake_localstack.url) == "localstack"
    fake_localstack.answer({"services": {}})
    assert targets.resolve_target("auto", fake_localstack.url) == "embedded"
    assert targets.resolve_target("aws", fake_localstack.url) == "aws"
    with pytest.raises(ValueError, match="unknown target"):
        targets.resolve_target("gcp")


def test_localstack_host_says_where_localstack_listens(
    fake_localstack: FakeLocalStack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert localstack.endpoint_url({}) == "http://localhost:4566"
    assert localstack.endpoint_url({"LOCALSTACK_HOST": "ls.internal"}) == "http://ls.internal:4566"
    for bad in ("localhost:port", "http://localhost:4566", ":4566", "localhost:0", "localhost:70000"):
        with pytest.raises(ValueError, match="is not host\\[:port\\]"):
            localstack.endpoint_url({"LOCALSTACK_HOST": bad})
    # auto detection and the LocalStack target follow it (the environment, as a user sets it)
    host = fake_localstack.url.split("://", 1)[1]
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # localstack-client would prefer it
    monkeypatch.setenv("LOCALSTACK_HOST", host)
    assert targets.resolve_target("auto") == "localstack"
    deployment = targets.LocalStackDeployment({}, log=lambda _: None, run_dir=tmp_path)
    assert deployment.url == fake_localstack.url
    assert deployment.terraform_runner().env["AWS_ENDPOINT_URL"] == fake_localstack.url
    assert deployment.client("sqs").meta.endpoint_url == fake_localstack.url
    monkeypatch.delenv("LOCALSTACK_HOST")
    default = targets.LocalStackDeployment({}, log=lambda _: None, run_dir=tmp_path)
    assert default.url == localstack.DEFAULT_URL


def test_localstack_configuration_turns_pinpoint_off_and_routes_tflocal(tmp_path: Path) -> None:
    deployment = targets.LocalStackDeployment(
        {"name_prefix": "ls", "pinpoint_application_id": "abc", "scorer_batch_size": 50},
        log=lambda _: None,
        url="http://localhost:4566",
        run_dir=tmp_path,
    )

    assert deployment.tf_vars == {
        "name_prefix": "ls",
        "scorer_batch_size": 50,
        "aws_endpoint_url": "http://localhost:4566",
        "pinpoint_application_id": None,
        "create_pinpoint_event_stream": False,
    }
    runner = deployment.terraform_runner()
    assert Path(runner.command[0]).name == "tflocal"
    assert runner.working_dir == tmp_path / "module" / "examples" / "local"
    assert runner.env["AWS_ENDPOINT_URL"] == "http://localhost:4566"
    assert Path(runner.env["TF_CMD"]).name == "terraform"


def test_tflocal_writes_a_provider_override_for_the_localstack_endpoint(tmp_path: Path) -> None:
    # DRY_RUN makes tflocal only write its override file, so this runs without LocalStack
    deployment = targets.LocalStackDeployment(
        {}, log=lambda _: None, url="http://127.0.0.1:4599", run_dir=tmp_path
    )
    copy_module(tmp_path / "module")
    runner = deployment.terraform_runner()

    subprocess.run(
        [*runner.command, "init"],
        cwd=runner.working_dir,
        env={**runner.env, "DRY_RUN": "1"},
        check=True,
        capture_output=True,
        timeout=120,
    )

    override = (runner.working_dir / "localstack_providers_override.tf").read_text()
    for service in ("kinesis", "dynamodb", "lambda", "sqs", "iam", "events"):
        assert re.search(rf'\n\s*{service}\s*=\s*"http://127.0.0.1:4599"', override), service


def test_localstack_start_refuses_without_a_healthy_instance(tmp_path: Path) -> None:
    deployment = targets.LocalStackDeployment(
        {}, log=lambda _: None, url=f"http://127.0.0.1:{_closed_port()}", run_dir=tmp_path
    )
    with pytest.raises(RuntimeError, match="no healthy LocalStack"):
        deployment.start()


def test_aws_configuration_uses_plain_terraform_on_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("ENGAGEMENT_AWS_KEEP", "1")
    monkeypatch.delenv("ENGAGEMENT_AWS_ROOT", raising=False)

    deployment = targets.AwsDeployment({"name_prefix": "load"}, log=lambda _: None, run_dir=tmp_path)

    assert deployment.root == ROOT / "examples" / "complete"
    assert deployment.working_dir() == tmp_path / "module" / "examples" / "complete"
    assert deployment.keep is True
    assert deployment.region == "eu-west-1"
    runner = deployment.terraform_runner()
    assert runner.command == ["terraform"]
    outside = targets.AwsDeployment(
        {}, log=lambda _: None, root=tmp_path / "my-root", run_dir=tmp_path, keep=False
    )
    assert outside.working_dir() == tmp_path / "my-root" and outside.keep is False


def test_sigterm_unwinds_like_ctrl_c_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), targets._sigterm_as_keyboard_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


class _RecordingEmbedded(targets.EmbeddedDeployment):
    ports: ClassVar[list[int]] = []

    def close(self) -> None:
        if self.moto is not None and self.pinpoint is not None and self.customer_profiles is not None:
            _RecordingEmbedded.ports = [self.moto.port, self.pinpoint.port, self.customer_profiles.port]
        super().close()


def test_embedded_teardown_after_a_failed_start_leaves_no_port_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[targets.EmbeddedDeployment] = []

    def deployment_with_a_missing_example(tf_vars: dict[str, Any], log: Any) -> targets.EmbeddedDeployment:
        deployment = _RecordingEmbedded(tf_vars, log, run_dir=tmp_path, example="examples/missing")
        created.append(deployment)
        return deployment

    monkeypatch.setattr(targets, "EmbeddedDeployment", deployment_with_a_missing_example)
    logs: list[str] = []

    with pytest.raises(OSError), targets.open_deployment("embedded", {}, logs.append):
        pass  # never reached: terraform cannot start in a missing example folder

    (deployment,) = created
    assert deployment.pinpoint_app_id  # the Pinpoint app was created on moto before the apply
    assert len(_RecordingEmbedded.ports) == 3
    assert not any(_port_open(port) for port in _RecordingEmbedded.ports)
    assert logs[-1] == "embedded: torn down"


SIGTERM_SCRIPT = """
from simulator.targets import open_deployment
with open_deployment("embedded", {}, lambda message: print(message, flush=True)):
    pass
"""


def test_sigterm_during_the_apply_stops_moto_and_the_standin() -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", SIGTERM_SCRIPT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "terraform init + apply" in line:
            break
    ports = [int(port) for port in re.findall(r"http://127\.0\.0\.1:(\d+)", lines[0])]

    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=60)[0]

    assert len(ports) == 3  # moto and the two stand-ins
    assert "embedded: torn down" in output
    assert not any(_port_open(port) for port in ports)
