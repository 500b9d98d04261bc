"""Apply a copy of the module with Terraform (or tflocal) and read its outputs (the simulator's targets)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
MODULE_PARTS = ("lambda_src", "examples", "sql")
IGNORED = shutil.ignore_patterns(".terraform", "*.tfstate*", ".terraform.lock.hcl", "__pycache__", "build")
PLUGIN_CACHE = ROOT / "build" / "terraform" / "plugin-cache"


def copy_module(destination: Path, source: Path = ROOT) -> Path:
    """Copy the module (root .tf files, lambda_src/, examples/), so runs never write into the checkout."""
    destination.mkdir(parents=True, exist_ok=True)
    for tf_file in source.glob("*.tf"):
        shutil.copy2(tf_file, destination / tf_file.name)
    for part in MODULE_PARTS:
        if (source / part).exists():
            shutil.copytree(source / part, destination / part, ignore=IGNORED, dirs_exist_ok=True)
    return destination


class TerraformError(RuntimeError):
    pass


class TerraformRunner:
    """Runs `command` (terraform, or tflocal) in `working_dir`, logging to a file in `log_dir`."""

    def __init__(
        self,
        working_dir: Path,
        env: dict[str, str],
        log_dir: Path,
        command: Sequence[str] = ("terraform",),
    ) -> None:
        self.working_dir = working_dir
        self.env = env
        self.command = list(command)
        self.log_path = log_dir / "terraform.log"
        log_dir.mkdir(parents=True, exist_ok=True)

    def run(self, *args: str) -> str:
        """Run one subcommand; stdout is returned and, like stderr, appended to the log file."""
        argv = [*self.command, *args]
        started = time.monotonic()
        with self.log_path.open("a") as log:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            result = subprocess.run(
                argv, cwd=self.working_dir, env=self.env, stdout=subprocess.PIPE, stderr=log, text=True
            )
            log.write(result.stdout if args[0] != "output" else "(outputs read)\n")
            log.write(f"# exit {result.returncode} after {time.monotonic() - started:.1f}s\n")
        if result.returncode != 0:
            tail = "\n".join(self.log_path.read_text().splitlines()[-25:])
            raise TerraformError(f"{' '.join(argv[:2])} failed (log: {self.log_path}):\n{tail}")
        return result.stdout

    def init(self) -> None:
        with plugin_cache_lock(self.env):
            self.run("init", "-input=false", "-no-color")

    def apply(self, var_file: Path) -> None:
        self.run("apply", "-auto-approve", "-input=false", "-no-color", f"-var-file={var_file}")

    def destroy(self, var_file: Path) -> None:
        self.run("destroy", "-auto-approve", "-input=false", "-no-color", f"-var-file={var_file}")

    def outputs(self) -> dict[str, Any]:
        raw = json.loads(self.run("output", "-json", "-no-color") or "{}")
        return {name: value.get("value") for name, value in raw.items()}


@contextlib.contextmanager
def plugin_cache_lock(env: dict[str, str]) -> Iterator[None]:
    """Hold an exclusive lock on the shared plugin cache while `terraform init` fills or links it.

    Terraform does not make the plugin cache safe for concurrent inits: two runs that install the same
    provider at once (two `make simulate`, or parallel test workers) can read a half-written binary.
    Without a cache directory nothing is shared and nothing is locked.
    """
    cache = env.get("TF_PLUGIN_CACHE_DIR")
    if not cache:
        yield
        return
    Path(cache).mkdir(parents=True, exist_ok=True)
    with open(Path(cache) / ".init.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_var_file(working_dir: Path, tf_vars: dict[str, Any]) -> Path:
    """Variables go through a JSON var file: lists and objects need no HCL quoting on a command line."""
    path = working_dir / "simulate.auto.tfvars.json"
    path.write_text(json.dumps(tf_vars, indent=2, sort_keys=True))
    return path


def plugin_cache_env(env: dict[str, str]) -> dict[str, str]:
    """Share provider binaries between runs (the aws provider is ~700 MB) through a cache in build/."""
    if "TF_PLUGIN_CACHE_DIR" not in env:
        PLUGIN_CACHE.mkdir(parents=True, exist_ok=True)
        env = dict(env, TF_PLUGIN_CACHE_DIR=str(PLUGIN_CACHE))
    return env


def resolve_output_path(working_dir: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else (working_dir / path).resolve()
