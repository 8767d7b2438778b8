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
- every write-path failure takes one route: an OSError from the journal (log,
  fsync, meta), or an exception from applying a committed entry (LMDB's commit,
  a full LMDB map), stops the process with exit code 70 (`fatal`); before the
  disk is actually full, `DiskGuard` pauses Raft instead and the node refuses
  writes with 507 until space returns (raft/diskguard.py);
- a follower truncates its log only from the first conflicting entry
  (raft/appendfix.py), and a node asks for a pre-vote before it stands for
  election (raft/election.py);
- a leader that loses its leadership (check-quorum: no majority heard for
  `leaderFallbackTimeout`, or a higher term) fails the proposals it was still
  waiting on at once, with "outcome unknown", instead of leaving them to time
  out; a proposal made while no leader is known waits at most about one
  election timeout for one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import grpc
import pysyncobj.syncobj as pso
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON
from pysyncobj.journal import Journal
from pysyncobj.monotonic import monotonic as pysyncobj_clock
from pysyncobj.node import Node
from pysyncobj.pipe_notifier import PipeNotifier

from strongbox.errors import InsufficientStorage, NoLeader
from strongbox.pb import cluster_pb2
from strongbox.pb import records_pb2 as rec
from strongbox.raft.appendfix import rewrite_append
from strongbox.raft.batching import BatchFn, Replicator, apply_committed
from strongbox.raft.cluster_tls import ClusterTls
from strongbox.raft.diskguard import DiskGuard
from strongbox.raft.election import PreVote
from strongbox.raft.journal import DurableJournal
from strongbox.raft.log import ApplyFn, PeerStatus, RaftStatus
from strongbox.raft.transport_grpc import FaultSwitch, GrpcTransport
from strongbox.raft.transport_local import LocalTransport
from strongbox.raft.waiters import Pending, resolve, settle

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
                 apply: ApplyFn, batch: BatchFn, transport_class: Any,
                 fatal: Callable[[str], NoReturn]) -> None:
        # Attributes set before SyncObj.__init__ are excluded from its own dumps.
        self._sb_apply = apply
        self._sb_batch = batch
        self._sb_fatal = fatal
        super().__init__(self_node, other_nodes, conf, transportClass=transport_class)

    def _SyncObj__applyLogEntries(self) -> bool:  # overrides pysyncobj's own loop
        # Group commit (raft/batching.py): one store batch per tick, answers after it.
        try:
            return apply_committed(self, self._sb_batch)
        except Exception as exc:  # the batch's commit failed (disk, full map)
            self._sb_fatal(f"committing applied raft entries failed ({type(exc).__name__}: "
                           f"{str(exc)[:200]})")

    @replicated  # type: ignore[untyped-decorator]
    def apply_command(self, data: bytes) -> rec.ApplyResult:
        # pysyncobj applies entries in order and bumps raftLastApplied after each.
        index = self.raftLastApplied + 1
        try:
            return self._sb_apply(index, data)
        except Exception as exc:
            # state.apply answers every command it cannot apply with INVALID; what gets
            # here is the environment (LMDB's commit failed, the map is full). Retrying
            # inside pysyncobj would wedge the node with the entry's waiter lost.
            self._sb_fatal(f"applying raft entry {index} failed ({type(exc).__name__}: "
                           f"{str(exc)[:200]})")


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
    serialize_checker: Callable[[], int] | None = None      # an asynchronous serializer's
    before_close: Callable[[], None] | None = None          # e.g. wait for that serializer
    fault_file: Path | None = None
    on_fsync: Callable[[float], None] | None = None         # seconds per journal fsync
    on_leader_change: Callable[[str | None], None] | None = None
    min_free_bytes: int = 64 * 2**20                        # DiskGuard; 0 turns it off
    on_disk_full: Callable[[bool], None] | None = None
    fatal: Callable[[str], NoReturn] | None = None          # default: log, exit code 70


def snapshot_path(data_dir: Path) -> Path:
    """Where pysyncobj keeps a node's snapshot (next to the journal, which fsyncs the dir)."""
    return Path(data_dir) / "raft" / "snapshot.bin"


EXIT_IO_FAILURE = 70  # EX_SOFTWARE: what supervisors and docs/operations.md expect


