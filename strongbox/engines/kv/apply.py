"""Apply handlers of the KV version 2 engine (called by `state.apply` only).

Each handler runs inside apply's write transaction and returns an ApplyResult.
Preconditions are checked here, against the state being written, never against
what the proposing node saw: that is what makes CAS and versions safe when two
nodes race.
"""

from __future__ import annotations

import lmdb

from strongbox.engines.kv import retention
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply_mount import delete_prefix
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult
DEFAULT_MAX_VERSIONS = 10
MAX_TIME_NS = 2**63 - 1


def _mount(store: Store, txn: lmdb.Transaction, namespace: str,
           mount: str) -> rec.MountRecord | None:
    raw = txn_get(txn, keys.mount_key(namespace, mount), store.db["mounts"])
    return None if raw is None else rec.MountRecord.FromString(raw)


def _metadata(store: Store, txn: lmdb.Transaction, key: bytes) -> rec.KvMetadataRecord | None:
    raw = txn_get(txn, key, store.db["kv_meta"])
    return None if raw is None else rec.KvMetadataRecord.FromString(raw)


def _no_mount(mount: str) -> Result:
    return Result(code=Result.NOT_FOUND, message=f"no kv mount at {mount!r}")


def _target(store: Store, txn: lmdb.Transaction, namespace: str, mount_path: str, path: str,
            now_ns: int) -> tuple[rec.MountRecord, bytes, rec.KvMetadataRecord] | Result:
    """The mount, metadata key and metadata (new if absent) a write targets, or NOT_FOUND."""
    mount = _mount(store, txn, namespace, mount_path)
    if mount is None:
        return _no_mount(mount_path)
    meta_key = keys.kv_meta_key(namespace, mount_path, path)
    meta = _metadata(store, txn, meta_key) or rec.KvMetadataRecord(created_time_ns=now_ns)
    return mount, meta_key, meta


def effective_max_versions(meta: rec.KvMetadataRecord, config: rec.KvConfig) -> int:
    return meta.max_versions or config.max_versions or DEFAULT_MAX_VERSIONS


def _trim_versions(store: Store, txn: lmdb.Transaction, namespace: str, mount: str, path: str,
                   meta: rec.KvMetadataRecord, config: rec.KvConfig) -> None:
    limit = effective_max_versions(meta, config)
    for version in sorted(meta.versions)[: max(0, len(meta.versions) - limit)]:
        del meta.versions[version]
        txn.delete(keys.kv_data_key(namespace, mount, path, version), db=store.db["kv_data"])
    meta.oldest_version = min(meta.versions) if meta.versions else 0


