"""DynamoDB transactions in moto made atomic, isolated and cheap, as on AWS (found by tests/reliability).

moto 5.2's TransactWriteItems deep-copies every table the transaction touches (items and stream records)
before each call, applies the actions one by one, and on a failure "rolls back" by swapping the copies in.
Three consequences that AWS never shows:

1. Open DynamoDB Streams iterators keep pointing at the replaced table's stream shard: after the first
   cancelled transaction (a ConditionalCheckFailed is the engine's normal way to detect a concurrent writer
   or a replay), the score sync's reader sees no new stream record any more.
2. moto serves requests on several threads without a lock: a cancelled transaction restores a copy taken
   before a concurrent transaction committed (that update is lost), and reads can see half-applied
   transactions (a ledger key whose transaction is then rolled back).
3. The copy grows with the tables and their streams: at 20,000 events each scorer transaction copied the
   whole ledger and scores tables (issue #4 reports scorer timeouts and a 17 GB moto process).

`make_dynamodb_atomic()` patches the moto process once, for good (every embedded server does it in
`moto_server.main()`); `atomic_dynamodb()` does the same for the duration of a block (in-process moto,
as the benchmarks use it). The patch:

- runs every DynamoDB and DynamoDB Streams request under one lock (requests are serializable, as
  DynamoDB's transactions are with respect to other requests);
- replaces TransactWriteItems by check-then-write: every condition is evaluated against the current
  items first (a transaction holds distinct items, so no action can change another's condition); a
  failed check cancels the transaction with moto's own TransactionCanceledException before anything is
  written; otherwise the actions run through moto's own put/update/delete. Only the touched items are
  saved beforehand; should an action fail while writing (a validation error), those items are put back
  in place and the stream records of the undone actions are dropped, so stream iterators stay valid.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_LOCK = threading.RLock()
_PATCHED = False
WRITE_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


def _item_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _dynamo_key(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
    return hash_value, range_value


def _restore(table: Any, hash_value: Any, range_value: Any, saved: Any) -> None:
    """Put one item of a moto table back as it was (None: absent), without a stream record."""
    if range_value is None:
        if saved is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = saved
        return
    if saved is None:
        table.items.get(hash_value, {}).pop(range_value, None)
    else:
        table.items[hash_value][range_value] = saved


def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """TransactWriteItems with AWS's all-or-nothing outcome, at the cost of the touched items only."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        targets: set[tuple[str, str]] = set()
        touched: list[tuple[Any, Any, Any, Any]] = []  # (table, hash, range, saved item or None)
        errors: list[tuple[str, str, Any] | tuple[None, None, None]] = []
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            old_image: Any = None
            try:
                if op_type not in WRITE_OPERATIONS:
                    raise ValueError("Unsupported transaction operation")
                table_name = op["TableName"]
                table = self.get_table(table_name)
                key = _item_key(table, op_type, op)
                target = (str(table_name), str(dict(sorted(key.items()))))
                if target in targets:
                    raise MultipleTransactionsException()
                targets.add(target)
                current = self.get_item(table_name, key)
                condition = op.get("ConditionExpression")
                if condition is not None:
                    check = get_filter_expression(
                        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                    )
                    if not check.expr(current):
                        if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                            old_image = current.to_json()["Attributes"]
                        raise ConditionalCheckFailed(item=old_image)
                if op_type != "ConditionCheck":
                    hash_value, range_value = _dynamo_key(table, key)
                    touched.append((table, hash_value, range_value, copy.deepcopy(current)))
                errors.append((None, None, None))
            except (MultipleTransactionsException, MockValidationException):
                raise
            except ConditionalCheckFailed as failed:
                errors.append(("ConditionalCheckFailed", str(failed.message), old_image))
            except Exception as exc:  # moto's own behaviour: any other error cancels with its name
                errors.append((type(exc).__name__, str(exc), None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)

        streams = {
            id(table): (table, len(table.stream_shard.items)) for table, *_ in touched if table.stream_shard
        }
        try:
            # Every condition held a moment ago under the same lock: the writes need not evaluate them again.
            condition = None
            for item in transact_items:
                op_type, op = next(iter(item.items()))
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(
                        op["TableName"],
                        op["Item"],
                        condition_expression=condition,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Delete":
                    self.delete_item(
                        op["TableName"],
                        op["Key"],
                        condition_expression=condition,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
                elif op_type == "Update":
                    self.update_item(
                        op["TableName"],
                        op["Key"],
                        update_expression=op["UpdateExpression"],
                        condition_expression=condition,
                        expression_attribute_names=names,
                        expression_attribute_values=values,
                    )
        except Exception:
            for table, hash_value, range_value, saved in touched:
                _restore(table, hash_value, range_value, saved)
            for table, length in streams.values():
                del table.stream_shard.items[length:]  # the records of the undone actions
            raise


def _install() -> Callable[[], None]:
    """Patch moto in this process; returns a function that takes the patch off again."""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    saved: list[tuple[Any, str, Any]] = []
    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original_call = handler.call_action

        def call_action(self: Any, _original: Any = original_call) -> Any:
            with _LOCK:
                return _original(self)

        saved.append((handler, "call_action", original_call))
        handler.call_action = call_action  # type: ignore[method-assign]
    saved.append((DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items))
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    def uninstall() -> None:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)

    return uninstall


def make_dynamodb_atomic() -> None:
    """Patch moto in this process for good (a moto server process): idempotent."""
    global _PATCHED
    if not _PATCHED:
        _install()
        _PATCHED = True


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """The same patch for the duration of a block (in-process moto, `mock_aws()`)."""
    if _PATCHED:
        yield
        return
    uninstall = _install()
    try:
        yield
    finally:
        uninstall()
