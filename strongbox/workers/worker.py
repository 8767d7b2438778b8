"""A read-worker process: the API pipeline over a read-only store (see the package doc).

Started by the main process's `Supervisor` as
``python -m strongbox.workers.worker --index N --channel SOCK <server args>``; it binds
the API address with SO_REUSEPORT beside the main process. It loads the node's configuration as the
server did, opens the store as a reader, and serves until the channel to the main
process closes (the main process stopped: so does the worker) or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
import uvloop

from strongbox import tlsreload
from strongbox.api.app import StrongBoxApp
from strongbox.backend.request import CLIENT_CERT
from strongbox.config import NodeConfig, load_config
from strongbox.core import Core
from strongbox.errors import InsufficientStorage, NoLeader, ServiceUnavailable
from strongbox.obs import MetricsSnapshot
from strongbox.observability import NodeObservability
from strongbox.pb import cluster_pb2 as cluster_pb
from strongbox.pb import records_pb2 as rec
from strongbox.pb import workers_pb2 as wpb
from strongbox.raft.log import RaftStatus
from strongbox.server import api_uvicorn_config, listen_socket
from strongbox.state.store import Store
from strongbox.workers import wire

log = logging.getLogger("strongbox.workers")
CONNECT_FOR_S = 10.0


class WorkerLog:
    """The worker's CommandLog: proposals and handed-over requests go to the main process;
    what it knows of Raft is what the main process last pushed."""

    def __init__(self, channel: str, node_id: str, store: Store) -> None:
        self.channel = channel
        self.node_id = node_id
        self.store = store
        self.state = wpb.WorkerState(sealed=True)
        self.received_ns = time.monotonic_ns()

    async def propose(self, data: bytes, timeout: float) -> rec.ApplyResult:
        request = wpb.ProposeRequest(command=data, timeout_s=timeout)
        try:
            raw = await wire.call(self.channel, wire.PROPOSE, request.SerializeToString(),
                                  wire.PROPOSED, timeout + 1.0)
        except (OSError, TimeoutError, wire.FrameError, asyncio.IncompleteReadError):
            raise ServiceUnavailable("this node's main process did not take the write; its "
                                     "outcome is unknown: retry with the same "
                                     "Idempotency-Key") from None
        answer = wpb.ProposeResponse.FromString(raw)
        if answer.error == "storage":
            raise InsufficientStorage(answer.message)
        if answer.error == "no_leader":
            raise NoLeader(answer.message)
        if answer.error:
            raise ServiceUnavailable(answer.message)
        return rec.ApplyResult.FromString(answer.result)

    async def proxy(self, message: cluster_pb.HttpRequest) -> cluster_pb.HttpResponse:
        raw = await wire.call(self.channel, wire.PROXY,
                              wpb.ProxyRequest(request=message).SerializeToString(),
                              wire.PROXIED, 60.0)
        return cluster_pb.HttpResponse.FromString(raw)

    def leader_contact_ms(self) -> int:
        contact = int(self.state.leader_contact_ms)
        if contact <= 0:  # 0: the main process leads (or runs alone); -1: never heard
            return contact
        return contact + (time.monotonic_ns() - int(self.state.sent_ns)) // 1_000_000

    def status(self) -> RaftStatus:
        applied = self.store.applied_index()
        return RaftStatus(self.node_id, "", False, self.leader_id(), None, None, 0, applied,
                          applied, self.leader_contact_ms(), ())

    def is_leader(self) -> bool:
        return False

    def disk_full(self) -> bool:
        return False  # the main process answers 507 for what it is handed

    def leader_stub(self) -> Any | None:
        return None

    def leader_id(self) -> str | None:
        return self.state.leader_id or None

    async def remove_peer(self, node_id: str, timeout: float) -> None:
        raise ServiceUnavailable("membership changes are made by the main process")

    async def wait_applied_quorum(self, index: int, timeout: float) -> bool:
        raise ServiceUnavailable("quorum confirmations are made by the main process")

    async def step_down(self, timeout: float) -> None:
        raise ServiceUnavailable("leadership is the main process's")

    def join(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass


class WorkerApp:
    """ASGI: `/v1/sys/...` (any `sys` segment) to the main process, the rest served here."""

    def __init__(self, app: StrongBoxApp, log_: WorkerLog) -> None:
        self.app = app
        self.log = log_

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "sys" not in scope["path"].split("/"):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        client = scope.get("client") or ("", 0)
        request = cluster_pb.HttpRequest(
            method=scope["method"], path=scope["path"],
            query=scope.get("query_string", b"").decode("latin-1"),
            headers=[cluster_pb.Header(name=k.decode("latin-1"), value=v.decode("latin-1"))
                     for k, v in scope["headers"]
                     if k not in (b"host", b"content-length", b"connection")],
            body=body, remote_addr=client[0], request_id=str(uuid.uuid4()),
            client_cert=scope.get(CLIENT_CERT) or b"")
        try:
            answer = await self.log.proxy(request)
        except (OSError, TimeoutError, wire.FrameError, asyncio.IncompleteReadError):
            answer = cluster_pb.HttpResponse(
                status=503, body=b'{"errors":["this node is restarting; retry shortly"]}',
                headers=[cluster_pb.Header(name="content-type", value="application/json")])
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(h.name.encode("latin-1"), h.value.encode("latin-1"))
                                for h in answer.headers]})
        await send({"type": "http.response.body", "body": answer.body})


class Worker:
    def __init__(self, config: NodeConfig, index: int, channel: str) -> None:
        self.config, self.index = config, index
        self.store = Store(config.data_dir, config.storage.map_size_mb, reader=True)
        self.log = WorkerLog(channel, config.node_id, self.store)
        self.core = Core(config, self.store, self.log)
        self.core.audit_sync.file_suffix = f".worker-{index}"
        self.obs = NodeObservability.build(config, self._snapshot, self._mount_paths)
        self.app = StrongBoxApp(self.core, tls=not config.listener.tls_disable, obs=self.obs)
        self.watches: list[tlsreload.TlsFileWatch] = []

    def _snapshot(self) -> MetricsSnapshot:
        applied = self.store.applied_index()
        return MetricsSnapshot(raft_term=0, commit_index=applied, applied_index=applied,
                               is_leader=False, sealed=self.core.sealed,
                               initialized=self.store.cluster() is not None,
                               kek_install_time_s=0.0, active_secrets=0, disk_low=False)

    def _mount_paths(self) -> tuple[str, ...]:
        return tuple(m.path for m in self.store.mounts(""))

    def apply_state(self, state: wpb.WorkerState) -> None:
        self.log.state = state
        if state.store_env and self.store.follow(state.store_env):
            log.info("worker %d follows the restored store %s", self.index, state.store_env)
        if state.sealed and not self.core.sealed:
            self.core.seal()
        elif not state.sealed and self.core.sealed and state.root_key:
            try:
                self.core.open_keyring(bytearray(state.root_key))
            except Exception as exc:  # stays sealed; the next push tries again
                log.error("worker %d could not unseal: %s", self.index, type(exc).__name__)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The control connection, with the main process's first state applied."""
        deadline = time.monotonic() + CONNECT_FOR_S
        while True:
            try:
                reader, writer = await asyncio.open_unix_connection(self.log.channel,
                                                                    limit=wire.MAX_FRAME)
                writer.write(wire.encode(wire.HELLO, str(self.index).encode()))
                kind, payload = await wire.read_frame(reader)
                if kind == wire.STATE:
                    self.apply_state(wpb.WorkerState.FromString(payload))
                    return reader, writer
                writer.close()
            except (OSError, asyncio.IncompleteReadError, wire.FrameError):
                pass
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.1)

    async def _follow(self, reader: asyncio.StreamReader, server: uvicorn.Server) -> None:
        try:
            while True:
                kind, payload = await wire.read_frame(reader)
                if kind == wire.STATE:
                    self.apply_state(wpb.WorkerState.FromString(payload))
        except (asyncio.IncompleteReadError, ConnectionError, wire.FrameError):
            log.info("worker %d: the main process went away; stopping", self.index)
        finally:
            self.core.seal()
            server.should_exit = True

    async def serve(self) -> None:
        """Take the main process's state first, then accept connections (never serve a
        sealed answer for an unsealed node), until the channel or SIGTERM ends it."""
        channel = await self._connect()
        if channel is None:
            log.error("worker %d cannot reach its main process; exiting", self.index)
            self.store.close()
            return
        config = api_uvicorn_config(WorkerApp(self.app, self.log), self.config, self.watches)
        server = uvicorn.Server(config)
        # log rotation: the main process passes its SIGHUP on; reopen this worker's files
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP,
                                                      self.core.audit.reopen_all)
        follow = asyncio.create_task(self._follow(channel[0], server))
        try:
            await server.serve(sockets=[listen_socket(self.config)])
        finally:
            follow.cancel()
            channel[1].close()
            self.core.seal()
            for watch in self.watches:
                watch.stop()
            self.store.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="strongbox-worker", description=__doc__)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--channel", required=True)
    parser.add_argument("--config")
    parser.add_argument("--data-dir")
    parser.add_argument("--listen")
    parser.add_argument("--node-id")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = load_config(args.config, overrides={
        "data_dir": args.data_dir, "listener.address": args.listen, "node_id": args.node_id})
    if not Path(args.channel).exists():
        raise SystemExit(f"no worker channel at {args.channel}: workers are started by "
                         "`strongbox server`, not by hand")
    worker = Worker(config, args.index, args.channel)
    uvloop.run(worker.serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
