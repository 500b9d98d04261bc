"""LocalStack: detection of a healthy instance and the configuration of a tflocal apply against it.

LocalStack needs Docker (docker-compose.yml); without it the same path runs against the embedded cloud on
port 4566 (localstack_standin.py, tests/integration/test_simulate_localstack.py). Nothing here starts
LocalStack. Where it listens: `LOCALSTACK_HOST` (`host[:port]`, LocalStack's own variable, which
localstack-client, awslocal and tflocal read too), else localhost:4566.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_PORT = 4566
DEFAULT_URL = f"http://localhost:{DEFAULT_PORT}"
REQUIRED_SERVICES = ("kinesis", "dynamodb", "lambda", "sqs")
HEALTHY_STATES = frozenset({"running", "available"})
# Pinpoint is not in LocalStack's free tier: the sink and the event stream are switched off.
TF_VARS_OVERRIDES: dict[str, Any] = {"pinpoint_application_id": None, "create_pinpoint_event_stream": False}


def endpoint_url(env: Mapping[str, str] | None = None) -> str:
    """LocalStack's endpoint: http://`LOCALSTACK_HOST` (host[:port], port 4566 when left out), else
    DEFAULT_URL. A value that is not host[:port] is an error that names it."""
    given = (os.environ if env is None else env).get("LOCALSTACK_HOST", "").strip()
    if not given:
        return DEFAULT_URL
    host, _, port = given.partition(":")
    if not host or "/" in given or (port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise ValueError(f"LOCALSTACK_HOST={given!r} is not host[:port] (e.g. localhost:4566)")
    return f"http://{host}:{port or DEFAULT_PORT}"


def health(url: str = DEFAULT_URL, timeout_s: float = 1.0) -> dict[str, Any] | None:
    """LocalStack's /_localstack/health document, or None when nothing healthy-looking answers."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/_localstack/health", timeout=timeout_s) as response:
            if response.status != 200:
                return None
            document = json.loads(response.read() or b"null")
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def localstack_available(url: str = DEFAULT_URL, timeout_s: float = 1.0) -> bool:
    """True when LocalStack answers and runs (or can start on demand) every service the pipeline needs."""
    document = health(url, timeout_s)
    services = document.get("services") if document else None
    if not isinstance(services, dict):
        return False
    return all(services.get(name) in HEALTHY_STATES for name in REQUIRED_SERVICES)


def tflocal_command() -> list[str]:
    """tflocal from the project's virtual environment (next to this interpreter), else from PATH."""
    beside = Path(sys.executable).parent / "tflocal"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tflocal")
    if found is None:
        raise RuntimeError("tflocal is not installed: pip install terraform-local (see pyproject.toml)")
    return [found]


def tflocal_env(base: dict[str, str], url: str = DEFAULT_URL, region: str = "us-east-1") -> dict[str, str]:
    """Environment for tflocal: it writes a provider override routing every service to `url`."""
    env = dict(base)
    env.update(
        AWS_ENDPOINT_URL=url,
        AWS_DEFAULT_REGION=region,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        DISABLE_DEPRECATION_NOTICE="1",
        TF_CMD=shutil.which("terraform", path=env.get("PATH")) or "terraform",
    )
    return env


def localstack_tf_vars(tf_vars: dict[str, Any], url: str = DEFAULT_URL) -> dict[str, Any]:
    """The caller's variables for examples/local, with the emulator endpoint and Pinpoint off."""
    return {**tf_vars, "aws_endpoint_url": url.rstrip("/"), **TF_VARS_OVERRIDES}
