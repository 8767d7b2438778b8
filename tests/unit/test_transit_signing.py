"""Transit's crypto core, second half: signatures, BYOK and export."""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from strongbox.engines.transit import byok, crypto, keytypes, signing
from strongbox.errors import BadRequest
from tests.unit.test_transit_crypto import (
    AEAD,
    HASHES,
    RSA,
    SECRET,
    SIGNERS,
    _private,
    b64,
    key,
)

# --- signatures ------------------------------------------------------------------------

def _combos(name: str) -> list[dict[str, Any]]:
    """Every option combination Vault accepts for a key type."""
    none = {"hash_algorithm": "none", "prehashed": True, "signature_algorithm": "pkcs1v15"}
    if name == "ed25519":
        return [{"marshaling_algorithm": m, "hash_algorithm": h, "prehashed": p}
                for m, h, p in itertools.product(("asn1", "jws"), ("sha2-256", "sha3-512"),
                                                 (False, True))] + [none]
    if name.startswith("ecdsa"):
        return [{"marshaling_algorithm": m, "hash_algorithm": h, "prehashed": p}
                for m, h, p in itertools.product(("asn1", "jws"), HASHES, (False, True))] + \
            [none]
    out: list[dict[str, Any]] = [none, {"signature_algorithm": "", "hash_algorithm": "sha2-256",
                                        "marshaling_algorithm": "jws"}]
    for h, p in itertools.product(HASHES, (False, True)):
        out.append({"signature_algorithm": "pkcs1v15", "hash_algorithm": h, "prehashed": p})
        out.extend({"signature_algorithm": "pss", "hash_algorithm": h, "salt_length": salt,
                    "prehashed": p} for salt in ("auto", "hash", "0", "-1", "20"))
    return out


SIGN_CASES = [pytest.param(name, combo, id=f"{name}-{i}")
              for name in SIGNERS for i, combo in enumerate(_combos(name))
              if name == "rsa-2048" or name[:3] != "rsa" or i % 7 == 0]


def _prehash(combo: dict[str, Any], data: bytes) -> bytes:
    if not combo.get("prehashed") or combo.get("hash_algorithm") == "none":
        return data
    import hashlib
    name = {"sha1": "sha1", "sha2-224": "sha224", "sha2-256": "sha256", "sha2-384": "sha384",
            "sha2-512": "sha512", "sha3-224": "sha3_224", "sha3-256": "sha3_256",
            "sha3-384": "sha3_384", "sha3-512": "sha3_512"}[combo["hash_algorithm"]]
    return hashlib.new(name, data).digest()


@pytest.mark.parametrize(("name", "combo"), SIGN_CASES)
def test_sign_verify(name: str, combo: dict[str, Any]) -> None:
    kt, kv = key(name)
    data = _prehash(combo, SECRET)
    signature = signing.sign(kt, kv, data, **combo)
    assert signature.startswith("vault:v1:")
    body = signature.removeprefix("vault:v1:")
    if combo.get("marshaling_algorithm") == "jws":
        assert re.fullmatch(r"[A-Za-z0-9_-]+", body)
    else:
        assert re.fullmatch(r"[A-Za-z0-9+/]+=*", body)
    assert signing.verify(kt, kv, data, signature, **combo)
    wrong = bytes([data[0] ^ 1]) + data[1:]  # ecdsa reads only the first curve-size bytes
    assert not signing.verify(kt, kv, wrong, signature, **combo)


@pytest.mark.parametrize("name", ["ecdsa-p256", "ecdsa-p384"])
def test_ecdsa_prehashed_and_jws_size(name: str) -> None:
    kt, kv = key(name)
    for digest in (b"short input", bytes(32), bytes(range(64))):
        signature = signing.sign(kt, kv, digest, prehashed=True)
        assert signing.verify(kt, kv, digest, signature, prehashed=True)
    jws = signing.sign(kt, kv, b"x", marshaling_algorithm="jws")
    raw = crypto.b64url_raw_decode(jws.removeprefix("vault:v1:"))
    assert len(raw) == 2 * kt.bits // 8
    assert not signing.verify(kt, kv, b"x", jws[:-4], marshaling_algorithm="jws")
    asn1 = signing.sign(kt, kv, b"x")
    with pytest.raises(BadRequest, match="invalid base64 signature value"):
        signing.verify(kt, kv, b"x", asn1, marshaling_algorithm="jws")
    with pytest.raises(BadRequest, match="supplied signature is invalid"):
        signing.verify(kt, kv, b"x", "vault:v1:" + b64(b"not der"))


def test_ecdsa_signature_is_plain_der() -> None:
    kt, kv = key("ecdsa-p256")
    signature = signing.sign(kt, kv, b"data", hash_algorithm="sha2-384")
    public = keytypes.public_key_object(kt, kv)
    assert isinstance(public, ec.EllipticCurvePublicKey)
    from cryptography.hazmat.primitives import hashes
    public.verify(crypto.parse_value(signature, "signature")[1], b"data",
                  ec.ECDSA(hashes.SHA384()))


