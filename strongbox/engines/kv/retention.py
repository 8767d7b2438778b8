"""KV v2 retention: versions past `delete_version_after` are destroyed by the leader.

`delete_version_after` (per secret, else the mount's `config`) soft-deletes a version
when it is written (its `deletion_time` is set that far ahead, as Vault does); the
sweeper (`strongbox/sweeper.py`) then destroys versions that are past it, through Raft,
one `KvSetVersionState(DESTROY, retention=True)` per secret. Apply re-checks the rule
(`lapsed_versions`) at the command's time, so an undelete or a metadata change that
raced the sweep wins, and it leaves secrets with `destroy_protection` alone.

Pure functions; `collect` and `retire` (the backend's `retire` hook, with the audit
entry of each destroy) read the store (a worker thread calls them).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from strongbox.backend.contract import Retirement
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state.store import Store


def retention_ns(meta: rec.KvMetadataRecord, config: rec.KvConfig) -> int:
    """The effective delete_version_after: the secret's, else the mount's (0 = never)."""
    return meta.delete_version_after_ns or config.delete_version_after_ns


def lapsed_versions(meta: rec.KvMetadataRecord, config: rec.KvConfig, now_ns: int) -> list[int]:
    """Versions to destroy at `now_ns`: not destroyed, created at least
    delete_version_after ago, and soft-deleted by then. None under destroy protection."""
    after = retention_ns(meta, config)
    if not after or meta.destroy_protection:
        return []
    return sorted(version for version, state in meta.versions.items()
                  if not state.destroyed and state.created_time_ns + after <= now_ns
                  and 0 < state.deletion_time_ns <= now_ns)


def collect(store: Store, namespace: str, mount: rec.MountRecord, now_ns: int,
            limit: int) -> list[cmd_pb.KvSetVersionState]:
    """Up to `limit` secrets of a KV v2 mount with versions to destroy, as commands."""
    out: list[cmd_pb.KvSetVersionState] = []
    for path, meta in store.kv_metadata_scan(namespace, mount.path):
        versions = lapsed_versions(meta, mount.kv_config, now_ns)
        if versions:
            out.append(cmd_pb.KvSetVersionState(
                namespace=namespace, mount=mount.path, path=path,
                action=cmd_pb.KvSetVersionState.DESTROY, versions=versions, retention=True))
            if len(out) >= limit:
                break
    return out


def audit_entry(op: cmd_pb.KvSetVersionState, count: int) -> dict[str, Any]:
    """The audit line of a destroy nobody asked for: who (the sweeper), what (path and
    version numbers: not secret), never a value."""
    namespace = {"id": op.namespace or "root", "path": op.namespace + "/" if op.namespace
                 else ""}
    request = {"id": "kv-retention", "operation": "delete", "mount_type": "kv",
               "path": f"{op.mount}destroy/{op.path}", "namespace": namespace,
               "data": None, "remote_address": ""}
    return {"type": "response", "auth": {"display_name": "kv-retention"}, "request": request,
            "response": {"mount_type": "kv", "status": 204, "data": None,
                         "destroyed_versions": list(op.versions)[:count] if count else []},
            "error": ""}


def retire(store: Store, namespace: str, mount: rec.MountRecord, now_ns: int,
           limit: int) -> list[Retirement]:
    """The KV v2 backend's `retire` hook: `collect`'s destroys with their audit entries."""
    return [Retirement(cmd_pb.Command(kv_set_version_state=op), partial(audit_entry, op))
            for op in collect(store, namespace, mount, now_ns, limit)]
