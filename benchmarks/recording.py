"""Recording clients for B6: what every AWS request of the code under measurement consumes.

`CapacityRecorder` hooks the botocore events of the session the code's DynamoDB client comes from.
For every request it plans the items the request touches, reads them before the request (writes) and
after it with the harness's own client (uncounted, strongly consistent, on another session), and
prices the request with `benchmarks.capacity`: read and write request units per table and operation,
index writes, and requests it could not price (listed, never guessed). Failed conditions and cancelled
transactions are charged as AWS charges them; throttled and invalid requests are not.

`ServiceUsageRecorder` hooks the same session for the other billed quantities (EventBridge PutEvents
64 KB chunks, SQS 64 KB request chunks, Customer Profiles calls) and for the CPU time the calls spend
in the backend (in-process moto, or the wait on the Pinpoint stand-in), so the handlers' own CPU can be
measured without it. Both recorders measure their own time so it can be taken out too.
"""

from __future__ import annotations

import base64
import copy
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks.capacity import (
    EVENTUAL,
    STRONG,
    TRANSACTIONAL,
    SecondaryIndex,
    UnsupportedRequest,
    gsi_write_units,
    item_size,
    parse_statement,
    read_units,
    read_units_summed,
    storage_size,
    write_units,
)

EVENTBRIDGE_CHUNK_BYTES = 64 * 1024  # "each 64 KB chunk of a payload is billed as 1 event"
SQS_CHUNK_BYTES = 64 * 1024  # "each 64 KB chunk of a payload is billed as 1 request"
EVENTBRIDGE_TIME_BYTES = 14  # PutEvents entry size: "Time: 14 bytes" when set
BATCH_GET_KEYS = 100

# Requests that consume no read or write capacity (control plane, streams, TTL settings).
_FREE_OPERATIONS = frozenset(
    {
        "CreateTable",
        "DeleteTable",
        "DescribeTable",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
        "ListTables",
        "DescribeLimits",
        "DescribeEndpoints",
        "TagResource",
        "ListTagsOfResource",
    }
)
# Errors DynamoDB charges: the condition was evaluated against the stored item.
_CHARGED_ERRORS = frozenset({"ConditionalCheckFailedException", "TransactionCanceledException"})
_CHARGED_STATEMENT_ERRORS = frozenset({"ConditionalCheckFailed"})


@dataclass
class OperationUsage:
    """Capacity of one operation on one table over a run."""

    requests: int = 0
    items: int = 0
    read_units: float = 0.0
    write_units: float = 0.0
    index_write_units: float = 0.0
    charged_failures: int = 0


@dataclass(frozen=True, slots=True)
class _Access:
    """One item a request reads or writes: table, key, and how it is charged."""

    table: str
    key: dict[str, Any]
    write: bool
    consistency: str  # strong | eventual | transactional (reads); transactional marks writes too
    charged: bool = True


def _key_id(table: str, key: Mapping[str, Any]) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(bytes(value)).decode("ascii")
        if isinstance(value, Mapping):
            return {name: plain(inner) for name, inner in value.items()}
        if isinstance(value, list | tuple | set):
            return [plain(inner) for inner in value]
        return value

    return table + "\x00" + json.dumps(plain(dict(key)), sort_keys=True)


@dataclass(frozen=True, slots=True)
class _TableShape:
    key_names: tuple[str, ...]
    indexes: tuple[SecondaryIndex, ...]


