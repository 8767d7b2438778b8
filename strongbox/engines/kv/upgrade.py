"""Upgrade of a KV version 1 mount to version 2 (`sys/mounts/:path/tune` options.version=2).

As in Vault, every existing secret becomes version 1 of a versioned secret, and the
mount answers 503 while the upgrade runs. The proposer (this node):

1. marks the mount `upgrading` (a `MountTune`): KV v1 refuses requests from then on;
2. moves the v1 secrets in batches (`KvUpgrade`): each is decrypted from the v1
   storage view and re-encrypted for its v2 AAD (namespace|mount|path|version), and
   apply writes the v2 version and deletes the v1 record in one transaction;
3. sends a last `KvUpgrade` with `finish`, which apply accepts only when no v1 secret
   is left, and which flips the mount to version 2.

A crash or leader change in between leaves the mount `upgrading` with some secrets
moved and none lost or doubled (a batch is all or nothing); the same tune again
resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass

import lmdb

from strongbox.backend.context import Context
from strongbox.backend.results import raise_for
from strongbox.backend.storage import MountStorage
from strongbox.barrier import envelope
from strongbox.engines.kv.apply import put_version
from strongbox.engines.kv1.backend import SECRET, UPGRADING
from strongbox.errors import ServiceUnavailable
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply_mount import STORAGE_DB, bump_mounts, mount_gone
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult
BATCH_ENTRIES = 256
BATCH_BYTES = 512 * 1024
MAX_ROUNDS = 10_000


def _batch(ctx: Context, view: MountStorage, mount: rec.MountRecord) -> list[
        cmd_pb.KvUpgrade.Entry]:
    keyring, namespace = ctx.core.require_keyring(), ctx.request.namespace
    entries, size = [], 0
    for (path,) in view.list(SECRET)[:BATCH_ENTRIES]:
        plaintext = view.get(SECRET, path)
        if plaintext is None:
            continue
        meta = ctx.core.store.kv_metadata(namespace, mount.path, path)
        version = (meta.current_version if meta else 0) + 1
        aad = envelope.value_aad(namespace, mount.path, path, version)
        entries.append(cmd_pb.KvUpgrade.Entry(
            source_key=view.key(SECRET, path), path=path, version=version,
            record=rec.KvVersionRecord(value=envelope.encrypt(keyring, plaintext, aad))))
        size += len(plaintext)
        if size >= BATCH_BYTES:
            break
    return entries


@dataclass(slots=True)
class _Resumable:
    """The origin of the upgrade's writes: no Idempotency-Key. The upgrade is many
    commands, and one key on all of them made the second answer with the first's
    cached result (the upgrade stalled half way); running the same tune again resumes
    or does nothing, which is all a retry needs."""

    idempotency: tuple[str, bytes] | None = None
    write_index: int = 0
    writes: int = 0


async def upgrade(ctx: Context, mount: rec.MountRecord, options: dict[str, str]) -> None:
    origin = _Resumable()
    try:
        await _upgrade(ctx, mount, options, origin)
    finally:
        ctx.request.write_index = max(ctx.request.write_index, origin.write_index)


async def _upgrade(ctx: Context, mount: rec.MountRecord, options: dict[str, str],
                   origin: _Resumable) -> None:
    namespace = ctx.request.namespace
    if not mount.options.get(UPGRADING):
        raise_for(await ctx.core.submit(cmd_pb.Command(mount_tune=cmd_pb.MountTune(
            namespace=namespace, path=mount.path, description=mount.description,
            set_options=True, options={**mount.options, UPGRADING: options["version"]})),
            origin=origin))
    view = MountStorage(ctx.core, namespace, mount, secrets_engine=True, origin=origin)
    for _ in range(MAX_ROUNDS):
        entries = _batch(ctx, view, mount)
        result = await ctx.core.submit(cmd_pb.Command(kv_upgrade=cmd_pb.KvUpgrade(
            namespace=namespace, mount=mount.path, ref=view.ref(), entries=entries,
            finish=not entries)), origin=origin)
        if result.code == Result.CONFLICT:
            continue  # a secret changed in between: read it again
        raise_for(result)
        if not entries:
            return
    raise ServiceUnavailable("the KV upgrade did not finish; run the same tune again to resume")


def apply_kv_upgrade(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.kv_upgrade
    if mount_gone(store, txn, op.ref):
        return Result(code=Result.NOT_FOUND, message="the mount was disabled meanwhile")
    db = store.db[STORAGE_DB]
    if op.finish:
        prefix = keys.auth_entry_key(op.namespace, op.ref.uuid, SECRET, "")
        cursor = txn.cursor(db=db)
        if cursor.set_range(prefix) and bytes(cursor.key()).startswith(prefix):
            return Result(code=Result.CONFLICT, message="KV v1 secrets are left to move")
        mount = rec.MountRecord.FromString(txn_get(txn, op.ref.key, store.db["mounts"]) or b"")
        del mount.options[UPGRADING]
        mount.options["version"] = "2"
        txn.put(op.ref.key, mount.SerializeToString(), db=store.db["mounts"])
        bump_mounts(store, txn)
        return Result(code=Result.OK)
    moving = [entry for entry in op.entries if txn_get(txn, entry.source_key, db) is not None]
    for entry in moving:  # check everything before writing anything: all or nothing
        raw = txn_get(txn, keys.kv_meta_key(op.namespace, op.mount, entry.path),
                      store.db["kv_meta"])
        current = rec.KvMetadataRecord.FromString(raw).current_version if raw else 0
        if entry.version != current + 1 or sum(e.path == entry.path for e in moving) > 1:
            return Result(code=Result.CONFLICT, message="a secret changed during the upgrade")
    for entry in moving:
        put = cmd_pb.KvPut(namespace=op.namespace, mount=op.mount, path=entry.path,
                           version=entry.version, record=entry.record)
        result = put_version(store, txn, put, command.time_ns)
        if result.code != Result.OK:
            raise RuntimeError(f"checked KV upgrade entry failed: {result.message}")
        txn.delete(entry.source_key, db=db)
    return Result(code=Result.OK, version=len(moving))
