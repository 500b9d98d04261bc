"""One warm Lambda sandbox: imports a handler from an unpacked deployment package and invokes it on request.

Started by `workers.FunctionWorker` as `python -I -B lambda_worker.py`, with the function's environment and
the unpacked zip as working directory. Protocol: one JSON object per line. Requests arrive on stdin
(`{"id": N, "event": {...}, "deadline_ms": N, "request_id": "..."}`); the answer goes to the original
stdout (`{"id": N, "ok": bool, "result" | "error": ..., "logs": "..."}`), after a first `{"ready": true}` line
that ends the init phase (imports, module-level code). Everything the handler prints,
through print or logging, is captured per invocation and returned as `logs`, like CloudWatch Logs would
receive it. This file imports only the standard library, so the handler sees no simulator module.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import time
import traceback
from typing import Any, TextIO


class LambdaContext:
    """The attributes of the Python runtime's context object that handlers use."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("LOCAL_LAMBDA_FUNCTION_ARN", "")
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _CurrentStdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stdout is at emit time, so per-invocation capture sees logging output too."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def install_lambda_logging() -> _RequestIdFilter:
    """Mimic the Python runtime: a root handler in Lambda's text format, level from AWS_LAMBDA_LOG_LEVEL."""
    handler = _CurrentStdoutHandler()
    request_filter = _RequestIdFilter()
    handler.addFilter(request_filter)
    handler.setFormatter(
        logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s")
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(os.environ.get("AWS_LAMBDA_LOG_LEVEL", "WARNING").upper())
    return request_filter


def load_handler(handler_string: str) -> Any:
    module_name, _, function_name = handler_string.rpartition(".")
    if not module_name:
        raise ValueError(f"bad handler string {handler_string!r}: expected module.function")
    return getattr(importlib.import_module(module_name), function_name)


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc)[-6:],
    }


def serve(requests: TextIO, answers: TextIO) -> None:
    request_filter = install_lambda_logging()
    handler: Any = None
    init_error: dict[str, Any] | None = None
    init_logs = io.StringIO()
    with contextlib.redirect_stdout(init_logs), contextlib.redirect_stderr(init_logs):
        try:
            handler = load_handler(os.environ["_HANDLER"])
        except Exception as exc:  # an init error fails every invocation, as in Lambda
            init_error = _error(exc)
    pending_init_logs = init_logs.getvalue()
    # The init phase is over (Lambda times it separately from the invocations): tell the parent.
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in requests:
        request = json.loads(line)
        captured = io.StringIO()
        answer: dict[str, Any] = {"id": request["id"]}
        if init_error is not None:
            answer.update(ok=False, error=init_error)
        else:
            request_filter.request_id = request["request_id"]
            context = LambdaContext(request["request_id"], request["deadline_ms"])
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                try:
                    answer.update(ok=True, result=handler(request["event"], context))
                except Exception as exc:
                    answer.update(ok=False, error=_error(exc))
        answer["logs"] = pending_init_logs + captured.getvalue()
        pending_init_logs = ""
        try:
            encoded = json.dumps(answer)
        except (TypeError, ValueError) as exc:  # Lambda: the response must be JSON serializable
            error = {
                "errorType": "Runtime.MarshalError",
                "errorMessage": f"Unable to marshal response: {exc}",
            }
            encoded = json.dumps({"id": request["id"], "ok": False, "error": error, "logs": answer["logs"]})
        answers.write(encoded + "\n")
        answers.flush()


def main() -> None:
    # Keep the protocol channel private: stray writes to fd 1 (C extensions, subprocesses) go to stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), encoding="utf-8", write_through=True)
    task_root = os.getcwd()
    if task_root not in sys.path:
        sys.path.insert(0, task_root)
    serve(sys.stdin, answers)


if __name__ == "__main__":
    main()
