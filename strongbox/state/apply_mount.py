"""Apply handlers of per-mount storage, and what every mount-table change shares.

Every backend's own records live in one database (`auth_entries`, named after its
first users, the auth methods) under "<namespace>\\0<mount uuid>\\0<parts...>", so
a mount's records go with its uuid: a write that raced the mount's removal (or its
namespace's) is refused here (`mount_gone`) and can never reappear in a mount
re-created at the same path. `MountWrite` is the one generic replicated write of
that storage, with preconditions (`expect_absent`, `expect_present`); backends
that need more own a command of their own (KV v2, the KV upgrade).

Mount-table changes bump `keys.MOUNT_GENERATION`, which the router's cache keys on.
"""

from __future__ import annotations

from typing import Any

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult
GONE = "the mount was disabled (or its namespace deleted) meanwhile"
STORAGE_DB = "auth_entries"
PRECONDITION_GONE = "it no longer exists"  # an expect_present key is absent


def bump_mounts(store: Store, txn: lmdb.Transaction) -> None:
    raw = txn_get(txn, keys.MOUNT_GENERATION, store.db["meta"])
    txn.put(keys.MOUNT_GENERATION, keys.u64((keys.from_u64(raw) if raw else 0) + 1),
            db=store.db["meta"])


def referenced_mount(store: Store, txn: lmdb.Transaction,
                     ref: cmd_pb.MountRef) -> rec.MountRecord | None:
    """The mount `ref` names, if it is still that one (None: removed or replaced)."""
    raw = txn_get(txn, ref.key, store.db["mounts" if ref.secrets_engine else "auth_mounts"])
    mount = rec.MountRecord.FromString(raw) if raw is not None else None
    return mount if mount is not None and mount.uuid == ref.uuid else None


def mount_gone(store: Store, txn: lmdb.Transaction, ref: cmd_pb.MountRef) -> bool:
    """True if the referenced mount was removed (or replaced) since the proposal."""
    return bool(ref.key) and referenced_mount(store, txn, ref) is None


def delete_prefix(txn: lmdb.Transaction, db: Any, prefix: bytes) -> int:
    """Delete every key starting with `prefix` in `db`; returns how many."""
    cursor = txn.cursor(db=db)
    removed = 0
    if not cursor.set_range(prefix):
        return 0
    while bytes(cursor.key()).startswith(prefix):
        removed += 1
        if not cursor.delete():  # moves to the next record; False at the end
            break
    return removed


def apply_mount_write(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.mount_write
    db = store.db[STORAGE_DB]
    if mount_gone(store, txn, op.mount):
        return Result(code=Result.NOT_FOUND, message=GONE)
    for key in op.expect_absent:
        if txn_get(txn, key, db) is not None:
            return Result(code=Result.CONFLICT, message="it already exists")
    for key in op.expect_present:
        if txn_get(txn, key, db) is None:
            return Result(code=Result.NOT_FOUND, message=PRECONDITION_GONE)
    for prefix in op.delete_prefixes:
        delete_prefix(txn, db, prefix)
    for key in op.deletes:
        txn.delete(key, db=db)
    for put in op.puts:
        txn.put(put.key, put.value, db=db)
    return Result(code=Result.OK)


def delete_storage(store: Store, txn: lmdb.Transaction, namespace: str, uuid: str) -> None:
    """Everything a mount stored through its storage view (on unmount)."""
    if uuid:
        delete_prefix(txn, store.db[STORAGE_DB], keys.auth_entry_key(namespace, uuid, ""))
