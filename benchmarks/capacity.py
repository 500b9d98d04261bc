"""DynamoDB capacity by AWS's documented rules: item sizes, read and write request units (pure).

Every rule cites the page it comes from; `tests/unit/benchmarks/test_capacity.py` checks each against
the worked examples on those pages. Items are in DynamoDB's wire form (`{"name": {"S": "..."}}`, the
form the low-level boto3 client sends and returns; binary values as `bytes`).

- Item sizes: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
- Read and write units: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
  (before 2024 the same text was on ProvisionedThroughput.html)
- Transactions (two underlying reads or writes per item, consumed even when cancelled):
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-capacity-handling
- Global secondary index writes:
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.ThroughputConsiderations.Writes
- TTL deletes are free ("no extra cost"): https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/TTL.html;
  DynamoDB Streams read by a Lambda trigger are free: https://aws.amazon.com/dynamodb/pricing/on-demand/
  (neither is a request of the code under measurement, so nothing here counts them).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

READ_UNIT_BYTES = 4096  # "Item sizes for reads are rounded up to the next 4 KB multiple"
WRITE_UNIT_BYTES = 1024  # "Item sizes for writes are rounded up to the next 1 KB multiple"
CONTAINER_OVERHEAD = 3  # "An attribute of type List or Map requires 3 bytes of overhead"
ELEMENT_OVERHEAD = 1  # "Each List or Map element also requires 1 byte of overhead"
STORAGE_OVERHEAD_PER_ITEM = (
    100  # "Every item in DynamoDB requires 100 bytes of storage overhead for indexing"
)

STRONG = "strong"  # 1 read unit per 4 KB
EVENTUAL = "eventual"  # one half
TRANSACTIONAL = "transactional"  # two
_READ_FACTOR = {STRONG: 1.0, EVENTUAL: 0.5, TRANSACTIONAL: 2.0}

AttributeValue = Mapping[str, Any]
Item = Mapping[str, AttributeValue]


class UnsupportedRequest(ValueError):
    """A request whose capacity the calculator cannot price (kept visible, never guessed)."""


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def number_size(value: str) -> int:
    """A number's value bytes: 1 byte per two significant digits (leading and trailing zeroes trimmed),
    plus 1 byte. AWS calls it approximate; this is its rule as written (zero: 1 byte)."""
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not a DynamoDB number: {value!r}") from exc
    if not number.is_finite():
        raise ValueError(f"not a DynamoDB number: {value!r}")
    # The digits as written, leading zeroes already dropped by Decimal; trailing ones trimmed here
    # (not with normalize(), which would round to the context's 28 digits).
    digits = "".join(map(str, number.as_tuple().digits)).rstrip("0")
    return math.ceil(len(digits) / 2) + 1


def _binary_len(value: Any) -> int:
    if isinstance(value, bytes | bytearray | memoryview):
        return len(value)
    if isinstance(value, str):  # base64 as on the wire: the raw length counts
        return len(base64.b64decode(value))
    raise ValueError(f"not a DynamoDB binary value: {type(value).__name__}")


def value_size(value: AttributeValue) -> int:
    """Bytes of one attribute value without its name (the name is counted by the item or the map)."""
    if len(value) != 1:
        raise ValueError(f"an attribute value has exactly one type: {sorted(value)}")
    ((kind, data),) = value.items()
    if kind == "S":
        return _utf8_len(data)
    if kind == "N":
        return number_size(data)
    if kind == "B":
        return _binary_len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return CONTAINER_OVERHEAD + sum(ELEMENT_OVERHEAD + value_size(element) for element in data)
    if kind == "M":
        return CONTAINER_OVERHEAD + sum(
            ELEMENT_OVERHEAD + _utf8_len(name) + value_size(element) for name, element in data.items()
        )
    # Sets: the page gives no overhead for them; their size is the sum of their elements' sizes by the
    # scalar rules above (what DynamoDB's item size calculators in AWS's own samples do as well).
    if kind == "SS":
        return sum(_utf8_len(element) for element in data)
    if kind == "NS":
        return sum(number_size(element) for element in data)
    if kind == "BS":
        return sum(_binary_len(element) for element in data)
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def item_size(item: Item | None) -> int:
    """An item's size: the sum of its attribute names' UTF-8 bytes and their values' bytes (0: no item)."""
    if not item:
        return 0
    return sum(_utf8_len(name) + value_size(value) for name, value in item.items())


