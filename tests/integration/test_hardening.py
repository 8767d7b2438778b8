"""Request hardening on a real node: bounded write queue, slow clients, TLS versions."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strongbox.testing import ServerProcess, TlsFiles

pytestmark = pytest.mark.integration


@pytest.fixture
def tight_node(tmp_path: Path, tls: TlsFiles) -> Iterator[tuple[ServerProcess, str]]:
    server = ServerProcess(tmp_path / "data", tls, extra_config=(
        "[limits]\nmax_pending_writes = 2\nbody_timeout_s = 1.0\n"))
    with server:
        _, root = server.init_and_unseal()
        yield server, root


def test_a_flood_of_writes_gets_429_with_retry_after_and_nothing_is_lost(
        tight_node: tuple[ServerProcess, str]) -> None:
    server, root = tight_node

    async def flood() -> list[httpx.Response]:
        context = ssl.create_default_context(cafile=str(server.tls.ca_cert))
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=server.addr, verify=context, limits=limits,
                                     headers={"X-Vault-Token": root}, timeout=30) as client:
            return await asyncio.gather(*(
                client.post(f"/v1/secret/data/flood/{i}", json={"data": {"i": i}})
                for i in range(64)))

    responses = asyncio.run(flood())
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 429}, statuses
    rejected = [r for r in responses if r.status_code == 429]
    assert rejected, "64 concurrent writes never overflowed a queue of 2"
    assert all(r.headers["retry-after"] == "1" for r in rejected)
    assert "Retry-After" in rejected[0].json()["errors"][0]
    with server.client(root) as client:
        for i, response in enumerate(responses):
            read = client.get(f"/v1/secret/data/flood/{i}")
            assert read.status_code == (200 if response.status_code == 200 else 404)


def test_a_client_that_stalls_its_body_gets_408(tight_node: tuple[ServerProcess, str]) -> None:
    server, root = tight_node
    context = ssl.create_default_context(cafile=str(server.tls.ca_cert))
    with socket.create_connection(("127.0.0.1", server.port)) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"POST /v1/secret/data/slow HTTP/1.1\r\nHost: x\r\n"
                     b"X-Vault-Token: " + root.encode() + b"\r\n"
                     b"Content-Length: 100\r\n\r\n{\"data\":")
        sock.settimeout(10)
        started = time.monotonic()
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:100]
    assert time.monotonic() - started < 5


def test_tls_below_1_2_is_refused(tight_node: tuple[ServerProcess, str]) -> None:
    server, _ = tight_node
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(server.tls.ca_cert))
    context.minimum_version = ssl.TLSVersion.TLSv1  # old on purpose: must be refused
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", server.port)) as raw, \
            pytest.raises(ssl.SSLError):
        context.wrap_socket(raw, server_hostname="127.0.0.1")
    modern = ssl.create_default_context(cafile=str(server.tls.ca_cert))
    modern.minimum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", server.port)) as raw, \
            modern.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
