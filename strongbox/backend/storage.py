"""A mount's own storage under the barrier: the only way a backend keeps records.

`StorageView` is bound to one mount (namespace + mount uuid). Keys are tuples of
string parts (no NUL inside a part); on disk they become
"<namespace>\\0<mount uuid>\\0<part>\\0<part>...". Two kinds of value:

- **sealed** (`get` / `Batch.put`): envelope-encrypted with a fresh DEK and the
  AAD "mount\\0<namespace>\\0<mount uuid>\\0<parts>", so a value copied to another
  key, mount or namespace fails to decrypt. Secrets go here.
- **plain** (`get_plain` / `Batch.put_plain`): records the apply step itself must
  read (a secret id's use count, a lock's expiry). Never secret values.

Writes are batched (`Batch`) and proposed as one `MountWrite` through Raft
(`StorageView.write`), with preconditions; apply refuses a write to a mount that
was removed meanwhile. `MemoryStorage` is the in-memory twin for unit tests of a
backend's logic (same interface, no Raft, no LMDB).
"""

from __future__ import annotations

import builtins
from typing import Protocol

from strongbox.backend.results import Factory, raise_for
from strongbox.barrier import envelope
from strongbox.core import Core, WriteOrigin
from strongbox.errors import BadRequest, InternalError, NotFound
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply_mount import PRECONDITION_GONE

Parts = tuple[str, ...]


def _check(parts: Parts) -> None:
    if not parts or any("\0" in part for part in parts):
        raise InternalError("storage keys are non-empty tuples of parts without NUL")


class Batch:
    """Changes to one mount's storage, applied all or nothing."""

    def __init__(self) -> None:
        self.puts: list[tuple[Parts, bytes, bool]] = []  # (key, value, sealed)
        self.deletes: list[Parts] = []
        self.delete_prefixes: list[Parts] = []
        self.expect_absent: list[Parts] = []
        self.expect_present: list[Parts] = []

    def put(self, value: bytes, *key: str) -> Batch:
        _check(key)
        self.puts.append((key, value, True))
        return self

    def put_plain(self, value: bytes, *key: str) -> Batch:
        _check(key)
        self.puts.append((key, value, False))
        return self

    def delete(self, *key: str) -> Batch:
        _check(key)
        self.deletes.append(key)
        return self


class StorageView(Protocol):
    def get(self, *key: str) -> bytes | None: ...
    def get_plain(self, *key: str) -> bytes | None: ...
    def list(self, *prefix: str, partial: bool = False) -> list[Parts]: ...
    async def write(self, batch: Batch, conflict: str = ...) -> None: ...


