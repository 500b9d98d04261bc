"""docker-compose.yml gives users with Docker the LocalStack the LocalStack target expects (Docker cannot run
here, so the file is checked against what the target code requires)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from simulator.local_cloud import localstack

ROOT = Path(__file__).resolve().parents[3]


def _localstack_service() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return dict(document["services"]["localstack"])


def test_the_community_image_is_pinned_to_a_release() -> None:
    image = _localstack_service()["image"]
    assert re.fullmatch(r"localstack/localstack:\d+\.\d+\.\d+", image), image


def test_it_listens_where_the_target_looks_and_passes_the_auth_token_through() -> None:
    service = _localstack_service()
    assert "127.0.0.1:4566:4566" in service["ports"]
    assert localstack.DEFAULT_URL.endswith(":4566")
    environment = dict(item.split("=", 1) for item in service["environment"])
    assert environment["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"
    services = set(environment["SERVICES"].split(","))
    # the health check the target waits for, and what the module and the simulator call
    assert set(localstack.REQUIRED_SERVICES) <= services
    assert {"dynamodbstreams", "iam", "sts", "events", "logs", "cloudwatch", "sns"} <= services
    assert "/var/run/docker.sock:/var/run/docker.sock" in service["volumes"]  # Lambda containers
    assert "/_localstack/health" in " ".join(service["healthcheck"]["test"])  # `up --wait` means healthy
