"""Group commit: many client writes per AppendEntries, per fsync and per LMDB commit.

pysyncobj 0.3.17 offers two modes: one AppendEntries per command (what StrongBox
used: low latency, but one message, one follower fsync and one ack per write) or
batches sent only every `appendEntriesPeriod` (100 ms of added latency). This
module gives the adaptive middle, as etcd does, without a timer:

- `Replicator.after_tick` (the tick thread, after pysyncobj has moved every
  queued command into the log) sends one AppendEntries per follower carrying all
  entries not yet sent, and again whenever the commit index moved (so followers
  apply promptly). An idle leader therefore sends a lone write at once; under
  load, the writes that arrived while the tick thread was busy (fsync, apply)
  leave together: the batch size follows the load.
- `AckBatcher` (the transport) holds a follower's acknowledgements back while it
  drains its inbound queue, then fsyncs the journal once and sends them: one
  fsync for every AppendEntries that arrived together.
- `apply_committed` replaces pysyncobj's apply loop: the entries committed since
  the last tick are applied inside one `Store.batch()` (one synced LMDB
  transaction; each entry a child transaction, the applied index still advancing
  per entry), and the waiting clients are answered only after that commit, each
  with its own result.

Reaches into pysyncobj's private state (name-mangled `_SyncObj__*`); the
versions this was written against are pinned in pyproject.toml.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from pysyncobj.config import FAIL_REASON
from pysyncobj.syncobj import SyncObjExceptionWrongVer

log = logging.getLogger("strongbox.raft")

BatchFn = Callable[[], AbstractContextManager[None]]
Answer = tuple[int, list[tuple[int, Callable[[Any, int], None]]], Any]


def apply_committed(sync: Any, batch: BatchFn) -> bool:
    """Apply every committed, unapplied entry in one batch.

    Same contract as pysyncobj's `__applyLogEntries` (results per command, a
    subscriber of another term is told DISCARDED), but the callbacks run after
    the batch is durable, so no client hears of a write its next read could miss.
    Returns False ("no AppendEntries needed"): `Replicator.after_tick` sends the
    new commit index, in the same message as any new entries - telling pysyncobj
    to send too would double every write's commit round on all three nodes.
    """
    commit = sync._SyncObj__raftCommitIndex
    applied = sync._SyncObj__raftLastApplied
    if commit <= applied:
        return False
    entries = sync._SyncObj__getEntries(applied + 1, commit - applied)
    waiting = sync._SyncObj__commandsWaitingCommit
    answers: list[Answer] = []
    with batch():
        for entry in entries:
            subscribers = waiting.pop(entry[1], [])
            try:
                result = sync._SyncObj__doApplyCommand(entry[0])
            except SyncObjExceptionWrongVer as exc:  # as pysyncobj: log, do not advance
                log.error("raft entry %d asks for code version %d, which this node does not "
                          "run", entry[1], exc.ver)
                continue
            answers.append((entry[2], subscribers, result))
            sync._SyncObj__raftLastApplied += 1
    for term, subscribers, result in answers:
        for subscribed_term, callback in subscribers:
            if subscribed_term == term:
                callback(result, FAIL_REASON.SUCCESS)
            else:
                callback(None, FAIL_REASON.DISCARDED)
    return False


class Replicator:
    """Leader side: send new entries and commit-index changes once per tick."""

    def __init__(self, sync: Any) -> None:
        self._sync = sync
        self._sent_index = 0
        self._sent_commit = 0
        self.batches = 0       # AppendEntries rounds sent for new entries (metrics, tests)
        self.entries = 0       # entries in those rounds

    def after_tick(self) -> None:
        sync = self._sync
        if not sync._isLeader():
            self._sent_index = self._sent_commit = 0
            return
        last = sync._SyncObj__getCurrentLogIndex()
        commit = sync._SyncObj__raftCommitIndex
        if last == self._sent_index and commit == self._sent_commit:
            return
        if last > self._sent_index and self._sent_index:
            self.batches += 1
            self.entries += last - self._sent_index
        sync._SyncObj__sendAppendEntries()
        self._sent_index, self._sent_commit = last, commit


class AckBatcher:
    """Follower side: acknowledgements sent while draining wait for one fsync.

    `hold()` starts holding ACK messages (the caller drains its inbound queue),
    `release()` runs `sync` once and sends what was held, in order. A message
    that is not an ACK, sent while holding, releases first, so the order of
    messages to a peer never changes.
    """

    def __init__(self, sync: Callable[[], None],
                 send: Callable[[Any, dict[str, Any]], bool]) -> None:
        self._sync = sync
        self._send = send
        self._held: list[tuple[Any, dict[str, Any]]] | None = None

    def hold(self) -> None:
        if self._held is None:
            self._held = []

    def offer(self, node: Any, message: dict[str, Any], is_ack: bool) -> bool:
        """True if the message was held; False: the caller sends it now (after any ack)."""
        if self._held is None:
            if is_ack:
                self._sync()
            return False
        if is_ack:
            self._held.append((node, message))
            return True
        self.release(keep_holding=True)
        return False

    def release(self, keep_holding: bool = False) -> None:
        held, self._held = self._held, ([] if keep_holding else None)
        if not held:
            return
        self._sync()
        for node, message in held:
            self._send(node, message)
