"""The LMDB environment and every read of applied state.

One environment per node with named databases (DESIGN.md §6). The apply thread
is the only writer (`Store.write()`); every other thread reads through the
methods here, each in its own short read transaction, so readers never block
apply and always see a committed state. Values are protobuf records from
`strongbox.pb.records_pb2`; none holds plaintext secret material.

Writes are synced on commit (LMDB default `sync=True`), so an applied index
that was reported to a client survives a crash. A full map raises
`errors.StoreFull` and leaves the previous state intact.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import lmdb
from google.protobuf.message import Message

from strongbox.errors import StoreFull
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys

DATABASES = ("meta", "keyring", "mounts", "kv_meta", "kv_data", "tokens", "idempotency")
M = TypeVar("M", bound=Message)


def txn_get(txn: lmdb.Transaction, key: bytes, db: Any) -> bytes | None:
    """`txn.get` as bytes (lmdb may hand back a buffer)."""
    value = txn.get(key, db=db)
    return None if value is None else bytes(value)


class Store:
    """Owns the LMDB environment at `<data_dir>/store`."""

    def __init__(self, data_dir: str | os.PathLike[str], map_size_mb: int = 1024) -> None:
        path = Path(data_dir) / "store"
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=map_size_mb * 1024 * 1024,
                             max_dbs=len(DATABASES), subdir=True, sync=True,
                             metasync=False, lock=True, max_readers=512)
        self.db: dict[str, Any] = {name: self.env.open_db(name.encode()) for name in DATABASES}

    def close(self) -> None:
        self.env.close()

    @contextmanager
    def write(self) -> Iterator[lmdb.Transaction]:
        """The apply thread's write transaction; commits on exit, aborts on error."""
        try:
            with self.env.begin(write=True) as txn:
                yield txn
        except lmdb.MapFullError:
            raise StoreFull(
                "the store is full: the write was not applied; raise storage.map_size_mb"
            ) from None

    def _get(self, db: str, key: bytes) -> bytes | None:
        with self.env.begin(db=self.db[db]) as txn:
            value: bytes | None = txn.get(key)
            return value

    def _get_record(self, db: str, key: bytes, cls: type[M]) -> M | None:
        raw = self._get(db, key)
        if raw is None:
            return None
        record = cls()
        record.ParseFromString(raw)
        return record

    # --- meta -------------------------------------------------------------

    def applied_index(self) -> int:
        raw = self._get("meta", keys.APPLIED_INDEX)
        return keys.from_u64(raw) if raw else 0

    def cluster(self) -> rec.ClusterRecord | None:
        return self._get_record("meta", keys.CLUSTER, rec.ClusterRecord)

    # --- keyring ----------------------------------------------------------

    def key_record(self, name: str) -> rec.KeyRecord | None:
        return self._get_record("keyring", name.encode(), rec.KeyRecord)

    def latest_kek_term(self) -> int:
        raw = self._get("meta", keys.KEK_TERM)
        return keys.from_u64(raw) if raw else 0

    # --- mounts, tokens, kv -------------------------------------------------

    def mount(self, namespace: str, mount: str) -> rec.MountRecord | None:
        return self._get_record("mounts", keys.mount_key(namespace, mount), rec.MountRecord)

    def mounts(self, namespace: str) -> list[rec.MountRecord]:
        prefix = keys.mount_key(namespace, "")
        out = []
        with self.env.begin(db=self.db["mounts"]) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key, raw in cursor:
                    if not key.startswith(prefix):
                        break
                    record = rec.MountRecord()
                    record.ParseFromString(raw)
                    out.append(record)
        return out

    def token(self, token_hash: bytes) -> rec.TokenRecord | None:
        return self._get_record("tokens", token_hash, rec.TokenRecord)

    def kv_metadata(self, namespace: str, mount: str, path: str) -> rec.KvMetadataRecord | None:
        return self._get_record("kv_meta", keys.kv_meta_key(namespace, mount, path),
                                rec.KvMetadataRecord)

    def kv_version(self, namespace: str, mount: str, path: str,
                   version: int) -> rec.KvVersionRecord | None:
        return self._get_record("kv_data", keys.kv_data_key(namespace, mount, path, version),
                                rec.KvVersionRecord)

    def kv_list(self, namespace: str, mount: str, prefix: str) -> list[str]:
        """Immediate children of `prefix` (which is "" or ends in "/"); folders end in "/"."""
        start = keys.kv_meta_key(namespace, mount, prefix)
        children: list[str] = []
        with self.env.begin(db=self.db["kv_meta"]) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start):
                return children
            for key in cursor.iternext(keys=True, values=False):
                if not key.startswith(start):
                    break
                rest = key[len(start):].decode()
                slash = rest.find("/")
                child = rest if slash < 0 else rest[: slash + 1]
                if not children or children[-1] != child:
                    children.append(child)
        return children

    def idempotent_result(self, request_id: str) -> rec.ApplyResult | None:
        return self._get_record("idempotency", request_id.encode(), rec.ApplyResult)

    def digest(self) -> str:
        """SHA-256 over every key and value of every database (replica comparison)."""
        h = hashlib.sha256()
        with self.env.begin() as txn:
            for name in DATABASES:
                h.update(name.encode() + b"\0")
                for key, value in txn.cursor(db=self.db[name]):
                    h.update(len(key).to_bytes(4, "big") + key)
                    h.update(len(value).to_bytes(4, "big") + value)
        return h.hexdigest()
