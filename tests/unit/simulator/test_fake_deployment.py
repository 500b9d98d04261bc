"""The fake deployment the CLI tests run on keeps the contract the embedded cloud keeps
(tests/integration/test_embedded_deployment_contract.py runs the same check there), so it cannot drift."""

from __future__ import annotations

from collections.abc import Callable

from simulator_support import CONTRACT_SYNC_ENV, FakeDeployment, assert_deployment_contract


def test_the_fake_deployment_keeps_the_deployment_contract(
    fake_deployment: Callable[..., FakeDeployment],
) -> None:
    assert_deployment_contract(fake_deployment(sync_env=CONTRACT_SYNC_ENV))
