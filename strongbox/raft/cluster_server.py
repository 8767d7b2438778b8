"""The cluster port's gRPC server: Raft streams in, forwarded requests in.

`ClusterServer` binds `cluster.address` with mutual TLS (client certificates
required, signed by the cluster CA). `Raft` streams are accepted only from
peers the transport knows (by certificate CN); `Forward` calls are handed to
`forward_handler`, which the API layer installs once the HTTP app exists.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from strongbox.pb import cluster_pb2 as pb
from strongbox.pb import cluster_pb2_grpc as pb_grpc
from strongbox.raft import codec
from strongbox.raft.cluster_tls import SERVER_OPTIONS, ClusterTls, peer_id
from strongbox.raft.transport_grpc import GrpcTransport

log = logging.getLogger("strongbox.raft.server")
WORKERS = 32
MAX_CONCURRENT_FORWARDS = 12  # the rest of the workers stay free for Raft, Hello and Join
MAX_CONCURRENT_WAITS = 4      # WaitApplied calls parked at once (revocations are rare)
MAX_WAIT_MS = 10_000
ForwardHandler = Callable[[pb.HttpRequest, str, Any], pb.HttpResponse]
JoinHandler = Callable[[str, str], list[str]]  # (node id, address) -> members; raises


class NotLeaderError(Exception):
    """Join reached a node that is not the leader; the message names the leader it knows."""


class _Servicer(pb_grpc.ClusterServicer):
    def __init__(self, owner: ClusterServer) -> None:
        self.owner = owner

    def Raft(self, request_iterator: Iterator[pb.RaftFrame],
             context: grpc.ServicerContext) -> pb.RaftAck:
        peer = peer_id(context)
        transport = self.owner.transport
        if peer is None or transport is None or not transport.knows(peer):
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"{peer or 'a client without a certificate CN'} is not a member")
        for frame in request_iterator:
            try:
                transport.receive(peer, frame.payload)
            except codec.CodecError as exc:
                log.warning("dropping the raft stream from %s: %s", peer, exc)
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "undecodable raft frame")
        return pb.RaftAck()

    def Forward(self, request: pb.HttpRequest,
                context: grpc.ServicerContext) -> pb.HttpResponse:
        peer = peer_id(context)
        handler = self.owner.forward_handler
        transport = self.owner.transport
        if peer is None or transport is None or not transport.knows(peer):
            context.abort(grpc.StatusCode.PERMISSION_DENIED,
                          f"{peer or 'a client without a certificate CN'} is not a member")
        if not self.owner.forward_slots.acquire(blocking=False):
            # Forwards share the worker threads with Raft streams: never let them take all.
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many forwarded requests")
        try:
            return self._forward(request, context, peer, handler)
        finally:
            self.owner.forward_slots.release()

    def _forward(self, request: pb.HttpRequest, context: grpc.ServicerContext, peer: str,
                 handler: ForwardHandler | None) -> pb.HttpResponse:
        if handler is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "this node cannot serve forwarded "
                          "requests yet")
        return handler(request, peer, context.invocation_metadata())

    def WaitApplied(self, request: pb.WaitAppliedRequest,
                    context: grpc.ServicerContext) -> pb.WaitAppliedResponse:
        peer = peer_id(context)
        transport = self.owner.transport
        applied = self.owner.applied_index
        if peer is None or transport is None or not transport.knows(peer) or applied is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "not a member, or not ready")
        if not self.owner.wait_slots.acquire(blocking=False):
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many waits")
        try:
            deadline = time.monotonic() + min(request.timeout_ms, MAX_WAIT_MS) / 1000
            while (index := applied()) < request.index and time.monotonic() < deadline \
                    and context.is_active():
                time.sleep(0.002)
            return pb.WaitAppliedResponse(applied_index=index)
        finally:
            self.owner.wait_slots.release()

    def Hello(self, request: pb.HelloRequest,
              context: grpc.ServicerContext) -> pb.HelloResponse:
        peer = peer_id(context)
        transport = self.owner.transport
        return pb.HelloResponse(member=bool(peer and transport and transport.knows(peer)),
                                api_addr=self.owner.api_addr)

    def Join(self, request: pb.JoinRequest, context: grpc.ServicerContext) -> pb.JoinResponse:
        peer = peer_id(context)
        handler = self.owner.join_handler
        if peer is None or handler is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "this node cannot add members yet")
        address = request.address
        if ":" not in address or not address.rsplit(":", 1)[1].isdigit():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "address must be host:port")
        try:
            members = handler(peer, address)
        except NotLeaderError as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except TimeoutError:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the membership change did not commit")
        log.info("added %s at %s to the cluster", peer, address)
        return pb.JoinResponse(members=members)


class ClusterServer:
    def __init__(self, address: str, tls: ClusterTls, api_addr: str = "",
                 credentials: grpc.ServerCredentials | None = None) -> None:
        self.address = address
        self.api_addr = api_addr
        self.transport: GrpcTransport | None = None
        self.forward_handler: ForwardHandler | None = None
        self.join_handler: JoinHandler | None = None
        self.forward_slots = threading.BoundedSemaphore(MAX_CONCURRENT_FORWARDS)
        self.wait_slots = threading.BoundedSemaphore(MAX_CONCURRENT_WAITS)
        self.applied_index: Callable[[], int] | None = None  # set by the node once it has a store
        self._server = grpc.server(ThreadPoolExecutor(max_workers=WORKERS,
                                                      thread_name_prefix="cluster-rpc"),
                                   options=SERVER_OPTIONS)
        pb_grpc.add_ClusterServicer_to_server(_Servicer(self), self._server)  # type: ignore[no-untyped-call]
        # tlsreload: `credentials` are the reloadable ones; the fixed ones otherwise
        port = self._server.add_secure_port(address, credentials or tls.server_credentials())
        if port == 0:
            raise OSError(f"cannot bind the cluster port {address}")

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(grace=0.5).wait()