def exit_on_failure(reason: str) -> NoReturn:
    """The one route for a failed write-path operation: log and stop at once."""
    log.critical("%s; stopping (exit code %d) so that nothing unsynced is ever "
                 "acknowledged. Check the disk (space, errors), then restart the node.",
                 reason, EXIT_IO_FAILURE)
    logging.shutdown()
    os._exit(EXIT_IO_FAILURE)


# Timing (docs/cluster.md explains the choice): heartbeats every 100 ms; a
# pre-vote after 0.7-1.3 s without one (ticks every 20 ms, so timers are sharp
# enough to keep split votes rare); a leader that has not heard from a majority
# for 0.6 s steps down - before any follower can grant a pre-vote (0.7 s), so
# two nodes never both act as leader - and a partitioned leader stops
# acknowledging writes quickly; connection loss is declared after 3.5 s.
CLUSTER_TIMING = {"appendEntriesPeriod": 0.1, "raftMinTimeout": 0.7, "raftMaxTimeout": 1.3,
                  "leaderFallbackTimeout": 0.6, "connectionTimeout": 3.5}
CLUSTER_TICK_S = 0.02
SINGLE_TIMING = {"appendEntriesPeriod": 0.05, "raftMinTimeout": 0.3, "raftMaxTimeout": 0.6,
                 "connectionTimeout": 3.5}


