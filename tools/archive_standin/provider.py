"""Offline stand-in for the hashicorp/archive provider: the `archive_file` data source, type zip.

Used only when the Terraform registry cannot be reached (see tools/tf_toolchain.py): the real
provider cannot be installed on offline build machines, and the module needs `archive_file` to
zip lambda_src/. It implements the subset the module uses (source_dir or source_file, output_path,
excludes, output_file_mode) and the same computed hashes, built with the `tf` framework (PyPI).
Users with internet never run this: Terraform installs the real provider from the registry.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import os
import sys
import zipfile
from pathlib import Path
from typing import Any

from tf import runner, schema, types
from tf.iface import Config, DataSource, ReadDataContext, State
from tf.provider import Provider
from tf.utils import Diagnostics

# A fixed timestamp makes the zip, and so its hash, depend only on file names and contents.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SUPPORTED = {"type", "source_dir", "source_file", "output_path", "output_file_mode", "excludes"}


def _excluded(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    for pattern in patterns:
        pattern = pattern.strip("/")
        if rel == pattern or rel.startswith(pattern + "/"):
            return True
        if fnmatch.fnmatchcase(rel, pattern) or any(fnmatch.fnmatchcase(p, pattern) for p in parts):
            return True
        if pattern.startswith("**/") and _excluded(rel, [pattern[3:]]):
            return True
    return False


def _collect(config: dict[str, Any]) -> list[tuple[str, Path]]:
    if config.get("source_file"):
        path = Path(config["source_file"])
        return [(path.name, path)]
    root = Path(config["source_dir"])
    patterns = sorted(config.get("excludes") or [])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            if not _excluded(rel, patterns):
                files.append((rel, full))
    return files


def build_zip(config: dict[str, Any]) -> dict[str, Any]:
    """Write the zip and return the computed attributes of the real data source."""
    output = Path(config["output_path"])
    output.parent.mkdir(parents=True, exist_ok=True)
    mode = int(config["output_file_mode"], 8) if config.get("output_file_mode") else None
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for rel, full in _collect(config):
            info = zipfile.ZipInfo(rel, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((mode if mode is not None else 0o644) | 0o100000) << 16
            archive.writestr(info, full.read_bytes())
    data = output.read_bytes()
    sha256 = hashlib.sha256(data)
    sha512 = hashlib.sha512(data)
    sha1 = hashlib.sha1(data).hexdigest()
    return {
        "id": sha1,
        "output_size": len(data),
        "output_sha": sha1,
        "output_sha256": sha256.hexdigest(),
        "output_base64sha256": base64.b64encode(sha256.digest()).decode(),
        "output_sha512": sha512.hexdigest(),
        "output_base64sha512": base64.b64encode(sha512.digest()).decode(),
        "output_md5": hashlib.md5(data).hexdigest(),
    }


class ArchiveFile(DataSource):
    def __init__(self, provider: Provider) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return "file"

    @classmethod
    def get_schema(cls) -> schema.Schema:
        string, number = types.String(), types.Number()
        return schema.Schema(
            attributes=[
                schema.Attribute("type", string, required=True),
                schema.Attribute("source_dir", string, optional=True),
                schema.Attribute("source_file", string, optional=True),
                schema.Attribute("output_path", string, required=True),
                schema.Attribute("output_file_mode", string, optional=True),
                schema.Attribute("excludes", types.Set(string), optional=True),
                schema.Attribute("id", string, computed=True),
                schema.Attribute("output_size", number, computed=True),
                schema.Attribute("output_sha", string, computed=True),
                schema.Attribute("output_sha256", string, computed=True),
                schema.Attribute("output_base64sha256", string, computed=True),
                schema.Attribute("output_sha512", string, computed=True),
                schema.Attribute("output_base64sha512", string, computed=True),
                schema.Attribute("output_md5", string, computed=True),
            ]
        )

    def validate(self, diags: Diagnostics, type_name: str, config: Config) -> None:
        super().validate(diags, type_name, config)
        if config.get("type") not in (None, "zip"):
            diags.add_error('archive stand-in: only type = "zip" is supported')
        if config.get("source_dir") and config.get("source_file"):
            diags.add_error("archive stand-in: set source_dir or source_file, not both")

    def read(self, ctx: ReadDataContext, config: Config) -> State | None:
        if not (config.get("source_dir") or config.get("source_file")):
            ctx.diagnostics.add_error("archive stand-in: one of source_dir or source_file is required")
            return None
        return {**{k: config.get(k) for k in _SUPPORTED}, **build_zip(config)}


class ArchiveProvider(Provider):
    def full_name(self) -> str:
        return "registry.terraform.io/hashicorp/archive"

    def get_model_prefix(self) -> str:
        return "archive_"

    def get_provider_schema(self, diags: Diagnostics) -> schema.Schema:
        return schema.Schema()

    def validate_config(self, diags: Diagnostics, config: Config) -> None:
        return None

    def configure_provider(self, diags: Diagnostics, config: Config) -> None:
        return None

    def get_data_sources(self) -> list[type[DataSource]]:
        return [ArchiveFile]

    def get_resources(self) -> list:
        return []


if __name__ == "__main__":
    runner.run_provider(ArchiveProvider(), sys.argv)