def apply_put(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    return put_version(store, txn, command.kv_put, command.time_ns)


def put_version(store: Store, txn: lmdb.Transaction, op: cmd_pb.KvPut, now_ns: int) -> Result:
    """Write `op`'s version at `now_ns` (also used by the KV v1 -> v2 upgrade)."""
    target = _target(store, txn, op.namespace, op.mount, op.path, now_ns)
    if isinstance(target, Result):
        return target
    mount, meta_key, meta = target
    if (meta.cas_required or mount.kv_config.cas_required) and not op.has_cas:
        return Result(code=Result.INVALID,
                      message="check-and-set parameter required for this call")
    if op.has_cas and op.cas != meta.current_version:
        return Result(code=Result.CAS_MISMATCH, version=meta.current_version,
                      # Vault's exact text: clients compare it
                      message="check-and-set parameter did not match the current version")
    if op.version != meta.current_version + 1:
        return Result(code=Result.CONFLICT, version=meta.current_version,
                      message="the secret changed while the write was prepared; retry")
    meta.current_version = op.version
    meta.updated_time_ns = now_ns
    # delete_version_after is resolved here, against the settings being applied.
    delete_after = meta.delete_version_after_ns or mount.kv_config.delete_version_after_ns
    meta.versions[op.version].CopyFrom(rec.KvVersionMeta(
        created_time_ns=now_ns,
        deletion_time_ns=min(now_ns + delete_after, MAX_TIME_NS)
        if delete_after > 0 else 0))
    txn.put(keys.kv_data_key(op.namespace, op.mount, op.path, op.version),
            op.record.SerializeToString(), db=store.db["kv_data"])
    _trim_versions(store, txn, op.namespace, op.mount, op.path, meta, mount.kv_config)
    txn.put(meta_key, meta.SerializeToString(), db=store.db["kv_meta"])
    return Result(code=Result.OK, version=op.version)


def apply_set_version_state(store: Store, txn: lmdb.Transaction,
                            command: cmd_pb.Command) -> Result:
    op = command.kv_set_version_state
    if _mount(store, txn, op.namespace, op.mount) is None:
        return _no_mount(op.mount)
    meta_key = keys.kv_meta_key(op.namespace, op.mount, op.path)
    meta = _metadata(store, txn, meta_key)
    if meta is None:
        return Result(code=Result.OK)  # as Vault: deleting what does not exist succeeds
    action = cmd_pb.KvSetVersionState
    if op.retention:
        return _retire(store, txn, command, meta_key, meta)
    if op.action == action.DESTROY and meta.destroy_protection:
        return Result(code=Result.DESTROY_PROTECTED,
                      message="destroy_protection is set on this secret; "
                              "turn it off in its metadata first")
    versions = [meta.current_version] if op.latest else list(op.versions)
    for version in versions:
        if version not in meta.versions:
            continue
        state = meta.versions[version]
        if op.action == action.SOFT_DELETE:
            if not state.destroyed and not (0 < state.deletion_time_ns <= command.time_ns):
                state.deletion_time_ns = command.time_ns
        elif op.action == action.UNDELETE:
            if not state.destroyed:
                state.deletion_time_ns = 0
        else:
            state.destroyed = True
            txn.delete(keys.kv_data_key(op.namespace, op.mount, op.path, version),
                       db=store.db["kv_data"])
    meta.updated_time_ns = command.time_ns
    txn.put(meta_key, meta.SerializeToString(), db=store.db["kv_meta"])
    return Result(code=Result.OK)


def _retire(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command, meta_key: bytes,
            meta: rec.KvMetadataRecord) -> Result:
    """The retention sweep: destroy what is still past delete_version_after now (the rule
    is re-checked here; destroy protection wins). `version` = how many were destroyed."""
    op = command.kv_set_version_state
    mount = _mount(store, txn, op.namespace, op.mount)
    config = mount.kv_config if mount is not None else rec.KvConfig()
    due = set(retention.lapsed_versions(meta, config, command.time_ns)) & set(op.versions)
    for version in sorted(due):
        meta.versions[version].destroyed = True
        txn.delete(keys.kv_data_key(op.namespace, op.mount, op.path, version),
                   db=store.db["kv_data"])
    if due:
        txn.put(meta_key, meta.SerializeToString(), db=store.db["kv_meta"])
    return Result(code=Result.OK, version=len(due))


def apply_write_metadata(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.kv_write_metadata
    target = _target(store, txn, op.namespace, op.mount, op.path, command.time_ns)
    if isinstance(target, Result):
        return target
    mount, meta_key, meta = target
    if op.HasField("max_versions"):
        meta.max_versions = op.max_versions
    if op.HasField("cas_required"):
        meta.cas_required = op.cas_required
    if op.HasField("delete_version_after_ns"):
        meta.delete_version_after_ns = op.delete_version_after_ns
    if op.HasField("destroy_protection"):
        meta.destroy_protection = op.destroy_protection
    if op.set_custom_metadata:
        meta.custom_metadata.CopyFrom(op.custom_metadata)
    meta.updated_time_ns = command.time_ns
    _trim_versions(store, txn, op.namespace, op.mount, op.path, meta, mount.kv_config)
    txn.put(meta_key, meta.SerializeToString(), db=store.db["kv_meta"])
    return Result(code=Result.OK)


def apply_delete_metadata(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.kv_delete_metadata
    if _mount(store, txn, op.namespace, op.mount) is None:
        return _no_mount(op.mount)
    meta_key = keys.kv_meta_key(op.namespace, op.mount, op.path)
    meta = _metadata(store, txn, meta_key)
    if meta is None:
        return Result(code=Result.OK)
    if meta.destroy_protection:
        return Result(code=Result.DESTROY_PROTECTED,
                      message="destroy_protection is set on this secret; "
                              "turn it off in its metadata first")
    for version in meta.versions:
        txn.delete(keys.kv_data_key(op.namespace, op.mount, op.path, version),
                   db=store.db["kv_data"])
    txn.delete(meta_key, db=store.db["kv_meta"])
    return Result(code=Result.OK)


def apply_write_config(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.kv_write_config
    mount = _mount(store, txn, op.namespace, op.mount)
    if mount is None:
        return _no_mount(op.mount)
    mount.kv_config.CopyFrom(op.config)
    txn.put(keys.mount_key(op.namespace, op.mount), mount.SerializeToString(),
            db=store.db["mounts"])
    return Result(code=Result.OK)


def unmount(store: Store, txn: lmdb.Transaction, namespace: str, mount: rec.MountRecord) -> None:
    """A KV mount's versions and metadata go with it (they live outside its storage view)."""
    prefix = keys.kv_meta_key(namespace, mount.path, "")
    delete_prefix(txn, store.db["kv_meta"], prefix)
    delete_prefix(txn, store.db["kv_data"], prefix)


HANDLERS = {
    "kv_put": apply_put,
    "kv_set_version_state": apply_set_version_state,
    "kv_write_metadata": apply_write_metadata,
    "kv_delete_metadata": apply_delete_metadata,
    "kv_write_config": apply_write_config,
}
