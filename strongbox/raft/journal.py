"""Durable Raft journal for pysyncobj (its FileJournal never fsyncs and pickles its meta).

Contract: `DurableJournal` implements `pysyncobj.journal.Journal`. Entries are
`(command: bytes, idx: int, term: int)` tuples in an in-memory list (ints and slices behave
exactly like that list); every change is mirrored to files in `directory`.

Durability:
* `add()` writes (buffered) and marks the journal dirty, without fsync. The owner calls
  `sync()` (one flush + one fsync) before entries are considered committed or acknowledged.
  If `sync()` - or any method - raises (ENOSPC, EIO, ...), entries added since the last
  successful sync MUST NOT be acknowledged. The journal then refuses all further writes
  (after a failed fsync the kernel may drop dirty pages, so a retry could falsely succeed):
  restart the node and reopen the directory.
* `setCurrentTerm()` (term + vote) is durable when it returns, before any message is sent.
* `deleteEntriesFrom()` truncates + fsyncs; `deleteEntriesTo()`/`clear()` rewrite the log
  atomically (tmp file, fsync, rename, directory fsync).
* The commit index is an optimisation, not a safety property: kept in memory, written on the
  next `sync()`/`onOneSecondTimer()` after the log fsync, so it never covers unsynced entries.

File format (little-endian):
  raft.log   b"SBRAFTJ1", then records: b"SBRC" | u32 len | u32 crc32(payload) | payload,
             payload = u64 idx | u64 term | command.
  raft.meta  JSON {"version": 1, "term", "voted_for": str|null, "commit_index"}; atomic replace.
On open an invalid record with no valid record after it is a torn tail and is truncated
(warning with the byte offset, never content); one followed by a valid record raises
`JournalCorruptError`. No pickle anywhere.

Failure route: every OSError from the log or meta files (write, flush, fsync, truncate,
rename) goes to `on_failure` when one is given; the node passes a function that stops the
process with exit code 70, whichever call failed (docs/operations.md "Disk full and I/O
errors"). Running low on space is handled before it becomes an error (raft/diskguard.py).

`hide_after(idx)` (a context manager) makes the journal look as if it ended at `idx`
while pysyncobj handles one append (raft/appendfix.py); nothing is removed.

Threading: not thread-safe; only pysyncobj's tick thread calls it (including `sync()`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, NoReturn, overload

from pysyncobj.journal import Journal

logger = logging.getLogger(__name__)

Entry = tuple[bytes, int, int]

LOG_NAME = "raft.log"
META_NAME = "raft.meta"
FILE_MAGIC = b"SBRAFTJ1"
RECORD_MAGIC = b"SBRC"
META_VERSION = 1
_HEADER = struct.Struct("<4sII")
_IDX_TERM = struct.Struct("<QQ")


class JournalCorruptError(Exception):
    """The on-disk journal is damaged in a way that cannot be repaired without data loss."""


def _encode(command: bytes, idx: int, term: int) -> bytes:
    payload = _IDX_TERM.pack(idx, term) + command
    return _HEADER.pack(RECORD_MAGIC, len(payload), zlib.crc32(payload)) + payload


def _decode(data: bytes, pos: int) -> tuple[Entry, int] | None:
    """Parse the record at `pos`: (entry, end offset), or None if it is not a valid record."""
    start = pos + _HEADER.size
    if start > len(data):
        return None
    magic, length, crc = _HEADER.unpack_from(data, pos)
    if magic != RECORD_MAGIC or length < _IDX_TERM.size or start + length > len(data):
        return None
    payload = data[start : start + length]
    if zlib.crc32(payload) != crc:
        return None
    idx, term = _IDX_TERM.unpack_from(payload)
    return (payload[_IDX_TERM.size :], idx, term), start + length


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DurableJournal(Journal):  # type: ignore[misc]  # pysyncobj is untyped
    """fsync-batched, CRC-framed Raft log plus atomically replaced JSON meta."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        on_fsync: Callable[[float], None] | None = None,
        on_failure: Callable[[OSError], NoReturn] | None = None,
        before_fsync: Callable[[], None] | None = None,
    ) -> None:
        self._dir = os.fspath(directory)
        self._on_failure = on_failure
        self._before_fsync = before_fsync  # tests: the fault hook's slow disk
        self._visible: int | None = None   # hide_after: entries pysyncobj may see
        self._log_path = os.path.join(self._dir, LOG_NAME)
        self._meta_path = os.path.join(self._dir, META_NAME)
        self._on_fsync = on_fsync
        self._entries: list[Entry] = []
        self._offsets: list[int] = []  # file offset of each record
        self._file: BinaryIO | None = None
        self._dirty = False  # records written but not fsynced
        self._meta_dirty = False  # commit index changed but not stored
        self._failed: OSError | None = None
        if not os.path.isdir(self._dir):
            os.makedirs(self._dir, exist_ok=True)
            _fsync_dir(os.path.dirname(os.path.abspath(self._dir)))
        self._term, self._voted_for, self._commit_index = self._load_meta()
        self._stored_commit = self._commit_index
        if os.path.exists(self._log_path):
            self._load_log()
        else:
            self._rewrite([])
        if self._entries and self._commit_index > self._entries[-1][1]:
            last = self._entries[-1][1]
            logger.warning("journal %s: commit index past last entry %d, clamping", self._dir, last)
            self._commit_index = last
            self._store_meta(last)

    def _load_meta(self) -> tuple[int, str | None, int]:
        try:
            with open(self._meta_path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return 0, None, 1
        try:
            meta = json.loads(raw)
            term, voted, commit = meta["term"], meta["voted_for"], meta["commit_index"]
            types_ok = isinstance(term, int) and isinstance(commit, int)
            if meta["version"] != META_VERSION or not types_ok or not isinstance(voted, str | None):
                raise ValueError(f"unexpected version or field types in {meta!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise JournalCorruptError(f"{self._meta_path}: unreadable meta: {exc}") from exc
        return term, voted, commit

    def _load_log(self) -> None:
        with open(self._log_path, "rb") as f:
            data = f.read()
        if data[: len(FILE_MAGIC)] != FILE_MAGIC:
            raise JournalCorruptError(f"{self._log_path}: bad file header at offset 0")
        pos = len(FILE_MAGIC)
        while pos < len(data):
            parsed = _decode(data, pos)
            if parsed is None:
                self._truncate_torn_tail(data, pos)
                break
            self._offsets.append(pos)
            self._entries.append(parsed[0])
            pos = parsed[1]
        self._file = open(self._log_path, "r+b")  # noqa: SIM115 - kept open until _destroy
        self._file.seek(pos)

    def _truncate_torn_tail(self, data: bytes, pos: int) -> None:
        later = data.find(RECORD_MAGIC, pos + 1)
        while later != -1:
            if _decode(data, later) is not None:
                raise JournalCorruptError(
                    f"{self._log_path}: corrupt record at offset {pos} "
                    f"followed by a valid record at offset {later}"
                )
            later = data.find(RECORD_MAGIC, later + 1)
        cut = len(data) - pos
        logger.warning(
            "journal %s: torn tail at offset %d (%d bytes), truncating", self._log_path, pos, cut
        )
        with open(self._log_path, "r+b") as f:
            f.truncate(pos)
            self._fsync(f.fileno())

    @contextlib.contextmanager
    def _io(self) -> Iterator[BinaryIO]:
        """Yield the log file; any OSError makes the journal permanently unusable."""
        if self._failed is not None:
            raise OSError(
                self._failed.errno,
                f"journal {self._dir} unusable after earlier I/O error: {self._failed}",
            )
        if self._file is None or self._file.closed:
            raise ValueError(f"journal {self._dir} is closed")
        try:
            yield self._file
        except OSError as exc:
            self._failed = exc
            if self._on_failure is not None:
                self._on_failure(exc)
            raise

    def _fsync(self, fd: int) -> None:
        if self._before_fsync is not None:
            self._before_fsync()
        start = time.perf_counter()
        os.fsync(fd)
        if self._on_fsync is not None:
            self._on_fsync(time.perf_counter() - start)

    def _rewrite(self, entries: list[Entry]) -> None:
        tmp = self._log_path + ".tmp"
        offsets: list[int] = []
        with open(tmp, "wb") as f:
            pos = f.write(FILE_MAGIC)
            for entry in entries:
                offsets.append(pos)
                pos += f.write(_encode(*entry))
            f.flush()
            self._fsync(f.fileno())
        os.replace(tmp, self._log_path)
        _fsync_dir(self._dir)
        old, self._file = self._file, open(self._log_path, "r+b")  # noqa: SIM115
        self._file.seek(pos)
        if old is not None:
            old.close()
        self._entries, self._offsets, self._dirty = entries, offsets, False

    def _store_meta(self, commit_index: int) -> None:
        meta = {"version": META_VERSION, "term": self._term, "voted_for": self._voted_for}
        tmp = self._meta_path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(json.dumps({**meta, "commit_index": commit_index}).encode())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._meta_path)
        _fsync_dir(self._dir)
        self._stored_commit = commit_index
        self._meta_dirty = self._commit_index != commit_index

    @property
    def needs_sync(self) -> bool:
        """True if records were added since the last successful fsync."""
        return self._dirty

    def sync(self) -> None:
        """Flush + fsync the log if dirty: exactly one fsync, on the hot path of every write.

        The commit index is not stored here (it costs two more fsyncs and is only an
        optimisation); `onOneSecondTimer()` and `_destroy()` store it.
        Raises the OSError on failure; unsynced entries must then not be acknowledged.
        """
        with self._io() as f:
            if self._dirty:
                f.flush()
                self._fsync(f.fileno())
                self._dirty = False

    def add(self, command: bytes, idx: int, term: int) -> None:
        if not isinstance(command, bytes):
            raise TypeError(f"command must be bytes, not {type(command).__name__}")
        self._writable()
        record = _encode(command, idx, term)
        with self._io() as f:
            pos = f.tell()
            f.write(record)
        self._entries.append((command, idx, term))
        self._offsets.append(pos)
        self._dirty = True

    def clear(self) -> None:
        self._writable()
        with self._io():
            self._rewrite([])

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        self._writable()
        start = slice(entryFrom, None).indices(len(self._entries))[0]
        if start >= len(self._entries):
            return
        with self._io() as f:
            offset = self._offsets[start]
            f.flush()
            f.truncate(offset)
            f.seek(offset)
            self._fsync(f.fileno())
        del self._entries[start:]
        del self._offsets[start:]
        self._dirty = False

    def deleteEntriesTo(self, entryTo: int) -> None:
        self._writable()
        stop = slice(None, entryTo).indices(len(self._entries))[1]
        if stop <= 0:
            return
        with self._io():
            self._rewrite(self._entries[stop:])

    @overload
    def __getitem__(self, item: int) -> Entry: ...
    @overload
    def __getitem__(self, item: slice) -> list[Entry]: ...
    def __getitem__(self, item: int | slice) -> Entry | list[Entry]:
        visible = self._visible
        if visible is None:
            return self._entries[item]
        if isinstance(item, slice):
            return self._entries[slice(*item.indices(visible))]
        position = item + visible if item < 0 else item
        if not 0 <= position < visible:
            raise IndexError("journal index out of range")
        return self._entries[position]

    def __len__(self) -> int:
        return len(self._entries) if self._visible is None else self._visible

    @contextlib.contextmanager
    def hide_after(self, idx: int) -> Iterator[None]:
        """Show only the entries up to Raft index `idx` inside the block (nothing is deleted).

        Appends, deletions and rewrites are refused meanwhile: the view is for reading.
        """
        if not self._entries or self._visible is not None:
            raise ValueError("hide_after needs a non-empty journal and does not nest")
        first = self._entries[0][1]
        self._visible = max(0, min(len(self._entries), idx - first + 1))
        try:
            yield
        finally:
            self._visible = None

    def _writable(self) -> None:
        if self._visible is not None:
            raise RuntimeError("the journal is read-only inside hide_after")

    def _destroy(self) -> None:
        """Sync and close. Idempotent."""
        if self._file is None or self._file.closed:
            return
        try:
            self.sync()
            if self._meta_dirty:
                self._store_meta(self._commit_index)
        finally:
            self._file.close()

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        if raftCommitIndex != self._commit_index:
            self._commit_index = raftCommitIndex
            self._meta_dirty = raftCommitIndex != self._stored_commit

    def getRaftCommitIndex(self) -> int:
        return self._commit_index

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        if votedForNodeId is not None and not isinstance(votedForNodeId, str):
            raise TypeError(f"votedForNodeId must be str or None, not {votedForNodeId!r}")
        if (term, votedForNodeId) == (self._term, self._voted_for):
            return
        with self._io():
            self._term, self._voted_for = term, votedForNodeId
            # Keep the last stored commit index: the in-memory one may cover unsynced entries.
            self._store_meta(self._stored_commit)

    def getCurrentTerm(self) -> int:
        return self._term

    def getVotedForNodeId(self) -> str | None:
        return self._voted_for

    def onOneSecondTimer(self) -> None:
        if self._meta_dirty:
            self.sync()  # log first: a stored commit index never covers unsynced entries
            with self._io():
                self._store_meta(self._commit_index)