def storage_size(item: Item | None) -> int:
    """Bytes billed as storage: the item's size plus the 100 bytes of indexing overhead per item."""
    return item_size(item) + STORAGE_OVERHEAD_PER_ITEM if item else 0


def _blocks(size: int, block: int) -> int:
    # A read or write of a missing (size 0) item still costs one block: "If you perform a read
    # operation on an item that does not exist, DynamoDB still consumes ... one read capacity unit";
    # a failed conditional write of a new item "consumes one write capacity unit".
    return max(1, math.ceil(size / block))


def read_units(size: int, consistency: str) -> float:
    """Read request units of reading one item of `size` bytes (GetItem, and each item of BatchGetItem
    or TransactGetItems): the size rounded up to 4 KB, 1 unit per 4 KB strongly consistent, one half
    eventually consistent, two transactional."""
    return _blocks(size, READ_UNIT_BYTES) * _READ_FACTOR[consistency]


def read_units_per_item(sizes: Iterable[int], consistency: str) -> float:
    """BatchGetItem: "DynamoDB first rounds up the size of each item to the next 4 KB boundary, and then
    calculates the total size"."""
    return sum(read_units(size, consistency) for size in sizes)


def read_units_summed(sizes: Iterable[int], consistency: str) -> float:
    """Query and Scan: the sizes of the items read (evaluated, for Scan) are summed, then rounded up to
    4 KB once."""
    return _blocks(sum(sizes), READ_UNIT_BYTES) * _READ_FACTOR[consistency]


def write_units(size_before: int, size_after: int, transactional: bool = False) -> float:
    """Write request units of one item write: the larger of the item's sizes before and after (PutItem
    replacing an item, UpdateItem; DeleteItem: the deleted item, so pass `size_after=0`), rounded up to
    1 KB, at least 1 (a failed condition on a new item costs 1; on an existing item, its size); two per
    KB in a transaction, cancelled or not."""
    units = float(_blocks(max(size_before, size_after), WRITE_UNIT_BYTES))
    return 2 * units if transactional else units


# ----------------------------------------------------------------------------------------------------
# Global secondary indexes


@dataclass(frozen=True, slots=True)
class SecondaryIndex:
    """A global secondary index: its key attributes and what it projects (ALL, KEYS_ONLY or INCLUDE)."""

    name: str
    key_names: tuple[str, ...]
    projection: str = "ALL"
    non_key_attributes: tuple[str, ...] = ()

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> SecondaryIndex:
        projection = description.get("Projection", {})
        return cls(
            name=description["IndexName"],
            key_names=tuple(element["AttributeName"] for element in description["KeySchema"]),
            projection=projection.get("ProjectionType", "ALL"),
            non_key_attributes=tuple(projection.get("NonKeyAttributes", ())),
        )

    def entry(self, item: Item | None, table_key_names: Sequence[str]) -> dict[str, AttributeValue] | None:
        """The index's copy of `item`, or None when the item lacks an index key (a sparse index)."""
        if not item or any(name not in item for name in self.key_names):
            return None
        if self.projection == "ALL":
            return dict(item)
        kept = {*table_key_names, *self.key_names}
        if self.projection == "INCLUDE":
            kept.update(self.non_key_attributes)
        return {name: value for name, value in item.items() if name in kept}


def gsi_write_units(
    before: Item | None, after: Item | None, index: SecondaryIndex, table_keys: Sequence[str]
) -> float:
    """Index write units of one table write, by the GSI page's cases (each index write rounded to 1 KB):
    an entry appears: 1 put; its key changes: a delete and a put; only projected attributes change: 1
    write; it disappears: 1 delete; absent before and after, or unchanged: nothing."""
    old, new = index.entry(before, table_keys), index.entry(after, table_keys)
    if old is None and new is None:
        return 0.0
    if old is None:
        return float(_blocks(item_size(new), WRITE_UNIT_BYTES))
    if new is None:
        return float(_blocks(item_size(old), WRITE_UNIT_BYTES))
    if any(old[name] != new[name] for name in index.key_names):
        return float(_blocks(item_size(old), WRITE_UNIT_BYTES) + _blocks(item_size(new), WRITE_UNIT_BYTES))
    if old != new:
        return float(_blocks(item_size(new), WRITE_UNIT_BYTES))
    return 0.0