class RaftLog:
    def __init__(self, settings: RaftSettings, apply: ApplyFn,
                 batch: BatchFn = contextlib.nullcontext) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        raft_dir = Path(settings.data_dir) / "raft"
        self.fatal: Callable[[str], NoReturn] = settings.fatal or exit_on_failure
        self.faults = FaultSwitch(settings.fault_file) if settings.fault_file else None
        self.journal = DurableJournal(raft_dir, on_fsync=settings.on_fsync,
                                      on_failure=self._journal_failed,
                                      before_fsync=self._slow_disk if self.faults else None)
        self.disk = DiskGuard(Path(settings.data_dir), settings.min_free_bytes,
                              on_change=settings.on_disk_full)
        self._tick_tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._leader: str | None = None
        self._pending = Pending()
        self._leader_term: int | None = None   # the term this node leads in, while it does
        self._destroying = False
        self.election: PreVote | None = None
        clustered = settings.address is not None
        timing = CLUSTER_TIMING if clustered else SINGLE_TIMING
        self._election_timeout_s = timing["raftMaxTimeout"]
        conf = SyncObjConf(
            journalFile=self.journal,
            autoTick=True,
            autoTickPeriod=CLUSTER_TICK_S if clustered else 0.05,
            appendEntriesUseBatch=True,  # batching.Replicator sends once per tick instead
            appendEntriesBatchSizeBytes=4 * 1024 * 1024,  # never pysyncobj's pickled "transmission"
            commandsWaitLeader=True,
            logCompactionMinEntries=settings.snapshot_threshold if settings.serializer else 2**62,
            logCompactionMinTime=3600 if settings.serializer else 2**40,
            fullDumpFile=str(snapshot_path(settings.data_dir)) if settings.serializer else None,
            serializer=settings.serializer, deserializer=settings.deserializer,
            serializeChecker=settings.serialize_checker,
            useFork=False,
            dynamicMembershipChange=clustered,
            **timing,
        )
        self_node = Node(settings.node_id, address=settings.address)
        others = [Node(node_id, address=addr) for node_id, addr in settings.peers.items()]
        self.transport: GrpcTransport | None = None
        self._sync = _StateMachine(self_node, others, conf, apply, batch,
                                   self._transport_factory, self.fatal)
        self.replicator = Replicator(self._sync)
        self._wake = PipeNotifier(self._sync._poller)
        self._sync.addOnTickCallback(self._on_tick)

    def _transport_factory(self, sync: Any, self_node: Node, other_nodes: Any) -> Any:
        settings = self.settings
        if settings.address is None or settings.tls is None:
            return LocalTransport(sync, self_node, other_nodes)
        transport = GrpcTransport(sync, self_node, other_nodes, tls=settings.tls,
                                  before_ack=self._sync_journal, faults=self.faults)
        transport.on_vote_granted = lambda: _restart_election_timer(sync)
        transport.deliver = self._deliver
        self.transport = transport
        self.election = PreVote(sync, transport.send,
                                min_timeout=CLUSTER_TIMING["raftMinTimeout"],
                                max_timeout=CLUSTER_TIMING["raftMaxTimeout"],
                                last_leader_contact=lambda: transport.last_leader_contact)
        return transport

    def _deliver(self, node: Node, message: dict[str, Any],
                 handle: Callable[[Node, dict[str, Any]], None]) -> None:
        """Tick thread: our messages to PreVote, appends through the §5.3 fix, the rest as is."""
        if self.election is not None and self.election.on_message(node, message):
            return
        if message.get("type") == "append_entries" and \
                message.get("term", 0) >= self._sync.raftCurrentTerm:
            hide_after = rewrite_append(self.journal, message)
            if hide_after is not None:
                with self.journal.hide_after(hide_after):
                    handle(node, message)
                return
        handle(node, message)

    def _journal_failed(self, exc: OSError) -> NoReturn:
        self.fatal(f"raft journal I/O failed ({exc.strerror or exc})")

    def _slow_disk(self) -> None:
        assert self.faults is not None
        delay_ms = self.faults.number("fsync_delay_ms")
        if delay_ms > 0:
            time.sleep(min(delay_ms, 10_000) / 1000)

    def _on_tick(self) -> None:
        while True:  # work handed over by other threads (pysyncobj state is ours alone)
            try:
                task = self._tick_tasks.get_nowait()
            except queue.Empty:
                break
            task()
        self.replicator.after_tick()  # followers append (and fsync) while we fsync
        self._sync_journal()
        if not self.disk.check():
            # Nothing proposed here can commit while Raft is paused: answer it now (507).
            self._pending.fail_all(InsufficientStorage(
                "this node ran low on disk space while the write was in flight; its outcome "
                "is unknown: retry with the same Idempotency-Key on another node"))
            self.disk.wait_for_space(stop=lambda: self._destroying)
        self._track_leadership()
        if self.election is not None:
            self.election.on_tick()
        leader = self._sync._getLeader()
        leader_id = None if leader is None else str(leader.id)
        if leader_id != self._leader:
            if leader_id is None and self._leader_term is None:
                self._fail_forwarded()
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
        except OSError as exc:
            self._journal_failed(exc)
        self._wake.notify()  # commit and apply on the next tick, not after a poll timeout

    async def propose(self, data: bytes, timeout: float) -> rec.ApplyResult:
        if self.disk.full:
            raise InsufficientStorage()
        if self._sync._getLeader() is None:
            await self._await_leader(min(timeout, self._election_timeout_s + 0.5))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[rec.ApplyResult] = loop.create_future()

        def done(result: rec.ApplyResult | None, error: int) -> None:
            loop.call_soon_threadsafe(settle, future, result, error)

        # Proposed as leader: if this node stops leading before the entry commits, the
        # tick thread fails it at once (_track_leadership) rather than at `timeout`.
        self._pending.add(loop, future)
        self._sync.apply_command(data, callback=done)
        self._wake.notify()  # an idle tick thread sends it at once (adaptive batching)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise NoLeader("the write was not committed in time; its outcome is unknown: "
                           "retry with the same Idempotency-Key") from None
        finally:
            self._pending.discard(future)

    async def _await_leader(self, wait_s: float) -> None:
        """No leader known: wait about one election for one, then give up (fail fast)."""
        deadline = time.monotonic() + wait_s
        while self._sync._getLeader() is None:
            if time.monotonic() >= deadline:
                raise NoLeader("no leader is elected (a majority of the cluster may be down or "
                               "cut off); the write was not made: retry shortly")
            await asyncio.sleep(0.02)

    def _fail_forwarded(self) -> None:
        """Tick thread: a follower lost its leader; what it proposed may or may not commit.

        pysyncobj fails the proposals still waiting for the leader's reply
        (LEADER_CHANGED), but not those the leader had already taken, which wait for
        the commit index; they would hang until `write_timeout_s`. Answer them now.
        """
        self._fail_pending("lost contact with the leader while the write was in flight",
                           "the leader")

    def _fail_pending(self, why: str, lost: str) -> None:
        """Answer every write this node is waiting on with 503 (outcome unknown)."""
        failed = self._pending.fail_all(NoLeader(
            f"this node {why}; its outcome is unknown: retry with the same Idempotency-Key"))
        if failed:
            log.warning("lost %s with %d writes in flight; answered them with 503 (outcome "
                        "unknown)", lost, failed)

    def _track_leadership(self) -> None:
        """Tick thread: when this node stops leading, fail what it was still waiting on."""
        sync = self._sync
        leading = bool(sync._isLeader())
        term = int(sync.raftCurrentTerm)
        if leading and self._leader_term is None:
            self._leader_term = term
            return
        if self._leader_term is not None and (not leading or term != self._leader_term):
            self._leader_term = term if leading else None
            self._fail_pending("lost its leadership before the write committed",
                               "the leadership")

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
        contact_ms = self.leader_contact_ms()
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

    async def wait_applied_quorum(self, index: int, timeout: float) -> bool:
        """True once a majority, this node included, has applied `index` (WaitApplied RPC)."""
        deadline = time.monotonic() + timeout
        while self._sync.raftLastApplied < index:  # the leader applies before it answers
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.002)
        transport = self.transport
        peers = [] if transport is None else [
            stub for node in list(self._sync.otherNodes)
            if (stub := transport.stub_for(str(node.id))) is not None]
        needed = (len(self._sync.otherNodes) + 1) // 2   # peers, besides us, for a majority
        if needed == 0:
            return True
        remaining_ms = max(1, int((deadline - time.monotonic()) * 1000))
        request = cluster_pb2.WaitAppliedRequest(index=index, timeout_ms=remaining_ms)
        calls = [asyncio.wrap_future(_as_future(stub.WaitApplied.future(
            request, timeout=remaining_ms / 1000 + 1.0))) for stub in peers]
        confirmed = 0
        try:
            for next_done in asyncio.as_completed(calls, timeout=remaining_ms / 1000 + 1.0):
                try:
                    answer = await next_done
                except grpc.RpcError:
                    continue
                if answer.applied_index >= index:
                    confirmed += 1
                    if confirmed >= needed:
                        return True
        except TimeoutError:
            return False
        finally:
            for call in calls:
                call.cancel()
        return False

    async def _membership(self, call: Callable[..., None], node: Node, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[rec.ApplyResult] = loop.create_future()

        def done(result: Any, error: int) -> None:
            loop.call_soon_threadsafe(settle, future, rec.ApplyResult(), error)

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

    def leader_id(self) -> str | None:
        leader = self._sync._getLeader()
        return None if leader is None else str(leader.id)

    def leader_contact_ms(self) -> int:
        transport = self.transport
        if transport is None or self._sync._isLeader():
            return 0
        if not transport.last_leader_contact:
            return -1
        return int((time.monotonic() - transport.last_leader_contact) * 1000)

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
            loop.call_soon_threadsafe(resolve, future, error)

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

    def disk_full(self) -> bool:
        return self.disk.full

    def close(self) -> None:
        self._destroying = True
        self._sync.destroy_synchronous()  # the tick thread syncs and closes the journal
        if self.settings.before_close is not None:
            self.settings.before_close()


def _as_future(call: Any) -> concurrent.futures.Future[Any]:
    """A grpc future as a concurrent.futures one (asyncio can wrap that)."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def done(finished: Any) -> None:
        if future.cancelled():
            return
        try:
            future.set_result(finished.result())
        except grpc.RpcError as exc:
            future.set_exception(exc)
        except grpc.FutureCancelledError:
            future.cancel()

    call.add_done_callback(done)
    return future


def _restart_election_timer(sync: Any) -> None:
    """Raft §5.2: a follower that grants a vote restarts its election timer.

    pysyncobj 0.3.17 does not, so a voter whose timer was about to fire becomes a
    candidate right after voting and splits the election it just voted in (measured:
    ~40% of failovers needed a second election). Called on the tick thread, from
    the transport, as the vote is sent. Reaches into pysyncobj's private state.
    """
    sync._SyncObj__raftElectionDeadline = (
        pysyncobj_clock() + sync._SyncObj__generateRaftTimeout())
