"""Make Terraform work on machines without internet, and stay out of the way everywhere else.

`python tools/tf_toolchain.py` prints the value TF_CLI_CONFIG_FILE should have for this project:
- registry reachable: the caller's own TF_CLI_CONFIG_FILE (possibly empty); nothing is written;
- registry unreachable: build/terraform/cli.tfrc, written here, which installs hashicorp/aws from a
  local filesystem mirror and hashicorp/archive from the offline stand-in in tools/archive_standin.

The decision is cached in build/terraform/ (delete the folder, or `make clean`, to re-detect).
Set ENGAGEMENT_TF_OFFLINE=1 or 0 to skip detection.
"""

from __future__ import annotations

import glob
import os
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "terraform"
CLI_CONFIG = BUILD / "cli.tfrc"
ONLINE_MARK = BUILD / "online"
REGISTRY_PROBE = "https://registry.terraform.io/.well-known/terraform.json"
STANDIN_VERSION = "2.99.0"  # deliberately not a real release, so `terraform version` shows the stand-in
AWS_MIRROR_GLOBS = [
    "/opt/*/registry.terraform.io/hashicorp/aws/*/linux_amd64/terraform-provider-aws*",
    "/usr/share/terraform/*/registry.terraform.io/hashicorp/aws/*/linux_amd64/terraform-provider-aws*",
    str(Path.home() / ".terraform.d/plugins/registry.terraform.io/hashicorp/aws/*/linux_amd64/*"),
]


def registry_reachable(timeout: float = 3.0) -> bool:
    forced = os.environ.get("ENGAGEMENT_TF_OFFLINE")
    if forced in ("0", "1"):
        return forced == "0"
    try:
        with urllib.request.urlopen(REGISTRY_PROBE, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def find_mirror(provider: str) -> Path | None:
    """Return the filesystem-mirror root that holds registry.terraform.io/hashicorp/<provider>."""
    for pattern in AWS_MIRROR_GLOBS:
        provider_pattern = pattern.replace("/aws/", f"/{provider}/").replace("-aws", f"-{provider}")
        for hit in sorted(glob.glob(provider_pattern)):
            # <root>/registry.terraform.io/hashicorp/<p>/<version>/<os_arch>/<binary>
            return Path(hit).parents[5]
    return None


def write_archive_standin() -> Path:
    """Install the stand-in as an unpacked provider in a mirror under build/terraform/plugins."""
    plugins = BUILD / "plugins"
    target = plugins / "registry.terraform.io/hashicorp/archive" / STANDIN_VERSION / "linux_amd64"
    target.mkdir(parents=True, exist_ok=True)
    launcher = target / f"terraform-provider-archive_v{STANDIN_VERSION}"
    # HOME points into build/: the tf framework caches its TLS certificate under ~/.cache.
    provider_script = ROOT / "tools/archive_standin/provider.py"
    launcher.write_text(
        f'#!/bin/sh\nHOME="{BUILD / "home"}" exec "{sys.executable}" "{provider_script}" "$@"\n'
    )
    launcher.chmod(0o755)
    return plugins


def write_cli_config() -> Path:
    aws_mirror = find_mirror("aws")
    if aws_mirror is None:
        sys.exit("offline and no local mirror of hashicorp/aws was found: cannot run Terraform here")
    archive_mirror = find_mirror("archive") or write_archive_standin()
    mirrored = ["registry.terraform.io/hashicorp/aws", "registry.terraform.io/hashicorp/archive"]
    CLI_CONFIG.write_text(
        "# Written by tools/tf_toolchain.py because the Terraform registry was unreachable.\n"
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{aws_mirror}"\n    include = ["{mirrored[0]}"]\n  }}\n'
        f'  filesystem_mirror {{\n    path    = "{archive_mirror}"\n    include = ["{mirrored[1]}"]\n  }}\n'
        f"  direct {{\n    exclude = {str(mirrored).replace(chr(39), chr(34))}\n  }}\n"
        "}\n"
    )
    return CLI_CONFIG


def cli_config_file() -> str:
    """The TF_CLI_CONFIG_FILE value this project should use (see module docstring)."""
    BUILD.mkdir(parents=True, exist_ok=True)
    if CLI_CONFIG.exists():
        return str(CLI_CONFIG)
    if ONLINE_MARK.exists():
        return os.environ.get("TF_CLI_CONFIG_FILE", "")
    if registry_reachable():
        ONLINE_MARK.write_text("registry reachable: using Terraform's normal provider installation\n")
        return os.environ.get("TF_CLI_CONFIG_FILE", "")
    return str(write_cli_config())


def terraform_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running terraform from tests and scripts."""
    env = dict(os.environ if base is None else base)
    config = cli_config_file()
    if config:
        env["TF_CLI_CONFIG_FILE"] = config
    else:
        env.pop("TF_CLI_CONFIG_FILE", None)
    env.setdefault("TF_IN_AUTOMATION", "1")
    env.setdefault("CHECKPOINT_DISABLE", "1")
    return env


if __name__ == "__main__":
    print(cli_config_file())
