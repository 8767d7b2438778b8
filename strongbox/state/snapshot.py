"""State snapshots: an LMDB copy plus what Raft needs to resume from it (docs/design.md §4, §6).

pysyncobj compacts its log through the `serializer`/`deserializer` conf hooks that
`make_hooks()` returns (with hooks set, pysyncobj never forks). No pickle: the file is

    MAGIC (8) | VERSION u32 LE | meta length u32 LE | SnapshotMeta (snapshot.proto)
    | LMDB copy (a compacted data.mdb, meta.lmdb_bytes long) | SHA-256 of all before (32)

`SnapshotMeta` holds the store's applied index, the two log entries pysyncobj keeps
(the last applied entry and the one before it, as (command, index, term)), the cluster
members, the writer's wall clock and the LMDB copy's length.

Contract:
* `write_snapshot()` copies the store inside one read transaction, so the applied index
  in the header and the copied state agree. That index may trail the last applied Raft
  entry (pysyncobj applies its own no-op, membership and version entries without calling
  apply) but never exceed it. The file is fsynced; the caller renames it into place.
* `read_snapshot_meta()` checks magic, version, sizes and the checksum and raises
  `SnapshotError` naming the file on any mismatch; no length is trusted beyond the
  file's size.
* `restore_snapshot()` verifies the whole file, then does nothing if the store's applied
  index is already at or past the snapshot's (a node restarting on its own data, or a
  follower that got ahead), else rebuilds the store from the copy
  (`Store.new_env_dir()` + `Store.install()`). A bad file leaves the store untouched.

Threading: everything here runs on the store's one writer thread, pysyncobj's tick
thread, which calls both hooks; readers on other threads keep reading throughout
(`Store.install()` switches them atomically).

Durability note for the caller: pysyncobj renames `<fullDumpFile>.tmp` to `fullDumpFile`
without a directory fsync and trims the journal on the next tick. Keep `fullDumpFile` in
the journal's directory: the journal's trim fsyncs that directory, so the snapshot's
rename is durable before the trimmed journal is.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import struct
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import lmdb
from google.protobuf.message import DecodeError
from pysyncobj.node import Node

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import snapshot_pb2 as snap_pb
from strongbox.state import keys
from strongbox.state.store import DATA_FILE, DATABASES, Store, StoreView

log = logging.getLogger(__name__)

Entry = tuple[bytes, int, int]  # pysyncobj's (command, index, term)

MAGIC = b"SBSNAP\r\n"
VERSION = 1
_HEAD = struct.Struct("<8sII")  # magic, version, meta length
DIGEST_SIZE = hashlib.sha256().digest_size
CHUNK = 1 << 20
MAX_META_BYTES = 64 << 20  # two log entries (each at most a few MiB) and the member list
RETRY_AFTER_S = 10.0  # after a failed snapshot, don't copy the whole store again each tick


class SnapshotError(ValueError):
    """A snapshot file is not one this build can trust (damaged, truncated, foreign)."""


@dataclass(frozen=True, slots=True)
class Member:
    node_id: str
    address: str = ""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """The verified header of a snapshot file."""

    path: str
    version: int
    applied_index: int
    last_entry: Entry
    prev_entry: Entry
    members: tuple[Member, ...]
    created_time_ns: int
    lmdb_offset: int
    lmdb_bytes: int


class EntryLog(Protocol):
    """What `make_hooks` needs of pysyncobj's journal (`DurableJournal` has it)."""

    def __len__(self) -> int: ...
    def __getitem__(self, item: int) -> Entry: ...
    def deleteEntriesTo(self, entryTo: int) -> None: ...


# --- writing -----------------------------------------------------------------------------


def _check_entry(entry: Any, what: str) -> Entry:
    ok = (isinstance(entry, tuple | list) and len(entry) == 3 and isinstance(entry[0], bytes)
          and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in entry[1:]))
    if not ok:
        raise TypeError(f"{what} must be (command bytes, index, term), got {type(entry).__name__}")
    return bytes(entry[0]), int(entry[1]), int(entry[2])


def _entry_pb(entry: Entry) -> snap_pb.SnapshotEntry:
    return snap_pb.SnapshotEntry(command=entry[0], index=entry[1], term=entry[2])


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def write_snapshot(store: Store, path: str, entries: tuple[Entry, Entry] | None,
                   members: list[Member]) -> int:
    """Write a snapshot of `store` to `path` (created or truncated) and fsync it.

    `entries` is (last applied entry, the entry before it); None (API snapshots, which
    carry no Raft entries) uses empty entries at the applied index read in the copy's
    own transaction. Raises ValueError if the store's applied index is past the last
    entry (the state would not match the log position the snapshot claims) or the
    entries are not consecutive. Returns the applied index the snapshot holds.
    """
    with store.read_view() as view:
        return write_snapshot_of(view, path, entries, members)


