"""A transport for a cluster of one: no sockets, nothing to send.

pysyncobj's default TCPTransport would bind a port and speak pickle; a
single node needs neither. The cluster issue adds the gRPC mTLS transport;
both implement pysyncobj's `Transport` interface so `RaftLog` takes either.
"""

from __future__ import annotations

from typing import Any

from pysyncobj.transport import Transport


class LocalTransport(Transport):  # type: ignore[misc]
    def send(self, node: Any, message: Any) -> bool:
        return False

    def tryGetReady(self) -> None:
        pass

    @property
    def ready(self) -> bool:
        return True
