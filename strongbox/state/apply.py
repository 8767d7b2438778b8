"""apply(index, command_bytes): the deterministic state machine.

Contract (docs/design.md §4): called only by the Raft apply thread, in log order.
One LMDB write transaction per entry writes the records, the applied index and
the request-id result together, so a crash leaves either all or none of an
entry applied. An entry at or below the stored applied index is skipped (log
replay after restart). A command whose request id was already applied returns
the first result without applying again (client retry after unknown outcome).

Apply reads no clock, no randomness, no network: `Command.time_ns` is the only
"now". Domain failures (CAS mismatch, conflicts) are results, not exceptions,
and still advance the applied index. An exception (e.g. `StoreFull`) aborts the
transaction and leaves the entry unapplied, so Raft retries it rather than
letting replicas diverge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import lmdb
from google.protobuf.message import DecodeError

from strongbox.errors import StoreFull
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import (
    apply_audit,
    apply_auth,
    apply_keys,
    apply_login,
    apply_mount,
    apply_ns,
    apply_quota,
    apply_restore,
    apply_sweep,
    keys,
)
from strongbox.state.store import Store, txn_get

log = logging.getLogger("strongbox.state")
Result = rec.ApplyResult
Handler = Callable[[Store, lmdb.Transaction, cmd_pb.Command], Result]


def ok(version: int = 0) -> Result:
    return Result(code=Result.OK, version=version)


def apply_init_cluster(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.init_cluster
    if txn.get(keys.CLUSTER, db=store.db["meta"]) is not None:
        return Result(code=Result.ALREADY_INITIALIZED, message="StrongBox is already initialized")
    txn.put(keys.CLUSTER, op.cluster.SerializeToString(), db=store.db["meta"])
    for named in op.keys:
        txn.put(named.name.encode(), named.key.SerializeToString(), db=store.db["keyring"])
    txn.put(keys.KEK_TERM, keys.u64(1), db=store.db["meta"])
    for mount in op.mounts:
        txn.put(keys.mount_key("", mount.path), mount.SerializeToString(), db=store.db["mounts"])
    apply_auth.put_token(store, txn, op.root_token_hash, op.root_token)
    for policy in op.policies:
        apply_auth.put_policy(store, txn, "", policy)
    return ok()


def apply_rotate_kek(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    kek = command.rotate_kek.kek
    raw = txn_get(txn, keys.KEK_TERM, store.db["meta"])
    current = keys.from_u64(raw) if raw else 0
    if current == 0:
        return Result(code=Result.INVALID, message="StrongBox is not initialized")
    if kek.term != current + 1:
        return Result(code=Result.CONFLICT, message="a concurrent rotation won; retry")
    txn.put(f"kek/{kek.term}".encode(), kek.SerializeToString(), db=store.db["keyring"])
    txn.put(keys.KEK_TERM, keys.u64(kek.term), db=store.db["meta"])
    return ok(kek.term)


def apply_noop(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    return ok()


HANDLERS: dict[str, Handler] = {
    "noop": apply_noop,
    "init_cluster": apply_init_cluster,
    "rotate_kek": apply_rotate_kek,
    "restore_begin": apply_restore.apply_restore_begin,
    "restore_chunk": apply_restore.apply_restore_chunk,
    "restore_end": apply_restore.apply_restore_end,
    "audit_enable": apply_audit.apply_audit_enable,
    "audit_disable": apply_audit.apply_audit_disable,
    "policy_write": apply_auth.apply_policy_write,
    "policy_delete": apply_auth.apply_policy_delete,
    "token_create": apply_auth.apply_token_create,
    "token_revoke": apply_auth.apply_token_revoke,
    "wrap_store": apply_auth.apply_wrap_store,
    "wrap_consume": apply_auth.apply_wrap_consume,
    "token_renew": apply_auth.apply_token_renew,
    "token_use": apply_auth.apply_token_use,
    "sweep": apply_sweep.apply_sweep,
    "mount_write": apply_mount.apply_mount_write,
    "login": apply_login.apply_login,
    "login_failure": apply_login.apply_login_failure,
    "namespace_create": apply_ns.apply_namespace_create,
    "namespace_delete": apply_ns.apply_namespace_delete,
    "mount_enable": apply_ns.apply_mount_enable,
    "mount_disable": apply_ns.apply_mount_disable,
    "mount_tune": apply_ns.apply_mount_tune,
    **apply_keys.HANDLERS,
    **apply_quota.HANDLERS,
}


def register(handlers: dict[str, Handler]) -> None:
    """Add the apply handlers a backend owns (`backend.contract.Backend.apply_handlers`).

    Called once per backend when `strongbox.registry` is imported, before any entry is
    applied; every node runs the same code, so every node dispatches the same way."""
    for name, handler in handlers.items():
        if HANDLERS.get(name, handler) is not handler:
            raise ValueError(f"apply handler {name!r} is registered twice")
        HANDLERS[name] = handler


def _dispatch(store: Store, txn: lmdb.Transaction, data: bytes) -> tuple[str, Result]:
    command = cmd_pb.Command()
    try:
        command.ParseFromString(data)
    except DecodeError:
        return "", Result(code=Result.INVALID, message="undecodable command")
    op = command.WhichOneof("op")
    if op is None or op not in HANDLERS:
        return command.request_id, Result(code=Result.INVALID, message="unknown command")
    if command.request_id:
        raw = txn_get(txn, command.request_id.encode(), store.db["idempotency"])
        if raw is not None:
            first = Result.FromString(raw)
            if first.request_hash != command.request_hash:
                return "", Result(code=Result.IDEMPOTENCY_MISMATCH,
                                  message="this Idempotency-Key was used for a different "
                                          "request; use a new key")
            return "", first
    # Time never runs backwards across a leader change: a new leader whose clock is
    # behind the old one's stamps earlier times, which would un-expire records.
    raw_time = txn_get(txn, keys.LAST_APPLIED_TIME, store.db["meta"])
    last_time = keys.from_u64(raw_time) if raw_time else 0
    if command.time_ns < last_time:
        command.time_ns = last_time
    elif command.time_ns > last_time:
        txn.put(keys.LAST_APPLIED_TIME, keys.u64(command.time_ns), db=store.db["meta"])
    # The handler writes in a nested transaction, so a failure leaves nothing half-done.
    child = store.env.begin(write=True, parent=txn)
    try:
        result = HANDLERS[op](store, child, command)
    except lmdb.BadValsizeError:
        # An empty or over-long key from the command: the same bytes fail the same way
        # on every replica, so this is input, not the environment; never retry it.
        child.abort()
        log.error("apply of a %s command used an invalid key size; answering INVALID", op)
        return command.request_id, Result(code=Result.INVALID,
                                          message="the command could not be applied")
    except (StoreFull, lmdb.Error):
        child.abort()
        raise  # the entry stays unapplied and is retried: never diverge
    except Exception:
        # A command the handler cannot apply (a bug, or input no check caught) must not
        # wedge every replica on this entry. The same bytes fail the same way everywhere,
        # so answering INVALID is deterministic.
        child.abort()
        log.exception("apply of a %s command failed; answering INVALID", op)
        return command.request_id, Result(code=Result.INVALID,
                                          message="the command could not be applied")
    child.commit()
    result.time_ns = command.time_ns
    result.request_hash = command.request_hash
    if result.code == Result.CONFLICT:
        return "", result  # transient: the proposer rebuilds and retries under the same id
    return command.request_id, result


def apply(store: Store, index: int, data: bytes) -> Result:
    """Apply one committed log entry at `index`; returns its result."""
    with store.write() as txn:
        raw = txn_get(txn, keys.APPLIED_INDEX, store.db["meta"])
        if raw is not None and keys.from_u64(raw) >= index:
            return Result(code=Result.OK, index=keys.from_u64(raw), message="already applied")
        request_id, result = _dispatch(store, txn, data)
        if not result.index:
            result.index = index
        if request_id.startswith(CLIENT_KEY_PREFIX):
            _remember(store, txn, request_id, result)
        if result.time_ns:
            _forget_expired(store, txn, result.time_ns)
        txn.put(keys.APPLIED_INDEX, keys.u64(index), db=store.db["meta"])
        return result


# Results are kept for client-chosen Idempotency-Keys only (docs/api.md: 24 hours), with a
# time index so that expired ones are deleted a few at a time, by the proposer's clock.
CLIENT_KEY_PREFIX = "idem:"
IDEMPOTENCY_TTL_NS = 24 * 3600 * 10**9
EXPIRY_PREFIX = b"\x00t"  # request ids never start with NUL
PRUNE_PER_ENTRY = 16


def _remember(store: Store, txn: lmdb.Transaction, request_id: str, result: Result) -> None:
    db = store.db["idempotency"]
    txn.put(request_id.encode(), result.SerializeToString(), db=db)
    txn.put(EXPIRY_PREFIX + keys.u64(result.time_ns) + request_id.encode(), b"", db=db)


def _forget_expired(store: Store, txn: lmdb.Transaction, now_ns: int) -> None:
    db = store.db["idempotency"]
    cutoff = EXPIRY_PREFIX + keys.u64(max(0, now_ns - IDEMPOTENCY_TTL_NS))
    cursor = txn.cursor(db=db)
    doomed: list[bytes] = []
    if cursor.set_range(EXPIRY_PREFIX):
        for raw in cursor.iternext(keys=True, values=False):
            key = bytes(raw)
            if not key.startswith(EXPIRY_PREFIX) or key >= cutoff or \
                    len(doomed) >= PRUNE_PER_ENTRY:
                break
            doomed.append(key)
    for key in doomed:
        txn.delete(key, db=db)
        txn.delete(key[len(EXPIRY_PREFIX) + 8:], db=db)