class MountStorage:
    """The storage view of one mount, on the replicated store."""

    def __init__(self, core: Core, namespace: str, mount: rec.MountRecord,
                 secrets_engine: bool, origin: WriteOrigin | None = None) -> None:
        self._core, self._store, self._keyring = core, core.store, core.require_keyring
        self.namespace, self.mount = namespace, mount
        self._secrets_engine = secrets_engine
        self._origin = origin

    def key(self, *parts: str) -> bytes:
        return keys.auth_entry_key(self.namespace, self.mount.uuid, *parts)

    def aad(self, raw_key: bytes) -> bytes:
        return b"mount\0" + raw_key

    def seal(self, value: bytes, *key: str) -> bytes:
        raw_key = self.key(*key)
        return envelope.encrypt(self._keyring(), value, self.aad(raw_key)).SerializeToString()

    def get(self, *key: str) -> bytes | None:
        _check(key)
        raw_key = self.key(*key)
        raw = self._store.auth_entry(raw_key)
        if raw is None:
            return None
        return envelope.decrypt(self._keyring(), rec.Envelope.FromString(raw), self.aad(raw_key))

    def get_plain(self, *key: str) -> bytes | None:
        _check(key)
        return self._store.auth_entry(self.key(*key))

    def list(self, *prefix: str, partial: bool = False) -> list[Parts]:
        """Keys below `prefix`, each as its parts after the prefix, in key order. With
        `partial`, the last part of `prefix` is a string prefix of the key's part."""
        start = self.key(*prefix) if partial else self.key(*prefix, "")
        return [tuple(rest.decode().split("\0")) for rest, _ in self._store.auth_entries(start)]

    def keys(self, *prefix: str, limit: int = 0) -> builtins.list[Parts]:
        """Like `list` without reading values, at most `limit` (0: all): cheap enough to
        count records or take the front of a queue on every request."""
        raw = self._store.auth_entry_keys(self.key(*prefix, ""), limit)
        return [tuple(rest.decode().split("\0")) for rest in raw]

    def count(self, *prefix: str) -> int:
        return len(self._store.auth_entry_keys(self.key(*prefix, "")))

    def ref(self) -> cmd_pb.MountRef:
        table_key = keys.mount_key(self.namespace, self.mount.path)
        return cmd_pb.MountRef(key=table_key, uuid=self.mount.uuid,
                               secrets_engine=self._secrets_engine)

    def command(self, batch: Batch) -> cmd_pb.MountWrite:
        op = cmd_pb.MountWrite(mount=self.ref())
        for key, value, sealed in batch.puts:
            op.puts.append(cmd_pb.MountWrite.Put(
                key=self.key(*key), value=self.seal(value, *key) if sealed else value))
        op.deletes.extend(self.key(*key) for key in batch.deletes)
        op.delete_prefixes.extend(self.key(*key, "") for key in batch.delete_prefixes)
        op.expect_absent.extend(self.key(*key) for key in batch.expect_absent)
        op.expect_present.extend(self.key(*key) for key in batch.expect_present)
        return op

    async def write(self, batch: Batch, conflict: str = "it already exists") -> None:
        """Propose `batch`; 404 if the mount went away, 400 `conflict` on a precondition."""
        await self.propose(self.command(batch), conflict)

    async def try_write(self, batch: Batch) -> bool:
        """Propose `batch`; False (nothing written) when a precondition failed because a
        concurrent write won, so the caller reads again and retries. 404 if the mount
        went away."""
        op = self.command(batch)
        result = await self._core.submit(cmd_pb.Command(mount_write=op), origin=self._origin)
        if result.code == result.CONFLICT or (result.code == result.NOT_FOUND
                                              and result.message == PRECONDITION_GONE):
            return False
        raise_for(result)
        return True

    async def propose(self, op: cmd_pb.MountWrite, conflict: str = "it already exists",
                      invalid: Factory | None = None) -> None:
        """Propose a write built with raw keys of this mount (`key()`): the mount reference
        is set here. 404 if the mount went away, 400 `conflict` on a precondition."""
        op.mount.CopyFrom(self.ref())
        result = await self._core.submit(cmd_pb.Command(mount_write=op), origin=self._origin)
        raise_for(result, conflict=lambda message: BadRequest(conflict), invalid=invalid)


class MemoryStorage:
    """In-memory twin of `MountStorage` for unit tests (values kept as given)."""

    def __init__(self) -> None:
        self.data: dict[Parts, bytes] = {}

    def get(self, *key: str) -> bytes | None:
        return self.data.get(key)

    def get_plain(self, *key: str) -> bytes | None:
        return self.data.get(key)

    def list(self, *prefix: str, partial: bool = False) -> list[Parts]:
        if partial:
            head, last = prefix[:-1], prefix[-1]
            n = len(head)
            return sorted((k[n][len(last):], *k[n + 1:]) for k in self.data
                          if k[:n] == head and len(k) > n and k[n].startswith(last))
        n = len(prefix)
        return sorted(k[n:] for k in self.data if k[:n] == prefix and len(k) > n)

    async def write(self, batch: Batch, conflict: str = "it already exists") -> None:
        if any(k in self.data for k in batch.expect_absent):
            raise BadRequest(conflict)
        if any(k not in self.data for k in batch.expect_present):
            raise NotFound("it no longer exists")
        for prefix in batch.delete_prefixes:
            for k in [k for k in self.data if k[:len(prefix)] == prefix]:
                del self.data[k]
        for k in batch.deletes:
            self.data.pop(k, None)
        for k, value, _ in batch.puts:
            self.data[k] = value