class CapacityRecorder:
    """Prices every DynamoDB request of the sessions it is attached to (see the module docstring)."""

    def __init__(self, harness_client: Any, cache: bool = True) -> None:
        self._harness = harness_client
        # Items as last read (None: absent). Valid while the code under measurement is the only writer
        # and each of its writes passes here (the item is read again after every write): then an item
        # read before a write is the one last seen, and a full item a read returned is the stored one.
        self._images: dict[str, dict[str, Any] | None] | None = {} if cache else None
        self._shapes: dict[str, _TableShape] = {}
        self.usage: dict[str, dict[str, OperationUsage]] = {}
        self.unpriced: Counter[str] = Counter()
        self.uncharged_errors: Counter[str] = Counter()
        self.overhead_ns = 0  # thread CPU spent in these hooks (harness reads included)

    def attach(self, events: Any) -> None:
        events.register("before-parameter-build.dynamodb", self._before)
        events.register("after-call.dynamodb", self._after)

    # -- totals ------------------------------------------------------------------------------------

    def totals(self) -> dict[str, float]:
        usages = [usage for operations in self.usage.values() for usage in operations.values()]
        return {
            "read_request_units": sum(u.read_units for u in usages),
            "write_request_units": sum(u.write_units for u in usages),
            "index_write_request_units": sum(u.index_write_units for u in usages),
            "requests": sum(u.requests for u in usages),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_table": {
                table: {operation: asdict(usage) for operation, usage in sorted(operations.items())}
                for table, operations in sorted(self.usage.items())
            },
            "totals": self.totals(),
            "unpriced_requests": dict(self.unpriced),
            "uncharged_errors": dict(self.uncharged_errors),
        }

    # -- table shapes and harness reads ------------------------------------------------------------

    def _shape(self, table: str) -> _TableShape:
        shape = self._shapes.get(table)
        if shape is None:
            description = self._harness.describe_table(TableName=table)["Table"]
            shape = _TableShape(
                key_names=tuple(element["AttributeName"] for element in description["KeySchema"]),
                indexes=tuple(
                    SecondaryIndex.from_description(index)
                    for index in description.get("GlobalSecondaryIndexes", ())
                ),
            )
            self._shapes[table] = shape
        return shape

    def _key_of(self, table: str, item: Mapping[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._shape(table).key_names if name in item}

    def _remember(self, key_id: str, item: dict[str, Any] | None) -> None:
        if self._images is not None:
            self._images[key_id] = item

    def _read_items(
        self, accesses: Sequence[_Access], fresh: bool = False
    ) -> dict[str, dict[str, Any] | None]:
        """The stored items of these accesses, strongly consistent, through the harness client (items
        seen before come from the cache unless `fresh`: after a write, always read again)."""
        images: dict[str, dict[str, Any] | None] = {}
        by_table: dict[str, dict[str, dict[str, Any]]] = {}
        for access in accesses:
            key_id = _key_id(access.table, access.key)
            if not fresh and self._images is not None and key_id in self._images:
                images[key_id] = self._images[key_id]
                continue
            by_table.setdefault(access.table, {})[key_id] = access.key
        for table, keys in by_table.items():
            pending = list(keys.values())
            for start in range(0, len(pending), BATCH_GET_KEYS):
                request: dict[str, Any] = {
                    table: {"Keys": pending[start : start + BATCH_GET_KEYS], "ConsistentRead": True}
                }
                while request:
                    response = self._harness.batch_get_item(RequestItems=request)
                    for item in response.get("Responses", {}).get(table, []):
                        images[_key_id(table, self._key_of(table, item))] = item
                    request = response.get("UnprocessedKeys") or {}
            for key_id in keys:
                images.setdefault(key_id, None)
                self._remember(key_id, images[key_id])
        return images

    def _stored_for_reads(
        self, operation: str, reads: Sequence[_Access], params: Mapping[str, Any], parsed: Mapping[str, Any]
    ) -> dict[str, dict[str, Any] | None]:
        """The stored items a read touched: what it returned when it asked for whole items (the
        capacity is the stored item's size whatever the projection), else read."""
        images: dict[str, dict[str, Any] | None] = {}
        whole_tables: set[str] = set()
        if operation == "GetItem" and not _projected(params):
            table = params["TableName"]
            images[_key_id(table, params["Key"])] = parsed.get("Item")
            whole_tables.add(table)
        elif operation == "BatchGetItem":
            for table, request in params["RequestItems"].items():
                if _projected(request):
                    continue
                whole_tables.add(table)
                for item in parsed.get("Responses", {}).get(table, []):
                    images[_key_id(table, self._key_of(table, item))] = item
        rest = []
        for access in reads:
            key_id = _key_id(access.table, access.key)
            if access.table in whole_tables:
                images.setdefault(key_id, None)  # asked for and not returned (nor left): absent
                self._remember(key_id, images[key_id])
            else:
                rest.append(access)
        if rest:
            images.update(self._read_items(rest))
        return images

    # -- planning: the items a request touches -----------------------------------------------------

    def _plan(self, operation: str, params: Mapping[str, Any]) -> list[_Access]:
        if operation == "GetItem":
            return [_Access(params["TableName"], dict(params["Key"]), False, _consistency(params))]
        if operation == "BatchGetItem":
            return [
                _Access(table, dict(key), False, _consistency(request))
                for table, request in params["RequestItems"].items()
                for key in request["Keys"]
            ]
        if operation == "TransactGetItems":
            return [
                _Access(entry["Get"]["TableName"], dict(entry["Get"]["Key"]), False, TRANSACTIONAL)
                for entry in params["TransactItems"]
            ]
        if operation == "PutItem":
            table = params["TableName"]
            return [_Access(table, self._key_of(table, params["Item"]), True, STRONG)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [_Access(params["TableName"], dict(params["Key"]), True, STRONG)]
        if operation == "BatchWriteItem":
            accesses = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        key = self._key_of(table, request["PutRequest"]["Item"])
                    else:
                        key = dict(request["DeleteRequest"]["Key"])
                    accesses.append(_Access(table, key, True, STRONG))
            return accesses
        if operation == "TransactWriteItems":
            accesses = []
            for entry in params["TransactItems"]:
                ((kind, action),) = entry.items()
                table = action["TableName"]
                key = self._key_of(table, action["Item"]) if kind == "Put" else dict(action["Key"])
                # A ConditionCheck reads and locks the item in the write transaction: priced as a
                # transactional write of the item's size (AWS's pages name no separate rate for it).
                accesses.append(_Access(table, key, True, TRANSACTIONAL))
            return accesses
        if operation in ("ExecuteStatement", "ExecuteTransaction", "BatchExecuteStatement"):
            if operation == "ExecuteStatement":
                statements = [params]
            elif operation == "ExecuteTransaction":
                statements = list(params["TransactStatements"])
            else:
                statements = list(params["Statements"])
            accesses = []
            for entry in statements:
                parsed = parse_statement(entry["Statement"], entry.get("Parameters", ()))
                shape = self._shape(parsed.table)
                if any(name not in parsed.values for name in shape.key_names):
                    raise UnsupportedRequest(
                        f"PartiQL statement without the full key: {entry['Statement'][:80]!r}"
                    )
                key = {name: parsed.values[name] for name in shape.key_names}
                if operation == "ExecuteTransaction":
                    consistency = TRANSACTIONAL
                else:
                    consistency = (
                        STRONG if (entry.get("ConsistentRead") or params.get("ConsistentRead")) else EVENTUAL
                    )
                accesses.append(_Access(parsed.table, key, parsed.kind == "write", consistency))
            return accesses
        raise UnsupportedRequest(operation)

    # -- hooks -------------------------------------------------------------------------------------

    def _before(self, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        started = time.thread_time_ns()
        operation = model.name
        try:
            if operation in _FREE_OPERATIONS:
                return
            if operation in ("Scan", "Query"):
                context["capacity_params"] = copy.deepcopy(dict(params))
                return
            try:
                accesses = self._plan(operation, params)
            except UnsupportedRequest as exc:
                context["capacity_unpriced"] = str(exc)
                return
            writes = [access for access in accesses if access.write]
            context["capacity_plan"] = (accesses, self._read_items(writes) if writes else {})
            context["capacity_params"] = (
                copy.deepcopy(dict(params)) if len(writes) < len(accesses) else params
            )
        finally:
            self.overhead_ns += time.thread_time_ns() - started

    def _after(
        self, http_response: Any, parsed: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        started = time.thread_time_ns()
        try:
            self._price(model.name, http_response, parsed, context)
        finally:
            self.overhead_ns += time.thread_time_ns() - started

    def _usage(self, table: str, operation: str) -> OperationUsage:
        return self.usage.setdefault(table, {}).setdefault(operation, OperationUsage())

    def _price(
        self, operation: str, http_response: Any, parsed: Mapping[str, Any], context: dict[str, Any]
    ) -> None:
        if operation in _FREE_OPERATIONS:
            return
        if "capacity_unpriced" in context:
            self.unpriced[operation] += 1
            return
        status = getattr(http_response, "status_code", 500)
        error = parsed.get("Error", {}).get("Code", "") if status >= 300 else ""
        if error and error not in _CHARGED_ERRORS:
            self.uncharged_errors[f"{operation}:{error}"] += 1
            return
        if operation in ("Scan", "Query"):
            self._price_scan_or_query(operation, parsed, context)
            return
        plan = context.get("capacity_plan")
        if plan is None:
            self.unpriced[operation] += 1
            return
        accesses, before = plan
        accesses = self._processed(operation, accesses, parsed, bool(error))
        reads = [access for access in accesses if not access.write]
        writes = [access for access in accesses if access.write]
        after = self._read_items(writes, fresh=True) if writes and not error else before
        stored_reads = (
            self._stored_for_reads(operation, reads, context["capacity_params"], parsed) if reads else {}
        )
        counted_tables: set[str] = set()
        for access in accesses:
            usage = self._usage(access.table, operation)
            if access.table not in counted_tables:
                usage.requests += 1
                counted_tables.add(access.table)
                if error:
                    usage.charged_failures += 1
            usage.items += 1
            key_id = _key_id(access.table, access.key)
            if not access.write:
                usage.read_units += read_units(item_size(stored_reads.get(key_id)), access.consistency)
                continue
            old, new = before.get(key_id), after.get(key_id)
            usage.write_units += write_units(
                item_size(old), item_size(new), transactional=access.consistency == TRANSACTIONAL
            )
            shape = self._shape(access.table)
            usage.index_write_units += sum(
                gsi_write_units(old, new, index, shape.key_names) for index in shape.indexes
            )

    def _processed(
        self, operation: str, accesses: list[_Access], parsed: Mapping[str, Any], failed: bool
    ) -> list[_Access]:
        """The accesses DynamoDB processed (and so charged): batch leftovers are not; the statements
        of a BatchExecuteStatement that failed other than on their condition are not."""
        if failed:
            return accesses
        if operation == "BatchGetItem":
            left = {
                _key_id(table, key)
                for table, request in (parsed.get("UnprocessedKeys") or {}).items()
                for key in request.get("Keys", ())
            }
            return [a for a in accesses if _key_id(a.table, a.key) not in left]
        if operation == "BatchWriteItem":
            left = set()
            for table, requests in (parsed.get("UnprocessedItems") or {}).items():
                for request in requests:
                    if "PutRequest" in request:
                        left.add(_key_id(table, self._key_of(table, request["PutRequest"]["Item"])))
                    else:
                        left.add(_key_id(table, request["DeleteRequest"]["Key"]))
            return [a for a in accesses if _key_id(a.table, a.key) not in left]
        if operation == "BatchExecuteStatement":
            kept = []
            for access, response in zip(accesses, parsed.get("Responses", ()), strict=False):
                code = response.get("Error", {}).get("Code")
                if code is None or code in _CHARGED_STATEMENT_ERRORS:
                    kept.append(access)
                else:
                    self.uncharged_errors[f"{operation}:{code}"] += 1
            return kept
        return accesses

    def _price_scan_or_query(
        self, operation: str, parsed: Mapping[str, Any], context: dict[str, Any]
    ) -> None:
        """Scan: the items evaluated; Query: the items the key condition selects; both before any filter
        or projection, summed, then rounded to 4 KB once. The harness repeats the request without filter,
        projection or Select to find those items (same start key and limit, so the same page)."""
        params = context.get("capacity_params")
        if params is None:
            return
        table = params["TableName"]
        again = {
            name: value
            for name, value in params.items()
            if name
            not in (
                "FilterExpression",
                "ProjectionExpression",
                "Select",
                "AttributesToGet",
                "ReturnConsumedCapacity",
            )
        }
        names = again.get("ExpressionAttributeNames")
        values = again.get("ExpressionAttributeValues")
        expression = again.get("KeyConditionExpression", "")
        if names:
            again["ExpressionAttributeNames"] = {k: v for k, v in names.items() if k in expression}
            if not again["ExpressionAttributeNames"]:
                del again["ExpressionAttributeNames"]
        if values:
            again["ExpressionAttributeValues"] = {k: v for k, v in values.items() if k in expression}
            if not again["ExpressionAttributeValues"]:
                del again["ExpressionAttributeValues"]
        evaluated = getattr(self._harness, "scan" if operation == "Scan" else "query")(**again)
        sizes = [item_size(item) for item in evaluated.get("Items", [])]
        usage = self._usage(table, operation)
        usage.requests += 1
        usage.items += len(sizes)
        usage.read_units += read_units_summed(sizes, _consistency(params))

    def stored_sizes(self, tables: Sequence[str]) -> dict[str, dict[str, float]]:
        """Per table: items, their sizes (mean, largest) and billed storage bytes (100 B each extra)."""
        result: dict[str, dict[str, float]] = {}
        for table in tables:
            sizes: list[int] = []
            stored = 0
            request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
            while True:
                response = self._harness.scan(**request)
                for item in response.get("Items", []):
                    sizes.append(item_size(item))
                    stored += storage_size(item)
                if not response.get("LastEvaluatedKey"):
                    break
                request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
            ordered = sorted(sizes)
            result[table] = {
                "items": len(sizes),
                "mean_item_bytes": round(sum(sizes) / len(sizes), 1) if sizes else 0.0,
                "p95_item_bytes": float(ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)])
                if ordered
                else 0.0,
                "max_item_bytes": float(ordered[-1]) if ordered else 0.0,
                "storage_bytes": float(stored),
            }
        return result


def _projected(request: Mapping[str, Any]) -> bool:
    return bool(request.get("ProjectionExpression") or request.get("AttributesToGet"))


def _consistency(request: Mapping[str, Any]) -> str:
    return STRONG if request.get("ConsistentRead") else EVENTUAL


# ----------------------------------------------------------------------------------------------------


def eventbridge_entry_size(entry: Mapping[str, Any]) -> int:
    """PutEvents entry size as AWS documents it: Time 14 bytes when set, plus the UTF-8 bytes of
    Source, DetailType, Detail and each Resources ARN
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html)."""
    size = EVENTBRIDGE_TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if value is not None:
            size += len(str(value).encode("utf-8"))
    size += sum(len(str(arn).encode("utf-8")) for arn in entry.get("Resources", ()))
    return size


def _sqs_payload_bytes(message: Mapping[str, Any]) -> int:
    size = len(str(message.get("MessageBody", "")).encode("utf-8"))
    for name, attribute in (message.get("MessageAttributes") or {}).items():
        size += len(name.encode("utf-8")) + len(str(attribute.get("DataType", "")).encode("utf-8"))
        value = (
            attribute.get("StringValue") if "StringValue" in attribute else attribute.get("BinaryValue", b"")
        )
        size += len(value) if isinstance(value, bytes | bytearray) else len(str(value).encode("utf-8"))
    return size


@dataclass
class ServiceUsage:
    calls: Counter[str] = field(default_factory=Counter)
    eventbridge_entries: int = 0
    eventbridge_billed_events: int = 0  # 64 KB chunks
    sqs_billed_requests: int = 0  # 64 KB chunks of each request's payload
    customer_profiles_calls: int = 0


class ServiceUsageRecorder:
    """The non-DynamoDB billed quantities of a session's calls, and the time those calls spend in the
    backend: from `before-send` (registered first, so before moto's in-process answer) to `before-parse`
    (the response is in), in thread CPU time of the calling thread."""

    def __init__(self, clock: Callable[[], int] = time.thread_time_ns) -> None:
        self._clock = clock
        self.usage = ServiceUsage()
        self.backend_ns = 0
        self.overhead_ns = 0
        self._sent_at: int | None = None

    def attach(self, events: Any) -> None:
        events.register_first("before-send", self._send_started)
        events.register("before-parse", self._send_ended)
        events.register("before-parameter-build", self._count)

    def _send_started(self, **_: Any) -> None:
        self._sent_at = self._clock()

    def _send_ended(self, **_: Any) -> None:
        if self._sent_at is not None:
            self.backend_ns += self._clock() - self._sent_at
            self._sent_at = None

    def _count(self, params: Mapping[str, Any], model: Any, event_name: str = "", **_: Any) -> None:
        started = self._clock()
        service = (
            event_name.split(".")[1]
            if event_name.count(".") >= 2
            else model.service_model.service_id.hyphenize()
        )
        operation = model.name
        self.usage.calls[f"{service}.{operation}"] += 1
        if service == "eventbridge" and operation == "PutEvents":
            for entry in params.get("Entries", ()):
                self.usage.eventbridge_entries += 1
                self.usage.eventbridge_billed_events += max(
                    1, math.ceil(eventbridge_entry_size(entry) / EVENTBRIDGE_CHUNK_BYTES)
                )
        elif service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
            messages = params.get("Entries", ()) if operation == "SendMessageBatch" else (params,)
            payload = sum(_sqs_payload_bytes(message) for message in messages)
            self.usage.sqs_billed_requests += max(1, math.ceil(payload / SQS_CHUNK_BYTES))
        elif service == "customer-profiles":
            self.usage.customer_profiles_calls += 1
        self.overhead_ns += self._clock() - started


@contextmanager
def thread_cpu(clock: Callable[[], int] = time.thread_time_ns) -> Iterator[list[int]]:
    """Thread CPU nanoseconds of the block, in the one-element list it yields (set on exit)."""
    spent = [0]
    started = clock()
    try:
        yield spent
    finally:
        spent[0] = clock() - started
