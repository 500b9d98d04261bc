"""No import circle between the project's own modules (issue 13 item 21), checked from the source by
tools/import_cycles.py; the checker itself is shown to find the circles it must find."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tools import import_cycles

ROOT = Path(__file__).resolve().parents[3]


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    package = tmp_path / "pkg"
    for name, source in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return package


def _cycles(package: Path) -> list[list[str]]:
    return import_cycles.cycles(import_cycles.import_graph([(package, package.parent)]))


def test_simulator_lambda_src_benchmarks_and_tools_have_no_import_cycle() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tools.import_cycles"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(r"(\d+) modules, (\d+) imports, 0 import cycles", result.stdout)
    assert summary and int(summary[1]) > 50  # every package was read, not an empty selection


def test_a_function_level_import_still_closes_a_circle(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "server.py": "def main():\n    from pkg.atomic import patch\n    patch()\n",
            "atomic.py": "from pkg.server import main\n\ndef patch():\n    pass\n",
            "other.py": "import pkg.server\n",
        },
    )
    assert _cycles(package) == [["pkg.atomic", "pkg.server"]]
    assert import_cycles.main([str(package)]) == 1


def test_relative_from_and_submodule_imports_are_resolved(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "a.py": "from . import b\n",
            "b.py": "from .sub.c import thing\n",
            "sub/__init__.py": "",
            "sub/c.py": "from pkg import a\nthing = 1\n",
        },
    )
    assert _cycles(package) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def test_type_checking_imports_and_outside_modules_are_no_edges(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "a.py": "import json\nimport boto3\nfrom pkg.b import B\n",
            "b.py": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from pkg.a import A
                class B: ...
            """,
        },
    )
    graph = import_cycles.import_graph([(package, package.parent)])
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == set()
    assert _cycles(package) == []
    assert import_cycles.main([str(package)]) == 0
