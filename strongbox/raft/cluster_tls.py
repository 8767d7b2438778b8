"""Mutual-TLS material of the cluster port, and who a peer is.

Both sides present certificates signed by the cluster CA; a node's id is its
certificate's common name. `peer_id(context)` reads it from the gRPC auth
context: identity comes from the handshake, never from message content.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


@dataclass(frozen=True, slots=True)
class ClusterTls:
    ca: bytes
    cert: bytes
    key: bytes

    @classmethod
    def load(cls, ca_file: str, cert_file: str, key_file: str) -> ClusterTls:
        return cls(Path(ca_file).read_bytes(), Path(cert_file).read_bytes(),
                   Path(key_file).read_bytes())

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key, self.cert)], root_certificates=self.ca,
                                           require_client_auth=True)

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(root_certificates=self.ca, private_key=self.key,
                                            certificate_chain=self.cert)


def peer_id(context: grpc.ServicerContext) -> str | None:
    names: Any = context.auth_context().get("x509_common_name") or []
    first = names[0] if isinstance(names, list) and names else None
    return first.decode() if isinstance(first, bytes) else None


MAX_MESSAGE_BYTES = 32 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 2000),
    ("grpc.keepalive_timeout_ms", 2000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
SERVER_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 1000),
    ("grpc.http2.max_ping_strikes", 0),
]
