"""The simulator's campaign checks (#11): the table as --json shows it, and its comparison with the
oracle's attribution (exact fractions against the engine's rounded shares)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from simulator.oracle import Expectation
from simulator.verify import compare_campaigns, table_campaigns_json

MODELS = ("last_touch", "first_touch", "linear")


def item(campaign: str, **values: str) -> dict[str, object]:
    row: dict[str, object] = {"campaign": campaign}
    for model in MODELS:
        row[f"{model}_conversions"] = Decimal(values.get(f"{model}_c", "0"))
        row[f"{model}_value"] = Decimal(values.get(f"{model}_v", "0"))
    return row


TABLE = [
    item("a", last_touch_c="1", last_touch_v="9", linear_c="0.3333333333", linear_v="3"),
    item("b", first_touch_c="1", first_touch_v="9", linear_c="0.6666666667", linear_v="6"),
    item("silent"),
    item("(unattributed)", **{f"{m}_c": "2" for m in MODELS}, **{f"{m}_v": "5" for m in MODELS}),
]


def expectation() -> Expectation:
    zero = [Fraction(0), Fraction(0)]
    return Expectation(
        users={},
        campaigns={
            "a": {
                "last_touch": [Fraction(1), Fraction(9)],
                "first_touch": list(zero),
                "linear": [Fraction(1, 3), Fraction(3)],
            },
            "b": {
                "last_touch": list(zero),
                "first_touch": [Fraction(1), Fraction(9)],
                "linear": [Fraction(2, 3), Fraction(6)],
            },
        },
        unattributed=[Fraction(2), Fraction(5)],
    )


def test_the_table_as_json_leaves_out_campaigns_without_credit() -> None:
    assert table_campaigns_json(TABLE) == {
        "campaigns": {
            "a": {
                "last_touch": {"conversions": 1.0, "value": 9.0},
                "first_touch": {"conversions": 0.0, "value": 0.0},
                "linear": {"conversions": 0.3333333333, "value": 3.0},
            },
            "b": {
                "last_touch": {"conversions": 0.0, "value": 0.0},
                "first_touch": {"conversions": 1.0, "value": 9.0},
                "linear": {"conversions": 0.6666666667, "value": 6.0},
            },
        },
        "unattributed": {"conversions": 2.0, "value": 5.0},
    }


def test_rounded_shares_match_and_a_wrong_credit_is_a_mismatch() -> None:
    assert compare_campaigns(expectation(), TABLE) == []
    wrong = [
        *TABLE[:1],
        item("b", first_touch_c="1", first_touch_v="8", linear_c="0.6666666667", linear_v="6"),
        *TABLE[2:],
    ]
    assert compare_campaigns(expectation(), wrong) == [
        {"campaign": "b", "model": "first_touch", "expected": [1.0, 9.0], "table": [1.0, 8.0]}
    ]
    assert compare_campaigns(expectation(), TABLE[:3]) == [
        {"campaign": "(unattributed)", "model": model, "expected": [2.0, 5.0], "table": [0.0, 0.0]}
        for model in MODELS
    ]
