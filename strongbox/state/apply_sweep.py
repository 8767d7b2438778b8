"""Apply of the leader's `Sweep`, and the expiry hooks backends register for it.

A `Sweep` names what the leader found lapsed: token accessors, wrapped-response
hashes (the core's own records) and, per mount, storage keys that the mount's
backend's `ExpiryHook` judged expired. Apply re-checks every item at the
command's time with the same rule (a renewal that raced the sweep wins), so a
hook must be a pure function of (key, stored value, time): it runs on every node.

`EXPIRY` maps a backend ("auth:<type>" for auth methods, "<type>" for secrets
engines) to its hook; `strongbox.registry` fills it, as it fills the apply
handlers. The state layer never names a backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply_auth import revoke_tree, token_at
from strongbox.state.apply_mount import STORAGE_DB, referenced_mount
from strongbox.state.lifetimes import lapsed
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult
Parts = tuple[str, ...]


def _nothing_related(parts: Parts, raw: bytes) -> list[Parts]:
    return []


@dataclass(frozen=True)
class ExpiryHook:
    """What the sweeper may reclaim in one backend's mount storage.

    `kinds`: the first key part of the records to look at (e.g. "secret").
    `expired(parts, raw, now_ns)`: the record under `parts` (the key inside the
    mount) has lapsed by `now_ns`. Pure and deterministic.
    `related(parts, raw)`: other keys of the mount to delete with it (indexes).
    """

    kinds: tuple[str, ...]
    expired: Callable[[Parts, bytes, int], bool]
    related: Callable[[Parts, bytes], list[Parts]] = _nothing_related


EXPIRY: dict[str, ExpiryHook] = {}
# Sweep fields of older proposals, and the backend whose hook judges them now.
_LEGACY = (("secret_id_keys", "auth:approle"), ("login_state_keys", "auth:userpass"))


def hook_name(mount: rec.MountRecord, secrets_engine: bool) -> str:
    return mount.type if secrets_engine else "auth:" + mount.type


def expired_in_mount(store: Store, namespace: str, mount: rec.MountRecord, hook: ExpiryHook,
                     now_ns: int, limit: int) -> list[bytes]:
    """Up to `limit` storage keys of `mount` that `hook` finds lapsed at `now_ns`."""
    found: list[bytes] = []
    for kind in hook.kinds:
        for rest, raw in store.auth_entries(keys.auth_entry_key(namespace, mount.uuid, kind, "")):
            parts = (kind, *rest.decode().split("\0"))
            if hook.expired(parts, raw, now_ns):
                found.append(keys.auth_entry_key(namespace, mount.uuid, *parts))
                if len(found) >= limit:
                    return found
    return found


def _reap(txn: lmdb.Transaction, db: Any, key: bytes, hook: ExpiryHook, now_ns: int) -> int:
    """Delete `key` (and its related keys) if `hook` still finds it lapsed."""
    head = key.split(b"\0", 2)
    raw = txn_get(txn, key, db)
    if len(head) < 3 or raw is None:
        return 0
    parts = tuple(head[2].decode().split("\0"))
    if not hook.expired(parts, raw, now_ns):
        return 0
    txn.delete(key, db=db)
    for related in hook.related(parts, raw):
        txn.delete(b"\0".join((head[0], head[1])) + b"\0" + "\0".join(related).encode(), db=db)
    return 1


def _sweep_mount(store: Store, txn: lmdb.Transaction, swept: cmd_pb.SweptMount,
                 now_ns: int) -> int:
    ref = swept.mount
    mount = referenced_mount(store, txn, ref)
    hook = EXPIRY.get(hook_name(mount, ref.secrets_engine)) if mount is not None else None
    if hook is None:
        return 0
    db = store.db[STORAGE_DB]
    return sum(_reap(txn, db, key, hook, now_ns) for key in swept.keys
               if key.split(b"\0", 2)[1:2] == [ref.uuid.encode()])


def apply_sweep(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    """Remove what has expired by the command's time; `version` counts what went."""
    op, now, removed = command.sweep, command.time_ns, 0
    for accessor in op.token_accessors:
        found = token_at(store, txn, accessor)
        if found is not None and lapsed(found[1], now):
            removed += revoke_tree(store, txn, accessor)  # as Vault: expiry revokes the tree
    for token_hash in op.wrapped_hashes:
        raw = txn_get(txn, token_hash, store.db["wrapped"])
        wrapped = rec.WrappedRecord.FromString(raw) if raw else None
        if wrapped is not None and lapsed(wrapped, now):
            txn.delete(token_hash, db=store.db["wrapped"])
            removed += 1
    for swept in op.mounts:
        removed += _sweep_mount(store, txn, swept, now)
    for field, name in _LEGACY:
        legacy = EXPIRY.get(name)
        if legacy is None:
            continue
        for key in getattr(op, field):
            removed += _reap(txn, store.db[STORAGE_DB], key, legacy, now)
    return Result(code=Result.OK, version=removed)
