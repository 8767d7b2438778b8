"""pysyncobj Transport over mutual-TLS gRPC (the cluster port).

Threads and queues (docs/design.md §1, §4):
- pysyncobj's tick thread calls `send()`; each peer has a `PeerLink` with a
  bounded outbound queue drained by its own thread into one client-streaming
  `Cluster.Raft` call, so messages to a peer stay ordered. A full queue drops
  the message (Raft retransmits), it never grows without bound.
- gRPC server threads call `receive()` with frames from a peer whose id is the
  CN of its client certificate. Frames are decoded by `codec` (no pickle, size
  limits) and put on a bounded inbound queue; a pipe wakes the tick thread,
  which alone hands messages to pysyncobj (`_drain`).
- Before a message that acknowledges entries or a vote leaves this node, the
  `before_ack` hook (the journal's fsync) runs, so nothing is acknowledged to a
  peer that a crash could lose. Acks made while the inbound queue is drained
  wait for one fsync at its end (`batching.AckBatcher`).

`FaultSwitch` is a test hook: with `cluster.fault_injection = true` the node
reads `<data_dir>/faults.json` (`{"blocked": ["node-2"]}`) and behaves as if
the network to those peers were cut, both directions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
from pysyncobj.node import Node
from pysyncobj.pipe_notifier import PipeNotifier
from pysyncobj.transport import Transport

from strongbox.pb import cluster_pb2 as pb
from strongbox.pb import cluster_pb2_grpc as pb_grpc
from strongbox.raft import codec
from strongbox.raft.batching import AckBatcher
from strongbox.raft.cluster_tls import CHANNEL_OPTIONS, ClusterTls

log = logging.getLogger("strongbox.raft.transport")
OUTBOUND_LIMIT = 4096
INBOUND_LIMIT = 16384
ACK_TYPES = frozenset({"next_node_idx", "response_vote"})


class FaultSwitch:
    """Reads the test faults from a JSON file, at most every 100 ms.

    Keys: "blocked" (peer ids cut off, both directions) and "fsync_delay_ms"
    (the journal sleeps that long before each fsync: a slow disk).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._faults: dict[str, Any] = {}
        self._blocked: frozenset[str] = frozenset()
        self._checked = 0.0

    def _read(self) -> None:
        now = time.monotonic()
        if now - self._checked <= 0.1:
            return
        self._checked = now
        try:
            faults = json.loads(self.path.read_text())
            self._faults = faults if isinstance(faults, dict) else {}
            self._blocked = frozenset(self._faults.get("blocked", []))
        except (OSError, ValueError, TypeError):
            self._faults, self._blocked = {}, frozenset()

    def blocked(self) -> frozenset[str]:
        self._read()
        return self._blocked

    def number(self, key: str) -> float:
        """A numeric fault (0 when absent or not a number)."""
        self._read()
        value = self._faults.get(key, 0)
        return float(value) if isinstance(value, int | float) else 0.0


class PeerLink:
    """The ordered outbound stream to one peer."""

    def __init__(self, node_id: str, address: str, tls: ClusterTls,
                 on_state: Callable[[], None]) -> None:
        self.node_id = node_id
        self.ready = False
        self.member = False  # the peer said it counts us as a member (Hello)
        self.api_addr = ""   # the peer's HTTP API address, from Hello
        self._closed = threading.Event()
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=OUTBOUND_LIMIT)
        self._on_state = on_state
        self.channel = grpc.secure_channel(
            address, tls.channel_credentials(),
            options=[*CHANNEL_OPTIONS, ("grpc.ssl_target_name_override", node_id)])
        self.channel.subscribe(self._state_changed, try_to_connect=True)
        self.stub = pb_grpc.ClusterStub(self.channel)  # type: ignore[no-untyped-call]
        self._thread = threading.Thread(target=self._run, name=f"raft-send-{node_id}",
                                        daemon=True)
        self._thread.start()

    def _state_changed(self, state: grpc.ChannelConnectivity) -> None:
        self.ready = state == grpc.ChannelConnectivity.READY
        self._on_state()

    def enqueue(self, payload: bytes) -> bool:
        try:
            self._queue.put_nowait(payload)
            return True
        except queue.Full:
            return False

    def _frames(self) -> Iterator[pb.RaftFrame]:
        while not self._closed.is_set():
            try:
                payload = self._queue.get(timeout=0.25)
            except queue.Empty:
                continue
            yield pb.RaftFrame(payload=payload)

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                hello = self.stub.Hello(pb.HelloRequest(), timeout=2.0)
                self.member, self.api_addr = hello.member, hello.api_addr
                self._on_state()
                if not self.member:  # we are not (yet) in its configuration
                    self._closed.wait(0.5)
                    continue
                self.stub.Raft(self._frames())
            except grpc.RpcError as exc:
                self.member = False
                self._on_state()
                if not self._closed.is_set():
                    log.debug("raft stream to %s ended: %s", self.node_id, exc.code())
            self._closed.wait(0.2)

    def close(self) -> None:
        self._closed.set()
        self.channel.close()


