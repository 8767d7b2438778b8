"""Apply handlers of a snapshot restore (called by `state.apply` only).

Begin empties every database except the applied index and records the
restore id under `meta/restore`; chunks are accepted only for that id; End
clears the mark. While the mark is set, `Store.restore_in_progress()` is true
and the API refuses to serve data (503) rather than serve half a state.
"""

from __future__ import annotations

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.store import DATABASES, Store, txn_get

Result = rec.ApplyResult
PROTECTED_META = (keys.APPLIED_INDEX, keys.RESTORE)


def _current(store: Store, txn: lmdb.Transaction) -> str | None:
    raw = txn_get(txn, keys.RESTORE, store.db["meta"])
    return None if raw is None else raw.decode()


def apply_restore_begin(store: Store, txn: lmdb.Transaction,
                        command: cmd_pb.Command) -> Result:
    for name in DATABASES:
        db = store.db[name]
        if name != "meta":
            txn.drop(db, delete=False)
            continue
        doomed = [key for key in txn.cursor(db=db).iternext(keys=True, values=False)
                  if bytes(key) not in PROTECTED_META]
        for key in doomed:
            txn.delete(key, db=db)
    txn.put(keys.RESTORE, command.restore_begin.restore_id.encode(), db=store.db["meta"])
    return Result(code=Result.OK)


def apply_restore_chunk(store: Store, txn: lmdb.Transaction,
                        command: cmd_pb.Command) -> Result:
    op = command.restore_chunk
    if _current(store, txn) != op.restore_id:
        return Result(code=Result.INVALID, message="no restore with this id is in progress")
    for record in op.records:
        if record.db not in DATABASES or (record.db == "meta" and record.key in PROTECTED_META):
            continue
        txn.put(record.key, record.value, db=store.db[record.db])
    return Result(code=Result.OK)


def apply_restore_end(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    if _current(store, txn) != command.restore_end.restore_id:
        return Result(code=Result.INVALID, message="no restore with this id is in progress")
    txn.delete(keys.RESTORE, db=store.db["meta"])
    return Result(code=Result.OK)
