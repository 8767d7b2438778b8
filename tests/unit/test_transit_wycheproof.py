"""Wycheproof vectors through the Transit engine's own crypto functions.

The vectors are in tests/data/wycheproof (see its README for the source commit). Every
vector goes through the function the engine calls (`crypto.aead_open`/`aead_seal`,
`signing.verify_with_public`, `byok.oaep_decrypt`/`kwp_unwrap`). "valid" vectors must
pass; "invalid" ones must be rejected (False, or BadRequest for a signature that does
not parse); "acceptable" ones may go either way: they are run for crashes only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongbox.engines.transit import byok, crypto, signing
from strongbox.errors import BadRequest

DATA = Path(__file__).resolve().parent.parent / "data" / "wycheproof"


def _load(name: str) -> dict[str, Any]:
    with (DATA / name).open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _cases(name: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for group in _load(name)["testGroups"]:
        for test in group["tests"]:
            yield group, test


# --- AEAD ---------------------------------------------------------------------------

AEAD_FILES = {"aes_gcm_test.json": {16: "aes128-gcm96", 32: "aes256-gcm96"},
              "chacha20_poly1305_test.json": {32: "chacha20-poly1305"}}


def _aead_vectors() -> list[Any]:
    out = []
    for name, types in AEAD_FILES.items():
        for group, test in _cases(name):
            if group["ivSize"] != 96 or group["tagSize"] != 128:
                continue
            kt_name = types.get(group["keySize"] // 8)
            if kt_name is not None:
                out.append(pytest.param(kt_name, test, id=f"{kt_name}-{test['tcId']}"))
    return out


AEAD_VECTORS = _aead_vectors()


def test_aead_vector_counts() -> None:
    names = {p.values[0] for p in AEAD_VECTORS}
    assert names == {"aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"}
    assert len(AEAD_VECTORS) > 300


@pytest.mark.parametrize(("kt_name", "test"), AEAD_VECTORS)
def test_aead(kt_name: str, test: dict[str, Any]) -> None:
    key, iv, aad = (bytes.fromhex(test[k]) for k in ("key", "iv", "aad"))
    msg, ct, tag = (bytes.fromhex(test[k]) for k in ("msg", "ct", "tag"))
    if test["result"] == "valid":
        assert crypto.aead_open(kt_name, key, iv, ct + tag, aad) == msg
        assert crypto.aead_seal(kt_name, key, iv, msg, aad) == ct + tag
    elif test["result"] == "invalid":
        with pytest.raises(BadRequest) as info:
            crypto.aead_open(kt_name, key, iv, ct + tag, aad)
        assert info.value.message == crypto.AUTH_FAILED
    else:
        try:
            crypto.aead_open(kt_name, key, iv, ct + tag, aad)
        except BadRequest as exc:
            assert exc.message == crypto.AUTH_FAILED


# --- signatures ---------------------------------------------------------------------

SHA = {"SHA-256": "sha2-256", "SHA-384": "sha2-384", "SHA-512": "sha2-512"}

SIGNATURE_FILES: list[tuple[str, str, dict[str, Any]]] = [
    ("ecdsa_secp256r1_sha256_test.json", "ecdsa-p256", {"marshaling_algorithm": "asn1"}),
    ("ecdsa_secp256r1_sha512_test.json", "ecdsa-p256", {"marshaling_algorithm": "asn1"}),
    ("ecdsa_secp384r1_sha384_test.json", "ecdsa-p384", {"marshaling_algorithm": "asn1"}),
    ("ecdsa_secp256r1_sha256_p1363_test.json", "ecdsa-p256", {"marshaling_algorithm": "jws"}),
    ("ecdsa_secp384r1_sha384_p1363_test.json", "ecdsa-p384", {"marshaling_algorithm": "jws"}),
    ("ed25519_test.json", "ed25519", {}),
    ("rsa_pss_2048_sha256_mgf1_32_test.json", "rsa-2048",
     {"signature_algorithm": "pss", "salt_length": "32"}),
    ("rsa_pss_3072_sha256_mgf1_32_test.json", "rsa-3072",
     {"signature_algorithm": "pss", "salt_length": "hash"}),
    ("rsa_pss_4096_sha256_mgf1_32_test.json", "rsa-4096",
     {"signature_algorithm": "pss", "salt_length": "32"}),
    ("rsa_signature_2048_sha256_test.json", "rsa-2048", {"signature_algorithm": "pkcs1v15"}),
    ("rsa_signature_3072_sha384_test.json", "rsa-3072", {"signature_algorithm": "pkcs1v15"}),
    ("rsa_signature_4096_sha512_test.json", "rsa-4096", {"signature_algorithm": "pkcs1v15"}),
]


def _signature_vectors() -> list[Any]:
    out = []
    for name, kt_name, opts in SIGNATURE_FILES:
        for group, test in _cases(name):
            if group.get("keySize", 0) and kt_name.startswith("rsa") and \
                    f"rsa-{group['keySize']}" != kt_name:
                continue
            if "mgfSha" in group and group["mgfSha"] != group["sha"]:
                continue  # Vault's PSS always uses MGF1 with the signature's hash
            options = dict(opts)
            if "sha" in group:
                options["hash_algorithm"] = SHA[group["sha"]]
            public = group["publicKeyDer"]
            out.append(pytest.param(kt_name, public, options, test,
                                    id=f"{name.removesuffix('_test.json')}-{test['tcId']}"))
    return out


SIGNATURE_VECTORS = _signature_vectors()


def test_signature_vectors_cover_every_file() -> None:
    seen = {p.id.rsplit("-", 1)[0] for p in SIGNATURE_VECTORS}
    assert seen == {name.removesuffix("_test.json") for name, _, _ in SIGNATURE_FILES}


def _verdict(kt_name: str, public: str, options: dict[str, Any], test: dict[str, Any]) -> bool:
    try:
        return signing.verify_with_public(kt_name, bytes.fromhex(public),
                                          bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]),
                                          **options)
    except BadRequest:
        return False


@pytest.mark.parametrize(("kt_name", "public", "options", "test"), SIGNATURE_VECTORS)
def test_signature(kt_name: str, public: str, options: dict[str, Any],
                   test: dict[str, Any]) -> None:
    verdict = _verdict(kt_name, public, options, test)
    if test["result"] == "valid":
        assert verdict is True
    elif test["result"] == "invalid":
        assert verdict is False


def test_pss_auto_salt_accepts_the_valid_vectors() -> None:
    """salt_length=auto (Vault's default) detects the salt when verifying."""
    count = 0
    for group, test in _cases("rsa_pss_2048_sha256_mgf1_32_test.json"):
        if test["result"] != "valid":
            continue
        assert signing.verify_with_public(
            "rsa-2048", bytes.fromhex(group["publicKeyDer"]), bytes.fromhex(test["msg"]),
            bytes.fromhex(test["sig"]), hash_algorithm="sha2-256", salt_length="auto")
        count += 1
    assert count > 0


def test_ecdsa_prehashed_matches_hashing() -> None:
    """prehashed=true with the digest verifies like hashing the message (P-256 sha2-512:
    the digest is cut to the curve size as Go does)."""
    import hashlib

    checked = 0
    for group, test in _cases("ecdsa_secp256r1_sha512_test.json"):
        if test["result"] != "valid":
            continue
        digest = hashlib.sha512(bytes.fromhex(test["msg"])).digest()
        assert signing.verify_with_public(
            "ecdsa-p256", bytes.fromhex(group["publicKeyDer"]), digest,
            bytes.fromhex(test["sig"]), hash_algorithm="sha2-512", prehashed=True)
        checked += 1
        if checked == 20:
            break
    assert checked == 20


# --- BYOK: AES-KWP and RSA-OAEP -------------------------------------------------------

def _kwp_vectors() -> list[Any]:
    return [pytest.param(test, id=f"kwp-{test['tcId']}")
            for group, test in _cases("aes_kwp_test.json") if group["keySize"] == 256]


@pytest.mark.parametrize("test", _kwp_vectors())
def test_kwp_unwrap(test: dict[str, Any]) -> None:
    key, msg, ct = (bytes.fromhex(test[k]) for k in ("key", "msg", "ct"))
    if test["result"] == "valid":
        assert byok.kwp_unwrap(key, ct) == msg
    elif test["result"] == "invalid":
        with pytest.raises(BadRequest) as info:
            byok.kwp_unwrap(key, ct)
        assert info.value.message == byok.UNWRAP_FAILED


def _oaep_vectors() -> list[Any]:
    return [pytest.param(group["privateKeyPkcs8"], test, id=f"oaep-{test['tcId']}")
            for group, test in _cases("rsa_oaep_4096_sha256_mgf1sha256_test.json")
            if test["label"] == ""]


OAEP_VECTORS = _oaep_vectors()


def test_oaep_vectors_present() -> None:
    assert len(OAEP_VECTORS) > 10


@pytest.mark.parametrize(("private", "test"), OAEP_VECTORS)
def test_oaep_decrypt(private: str, test: dict[str, Any]) -> None:
    der, ct = bytes.fromhex(private), bytes.fromhex(test["ct"])
    if test["result"] == "valid":
        assert byok.oaep_decrypt(der, ct, "SHA256") == bytes.fromhex(test["msg"])
    elif test["result"] == "invalid":
        with pytest.raises(BadRequest) as info:
            byok.oaep_decrypt(der, ct, "SHA256")
        assert info.value.message == byok.UNWRAP_FAILED
