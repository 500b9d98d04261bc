"""Generate the README's Inputs and Outputs tables from the module's .tf files.

terraform-docs cannot be installed on the build machines, so this small script does its job:
`python tools/gen_docs.py --write` rewrites the part of README.md between the markers,
`--check` exits 1 when the README has drifted from variables.tf / outputs.tf (a test runs it).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
MAX_INLINE_DEFAULT = 60


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps string quotes and ${} around expressions: strip them, recursively."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return value[1:-1]
        if value.startswith("${") and value.endswith("}"):
            return value[2:-1]
        return value
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


@functools.lru_cache(maxsize=64)
def _parse(text: str) -> dict[str, Any]:
    """One .tf file's HCL, parsed once per distinct content (python-hcl2 takes about a second on the
    larger files, and a render asks for the variables and then the outputs of every file)."""
    parsed: dict[str, Any] = hcl2.loads(text)
    return parsed


def _blocks(kind: str, root: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    declaration = re.compile(rf'^{kind}\s+"', re.M)
    for tf_file in sorted(root.glob("*.tf")):
        text = tf_file.read_text()
        if not declaration.search(text):  # a file that declares none of this kind is not parsed
            continue
        for entry in _parse(text).get(kind, []):
            for name, body in entry.items():
                found[_unquote(name)] = _unquote(body)
    return dict(sorted(found.items()))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(body: dict[str, Any]) -> str:
    if "default" not in body:
        return "n/a"
    rendered = json.dumps(body["default"], separators=(", ", ": "))
    if len(rendered) > MAX_INLINE_DEFAULT:
        return "see [variables.tf](variables.tf)"
    return f"`{_cell(rendered)}`"


def render(root: Path = ROOT) -> str:
    lines = ["## Inputs", "", "| Name | Description | Type | Default | Required |", "|---|---|---|---|:---:|"]
    for name, body in _blocks("variable", root).items():
        type_ = _cell(" ".join(str(body.get("type", "any")).split()))
        required = "yes" if "default" not in body else "no"
        description = _cell(str(body.get("description", "")))
        lines.append(f"| `{name}` | {description} | `{type_}` | {_default(body)} | {required} |")
    lines += ["", "## Outputs", "", "| Name | Description |", "|---|---|"]
    for name, body in _blocks("output", root).items():
        lines.append(f"| `{name}` | {_cell(str(body.get('description', '')))} |")
    return "\n".join(lines) + "\n"


def splice(readme: str, tables: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the markers {BEGIN} ... {END}")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the tables in README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when README.md has drifted")
    parser.add_argument("--root", type=Path, default=ROOT, help="module directory (default: repository root)")
    args = parser.parse_args(argv)
    readme_path = args.root / "README.md"
    current = readme_path.read_text()
    wanted = splice(current, render(args.root))
    if args.write:
        readme_path.write_text(wanted)
        print(f"README.md tables regenerated from {args.root}/*.tf")
        return 0
    if wanted != current:
        print("README.md Inputs/Outputs tables are out of date: run `make docs`", file=sys.stderr)
        return 1
    print("README.md Inputs/Outputs tables match the .tf files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
