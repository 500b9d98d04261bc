"""Fixtures for the simulator tests: boto3 clients on the embedded moto server and a fake deployment."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

# The helpers module sits beside this file; test modules import it as `simulator_support`.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulator_support import DEFAULT_TIERS, FakeDeployment

import simulator.cli as cli
from simulator.local_cloud.moto_server import EmbeddedMoto


@pytest.fixture
def aws(moto_server: EmbeddedMoto) -> Callable[[str], Any]:
    def client(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


@pytest.fixture
def fake_deployment(
    aws: Callable[[str], Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., FakeDeployment]]:
    """A factory: fake_deployment(scorer_env=..., sync_env=..., bug=..., sms_route=...); `run` then opens
    that one."""
    made: list[FakeDeployment] = []

    def factory(
        scorer_env: dict[str, str] | None = None,
        sync_env: dict[str, str] | None = None,
        rules: dict[str, int] | None = None,
        bug: str | None = None,
        sms_route: bool = False,
    ) -> FakeDeployment:
        env = scorer_env if scorer_env is not None else {"TIERS": json.dumps(DEFAULT_TIERS)}
        deployment = FakeDeployment(aws, env, sync_env, rules, bug, sms_route)
        made.append(deployment)
        return deployment

    @contextmanager
    def open_fake(
        target: str, tf_vars: dict[str, Any], log: Callable[[str], None]
    ) -> Iterator[FakeDeployment]:
        log(f"fake deployment for target {target} with tf_vars {sorted(tf_vars)}")
        yield made[-1]

    monkeypatch.setattr(cli, "open_deployment", open_fake)
    monkeypatch.setattr(cli, "resolve_target", lambda target: "embedded" if target == "auto" else target)
    yield factory