# ----------------------------------------------------------------------------------------------------
# PartiQL: ExecuteStatement, BatchExecuteStatement and ExecuteTransaction consume like the singular
# operations they stand for (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/
# ql-reference.html: a SELECT naming the full key is a GetItem, INSERT a PutItem, UPDATE an UpdateItem,
# DELETE a DeleteItem). Only statements naming one item by its key are priced; others raise.

_QUOTED = r"'(?:[^']|'')*'"
_TOKENS = re.compile(rf"{_QUOTED}|\"(?:[^\"]|\"\")*\"|\?")
_TABLE = re.compile(
    r"^\s*(SELECT\b.*?\bFROM|UPDATE|DELETE\s+FROM|INSERT\s+INTO|EXISTS\s*\(\s*SELECT\b.*?\bFROM)\s+"
    r"(\"(?:[^\"]|\"\")+\"|[A-Za-z0-9_.\-]+)",
    re.IGNORECASE | re.DOTALL,
)
_EQUALITY = re.compile(
    rf"(\"(?:[^\"]|\"\")+\"|\b[A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\?|{_QUOTED}|-?\d+(?:\.\d+)?)"
)
_VALUE_PAIR = re.compile(rf"({_QUOTED})\s*:\s*(\?|{_QUOTED}|-?\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class Statement:
    """What a PartiQL statement does to capacity: its kind, table and the key-attribute values it names."""

    kind: str  # read | write
    verb: str  # SELECT | UPDATE | DELETE | INSERT
    table: str
    values: dict[str, AttributeValue] = field(default_factory=dict)


def _unquote(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token


def _literal(
    token: str, parameters: list[AttributeValue], positions: dict[int, int], at: int
) -> AttributeValue:
    if token == "?":
        return parameters[positions[at]]
    if token.startswith("'"):
        return {"S": token[1:-1].replace("''", "'")}
    return {"N": token}


def parse_statement(statement: str, parameters: Sequence[AttributeValue] = ()) -> Statement:
    """The table, verb and equality values (`attr = ?|'text'|number`, and an INSERT's `'attr': ?`) of a
    PartiQL statement; parameters are matched to the `?` marks in order."""
    match = _TABLE.match(statement)
    if not match:
        raise UnsupportedRequest(f"unsupported PartiQL statement: {statement[:80]!r}")
    verb = match.group(1).split()[0].upper()
    verb = "SELECT" if verb.startswith("EXISTS") else verb
    raw_table = match.group(2)
    table = _unquote(raw_table) if raw_table.startswith('"') else raw_table.split(".")[0]
    marks = [token.start() for token in _TOKENS.finditer(statement) if token.group() == "?"]
    positions = {offset: index for index, offset in enumerate(marks)}
    params = list(parameters)
    values: dict[str, AttributeValue] = {}
    pattern = _VALUE_PAIR if verb == "INSERT" else _EQUALITY
    where = statement if verb == "INSERT" else statement[_where_offset(statement) :]
    base = 0 if verb == "INSERT" else _where_offset(statement)
    for pair in pattern.finditer(where):
        name = pair.group(1)
        name = name[1:-1].replace("''", "'") if verb == "INSERT" else _unquote(name)
        values.setdefault(name, _literal(pair.group(2), params, positions, base + pair.start(2)))
    return Statement("read" if verb == "SELECT" else "write", verb, table, values)


def _where_offset(statement: str) -> int:
    # The WHERE clause outside string literals (a literal may contain the word).
    masked = _TOKENS.sub(lambda token: " " * len(token.group()) if token.group() != "?" else "?", statement)
    found = re.search(r"\bWHERE\b", masked, re.IGNORECASE)
    if not found:
        raise UnsupportedRequest(f"PartiQL statement without a WHERE clause: {statement[:80]!r}")
    return found.end()
