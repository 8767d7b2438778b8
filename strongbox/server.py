"""Assembling and running one node: store + Raft log + core + HTTP listener.

`Node.start()` opens the store, starts Raft (the tick thread) and waits for it
to lead (a cluster of one elects itself in well under a second); `serve()`
runs uvicorn on uvloop with the configured TLS until SIGINT/SIGTERM, then
closes Raft and the store cleanly. `strongbox.testing` and the CLI both use it.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field

import uvicorn

from strongbox.api.app import StrongBoxApp
from strongbox.api.http_protocol import VaultHttpToolsProtocol
from strongbox.config import NodeConfig
from strongbox.core import Core
from strongbox.raft.node import RaftLog
from strongbox.state.apply import apply
from strongbox.state.store import Store

log = logging.getLogger("strongbox.server")


@dataclass
class Node:
    config: NodeConfig
    store: Store = field(init=False)
    raft: RaftLog = field(init=False)
    core: Core = field(init=False)

    def start(self) -> None:
        self.store = Store(self.config.data_dir, self.config.storage.map_size_mb)
        self.raft = RaftLog(self.config.node_id, self.config.data_dir,
                            lambda index, data: apply(self.store, index, data))
        if not self.raft.wait_leader(timeout=10.0):
            log.warning("raft has not elected a leader yet; writes will wait for one")
        self.core = Core(self.config, self.store, self.raft)

    def stop(self) -> None:
        self.core.seal()
        self.raft.close()
        self.store.close()

    def uvicorn_config(self) -> uvicorn.Config:
        listener = self.config.listener
        tls = not listener.tls_disable
        return uvicorn.Config(
            StrongBoxApp(self.core, tls=tls), host=listener.host, port=listener.port,
            loop="uvloop", http=VaultHttpToolsProtocol, lifespan="off", access_log=False,
            log_level="warning", server_header=False, date_header=True,
            ssl_certfile=listener.tls_cert_file if tls else None,
            ssl_keyfile=listener.tls_key_file if tls else None,
            ssl_version=ssl.PROTOCOL_TLS_SERVER, timeout_keep_alive=65,
            ssl_ciphers="ECDHE+AESGCM:ECDHE+CHACHA20",
        )

    def serve(self) -> None:
        server = uvicorn.Server(self.uvicorn_config())
        try:
            server.run()
        finally:
            self.stop()
