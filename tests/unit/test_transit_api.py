"""Transit over the real HTTP pipeline, in process (tests/inprocess.py): Vault's bodies,
status codes, batches, versions, key settings, export/backup/BYOK and the counters."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from strongbox import sweeper
from tests.inprocess import InProcessApi


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def transit(api: InProcessApi) -> InProcessApi:
    r = api.request("POST", "sys/mounts/transit", json={"type": "transit"})
    assert r.status_code == 204, r.text
    return api


def post(api: InProcessApi, path: str, body: dict[str, Any] | None = None,
         status: int = 200) -> dict[str, Any]:
    r = api.request("POST", "transit/" + path, json=body or {})
    assert r.status_code == status, r.text
    return r.json() if r.content else {}


def data(api: InProcessApi, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return post(api, path, body)["data"]


def error(api: InProcessApi, path: str, body: dict[str, Any], status: int = 400) -> str:
    r = api.request("POST", "transit/" + path, json=body)
    assert r.status_code == status, r.text
    return " ".join(r.json()["errors"])


def test_encrypt_decrypt_round_trip_and_vault_format(transit: InProcessApi) -> None:
    post(transit, "keys/app")
    out = data(transit, "encrypt/app", {"plaintext": b64(b"hello")})
    assert out["ciphertext"].startswith("vault:v1:") and out["key_version"] == 1
    assert b"hello" not in base64.b64decode(out["ciphertext"].split(":")[2])
    back = data(transit, "decrypt/app", {"ciphertext": out["ciphertext"]})
    assert base64.b64decode(back["plaintext"]) == b"hello"


def test_read_key_shows_no_material(transit: InProcessApi) -> None:
    post(transit, "keys/app", {"type": "aes256-gcm96"})
    r = transit.request("GET", "transit/keys/app")
    info = r.json()["data"]
    assert info["type"] == "aes256-gcm96" and info["latest_version"] == 1
    assert set(info["keys"]) == {"1"} and isinstance(info["keys"]["1"], int)
    assert info["supports_encryption"] and not info["supports_signing"]
    assert "key" not in str(info["keys"]).lower()


def test_encrypt_upserts_a_missing_key(transit: InProcessApi) -> None:
    out = data(transit, "encrypt/fresh", {"plaintext": b64(b"x")})
    assert out["ciphertext"].startswith("vault:v1:")
    assert transit.request("GET", "transit/keys/fresh").json()["data"]["type"] == \
        "aes256-gcm96"
    derived = data(transit, "encrypt/ctxkey", {"plaintext": b64(b"x"), "context": b64(b"c")})
    assert derived["ciphertext"]
    assert transit.request("GET", "transit/keys/ctxkey").json()["data"]["derived"] is True


def test_old_versions_decrypt_until_min_decryption_version_passes_them(
        transit: InProcessApi) -> None:
    post(transit, "keys/rot")
    v1 = data(transit, "encrypt/rot", {"plaintext": b64(b"one")})["ciphertext"]
    for _ in range(3):
        post(transit, "keys/rot/rotate")
    latest = data(transit, "encrypt/rot", {"plaintext": b64(b"four")})
    assert latest["ciphertext"].startswith("vault:v4:") and latest["key_version"] == 4
    assert base64.b64decode(data(transit, "decrypt/rot", {"ciphertext": v1})["plaintext"]) \
        == b"one"
    rewrapped = data(transit, "rewrap/rot", {"ciphertext": v1})
    assert rewrapped["ciphertext"].startswith("vault:v4:")
    post(transit, "keys/rot/config", {"min_decryption_version": 2})
    message = error(transit, "decrypt/rot", {"ciphertext": v1})
    assert "min_decryption_version" in message
    assert base64.b64decode(data(transit, "decrypt/rot",
                                 {"ciphertext": rewrapped["ciphertext"]})["plaintext"]) == b"one"


def test_batch_with_one_bad_item(transit: InProcessApi) -> None:
    post(transit, "keys/b")
    items = [{"plaintext": b64(b"a"), "reference": "r1"}, {"plaintext": "%%%not base64"},
             {"plaintext": b64(b"c")}]
    r = transit.request("POST", "transit/encrypt/b", json={"batch_input": items})
    assert r.status_code == 400
    results = r.json()["data"]["batch_results"]
    assert results[0]["reference"] == "r1" and results[0]["ciphertext"].startswith("vault:v1")
    assert "base64" in results[1]["error"] and "ciphertext" not in results[1]
    assert results[2]["ciphertext"]
    r = transit.request("POST", "transit/encrypt/b",
                        json={"batch_input": items, "partial_failure_response_code": 207})
    assert r.status_code == 207
    good = [{"ciphertext": x["ciphertext"]} for x in (results[0], results[2])]
    r = transit.request("POST", "transit/decrypt/b",
                        json={"batch_input": [*good, {"ciphertext": "vault:v1:AAAAAAAA"}]})
    assert r.status_code == 400
    plain = [base64.b64decode(x["plaintext"]) for x in r.json()["data"]["batch_results"][:2]]
    assert plain == [b"a", b"c"]
    assert r.json()["data"]["batch_results"][2]["error"] == \
        "cipher: message authentication failed"


@pytest.mark.parametrize("ciphertext,needle", [
    ("nonsense", "vault:v"), ("vault:vX:AAAA", "version"), ("vault:v1:%%%", "base64"),
])
def test_malformed_ciphertexts_are_400s(transit: InProcessApi, ciphertext: str,
                                        needle: str) -> None:
    post(transit, "keys/m")
    assert needle in error(transit, "decrypt/m", {"ciphertext": ciphertext})


def test_every_bad_tag_gets_the_same_message(transit: InProcessApi) -> None:
    post(transit, "keys/t1")
    post(transit, "keys/t2")
    post(transit, "keys/d", {"derived": True})
    good = data(transit, "encrypt/t1", {"plaintext": b64(b"secret")})["ciphertext"]
    raw = bytearray(base64.b64decode(good.split(":")[2]))
    raw[-1] ^= 1
    flipped = "vault:v1:" + b64(bytes(raw))
    derived = data(transit, "encrypt/d", {"plaintext": b64(b"s"), "context": b64(b"a")})
    messages = {
        error(transit, "decrypt/t2", {"ciphertext": good}),
        error(transit, "decrypt/t1", {"ciphertext": flipped}),
        error(transit, "decrypt/t1", {"ciphertext": "vault:v1:" + b64(raw[:10])}),
        error(transit, "decrypt/d", {"ciphertext": derived["ciphertext"],
                                     "context": b64(b"b")}),
    }
    assert messages == {"cipher: message authentication failed"}


def test_derived_key_requires_context(transit: InProcessApi) -> None:
    post(transit, "keys/der", {"derived": True})
    assert "context" in error(transit, "encrypt/der", {"plaintext": b64(b"x")})


def test_convergent_encryption_is_deterministic(transit: InProcessApi) -> None:
    post(transit, "keys/conv", {"derived": True, "convergent_encryption": True})

    def enc(plain: bytes, context: bytes) -> str:
        return str(data(transit, "encrypt/conv", {"plaintext": b64(plain),
                                                  "context": b64(context)})["ciphertext"])

    assert enc(b"p", b"c") == enc(b"p", b"c")
    assert enc(b"p", b"c") != enc(b"p", b"d")
    assert enc(b"p", b"c") != enc(b"q", b"c")
    info = transit.request("GET", "transit/keys/conv").json()["data"]
    assert info["convergent_encryption"] and info["convergent_encryption_version"] == 3


@pytest.mark.parametrize("body,needle", [
    ({"type": "aes512"}, "unknown key type"),
    ({"type": "rsa-2048", "derived": True}, "derivation"),
    ({"convergent_encryption": True}, "derived"),
    ({"auto_rotate_period": "5m"}, "1h"),
])
def test_bad_creation_fields(transit: InProcessApi, body: dict[str, Any], needle: str) -> None:
    assert needle in error(transit, "keys/bad", body)
    assert transit.request("GET", "transit/keys/bad").status_code == 404


def test_config_rules_and_deletion(transit: InProcessApi) -> None:
    post(transit, "keys/c")
    assert "greater than the latest" in error(transit, "keys/c/config",
                                              {"min_decryption_version": 2})
    r = transit.request("DELETE", "transit/keys/c")
    assert r.status_code == 400 and "deletion_allowed" in r.text
    post(transit, "keys/c/config", {"deletion_allowed": True})
    assert transit.request("DELETE", "transit/keys/c").status_code == 204
    assert transit.request("GET", "transit/keys/c").status_code == 404
    assert transit.request("LIST", "transit/keys").status_code == 404


def test_list_keys(transit: InProcessApi) -> None:
    for name in ("b", "a.1", "c-2"):
        post(transit, f"keys/{name}")
    assert transit.request("LIST", "transit/keys").json()["data"]["keys"] == ["a.1", "b", "c-2"]


def test_trim_removes_old_versions(transit: InProcessApi) -> None:
    post(transit, "keys/tr")
    v1 = data(transit, "encrypt/tr", {"plaintext": b64(b"x")})["ciphertext"]
    post(transit, "keys/tr/rotate")
    assert "min_decryption_version" in error(transit, "keys/tr/trim",
                                             {"min_available_version": 2})
    post(transit, "keys/tr/config", {"min_decryption_version": 2})
    post(transit, "keys/tr/trim", {"min_available_version": 2})
    info = transit.request("GET", "transit/keys/tr").json()["data"]
    assert set(info["keys"]) == {"2"} and info["min_available_version"] == 2
    assert error(transit, "decrypt/tr", {"ciphertext": v1})


def test_export_only_when_exportable(transit: InProcessApi) -> None:
    post(transit, "keys/noexp")
    r = transit.request("GET", "transit/export/encryption-key/noexp")
    assert r.status_code == 400 and "not exportable" in r.text
    post(transit, "keys/exp", {"exportable": True})
    post(transit, "keys/exp/rotate")
    keys = transit.request("GET", "transit/export/encryption-key/exp").json()["data"]["keys"]
    assert set(keys) == {"1", "2"} and len(base64.b64decode(keys["1"])) == 32
    latest = transit.request("GET", "transit/export/encryption-key/exp/latest").json()
    assert set(latest["data"]["keys"]) == {"2"}
    assert "exportable" in error(transit, "keys/exp/config", {"exportable": False})


def test_backup_and_restore(transit: InProcessApi) -> None:
    post(transit, "keys/bk")
    r = transit.request("GET", "transit/backup/bk")
    assert r.status_code == 400 and "allow_plaintext_backup" in r.text
    post(transit, "keys/bk/config", {"exportable": True, "allow_plaintext_backup": True})
    secret = data(transit, "encrypt/bk", {"plaintext": b64(b"keep")})["ciphertext"]
    backup = transit.request("GET", "transit/backup/bk").json()["data"]["backup"]
    post(transit, "restore/copy", {"backup": backup}, status=204)
    out = data(transit, "decrypt/copy", {"ciphertext": secret})
    assert base64.b64decode(out["plaintext"]) == b"keep"
    assert "force" in error(transit, "restore", {"backup": backup})
    post(transit, "restore", {"backup": backup, "force": True}, status=204)
    assert "backup" in error(transit, "restore/x", {"backup": b64(b"{}")})


def test_byok_import_of_an_aes_key_decrypts_what_the_key_encrypted(
        transit: InProcessApi) -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    pem = transit.request("GET", "transit/wrapping_key").json()["data"]["public_key"]
    wrapping = serialization.load_pem_public_key(pem.encode())
    target = os.urandom(32)
    ephemeral = os.urandom(32)
    wrapped = wrapping.encrypt(ephemeral, padding.OAEP(  # type: ignore[union-attr]
        mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
    ciphertext = b64(wrapped + aes_key_wrap_with_padding(ephemeral, target))
    post(transit, "keys/imp/import", {"ciphertext": ciphertext, "type": "aes256-gcm96"},
         status=204)
    nonce = os.urandom(12)
    sealed = nonce + AESGCM(target).encrypt(nonce, b"from outside", None)
    out = data(transit, "decrypt/imp", {"ciphertext": "vault:v1:" + b64(sealed)})
    assert base64.b64decode(out["plaintext"]) == b"from outside"
    assert transit.request("GET", "transit/keys/imp").json()["data"]["imported_key"] is True
    assert "allow_rotation" in error(transit, "keys/imp/rotate", {})
    assert "already exists" in error(transit, "keys/imp/import",
                                     {"ciphertext": ciphertext})
    assert error(transit, "keys/other/import", {"ciphertext": b64(b"x" * 600)})
    assert transit.request("GET", "transit/keys/other").status_code == 404


def test_sign_verify_round_trip_and_tampering(transit: InProcessApi) -> None:
    post(transit, "keys/ec", {"type": "ecdsa-p256"})
    sig = data(transit, "sign/ec", {"input": b64(b"msg")})["signature"]
    assert sig.startswith("vault:v1:")
    assert data(transit, "verify/ec", {"input": b64(b"msg"), "signature": sig})["valid"]
    assert not data(transit, "verify/ec", {"input": b64(b"other"), "signature": sig})["valid"]
    pem = transit.request("GET", "transit/keys/ec").json()["data"]["keys"]["1"]["public_key"]
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(sig.split(":")[2]), b"msg", ec.ECDSA(hashes.SHA256()))


def test_signing_with_an_encryption_key_is_a_400(transit: InProcessApi) -> None:
    post(transit, "keys/aes")
    assert "does not support signing" in error(transit, "sign/aes", {"input": b64(b"x")})
    post(transit, "keys/ed", {"type": "ed25519"})
    assert "does not support encryption" in error(transit, "encrypt/ed",
                                                  {"plaintext": b64(b"x")})


def test_hmac_and_verify(transit: InProcessApi) -> None:
    post(transit, "keys/h", {"type": "hmac"})
    mac = data(transit, "hmac/h", {"input": b64(b"data")})["hmac"]
    assert mac.startswith("vault:v1:")
    assert data(transit, "verify/h", {"input": b64(b"data"), "hmac": mac})["valid"]
    assert not data(transit, "verify/h", {"input": b64(b"datb"), "hmac": mac})["valid"]
    mac512 = data(transit, "hmac/h/sha2-512", {"input": b64(b"data")})["hmac"]
    assert len(base64.b64decode(mac512.split(":")[2])) == 64


def test_random_hash_and_datakey(transit: InProcessApi) -> None:
    rnd = data(transit, "random/16", {"format": "hex"})["random_bytes"]
    assert len(bytes.fromhex(rnd)) == 16
    assert "bytes" in error(transit, "random", {"bytes": 0})
    digest = data(transit, "hash/sha2-256", {"input": b64(b"abc")})["sum"]
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    post(transit, "keys/dk")
    plain = data(transit, "datakey/plaintext/dk", {"bits": 512})
    key = base64.b64decode(plain["plaintext"])
    assert len(key) == 64
    back = data(transit, "decrypt/dk", {"ciphertext": plain["ciphertext"]})
    assert base64.b64decode(back["plaintext"]) == key
    assert "plaintext" not in data(transit, "datakey/wrapped/dk")


def test_encryption_count_and_automatic_rotation_by_count(transit: InProcessApi) -> None:
    post(transit, "keys/cnt", {"auto_rotate_max_encryptions": 5})
    for i in range(5):
        data(transit, "encrypt/cnt", {"plaintext": b64(bytes([i]))})
    info = transit.request("GET", "transit/keys/cnt").json()["data"]
    assert info["encryption_count"]["1"] >= 5
    rotated = transit.loop.run_until_complete(sweeper.maintain_once(transit.core))
    assert rotated == 1
    assert transit.request("GET", "transit/keys/cnt").json()["data"]["latest_version"] == 2


def test_automatic_rotation_by_period(transit: InProcessApi) -> None:
    post(transit, "keys/per", {"auto_rotate_period": "1h"})
    assert transit.loop.run_until_complete(sweeper.maintain_once(transit.core)) == 0
    transit.clock.advance(3601)
    assert transit.loop.run_until_complete(sweeper.maintain_once(transit.core)) == 1
    assert transit.loop.run_until_complete(sweeper.maintain_once(transit.core)) == 0
    assert transit.request("GET", "transit/keys/per").json()["data"]["latest_version"] == 2


def test_no_key_material_reaches_the_audit_log_or_responses(transit: InProcessApi) -> None:
    post(transit, "keys/sec", {"exportable": True})
    key = transit.request("GET", "transit/export/encryption-key/sec").json()["data"]["keys"]
    material = key["1"]
    for path in ("keys/sec", "keys/sec/rotate", "keys/sec/config"):
        r = transit.request("POST", "transit/" + path, json={})
        assert material not in r.text


def test_a_version_near_the_nonce_limit_warns_and_counts_every_node(
        transit: InProcessApi) -> None:
    from strongbox.backend.storage import Batch, MountStorage

    post(transit, "keys/hot")
    post(transit, "keys/conv-hot", {"derived": True, "convergent_encryption": True})
    mount = next(m for m in transit.core.store.mounts("") if m.path == "transit/")
    view = MountStorage(transit.core, "", mount, secrets_engine=True)
    for name in ("hot", "conv-hot"):  # another node's reservations, near 2**32
        transit.loop.run_until_complete(view.write(
            Batch().put_plain(b"3500000000", "count", name, "1", "node-elsewhere")))
    r = transit.request("POST", "transit/encrypt/hot", json={"plaintext": b64(b"x")})
    warnings = r.json()["warnings"]
    assert r.status_code == 200 and warnings and "rotate the key" in warnings[0]
    info = transit.request("GET", "transit/keys/hot").json()["data"]
    assert info["encryption_count"]["1"] == 3_500_000_001
    r = transit.request("POST", "transit/encrypt/conv-hot",
                        json={"plaintext": b64(b"x"), "context": b64(b"c")})
    assert r.status_code == 200 and not r.json()["warnings"]


def test_an_upserting_encrypt_with_an_idempotency_key_counts_its_encryption(
        transit: InProcessApi) -> None:
    r = transit.request("POST", "transit/encrypt/idem", json={"plaintext": b64(b"x")},
                        headers={"Idempotency-Key": "enc-1"})
    assert r.status_code == 200, r.text
    info = transit.request("GET", "transit/keys/idem").json()["data"]
    assert info["encryption_count"]["1"] >= 1
