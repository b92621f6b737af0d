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

import moto.dynamodb.models as models
import moto.dynamodb.responses as responses
from moto.dynamodb.models.table import Table
from moto.server import main

_local = threading.local()


class _CopyOncePerTransaction:
    """Stands in for the `copy` module inside moto.dynamodb.models."""

    def __getattr__(self, name):
        return getattr(copy, name)

    def deepcopy(self, obj, memo=None):
        cache = getattr(_local, "tables", None)
        if cache is None or memo is not None or not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        key = id(obj)
        if key not in cache:
            cache[key] = copy.deepcopy(obj)
        return cache[key]


models.copy = _CopyOncePerTransaction()
_transact = models.DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    _local.tables = {}
    try:
        return _transact(self, transact_items)
    finally:
        _local.tables = None


models.DynamoDBBackend.transact_write_items = _transact_write_items

_dynamodb_lock = threading.RLock()
_call_action = responses.DynamoHandler.call_action


def _serialized_call_action(self, *args, **kwargs):
    with _dynamodb_lock:
        return _call_action(self, *args, **kwargs)


responses.DynamoHandler.call_action = _serialized_call_action

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
