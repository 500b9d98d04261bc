"""`window_rules` and the score_rules limits (#10): bad input fails at plan with its message, and what the
module renders (the scorer's WINDOW_RULES, the score_rules items) is what the scorer parses back.

A root holding the module's variables.tf and window_rules.tf (the locals the scorer's environment and
the rules table's items use) is applied without providers: each case takes well under a second.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from engagement_scoring.core.changes import image
from engagement_scoring.core.config import ScorerConfig
from engagement_scoring.core.rules import rule_from_item

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.plan

OUTPUTS = """
output "env" {
  value = local.window_rules_environment
}
output "items" {
  value = local.score_rule_items
}
output "refresher_wanted" {
  value = local.refresher_wanted
}
"""


class Root:
    def __init__(self, directory: Path, binary: str, env: dict[str, str]) -> None:
        self.directory, self.binary, self.env = directory, binary, env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args, "-no-color"],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def apply(self, inputs: dict[str, Any]) -> tuple[int, str]:
        (self.directory / "case.tfvars.json").write_text(json.dumps({"name_prefix": "windows", **inputs}))
        result = self.run(
            "apply", "-auto-approve", "-input=false", "-lock=false", "-var-file=case.tfvars.json"
        )
        return result.returncode, re.sub(r"\s+", " ", re.sub(r"[│╷╵├─]", " ", result.stdout + result.stderr))

    def outputs(self, inputs: dict[str, Any]) -> dict[str, Any]:
        code, output = self.apply(inputs)
        assert code == 0, output
        result = self.run("output", "-json")
        assert result.returncode == 0, result.stderr
        return {name: value["value"] for name, value in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, terraform_binary: str, tf_env: dict[str, str]) -> Root:
    directory = tmp_path_factory.mktemp("window_rules")
    for name in ("variables.tf", "window_rules.tf"):
        shutil.copy2(ROOT / name, directory / name)
    (directory / "outputs.tf").write_text(OUTPUTS)
    made = Root(directory, terraform_binary, tf_env)
    init = made.run("init", "-backend=false", "-input=false")
    assert init.returncode == 0, init.stdout + init.stderr
    return made


RULES = [
    {"name": "three_clicks", "event_types": ["_email.click"], "threshold": 3, "window_hours": 168},
    {
        "name": "november.buyer",
        "event_types": ["purchase", "_monetization.purchase"],
        "measure": "sum",
        "metric": "amount",
        "threshold": 99.5,
        "from": "2026-11-01",
        "to": "2026-11-30",
        "channel": "in_app",
    },
    {"name": "ever-opened", "event_types": ["_email.open"], "threshold": 1000},
]


def test_window_rules_reach_the_scorer_as_it_parses_them(root: Root) -> None:
    outputs = root.outputs({"window_rules": RULES})
    assert outputs["refresher_wanted"] is True  # decay off, but three_clicks is sliding (refresher.tf)
    config = ScorerConfig.from_env(outputs["env"])
    clicks, buyer, ever = config.window_rules
    assert (clicks.name, clicks.window_hours, clicks.threshold, clicks.measure) == (
        "three_clicks",
        168,
        3,
        "count",
    )
    assert (buyer.metric, buyer.threshold, buyer.channel) == ("amount", Decimal("99.5"), "in_app")
    assert buyer.event_types == {"purchase", "_monetization.purchase"}
    nov_1, dec_1 = (int(dt.datetime(2026, m, 1, tzinfo=dt.UTC).timestamp()) * 1000 for m in (11, 12))
    assert (buyer.start_ms, buyer.end_ms) == (nov_1, dec_1)  # from inclusive, to's whole day inclusive
    assert not ever.sliding and ever.start_ms is None and ever.threshold == 1000


def test_no_window_rules_leave_the_environment_alone(root: Root) -> None:
    outputs = root.outputs({})
    assert outputs["env"] == {}
    assert outputs["refresher_wanted"] is False  # neither decay nor a sliding rule: no refresher


def test_the_refresher_is_wanted_for_decay_or_a_sliding_rule_only(root: Root) -> None:
    dated = [rule for rule in RULES if "window_hours" not in rule]  # a date range and an all-time rule
    assert root.outputs({"window_rules": dated})["refresher_wanted"] is False
    assert root.outputs({"window_rules": dated, "decay_half_life_hours": 720})["refresher_wanted"] is True


def test_limits_are_seeded_into_the_rules_table_items(root: Root) -> None:
    items = root.outputs(
        {
            "score_rules": [
                {"event_type": "_email.open", "points": 10, "max_points": 30},
                {"event_type": "_email.click", "points": 50, "max_points": 100, "limit_period_hours": 168},
                {"event_type": "_email.delivered", "points": 2},
            ]
        }
    )["items"]
    rules = {key: rule_from_item(image(json.loads(text)) or {}) for key, text in items.items()}
    assert (rules["_email.open"].max_points, rules["_email.open"].limit_period_hours) == (30, 24)
    assert (rules["_email.click"].max_points, rules["_email.click"].limit_period_hours) == (100, 168)
    assert rules["_email.delivered"].max_points is None
    assert "max_points" not in json.loads(items["_email.delivered"])  # unlimited items stay minimal


def window(**extra: Any) -> dict[str, Any]:
    return {"window_rules": [{"name": "r", "event_types": ["_email.click"], "threshold": 1, **extra}]}


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("window_hours and dates", window(window_hours=24, **{"from": "2026-11-01"}), "not both"),
    ("sum without metric", window(measure="sum"), "measure sum needs metric"),
    ("metric on a count", window(metric="amount"), "metric is only for sum"),
    ("unknown measure", window(measure="avg"), "measure must be count or sum"),
    ("unsafe name", window(name="a b"), "name must be 1-64 letters"),
    ("name too long", window(name="a" * 65), "name must be 1-64 letters"),
    (
        "duplicate names",
        {"window_rules": [{"name": "r", "event_types": ["a"], "threshold": 1}] * 2},
        "names must be unique",
    ),
    ("no event types", window(event_types=[]), "1 to 20 non-empty event_types"),
    ("threshold 0", window(threshold=0), "threshold must be greater than 0"),
    ("fractional window", window(window_hours=1.5), "whole number of hours from 1 to 2160"),
    ("window too long", window(window_hours=2161), "whole number of hours from 1 to 2160"),
    ("sliding count threshold too big", window(window_hours=24, threshold=51), "at most 50"),
    ("not a date", window(**{"from": "2026-13-01"}), "UTC calendar date"),
    ("to before from", window(**{"from": "2026-11-02", "to": "2026-11-01"}), "must not be before"),
    ("unknown channel", window(channel="fax"), "channel must be one of"),
    (
        "max_points 0",
        {"score_rules": [{"event_type": "a", "points": 1, "max_points": 0}]},
        "max_points must be greater than 0",
    ),
    (
        "limit on a penalty",
        {"score_rules": [{"event_type": "a", "points": -5, "max_points": 10}]},
        "needs positive points",
    ),
    (
        "period without max_points",
        {"score_rules": [{"event_type": "a", "points": 1, "limit_period_hours": 24}]},
        "limit_period_hours needs max_points",
    ),
    (
        "fractional period",
        {"score_rules": [{"event_type": "a", "points": 1, "max_points": 5, "limit_period_hours": 0.5}]},
        "whole number of hours from 1 to 8760",
    ),
]


@pytest.mark.parametrize(
    ("inputs", "message"), [case[1:] for case in INVALID], ids=[case[0] for case in INVALID]
)
def test_bad_input_fails_at_plan_with_its_message(root: Root, inputs: dict[str, Any], message: str) -> None:
    code, output = root.apply(inputs)
    assert code != 0
    assert message in output, output


def test_inputs_at_their_bounds_are_accepted(root: Root) -> None:
    code, output = root.apply(
        {
            "window_rules": [
                {
                    "name": f"r{i}",
                    "event_types": [f"t{j}" for j in range(20)],
                    "threshold": 50,
                    "window_hours": 2160,
                }
                for i in range(25)
            ],
            "score_rules": [
                {"event_type": "a", "points": 1, "max_points": 1000000000, "limit_period_hours": 8760},
                {"event_type": "b", "points": 0.5, "max_points": 0.5, "limit_period_hours": 1},
            ],
        }
    )
    assert code == 0, output
    code, output = root.apply(
        {"window_rules": [{"name": f"r{i}", "event_types": ["a"], "threshold": 1} for i in range(26)]}
    )
    assert code != 0 and "At most 25 window_rules" in output


def test_the_scorer_environment_merges_the_window_rules_local() -> None:
    # The functions' environment is unknown at plan (it names tables created in the same apply), so the
    # wiring is checked in the source: lambda.tf merges the local rendered and parsed above.
    lambda_tf = (ROOT / "lambda.tf").read_text()
    scorer_env = lambda_tf[
        lambda_tf.index("scorer_environment = merge(") : lambda_tf.index("score_sync_environment")
    ]
    assert re.search(r"^\s+local\.window_rules_environment,$", scorer_env, re.M)
    assert "item       = local.score_rule_items[each.key]" in (ROOT / "dynamodb.tf").read_text()
