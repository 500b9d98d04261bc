"""Offline machines get a project-local Terraform CLI config; online machines are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import tf_toolchain


@pytest.fixture()
def build_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    build = tmp_path / "build" / "terraform"
    monkeypatch.setattr(tf_toolchain, "BUILD", build)
    monkeypatch.setattr(tf_toolchain, "CLI_CONFIG", build / "cli.tfrc")
    monkeypatch.setattr(tf_toolchain, "ONLINE_MARK", build / "online")
    return build


def test_online_writes_nothing_and_keeps_the_users_config(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENGAGEMENT_TF_OFFLINE", "0")
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", "/home/someone/.terraformrc")
    assert tf_toolchain.cli_config_file() == "/home/someone/.terraformrc"
    assert not (build_dir / "cli.tfrc").exists()
    assert tf_toolchain.terraform_env()["TF_CLI_CONFIG_FILE"] == "/home/someone/.terraformrc"


def test_offline_writes_a_mirror_config_inside_the_build_dir(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given a machine without registry access, with an aws provider in a filesystem mirror
    mirror = tmp_path / "mirror"
    binary = (
        mirror / "registry.terraform.io/hashicorp/aws/5.100.0/linux_amd64/terraform-provider-aws_v5.100.0_x5"
    )
    binary.parent.mkdir(parents=True)
    binary.write_text("")
    monkeypatch.setattr(
        tf_toolchain, "AWS_MIRROR_GLOBS", [str(mirror / "registry.terraform.io/hashicorp/aws/*/*/*")]
    )
    monkeypatch.setenv("ENGAGEMENT_TF_OFFLINE", "1")
    # when the project asks for its CLI config
    path = Path(tf_toolchain.cli_config_file())
    # then the config lives in the build dir: aws from the mirror, archive from the stand-in
    assert path == build_dir / "cli.tfrc"
    text = path.read_text()
    assert f'path    = "{mirror}"' in text
    assert 'include = ["registry.terraform.io/hashicorp/aws"]' in text
    assert f'path    = "{build_dir / "plugins"}"' in text
    launcher = next((build_dir / "plugins").rglob("terraform-provider-archive_v*"))
    assert launcher.stat().st_mode & 0o111, "the stand-in launcher must be executable"
    assert "tools/archive_standin/provider.py" in launcher.read_text()


def test_offline_without_any_aws_mirror_fails_clearly(
    build_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tf_toolchain, "AWS_MIRROR_GLOBS", [])
    monkeypatch.setenv("ENGAGEMENT_TF_OFFLINE", "1")
    with pytest.raises(SystemExit, match="no local mirror of hashicorp/aws"):
        tf_toolchain.cli_config_file()
