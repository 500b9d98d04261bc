"""Warm Lambda sandboxes for the local runner: one worker process per concurrent execution of a function.

A worker (lambda_worker.py) keeps the handler module imported between invocations, like a warm Lambda
execution environment. A timed-out invocation kills the worker; the next invocation starts a fresh one
(a cold start), which is what Lambda does after a timeout.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER_SCRIPT = Path(__file__).resolve().parent / "lambda_worker.py"
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase, separate from the function timeout


@dataclass(frozen=True)
class FunctionSpec:
    """What the runner needs to run one deployed function (read from the emulator)."""

    name: str
    arn: str
    handler: str
    timeout_s: float
    memory_mb: int
    role_arn: str
    variables: dict[str, str]
    code_zip: Path
    code_sha256: str = ""


@dataclass
class Invocation:
    """The outcome of one synchronous invocation."""

    request_id: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    logs: str = ""
    duration_s: float = 0.0

    @property
    def function_error(self) -> str | None:
        """Lambda's X-Amz-Function-Error value: "Unhandled" for exceptions and timeouts."""
        return None if self.ok else "Unhandled"


def zip_sha256_b64(path: Path) -> str:
    """The CodeSha256 Lambda reports for a zip: base64 of the SHA-256 of the file."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def runtime_environment(
    spec: FunctionSpec,
    region: str,
    endpoint_url: str,
    pinpoint_endpoint_url: str | None,
    task_root: Path,
    customer_profiles_endpoint_url: str | None = None,
) -> dict[str, str]:
    """The environment a Lambda Python runtime gives the handler, routed to the local endpoints.

    Starts from a clean environment (not the caller's), so nothing of the developer's shell leaks in.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "HOME": str(task_root.parent),
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        # No shared config or credentials files: a Lambda sandbox has none.
        "AWS_CONFIG_FILE": str(task_root.parent / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(task_root.parent / "no-aws-credentials"),
        "AWS_ENDPOINT_URL": endpoint_url,
        "LOCAL_LAMBDA_FUNCTION_ARN": spec.arn,
        "PYTHONUNBUFFERED": "1",
    }
    if pinpoint_endpoint_url:
        env["AWS_ENDPOINT_URL_PINPOINT"] = pinpoint_endpoint_url
    if customer_profiles_endpoint_url:
        # botocore's name for the service id "Customer Profiles" (upper case, spaces to underscores)
        env["AWS_ENDPOINT_URL_CUSTOMER_PROFILES"] = customer_profiles_endpoint_url
    if "AWS_CA_BUNDLE" in os.environ:
        env["AWS_CA_BUNDLE"] = os.environ["AWS_CA_BUNDLE"]
    env.update(spec.variables)  # the function's own variables win, as in Lambda (except reserved ones)
    env["_HANDLER"] = spec.handler
    return env


class FunctionWorker:
    """One worker process; invocations are serialized by the pool."""

    def __init__(self, spec: FunctionSpec, task_root: Path, env: dict[str, str]) -> None:
        self.spec = spec
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._next_id = 0
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-B", str(WORKER_SCRIPT)],
            cwd=task_root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        self._reader = threading.Thread(target=self._read_answers, name=f"worker-{spec.name}", daemon=True)
        self._reader.start()

    def _read_answers(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def wait_ready(self, timeout_s: float) -> None:
        """Wait for the end of the init phase; a slow or failed start surfaces in the first invocation."""
        try:
            line = self._answers.get(timeout=timeout_s)
        except queue.Empty:
            return  # like Lambda, the init then continues into the first invocation's time
        if line is None:
            self._answers.put(None)  # the worker died: the invocation reports it

    def alive(self) -> bool:
        return self.process.poll() is None

    def invoke(self, event: dict[str, Any], timeout_s: float) -> Invocation:
        request_id = str(uuid.uuid4())
        self._next_id += 1
        started = time.monotonic()
        request = {
            "id": self._next_id,
            "event": event,
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000 + timeout_s * 1000),
        }
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            return Invocation(
                request_id, ok=False, error={"errorType": "Runtime.ExitError", "errorMessage": str(exc)}
            )
        deadline = started + timeout_s
        while True:
            try:
                line = self._answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                message = f"Task timed out after {timeout_s:.2f} seconds"
                return Invocation(
                    request_id,
                    ok=False,
                    timed_out=True,
                    error={"errorType": "Sandbox.Timedout", "errorMessage": message},
                    duration_s=time.monotonic() - started,
                )
            if line is None:
                code = self.process.wait()
                return Invocation(
                    request_id,
                    ok=False,
                    error={"errorType": "Runtime.ExitError", "errorMessage": f"worker exited with {code}"},
                    duration_s=time.monotonic() - started,
                )
            if not line.startswith('{"ready"'):  # a late end-of-init line is not the answer
                break
        answer = json.loads(line)
        return Invocation(
            request_id,
            ok=bool(answer["ok"]),
            result=answer.get("result"),
            error=answer.get("error"),
            logs=answer.get("logs", ""),
            duration_s=time.monotonic() - started,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Close stdin (the worker leaves its loop), then make sure it is gone."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)


@dataclass
class FunctionPool:
    """Up to `max_concurrency` warm workers of one function, sharing one unpacked copy of its code."""

    spec: FunctionSpec
    region: str
    endpoint_url: str
    pinpoint_endpoint_url: str | None
    work_dir: Path
    max_concurrency: int = 1
    customer_profiles_endpoint_url: str | None = None
    _idle: list[FunctionWorker] = field(default_factory=list)
    _busy: int = 0
    _all: list[FunctionWorker] = field(default_factory=list)
    _condition: threading.Condition = field(default_factory=threading.Condition)
    _closed: bool = False

    def __post_init__(self) -> None:
        self.task_root = self.work_dir / "task"
        self.task_root.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(self.spec.code_zip) as archive:
            archive.extractall(self.task_root)
        self.env = runtime_environment(
            self.spec,
            self.region,
            self.endpoint_url,
            self.pinpoint_endpoint_url,
            self.task_root,
            self.customer_profiles_endpoint_url,
        )

    @contextlib.contextmanager
    def _worker(self) -> Iterator[FunctionWorker]:
        with self._condition:
            while not self._closed and not self._idle and self._busy >= self.max_concurrency:
                self._condition.wait()
            if self._closed:
                raise RuntimeError(f"function pool {self.spec.name} is closed")
            worker = self._idle.pop() if self._idle else None
            self._busy += 1
        try:
            if worker is None or not worker.alive():
                worker = FunctionWorker(self.spec, self.task_root, self.env)
                with self._condition:
                    self._all.append(worker)
                worker.wait_ready(INIT_TIMEOUT_S)
            yield worker
        finally:
            with self._condition:
                self._busy -= 1
                if worker is not None and worker.alive() and not self._closed:
                    self._idle.append(worker)
                self._condition.notify()

    def pids(self) -> list[int]:
        with self._condition:
            return [worker.process.pid for worker in self._all if worker.alive()]

    def invoke(self, event: dict[str, Any]) -> Invocation:
        with self._worker() as worker:
            return worker.invoke(event, self.spec.timeout_s)

    def close(self) -> None:
        with self._condition:
            self._closed = True
            workers, self._all, self._idle = list(self._all), [], []
            self._condition.notify_all()
        for worker in workers:
            worker.stop()
        shutil.rmtree(self.work_dir, ignore_errors=True)


def new_work_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"local-lambda-{prefix}-"))
