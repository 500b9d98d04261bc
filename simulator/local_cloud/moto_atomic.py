"""DynamoDB transactions in moto made atomic and isolated, as on AWS (found by tests/reliability).

moto 5.2's TransactWriteItems applies its actions one by one and, when one fails, "rolls back" by replacing
every involved table object with a deep copy taken at the start of the call. Two consequences that AWS never
shows, and that break the exactly-once proofs on the embedded cloud:

1. Open DynamoDB Streams iterators keep pointing at the replaced table's stream shard: after the first
   cancelled transaction (a ConditionalCheckFailed is the engine's normal way to detect a concurrent writer
   or a replay), the score sync's reader sees no new stream record any more.
2. moto serves requests on several threads without a lock: a cancelled transaction restores a copy taken
   before a concurrent transaction committed (that update is lost), and reads can see half-applied
   transactions (a ledger key whose transaction is then rolled back).

`make_dynamodb_atomic()` patches the moto process: every DynamoDB and DynamoDB Streams request runs under
one lock (requests are serializable, as DynamoDB's transactions are with respect to other requests), and a
cancelled transaction is rolled back in place (the live table objects get the saved items back, their stream
shards lose the records of the undone actions), so stream iterators stay valid.

Every embedded moto server runs with the patch: `moto_server.main()` applies it before it starts.
"""

from __future__ import annotations

import threading
from typing import Any

from simulator.local_cloud.moto_server import EmbeddedMoto

_LOCK = threading.RLock()
_PATCHED = False


def make_dynamodb_atomic() -> None:
    """Patch moto (in this process): serialized DynamoDB requests, in-place rollback of transactions."""
    global _PATCHED
    if _PATCHED:
        return
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.responses import DynamoHandler
    from moto.dynamodbstreams.responses import DynamoDBStreamsHandler

    for handler in (DynamoHandler, DynamoDBStreamsHandler):
        original_call = handler.call_action

        def call_action(self: Any, _original: Any = original_call) -> Any:
            with _LOCK:
                return _original(self)

        handler.call_action = call_action  # type: ignore[method-assign]

    original_transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            live = dict(self.tables)
            stream_lengths = {
                name: len(table.stream_shard.items)
                for name, table in live.items()
                if table.stream_shard is not None
            }
            try:
                original_transact(self, transact_items)
            except Exception:
                for name, table in live.items():
                    restored = self.tables.get(name)
                    if restored is not None and restored is not table:
                        table.items = restored.items  # the items as they were before the call
                        self.tables[name] = table  # the live object, with its stream shard and iterators
                    if table.stream_shard is not None and name in stream_lengths:
                        del table.stream_shard.items[stream_lengths[name] :]  # records of undone actions
                raise

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _PATCHED = True


# Kept as a name for callers that want to say they rely on atomic transactions: since every embedded
# server applies make_dynamodb_atomic(), it is the same class.
AtomicEmbeddedMoto = EmbeddedMoto
