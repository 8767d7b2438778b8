"""Rekey and generate-root end to end on a real node, through hvac as Vault's users call
them: new shares that unseal after a restart (and old ones that no longer do), and a
break-glass root token decoded with Vault's OTP scheme."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from strongbox.testing import ServerProcess, TlsFiles
from tests.conftest import ReadyNode, ready_node

pytestmark = pytest.mark.integration


@pytest.fixture
def own_node(tmp_path: Path, tls: TlsFiles) -> Iterator[ReadyNode]:
    """A node of its own: these tests change its shares and restart it."""
    with ready_node(tmp_path / "data", tls) as ready:
        yield ready


def hv(server: ServerProcess, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=server.addr, token=token, verify=str(server.tls.ca_cert))


def restart(server: ServerProcess) -> None:
    server.stop()
    server.start()


def vault_decode(encoded: str, otp: str) -> str:
    """What `vault operator generate-root -decode` does (Vault 1.10+): base64 without
    padding, then XOR with the OTP."""
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    return bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode()


def test_rekey_gives_new_shares_that_unseal_after_a_restart(own_node: ReadyNode) -> None:
    client = hv(own_node.server, own_node.root_token)
    client.secrets.kv.v2.create_or_update_secret(path="rekey/keep", secret={"v": "same"})
    started = client.sys.start_rekey(secret_shares=5, secret_threshold=3)
    assert started["started"] is True and (started["n"], started["t"]) == (5, 3)
    assert started["required"] == 2 and started["progress"] == 0
    first = client.sys.rekey(own_node.keys[0], nonce=started["nonce"])
    assert first["progress"] == 1 and "keys" not in first
    done = client.sys.rekey(own_node.keys[1], nonce=started["nonce"])
    assert done["complete"] is True and len(done["keys"]) == 5
    assert len(done["keys_base64"]) == 5
    status = client.sys.read_seal_status()
    assert (status["n"], status["t"]) == (5, 3)
    assert client.sys.read_rekey_progress()["started"] is False
    restart(own_node.server)
    with own_node.server.client() as raw:
        for old in own_node.keys[:2]:  # the old shares no longer open the root key
            raw.put("/v1/sys/unseal", json={"key": old})
        assert raw.get("/v1/sys/seal-status").json()["sealed"] is True
        raw.put("/v1/sys/unseal", json={"reset": True})
    own_node.server.unseal(done["keys"][2:5])
    client = hv(own_node.server, own_node.root_token)  # the root key did not change
    assert client.secrets.kv.v2.read_secret_version(
        path="rekey/keep", raise_on_deleted_version=True)["data"]["data"] == {"v": "same"}


def test_rekey_with_verification_commits_only_once_verified(own_node: ReadyNode) -> None:
    client = hv(own_node.server, own_node.root_token)
    started = client.sys.start_rekey(secret_shares=3, secret_threshold=2,
                                     require_verification=True)
    assert started["verification_required"] is True
    client.sys.rekey(own_node.keys[0], nonce=started["nonce"])
    done = client.sys.rekey(own_node.keys[1], nonce=started["nonce"])
    assert done["complete"] is True and done["verification_nonce"]
    new = done["keys"]
    with own_node.server.client() as raw:  # not yet committed: the old shares still rule
        wrong_nonce = raw.put("/v1/sys/rekey/verify", json={"key": new[0], "nonce": "x"})
        assert wrong_nonce.status_code == 400 and "nonce" in wrong_nonce.text
    assert client.sys.read_rekey_verify_progress()["started"] is True
    progress = client.sys.rekey_verify(new[0], nonce=done["verification_nonce"])
    assert progress["progress"] == 1
    verified = client.sys.rekey_verify(new[1], nonce=done["verification_nonce"])
    assert verified["complete"] is True
    restart(own_node.server)
    own_node.server.unseal(new[1:3])
    assert hv(own_node.server).sys.read_seal_status()["sealed"] is False


def test_rekey_refusals_say_what_to_do(own_node: ReadyNode) -> None:
    with own_node.server.client() as raw:
        pgp = raw.put("/v1/sys/rekey/init", json={"secret_shares": 1, "secret_threshold": 1,
                                                  "pgp_keys": ["abc"]})
        assert pgp.status_code == 400 and "PGP" in pgp.text
        bad = raw.put("/v1/sys/rekey/init", json={"secret_shares": 3, "secret_threshold": 1})
        assert bad.status_code == 400 and "at least 2" in bad.text
        started = raw.put("/v1/sys/rekey/init", json={"secret_shares": 1,
                                                      "secret_threshold": 1}).json()
        again = raw.put("/v1/sys/rekey/init", json={"secret_shares": 1, "secret_threshold": 1})
        assert again.status_code == 400 and "already in progress" in again.text
        wrong = raw.put("/v1/sys/rekey/update", json={"key": own_node.keys[0], "nonce": "no"})
        assert wrong.status_code == 400 and own_node.keys[0] not in wrong.text
        assert raw.delete("/v1/sys/rekey/init").status_code == 204
        assert raw.get("/v1/sys/rekey/init").json()["started"] is False
        assert started["nonce"]
        recovery = raw.put("/v1/sys/rekey-recovery-key/init",
                           json={"secret_shares": 1, "secret_threshold": 1})
        assert recovery.status_code == 400 and "recovery keys" in recovery.text


def test_generate_root_with_a_node_made_otp_decodes_as_vault(own_node: ReadyNode) -> None:
    client = hv(own_node.server)
    started = client.sys.start_root_token_generation()
    otp = started["otp"]
    assert started["started"] is True and len(otp) == started["otp_length"]
    assert started["required"] == 2
    assert client.sys.read_root_generation_progress()["nonce"] == started["nonce"]
    first = client.sys.generate_root(own_node.keys[0], nonce=started["nonce"])
    assert first["progress"] == 1 and first["complete"] is False
    done = client.sys.generate_root(own_node.keys[2], nonce=started["nonce"])
    assert done["complete"] is True and done["encoded_token"] == done["encoded_root_token"]
    token = vault_decode(done["encoded_token"], otp)
    with own_node.server.client() as raw:
        decoded = raw.put("/v1/sys/decode-token",
                          json={"encoded_token": done["encoded_token"], "otp": otp})
        assert decoded.json()["data"]["token"] == token
    root = hv(own_node.server, token)
    assert root.lookup_token()["data"]["policies"] == ["root"]
    assert client.sys.read_root_generation_progress()["started"] is False


def test_generate_root_refuses_duplicates_wrong_sets_and_bad_otps(own_node: ReadyNode) -> None:
    with own_node.server.client() as raw:
        short = raw.put("/v1/sys/generate-root/attempt", json={"otp": "short"})
        assert short.status_code == 400 and "wrong length" in short.text
        otp = "A" * 36
        nonce = raw.put("/v1/sys/generate-root/attempt", json={"otp": otp}).json()["nonce"]
        again = raw.put("/v1/sys/generate-root/attempt", json={})
        assert again.status_code == 400 and "already in progress" in again.text
        assert raw.put("/v1/sys/generate-root/update",
                       json={"key": own_node.keys[0], "nonce": nonce}).status_code == 200
        dup = raw.put("/v1/sys/generate-root/update",
                      json={"key": own_node.keys[0], "nonce": nonce})
        assert dup.status_code == 400 and "already given" in dup.text
        assert raw.delete("/v1/sys/generate-root/attempt").status_code == 204
        assert raw.get("/v1/sys/generate-root/attempt").json()["started"] is False


def test_generate_root_after_a_rekey_needs_the_new_shares(own_node: ReadyNode) -> None:
    client = hv(own_node.server, own_node.root_token)
    started = client.sys.start_rekey(secret_shares=1, secret_threshold=1)
    client.sys.rekey(own_node.keys[0], nonce=started["nonce"])
    new = client.sys.rekey(own_node.keys[1], nonce=started["nonce"])["keys"]
    attempt = hv(own_node.server).sys.start_root_token_generation()
    assert attempt["required"] == 1
    with own_node.server.client() as raw:
        old = raw.put("/v1/sys/generate-root/update",
                      json={"key": own_node.keys[0], "nonce": attempt["nonce"]})
        assert old.status_code == 400  # a share of the old, longer format: refused
        done = raw.put("/v1/sys/generate-root/update",
                       json={"key": new[0], "nonce": attempt["nonce"]}).json()
    assert done["complete"] is True
    assert vault_decode(done["encoded_token"], attempt["otp"]).startswith("sbs.")
