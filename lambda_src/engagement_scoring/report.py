"""The per-campaign attribution report (#11): conversions and value per model, cost per conversion and
return on spend, from the deployed campaign table.

    python -m engagement_scoring.report --table NAME [--costs-json '{"spring": 1200}'] [--csv | --json]
    # costs: the module's campaign_costs, read from the table's `(costs)` item; --costs-json overrides
    python -m engagement_scoring.report --scorer-function NAME ...   # the table from the scorer's env
    make report ARGS="--table NAME"

`--json` prints {"campaigns": {"<campaign>": {"<model>": {"conversions": n, "value": x}}}, "unattributed":
{"conversions": n, "value": x}} (the shape of the simulator's --json, unrounded), plus "costs" when given;
`--csv` one row per campaign; the default a table (rich when installed, else plain text). Cost per
conversion = cost / conversions and return on spend = value / cost, per model, for campaigns with a cost
(empty where a division by zero would be needed). Operator tool: not imported by any handler.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from engagement_scoring.core.attribution import COSTS_ITEM, MODELS, UNATTRIBUTED
from engagement_scoring.core.changes import image

Totals = dict[str, dict[str, Decimal]]  # model -> {"conversions", "value"}


def _decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) and value.is_finite() else Decimal(0)


def campaign_totals(items: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Totals], dict[str, Decimal]]:
    """Plain (deserialized) campaign-table items -> per campaign and model the totals, and the
    unattributed totals. A campaign with no credit in any model is left out."""
    campaigns: dict[str, Totals] = {}
    unattributed = {"conversions": Decimal(0), "value": Decimal(0)}
    for item in items:
        name = item.get("campaign")
        if not isinstance(name, str) or name == COSTS_ITEM:
            continue
        totals = {
            model: {
                "conversions": _decimal(item.get(f"{model}_conversions")),
                "value": _decimal(item.get(f"{model}_value")),
            }
            for model in MODELS
        }
        if name == UNATTRIBUTED:
            unattributed = dict(totals[MODELS[0]])
        elif any(t["conversions"] or t["value"] for t in totals.values()):
            campaigns[name] = totals
    return dict(sorted(campaigns.items())), unattributed


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _ratio(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    return None if denominator == 0 else numerator / denominator


def as_json(
    campaigns: Mapping[str, Totals], unattributed: Mapping[str, Decimal], costs: Mapping[str, Decimal]
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "campaigns": {
            name: {model: {key: _number(value) for key, value in totals[model].items()} for model in MODELS}
            for name, totals in campaigns.items()
        },
        "unattributed": {key: _number(value) for key, value in unattributed.items()},
    }
    if costs:
        result["costs"] = {name: _number(cost) for name, cost in sorted(costs.items())}
    return result


def rows(campaigns: Mapping[str, Totals], costs: Mapping[str, Decimal]) -> tuple[list[str], list[list[str]]]:
    """The table: a header and one row per campaign (numbers as plain strings, empty when undefined)."""
    header = ["campaign", "cost"]
    for model in MODELS:
        header += [f"{model} conversions", f"{model} value", f"{model} cost/conversion", f"{model} return"]
    table = []
    for name, totals in campaigns.items():
        cost = costs.get(name)
        row = [name, "" if cost is None else format(cost, "f")]
        for model in MODELS:
            conversions, value = totals[model]["conversions"], totals[model]["value"]
            per_conversion = None if cost is None else _ratio(cost, conversions)
            spend_return = None if cost is None else _ratio(value, cost)
            row += [
                format(conversions.normalize(), "f"),
                format(value.normalize(), "f"),
                "" if per_conversion is None else f"{per_conversion:.2f}",
                "" if spend_return is None else f"{spend_return:.2f}",
            ]
        table.append(row)
    return header, table


def as_csv(header: Sequence[str], table: Sequence[Sequence[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(table)
    return out.getvalue()


def print_table(
    header: Sequence[str], table: Sequence[Sequence[str]], unattributed: Mapping[str, Decimal]
) -> None:
    footer = (
        f"unattributed: {format(unattributed['conversions'].normalize(), 'f')} conversions, "
        f"value {format(unattributed['value'].normalize(), 'f')}"
    )
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text without rich
        print("\t".join(header))
        for row in table:
            print("\t".join(row))
        print(footer)
        return
    rich_table = Table(title="Campaign attribution", caption=footer)
    for index, name in enumerate(header):
        rich_table.add_column(name, justify="left" if index == 0 else "right")
    for row in table:
        rich_table.add_row(*row)
    console = Console()
    # 14 columns: wider than a default terminal; a narrower one scrolls rather than cutting names.
    Console(width=max(console.width, 200)).print(rich_table)


def read_table(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        response = dynamodb.scan(**request)
        items.extend(image(item) or {} for item in response.get("Items", []))
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return items
        request["ExclusiveStartKey"] = last_key


def deployed_costs(items: Iterable[Mapping[str, Any]]) -> dict[str, Decimal]:
    """The module's campaign_costs as Terraform wrote them: the `(costs)` item's `costs` map (none: {}).
    A malformed entry (not a number >= 0) is an error, never a silently wrong ratio."""
    for item in items:
        if item.get("campaign") != COSTS_ITEM:
            continue
        costs = item.get("costs")
        if not isinstance(costs, Mapping) or not all(
            isinstance(cost, Decimal) and cost.is_finite() and cost >= 0 for cost in costs.values()
        ):
            raise ValueError(f"the table's {COSTS_ITEM} item must map campaign -> number >= 0")
        return {str(name): cost for name, cost in costs.items()}
    return {}


def parse_costs(text: str | None) -> dict[str, Decimal]:
    if not text:
        return {}
    value = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    if not isinstance(value, dict) or not all(
        isinstance(cost, Decimal) and cost >= 0 for cost in value.values()
    ):
        raise ValueError("costs must be a JSON object of campaign -> number >= 0")
    return {str(name): cost for name, cost in value.items()}


def main(argv: Sequence[str] | None = None, dynamodb: Any = None, lambda_client: Any = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engagement_scoring.report", description=__doc__.split("\n")[0]
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--table", help="the campaign attribution table")
    where.add_argument("--scorer-function", help="read the table name from this scorer's environment")
    parser.add_argument(
        "--costs-json",
        help="campaign costs, e.g. '{\"spring\": 1200}', instead of the deployed campaign_costs (the "
        "table's (costs) item)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--csv", action="store_true")
    output.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        costs = parse_costs(args.costs_json)
    except ValueError as exc:
        parser.error(str(exc))
    table = args.table
    if table is None:
        if lambda_client is None:
            from engagement_scoring.aws.clients import make_client

            lambda_client = make_client("lambda")
        config = lambda_client.get_function_configuration(FunctionName=args.scorer_function)
        table = config.get("Environment", {}).get("Variables", {}).get("CAMPAIGN_ATTRIBUTION_TABLE")
        if not table:
            print("the scorer has no CAMPAIGN_ATTRIBUTION_TABLE: attribution is off", file=sys.stderr)
            return 2
    if dynamodb is None:
        from engagement_scoring.aws.clients import make_client

        dynamodb = make_client("dynamodb")
    items = read_table(dynamodb, table)
    if args.costs_json is None:
        try:
            costs = deployed_costs(items)
        except ValueError as exc:
            print(f"{table}: {exc}", file=sys.stderr)
            return 2
    campaigns, unattributed = campaign_totals(items)
    if args.json:
        print(json.dumps(as_json(campaigns, unattributed, costs), indent=2, sort_keys=True))
        return 0
    header, table_rows = rows(campaigns, costs)
    if args.csv:
        sys.stdout.write(as_csv(header, table_rows))
        return 0
    print_table(header, table_rows, unattributed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
