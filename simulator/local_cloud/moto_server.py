"""An embedded moto server on 127.0.0.1, in its own process, with moto's Lambda invocation switched off.

moto would run Lambda code in Docker (absent here) whenever a Kinesis stream or DynamoDB table with an
event source mapping receives data, and on a DynamoDB stream it would consume the records while trying.
Our local Lambda runner polls the streams itself, so the server process patches those two hooks to do
nothing before it starts. Run as `python -m simulator.local_cloud.moto_server --port N`.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"


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


class EmbeddedMoto:
    """Start and stop a moto server subprocess; usable as a context manager."""

    def __init__(self, port: int | None = None, startup_timeout_s: float = 60.0) -> None:
        self.port = port or free_port()
        self.endpoint_url = f"http://{HOST}:{self.port}"
        self._timeout = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> EmbeddedMoto:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "simulator.local_cloud.moto_server", "--port", str(self.port)],
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
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    disable_lambda_stream_invocation()
    remove_per_request_scans()
    # Stock moto loses concurrent DynamoDB updates and blinds open stream iterators when a transaction
    # is cancelled (docs/reliability.md): every embedded server runs with the fix.
    from simulator.local_cloud.moto_atomic import make_dynamodb_atomic

    make_dynamodb_atomic()
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=HOST, port=args.port, verbose=False)
    server.start()
    parent = os.getppid()
    try:
        # Exit with the parent even when it dies without stopping us (SIGKILL): no orphaned listener.
        while os.getppid() == parent:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
