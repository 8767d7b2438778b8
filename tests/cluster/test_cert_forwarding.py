"""Cert auth on a cluster: a login on a follower, answered there or forwarded to the leader
(`X-Vault-Forward: active-node`, which needs a valid token of its own), where the
certificate arrives through the members' mTLS channel, since the leader never saw the
client's TLS connection."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from strongbox.testing import CertificateAuthority, ServerProcess, TlsFiles
from tests.cluster.conftest import make_cluster

pytestmark = pytest.mark.cluster


def _login(node: ServerProcess, cert: TlsFiles | None, forward: str) -> httpx.Response:
    """`forward`: "" for a local login, else the token that may forward the request."""
    context = ssl.create_default_context(cafile=str(node.tls.ca_cert))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    headers = {"X-Vault-Forward": "active-node", "X-Vault-Token": forward} if forward else {}
    with httpx.Client(base_url=node.addr, verify=context, timeout=15.0) as client:
        return client.post("/v1/auth/cert/login", json={}, headers=headers)


def test_a_forwarded_cert_login_carries_the_verified_certificate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    team = CertificateAuthority.create(tmp_path / "team", "Team CA")
    monkeypatch.setenv("STRONGBOX_LISTENER__TLS_CLIENT_CA_FILE", str(team.cert_file))
    cluster = make_cluster(tmp_path / "cluster")
    try:
        leader = cluster.wait_leader()
        with leader.client(cluster.root_token) as root:
            assert root.post("/v1/sys/auth/cert", json={"type": "cert"}).status_code == 204
            assert root.post("/v1/auth/cert/certs/web", json={
                "certificate": team.cert_file.read_text(),
                "allowed_common_names": ["web-*"]}).status_code == 204
        follower = next(n for n in cluster.nodes if n is not leader)
        web = team.issue(tmp_path / "clients", "web-1")
        for forward in ("", cluster.root_token):
            answer = _login(follower, web, forward)
            assert answer.status_code == 200, (forward, answer.text)
            assert answer.json()["auth"]["metadata"]["common_name"] == "web-1"
        refused = _login(follower, None, forward=cluster.root_token)
        assert refused.status_code == 400
        assert "no client certificate" in refused.json()["errors"][0]
    finally:
        cluster.stop()
