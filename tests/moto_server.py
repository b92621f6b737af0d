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
records it added. Likewise a Query on a global secondary index walks every item
of the table in moto; here each table keeps, per index hash-key attribute, the
keys of the items holding each value, so a Query looks only at those items
(moto still applies every condition, sort and page itself). Everything else
is moto's own code.

moto serves requests on threads but does not lock its DynamoDB tables, and a
failed TransactWriteItems restores what it touched: a write that another
thread made meanwhile to the same item would be lost. Real DynamoDB applies
each request atomically, so here DynamoDB requests are applied one at a time
(the tests' concurrency proofs need exactly that guarantee from the store).

Usage: python3 tests/moto_server.py -H 127.0.0.1 -p PORT  (same arguments as moto_server)
"""

import copy
import inspect
import sys
import threading

from moto.server import main


_touch = [lambda table, key: None]


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
        for table, h, r, _ in items:
            _touch[0](table, (h, r))

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

    # ---- global secondary indexes: value -> keys, kept beside each table
    def index_attrs(table):
        return tuple(
            sorted(
                {k["AttributeName"] for i in table.global_indexes for k in i.schema if k["KeyType"] == "HASH"}
            )
        )

    def item_at(table, key):
        h, r = key
        if r is None:
            return table.items.get(h)
        return table.items.get(h, {}).get(r)

    def reindex(table, gsi, key):
        for attr, value in gsi["of"].pop(key, {}).items():
            keys = gsi["by"][attr].get(value)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del gsi["by"][attr][value]
        item = item_at(table, key)
        if item is None:
            return
        held = {}
        for attr in gsi["attrs"]:
            value = item.attrs.get(attr)
            if value is not None:
                gsi["by"][attr].setdefault(value, set()).add(key)
                held[attr] = value
        if held:
            gsi["of"][key] = held

    def gsi_of(table, build=True):
        """The table's value -> keys map, built on first use (one walk) and
        kept up to date by every write after that."""
        gsi = table.__dict__.get("_aftersales_gsi")
        attrs = index_attrs(table)
        if gsi is not None and gsi["attrs"] == attrs:
            return gsi
        if not build:
            return None
        gsi = {"attrs": attrs, "by": {a: {} for a in attrs}, "of": {}}
        table.__dict__["_aftersales_gsi"] = gsi
        for item in table.all_items():
            reindex(table, gsi, (item.hash_key, item.range_key))
        return gsi

    def touch(table, key):
        gsi = gsi_of(table, build=False)
        if gsi is not None:
            reindex(table, gsi, key)

    def key_from(table, attrs):
        h = DynamoType(attrs[table.hash_key_attr])
        r = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr is not None else None
        return h, r

    put_item = Table.put_item

    def indexed_put_item(self, item_attrs, *args, **kwargs):
        item = put_item(self, item_attrs, *args, **kwargs)
        touch(self, (item.hash_key, item.range_key))
        return item

    delete_item = Table.delete_item

    def indexed_delete_item(self, hash_key, range_key):
        try:
            return delete_item(self, hash_key, range_key)
        finally:
            touch(self, (hash_key, range_key))

    update_item = models.DynamoDBBackend.update_item

    def indexed_update_item(self, table_name, key, *args, **kwargs):
        try:
            return update_item(self, table_name, key, *args, **kwargs)
        finally:
            table = self.tables.get(table_name)
            if table is not None:
                try:
                    touch(table, key_from(table, key))
                except (KeyError, TypeError):
                    pass  # a key moto refused: nothing was written

    query = Table.query

    query_signature = inspect.signature(query)

    def indexed_query(self, *args, **kwargs):
        call = query_signature.bind(self, *args, **kwargs).arguments
        index = next((i for i in self.global_indexes if i.name == call.get("index_name")), None)
        hash_attrs = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"] if index else []
        if len(hash_attrs) != 1:
            return query(self, *args, **kwargs)
        value = dict(call.get("hash_key_conditions") or []).get(hash_attrs[0], call.get("hash_key"))
        if value is None:
            return query(self, *args, **kwargs)
        keys = gsi_of(self)["by"].get(hash_attrs[0], {}).get(value, ())
        candidates = [i for i in (item_at(self, k) for k in keys) if i is not None]
        self.__dict__["all_items"] = lambda: candidates
        try:
            return query(self, *args, **kwargs)
        finally:
            del self.__dict__["all_items"]

    models.copy = NoTableBackup()
    models.DynamoDBBackend.transact_write_items = transact_write_items
    models.DynamoDBBackend.update_item = indexed_update_item
    Table.put_item = indexed_put_item
    Table.delete_item = indexed_delete_item
    Table.query = indexed_query
    responses.DynamoHandler.call_action = serialized_call_action
    _touch[0] = touch


try:
    _patch()
except (ImportError, AttributeError) as e:  # another moto than the 5.x tested
    print(f"moto_server.py: moto internals differ ({e}); running moto unpatched", file=sys.stderr)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
