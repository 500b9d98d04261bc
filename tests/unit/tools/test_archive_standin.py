"""The offline archive_file stand-in zips like the real data source: deterministic, with excludes honoured."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import zipfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def _load_provider() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "archive_standin", ROOT / "tools/archive_standin/provider.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> None:
    (root / "pkg/__pycache__").mkdir(parents=True)
    (root / "pkg/__init__.py").write_text("")
    (root / "pkg/core.py").write_text("POINTS = 10\n")
    (root / "pkg/__pycache__/core.cpython-311.pyc").write_bytes(b"\x00")
    (root / "notes.txt").write_text("skip me\n")


def test_zip_is_deterministic_and_hashes_match(tmp_path: Path) -> None:
    provider = _load_provider()
    _tree(tmp_path / "src")
    config = {"type": "zip", "source_dir": str(tmp_path / "src"), "output_path": str(tmp_path / "a.zip")}
    first = provider.build_zip(config)
    second = provider.build_zip({**config, "output_path": str(tmp_path / "b.zip")})
    data = (tmp_path / "a.zip").read_bytes()
    assert first["output_base64sha256"] == second["output_base64sha256"]
    assert first["output_base64sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert first["output_size"] == len(data)


def test_excludes_accept_names_paths_and_globs(tmp_path: Path) -> None:
    provider = _load_provider()
    _tree(tmp_path / "src")
    out = tmp_path / "out.zip"
    provider.build_zip(
        {
            "type": "zip",
            "source_dir": str(tmp_path / "src"),
            "output_path": str(out),
            "excludes": ["**/__pycache__", "notes.txt"],
        }
    )
    assert sorted(zipfile.ZipFile(out).namelist()) == ["pkg/__init__.py", "pkg/core.py"]


def test_content_change_changes_the_hash(tmp_path: Path) -> None:
    provider = _load_provider()
    _tree(tmp_path / "src")
    config = {"type": "zip", "source_dir": str(tmp_path / "src"), "output_path": str(tmp_path / "a.zip")}
    before = provider.build_zip(config)["output_base64sha256"]
    (tmp_path / "src/pkg/core.py").write_text("POINTS = 11\n")
    assert provider.build_zip(config)["output_base64sha256"] != before
