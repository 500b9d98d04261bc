"""simulator/local_cloud/terraform.py: `terraform init` holds the shared plugin cache's lock."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from simulator.local_cloud.terraform import TerraformError, TerraformRunner

# Stands in for terraform: exits 0 only when another open file description holds the cache's lock.
PROBE = """
import fcntl, os, sys
if sys.argv[1] != "init":
    sys.exit(0)
with open(os.path.join(os.environ["TF_PLUGIN_CACHE_DIR"], ".init.lock"), "a") as handle:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(0)
sys.exit(3)
"""


def runner(tmp_path: Path, env: dict[str, str]) -> TerraformRunner:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    return TerraformRunner(tmp_path, env, tmp_path / "logs", command=(sys.executable, str(probe)))


def test_init_holds_the_plugin_cache_lock_so_parallel_inits_do_not_race(tmp_path: Path) -> None:
    # given a shared plugin cache
    cache = tmp_path / "cache"
    # when init runs, the lock is taken (the probe sees it held) and released afterwards
    runner(tmp_path, {"TF_PLUGIN_CACHE_DIR": str(cache)}).init()
    again = runner(tmp_path, {"TF_PLUGIN_CACHE_DIR": str(cache)})
    with pytest.raises(TerraformError, match="failed"):
        again.run("init")  # not through init(): nothing holds the lock, the probe exits 3
    # and without a cache nothing is locked (and nothing is created)
    plain = tmp_path / "plain"
    plain.mkdir()
    runner(plain, {}).run("plan")
    assert not (plain / "cache").exists()
