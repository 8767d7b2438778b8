"""KV v2 operations: reads decrypt locally, writes become Raft commands.

Every write is built on this node (encrypted with a fresh DEK, AAD bound to
namespace|mount|path|version) and applied by `engines.kv.apply`, which re-checks
every precondition. A write that raced another one to the same path comes
back CONFLICT and is rebuilt from fresh state, a bounded number of times.
Errors are `strongbox.errors` classes; no message carries secret data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from strongbox.backend.results import raise_for
from strongbox.barrier import envelope
from strongbox.core import Core, WriteOrigin
from strongbox.errors import (
    CasMismatch,
    InternalError,
    NotFound,
    ServiceUnavailable,
)
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec

from . import views

WRITE_ATTEMPTS = 8
Result = rec.ApplyResult
Action = cmd_pb.KvSetVersionState


class _Changed(Exception):
    """The secret changed between a patch's read and its write (not a client error)."""


class DeletedVersion(NotFound):
    """Vault answers a deleted or destroyed version with 404 and its metadata."""

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__("")
        self.data = data


@dataclass(frozen=True, slots=True)
class KvPath:
    namespace: str
    mount: str
    path: str


class KvEngine:
    """KV v2 on one node, for one request (`origin`: its Idempotency-Key, X-Vault-Index)."""

    def __init__(self, core: Core, origin: WriteOrigin | None = None) -> None:
        self.core = core
        self.origin = origin

    # --- reads --------------------------------------------------------------

    def _metadata(self, at: KvPath) -> rec.KvMetadataRecord | None:
        return self.core.store.kv_metadata(at.namespace, at.mount, at.path)

    def _custom(self, at: KvPath, meta: rec.KvMetadataRecord) -> dict[str, str] | None:
        return views.custom_metadata(self.core.require_keyring(), at.namespace, at.mount,
                                     at.path, meta)

    def read(self, at: KvPath, version: int = 0) -> dict[str, Any]:
        """{"data": ..., "metadata": ...}; DeletedVersion / NotFound otherwise."""
        keyring = self.core.require_keyring()
        meta = self._metadata(at)
        if meta is None or meta.current_version == 0:
            raise NotFound("")
        version = version or meta.current_version
        if version not in meta.versions:
            raise NotFound("")
        state = meta.versions[version]
        version_meta = views.version_metadata(state, version, self._custom(at, meta))
        deleted = 0 < state.deletion_time_ns <= self.core.clock.now_ns()
        record = self.core.store.kv_version(at.namespace, at.mount, at.path, version)
        if deleted or state.destroyed or record is None:
            raise DeletedVersion({"data": None, "metadata": version_meta})
        aad = envelope.value_aad(at.namespace, at.mount, at.path, version)
        plaintext = envelope.decrypt(keyring, record.value, aad)
        return {"data": json.loads(plaintext), "metadata": version_meta}

    def read_metadata(self, at: KvPath) -> dict[str, Any]:
        meta = self._metadata(at)
        if meta is None:
            raise NotFound("")
        return views.metadata(meta, self._custom(at, meta))

    def list_keys(self, at: KvPath) -> list[str]:
        prefix = at.path if not at.path or at.path.endswith("/") else at.path + "/"
        keys = self.core.store.kv_list(at.namespace, at.mount, prefix)
        if not keys:
            raise NotFound("")
        return keys

    def subkeys(self, at: KvPath, version: int, depth: int) -> dict[str, Any]:
        secret = self.read(at, version)
        return {"subkeys": views.subkeys(secret["data"], depth), "metadata": secret["metadata"]}

    def read_config(self, namespace: str, mount: str) -> dict[str, Any]:
        record = self.core.store.mount(namespace, mount)
        if record is None:
            raise NotFound(f"no mount at {mount!r}")
        return views.config(record.kv_config)

    # --- writes -------------------------------------------------------------

    async def _submit(self, command: cmd_pb.Command) -> Result:
        return raise_for(await self.core.submit(command, origin=self.origin))

    async def put(self, at: KvPath, data: dict[str, Any], cas: int | None,
                  request_id: str = "", expect_current: int | None = None) -> dict[str, Any]:
        """Write a new version. With `expect_current` (patch), one attempt on top of that
        version; a concurrent write raises `_Changed` (apply records nothing for it)."""
        keyring = self.core.require_keyring()
        plaintext = json.dumps(data, separators=(",", ":")).encode()
        for _ in range(WRITE_ATTEMPTS):
            meta = self._metadata(at)
            current = meta.current_version if meta else 0
            version = (current if expect_current is None else expect_current) + 1
            aad = envelope.value_aad(at.namespace, at.mount, at.path, version)
            op = cmd_pb.KvPut(namespace=at.namespace, mount=at.mount, path=at.path,
                              version=version, has_cas=cas is not None, cas=cas or 0,
                              record=rec.KvVersionRecord(
                                  value=envelope.encrypt(keyring, plaintext, aad)))
            result = await self.core.submit(cmd_pb.Command(kv_put=op), request_id,
                                            origin=self.origin)
            if result.code == Result.CONFLICT:
                if expect_current is not None:
                    raise _Changed()
                continue  # apply did not record it: the same request id is free to retry
            raise_for(result)
            meta = self._metadata(at)
            if meta is None or result.version not in meta.versions:
                raise InternalError("written version vanished")  # trimmed concurrently
            return views.version_metadata(meta.versions[result.version], result.version,
                                          self._custom(at, meta))
        raise ServiceUnavailable("the secret kept changing during the write; retry")

    async def patch(self, at: KvPath, patch: dict[str, Any], cas: int | None) -> dict[str, Any]:
        for _ in range(WRITE_ATTEMPTS):
            current = self.read(at)  # 404 if missing, deleted or destroyed, as Vault
            version = current["metadata"]["version"]
            if cas is not None and cas != version:
                raise CasMismatch("check-and-set parameter did not match the current "
                                  "version")  # Vault's exact text
            try:
                return await self.put(at, merge_patch(current["data"], patch), cas,
                                      expect_current=version)
            except _Changed:
                continue  # someone wrote in between: merge onto the new version
        raise ServiceUnavailable("the secret kept changing during the patch; retry")

    async def set_version_state(self, at: KvPath, action: cmd_pb.KvSetVersionState.Action,
                                versions: list[int],
                                latest: bool = False) -> None:
        await self._submit(cmd_pb.Command(kv_set_version_state=Action(
            namespace=at.namespace, mount=at.mount, path=at.path, action=action,
            versions=versions, latest=latest)))

    async def write_metadata(self, at: KvPath, fields: dict[str, Any]) -> None:
        op = cmd_pb.KvWriteMetadata(namespace=at.namespace, mount=at.mount, path=at.path)
        for name in ("max_versions", "cas_required", "delete_version_after_ns",
                     "destroy_protection"):
            if name in fields:
                setattr(op, name, fields[name])
        if "custom_metadata" in fields:
            op.set_custom_metadata = True
            op.custom_metadata.CopyFrom(envelope.encrypt(
                self.core.require_keyring(), json.dumps(fields["custom_metadata"]).encode(),
                views.custom_metadata_aad(at.namespace, at.mount, at.path)))
        await self._submit(cmd_pb.Command(kv_write_metadata=op))

    async def delete_metadata(self, at: KvPath) -> None:
        await self._submit(cmd_pb.Command(kv_delete_metadata=cmd_pb.KvDeleteMetadata(
            namespace=at.namespace, mount=at.mount, path=at.path)))

    async def write_config(self, namespace: str, mount: str, cfg: rec.KvConfig) -> None:
        await self._submit(cmd_pb.Command(kv_write_config=cmd_pb.KvWriteConfig(
            namespace=namespace, mount=mount, config=cfg)))


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