def test_rsa_pss_salt_lengths() -> None:
    kt, kv = key("rsa-2048")
    public = keytypes.public_key_object(kt, kv)
    assert isinstance(public, rsa.RSAPublicKey)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    def raw(value: str) -> bytes:
        return crypto.parse_value(value, "signature")[1]
    for salt, expected in (("auto", 256 - 2 - 32), ("hash", 32), ("20", 20), ("0", 222)):
        sig = raw(signing.sign(kt, kv, b"m", salt_length=salt))
        public.verify(sig, b"m", padding.PSS(padding.MGF1(hashes.SHA256()), expected),
                      hashes.SHA256())
    with pytest.raises(BadRequest, match="requested salt length 223 is invalid"):
        signing.sign(kt, kv, b"m", salt_length="223")
    short = signing.sign(kt, kv, b"m", salt_length="20")
    assert signing.verify(kt, kv, b"m", short, salt_length="auto")
    assert not signing.verify(kt, kv, b"m", short, salt_length="32")


@pytest.mark.parametrize(("options", "message"), [
    ({"hash_algorithm": "md5"}, "invalid hash algorithm 'md5'"),
    ({"marshaling_algorithm": "asn2"}, "invalid marshaling type 'asn2'"),
    ({"salt_length": "big"}, "salt length neither 'auto', 'hash', nor an int"),
    ({"salt_length": "-2"}, "salt length is invalid: -2"),
    ({"hash_algorithm": "none"}, "hash_algorithm=none requires both prehashed=true and "
                                 "signature_algorithm=pkcs1v15"),
    ({"hash_algorithm": "none", "prehashed": True}, "hash_algorithm=none requires"),
    ({"hash_algorithm": "none", "signature_algorithm": "pkcs1v15"}, "hash_algorithm=none"),
    ({"signature_algorithm": "pkcs2"}, "unsupported rsa signature algorithm 'pkcs2'"),
    ({"prehashed": True}, "prehashed input must be 32 bytes for hash_algorithm sha2-256"),
    ({"derived": True, "context": b"c"}, "key derivation is not supported for key type"),
])
def test_disallowed_rsa_options(options: dict[str, Any], message: str) -> None:
    kt, kv = key("rsa-2048")
    with pytest.raises(BadRequest, match=re.escape(message)):
        signing.sign(kt, kv, b"not a digest", **options)


def test_rsa_input_limits() -> None:
    kt, kv = key("rsa-2048")
    with pytest.raises(BadRequest, match="too long to sign"):
        signing.sign(kt, kv, bytes(250), hash_algorithm="none", prehashed=True,
                     signature_algorithm="pkcs1v15")


@pytest.mark.parametrize("name", ["aes256-gcm96", "hmac"])
def test_non_signing_types(name: str) -> None:
    kt, kv = key(name)
    with pytest.raises(BadRequest, match=f"key type {name} does not support signing"):
        signing.sign(kt, kv, b"x")
    with pytest.raises(BadRequest, match="does not support signing"):
        signing.verify(kt, kv, b"x", "vault:v1:AAAA")
    with pytest.raises(BadRequest, match="no private/public key pair"):
        signing.public_key(kt, kv)


def test_verify_parsing_errors() -> None:
    kt, kv = key("ed25519")
    for value, message in (("sig", "invalid signature: no 'vault:v<N>:' prefix"),
                           ("vault:vX:AA", "version number could not be decoded"),
                           ("vault:v2:AA==", "names key version 2, not 1"),
                           ("vault:v1:A", "invalid base64 signature value")):
        with pytest.raises(BadRequest, match=re.escape(message)):
            signing.verify(kt, kv, b"x", value)
    assert not signing.verify(kt, kv, b"x", "vault:v1:" + b64(bytes(64)))
    assert not signing.verify(kt, kv, b"x", "vault:v1:" + b64(bytes(12)))


def test_ed25519_derived() -> None:
    kt, kv = key("ed25519")
    with pytest.raises(BadRequest, match="missing 'context'"):
        signing.sign(kt, kv, b"m", derived=True)
    a = signing.sign(kt, kv, b"m", context=b"a", derived=True)
    assert signing.verify(kt, kv, b"m", a, context=b"a", derived=True)
    assert not signing.verify(kt, kv, b"m", a, context=b"b", derived=True)
    assert not signing.verify(kt, kv, b"m", a)
    pub_a = signing.derived_public_key(kt, kv, b"a")
    assert pub_a != signing.derived_public_key(kt, kv, b"b") != signing.public_key(kt, kv)
    ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(pub_a)).verify(
        crypto.parse_value(a, "signature")[1], b"m")
    with pytest.raises(BadRequest, match="only supported by ed25519"):
        signing.derived_public_key(*key("ecdsa-p256"), b"a")


