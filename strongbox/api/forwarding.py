"""Read consistency and forwarding to the leader (docs/api.md "Consistency and idempotency").

- `X-Vault-Index` (one or more, comma separated): the node waits up to
  `cluster.index_wait_s` for its applied index to reach the highest one of
  this cluster; then, with `X-Vault-Inconsistent: forward-active-node`, it
  forwards to the leader, otherwise it answers 412.
- `X-Vault-Forward: active-node`: forward to the leader.
- `X-Strongbox-Consistency: consistent`: a no-op committed through Raft, then
  a local read: linearizable.
- Default reads on a follower are refused (503) after `cluster.max_staleness_s`
  without hearing from a leader, instead of serving stale data silently.

Forwarding replays the request on the leader over the cluster's mTLS gRPC link
(`Cluster.Forward`); the leader runs it through its own full pipeline (token,
policy, audit) and the answer is relayed unchanged. A forwarded request is
never forwarded again.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import grpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Tracer

from strongbox.backend.request import CLIENT_CERT, Request
from strongbox.backend.response import Response
from strongbox.core import Core, WriteOrigin
from strongbox.errors import (
    BadGateway,
    BadRequest,
    InsufficientStorage,
    NoLeader,
    PreconditionFailed,
    RateLimited,
)
from strongbox.obs import extract_metadata, inject_metadata
from strongbox.pb import cluster_pb2 as pb
from strongbox.pb import commands_pb2 as cmd_pb

FORWARDED_BY = "x-strongbox-forwarded-by"
FORWARD_TIMEOUT_S = 30.0


def required_index(core: Core, request: Request) -> int:
    """The highest X-Vault-Index of this cluster the client sent (0 if none)."""
    raw = request.headers.get("x-vault-index", "")
    if not raw:
        return 0
    cluster = core.cluster()
    best = 0
    for token in raw.split(","):
        try:
            cluster_id, _, index = base64.b64decode(token.strip(), validate=True) \
                .decode().rpartition(":")
            value = int(index)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadRequest("X-Vault-Index must be a value returned by a write") from None
        if cluster is None or cluster_id == cluster.cluster_id:
            best = max(best, value)
    return best


async def wait_for_index(core: Core, index: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while core.store.applied_index() < index:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.005)
    return True


async def consistent_barrier(core: Core, origin: WriteOrigin | None = None) -> None:
    """Commit a no-op through Raft; once applied here, local reads are linearizable."""
    await core.submit(cmd_pb.Command(noop=cmd_pb.Noop()), origin=origin)


def check_staleness(core: Core, max_staleness_s: float) -> None:
    contact = core.log.leader_contact_ms()  # 0 on the leader
    if 0 <= contact <= max_staleness_s * 1000:
        return
    raise NoLeader(f"this node has not heard from a leader for over {max_staleness_s:g}s; its "
                   "data may be stale: retry on another node or send X-Vault-Forward: "
                   "active-node")


async def forward(core: Core, request: Request, raw_path: str) -> Response:
    """Replay `request` on the leader; its answer is ours.

    While the call is in flight the follower watches whom it follows. If the leader
    changes (it stopped answering and the cluster elected another, or this node lost
    track of it) the call is abandoned: a read, or a write carrying an
    Idempotency-Key, is sent again to the new leader once one is known (at most
    `REROUTES` times); any other write answers 503 with Retry-After at once, since it
    may or may not have been applied.
    """
    if FORWARDED_BY in request.headers:
        raise NoLeader("the request was forwarded here but this node is no longer the "
                       "leader; retry")
    if core.log.disk_full() and request.method not in READS:
        raise InsufficientStorage()
    message = pb.HttpRequest(
        method=request.method, path=raw_path, query=request.query_string,
        headers=[pb.Header(name=k, value=v) for k, v in request.headers.items()
                 if k not in ("host", "content-length", "connection")],
        body=request.body, remote_addr=request.remote_addr, request_id=request.request_id,
        client_cert=request.client_cert)
    if isinstance(core.log, LocalForwarder):  # a read worker: its main process serves it
        proxied = await core.log.proxy(message)
        return Response(proxied.status, proxied.body,
                        [(h.name.encode(), h.value.encode()) for h in proxied.headers
                         if h.name not in ("content-length", "x-request-id")])
    retry_safe = request.method in READS or "idempotency-key" in request.headers
    for attempt in range(REROUTES + 1):
        leader = core.log.leader_id()
        stub = core.log.leader_stub()
        if stub is None:
            if attempt and leader is not None and not core.log.is_leader():
                await _await_new_leader(core, None)
                continue
            raise NoLeader("there is no leader to forward the request to; retry shortly")
        answer = await _watched_call(core, stub, message, leader, retry_safe)
        if answer is not None:
            return Response(answer.status, answer.body,
                            [(h.name.encode(), h.value.encode()) for h in answer.headers
                             if h.name not in ("content-length", "x-request-id")])
        if not retry_safe:
            raise NoLeader("the leader changed while this write was forwarded to it; its "
                           "outcome is unknown: retry it (send an Idempotency-Key to make "
                           "retries safe)")
        await _await_new_leader(core, leader)
    raise NoLeader("the leadership kept changing while the request was forwarded; retry")


@runtime_checkable
class LocalForwarder(Protocol):
    """A command log that hands requests to another process of this node (a read
    worker's, strongbox/workers/) instead of to the leader."""

    async def proxy(self, message: pb.HttpRequest) -> pb.HttpResponse: ...


READS = ("GET", "HEAD", "LIST")
REROUTES = 2
LEADER_WAIT_S = 3.0   # about two election timeouts (raft/node.py CLUSTER_TIMING)


async def _await_new_leader(core: Core, old: str | None) -> None:
    deadline = time.monotonic() + LEADER_WAIT_S
    while core.log.leader_id() in (None, old):
        if time.monotonic() >= deadline:
            raise NoLeader("the leader stopped answering and no new one was elected in "
                           "time; retry shortly")
        await asyncio.sleep(0.02)


async def _watched_call(core: Core, stub: Any, message: pb.HttpRequest,
                        leader: str | None, retry_safe: bool) -> pb.HttpResponse | None:
    """The Forward RPC; None if the leader changed before it answered (call cancelled)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[pb.HttpResponse] = loop.create_future()
    call = stub.Forward.future(message, timeout=FORWARD_TIMEOUT_S, metadata=inject_metadata())
    call.add_done_callback(lambda result: loop.call_soon_threadsafe(_settle, done, result))
    try:
        while True:
            finished, _ = await asyncio.wait({done}, timeout=0.02)
            if finished:
                break
            if core.log.leader_id() != leader:
                call.cancel()
                return None
        return done.result()
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
            raise RateLimited("the leader is busy with forwarded requests; retry after the "
                              "Retry-After delay", retry_after=1) from None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise NoLeader("the leader did not answer in time; if this was a write, its "
                           "outcome is unknown: retry with the same Idempotency-Key") from None
        if code == grpc.StatusCode.CANCELLED and core.log.leader_id() != leader:
            return None
        if code == grpc.StatusCode.UNAVAILABLE:
            if retry_safe:
                return None  # a killed leader: wait for the next one and send it there
            raise NoLeader("the leader cannot be reached; if this was a write, its outcome "
                           "is unknown: retry it (an Idempotency-Key makes retries safe)") \
                from None
        raise BadGateway(f"forwarding to the leader failed ({code.name}); retry") from None


def _settle(done: asyncio.Future[pb.HttpResponse], call: Any) -> None:
    if done.done():
        return
    if call.cancelled():  # we gave up on it (the leader changed): nobody reads `done`
        done.cancel()
        return
    try:
        done.set_result(call.result())
    except grpc.RpcError as exc:
        done.set_exception(exc)


AsgiApp = Callable[[dict[str, Any], Any, Any], Any]


def make_forward_handler(app: AsgiApp, loop: asyncio.AbstractEventLoop, tracer: Tracer,
                         ) -> Callable[[pb.HttpRequest, str, Any], pb.HttpResponse]:
    """The leader's side: run a forwarded request through the local app (gRPC thread)."""

    def handle(request: pb.HttpRequest, peer: str, metadata: Any) -> pb.HttpResponse:
        parent = extract_metadata(metadata or [])
        future = asyncio.run_coroutine_threadsafe(
            _traced(app, request, peer, tracer, parent), loop)
        return future.result(FORWARD_TIMEOUT_S)

    return handle


async def _traced(app: AsgiApp, request: pb.HttpRequest, peer: str, tracer: Tracer,
                  parent: Context) -> pb.HttpResponse:
    with tracer.start_as_current_span("Cluster/Forward", context=parent,
                                      kind=trace.SpanKind.SERVER,
                                      attributes={"strongbox.forwarded_by": peer}):
        return await _run(app, request, peer)


async def run_local(app: AsgiApp, request: pb.HttpRequest) -> pb.HttpResponse:
    """Serve a request a read worker of this node handed over (strongbox/workers/), as if
    the client had sent it here: no forwarding marker, so it may still go to the leader."""
    return await _run(app, request, "")


async def _run(app: AsgiApp, request: pb.HttpRequest, peer: str) -> pb.HttpResponse:
    headers = [(h.name.encode("latin-1"), h.value.encode("latin-1")) for h in request.headers]
    if peer:
        headers.append((FORWARDED_BY.encode(), peer.encode()))
    scope = {"type": "http", "method": request.method, "path": request.path,
             "query_string": request.query.encode("latin-1"), "headers": headers,
             "client": (request.remote_addr, 0), "http_version": "1.1", "scheme": "https",
             # one request id on both nodes (logs, audit); a scope key, so no client can set it
             "strongbox.request_id": request.request_id,
             # the certificate the member's listener verified (the gRPC peer is a member)
             CLIENT_CERT: request.client_cert}
    sent = False
    out = pb.HttpResponse()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": request.body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out.status = message["status"]
            out.headers.extend(pb.Header(name=k.decode("latin-1"), value=v.decode("latin-1"))
                               for k, v in message["headers"])
        elif message["type"] == "http.response.body":
            out.body += message.get("body", b"")

    await app(scope, receive, send)
    return out


def precondition_failed(index: int, applied: int) -> PreconditionFailed:
    return PreconditionFailed(f"this node has applied index {applied}, older than the "
                              f"X-Vault-Index {index} you sent; retry, or send "
                              "X-Vault-Inconsistent: forward-active-node")
