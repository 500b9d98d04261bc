"""The embedded cloud keeps the deployment contract the CLI tests' fake deployment is checked against
(tests/unit/simulator/test_fake_deployment.py): same outputs, settings, rules, scores, statistics and
sink observations for the same records, all worked out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "simulator"))

from simulator_support import assert_deployment_contract

from simulator.targets import open_deployment


@pytest.mark.integration
def test_the_embedded_deployment_keeps_the_deployment_contract() -> None:
    with open_deployment("embedded", {"name_prefix": "contract"}, lambda _: None) as deployment:
        # examples/local keeps the module's default publication threshold (10 points)
        assert_deployment_contract(deployment, publish_min_delta=10.0)
