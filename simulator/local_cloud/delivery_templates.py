"""JSON paths and input templates as EventBridge rules and Pipes evaluate them (pure functions, no moto).

Shared by the EventBridge -> Kinesis delivery (`moto_delivery.py`) and the Pipes service (`pipes_service.py`)
of the embedded cloud. AWS documents the path subset (dot notation, dashes, underscores, alphanumerics,
array indices, wildcards) and the template forms (free text, a JSON path, or JSON with inline paths); where
it documents no rule, the choice made here is named in the docstring.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, Final


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()  # a path that does not resolve (distinct from a JSON null)
UNKNOWN: Final = object()  # a placeholder name that means nothing here: left in the text as it is

_SEGMENT = re.compile(r"\.([^.\[\]]+)|\[(\d+|\*)\]")
_PLACEHOLDER = re.compile(r"<([^<>\s]+)>")


def json_path(document: Any, path: str) -> Any:
    """The value at `path` (`$`, `$.a.b`, `$.a[0]`, `$.a[*].b`, `$.a.*`), or MISSING.

    A wildcard makes the result a list of every match (MISSING when nothing matches).
    """
    if not path.startswith("$"):
        return MISSING
    rest = path[1:]
    values: list[Any] = [document]
    wildcard = False
    position = 0
    while position < len(rest):
        match = _SEGMENT.match(rest, position)
        if match is None:
            return MISSING
        position = match.end()
        name, index = match.group(1), match.group(2)
        found: list[Any] = []
        for value in values:
            if name == "*" or index == "*":
                wildcard = True
                found.extend(
                    value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
                )
            elif name is not None:
                if isinstance(value, dict) and name in value:
                    found.append(value[name])
            elif isinstance(value, list) and int(index) < len(value):
                found.append(value[int(index)])
        values = found
        if not values:
            return MISSING
    return values if wildcard else values[0]


def render_template(template: str, lookup: Callable[[str], Any]) -> str:
    """Fill `<name>` placeholders of an input template with `lookup(name)`.

    A template whose text starts with `{` or `[` is JSON: outside a string literal a value goes in as
    JSON (a string with its quotes, an object or array as is, MISSING as null); inside a string literal
    (`"<$.a> is ..."`) it goes in as text, escaped for JSON. Any other template is text: strings go in
    raw, other values as JSON. MISSING inside a string or in text is the empty string (our choice: AWS
    documents no rule). A name `lookup` answers UNKNOWN for stays as written.
    """
    json_mode = template.lstrip()[:1] in ("{", "[")
    parts: list[str] = []
    in_string = False
    position = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[position : match.start()]
        in_string = _string_state_after(literal, in_string)
        parts.append(literal)
        position = match.end()
        value = lookup(match.group(1))
        if value is UNKNOWN:
            parts.append(match.group(0))
        elif json_mode and not in_string:
            parts.append("null" if value is MISSING else json.dumps(value))
        elif value is MISSING:
            parts.append("")
        elif isinstance(value, str):
            parts.append(json.dumps(value)[1:-1] if in_string else value)
        else:
            text = json.dumps(value)
            parts.append(json.dumps(text)[1:-1] if in_string else text)
    parts.append(template[position:])
    return "".join(parts)


def _string_state_after(text: str, in_string: bool) -> bool:
    escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = in_string
        elif char == '"':
            in_string = not in_string
    return in_string


def iso_time(value: Any) -> str:
    """EventBridge's `time`: RFC 3339 in UTC to the second (`2019-12-03T16:20:36Z`)."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(float(value), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def eventbridge_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event as EventBridge delivers it to a target, from moto's internal event message."""
    return {
        "version": str(event.get("version", "0")),
        "id": event["id"],
        "detail-type": event["detail-type"],
        "source": event["source"],
        "account": event["account"],
        "time": iso_time(event["time"]),
        "region": event["region"],
        "resources": list(event.get("resources") or []),
        "detail": event["detail"],
    }


def rule_target_input(target: dict[str, Any], event: dict[str, Any], reserved: dict[str, Any]) -> str:
    """What a rule target receives: `Input` as written, the value at `InputPath`, the rendered
    `InputTransformer`, or the whole event (`reserved`: the `aws.events.*` variables)."""
    if "Input" in target and target["Input"] is not None:
        return str(target["Input"])
    if target.get("InputPath"):
        selected = json_path(event, target["InputPath"])
        return "null" if selected is MISSING else json.dumps(selected)
    transformer = target.get("InputTransformer")
    if transformer:
        paths = transformer.get("InputPathsMap") or {}

        def lookup(name: str) -> Any:
            if name in paths:
                return json_path(event, paths[name])
            return reserved.get(name, UNKNOWN)

        return render_template(transformer["InputTemplate"], lookup)
    return json.dumps(event)


def partition_key_value(value: Any) -> str | None:
    """A resolved path as a partition key: strings as they are, numbers and booleans as JSON text; None
    for what cannot be a key (MISSING, null, empty string, object, array)."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return None


def rule_partition_key(target: dict[str, Any], event: dict[str, Any]) -> str:
    """`KinesisParameters.PartitionKeyPath` evaluated on the event (not on the transformed input); the
    event id when the parameter is absent (documented) or the path does not resolve to a key (undocumented:
    what LocalStack's EventBridge does, and the choice that loses no event)."""
    path = (target.get("KinesisParameters") or {}).get("PartitionKeyPath")
    if path:
        key = partition_key_value(json_path(event, path))
        if key is not None:
            return key
    return str(event["id"])
