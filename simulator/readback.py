"""Read what a deployment holds: module outputs, the rules table, function settings, user scores."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boto3.dynamodb.types import TypeDeserializer

from simulator.oracle import Rule, rules_from_items

_deserializer = TypeDeserializer()


def output(outputs: Mapping[str, Any], name: str) -> str:
    """A required module output (see outputs.tf), with a clear error when it is missing."""
    value = outputs.get(name)
    if not isinstance(value, str) or not value:
        raise KeyError(f"the deployment has no output {name!r} (outputs: {', '.join(sorted(outputs))})")
    return value


def scan_items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    """Every item of `table` (paginated Scan), deserialized: numbers as Decimal, sets as set."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items += [
            {k: _deserializer.deserialize(v) for k, v in item.items()} for item in page.get("Items", [])
        ]
        last = page.get("LastEvaluatedKey")
        if not last:
            return items
        kwargs["ExclusiveStartKey"] = last


def read_rules(dynamodb: Any, table: str) -> dict[str, Rule]:
    return rules_from_items(scan_items(dynamodb, table))


def read_scores(dynamodb: Any, table: str) -> dict[str, dict[str, Any]]:
    return {str(item["user_key"]): item for item in scan_items(dynamodb, table)}


def function_environment(lambda_client: Any, function_name: str) -> dict[str, str]:
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    variables = (config.get("Environment") or {}).get("Variables") or {}
    return {str(k): str(v) for k, v in variables.items()}
