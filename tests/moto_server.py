"""moto's server for the tests, with two fixes: one for speed, one for atomicity.

moto 5's TransactWriteItems backs up every table a transaction names by
deep-copying it (once per *item* of the transaction) so that a cancelled
transaction can put the copy back. That makes every transaction cost the size
of the whole table: with tens of thousands of items one transaction takes
seconds, and a soak of 10,000 refunds never gets through its setup. Here the
backup holds only what a transaction can change: the items it names (each
transaction item names one key, and moto refuses two on the same key) and the
length of the table's stream. A cancelled transaction puts those items back as
they were (or removes the ones that did not exist) and drops the stream
records it added; everything else is moto's own code.

moto serves requests on threads but does not lock its DynamoDB tables, and a
failed TransactWriteItems restores what it touched: a write that another
thread made meanwhile to the same item would be lost. Real DynamoDB applies
each request atomically, so here DynamoDB requests are applied one at a time
(the tests' concurrency proofs need exactly that guarantee from the store).

Usage: python3 tests/moto_server.py -H 127.0.0.1 -p PORT  (same arguments as moto_server)
"""

import copy
import sys
import threading

from moto.server import main


def _patch():
    import moto.dynamodb.models as models
    import moto.dynamodb.responses as responses
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    local = threading.local()

    class NoTableBackup:
        """Stands in for the `copy` module inside moto.dynamodb.models: while
        a transaction runs, its "backup" of a table is the table itself (so
        moto's own rollback puts back the same object, a no-op) and the
        rollback is done below, item by item."""

        def __getattr__(self, name):
            return getattr(copy, name)

        def deepcopy(self, obj, memo=None):
            if getattr(local, "in_transaction", False) and memo is None and isinstance(obj, Table):
                return obj
            return copy.deepcopy(obj, memo)

    def touched(backend, transact_items):
        """(table, hash, range, the item as it is now or None) for every
        transaction item, and each table's stream length."""
        items, streams = [], {}
        for entry in transact_items:
            if len(entry) != 1:
                continue  # moto refuses it before writing anything
            op = next(iter(entry.values()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            attrs = op.get("Item") if "Item" in op else op.get("Key") or {}
            if table.hash_key_attr not in attrs:
                continue  # moto refuses it before writing anything
            h = DynamoType(attrs[table.hash_key_attr])
            r = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in attrs:
                    continue
                r = DynamoType(attrs[table.range_key_attr])
                current = table.items.get(h, {}).get(r)
            else:
                current = table.items.get(h)
            items.append((table, h, r, copy.deepcopy(current)))
            if table.stream_shard is not None:
                streams[id(table)] = (table, len(table.stream_shard.items))
        return items, streams

    def roll_back(items, streams):
        for table, h, r, before in reversed(items):
            if r is None:
                if before is None:
                    table.items.pop(h, None)
                else:
                    table.items[h] = before
            elif before is None:
                partition = table.items.get(h)
                if partition is not None:
                    partition.pop(r, None)
                    if not partition:
                        del table.items[h]
            else:
                table.items[h][r] = before
        for table, length in streams.values():
            del table.stream_shard.items[length:]

    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        items, streams = touched(self, transact_items)
        local.in_transaction = True
        try:
            return transact(self, transact_items)
        except BaseException:
            roll_back(items, streams)
            raise
        finally:
            local.in_transaction = False

    lock = threading.RLock()
    call_action = responses.DynamoHandler.call_action

    def serialized_call_action(self, *args, **kwargs):
        with lock:
            return call_action(self, *args, **kwargs)

    models.copy = NoTableBackup()
    models.DynamoDBBackend.transact_write_items = transact_write_items
    responses.DynamoHandler.call_action = serialized_call_action


try:
    _patch()
except (ImportError, AttributeError) as e:  # another moto than the 5.x tested
    print(f"moto_server.py: moto internals differ ({e}); running moto unpatched", file=sys.stderr)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
