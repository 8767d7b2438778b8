"""A node reloads its TLS files when they change: new handshakes see the new certificate,
open connections keep working, a bad file keeps the old one (strongbox/tlsreload.py)."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from strongbox.testing import CertificateAuthority, LocalCluster, ServerProcess, TlsFiles

pytestmark = pytest.mark.integration
DEADLINE_S = 30.0  # the node polls every 2 s; generous for a busy 2-core machine


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def served_serial(port: int, ca: Path, client: TlsFiles | None = None) -> int:
    """The serial of the certificate a fresh TLS handshake to 127.0.0.1:`port` presents."""
    context = ssl.create_default_context(cafile=str(ca))
    context.check_hostname = False
    if client is not None:  # the cluster port wants a client certificate (and h2)
        context.load_cert_chain(str(client.cert), str(client.key))
        context.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=5.0) as raw, \
            context.wrap_socket(raw) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def serial_of(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def install(source: TlsFiles, target: TlsFiles) -> None:
    """Replace the live files the way a Secret update does: a new file renamed over the old."""
    for src, dst in ((source.key, target.key), (source.cert, target.cert)):
        tmp = dst.with_suffix(".new")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[ServerProcess, CertificateAuthority]]:
    ca = CertificateAuthority.create(tmp_path / "ca")
    first = ca.issue(tmp_path / "first", "node-1")
    live = TlsFiles(ca.cert_file, tmp_path / "live.crt", tmp_path / "live.key")
    install(first, live)
    with ServerProcess(tmp_path / "data", live) as server:
        yield server, ca


def test_listener_serves_a_replaced_certificate_without_dropping_clients(
        node: tuple[ServerProcess, CertificateAuthority], tmp_path: Path) -> None:
    server, ca = node
    old = served_serial(server.port, ca.cert_file)
    with server.client() as kept:
        assert kept.get("/v1/sys/seal-status").status_code == 200
        # a broken certificate first: logged, and the old one stays in use
        server.tls.cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
        wait_for(lambda: "not reloading TLS" in server.log_path.read_text(), "the bad-file error")
        assert served_serial(server.port, ca.cert_file) == old
        assert kept.get("/v1/sys/seal-status").status_code == 200

        second = ca.issue(tmp_path / "second", "node-1")
        install(second, server.tls)
        new = serial_of(second.cert)
        assert new != old
        wait_for(lambda: served_serial(server.port, ca.cert_file) == new,
                 "a fresh handshake to present the new serial")
        assert kept.get("/v1/sys/seal-status").status_code == 200  # the kept-alive client
    with server.client() as fresh:  # and a new client verifies the new chain
        assert fresh.get("/v1/sys/health").status_code in (200, 501)


@pytest.mark.cluster
def test_cluster_keeps_replicating_after_every_node_certificate_is_rotated(
        tmp_path: Path) -> None:
    with LocalCluster(tmp_path / "cluster", 3) as cluster:
        _, root = cluster.init_and_unseal()
        old = {n.node_id: serial_of(n.tls.cert) for n in cluster.nodes}
        for n in cluster.nodes:  # same paths, new key and serial (ca.issue rewrites them)
            cluster.ca.issue(n.tls.cert.parent, n.node_id)
        ports = dict(zip((n.node_id for n in cluster.nodes), cluster.cluster_ports, strict=True))
        for n in cluster.nodes:
            new = serial_of(n.tls.cert)
            assert new != old[n.node_id]
            wait_for(lambda n=n, new=new: served_serial(ports[n.node_id], cluster.ca.cert_file,
                                                        n.tls) == new,
                     f"{n.node_id}'s cluster port to present its new certificate")
            wait_for(lambda n=n, new=new: served_serial(n.port, cluster.ca.cert_file) == new,
                     f"{n.node_id}'s API port to present its new certificate")
        leader = cluster.wait_leader()
        with leader.client(root) as client:
            written = client.post("/v1/secret/data/rotated", json={"data": {"v": "1"}})
            assert written.status_code == 200, written.text
            index = written.headers["X-Vault-Index"]
        for n in cluster.followers():
            with n.client(root) as client:
                read = client.get("/v1/secret/data/rotated", headers={"X-Vault-Index": index})
                assert read.status_code == 200, read.text
        # a handed-off SIGTERM: the stopped leader says so and another node leads
        leader.stop()
        assert "handed leadership over" in leader.log_path.read_text()
        cluster.wait_leader(among=[n for n in cluster.nodes if n is not leader])


def test_watch_hands_out_only_checked_material_and_grpc_gets_it_once(tmp_path: Path) -> None:
    from strongbox import tlsreload

    ca = CertificateAuthority.create(tmp_path / "ca")
    live = TlsFiles(ca.cert_file, tmp_path / "live.crt", tmp_path / "live.key")
    install(ca.issue(tmp_path / "one", "node-1"), live)
    watch = tlsreload.TlsFileWatch(tlsreload.TlsPaths(str(live.cert), str(live.key),
                                                      str(ca.cert_file)), interval_s=60)
    credentials = tlsreload.ClusterCredentials(watch)
    seen: list[tlsreload.TlsMaterial] = []
    watch.subscribe(seen.append)
    assert watch.check_once() is False and credentials.fetch() is None   # nothing changed
    other = ca.issue(tmp_path / "two", "node-1")
    shutil.copyfile(other.cert, live.cert)       # the cert alone: the key no longer matches
    assert watch.check_once() is False and watch.failures == 1 and seen == []
    shutil.copyfile(other.key, live.key)
    assert watch.check_once() is True and seen[-1].cert == other.cert.read_bytes()
    assert credentials.fetch() is not None and credentials.fetch() is None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tlsreload.reload_ssl_context(context, seen[-1])   # a live context accepts the new pair
