"""Warm worker processes: the Lambda-like environment, log capture, errors."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.local_cloud.workers import FunctionPool, FunctionSpec

HANDLER = """
import json, logging, os
logger = logging.getLogger()
logger.setLevel("INFO")
print("init line")
calls = 0

def handler(event, context):
    global calls
    calls += 1
    logger.info("via logging %s", event["n"])
    print(json.dumps({"message": "batch scored", "function": "scorer", "records": 1}))
    names = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_PINPOINT", "AWS_ENDPOINT_URL_CUSTOMER_PROFILES",
             "RULES_TABLE", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "LEAKED_FROM_PARENT", "_HANDLER"]
    return {"calls": calls, "env": {name: os.environ.get(name) for name in names},
            "remaining_ms": context.get_remaining_time_in_millis(), "request_id": context.aws_request_id,
            "cwd": os.getcwd()}

def unserializable(event, context):
    return {"value": object()}
"""


def _spec(tmp_path: Path, handler: str = "app.handler", source: str = HANDLER) -> FunctionSpec:
    package = tmp_path / "package.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    package.write_bytes(buffer.getvalue())
    return FunctionSpec(
        name="scorer",
        arn="arn:aws:lambda:us-east-1:123456789012:function:scorer",
        handler=handler,
        timeout_s=10,
        memory_mb=256,
        role_arn="arn:aws:iam::123456789012:role/scorer",
        variables={"RULES_TABLE": "rules"},
        code_zip=package,
    )


@pytest.fixture
def pool_factory(tmp_path: Path) -> Iterator[object]:
    pools: list[FunctionPool] = []

    def make(spec: FunctionSpec) -> FunctionPool:
        pool = FunctionPool(
            spec,
            "us-east-1",
            "http://127.0.0.1:1",
            "http://127.0.0.1:2",
            tmp_path / "work",
            customer_profiles_endpoint_url="http://127.0.0.1:3",
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def test_handler_sees_the_function_environment_and_stays_warm(
    tmp_path: Path, pool_factory: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEAKED_FROM_PARENT", "secret")
    pool = pool_factory(_spec(tmp_path))  # type: ignore[operator]

    first = pool.invoke({"n": 1})
    second = pool.invoke({"n": 2})

    assert first.ok and second.ok
    assert (first.result["calls"], second.result["calls"]) == (1, 2)  # module state survives
    assert first.result["env"] == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "AWS_ENDPOINT_URL_PINPOINT": "http://127.0.0.1:2",
        "AWS_ENDPOINT_URL_CUSTOMER_PROFILES": "http://127.0.0.1:3",
        "RULES_TABLE": "rules",
        "AWS_LAMBDA_FUNCTION_NAME": "scorer",
        "AWS_REGION": "us-east-1",
        "LEAKED_FROM_PARENT": None,
        "_HANDLER": "app.handler",
    }
    assert 0 < first.result["remaining_ms"] <= 10_000
    assert first.result["request_id"] == first.request_id
    assert Path(first.result["cwd"]).name == "task"
    # init output goes with the first invocation; logging uses the runtime's text format with the request id
    assert first.logs.startswith("init line\n")
    assert "[INFO]\t" in first.logs and f"\t{first.request_id}\tvia logging 1" in first.logs
    assert '"message": "batch scored"' in second.logs and "init line" not in second.logs


def test_an_import_error_fails_every_invocation(tmp_path: Path, pool_factory: object) -> None:
    pool = pool_factory(_spec(tmp_path, source="import not_a_module\n"))  # type: ignore[operator]

    outcomes = [pool.invoke({"n": i}) for i in range(2)]

    assert all(not o.ok and o.error and o.error["errorType"] == "ModuleNotFoundError" for o in outcomes)
    assert all(o.function_error == "Unhandled" for o in outcomes)


def test_an_unserializable_response_is_an_error(tmp_path: Path, pool_factory: object) -> None:
    pool = pool_factory(_spec(tmp_path, handler="app.unserializable"))  # type: ignore[operator]

    outcome = pool.invoke({"n": 1})

    assert not outcome.ok and outcome.error and outcome.error["errorType"] == "Runtime.MarshalError"
