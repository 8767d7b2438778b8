"""The Transit auto-unseal provider against a real StrongBox node as the key manager."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from strongbox import errors
from strongbox.errors import ConfigError, ServiceUnavailable
from strongbox.seal.transit_seal import SealUnavailable, TransitSeal, TransitSettings
from strongbox.testing import TlsFiles, make_tls
from tests.conftest import ReadyNode, create_token, ns, put_policy, ready_node

pytestmark = pytest.mark.integration

KEY = "unseal"
RENEWER = "strongbox-transit-seal-renewer"
SEAL_POLICY = f"""
path "transit/encrypt/{KEY}" {{ capabilities = ["update"] }}
path "transit/decrypt/{KEY}" {{ capabilities = ["update"] }}
path "auth/token/lookup-self" {{ capabilities = ["read"] }}
path "auth/token/renew-self" {{ capabilities = ["update"] }}
"""


@dataclass
class Kms:
    node: ReadyNode
    token: str
    tls: TlsFiles

    def settings(self, **changes: Any) -> TransitSettings:
        base = TransitSettings(address=self.node.server.addr, token=self.token, key_name=KEY,
                               tls_ca_cert=str(self.tls.ca_cert), timeout_s=3.0)
        return replace(base, **changes)

    def seal_token(self, **body: Any) -> str:
        auth = create_token(self.node, policies=["seal"], no_default_policy=True, **body)
        return str(auth["client_token"])


def _post(node: ReadyNode, path: str, body: dict[str, Any] | None = None,
          namespace: str = "") -> None:
    with node.root as c:
        response = c.post(f"/v1/{path}", json=body or {},
                          headers=ns(namespace) if namespace else {})
    assert response.status_code in (200, 204), response.text


@pytest.fixture(scope="module")
def kms(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[Kms]:
    """The "transit cluster": a node with transit/, key `unseal` and a least-privilege token."""
    with ready_node(tmp_path_factory.mktemp("kms") / "data", tls) as node:
        _post(node, "sys/mounts/transit", {"type": "transit"})
        _post(node, f"transit/keys/{KEY}")
        put_policy(node, "seal", SEAL_POLICY)
        token = create_token(node, policies=["seal"], no_default_policy=True,
                             ttl="1h")["client_token"]
        yield Kms(node, token, tls)


@pytest.fixture
def seal(kms: Kms) -> Iterator[TransitSeal]:
    provider = TransitSeal(kms.settings())
    yield provider
    provider.close()


def _failure(seal: TransitSeal, call: str, *args: Any) -> SealUnavailable:
    with pytest.raises(SealUnavailable) as caught:
        getattr(seal, call)(*args)
    assert isinstance(caught.value, errors.SealUnavailable)
    assert isinstance(caught.value, ServiceUnavailable) and caught.value.status == 503
    assert seal.settings.token not in caught.value.message
    return caught.value


def test_wrap_unwrap_round_trip_with_least_privilege_token(kms: Kms, seal: TransitSeal) -> None:
    unseal_key = os.urandom(32)
    blob = seal.wrap(unseal_key)
    assert blob.startswith(b"vault:v1:") and unseal_key not in blob
    assert seal.unwrap(blob) == unseal_key
    at_init = TransitSeal(kms.settings())        # init with an existing key: no keys/ call
    try:
        assert at_init.unwrap(at_init.wrap(unseal_key, create_key=True)) == unseal_key
    finally:
        at_init.close()
    other = TransitSeal(kms.settings())          # a node starting again: a fresh provider
    try:
        assert other.unwrap(blob) == unseal_key
    finally:
        other.close()
    assert seal.type == "transit"
    assert seal.describe() == {"address": kms.node.server.addr, "mount_path": "transit/",
                               "key_name": KEY, "namespace": ""}
    for text in (repr(seal), repr(seal.settings), str(seal.describe())):
        assert kms.token not in text
    with kms.node.client(kms.token) as c:        # the token can do nothing else
        assert c.get(f"/v1/transit/keys/{KEY}").status_code == 403


def test_create_key_at_init_and_never_otherwise(kms: Kms) -> None:
    root = TransitSeal(kms.settings(token=kms.node.root_token, key_name="made-at-init"))
    missing = TransitSeal(kms.settings(token=kms.node.root_token, key_name="never-made"))
    try:
        blob = root.wrap(b"k" * 32, create_key=True)
        assert root.unwrap(blob) == b"k" * 32
        assert root.unwrap(root.wrap(b"j" * 32, create_key=True)) == b"j" * 32  # exists: kept
        with kms.node.root as c:
            assert c.get("/v1/transit/keys/made-at-init").json()["data"]["type"] == \
                "aes256-gcm96"
        error = _failure(missing, "wrap", b"k" * 32)
        assert "the transit key 'never-made' does not exist on transit/" in error.message
        assert "HTTP 404" in error.message and "encryption key not found" in error.message
        assert "does not exist" in _failure(missing, "unwrap", blob).message
        with kms.node.root as c:
            assert c.get("/v1/transit/keys/never-made").status_code == 404
    finally:
        root.close()
        missing.close()


def test_wrong_token_and_unpermitted_key_are_refused(kms: Kms, seal: TransitSeal) -> None:
    blob = seal.wrap(b"s" * 32)
    bogus = TransitSeal(kms.settings(token="sbs.not-a-real-token"))
    other_key = TransitSeal(kms.settings(key_name="made-at-init"))
    try:
        error = _failure(bogus, "unwrap", blob)
        assert error.message.startswith("the seal's token was refused (expired or lacks "
                                        f"update on transit/decrypt/{KEY}): HTTP 403")
        assert error.upstream_status == 403
        for create_key in (False, True):
            assert f"lacks update on transit/decrypt/{KEY})" in _failure(
                bogus, "wrap", b"x", create_key).message
        put_policy(kms.node, "absent", 'path "transit/+/absent" { capabilities = ["update"] }\n'
                   'path "transit/keys/absent" { capabilities = ["read"] }')
        token = create_token(kms.node, policies=["absent"])["client_token"]
        no_create = TransitSeal(kms.settings(token=token, key_name="absent"))
        try:
            assert "lacks update on transit/keys/absent)" in _failure(
                no_create, "wrap", b"x", True).message
        finally:
            no_create.close()
        refused = _failure(other_key, "wrap", b"s" * 32)
        assert "lacks update on transit/decrypt/made-at-init" in refused.message
        assert "not a Transit ciphertext" in _failure(seal, "unwrap", b"\xff garbage").message
    finally:
        bogus.close()
        other_key.close()


def test_unreachable_transit_node_fails_fast_then_recovers(kms: Kms) -> None:
    seal = TransitSeal(kms.settings(timeout_s=2.0))
    try:
        blob = seal.wrap(b"u" * 32)
        kms.node.server.stop()
        try:
            started = time.monotonic()
            error = _failure(seal, "unwrap", blob)
            assert time.monotonic() - started < 3.0
            assert error.message.startswith(
                f"could not reach the transit cluster at {kms.node.server.addr}")
            assert error.upstream_status == 0
        finally:
            kms.node.server.start()
            kms.node.server.unseal(kms.node.keys[:2])
        assert seal.unwrap(blob) == b"u" * 32
    finally:
        seal.close()


def test_a_silent_key_manager_times_out_within_timeout_s(kms: Kms) -> None:
    with socket.socket() as listener:          # accepts TCP connections, never answers TLS
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        seal = TransitSeal(kms.settings(address=f"https://127.0.0.1:{port}", timeout_s=0.5))
        try:
            started = time.monotonic()
            error = _failure(seal, "unwrap", b"vault:v1:AAAA")
            assert time.monotonic() - started < 2.0
            assert f"at https://127.0.0.1:{port} did not answer within 0.5s" in error.message
        finally:
            seal.close()


def test_sealed_transit_node_then_unsealed(kms: Kms, seal: TransitSeal) -> None:
    blob = seal.wrap(b"z" * 32)
    with kms.node.root as c:
        assert c.put("/v1/sys/seal").status_code == 204
    try:
        error = _failure(seal, "unwrap", blob)
        assert error.message.startswith(
            f"the transit cluster at {kms.node.server.addr} is sealed: HTTP 503")
    finally:
        kms.node.server.unseal(kms.node.keys[:2])
    assert seal.unwrap(blob) == b"z" * 32


def test_tls_verification(kms: Kms, tmp_path: Path) -> None:
    wrong_ca = make_tls(tmp_path / "other-ca")
    cases = {
        "ca": kms.settings(),
        "client-cert": kms.settings(tls_client_cert=str(kms.tls.cert),
                                    tls_client_key=str(kms.tls.key)),
        "server-name": kms.settings(tls_server_name="localhost"),
        "skip-verify": kms.settings(tls_ca_cert=str(wrong_ca.ca_cert), tls_skip_verify=True),
        "wrong-ca": kms.settings(tls_ca_cert=str(wrong_ca.ca_cert)),
        "system-cas": kms.settings(tls_ca_cert=""),
        "wrong-name": kms.settings(tls_server_name="wrong.example"),
    }
    seals = {name: TransitSeal(settings) for name, settings in cases.items()}
    try:
        for name in ("ca", "client-cert", "server-name", "skip-verify"):
            assert seals[name].unwrap(seals[name].wrap(b"t" * 32)) == b"t" * 32, name
        for name in ("wrong-ca", "system-cas", "wrong-name"):
            message = _failure(seals[name], "unwrap", b"vault:v1:AAAA").message
            assert message.startswith(f"TLS verification of the transit cluster at "
                                      f"{kms.node.server.addr} failed ("), message
            assert "check tls_ca_cert and tls_server_name" in message
        assert "Hostname mismatch" in _failure(seals["wrong-name"], "wrap", b"t").message
    finally:
        for provider in seals.values():
            provider.close()


def test_namespace(kms: Kms) -> None:
    _post(kms.node, "sys/namespaces/team")
    _post(kms.node, "sys/mounts/kms", {"type": "transit"}, namespace="team")
    seal = TransitSeal(kms.settings(token=kms.node.root_token, namespace="team",
                                    mount_path="kms/"))
    try:
        assert seal.unwrap(seal.wrap(b"n" * 32, create_key=True)) == b"n" * 32
        assert seal.describe()["namespace"] == "team"
        with kms.node.root as c:
            assert c.get(f"/v1/kms/keys/{KEY}", headers=ns("team")).status_code == 200
    finally:
        seal.close()


def _renewers() -> int:
    return sum(1 for t in threading.enumerate() if t.name == RENEWER)


def test_token_renewal_keeps_a_short_token_alive(kms: Kms) -> None:
    before = _renewers()
    renewing = TransitSeal(kms.settings(token=kms.seal_token(ttl="4s")))
    fixed = TransitSeal(kms.settings(token=kms.seal_token(ttl="4s"), disable_renewal=True))
    try:
        blobs = (renewing.wrap(b"r" * 32), fixed.wrap(b"f" * 32))
        assert _renewers() == before + 1
        time.sleep(5.5)
        assert renewing.unwrap(blobs[0]) == b"r" * 32
        error = _failure(fixed, "unwrap", blobs[1])
        assert error.message.startswith("the seal's token was refused")
    finally:
        renewing.close()
        fixed.close()
    assert _renewers() == before
    assert "closed" in _failure(renewing, "unwrap", blobs[0]).message


def test_a_token_without_ttl_is_not_renewed(kms: Kms) -> None:
    seal = TransitSeal(kms.settings(token=kms.node.root_token))
    try:
        seal.wrap(b"x" * 32)
        renewer = seal._renewer
        assert renewer is not None
        renewer.join(3.0)                       # lookup-self: ttl 0, so the thread ends
        assert not renewer.is_alive()
    finally:
        seal.close()


# --- from_options ---------------------------------------------------------------------

def test_from_options_reads_every_option(tmp_path: Path, tls: TlsFiles) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("sbs.from-file\n")
    options = {"address": "https://kms.example:8200/", "token_file": str(token_file),
               "key_name": "autounseal", "mount_path": "/kms/unseal", "namespace": "ops/",
               "tls_ca_cert": str(tls.ca_cert), "tls_client_cert": str(tls.cert),
               "tls_client_key": str(tls.key), "tls_server_name": "kms.internal",
               "tls_skip_verify": "true", "disable_renewal": True, "timeout_s": "2.5"}
    settings = TransitSettings.from_options(options, {"VAULT_TOKEN": "sbs.env"})
    assert settings == TransitSettings(
        address="https://kms.example:8200", token="sbs.from-file", key_name="autounseal",
        mount_path="kms/unseal/", namespace="ops", tls_ca_cert=str(tls.ca_cert),
        tls_client_cert=str(tls.cert), tls_client_key=str(tls.key),
        tls_server_name="kms.internal", tls_skip_verify=True, disable_renewal=True,
        timeout_s=2.5)
    assert "sbs.from-file" not in repr(settings)
    explicit = TransitSettings.from_options({**options, "token_file": "", "token": "sbs.opt",
                                             "tls_skip_verify": False}, {})
    assert explicit.token == "sbs.opt" and explicit.tls_skip_verify is False


def test_from_options_environment_fallbacks() -> None:
    minimal = {"key_name": "k"}
    both = {"STRONGBOX_SEAL_ADDR": "https://a:1", "VAULT_ADDR": "https://b:2",
            "STRONGBOX_SEAL_TOKEN": "sbs.a", "VAULT_TOKEN": "sbs.b"}
    settings = TransitSettings.from_options(minimal, both)
    assert (settings.address, settings.token) == ("https://a:1", "sbs.a")
    assert (settings.mount_path, settings.namespace, settings.timeout_s) == ("transit/", "", 10.0)
    assert not settings.tls_skip_verify and not settings.disable_renewal
    vault = TransitSettings.from_options(minimal, {"VAULT_ADDR": "http://b:2",
                                                   "VAULT_TOKEN": "sbs.b"})
    assert (vault.address, vault.token) == ("http://b:2", "sbs.b")
    given = TransitSettings.from_options({**minimal, "address": "https://c:3", "token": "sbs.c"},
                                         both)
    assert (given.address, given.token) == ("https://c:3", "sbs.c")


@pytest.mark.parametrize(("options", "env", "key", "problem"), [
    ({"address": "https://a:1", "token": "t"}, {}, "seal.key_name", "required"),
    ({"address": "https://a:1", "key_name": "a/b", "token": "t"}, {}, "seal.key_name",
     "not a key name"),
    ({"key_name": "k", "token": "t"}, {}, "seal.address", "required"),
    ({"key_name": "k", "token": "t", "address": "kms:8200"}, {}, "seal.address",
     "http://"),
    ({"key_name": "k", "address": "https://a:1"}, {}, "seal.token", "required"),
    ({"key_name": "k", "address": "https://a:1", "token": "t", "token_file": "/f"}, {},
     "seal.token", "not both"),
    ({"key_name": "k", "address": "https://a:1", "token_file": "/nonexistent/token"}, {},
     "seal.token_file", "cannot read"),
    ({"key_name": "k", "address": "https://a:1", "token": "t", "tls_skip_verify": "maybe"}, {},
     "seal.tls_skip_verify", "true or false"),
    ({"key_name": "k", "address": "https://a:1", "token": "t", "tls_client_cert": "/c"}, {},
     "seal.tls_client_cert", "go together"),
    ({"key_name": "k", "address": "https://a:1", "token": "t", "tls_ca_cert": "/no/ca.pem"},
     {}, "seal.tls_ca_cert", "does not exist"),
    ({"key_name": "k", "address": "https://a:1", "token": "t", "timeout_s": 0}, {},
     "seal.timeout_s", "seconds"),
    ({"key_name": "k", "address": "https://a:1", "token": "t", "key_id": "x"}, {},
     "seal.key_id", "unknown option"),
    ({"key_name": 7, "address": "https://a:1", "token": "t"}, {}, "seal.key_name",
     "expected a string"),
])
def test_from_options_errors_name_the_key(options: dict[str, Any], env: dict[str, str],
                                          key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TransitSettings.from_options(options, env)
    assert caught.value.key == key and problem in caught.value.problem
    assert "t" not in caught.value.problem.split() and "sbs." not in str(caught.value)


def test_from_options_empty_token_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        TransitSettings.from_options({"key_name": "k", "address": "https://a:1",
                                      "token_file": str(tmp_path / "token")}, {})