class GrpcTransport(Transport):  # type: ignore[misc]
    def __init__(self, sync: Any, self_node: Node, other_nodes: Any, *, tls: ClusterTls,
                 before_ack: Callable[[], None], faults: FaultSwitch | None = None) -> None:
        super().__init__(sync, self_node, other_nodes)
        self._sync = sync
        self._tls = tls
        self._acks = AckBatcher(before_ack, self._send_now)
        self._faults = faults
        self._nodes: dict[str, Node] = {node.id: node for node in other_nodes}
        self._links: dict[str, PeerLink] = {}
        self._connected: set[str] = set()
        self._inbound: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(INBOUND_LIMIT)
        self._notifier: PipeNotifier | None = None
        self._ready = False
        self.last_leader_contact = 0.0
        self.dropped_frames = 0
        self.on_vote_granted: Callable[[], None] | None = None
        # (node, message, pysyncobj's handler): RaftLog's filter in front of pysyncobj
        self.deliver: Callable[[Node, dict[str, Any],
                                Callable[[Node, dict[str, Any]], None]], None] | None = None
        self._relink = False  # tlsreload: set by replace_tls, acted on by the tick thread

    # --- pysyncobj's side (tick thread) ---------------------------------------

    @property
    def ready(self) -> bool:
        return self._ready

    def tryGetReady(self) -> None:
        if self._ready:
            return
        self._notifier = PipeNotifier(self._sync._poller, callback=self._drain)
        for node in list(self._nodes.values()):
            self._start_link(node)
        self._ready = True

    def waitReady(self) -> None:
        pass

    def _start_link(self, node: Node) -> None:
        address = getattr(node, "address", None)
        if not address:
            log.error("peer %s has no cluster address; not connecting", node.id)
            return
        self._links[node.id] = PeerLink(node.id, address, self._tls, self._wake)

    def addNode(self, node: Node) -> None:
        self._nodes[node.id] = node
        if self._ready and node.id not in self._links:
            self._start_link(node)

    def dropNode(self, node: Node) -> None:
        self._nodes.pop(node.id, None)
        link = self._links.pop(node.id, None)
        if link is not None:
            link.close()
        self._connected.discard(node.id)

    def _blocked(self) -> frozenset[str]:
        return self._faults.blocked() if self._faults is not None else frozenset()

    def send(self, node: Node, message: dict[str, Any]) -> bool:
        if self._acks.offer(node, message, message.get("type") in ACK_TYPES):
            return True  # sent after the one fsync that ends this drain
        return self._send_now(node, message)

    def _send_now(self, node: Node, message: dict[str, Any]) -> bool:
        kind = message.get("type")
        if kind == "response_vote" and self.on_vote_granted is not None:
            self.on_vote_granted()
        link = self._links.get(node.id)
        if link is None or node.id in self._blocked():
            return False
        try:
            payload = codec.encode(message)
        except codec.CodecError:
            log.exception("cannot encode a raft message of type %r", message.get("type"))
            return False
        if not link.enqueue(payload):
            self.dropped_frames += 1
            return False
        return True

    def refresh(self) -> None:
        """Report connectivity changes to pysyncobj (tick thread; also after faults change)."""
        blocked = self._blocked()
        for node_id, node in list(self._nodes.items()):
            link = self._links.get(node_id)
            up = (link is not None and link.ready and link.member
                  and node_id not in blocked)
            if up and node_id not in self._connected:
                self._connected.add(node_id)
                self._onNodeConnected(node)
            elif not up and node_id in self._connected:
                self._connected.discard(node_id)
                self._onNodeDisconnected(node)

    def replace_tls(self, tls: ClusterTls) -> None:
        """New client certificate (tlsreload; any thread): the tick thread redials every peer."""
        self._tls = tls
        self._relink = True
        self._wake()

    def _drain(self) -> None:
        if self._relink:  # tlsreload: links are the tick thread's; Raft tolerates the lost frames
            self._relink = False
            for node_id in list(self._links):
                self._links.pop(node_id).close()
                self._start_link(self._nodes[node_id])
        self.refresh()
        self._acks.hold()
        try:
            self._deliver_inbound()
        finally:
            self._acks.release()

    def _deliver_inbound(self) -> None:
        while True:
            try:
                peer, message = self._inbound.get_nowait()
            except queue.Empty:
                return
            node = self._nodes.get(peer)
            if node is None:
                continue
            if message.get("type") == "append_entries":
                self.last_leader_contact = time.monotonic()
            try:
                if self.deliver is not None:
                    self.deliver(node, message, self._onMessageReceived)
                else:
                    self._onMessageReceived(node, message)
            except Exception:  # a malformed message from a peer must not stop the tick
                log.exception("pysyncobj failed on a %r message from %s",
                              message.get("type"), peer)

    def destroy(self) -> None:
        for link in self._links.values():
            link.close()
        self._links.clear()

    # --- gRPC's side (server threads) -----------------------------------------

    def knows(self, peer: str) -> bool:
        return peer in self._nodes and peer not in self._blocked()

    def api_addr_of(self, node_id: str) -> str:
        link = self._links.get(node_id)
        return "" if link is None else link.api_addr

    def stub_for(self, node_id: str) -> pb_grpc.ClusterStub | None:
        link = self._links.get(node_id)
        return None if link is None else link.stub

    def receive(self, peer: str, payload: bytes) -> None:
        """Decode a frame from `peer` (raises codec.CodecError) and queue it."""
        message = codec.decode(payload)
        if peer in self._blocked():
            return
        try:
            self._inbound.put_nowait((peer, message))
        except queue.Full:
            self.dropped_frames += 1
            return
        self._wake()

    def _wake(self) -> None:
        notifier = self._notifier
        if notifier is not None:
            # A full pipe means the tick thread already has plenty to wake up for.
            with contextlib.suppress(BlockingIOError):
                notifier.notify()
