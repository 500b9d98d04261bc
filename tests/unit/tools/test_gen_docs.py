"""The README's Inputs/Outputs tables are generated from the .tf files and must not drift."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tools import gen_docs

ROOT = Path(__file__).resolve().parents[3]


def test_readme_tables_match_the_module() -> None:
    # given the README and the module's variables.tf/outputs.tf, when checked, then they agree
    assert gen_docs.main(["--check"]) == 0, "run `make docs` to regenerate the README tables"


def test_every_variable_and_output_is_in_the_tables() -> None:
    tables = gen_docs.render(ROOT)
    variables, outputs = gen_docs._blocks("variable", ROOT), gen_docs._blocks("output", ROOT)
    # as many names as the .tf files declare (counted without the tool), so an empty list cannot pass
    declared = "".join(path.read_text() for path in ROOT.glob("*.tf"))
    assert len(variables) == len(re.findall(r'^variable "', declared, re.M)) > 0
    assert len(outputs) == len(re.findall(r'^output "', declared, re.M)) > 0
    for name in [*variables, *outputs]:
        assert f"| `{name}` |" in tables


def test_check_fails_when_a_variable_is_added(tmp_path: Path) -> None:
    # given a copy of the module with one more variable than the README documents
    for tf_file in ROOT.glob("*.tf"):
        shutil.copy2(tf_file, tmp_path / tf_file.name)
    shutil.copy2(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "extra.tf").write_text(
        'variable "brand_new_input" {\n  description = "Added after the docs"\n  type        = string\n}\n'
    )
    # when the check runs, then it reports drift; and --write repairs it
    assert gen_docs.main(["--check", "--root", str(tmp_path)]) == 1
    assert gen_docs.main(["--write", "--root", str(tmp_path)]) == 0
    assert "`brand_new_input`" in (tmp_path / "README.md").read_text()
    assert gen_docs.main(["--check", "--root", str(tmp_path)]) == 0


def test_render_strips_hcl2_quoting(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text(
        'variable "tiers" {\n  description = "Score bands"\n'
        "  type        = list(object({ name = string, min_score = number }))\n"
        '  default     = [{ name = "cold", min_score = 0 }]\n}\n'
        'variable "name_prefix" {\n  description = "Prefix"\n  type        = string\n}\n'
    )
    tables = gen_docs.render(tmp_path)
    assert (
        "| `tiers` | Score bands | `list(object({name = string, min_score = number}))` | "
        '`[{"name": "cold", "min_score": 0}]` | no |' in tables
    )
    assert "| `name_prefix` | Prefix | `string` | n/a | yes |" in tables
