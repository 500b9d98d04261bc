"""Two harness-only speed fixes for B1's local cloud; neither changes which calls are made or answered how.

1. moto 5.2's `transact_write_items` deep-copies every table a transaction touches, stream records
   included, before each transaction (to roll back on a cancellation). The cost grows with the table
   and its stream, so a run of the standard workload takes hours. `fast_transactions()` replaces it,
   for the block only, by check-then-write: every condition is evaluated against the current items
   first (a transaction holds distinct items, so no action can change another's condition), a failed
   check cancels the transaction with moto's own TransactionCanceledException before anything is
   written, otherwise the actions run through moto's own put/update/delete. If an action fails while
   writing (moto would roll back), the anomaly is counted and B1 refuses to report (see `anomalies`).
2. The Pinpoint stand-in's HTTP server writes headers and body in two send() calls; with Nagle's
   algorithm on, each response waits for the client's delayed ACK (~40 ms a call). `no_nagle()` sets
   TCP_NODELAY on its connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from simulator.local_cloud.pinpoint_standin import PinpointStandIn

WRITE_OPERATIONS = {"ConditionCheck", "Put", "Delete", "Update"}


class _Anomalies:
    count = 0


anomalies = _Anomalies()


def _check_then_write(self: Any, transact_items: list[dict[str, Any]]) -> None:
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
    targets: set[tuple[str, str]] = set()
    errors: list[tuple[str, str, dict[str, Any]] | tuple[None, None, None]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        try:
            if op_type not in WRITE_OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
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
                    raise ConditionalCheckFailed()
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            raise
        except ConditionalCheckFailed as failed:
            errors.append(("ConditionalCheckFailed", str(failed.message), None))  # type: ignore[arg-type]
        except Exception as exc:
            errors.append((type(exc).__name__, str(exc), None))  # type: ignore[arg-type]
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    try:
        for item in transact_items:
            op_type, op = next(iter(item.items()))
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(
                    op["TableName"],
                    op["Item"],
                    condition_expression=op.get("ConditionExpression"),
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    op["TableName"],
                    op["Key"],
                    condition_expression=op.get("ConditionExpression"),
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Update":
                self.update_item(
                    op["TableName"],
                    op["Key"],
                    update_expression=op["UpdateExpression"],
                    condition_expression=op.get("ConditionExpression"),
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception:
        anomalies.count += 1
        raise


@contextmanager
def fast_transactions() -> Iterator[None]:
    """moto's TransactWriteItems without the whole-table snapshot, for the duration of the block."""
    from moto.dynamodb.models import DynamoDBBackend

    saved = DynamoDBBackend.transact_write_items
    DynamoDBBackend.transact_write_items = _check_then_write  # type: ignore[method-assign]
    try:
        yield
    finally:
        DynamoDBBackend.transact_write_items = saved  # type: ignore[method-assign]


def no_nagle(standin: PinpointStandIn) -> PinpointStandIn:
    """TCP_NODELAY on the stand-in's connections (socketserver.StreamRequestHandler's own switch)."""
    server = getattr(standin, "_server", None)
    handler = getattr(server, "RequestHandlerClass", None)
    if handler is not None:
        handler.disable_nagle_algorithm = True
    return standin