def write_snapshot_of(view: StoreView, path: str, entries: tuple[Entry, Entry] | None,
                      members: list[Member]) -> int:
    """`write_snapshot` of an open read view: the state is the view's transaction's (the
    view may be opened on one thread and copied on another, as compaction does)."""
    if entries is not None:
        last = _check_entry(entries[0], "last entry")
        prev = _check_entry(entries[1], "prev entry")
        if prev[1] + 1 != last[1]:
            raise ValueError(f"snapshot entries must be (last, previous): got indexes "
                             f"{last[1]} and {prev[1]}")
    meta = snap_pb.SnapshotMeta(
        members=[snap_pb.SnapshotMember(node_id=m.node_id, address=m.address)
                 for m in members],
        created_time_ns=time.time_ns(), lmdb_bytes=0, applied_index=view.applied_index())
    if entries is None:
        index = meta.applied_index
        last, prev = (b"", index, 0), (b"", max(index - 1, 0), 0)
    meta.last_entry.CopyFrom(_entry_pb(last))
    meta.prev_entry.CopyFrom(_entry_pb(prev))
    if meta.applied_index > last[1]:
        raise ValueError(f"the store's applied index {meta.applied_index} is past the "
                         f"last applied log entry {last[1]}; not snapshotting")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        raw_meta = meta.SerializeToString()
        head = _HEAD.pack(MAGIC, VERSION, len(raw_meta))
        _write_all(fd, head + raw_meta, 0)
        lmdb_offset = len(head) + len(raw_meta)
        os.lseek(fd, lmdb_offset, os.SEEK_SET)
        view.copy_to_fd(fd)  # LMDB writes sequentially from the fd's offset
        end = os.fstat(fd).st_size
        meta.lmdb_bytes = end - lmdb_offset
        patched = meta.SerializeToString()
        if len(patched) != len(raw_meta):  # lmdb_bytes is fixed64: cannot happen
            raise AssertionError("snapshot header changed size")
        _write_all(fd, patched, len(head))
        _write_all(fd, _digest(fd, end, path), end)
        os.fsync(fd)
    finally:
        os.close(fd)
    return int(meta.applied_index)


def _digest(fd: int, end: int, path: str) -> bytes:
    digest = hashlib.sha256()
    offset = 0
    while offset < end:
        chunk = os.pread(fd, min(CHUNK, end - offset), offset)
        if not chunk:
            raise OSError(f"{path}: short read at offset {offset} while hashing")
        digest.update(chunk)
        offset += len(chunk)
    return digest.digest()


# --- reading -----------------------------------------------------------------------------


def _entry_from_pb(entry: snap_pb.SnapshotEntry) -> Entry:
    return bytes(entry.command), int(entry.index), int(entry.term)


def _parse_header(f: BinaryIO, path: str) -> tuple[SnapshotInfo, bytes]:
    """The header as stored (not yet checksummed) and its raw bytes; sizes checked."""
    size = os.fstat(f.fileno()).st_size
    if size < _HEAD.size + DIGEST_SIZE:
        raise SnapshotError(f"snapshot {path}: {size} bytes is too short to be a snapshot "
                            f"(truncated?)")
    head = f.read(_HEAD.size)
    magic, version, meta_len = _HEAD.unpack(head)
    if magic != MAGIC:
        raise SnapshotError(f"snapshot {path}: not a StrongBox snapshot (bad magic)")
    if version != VERSION:
        raise SnapshotError(f"snapshot {path}: format version {version}, this build reads "
                            f"version {VERSION}")
    if meta_len > min(size - _HEAD.size - DIGEST_SIZE, MAX_META_BYTES):
        raise SnapshotError(f"snapshot {path}: header length {meta_len} exceeds the file "
                            f"({size} bytes): truncated or damaged")
    raw_meta = f.read(meta_len)
    meta = snap_pb.SnapshotMeta()
    try:
        meta.ParseFromString(raw_meta)
    except DecodeError:
        raise SnapshotError(f"snapshot {path}: undecodable header: damaged") from None
    if not (meta.HasField("lmdb_bytes") and meta.HasField("last_entry")
            and meta.HasField("prev_entry")):
        raise SnapshotError(f"snapshot {path}: header lacks required fields: damaged")
    lmdb_offset = _HEAD.size + meta_len
    expected = lmdb_offset + meta.lmdb_bytes + DIGEST_SIZE
    if expected != size:
        raise SnapshotError(f"snapshot {path}: {size} bytes, the header describes {expected}: "
                            f"truncated or damaged")
    info = SnapshotInfo(
        path=path, version=version, applied_index=meta.applied_index,
        last_entry=_entry_from_pb(meta.last_entry), prev_entry=_entry_from_pb(meta.prev_entry),
        members=tuple(Member(m.node_id, m.address) for m in meta.members),
        created_time_ns=meta.created_time_ns, lmdb_offset=lmdb_offset,
        lmdb_bytes=meta.lmdb_bytes)
    if info.prev_entry[1] + 1 != info.last_entry[1] or info.applied_index > info.last_entry[1]:
        raise SnapshotError(f"snapshot {path}: inconsistent log positions in the header")
    return info, head + raw_meta


