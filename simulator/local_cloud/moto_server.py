"""An embedded moto server on 127.0.0.1, in its own process, with moto's Lambda invocation switched off.

moto would run Lambda code in Docker (absent here) whenever a Kinesis stream or DynamoDB table with an
event source mapping receives data, and on a DynamoDB stream it would consume the records while trying.
Our local Lambda runner polls the streams itself, so the server process patches those two hooks to do
nothing before it starts. It also applies the other fixes of the embedded cloud (moto_atomic.py,
moto_delivery.py), runs the Pipes service (pipes_service.py), and serves what moto leaves out of two answers:

- GetFunction's `Code.Location` points at this server (`/_embedded/lambda-code/...`), which answers with the
  deployed zip, as AWS answers with a presigned S3 URL (moto's points at an unreachable amazonaws.com name);
- with `--localstack-health`, `GET /_localstack/health` answers like a LocalStack whose services the module
  needs are running, so the server can stand in for LocalStack on port 4566 (localstack_standin.py).

Run as `python -m simulator.local_cloud.moto_server --port N [--localstack-health]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
LAMBDA_CODE_PATH = "/_embedded/lambda-code/"
LOCALSTACK_HEALTH_PATH = "/_localstack/health"
# What a LocalStack running the module's services reports; "edition" says what really answers.
STANDIN_SERVICES = (
    "cloudwatch", "dynamodb", "dynamodbstreams", "events", "iam", "kinesis", "kms", "lambda", "logs",
    "sns", "sqs", "ssm", "sts",
)  # fmt: skip


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def remove_per_request_scans() -> None:
    """Take out three costs of moto 5.2 that grow with the data, none of which changes an answer (issue #4).

    Measured per operation in the server during a 6,000-event run (CPU seconds): SQS ReceiveMessage 243,
    EventBridge PutEvents 86, Kinesis GetRecords 35, against 8 for all DynamoDB transactions; then, at
    20,000 events, PutEvents still 47 (~60 ms a call: 4.).

    1. Each request resolves its backend under one global lock by listing and stat()ing every directory
       of the moto package (~150): listed once here, the package does not change while the server runs.
    2. SQS computes every queue attribute (three of them scan all messages) to read one: the retention
       period, per received message. Read here from the queue itself: same value, no scan.
    3. Kinesis GetRecords walks the shard from its first record to the iterator's position in Python;
       here the position is found by bisection over the shard's (ascending) sequence numbers.
    4. EventBridge builds a new JSONPath parser (a yacc table) for every input path of every event and
       target; the parsed expressions are immutable, so each path is parsed once.
    """
    import bisect
    import functools

    import jsonpath_ng.ext
    from moto import backends
    from moto.core.utils import unix_time
    from moto.kinesis.models import Shard
    from moto.sqs.models import SQSBackend

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        retention_s = self.get_queue(queue_name).message_retention_period
        return bool(int(retention_s) + message.sent_timestamp / 1000 > unix_time())

    SQSBackend.is_message_valid_based_on_retention_period = retained  # type: ignore[method-assign]

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
        position = int(last_sequence_id)
        numbers = list(self.records)  # insertion order is ascending: each record gets the last + 1
        start = bisect.bisect_right(numbers, position)
        chosen = numbers[start : start + limit] if limit else numbers[start:]
        if not chosen:
            return [], position, 0
        results = [self.records[number] for number in chosen]
        behind_s = self.records[numbers[-1]].created_at - results[-1].created_at
        return results, chosen[-1], int(behind_s * 1000)

    Shard.get_records = get_records  # type: ignore[method-assign]

    # moto.events.utils imports `parse` from jsonpath_ng.ext inside the call, so the module attribute counts.
    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def disable_lambda_stream_invocation() -> None:
    """Make moto leave stream records alone: the local runner delivers them to the handlers."""
    from moto.awslambda.models import LambdaBackend

    def _no_kinesis_delivery(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    def _no_dynamodb_delivery(self: Any, *args: Any, **kwargs: Any) -> None:
        return None  # falsy: moto keeps the stream records for GetRecords

    LambdaBackend.send_kinesis_message = _no_kinesis_delivery  # type: ignore[method-assign]
    LambdaBackend.send_dynamodb_items = _no_dynamodb_delivery  # type: ignore[method-assign,assignment]


def serve_lambda_code() -> None:
    """Make GetFunction's Code.Location a URL of this server that answers with the function's zip."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.get_code

    def get_code(self: Any) -> dict[str, Any]:
        response: dict[str, Any] = original(self)
        base = os.environ.get("EMBEDDED_MOTO_URL")
        if base and "Code" in response and getattr(self, "code_bytes", None):
            location = f"{base}{LAMBDA_CODE_PATH}{self.account_id}/{self.region}/{self.function_name}"
            response["Code"] = {"RepositoryType": "S3", "Location": location}
        return response

    LambdaFunction.get_code = get_code  # type: ignore[method-assign]


def _lambda_zip(path: str) -> bytes | None:
    from moto.awslambda.models import lambda_backends

    try:
        account, region, name = path[len(LAMBDA_CODE_PATH) :].split("/")
        return bytes(lambda_backends[account][region].get_function(name).code_bytes) or None
    except Exception:
        return None


def localstack_health() -> dict[str, Any]:
    return {
        "services": dict.fromkeys(STANDIN_SERVICES, "running"),
        "edition": "embedded-moto-standin",
        "version": "simulator.local_cloud (not LocalStack)",
    }


def embedded_routes(app: Any, answer_localstack_health: bool) -> Any:
    """WSGI middleware: the two routes above, everything else to moto."""

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") == "GET" and path.startswith(LAMBDA_CODE_PATH):
            body = _lambda_zip(path)
            if body is None:
                start_response("404 Not Found", [("Content-Length", "0")])
                return [b""]
            start_response(
                "200 OK", [("Content-Type", "application/zip"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if answer_localstack_health and path == LOCALSTACK_HEALTH_PATH:
            body = json.dumps(localstack_health()).encode()
            start_response(
                "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        return app(environ, start_response)

    return application


class EmbeddedMoto:
    """Start and stop a moto server subprocess; usable as a context manager.

    `localstack_health=True` makes it answer LocalStack's health check too (the LocalStack stand-in).
    """

    def __init__(
        self, port: int | None = None, startup_timeout_s: float = 60.0, *, localstack_health: bool = False
    ) -> None:
        self.port = port or free_port()
        self.endpoint_url = f"http://{HOST}:{self.port}"
        self.localstack_health = localstack_health
        self._timeout = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedMoto:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        flags = ["--localstack-health"] if self.localstack_health else []
        self._process = subprocess.Popen(
            [sys.executable, "-m", "simulator.local_cloud.moto_server", "--port", str(self.port), *flags],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto server exited with code {self._process.returncode}")
            if self.healthy():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto server did not answer on {self.endpoint_url} within {self._timeout}s")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint_url}/moto-api/data.json", timeout=2) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def reset(self) -> None:
        """Drop every resource (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None

    def __enter__(self) -> EmbeddedMoto:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--localstack-health", action="store_true", help="answer GET /_localstack/health")
    args = parser.parse_args()
    endpoint_url = f"http://{HOST}:{args.port}"
    os.environ["EMBEDDED_MOTO_URL"] = endpoint_url
    disable_lambda_stream_invocation()
    remove_per_request_scans()
    # Stock moto loses concurrent DynamoDB updates and blinds open stream iterators when a transaction
    # is cancelled (docs/reliability.md): every embedded server runs with the fix.
    from simulator.local_cloud.moto_atomic import make_dynamodb_atomic
    from simulator.local_cloud.moto_delivery import install as install_delivery
    from simulator.local_cloud.pipes_service import PipesService

    make_dynamodb_atomic()
    install_delivery()
    serve_lambda_code()
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = embedded_routes(DomainDispatcherApplication(create_backend_app), args.localstack_health)
    server = make_server(HOST, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    serving = threading.Thread(target=server.serve_forever, name="moto-server", daemon=True)
    serving.start()
    pipes = PipesService(endpoint_url).start()
    parent = os.getppid()
    try:
        # Exit with the parent even when it dies without stopping us (SIGKILL): no orphaned listener.
        while os.getppid() == parent:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        pipes.stop()
        server.shutdown()


if __name__ == "__main__":
    main()
