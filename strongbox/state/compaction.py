"""Log compaction off the tick thread: the store copy runs on its own thread.

pysyncobj calls its `serializer` hook on the tick thread and waits for it. A
snapshot copies and hashes the whole LMDB store (about 0.6 s for 400 MiB on an
idle disk here, seconds at a million secrets): for that long no heartbeat left
the leader and no append was acknowledged, so a large store turned every
compaction into an election. `BackgroundCompaction` uses pysyncobj's
asynchronous-serializer contract (`serializeChecker`):

- `serializer` (tick thread) opens a read transaction - the state at the applied
  index, exactly what a synchronous copy would have taken - and hands it to a
  thread that writes `<snapshot>.partial` and fsyncs it. So that pysyncobj's own
  rename of `<snapshot>.tmp` keeps the current snapshot, `.tmp` is made a hard
  link to it. (The first snapshot of a node, while there is none, is written
  synchronously: the store is small then.)
- `checker` (tick thread, every tick) answers SERIALIZING while the thread runs;
  once it is done, it renames `.partial` over the snapshot, fsyncs the directory
  and answers SUCCESS once - only then does pysyncobj trim the journal. If a
  snapshot from the leader was installed meanwhile (`deserializer`), the copy is
  older than what is installed and is dropped (FAILED: the journal is kept).
- Every rename happens on the tick thread, as pysyncobj's own do, so a
  background copy never overwrites a snapshot that arrived from the leader.
- `wait()` joins a running copy; the deserializer calls it before a snapshot
  replaces the store (the copy reads the old environment), and `RaftLog.close`
  before the store is closed.

While a copy runs, pysyncobj neither starts another nor sends its snapshot to a
follower (its serializer is busy), as before; the journal simply grows a little
longer until the copy is done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pysyncobj.config import SERIALIZER_STATE
from pysyncobj.node import Node

from strongbox.state.snapshot import (
    RETRY_AFTER_S,
    Entry,
    EntryLog,
    Member,
    SnapshotError,
    make_hooks,
    members_from_nodes,
    write_snapshot_of,
)
from strongbox.state.store import Store

log = logging.getLogger(__name__)
NOT_SERIALIZING: int = SERIALIZER_STATE.NOT_SERIALIZING
SERIALIZING: int = SERIALIZER_STATE.SERIALIZING
SUCCESS: int = SERIALIZER_STATE.SUCCESS
FAILED: int = SERIALIZER_STATE.FAILED


class BackgroundCompaction:
    """pysyncobj's serializer, deserializer and serializeChecker for `store`."""

    def __init__(self, store: Store, snapshot_path: str,
                 members_fn: Callable[[Iterable[Any]], list[Member]] = members_from_nodes,
                 *, journal: EntryLog | Callable[[], EntryLog | None] | None = None) -> None:
        self._store = store
        self._final = snapshot_path
        self._partial = snapshot_path + ".partial"
        self._members_fn = members_fn
        self._sync_serializer, self._sync_deserializer = make_hooks(
            store, members_fn, journal=journal)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._state = NOT_SERIALIZING
        self._installs = 0          # snapshots installed (deserializer calls)
        self._started_at_install = 0
        self._retry_at = 0.0
        self.copies = 0             # background copies finished (tests, metrics)
        self.last_copy_s = 0.0

    # --- pysyncobj's hooks (tick thread) -------------------------------------------------

    def serializer(self, file_name: str, data: Any) -> None:
        if time.monotonic() < self._retry_at:
            self._state = FAILED
            raise SnapshotError("not snapshotting: backing off after a failed snapshot")
        if not os.path.exists(self._final):
            try:
                self._sync_serializer(file_name, data)
            except Exception:
                self._state = FAILED
                raise
            self._state = SUCCESS
            return
        last, prev, nodes = data
        members = self._members_fn(nodes)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(file_name)
        os.link(self._final, file_name)  # pysyncobj's rename then keeps the current one
        stack = contextlib.ExitStack()
        view = stack.enter_context(self._store.read_view())
        self._error, self._started_at_install = None, self._installs
        self._state = SERIALIZING
        self._thread = threading.Thread(
            target=self._copy, args=(stack, view, (last, prev), members),
            name="raft-compaction", daemon=True)
        self._thread.start()

    def checker(self) -> int:
        state = self._state
        if state == SERIALIZING:
            thread = self._thread
            if thread is not None and thread.is_alive():
                return SERIALIZING
            state = self._finish()
        if state in (SUCCESS, FAILED):
            self._state = NOT_SERIALIZING  # reported exactly once
        return state

    def deserializer(self, file_name: str) -> tuple[Entry, Entry, list[Node]]:
        self.wait()  # the copy reads the environment that the snapshot may replace
        self._installs += 1
        return self._sync_deserializer(file_name)

    def wait(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    # --- the copy and its end ------------------------------------------------------------

    def _copy(self, stack: contextlib.ExitStack, view: Any, entries: tuple[Entry, Entry],
              members: list[Member]) -> None:
        started = time.monotonic()
        try:
            with stack:  # closes the read transaction when the copy is done
                write_snapshot_of(view, self._partial, entries, members)
            self.last_copy_s = time.monotonic() - started
        except BaseException as exc:  # reported by the tick thread (checker)
            self._error = exc

    def _finish(self) -> int:
        self._thread = None
        if self._error is not None:
            log.error("writing snapshot %s failed (%s); retrying in %.0f s", self._partial,
                      type(self._error).__name__, RETRY_AFTER_S)
            return self._drop()
        if self._installs != self._started_at_install:
            log.info("dropping a compaction copy: a newer snapshot was installed meanwhile")
            return self._drop(back_off=False)
        try:
            os.replace(self._partial, self._final)
            fd = os.open(os.path.dirname(self._final) or ".", os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            log.error("installing snapshot %s failed (%s)", self._final, exc.strerror)
            return self._drop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._final + ".tmp")
        self.copies += 1
        log.info("snapshot written in the background in %.2f s", self.last_copy_s)
        return SUCCESS

    def _drop(self, back_off: bool = True) -> int:
        with contextlib.suppress(FileNotFoundError):
            Path(self._partial).unlink()
        if back_off:
            self._retry_at = time.monotonic() + RETRY_AFTER_S
        return FAILED
