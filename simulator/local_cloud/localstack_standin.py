"""The embedded cloud on LocalStack's port, so the LocalStack target's code path can run where Docker cannot.

`make simulate TARGET=localstack` finds LocalStack by its health check on localhost:4566, applies
examples/local with tflocal, talks to it through localstack-client and lets LocalStack run the functions.
This stand-in answers on 127.0.0.1:4566 instead:

- the AWS APIs and the health check: an embedded moto server (moto_server.py, `--localstack-health`),
  with every fix and delivery of the embedded cloud;
- what LocalStack does beyond moto, running the functions of the event source mappings Terraform creates
  and writing their output to CloudWatch Logs (`/aws/lambda/<name>`, where the target reads the batch
  lines): the embedded Lambda runner (runner.py). A watcher polls the mappings; once a function has an
  enabled stream mapping it downloads the zip GetFunction points at, checks it against CodeSha256, and
  runs the function; it stops the function when its mappings are deleted (the target's destroy).

What running the LocalStack target against it proves and does not prove: tests/integration/
test_simulate_localstack.py and the README's "LocalStack" section.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from simulator.local_cloud.moto_server import HOST, EmbeddedMoto
from simulator.local_cloud.runner import LocalLambdaRunner, LogFn
from simulator.local_cloud.stats import PipelineStats

LOCALSTACK_PORT = 4566
STREAM_SOURCES = ("kinesis", "dynamodb")


def port_in_use(port: int) -> str | None:
    """What holds `port` on this machine's loopback ("listening on ..." / "cannot bind ..."), or None."""
    for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(1)
            if probe.connect_ex((address, port)) == 0:
                return f"something is listening on {address}:{port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as the server will bind: connections of an earlier run waiting in TIME_WAIT do not block it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            return f"cannot bind {HOST}:{port} ({exc.strerror})"
    return None


class _CloudWatchLogSink:
    """Writes a function's output to its log group, one log event per line, as Lambda does."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        self.logs = boto3.client(
            "logs",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self._streams: dict[str, str] = {}
        self._lock = threading.Lock()

    def _stream(self, group: str) -> str:
        if group not in self._streams:
            with contextlib.suppress(self.logs.exceptions.ResourceAlreadyExistsException):
                self.logs.create_log_group(logGroupName=group)
            day = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d")
            name = f"{day}/[$LATEST]{uuid.uuid4().hex}"
            self.logs.create_log_stream(logGroupName=group, logStreamName=name)
            self._streams[group] = name
        return self._streams[group]

    def __call__(self, function_name: str, output: str) -> None:
        lines = [line for line in output.splitlines() if line.strip()]
        if not lines:
            return
        group = f"/aws/lambda/{function_name}"
        now = int(time.time() * 1000)
        with self._lock:
            self.logs.put_log_events(
                logGroupName=group,
                logStreamName=self._stream(group),
                logEvents=[{"timestamp": now, "message": line} for line in lines],
            )


class LocalStackStandIn:
    """moto + the Lambda runner on LocalStack's port; a context manager. A taken port is a clear error."""

    def __init__(
        self,
        port: int = LOCALSTACK_PORT,
        region: str = "us-east-1",
        log: LogFn = lambda _: None,
        watch_interval_s: float = 0.5,
    ) -> None:
        self.port = port
        self.region = region
        self.log = log
        self.watch_interval_s = watch_interval_s
        self.moto = EmbeddedMoto(port=port, localstack_health=True)
        self.runners: dict[str, LocalLambdaRunner] = {}  # function name -> its running runner
        self._every_runner: list[LocalLambdaRunner] = []
        self.started_functions: list[str] = []
        self.stopped_functions: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="localstack-standin", daemon=True)
        self._work_dir = Path(tempfile.mkdtemp(prefix="localstack-standin-"))
        self._lambda: Any = None
        self._sink: _CloudWatchLogSink | None = None

    @property
    def endpoint_url(self) -> str:
        return self.moto.endpoint_url

    def start(self) -> LocalStackStandIn:
        busy = port_in_use(self.port)
        if busy:
            raise RuntimeError(
                f"the LocalStack stand-in needs port {self.port}, but {busy} (a LocalStack container?): "
                "stop it and run again"
            )
        self.moto.start()
        self._lambda = boto3.client(
            "lambda",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        self._sink = _CloudWatchLogSink(self.endpoint_url, self.region)
        self._thread.start()
        self.log(f"localstack stand-in: moto and the Lambda runner on {self.endpoint_url}")
        return self

    def _mapped_functions(self) -> set[str]:
        names: set[str] = set()
        marker: dict[str, Any] = {}
        while True:
            page = self._lambda.list_event_source_mappings(**marker)
            for esm in page["EventSourceMappings"]:
                if (
                    str(esm["EventSourceArn"]).split(":")[2] in STREAM_SOURCES
                    and esm.get("State") != "Disabled"
                ):
                    names.add(str(esm["FunctionArn"]).split(":")[6])
            if not page.get("NextMarker"):
                return names
            marker = {"Marker": page["NextMarker"]}

    def _code(self, function_name: str) -> Path:
        """The deployed zip, from GetFunction's Code.Location (the runner checks it against CodeSha256)."""
        location = self._lambda.get_function(FunctionName=function_name)["Code"]["Location"]
        path = self._work_dir / f"{function_name}.zip"
        with urllib.request.urlopen(location, timeout=30) as response:
            path.write_bytes(response.read())
        return path

    def _start_function(self, name: str) -> None:
        assert self._sink is not None
        runner = LocalLambdaRunner(
            self.endpoint_url,
            {name: self._code(name)},
            region=self.region,
            log=self.log,
            log_sink=self._sink,
            function_names={name},
        ).start()
        self.runners[name] = runner
        self._every_runner.append(runner)
        self.started_functions.append(name)
        self.log(f"localstack stand-in: running {name}")

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                mapped = self._mapped_functions()
                for name in sorted(set(self.runners) - mapped):
                    self.runners.pop(name).stop()
                    self.stopped_functions.append(name)
                    self.log(f"localstack stand-in: {name} has no stream mapping any more, stopped")
                for name in sorted(mapped - set(self.runners)):
                    self._start_function(name)
            except (ClientError, BotoCoreError, OSError, RuntimeError) as exc:
                self.log(f"localstack stand-in: watching the mappings failed ({type(exc).__name__}: {exc})")
            self._stop.wait(self.watch_interval_s)

    def pipeline_stats(self) -> dict[str, Any]:
        """The runners' own counters (invocations, errors...), summed over every function run so far."""
        total = PipelineStats()
        for runner in list(self._every_runner):
            for counter, value in runner.pipeline_stats()["runner"].items():
                total.count(counter, value)
        return total.snapshot()["runner"]

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        for runner in self.runners.values():
            runner.stop()
        self.runners.clear()
        self.moto.stop()

    def __enter__(self) -> LocalStackStandIn:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