def _stream_verify(f: BinaryIO, info: SnapshotInfo, header: bytes,
                   sink: Callable[[bytes], object] | None = None) -> None:
    """Hash the rest of the file after `header` (feeding the LMDB bytes to `sink`)."""
    digest = hashlib.sha256(header)
    remaining = info.lmdb_bytes
    while remaining:
        chunk = f.read(min(CHUNK, remaining))
        if not chunk:
            raise SnapshotError(f"snapshot {info.path}: shorter than its header says")
        digest.update(chunk)
        if sink is not None:
            sink(chunk)
        remaining -= len(chunk)
    if f.read(DIGEST_SIZE + 1) != digest.digest():
        raise SnapshotError(f"snapshot {info.path}: checksum mismatch: the file is damaged")


@contextlib.contextmanager
def _open(path: str | os.PathLike[str]) -> Iterator[tuple[BinaryIO, SnapshotInfo, bytes]]:
    name = os.fspath(path)
    try:
        f = open(name, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise SnapshotError(f"snapshot {name}: no such file") from None
    with f:
        info, header = _parse_header(f, name)
        yield f, info, header


def read_snapshot_meta(path: str | os.PathLike[str]) -> SnapshotInfo:
    """The snapshot's header, after checking the whole file; raises SnapshotError."""
    with _open(path) as (f, info, header):
        _stream_verify(f, info, header)
        return info


def _restore(store: Store, path: str | os.PathLike[str]) -> tuple[bool, SnapshotInfo]:
    with _open(path) as (f, info, header):
        if store.applied_index() >= info.applied_index:
            _stream_verify(f, info, header)
            return False, info
        directory = store.new_env_dir()
        try:
            with open(directory / DATA_FILE, "xb") as out:
                _stream_verify(f, info, header, sink=out.write)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            store.discard(directory)
            raise
        try:
            store.install(directory, expect_applied_index=info.applied_index)
        except ValueError as exc:  # the copy opened but is not the state the header claims
            raise SnapshotError(f"snapshot {info.path}: {exc}") from None
        log.info("restored the store from snapshot %s at applied index %d", info.path,
                 info.applied_index)
        return True, info


def restore_snapshot(store: Store, path: str | os.PathLike[str]) -> bool:
    """Replace the store's state with the snapshot's unless the store is already there.

    True if the store was replaced. Raises SnapshotError (store untouched) on a bad file.
    """
    return _restore(store, path)[0]


def snapshot_records(path: str | os.PathLike[str]) -> Iterator[tuple[str, bytes, bytes]]:
    """Every (database, key, value) of a verified snapshot's LMDB copy (API restores).

    Raises SnapshotError before yielding anything if the file is damaged.
    """
    with tempfile.TemporaryDirectory(prefix="strongbox-restore-") as tmp:
        with _open(path) as (f, info, header), open(Path(tmp) / DATA_FILE, "xb") as out:
            _stream_verify(f, info, header, sink=out.write)
        env = lmdb.open(tmp, readonly=True, lock=False, max_dbs=len(DATABASES), subdir=True)
        try:
            with env.begin() as txn:
                for name in DATABASES:
                    try:
                        db = env.open_db(name.encode(), txn=txn, create=False)
                    except lmdb.NotFoundError:
                        continue
                    for key, value in txn.cursor(db=db):
                        yield name, bytes(key), bytes(value)
        finally:
            env.close()


def write_api_snapshot(store: Store, path: str | os.PathLike[str]) -> int:
    """A snapshot of the store for `GET sys/storage/raft/snapshot` (no Raft entries needed);
    returns the applied index it holds."""
    return write_snapshot(store, os.fspath(path), None, [])


# --- pysyncobj hooks ---------------------------------------------------------------------


def members_from_nodes(nodes: Iterable[Any]) -> list[Member]:
    """Members of pysyncobj nodes: `.id` and, if the node has one, `.address`."""
    members = {str(node.id): Member(str(node.id), str(getattr(node, "address", None) or ""))
               for node in nodes}
    return [members[node_id] for node_id in sorted(members)]


def _align_journal(journal: EntryLog, info: SnapshotInfo) -> None:
    """Drop journal entries before the snapshot's, if the journal holds the snapshot's two.

    pysyncobj keeps the journal after loading a snapshot only if it starts with exactly
    (prev, last); otherwise it clears it down to those two. After a crash between writing
    a snapshot and trimming the journal (the next tick), the journal still starts earlier,
    and clearing it would drop committed entries past the snapshot that the store already
    applied - new entries would then reuse their indexes and be skipped as applied.
    """
    if len(journal) < 2:
        return
    first = journal[0][1]
    pos = info.prev_entry[1] - first
    if pos <= 0 or pos + 1 >= len(journal):
        return
    if tuple(journal[pos]) == info.prev_entry and tuple(journal[pos + 1]) == info.last_entry:
        log.warning("journal starts at index %d, before snapshot %s at %d: trimming it to "
                    "the snapshot (the last compaction was interrupted)", first, info.path,
                    info.last_entry[1])
        journal.deleteEntriesTo(pos)


def make_hooks(
    store: Store,
    members_fn: Callable[[Iterable[Any]], list[Member]] = members_from_nodes,
    *,
    journal: EntryLog | Callable[[], EntryLog | None] | None = None,
) -> tuple[Callable[[str, Any], None], Callable[[str], tuple[Entry, Entry, list[Node]]]]:
    """pysyncobj `SyncObjConf(serializer=..., deserializer=...)` for `store`.

    pysyncobj calls `serializer(fullDumpFile + ".tmp", (last_entry, prev_entry, nodes))`
    (then renames the file) and `deserializer(fullDumpFile)`, which must return
    `(last_entry, prev_entry, nodes)`; entries are compared with the journal's tuples.
    `members_fn` turns pysyncobj's node set into members (default: `.id`, `.address`).
    Pass the Raft `journal` (or a function returning it, if it is created after the
    hooks) so that loading a snapshot never makes pysyncobj throw away journal entries
    past it (see `_align_journal`).
    """
    retry_at = 0.0

    def serializer(file_name: str, data: Any) -> None:
        nonlocal retry_at
        if time.monotonic() < retry_at:
            raise SnapshotError("not snapshotting: backing off after a failed snapshot")
        try:
            last, prev, nodes = data
            write_snapshot(store, file_name, (last, prev), members_fn(nodes))
        except Exception:
            # pysyncobj swallows the exception and only logs "Failed to store full dump".
            log.exception("writing snapshot %s failed; retrying in %.0f s", file_name,
                          RETRY_AFTER_S)
            retry_at = time.monotonic() + RETRY_AFTER_S
            with contextlib.suppress(OSError):
                Path(file_name).unlink()
            raise
        retry_at = 0.0

    def deserializer(file_name: str) -> tuple[Entry, Entry, list[Node]]:
        try:
            _, info = _restore(store, file_name)
        except Exception:
            # pysyncobj swallows this too ("failed to load full dump") and carries on.
            log.exception("loading snapshot %s failed", file_name)
            raise
        entry_log = journal() if callable(journal) else journal
        if entry_log is not None:
            _align_journal(entry_log, info)
        nodes = [Node(m.node_id, address=m.address or None) for m in info.members]
        return info.last_entry, info.prev_entry, nodes

    return serializer, deserializer


def api_snapshot_bytes(store: Store) -> tuple[bytes, int]:
    """The `GET sys/storage/raft/snapshot` file of `store`, and the applied index it holds."""
    with tempfile.TemporaryDirectory(prefix="strongbox-snapshot-") as tmp:
        path = Path(tmp) / "snapshot.bin"
        index = write_api_snapshot(store, path)
        return path.read_bytes(), index


def restore_chunks(body: bytes, chunk_bytes: int
                   ) -> tuple[list[list[cmd_pb.RestoreRecord]], bytes | None]:
    """An uploaded snapshot's records in chunks of about `chunk_bytes` (one restore
    command each), and its raw cluster record (None: it holds no initialized cluster).
    Raises SnapshotError when `body` is not a StrongBox snapshot."""
    chunks: list[list[cmd_pb.RestoreRecord]] = [[]]
    size, cluster = 0, None
    with tempfile.TemporaryDirectory(prefix="strongbox-upload-") as tmp:
        path = Path(tmp) / "upload.bin"
        path.write_bytes(body)
        for db, key, value in snapshot_records(path):
            if db == "meta" and key == keys.CLUSTER:
                cluster = value
            if size > chunk_bytes:
                chunks.append([])
                size = 0
            chunks[-1].append(cmd_pb.RestoreRecord(db=db, key=key, value=value))
            size += len(key) + len(value)
    return chunks, cluster
