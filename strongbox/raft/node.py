"""RaftLog: the pysyncobj-backed CommandLog.

Threads: pysyncobj's tick thread alone drives Raft, appends to the journal and
calls `apply(index, data)`; the asyncio loop only enqueues proposals and awaits
futures completed from the tick thread with `call_soon_threadsafe`.

Hardening over stock pysyncobj (docs/design.md §4):
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
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pysyncobj.syncobj as pso
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON
from pysyncobj.journal import Journal
from pysyncobj.monotonic import monotonic as pysyncobj_clock
from pysyncobj.node import Node
from pysyncobj.pipe_notifier import PipeNotifier

from strongbox.errors import NoLeader
from strongbox.pb import cluster_pb2
from strongbox.pb import records_pb2 as rec
from strongbox.raft.cluster_tls import ClusterTls
from strongbox.raft.journal import DurableJournal
from strongbox.raft.log import ApplyFn, PeerStatus, RaftStatus
from strongbox.raft.transport_grpc import FaultSwitch, GrpcTransport
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
    def __init__(self, self_node: Node, other_nodes: list[Node], conf: SyncObjConf,
                 apply: ApplyFn, transport_class: Any) -> None:
        # Attributes set before SyncObj.__init__ are excluded from its own dumps.
        self._sb_apply = apply
        super().__init__(self_node, other_nodes, conf, transportClass=transport_class)

    @replicated  # type: ignore[untyped-decorator]
    def apply_command(self, data: bytes) -> rec.ApplyResult:
        # pysyncobj applies entries in order and bumps raftLastApplied after each.
        return self._sb_apply(self.raftLastApplied + 1, data)


@dataclass(frozen=True, slots=True)
class RaftSettings:
    """What RaftLog needs; `address` None means a cluster of one (no cluster port)."""

    node_id: str
    data_dir: Path
    address: str | None = None
    peers: dict[str, str] = field(default_factory=dict)
    tls: ClusterTls | None = None
    snapshot_threshold: int = 10000
    serializer: Callable[[str, Any], None] | None = None
    deserializer: Callable[[str], Any] | None = None
    fault_file: Path | None = None
    on_fsync: Callable[[float], None] | None = None         # seconds per journal fsync
    on_leader_change: Callable[[str | None], None] | None = None


# Timing (docs/cluster.md explains the choice): heartbeats every 100 ms; an
# election after 0.8-1.6 s without one; a leader that has not heard from a
# majority for 1.2 s steps down, so a partitioned leader stops acknowledging
# writes quickly; connection loss is declared after 3.5 s.
CLUSTER_TIMING = {"appendEntriesPeriod": 0.1, "raftMinTimeout": 0.8, "raftMaxTimeout": 1.6,
                  "leaderFallbackTimeout": 1.2, "connectionTimeout": 3.5}
SINGLE_TIMING = {"appendEntriesPeriod": 0.05, "raftMinTimeout": 0.3, "raftMaxTimeout": 0.6,
                 "connectionTimeout": 3.5}


class RaftLog:
    def __init__(self, settings: RaftSettings, apply: ApplyFn) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        raft_dir = Path(settings.data_dir) / "raft"
        self.journal = DurableJournal(raft_dir, on_fsync=settings.on_fsync)
        self._tick_tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._leader: str | None = None
        clustered = settings.address is not None
        conf = SyncObjConf(
            journalFile=self.journal,
            autoTick=True,
            autoTickPeriod=0.05,
            appendEntriesUseBatch=False,  # wake the tick thread on each proposal
            appendEntriesBatchSizeBytes=4 * 1024 * 1024,  # never pysyncobj's pickled "transmission"
            commandsWaitLeader=True,
            logCompactionMinEntries=settings.snapshot_threshold if settings.serializer else 2**62,
            logCompactionMinTime=3600 if settings.serializer else 2**40,
            fullDumpFile=str(raft_dir / "snapshot.bin") if settings.serializer else None,
            serializer=settings.serializer, deserializer=settings.deserializer,
            useFork=False,
            dynamicMembershipChange=clustered,
            **(CLUSTER_TIMING if clustered else SINGLE_TIMING),
        )
        self_node = Node(settings.node_id, address=settings.address)
        others = [Node(node_id, address=addr) for node_id, addr in settings.peers.items()]
        self.transport: GrpcTransport | None = None
        self._sync = _StateMachine(self_node, others, conf, apply, self._transport_factory)
        self._wake = PipeNotifier(self._sync._poller)
        self._sync.addOnTickCallback(self._on_tick)

    def _transport_factory(self, sync: Any, self_node: Node, other_nodes: Any) -> Any:
        settings = self.settings
        if settings.address is None or settings.tls is None:
            return LocalTransport(sync, self_node, other_nodes)
        faults = FaultSwitch(settings.fault_file) if settings.fault_file else None
        self.transport = GrpcTransport(sync, self_node, other_nodes, tls=settings.tls,
                                       before_ack=self._sync_journal, faults=faults)
        self.transport.on_vote_granted = lambda: _restart_election_timer(sync)
        return self.transport

    def _on_tick(self) -> None:
        while True:  # work handed over by other threads (pysyncobj state is ours alone)
            try:
                task = self._tick_tasks.get_nowait()
            except queue.Empty:
                break
            task()
        self._sync_journal()
        leader = self._sync._getLeader()
        leader_id = None if leader is None else str(leader.id)
        if leader_id != self._leader:
            self._leader = leader_id
            log.info("raft leader is now %s (term %d)", leader_id or "unknown",
                     self._sync.raftCurrentTerm)
            if self.settings.on_leader_change is not None:
                self.settings.on_leader_change(leader_id)
        if self.transport is not None:
            self.transport.refresh()

    def _sync_journal(self) -> None:
        """fsync appended entries: once per tick, and before any acknowledgement to a peer."""
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
        for _ in range(5):
            try:
                raw = sync.getStatus()  # reads the tick thread's dicts: retry a torn read
                break
            except RuntimeError:
                continue
        else:
            raw = {}
        leader = raw.get("leader")
        is_leader = bool(sync._isLeader())
        transport = self.transport
        if is_leader or transport is None:
            contact_ms = 0
        elif transport.last_leader_contact:
            contact_ms = int((time.monotonic() - transport.last_leader_contact) * 1000)
        else:
            contact_ms = -1
        peers = tuple(
            PeerStatus(node_id=str(node.id), address=str(getattr(node, "address", "") or ""),
                       connected=raw.get(f"partner_node_status_server_{node.id}") == 2,
                       match_index=int(raw.get(f"match_idx_server_{node.id}", 0) or 0),
                       api_addr=transport.api_addr_of(str(node.id)) if transport else "")
            for node in sorted(sync.otherNodes, key=lambda n: str(n.id)))
        return RaftStatus(
            node_id=self.node_id,
            address=self.settings.address or "",
            is_leader=is_leader,
            leader_id=None if leader is None else str(leader.id),
            leader_address=None if leader is None else getattr(leader, "address", None),
            leader_api_addr=None if leader is None or transport is None
            else transport.api_addr_of(str(leader.id)) or None,
            term=int(raw.get("raft_term", sync.raftCurrentTerm)),
            commit_index=int(raw.get("commit_idx", sync.raftCommitIndex)),
            applied_index=int(raw.get("last_applied", sync.raftLastApplied)),
            last_leader_contact_ms=contact_ms,
            peers=peers,
        )

    async def _membership(self, call: Callable[..., None], node: Node, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[rec.ApplyResult] = loop.create_future()

        def done(result: Any, error: int) -> None:
            loop.call_soon_threadsafe(_settle, future, rec.ApplyResult(), error)

        call(node, callback=done)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise NoLeader("the membership change was not committed in time") from None

    async def add_peer(self, node_id: str, address: str, timeout: float) -> None:
        """Leader only: add a voter (one change at a time, as pysyncobj requires)."""
        await self._membership(self._sync.addNodeToCluster, Node(node_id, address=address),
                               timeout)

    async def remove_peer(self, node_id: str, timeout: float) -> None:
        await self._membership(self._sync.removeNodeFromCluster, Node(node_id), timeout)

    def add_peer_blocking(self, node_id: str, address: str, timeout: float) -> None:
        """Thread-safe (gRPC threads): add a voter and wait for the change to commit."""
        done = threading.Event()
        errors: list[int] = []

        def callback(result: Any, error: int) -> None:
            errors.append(error)
            done.set()

        self._sync.addNodeToCluster(Node(node_id, address=address), callback=callback)
        if not done.wait(timeout):
            raise TimeoutError("membership change not committed")
        if errors[0] != FAIL_REASON.SUCCESS:
            raise NoLeader(f"membership change failed (pysyncobj reason {errors[0]})")

    def is_leader(self) -> bool:
        return bool(self._sync._isLeader())

    def leader_stub(self) -> Any | None:
        leader = self._sync._getLeader()
        if leader is None or self.transport is None or self._sync._isLeader():
            return None
        return self.transport.stub_for(str(leader.id))

    def join(self, timeout: float) -> bool:
        """Ask each configured peer to add us (the leader does; others refuse)."""
        transport, address = self.transport, self.settings.address
        if transport is None or address is None:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node_id in list(self.settings.peers):
                stub = transport.stub_for(node_id)
                if stub is None:
                    continue
                try:
                    stub.Join(cluster_pb2.JoinRequest(address=address), timeout=5.0)
                    return True
                except grpc.RpcError:
                    continue
            time.sleep(0.5)
        return False

    async def step_down(self, timeout: float) -> None:
        """Hand leadership to the most caught-up follower (pysyncobj's TimeoutNow).

        pysyncobj's state belongs to the tick thread, so the call runs there.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()

        def done(result: Any, error: int) -> None:
            loop.call_soon_threadsafe(_resolve, future, error)

        self._tick_tasks.put(lambda: self._sync.transferLeadership(callback=done))
        self._wake.notify()
        try:
            error = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise NoLeader("the leadership transfer did not start in time") from None
        if error == FAIL_REASON.NOT_LEADER:
            raise NoLeader("this node is no longer the leader")
        if error != FAIL_REASON.SUCCESS:
            raise NoLeader("no follower is caught up enough to take over yet; retry")

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


def _restart_election_timer(sync: Any) -> None:
    """Raft §5.2: a follower that grants a vote restarts its election timer.

    pysyncobj 0.3.17 does not, so a voter whose timer was about to fire becomes a
    candidate right after voting and splits the election it just voted in (measured:
    ~40% of failovers needed a second election). Called on the tick thread, from
    the transport, as the vote is sent. Reaches into pysyncobj's private state.
    """
    sync._SyncObj__raftElectionDeadline = (
        pysyncobj_clock() + sync._SyncObj__generateRaftTimeout())


def _resolve(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)
