"""Assembling and running one node: store + Raft log + core + HTTP listener.

`Node.start()` opens the store, starts Raft (the tick thread) and waits for it
to lead (a cluster of one elects itself in well under a second); `serve()`
runs uvicorn on uvloop with the configured TLS until SIGINT/SIGTERM, then
closes Raft and the store cleanly. `strongbox.testing` and the CLI both use it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import prometheus_client
import uvicorn
import uvloop
from google.protobuf.message import DecodeError
from opentelemetry.context import Context

from strongbox import autounseal, handoff, sweeper, tlsreload
from strongbox.api.app import StrongBoxApp
from strongbox.api.forwarding import make_forward_handler
from strongbox.api.http_protocol import VaultHttpToolsProtocol
from strongbox.barrier.keyring import kek_name
from strongbox.clock import SYSTEM, FaultClock
from strongbox.config import MAX_WORKERS, NodeConfig
from strongbox.core import Core
from strongbox.errors import ConfigError
from strongbox.obs import MetricsSnapshot, extract_metadata
from strongbox.observability import NodeObservability
from strongbox.ops import fileperms
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.raft.cluster_server import ClusterServer, NotLeaderError
from strongbox.raft.cluster_tls import ClusterTls
from strongbox.raft.node import RaftLog, RaftSettings, snapshot_path
from strongbox.state.apply import apply
from strongbox.state.compaction import BackgroundCompaction
from strongbox.state.store import Store
from strongbox.workers.supervisor import Supervisor, worker_count

log = logging.getLogger("strongbox.server")


@dataclass
class Node:
    config: NodeConfig
    store: Store = field(init=False)
    raft: RaftLog = field(init=False)
    core: Core = field(init=False)
    app: StrongBoxApp = field(init=False)
    obs: NodeObservability | None = field(init=False, default=None)
    _mounts: tuple[str, ...] = field(init=False, default=())
    _mounts_at: int = field(init=False, default=-1)

    cluster_server: ClusterServer | None = field(init=False, default=None)
    _stopping: threading.Event = field(init=False, default_factory=threading.Event)
    _tls_watches: list[tlsreload.TlsFileWatch] = field(init=False, default_factory=list)
    # how a read worker loads this node's configuration: `strongbox server`'s own
    # --config/--data-dir/--listen/--node-id (strongbox/workers/)
    worker_args: tuple[str, ...] = ()
    workers: Supervisor | None = field(init=False, default=None)

    def raft_settings(self) -> RaftSettings:
        config, cluster = self.config, self.config.cluster
        data_dir = Path(config.data_dir)
        compaction = BackgroundCompaction(self.store, str(snapshot_path(data_dir)),
                                          journal=lambda: self.raft.journal)
        serializer, deserializer = compaction.serializer, compaction.deserializer
        hooks: dict[str, Any] = {"serialize_checker": compaction.checker,
                                 "before_close": compaction.wait,
                                 "on_fsync": self._observe_fsync,
                                 "on_leader_change": self._leader_changed,
                                 "min_free_bytes": config.storage.min_free_mb * 2**20}
        if not cluster.enabled:
            return RaftSettings(node_id=config.node_id, data_dir=data_dir,
                                snapshot_threshold=cluster.snapshot_threshold,
                                serializer=serializer, deserializer=deserializer, **hooks)
        return RaftSettings(
            node_id=config.node_id, data_dir=data_dir,
            address=cluster.advertise_address or cluster.address, peers=cluster.peer_map(),
            tls=ClusterTls.load(cluster.tls_ca_file, cluster.tls_cert_file,
                                cluster.tls_key_file),
            snapshot_threshold=cluster.snapshot_threshold,
            serializer=serializer, deserializer=deserializer,
            fault_file=data_dir / "faults.json" if cluster.fault_injection else None, **hooks)

    def _observe_fsync(self, seconds: float) -> None:
        if self.obs is not None:
            self.obs.metrics.observe_fsync(seconds)

    def _leader_changed(self, leader: str | None) -> None:
        if self.obs is not None:
            self.obs.metrics.leader_changed()

    def start(self) -> None:
        fileperms.secure_umask()  # fileperms: all created from here on is 0600 / 0700
        try:
            fileperms.check_data_dir(self.config.data_dir, self.config.storage.strict_permissions)
        except fileperms.UnsafePermissions as exc:
            raise ConfigError("data_dir", str(exc)) from None
        self.store = Store(self.config.data_dir, self.config.storage.map_size_mb)
        settings = self.raft_settings()
        if settings.tls is not None:
            cluster = self.config.cluster  # tlsreload: the cluster port's files are watched
            watch = tlsreload.TlsFileWatch(tlsreload.TlsPaths(
                cluster.tls_cert_file, cluster.tls_key_file, cluster.tls_ca_file))
            self.cluster_server = ClusterServer(
                cluster.address, settings.tls, api_addr=self.config.api_addr,
                credentials=tlsreload.ClusterCredentials(watch).server_credentials())
        self.raft = RaftLog(settings, self._apply, batch=self.store.batch)
        if self.cluster_server is not None:
            self.cluster_server.transport = self.raft.transport
            self.cluster_server.applied_index = self.store.applied_index
            transport = self.raft.transport  # tlsreload: new client cert -> redial the peers
            if transport is not None:
                watch.subscribe(lambda m: transport.replace_tls(ClusterTls(m.ca, m.cert, m.key)))
            self._tls_watches.append(watch.start())
            self.cluster_server.start()
        elif not self.raft.wait_leader(timeout=10.0):
            log.warning("raft has not elected a leader yet; writes will wait for one")
        # fault_injection (tests only): a campaign steps this node's clock via faults.json
        clock = FaultClock(Path(self.config.data_dir) / "faults.json") \
            if self.config.cluster.fault_injection else SYSTEM
        self.core = Core(self.config, self.store, self.raft, clock=clock)
        self.obs = NodeObservability.build(self.config, self._metrics_snapshot,
                                           self._mount_paths)
        metrics = self.obs.metrics
        self.core.on_write_rejected.append(metrics.write_queue_rejected)
        self.core.on_audit_failure.append(metrics.audit_failure)
        self.core.on_token_error.append(metrics.token_validation_error)
        self.core.on_engine_count.append(metrics.engine_count)
        self.core.on_engine_gauge.append(metrics.engine_gauge)
        self.core.metrics_render = metrics.render
        self.app = StrongBoxApp(self.core, tls=not self.config.listener.tls_disable,
                                obs=self.obs)
        listener = self.config.observability.metrics_listener
        if listener:
            host, _, port = listener.rpartition(":")
            prometheus_client.start_http_server(int(port), host or "0.0.0.0",  # noqa: S104
                                                registry=metrics.registry)

    def _apply(self, index: int, data: bytes) -> rec.ApplyResult:
        started = time.perf_counter()
        if self.obs is None or self.obs.tracing.provider is None:
            result = apply(self.store, index, data)
        else:  # the apply span joins the trace of the request that proposed the command
            with self.obs.tracing.tracer.start_as_current_span(
                    "raft.apply", context=_command_context(data),
                    attributes={"raft.index": index}):
                result = apply(self.store, index, data)
        if self.obs is not None:
            self.obs.metrics.observe_apply(time.perf_counter() - started)
        return result

    def _mount_paths(self) -> tuple[str, ...]:
        index = self.store.applied_index()  # mounts change only when the log moves
        if index != self._mounts_at:
            self._mounts = tuple(m.path for m in self.store.mounts(""))
            self._mounts_at = index
        return self._mounts

    def _metrics_snapshot(self) -> MetricsSnapshot:
        status = self.raft.status()
        term = self.store.latest_kek_term()
        record = self.store.key_record(kek_name(term)) if term else None
        return MetricsSnapshot(
            raft_term=status.term, commit_index=status.commit_index,
            applied_index=status.applied_index, is_leader=status.is_leader,
            sealed=self.core.sealed, initialized=self.store.cluster() is not None,
            kek_install_time_s=record.install_time_ns / 1e9 if record else 0.0,
            active_secrets=self.store.count("kv_meta"), disk_low=self.raft.disk_full())

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop()
        if self.obs is not None:
            self.obs.tracing.shutdown()  # flushes batched spans
        self.core.seal()
        for watch in self._tls_watches:
            watch.stop()
        if self.cluster_server is not None:
            self.cluster_server.stop()
        self.raft.close()
        self.store.close()

    def uvicorn_config(self) -> uvicorn.Config:
        return api_uvicorn_config(self.app, self.config, self._tls_watches)

    def join_handler(self, node_id: str, address: str) -> list[str]:
        """Cluster.Join on this node (gRPC thread): add `node_id` if we lead."""
        status = self.raft.status()
        members = [status.node_id, *(peer.node_id for peer in status.peers)]
        if not status.is_leader:
            raise NotLeaderError(f"not the leader; the leader is {status.leader_id or 'unknown'}")
        if node_id not in members:
            self.raft.add_peer_blocking(node_id, address, self.config.limits.write_timeout_s)
            members.append(node_id)
        return members

    def _retry_join(self) -> None:
        # Like Vault's retry_join: ask the configured peers to add us until one does.
        # Members of the initial configuration are accepted as they are.
        while not self._stopping.is_set():
            if self.raft.join(timeout=5.0):
                return
            self._stopping.wait(2.0)

    async def _serve(self) -> None:
        count = worker_count(self.config.listener.workers, MAX_WORKERS)
        sock = listen_socket(self.config) if count > 1 else None
        config = self.uvicorn_config()
        server = uvicorn.Server(config)
        if sock is not None:
            self.workers = Supervisor(self.core, self.raft, self.app,
                                      data_dir=Path(self.config.data_dir), count=count,
                                      worker_args=self.worker_args)
            await self.workers.start()
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self._reopen_audit)
        interval = self.config.limits.sweep_interval_s
        sweeping = asyncio.create_task(sweeper.run(self.core, interval))
        upkeep = asyncio.create_task(sweeper.run_maintenance(self.core, interval))
        unsealing = asyncio.create_task(autounseal.run(self.core))
        if self.cluster_server is not None:
            self.cluster_server.forward_handler = make_forward_handler(
                self.app, asyncio.get_running_loop(), self.app.tracer)
            self.cluster_server.join_handler = self.join_handler
            if self.config.cluster.peers:
                threading.Thread(target=self._retry_join, name="retry-join",
                                 daemon=True).start()
        try:
            await server.serve(sockets=[sock] if sock is not None else None)
        finally:
            sweeping.cancel()
            upkeep.cancel()
            unsealing.cancel()
            await handoff.hand_off_leadership(self.raft)  # handoff: leader steps down on SIGTERM
            if self.workers is not None:
                self.workers.stop()  # on the loop, while it still runs the channel

    def _reopen_audit(self) -> None:
        if self.workers is not None:
            self.workers.signal(signal.SIGHUP)  # their own audit files
        failed = self.core.audit.reopen_all()
        log.info("SIGHUP: reopened audit files%s",
                 f"; failed: {', '.join(failed)}" if failed else "")

    def serve(self) -> None:
        # uvicorn re-raises the shutdown signal once it has stopped serving; with the
        # default handler that would kill the process before `stop()` closes Raft,
        # the store and the exporters. Make the re-raised signal a no-op instead.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        try:
            uvloop.run(self._serve())
        finally:
            self._stopping.set()
            self.stop()


def api_uvicorn_config(app: Any, node_config: NodeConfig,
                       watches: list[tlsreload.TlsFileWatch]) -> uvicorn.Config:
    """uvicorn for the API listener (the main process's or a read worker's); its TLS
    files are watched and reloaded (`watches`)."""
    listener = node_config.listener
    tls = not listener.tls_disable
    config = uvicorn.Config(
        app, host=listener.host, port=listener.port,
        loop="uvloop", http=VaultHttpToolsProtocol, lifespan="off", access_log=False,
        log_level="warning", server_header=False, date_header=True, proxy_headers=False,
        ssl_certfile=listener.tls_cert_file if tls else None,
        ssl_keyfile=listener.tls_key_file if tls else None,
        ssl_version=ssl.PROTOCOL_TLS_SERVER, timeout_keep_alive=65,
        timeout_graceful_shutdown=3,
        ssl_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20",
        # cert auth: ask for a client certificate, verify it against this bundle
        ssl_ca_certs=listener.tls_client_ca_file or None,
        ssl_cert_reqs=ssl.CERT_OPTIONAL if listener.tls_client_ca_file else ssl.CERT_NONE,
    )
    config.load()
    if config.ssl is not None:  # explicit, not left to the Python default
        config.ssl.minimum_version = listener.minimum_tls  # tls12 (default) or tls13
        watches.append(tlsreload.watch_ssl_context(  # tlsreload: swapped in place
            config.ssl, listener.tls_cert_file, listener.tls_key_file))
    return config


def listen_socket(node_config: NodeConfig) -> socket.socket:
    """The API's listening socket with SO_REUSEPORT: the main process and each read
    worker bind their own, and the kernel spreads connections over them."""
    listener = node_config.listener
    family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((listener.host, listener.port))
    sock.listen(2048)
    return sock


def _command_context(data: bytes) -> Context:
    command = cmd_pb.Command()
    try:
        command.ParseFromString(data)
    except DecodeError:
        return Context()
    return extract_metadata([("traceparent", command.traceparent)] if command.traceparent
                            else [])
