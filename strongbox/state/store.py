"""The LMDB environment and every read of applied state.

One environment per node with named databases (docs/design.md §6). The apply thread
is the only writer (`Store.write()`); every other thread reads through the
methods here, each in its own short read transaction, so readers never block
apply and always see a committed state. Values are protobuf records from
`strongbox.pb.records_pb2`; none holds plaintext secret material.

Writes are synced on commit (LMDB default `sync=True`), so an applied index
that was reported to a client survives a crash. The apply thread groups the
entries it applies at once into one `batch()` (group commit: each entry is a
child transaction of one synced commit) and answers their clients only after
that commit. A full map raises `errors.StoreFull` and leaves the previous
state intact.

Replacing the whole state (installing a snapshot, `state/snapshot.py`) happens
while readers run. The environment lives in `<data_dir>/<name>` where `name`
is `store` (the default) or `store-<n>`, and `<data_dir>/store.current` names
the active one (no file: `store`). A replacement is built in a fresh
`store-<n>` directory (`new_env_dir()`), then `install()` opens it, records
its name in `store.current` (tmp + fsync + rename + directory fsync: a crash
leaves either the old or the new environment active, never a mix) and
switches with one attribute assignment of an immutable holder (`_Active`:
environment + database handles + directory). Every read method takes that
holder once, so a read that began on the old environment finishes on it;
the next read sees the new one. The old environment is closed and deleted
only after `RETIRE_GRACE_S` (checked at the next install) or at `close()`.
Opening the data dir removes environments left over from an interrupted
install or a previous run.

Threading: `write()`, `read_view()` used for snapshots, `new_env_dir()`,
`install()`, `discard()` and `close()` belong to the one writer thread
(pysyncobj's tick thread); the read methods are safe from any thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

import lmdb
from google.protobuf.message import Message

from strongbox.errors import StoreFull
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.lifetimes import lapsed

DATABASES = ("meta", "keyring", "mounts", "kv_meta", "kv_data", "tokens", "idempotency",
             "audit", "policies", "token_accessors", "token_children",
             "wrapped", "namespaces", "auth_mounts", "auth_entries")
M = TypeVar("M", bound=Message)

QUOTA_PREFIX = b"quota\0"  # meta: lease-count quotas (state/apply_quota.py)
DEFAULT_ENV_NAME = "store"
POINTER_NAME = "store.current"
DATA_FILE = "data.mdb"
RETIRE_GRACE_S = 60.0
_ENV_NAME = re.compile(r"store(?:-([1-9][0-9]{0,17}))?")

log = logging.getLogger(__name__)


class Expired(NamedTuple):
    tokens: list[str]
    wrapped: list[bytes]


def txn_get(txn: lmdb.Transaction, key: bytes, db: Any) -> bytes | None:
    """`txn.get` as bytes (lmdb may hand back a buffer); an empty key finds nothing."""
    if not key:
        return None
    value = txn.get(key, db=db)
    return None if value is None else bytes(value)


def _env_number(name: str) -> int | None:
    """0 for `store`, n for `store-<n>`, None for anything else."""
    match = _ENV_NAME.fullmatch(name)
    if match is None:
        return None
    return int(match.group(1)) if match.group(1) else 0


def _fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _Active:
    """One open environment with its database handles; replaced whole, never mutated."""

    env: Any  # lmdb.Environment
    db: Mapping[str, Any]
    path: Path


@dataclass(frozen=True, slots=True)
class StoreView:
    """A read transaction on one environment: the applied index and a copy of one state."""

    env: Any  # lmdb.Environment
    txn: Any  # lmdb.Transaction
    db: Mapping[str, Any]

    def applied_index(self) -> int:
        raw = txn_get(self.txn, keys.APPLIED_INDEX, self.db["meta"])
        return keys.from_u64(raw) if raw else 0

    def copy_to_fd(self, fd: int) -> None:
        """Write a compacted `data.mdb` image of exactly this transaction's state at fd's offset."""
        self.env.copyfd(fd, compact=True, txn=self.txn)


class Store:
    """Owns the active LMDB environment under `data_dir` (`store`, or as `store.current` says)."""

    def __init__(self, data_dir: str | os.PathLike[str], map_size_mb: int = 1024, *,
                 reader: bool = False) -> None:
        """`reader`: another process (a read worker, strongbox/workers/) owns the store
        and writes it; this one only reads, follows `follow()`, and never cleans up."""
        self.data_dir = Path(data_dir)
        self.reader = reader
        self._map_size = map_size_mb * 1024 * 1024
        self._retired: list[tuple[float, _Active]] = []
        self._batch: lmdb.Transaction | None = None  # the open group commit (batch())
        if reader:
            self._active = self._open(self.data_dir / self._read_pointer())
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        name = self._read_pointer()
        path = self.data_dir / name
        if name == DEFAULT_ENV_NAME:
            if not (path / DATA_FILE).exists() and self._env_dirs(exclude=name):
                raise FileNotFoundError(
                    f"{self.data_dir}: holds replaced stores ({', '.join(self._env_dirs(name))}) "
                    f"but no {POINTER_NAME} naming the active one; restore it "
                    f"(its content is the directory name) instead of starting empty")
            path.mkdir(exist_ok=True)
        elif not (path / DATA_FILE).is_file():
            raise FileNotFoundError(
                f"{self.data_dir / POINTER_NAME} names {name!r}, which has no {DATA_FILE}")
        self._active = self._open(path)
        for stale in self._env_dirs(exclude=name):
            log.info("removing stale store environment %s", self.data_dir / stale)
            shutil.rmtree(self.data_dir / stale, ignore_errors=True)

    # --- environments -------------------------------------------------------

    def _read_pointer(self) -> str:
        try:
            name = (self.data_dir / POINTER_NAME).read_text().strip()
        except FileNotFoundError:
            return DEFAULT_ENV_NAME
        if _env_number(name) is None:
            raise ValueError(f"{self.data_dir / POINTER_NAME}: not a store name: {name!r}")
        return name

    def _write_pointer(self, name: str) -> None:
        tmp = self.data_dir / (POINTER_NAME + ".tmp")
        with open(tmp, "wb") as f:
            f.write(name.encode() + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.data_dir / POINTER_NAME)
        _fsync_path(self.data_dir, directory=True)

    def _env_dirs(self, exclude: str) -> list[str]:
        return sorted(entry.name for entry in os.scandir(self.data_dir)
                      if entry.is_dir(follow_symlinks=False) and entry.name != exclude
                      and _env_number(entry.name) is not None)

    def _open(self, path: Path) -> _Active:
        env = lmdb.open(str(path), map_size=self._map_size, max_dbs=len(DATABASES),
                        subdir=True, sync=True, metasync=False, lock=True, max_readers=512)
        try:
            # a reader must not take the write lock: the databases exist, open them read-only
            db = {name: env.open_db(name.encode(), create=not self.reader)
                  for name in DATABASES}
        except BaseException:
            env.close()
            raise
        return _Active(env, MappingProxyType(db), path)

    @property
    def env(self) -> Any:
        """The active environment (take `read_view()` to pair it with its handles)."""
        return self._active.env

    @property
    def db(self) -> Mapping[str, Any]:
        """Database handles of the active environment (for the writer thread's transactions)."""
        return self._active.db

    @property
    def path(self) -> Path:
        """Directory of the active environment."""
        return self._active.path

    def new_env_dir(self) -> Path:
        """A fresh, empty `store-<n>` directory for `install()` (writer thread)."""
        numbers = [_env_number(name) or 0 for name in self._env_dirs(exclude="")]
        n = max([*numbers, _env_number(self.path.name) or 0]) + 1
        while True:
            path = self.data_dir / f"store-{n}"
            try:
                path.mkdir()
            except FileExistsError:
                n += 1
                continue
            return path

    def install(self, directory: Path, expect_applied_index: int | None = None) -> None:
        """Make the environment in `directory` (from `new_env_dir()`, `data.mdb` written) active.

        Syncs it, opens it, checks its applied index if asked, records it in the pointer
        file and switches readers to it. On any error the current environment stays active
        and `directory` is removed.
        """
        if directory.parent != self.data_dir or _env_number(directory.name) in (None, 0):
            raise ValueError(f"{directory} is not a directory from new_env_dir()")
        if self._batch is not None:
            raise RuntimeError("Store.install() inside an open batch()")
        try:
            _fsync_path(directory / DATA_FILE)
            _fsync_path(directory, directory=True)
            _fsync_path(self.data_dir, directory=True)
            new = self._open(directory)
        except BaseException:
            self.discard(directory)
            raise
        try:
            if expect_applied_index is not None:
                with new.env.begin() as txn:
                    found = StoreView(new.env, txn, new.db).applied_index()
                if found != expect_applied_index:
                    raise ValueError(f"{directory / DATA_FILE}: applied index {found}, "
                                     f"expected {expect_applied_index}")
            self._write_pointer(directory.name)
        except BaseException:
            new.env.close()
            self.discard(directory)
            raise
        old, self._active = self._active, new  # the switch: one assignment
        now = time.monotonic()
        self._retired.append((now, old))
        self._reap(older_than=now - RETIRE_GRACE_S)

    def discard(self, directory: Path) -> None:
        """Remove a `new_env_dir()` directory that will not be installed."""
        if directory != self.path and directory.parent == self.data_dir and \
                _env_number(directory.name) not in (None, 0):
            shutil.rmtree(directory, ignore_errors=True)

    def _reap(self, older_than: float) -> None:
        keep = []
        for retired_at, old in self._retired:
            if retired_at > older_than:
                keep.append((retired_at, old))
                continue
            old.env.close()
            if not self.reader:  # the writer removes what it replaced
                shutil.rmtree(old.path, ignore_errors=True)
        self._retired = keep

    def close(self) -> None:
        self._reap(older_than=float("inf"))
        self._active.env.close()

    def follow(self, env_name: str) -> bool:
        """Reader: switch to environment `env_name` when the writer installed it (a
        restored snapshot); True if it switched. The old one closes after the grace."""
        if env_name == self._active.path.name or _env_number(env_name) is None:
            return False
        new = self._open(self.data_dir / env_name)
        old, self._active = self._active, new
        now = time.monotonic()
        self._retired.append((now, old))
        self._reap(older_than=now - RETIRE_GRACE_S)
        return True

    @contextmanager
    def write(self) -> Iterator[lmdb.Transaction]:
        """The apply thread's write transaction; commits on exit, aborts on error.

        Inside `batch()` it is a child of the batch's transaction: its changes
        become part of the batch on exit (or are dropped alone on error), and
        are durable when the batch commits.
        """
        if self.reader:
            raise RuntimeError("a reader Store never writes (the node's main process does)")
        batch = self._batch
        try:
            if batch is None:
                with self._active.env.begin(write=True) as txn:
                    yield txn
            else:
                with self._active.env.begin(write=True, parent=batch) as txn:
                    yield txn
        except lmdb.MapFullError:
            raise StoreFull(
                "the store is full: the write was not applied; raise storage.map_size_mb"
            ) from None

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: every `write()` inside is one child of a single transaction,
        committed (and synced) once on exit. Readers see the whole batch at once,
        after the commit; on an error nothing of the batch is kept. Apply thread only.
        """
        if self._batch is not None:
            raise RuntimeError("Store.batch() does not nest")
        try:
            with self._active.env.begin(write=True) as txn:
                self._batch = txn
                try:
                    yield
                finally:
                    self._batch = None
        except lmdb.MapFullError:
            raise StoreFull(
                "the store is full: the write was not applied; raise storage.map_size_mb"
            ) from None

    def map_usage(self) -> float:
        """The used fraction of the LMDB map (0..1): pages in use over `map_size_mb`."""
        env = self._active.env
        info = env.info()
        return float((info["last_pgno"] + 1) * env.stat()["psize"] / info["map_size"])

    @contextmanager
    def read_view(self) -> Iterator[StoreView]:
        """One read transaction on the active environment (snapshots: index + copy agree)."""
        active = self._active
        with active.env.begin() as txn:
            yield StoreView(active.env, txn, active.db)

    def _get(self, db: str, key: bytes) -> bytes | None:
        active = self._active
        with active.env.begin(db=active.db[db]) as txn:
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

    def count(self, db: str) -> int:
        """Number of records in database `db` (O(1): LMDB keeps the count)."""
        active = self._active
        with active.env.begin() as txn:
            entries: int = txn.stat(active.db[db])["entries"]
            return entries

    def audit_generation(self) -> int:
        raw = self._get("meta", keys.AUDIT_GENERATION)
        return keys.from_u64(raw) if raw else 0

    def audit_devices(self) -> list[rec.AuditDeviceRecord]:
        out = []
        active = self._active
        with active.env.begin(db=active.db["audit"]) as txn:
            for _, raw in txn.cursor():
                out.append(rec.AuditDeviceRecord.FromString(bytes(raw)))
        return out

    def restore_in_progress(self) -> bool:
        return self._get("meta", keys.RESTORE) is not None

    def cluster_raw(self) -> bytes | None:
        return self._get("meta", keys.CLUSTER)

    def cluster(self) -> rec.ClusterRecord | None:
        return self._get_record("meta", keys.CLUSTER, rec.ClusterRecord)

    def generate_root_attempt(self) -> rec.GenerateRootAttempt | None:
        """The break-glass root generation in progress (sys/generate-root), if any."""
        return self._get_record("meta", keys.GENERATE_ROOT, rec.GenerateRootAttempt)

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
        return [rec.MountRecord.FromString(raw)
                for _, raw in self._scan("mounts", keys.mount_key(namespace, ""))]

    def _scan(self, db: str, prefix: bytes) -> list[tuple[bytes, bytes]]:
        """(key without the prefix, value) of every record whose key starts with prefix."""
        out = []
        active = self._active
        with active.env.begin(db=active.db[db]) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key, raw in cursor:
                    if not key.startswith(prefix):
                        break
                    out.append((bytes(key[len(prefix):]), bytes(raw)))
        return out

    def every_namespace(self, parent: str = "") -> list[str]:
        """`parent` and every namespace below it, parents first."""
        out = [parent]
        for child in self.namespaces(parent):
            out += self.every_namespace(child.path)
        return out

    def every_mount(self, parent: str = "") -> list[tuple[str, rec.MountRecord, bool]]:
        """(namespace, mount, is a secrets engine) of every mount of `parent` and below."""
        found: list[tuple[str, rec.MountRecord, bool]] = []
        for namespace in self.every_namespace(parent):
            found += [(namespace, m, True) for m in self.mounts(namespace)]
            found += [(namespace, m, False) for m in self.auth_mounts(namespace)]
        return found

    def lease_quotas(self) -> list[rec.LeaseQuota]:
        return [rec.LeaseQuota.FromString(raw) for _, raw in self._scan("meta", QUOTA_PREFIX)]

    def policy(self, namespace: str, name: str) -> rec.PolicyRecord | None:
        return self._get_record("policies", keys.policy_key(namespace, name), rec.PolicyRecord)

    def policy_names(self, namespace: str) -> list[str]:
        return [key.decode() for key, _ in self._scan("policies", keys.ns_prefix(namespace))]

    def namespace(self, path: str) -> rec.NamespaceRecord | None:
        return self._get_record("namespaces", path.encode(), rec.NamespaceRecord)

    def namespaces(self, parent: str) -> list[rec.NamespaceRecord]:
        """Direct children of namespace `parent` ("" = root)."""
        prefix = f"{parent}/".encode() if parent else b""
        return [rec.NamespaceRecord.FromString(raw) for key, raw in
                self._scan("namespaces", prefix) if b"/" not in key]

    def auth_mount(self, namespace: str, path: str) -> rec.MountRecord | None:
        return self._get_record("auth_mounts", keys.mount_key(namespace, path), rec.MountRecord)

    def auth_mounts(self, namespace: str) -> list[rec.MountRecord]:
        return [rec.MountRecord.FromString(raw)
                for _, raw in self._scan("auth_mounts", keys.mount_key(namespace, ""))]

    def expired(self, now_ns: int, limit: int) -> Expired:
        """Up to `limit` each of: accessors of expired tokens and hashes of expired
        wrapped responses (for the leader's sweeper; backends' records are found
        through their expiry hooks, `state.apply_sweep`)."""
        tokens: list[str] = []
        wrapped: list[bytes] = []
        active = self._active
        with active.env.begin() as txn:
            for _, raw in txn.cursor(db=active.db["tokens"]):
                token = rec.TokenRecord.FromString(bytes(raw))
                if lapsed(token, now_ns):
                    tokens.append(token.accessor)
                    if len(tokens) >= limit:
                        break
            for key, raw in txn.cursor(db=active.db["wrapped"]):
                record = rec.WrappedRecord.FromString(bytes(raw))
                if lapsed(record, now_ns):
                    wrapped.append(bytes(key))
                    if len(wrapped) >= limit:
                        break
        return Expired(tokens, wrapped)

    def auth_entry(self, key: bytes) -> bytes | None:
        return self._get("auth_entries", key)

    def auth_entries(self, prefix: bytes) -> list[tuple[bytes, bytes]]:
        return self._scan("auth_entries", prefix)

    def auth_entry_keys(self, prefix: bytes, limit: int = 0) -> list[bytes]:
        """Keys (without the prefix) below `prefix`, in order, values not read; at most
        `limit` when it is set. For counting and for queues scanned from the front."""
        out: list[bytes] = []
        active = self._active
        with active.env.begin(db=active.db["auth_entries"]) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(prefix) or (limit and len(out) >= limit):
                        break
                    out.append(bytes(key[len(prefix):]))
        return out

    def mount_generation(self) -> tuple[Path, int]:
        """Changes whenever any mount table changes (and with every installed snapshot)."""
        active = self._active
        with active.env.begin(db=active.db["meta"]) as txn:
            raw = txn_get(txn, keys.MOUNT_GENERATION, active.db["meta"])
        return active.path, keys.from_u64(raw) if raw else 0

    def policy_generation(self) -> int:
        raw = self._get("meta", keys.POLICY_GENERATION)
        return keys.from_u64(raw) if raw else 0

    def token_accessors(self, namespace: str) -> list[str]:
        """Accessors of the tokens of `namespace` and the namespaces below it."""
        out = []
        active = self._active
        with active.env.begin() as txn:
            for _, raw in txn.cursor(db=active.db["tokens"]):
                token = rec.TokenRecord.FromString(bytes(raw))
                if keys.namespace_within(token.namespace, namespace):
                    out.append(token.accessor)
        return sorted(out)

    def token_by_accessor(self, accessor: str) -> rec.TokenRecord | None:
        token_hash = self._get("token_accessors", accessor.encode())
        return None if token_hash is None else self.token(token_hash)

    def wrapped(self, token_hash: bytes) -> rec.WrappedRecord | None:
        return self._get_record("wrapped", token_hash, rec.WrappedRecord)

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
        active = self._active
        with active.env.begin(db=active.db["kv_meta"]) as txn:
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

    def kv_metadata_scan(self, namespace: str, mount: str
                         ) -> list[tuple[str, rec.KvMetadataRecord]]:
        """(path, metadata) of every KV v2 secret of a mount, in key order (the sweeper)."""
        start = keys.kv_meta_key(namespace, mount, "")
        out: list[tuple[str, rec.KvMetadataRecord]] = []
        active = self._active
        with active.env.begin(db=active.db["kv_meta"]) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start):
                return out
            for key, value in cursor.iternext():
                if not bytes(key).startswith(start):
                    break
                out.append((bytes(key)[len(start):].decode(),
                            rec.KvMetadataRecord.FromString(bytes(value))))
        return out

    def idempotent_result(self, request_id: str) -> rec.ApplyResult | None:
        return self._get_record("idempotency", request_id.encode(), rec.ApplyResult)

    def digest(self) -> str:
        """SHA-256 over every key and value of every database (replica comparison)."""
        return self.digest_at()[1]

    def digest_at(self) -> tuple[int, str]:
        """(applied index, digest), both read in one LMDB read transaction."""
        h = hashlib.sha256()
        active = self._active
        with active.env.begin() as txn:
            raw = txn.get(keys.APPLIED_INDEX, db=active.db["meta"])
            applied = keys.from_u64(raw) if raw else 0
            for name in DATABASES:
                h.update(name.encode() + b"\0")
                for key, value in txn.cursor(db=active.db[name]):
                    h.update(len(key).to_bytes(4, "big") + key)
                    h.update(len(value).to_bytes(4, "big") + value)
        return applied, h.hexdigest()
