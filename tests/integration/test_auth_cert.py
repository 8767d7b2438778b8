"""The cert auth method over real TLS: a node whose API listener asks for client
certificates (`listener.tls_client_ca_file`), certificates from three CAs:

- team CA: trusted by the listener and by the `certs/web` entry: logs in;
- partner CA: trusted by the listener only: the handshake works, the login is refused;
- stranger CA: trusted by nobody: the handshake itself is refused.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import hvac
import pytest

from strongbox.testing import CertificateAuthority, ServerProcess, TlsFiles
from tests.conftest import ReadyNode, ready_node

pytestmark = pytest.mark.integration
REFUSED = "invalid certificate or no client certificate supplied"


class Cas:
    def __init__(self, directory: Path) -> None:
        self.team = CertificateAuthority.create(directory / "team", "Team CA")
        self.partner = CertificateAuthority.create(directory / "partner", "Partner CA")
        self.stranger = CertificateAuthority.create(directory / "stranger", "Stranger CA")
        self.bundle = directory / "client-cas.pem"
        self.bundle.write_bytes(self.team.cert_file.read_bytes()
                                + self.partner.cert_file.read_bytes())
        self.directory = directory

    def client(self, ca: CertificateAuthority, cn: str) -> TlsFiles:
        return ca.issue(self.directory / "clients" / cn, cn)


@pytest.fixture(scope="module")
def cas(tmp_path_factory: pytest.TempPathFactory) -> Cas:
    return Cas(tmp_path_factory.mktemp("client-cas"))


@pytest.fixture(scope="module")
def cert_node(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles,
              cas: Cas) -> Iterator[ReadyNode]:
    mp = pytest.MonkeyPatch()
    mp.setenv("STRONGBOX_LISTENER__TLS_CLIENT_CA_FILE", str(cas.bundle))
    try:
        with ready_node(tmp_path_factory.mktemp("cert-node") / "data", tls) as ready:
            mp.undo()
            root = ready.root
            assert root.post("/v1/sys/auth/cert", json={"type": "cert"}).status_code == 204
            root.put("/v1/sys/policies/acl/app-read", json={
                "policy": 'path "secret/data/app/*" { capabilities = ["read"] }'})
            written = root.post("/v1/auth/cert/certs/web", json={
                "certificate": cas.team.cert_file.read_text(), "display_name": "web",
                "allowed_common_names": ["web-*"], "token_policies": ["app-read"],
                "token_ttl": "1h"})
            assert written.status_code == 204, written.text
            yield ready
    finally:
        mp.undo()


def login(server: ServerProcess, cert: TlsFiles | None, **body: str) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(server.tls.ca_cert))
    if cert is not None:
        context.load_cert_chain(str(cert.cert), str(cert.key))
    with httpx.Client(base_url=server.addr, verify=context) as client:
        return client.post("/v1/auth/cert/login", json=body)


def test_a_client_certificate_of_the_entry_ca_logs_in_with_vaults_metadata(
        cert_node: ReadyNode, cas: Cas) -> None:
    answer = login(cert_node.server, cas.client(cas.team, "web-1"))
    assert answer.status_code == 200, answer.text
    auth = answer.json()["auth"]
    assert "app-read" in auth["policies"]
    assert auth["metadata"]["cert_name"] == "web"
    assert auth["metadata"]["common_name"] == "web-1"
    looked = cert_node.client(auth["client_token"]).get("/v1/auth/token/lookup-self")
    assert looked.json()["data"]["path"] == "auth/cert/login"


def test_hvac_cert_login(cert_node: ReadyNode, cas: Cas) -> None:
    files = cas.client(cas.team, "web-hvac")
    client = hvac.Client(url=cert_node.server.addr, verify=str(cert_node.server.tls.ca_cert),
                         cert=(str(files.cert), str(files.key)))
    client.auth.cert.login(name="web", cert_pem=str(files.cert), key_pem=str(files.key))
    assert client.is_authenticated()
    assert client.lookup_token()["data"]["meta"]["common_name"] == "web-hvac"


@pytest.mark.parametrize(("who", "why"), [
    ("partner", "no certs entry admits it"),  # the listener trusts it, no entry does
    ("wrong-name", "no certs entry admits it"),  # team CA, CN outside allowed_common_names
    ("none", "the connection presented no client certificate"),
])
def test_refusals_are_vaults_400_with_the_reason(cert_node: ReadyNode, cas: Cas, who: str,
                                                 why: str) -> None:
    cert = {"partner": cas.client(cas.partner, "web-2"),
            "wrong-name": cas.client(cas.team, "db-1"), "none": None}[who]
    answer = login(cert_node.server, cert)
    assert answer.status_code == 400
    assert answer.json()["errors"] == [f"{REFUSED} ({why})"]


def test_a_named_entry_that_does_not_exist_refuses(cert_node: ReadyNode, cas: Cas) -> None:
    answer = login(cert_node.server, cas.client(cas.team, "web-3"), name="nope")
    assert answer.status_code == 400


def test_a_certificate_of_an_untrusted_ca_fails_the_handshake(cert_node: ReadyNode,
                                                              cas: Cas) -> None:
    # TLS 1.3: the client's handshake is done before the server checks its certificate, so
    # the refusal arrives as the server closing the connection instead of a handshake error
    with pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
        login(cert_node.server, cas.client(cas.stranger, "web-4"))
    assert login(cert_node.server, cas.client(cas.team, "web-5")).status_code == 200


def test_clients_without_certificates_keep_working(cert_node: ReadyNode) -> None:
    assert cert_node.root.get("/v1/sys/health").status_code == 200


def test_an_entry_needs_a_pem_certificate(cert_node: ReadyNode) -> None:
    bad = cert_node.root.post("/v1/auth/cert/certs/bad", json={"certificate": "nope"})
    assert bad.status_code == 400 and "PEM" in bad.json()["errors"][0]
    missing = cert_node.root.post("/v1/auth/cert/certs/bad", json={"display_name": "x"})
    assert missing.status_code == 400 and "'certificate' is required" in missing.json()[
        "errors"][0]
    read = cert_node.root.get("/v1/auth/cert/certs/web").json()["data"]
    assert read["allowed_common_names"] == ["web-*"] and read["token_policies"] == ["app-read"]
    assert cert_node.root.request("LIST", "/v1/auth/cert/certs").json()["data"]["keys"] == [
        "web"]
