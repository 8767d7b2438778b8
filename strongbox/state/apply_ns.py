"""Apply handlers of namespaces and mounts (secrets engines and auth methods).

Called by `state.apply` only. Every record of a namespace lives under keys
starting with "<namespace>\\0" (`keys.ns_prefix`), so deleting a namespace is
a handful of prefix deletes plus revoking the namespace's tokens (a scan of
the token table: tokens are keyed by hash, not by namespace). A namespace with
child namespaces cannot be deleted, as in Vault. Disabling a mount deletes its
data; disabling an auth method also revokes the tokens it issued.
"""

from __future__ import annotations

from collections.abc import Callable

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply_auth import bump_policies, put_policy, revoke_tree
from strongbox.state.apply_mount import bump_mounts, delete_prefix, delete_storage
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult
NAMESPACED = ("mounts", "kv_meta", "kv_data", "policies", "auth_mounts", "auth_entries")
# Extra cleanup of a mount type on unmount (mount type -> hook), in the same transaction;
# registered by the backends that keep records outside their storage view (KV v2).
UNMOUNT_HOOKS: dict[str, Callable[[Store, lmdb.Transaction, str, rec.MountRecord], None]] = {}


def _exists(store: Store, txn: lmdb.Transaction, namespace: str) -> bool:
    return not namespace or txn_get(txn, namespace.encode(), store.db["namespaces"]) is not None


def apply_namespace_create(store: Store, txn: lmdb.Transaction,
                           command: cmd_pb.Command) -> Result:
    op = command.namespace_create
    path = op.namespace.path
    parent = path.rpartition("/")[0]
    if not _exists(store, txn, parent):
        return Result(code=Result.NOT_FOUND, message=f"parent namespace {parent!r} does not exist")
    if _exists(store, txn, path):
        return Result(code=Result.CONFLICT, message=f"namespace {path!r} already exists")
    name = path.rpartition("/")[2]
    cursor = txn.cursor(db=store.db["mounts"])
    shadowed = keys.mount_key(parent, name + "/")
    if cursor.set_range(shadowed) and bytes(cursor.key()).startswith(shadowed):
        return Result(code=Result.INVALID, message=f"a secrets engine is mounted at {name}/ "
                      "here; a namespace of that name would hide it")
    txn.put(path.encode(), op.namespace.SerializeToString(), db=store.db["namespaces"])
    put_policy(store, txn, path, op.default_policy)
    return Result(code=Result.OK)


def _revoke_tokens(store: Store, txn: lmdb.Transaction, namespace: str,
                   auth_prefix: str = "") -> int:
    doomed = []
    for _, raw in txn.cursor(db=store.db["tokens"]):
        token = rec.TokenRecord.FromString(bytes(raw))
        if token.namespace == namespace and token.auth_path.startswith(auth_prefix):
            doomed.append(token.accessor)
    return sum(revoke_tree(store, txn, accessor) for accessor in doomed)


def apply_namespace_delete(store: Store, txn: lmdb.Transaction,
                           command: cmd_pb.Command) -> Result:
    path = command.namespace_delete.path
    if not path or not _exists(store, txn, path):
        return Result(code=Result.NOT_FOUND, message=f"namespace {path!r} does not exist")
    cursor = txn.cursor(db=store.db["namespaces"])
    child = f"{path}/".encode()
    if cursor.set_range(child) and bytes(cursor.key()).startswith(child):
        return Result(code=Result.INVALID, message=f"namespace {path!r} has child namespaces; "
                                                   "delete them first")
    for name in NAMESPACED:
        delete_prefix(txn, store.db[name], keys.ns_prefix(path))
    revoked = _revoke_tokens(store, txn, path)
    txn.delete(path.encode(), db=store.db["namespaces"])
    bump_mounts(store, txn)
    bump_policies(store, txn)  # its policies are gone: compiled ACLs must go too
    return Result(code=Result.OK, version=revoked)


def apply_mount_enable(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.mount_enable
    if not _exists(store, txn, op.namespace):
        return Result(code=Result.NOT_FOUND, message=f"namespace {op.namespace!r} was deleted")
    db = store.db["auth_mounts" if op.auth else "mounts"]
    head = op.mount.path.split("/", 1)[0]
    if not op.auth and _exists(store, txn, f"{op.namespace}/{head}" if op.namespace else head):
        return Result(code=Result.CONFLICT, message=f"path is already in use by the namespace "
                                                    f"{head}/")
    prefix = keys.mount_key(op.namespace, "")
    cursor = txn.cursor(db=db)
    if cursor.set_range(prefix):
        for raw in cursor.iternext(keys=True, values=False):
            key = bytes(raw)
            if not key.startswith(prefix):
                break
            other = key[len(prefix):].decode()
            if other.startswith(op.mount.path) or op.mount.path.startswith(other):
                return Result(code=Result.CONFLICT,
                              message=f"path is already in use at {other}")
    txn.put(keys.mount_key(op.namespace, op.mount.path), op.mount.SerializeToString(), db=db)
    bump_mounts(store, txn)
    return Result(code=Result.OK)


def apply_mount_disable(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.mount_disable
    db = store.db["auth_mounts" if op.auth else "mounts"]
    key = keys.mount_key(op.namespace, op.path)
    raw = txn_get(txn, key, db)
    if raw is None:
        return Result(code=Result.OK)  # disabling what is not there succeeds, as in Vault
    txn.delete(key, db=db)
    bump_mounts(store, txn)
    mount = rec.MountRecord.FromString(raw)
    delete_storage(store, txn, op.namespace, mount.uuid)
    hook = UNMOUNT_HOOKS.get(("auth:" if op.auth else "") + mount.type)
    if hook is not None:
        hook(store, txn, op.namespace, mount)
    if op.auth:
        revoked = _revoke_tokens(store, txn, op.namespace, f"auth/{op.path}")
        return Result(code=Result.OK, version=revoked)
    return Result(code=Result.OK)


def apply_mount_tune(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.mount_tune
    db = store.db["auth_mounts" if op.auth else "mounts"]
    key = keys.mount_key(op.namespace, op.path)
    raw = txn_get(txn, key, db)
    if raw is None:
        return Result(code=Result.NOT_FOUND, message=f"no mount at {op.path}")
    mount = rec.MountRecord.FromString(raw)
    mount.description = op.description
    if op.set_options:
        mount.options.clear()
        mount.options.update(op.options)
    if op.set_lease_ttls:
        mount.default_lease_ttl_ns = op.default_lease_ttl_ns
        mount.max_lease_ttl_ns = op.max_lease_ttl_ns
    txn.put(key, mount.SerializeToString(), db=db)
    bump_mounts(store, txn)
    return Result(code=Result.OK)
