"""moto's server for the tests, with two fixes: one for speed, one for atomicity.

moto 5's TransactWriteItems backs up the table before applying a transaction by
deep-copying it once per *item* of the transaction, keeping only the last copy
(the backups are keyed by table name). With a few thousand items that makes one
100-item transaction take seconds. Here every table is copied once per call;
the backup, the rollback and everything else are moto's own code.

moto serves requests on threads but does not lock its DynamoDB tables, and a
failed TransactWriteItems restores the whole table from its backup: a write
that another thread made meanwhile is lost, and so is any write that landed in
the replaced table object. Real DynamoDB applies each request atomically, so
here DynamoDB requests are applied one at a time (the tests' concurrency
proofs need exactly that guarantee from the store).

Usage: python3 tests/moto_server.py -H 127.0.0.1 -p PORT  (same arguments as moto_server)
"""

import copy
import sys
import threading

from moto.server import main


def _patch():
    import moto.dynamodb.models as models
    import moto.dynamodb.responses as responses
    from moto.dynamodb.models.table import Table

    local = threading.local()

    class CopyOncePerTransaction:
        """Stands in for the `copy` module inside moto.dynamodb.models."""

        def __getattr__(self, name):
            return getattr(copy, name)

        def deepcopy(self, obj, memo=None):
            cache = getattr(local, "tables", None)
            if cache is None or memo is not None or not isinstance(obj, Table):
                return copy.deepcopy(obj, memo)
            key = id(obj)
            if key not in cache:
                cache[key] = copy.deepcopy(obj)
            return cache[key]

    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        local.tables = {}
        try:
            return transact(self, transact_items)
        finally:
            local.tables = None

    lock = threading.RLock()
    call_action = responses.DynamoHandler.call_action

    def serialized_call_action(self, *args, **kwargs):
        with lock:
            return call_action(self, *args, **kwargs)

    models.copy = CopyOncePerTransaction()
    models.DynamoDBBackend.transact_write_items = transact_write_items
    responses.DynamoHandler.call_action = serialized_call_action


try:
    _patch()
except (ImportError, AttributeError) as e:  # another moto than the 5.x tested
    print(f"moto_server.py: moto internals differ ({e}); running moto unpatched", file=sys.stderr)

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
