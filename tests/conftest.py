"""Fixtures shared by every test folder: Terraform environment, module copies, an embedded moto server."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.local_cloud.moto_server import EmbeddedMoto  # noqa: E402
from tools.tf_toolchain import terraform_env  # noqa: E402

# What a copy of the module needs: root *.tf, the Lambda sources it zips, and the examples.
MODULE_PARTS = ("lambda_src", "examples", "sql")
IGNORED = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "__pycache__", "build")

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# In-process moto routes DynamoDB Streams only with account-scoped endpoints off (environment.md).
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")


def copy_module(destination: Path) -> Path:
    """Copy the module (root .tf files, lambda_src/, examples/) so tftest can write .terraform/ there."""
    destination.mkdir(parents=True, exist_ok=True)
    for tf_file in ROOT.glob("*.tf"):
        shutil.copy2(tf_file, destination / tf_file.name)
    for part in MODULE_PARTS:
        if (ROOT / part).exists():
            shutil.copytree(ROOT / part, destination / part, ignore=IGNORED, dirs_exist_ok=True)
    return destination


@pytest.fixture(scope="session")
def tf_env() -> dict[str, str]:
    """Environment for the terraform binary: offline mirror config when the registry is unreachable."""
    return terraform_env()


@pytest.fixture(scope="session")
def terraform_binary() -> str:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.fail("terraform is not on PATH: install Terraform >= 1.5 (see README prerequisites)")
    return binary


@pytest.fixture(scope="session")
def module_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One read-only copy of the module per test session."""
    return copy_module(tmp_path_factory.mktemp("module"))


@pytest.fixture(scope="session")
def moto_server() -> Iterator[EmbeddedMoto]:
    """An embedded moto server on 127.0.0.1 (own process), shared by the session."""
    with EmbeddedMoto() as server:
        yield server