@pytest.mark.parametrize("name", SIGNERS)
def test_public_key_formats(name: str) -> None:
    kt, kv = key(name)
    shown = signing.public_key(kt, kv)
    public = keytypes.public_key_object(kt, kv)
    if name == "ed25519":
        assert base64.b64decode(shown) == public.public_bytes_raw()  # type: ignore[union-attr]
    else:
        assert shown.startswith("-----BEGIN PUBLIC KEY-----\n") and shown.endswith("\n")
        assert serialization.load_pem_public_key(shown.encode()) == public
    assert signing.load_public(kt, shown.encode() if name != "ed25519"
                               else base64.b64decode(shown)) == public


def test_verify_with_public_checks_the_key_type() -> None:
    der = keytypes.public_key_object(*key("ecdsa-p256")).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(BadRequest, match="does not match key type ecdsa-p384"):
        signing.verify_with_public("ecdsa-p384", der, b"x", b"sig")
    with pytest.raises(BadRequest, match="not a valid PEM or DER public key"):
        signing.verify_with_public("rsa-2048", b"junk", b"x", b"sig")


# --- BYOK and export -------------------------------------------------------------------

@pytest.fixture(scope="module")
def wrapping() -> bytes:
    return byok.new_wrapping_key()


@pytest.mark.parametrize("hash_function", list(byok.HASH_FUNCTIONS))
def test_wrap_unwrap(wrapping: bytes, hash_function: str) -> None:
    pem = byok.wrapping_public_pem(wrapping)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith("-----\n")
    target = key("ecdsa-p384")[1].key
    blob = byok.wrap(pem.encode(), target, hash_function)
    assert byok.unwrap(wrapping, blob, hash_function) == target
    assert keytypes.from_import("ecdsa-p384", 1, 0, byok.unwrap(wrapping, blob,
                                                                 hash_function)).key == target


def test_unwrap_failures_share_one_message(wrapping: bytes) -> None:
    pem = byok.wrapping_public_pem(wrapping).encode()
    good = base64.b64decode(byok.wrap(pem, bytes(32)))
    other = byok.wrap(byok.wrapping_public_pem(byok.new_wrapping_key()).encode(), bytes(32))
    tampered = bytearray(good)
    tampered[-1] ^= 1
    for blob in (b64(good[:512]), b64(good[:100]), b64(bytes(tampered)), other,
                 byok.wrap(pem, bytes(32), "SHA1")):
        with pytest.raises(BadRequest) as info:
            byok.unwrap(wrapping, blob, "SHA256")
        assert info.value.message == byok.UNWRAP_FAILED
    with pytest.raises(BadRequest, match="field 'ciphertext' must be base64"):
        byok.unwrap(wrapping, "not base64!")
    with pytest.raises(BadRequest, match="unsupported hash_function 'MD5'"):
        byok.unwrap(wrapping, b64(good), "MD5")


def test_wrap_needs_rsa4096() -> None:
    pem = signing.public_key(*key("rsa-2048")).encode()
    with pytest.raises(BadRequest, match="RSA-4096"):
        byok.wrap(pem, bytes(32))


@pytest.mark.parametrize("name", keytypes.KEY_TYPES)
def test_export_formats(name: str) -> None:
    kt, kv = key(name)
    out = {t: byok.export(kt, kv, t) for t in kt.exports}
    assert base64.b64decode(out["hmac-key"]) == (kv.key if name == "hmac" else kv.hmac_key)
    if name in AEAD:
        assert base64.b64decode(out["encryption-key"]) == kv.key
    if name.startswith("ecdsa"):
        assert out["signing-key"].startswith("-----BEGIN EC PRIVATE KEY-----\n")
        assert out["signing-key"].endswith("-----END EC PRIVATE KEY-----")
        assert out["public-key"].endswith("-----END PUBLIC KEY-----")
        loaded = serialization.load_pem_private_key(out["signing-key"].encode(), None)
        assert loaded.private_numbers() == _private(name).private_numbers()  # type: ignore
    if name in RSA:
        for exported in (out["signing-key"], out["encryption-key"]):
            assert exported.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
            assert exported.endswith("-----END RSA PRIVATE KEY-----\n")
        assert out["public-key"] == signing.public_key(kt, kv)
    if name == "ed25519":
        raw = base64.b64decode(out["signing-key"])
        assert len(raw) == 64
        assert raw[32:] == base64.b64decode(out["public-key"])


def test_export_rules() -> None:
    kt, kv = key("aes256-gcm96")
    with pytest.raises(BadRequest, match="export type signing-key does not apply to key "
                                         "type aes256-gcm96"):
        byok.export(kt, kv, "signing-key")
    with pytest.raises(BadRequest, match="invalid export type 'raw'"):
        byok.export(kt, kv, "raw")
    with pytest.raises(BadRequest, match="does not apply"):
        byok.export(*key("ed25519"), "encryption-key")
