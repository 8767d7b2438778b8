"""Apply handlers of the replicated audit device configuration (state.apply only).

Each change bumps `meta/audit_gen`, so every node notices with one cheap read
per request that its local devices must be reconciled with the configuration.
"""

from __future__ import annotations

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult


def _bump(store: Store, txn: lmdb.Transaction) -> None:
    raw = txn_get(txn, keys.AUDIT_GENERATION, store.db["meta"])
    txn.put(keys.AUDIT_GENERATION, keys.u64((keys.from_u64(raw) if raw else 0) + 1),
            db=store.db["meta"])


def apply_audit_enable(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    device = command.audit_enable.device
    key = device.path.encode()
    if txn_get(txn, key, store.db["audit"]) is not None:
        return Result(code=Result.INVALID,
                      message=f"an audit device is already enabled at {device.path!r}")
    txn.put(key, device.SerializeToString(), db=store.db["audit"])
    _bump(store, txn)
    return Result(code=Result.OK)


def apply_audit_disable(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    key = command.audit_disable.path.encode()
    if txn_get(txn, key, store.db["audit"]) is None:
        return Result(code=Result.NOT_FOUND,
                      message=f"no audit device at {command.audit_disable.path!r}")
    txn.delete(key, db=store.db["audit"])
    _bump(store, txn)
    return Result(code=Result.OK)
