"""RaftLog: the pysyncobj-backed CommandLog.

Threads: pysyncobj's tick thread alone drives Raft, appends to the journal and
calls `apply(index, data)`; the asyncio loop only enqueues proposals and awaits
futures completed from the tick thread with `call_soon_threadsafe`.

Hardening over stock pysyncobj (DESIGN.md §4):
- one replicated method taking protobuf `bytes`; pysyncobj's pickle frame around
  it is decoded by `safe_pickle` (allow-list, installed by `strongbox.raft`);
- the journal is `DurableJournal`, synced once per tick, after entries are
  appended and before the next tick can count them as committed. A failed
  fsync stops the process (after "fsyncgate" the page cache cannot be trusted;
  etcd does the same), so an entry is never acknowledged without being durable;
- log compaction is off until snapshots land with the cluster issue: the
  journal keeps every entry, and replay after restart skips entries at or
  below LMDB's applied index.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

import pysyncobj.syncobj as pso
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON
from pysyncobj.journal import Journal
from pysyncobj.node import Node
from pysyncobj.pipe_notifier import PipeNotifier

from strongbox.errors import NoLeader
from strongbox.pb import records_pb2 as rec
from strongbox.raft.journal import DurableJournal
from strongbox.raft.log import ApplyFn, RaftStatus
from strongbox.raft.transport_local import LocalTransport

log = logging.getLogger("strongbox.raft")
_original_create_journal = pso.createJournal


def _create_journal(journal_file: Any) -> Any:
    # pysyncobj builds its journal from conf.journalFile; let a ready Journal through.
    if isinstance(journal_file, Journal):
        return journal_file
    return _original_create_journal(journal_file)


pso.createJournal = _create_journal


class _StateMachine(SyncObj):  # type: ignore[misc]
    def __init__(self, self_node: str, conf: SyncObjConf, apply: ApplyFn,
                 transport: Any) -> None:
        # Attributes set before SyncObj.__init__ are excluded from its own dumps.
        self._sb_apply = apply
        super().__init__(Node(self_node), [], conf, transport=transport)

    @replicated  # type: ignore[untyped-decorator]
    def apply_command(self, data: bytes) -> rec.ApplyResult:
        # pysyncobj applies entries in order and bumps raftLastApplied after each.
        return self._sb_apply(self.raftLastApplied + 1, data)


class RaftLog:
    def __init__(self, node_id: str, data_dir: str | os.PathLike[str], apply: ApplyFn) -> None:
        self.node_id = node_id
        self.journal = DurableJournal(Path(data_dir) / "raft")
        conf = SyncObjConf(
            journalFile=self.journal,
            autoTick=True,
            autoTickPeriod=0.05,
            appendEntriesUseBatch=False,  # wake the tick thread on each proposal
            commandsWaitLeader=True,
            raftMinTimeout=0.3, raftMaxTimeout=0.6, appendEntriesPeriod=0.05,
            connectionTimeout=3.5,
            logCompactionMinEntries=2**62, logCompactionMinTime=2**40,
            dynamicMembershipChange=False,
        )
        self._transport = LocalTransport(None, None, [])
        self._sync = _StateMachine(node_id, conf, apply, self._transport)
        self._wake = PipeNotifier(self._sync._poller)
        self._sync.addOnTickCallback(self._sync_journal)

    def _sync_journal(self) -> None:
        if not self.journal.needs_sync:
            return
        try:
            self.journal.sync()
        except OSError:
            log.critical("raft journal fsync failed; stopping so that no un-synced entry "
                         "is ever acknowledged. Free disk space and restart the node.")
            os._exit(70)
        self._wake.notify()  # commit and apply on the next tick, not after a poll timeout

    async def propose(self, data: bytes, timeout: float) -> rec.ApplyResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[rec.ApplyResult] = loop.create_future()

        def done(result: rec.ApplyResult | None, error: int) -> None:
            loop.call_soon_threadsafe(_settle, future, result, error)

        self._sync.apply_command(data, callback=done)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise NoLeader("the write was not committed in time; its outcome is unknown: "
                           "retry with the same Idempotency-Key") from None

    def status(self) -> RaftStatus:
        sync = self._sync
        leader = sync._getLeader()
        return RaftStatus(
            node_id=self.node_id,
            is_leader=bool(sync._isLeader()),
            leader_id=None if leader is None else str(leader.id),
            term=int(sync.raftCurrentTerm),
            commit_index=int(sync.raftCommitIndex),
            applied_index=int(sync.raftLastApplied),
            last_leader_contact_ms=0,
            peers=(),
        )

    def wait_leader(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._sync._isLeader() and self._sync.isReady():
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self._sync.destroy_synchronous()  # the tick thread syncs and closes the journal


def _settle(future: asyncio.Future[rec.ApplyResult], result: rec.ApplyResult | None,
            error: int) -> None:
    if future.done():
        return
    if error == FAIL_REASON.SUCCESS and result is not None:
        future.set_result(result)
    elif error == FAIL_REASON.QUEUE_FULL:
        future.set_exception(NoLeader("the Raft proposal queue is full; retry shortly"))
    else:
        future.set_exception(NoLeader(
            "the write was not committed (leader changed or lost); retry with the same "
            "Idempotency-Key"))
