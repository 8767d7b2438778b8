"""Transit's crypto core: key types, encryption, signatures, HMAC, BYOK and export."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongbox.engines.transit import byok, crypto, keytypes, signing
from strongbox.engines.transit.keytypes import KeyType, KeyVersion
from strongbox.errors import BadRequest, InternalError

AEAD = ("aes128-gcm96", "aes256-gcm96", "chacha20-poly1305")
SIGNERS = ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096")
RSA = ("rsa-2048", "rsa-3072", "rsa-4096")
HASHES = ("sha1", "sha2-224", "sha2-256", "sha2-384", "sha2-512", "sha3-224", "sha3-256",
          "sha3-384", "sha3-512")
SECRET = b"correct horse battery staple, do not leak"

_cache: dict[tuple[str, int], KeyVersion] = {}


def key(name: str, version: int = 1) -> tuple[KeyType, KeyVersion]:
    """One generated version per (type, version), reused: RSA generation is slow."""
    if (name, version) not in _cache:
        _cache[(name, version)] = keytypes.generate(name, version, 1_700_000_000)
    return keytypes.key_type(name), _cache[(name, version)]


def only(kv: KeyVersion) -> Any:
    def lookup(version: int) -> KeyVersion:
        assert version == kv.version
        return kv
    return lookup


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def assert_no_secret(message: str, *secrets: bytes) -> None:
    for secret in secrets:
        for form in (secret.hex(), b64(secret), repr(secret)):
            assert form not in message
        assert secret.decode("latin-1") not in message


# --- key types -------------------------------------------------------------------------

def test_key_types_table() -> None:
    assert tuple(keytypes.key_type(n).name for n in keytypes.KEY_TYPES) == keytypes.KEY_TYPES
    assert {n for n in keytypes.KEY_TYPES if keytypes.key_type(n).derives} == \
        {*AEAD, "ed25519"}
    assert {n for n in keytypes.KEY_TYPES if keytypes.key_type(n).convergent} == set(AEAD)
    assert {n for n in keytypes.KEY_TYPES if keytypes.key_type(n).signs} == set(SIGNERS)
    assert {n for n in keytypes.KEY_TYPES if keytypes.key_type(n).encrypts} == {*AEAD, *RSA}
    assert keytypes.key_type("aes128-gcm96").key_size == 16
    assert keytypes.key_type("hmac").exports == ("hmac-key",)


def test_unknown_key_type() -> None:
    with pytest.raises(BadRequest, match=r"unknown key type 'aes512'; one of: aes128-gcm96"):
        keytypes.key_type("aes512")


@pytest.mark.parametrize("name", keytypes.KEY_TYPES)
def test_generate_and_serialise(name: str) -> None:
    kt, kv = key(name)
    assert kv.version == 1 and kv.created == 1_700_000_000 and len(kv.hmac_key) == 32
    if kt.symmetric:
        assert len(kv.key) == kt.key_size
    else:
        loaded = serialization.load_der_private_key(kv.key, password=None)
        assert loaded is not None
    again = KeyVersion.from_dict(kv.to_dict())
    assert again == kv
    assert kv.to_dict()["key"] not in repr(kv) and "hmac_key=" not in repr(kv)


def test_hmac_key_sizes() -> None:
    assert len(keytypes.generate("hmac", 1, 0, key_size=64).key) == 64
    assert len(keytypes.generate("hmac", 1, 0).key) == 32
    for bad in (31, 513):
        with pytest.raises(BadRequest, match="32 to 512 bytes"):
            keytypes.generate("hmac", 1, 0, key_size=bad)
    with pytest.raises(BadRequest, match="key_size is not valid for key type aes256-gcm96"):
        keytypes.generate("aes256-gcm96", 1, 0, key_size=32)


def test_from_dict_rejects_corrupt_records() -> None:
    with pytest.raises(InternalError):
        KeyVersion.from_dict({"version": 1, "key": "!!", "hmac_key": "", "created": 0})
    with pytest.raises(InternalError):
        KeyVersion.from_dict({"version": "1"})


@pytest.mark.parametrize(("name", "size"), [("aes128-gcm96", 32), ("aes256-gcm96", 16),
                                            ("chacha20-poly1305", 31), ("hmac", 16),
                                            ("hmac", 513)])
def test_import_symmetric_size_checks(name: str, size: int) -> None:
    with pytest.raises(BadRequest, match=f"invalid key size {size} bytes for key type {name}"):
        keytypes.from_import(name, 1, 0, b"k" * size)


def _private(kind: str) -> Any:
    return keytypes.private_key(*key(kind))


def test_import_asymmetric_formats() -> None:
    ec_key = _private("ecdsa-p256")
    rsa_key = _private("rsa-2048")
    formats = [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
    for private, kind in ((ec_key, "ecdsa-p256"), (rsa_key, "rsa-2048")):
        for fmt in formats:
            der = private.private_bytes(serialization.Encoding.DER, fmt,
                                        serialization.NoEncryption())
            kv = keytypes.from_import(kind, 1, 0, der)
            assert kv.key == key(kind)[1].key  # normalised to PKCS#8
    assert keytypes.from_import("ed25519", 1, 0, key("ed25519")[1].key).key == \
        key("ed25519")[1].key


@pytest.mark.parametrize(("kind", "source", "message"), [
    ("ecdsa-p384", "ecdsa-p256", "an EC key on curve secp256r1, which does not match key "
                                 "type ecdsa-p384"),
    ("rsa-4096", "rsa-2048", "an RSA key of 2048 bits, which does not match key type rsa-4096"),
    ("ed25519", "ecdsa-p256", "does not match key type ed25519"),
    ("rsa-2048", "ed25519", "an ed25519 key, which does not match key type rsa-2048"),
])
def test_import_type_mismatch(kind: str, source: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        keytypes.from_import(kind, 1, 0, key(source)[1].key)


def test_import_rejects_garbage_and_encrypted_keys() -> None:
    with pytest.raises(BadRequest, match="not an unencrypted private key in PKCS#8 DER"):
        keytypes.from_import("rsa-2048", 1, 0, b"\x30\x03\x02\x01\x00")
    encrypted = _private("ecdsa-p256").private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"))
    with pytest.raises(BadRequest, match="not an unencrypted private key"):
        keytypes.from_import("ecdsa-p256", 1, 0, encrypted)
    with pytest.raises(BadRequest, match="empty"):
        keytypes.from_import("aes256-gcm96", 1, 0, b"")


# --- value formats ---------------------------------------------------------------------

def test_format_and_parse_value() -> None:
    assert crypto.format_value(7, b"\x00\xff") == "vault:v7:AP8="
    assert crypto.parse_value("vault:v7:AP8=") == (7, b"\x00\xff")
    assert crypto.parse_value("vault:v0:AP8=") == (1, b"\x00\xff")  # Vault's v0 rule


@pytest.mark.parametrize(("value", "message"), [
    ("AP8=", "invalid ciphertext: no 'vault:v<N>:' prefix"),
    ("vault:1:AP8=", "invalid ciphertext: no 'vault:v<N>:' prefix"),
    ("vault:vx:AP8=", "invalid ciphertext: version number could not be decoded"),
    ("vault:v-1:AP8=", "invalid ciphertext: version number could not be decoded"),
    ("vault:v\u0661:AP8=", "invalid ciphertext: version number could not be decoded"),
    ("vault:v1", "invalid ciphertext: wrong number of fields"),
    ("vault:v1:AP8", "invalid ciphertext: could not decode base64"),
    ("vault:v1:AP-_", "invalid ciphertext: could not decode base64"),
    ("vault:v1:A P8=", "invalid ciphertext: could not decode base64"),
])
def test_parse_value_errors(value: str, message: str) -> None:
    with pytest.raises(BadRequest) as info:
        crypto.parse_value(value)
    assert info.value.message == message


def test_parse_value_names_what() -> None:
    with pytest.raises(BadRequest, match="invalid signature: version must be 1 or more"):
        crypto.parse_value("vault:v0:AA==", "signature")
    with pytest.raises(BadRequest, match="invalid hmac: no 'vault:v<N>:' prefix"):
        crypto.parse_value("x", "hmac")


def test_b64decode_field() -> None:
    assert crypto.b64decode_field("aGk=", "plaintext") == b"hi"
    assert crypto.b64decode_field("aG\r\nk=\n", "plaintext") == b"hi"  # Go skips CR/LF
    for bad in ("aGk", "a$k=", "aGk= ", "éé=="):
        with pytest.raises(BadRequest) as info:
            crypto.b64decode_field(bad, "plaintext")
        assert info.value.message == "field 'plaintext' must be base64"


# --- encryption ------------------------------------------------------------------------

@pytest.mark.parametrize("name", [*AEAD, *RSA])
def test_encrypt_round_trip(name: str) -> None:
    kt, kv = key(name)
    ciphertext = crypto.encrypt(kt, kv, SECRET)
    assert ciphertext.startswith("vault:v1:")
    assert crypto.decrypt(kt, only(kv), ciphertext) == SECRET
    assert crypto.encrypt(kt, kv, SECRET) != ciphertext  # random nonce / OAEP


@pytest.mark.parametrize("name", AEAD)
def test_aead_layout(name: str) -> None:
    kt, kv = key(name)
    _, raw = crypto.parse_value(crypto.encrypt(kt, kv, SECRET))
    assert len(raw) == 12 + len(SECRET) + 16


@pytest.mark.parametrize("name", AEAD)
def test_derived_keys_need_context_and_differ(name: str) -> None:
    kt, kv = key(name)
    with pytest.raises(BadRequest, match="missing 'context' for key derivation"):
        crypto.encrypt(kt, kv, SECRET, derived=True)
    with pytest.raises(BadRequest, match="missing 'context'"):
        crypto.encryption_key(kt, kv, b"", True)
    a = crypto.encryption_key(kt, kv, b"ctx-a", True)
    b = crypto.encryption_key(kt, kv, b"ctx-b", True)
    assert len(a) == kt.key_size and a != b and a != kv.key
    assert crypto.encryption_key(kt, kv, b"ignored", False) == kv.key
    ciphertext = crypto.encrypt(kt, kv, SECRET, context=b"ctx-a", derived=True)
    assert crypto.decrypt(kt, only(kv), ciphertext, context=b"ctx-a", derived=True) == SECRET
    with pytest.raises(BadRequest) as info:
        crypto.decrypt(kt, only(kv), ciphertext, context=b"ctx-b", derived=True)
    assert info.value.message == crypto.AUTH_FAILED


@pytest.mark.parametrize("name", AEAD)
def test_convergent(name: str) -> None:
    kt, kv = key(name)
    def enc(plaintext: bytes, context: bytes) -> str:
        return crypto.encrypt(kt, kv, plaintext, context=context, derived=True,
                              convergent=True)
    first = enc(SECRET, b"ctx")
    assert enc(SECRET, b"ctx") == first
    assert enc(SECRET, b"other") != first
    assert enc(SECRET + b"!", b"ctx") != first
    assert crypto.decrypt(kt, only(kv), first, context=b"ctx", derived=True,
                          convergent=True) == SECRET
    with pytest.raises(BadRequest, match="convergent encryption requires derivation"):
        crypto.encrypt(kt, kv, SECRET, convergent=True)
    with pytest.raises(BadRequest, match="missing 'context'"):
        crypto.encrypt(kt, kv, SECRET, derived=True, convergent=True)


@pytest.mark.parametrize("name", AEAD)
def test_version_binding(name: str) -> None:
    kt, v1 = key(name, 1)
    _, v2 = key(name, 2)
    ciphertext = crypto.encrypt(kt, v1, SECRET)
    assert crypto.decrypt(kt, {1: v1, 2: v2}.__getitem__, ciphertext) == SECRET
    with pytest.raises(BadRequest) as info:
        crypto.decrypt(kt, lambda _v: v2, ciphertext)
    assert info.value.message == crypto.AUTH_FAILED
    asked: list[int] = []

    def lookup(version: int) -> KeyVersion:
        asked.append(version)
        return v1

    crypto.decrypt(kt, lookup, ciphertext)
    assert asked == [1]


@pytest.mark.parametrize("name", AEAD)
def test_every_tampering_is_one_error(name: str) -> None:
    kt, kv = key(name)
    ciphertext = crypto.encrypt(kt, kv, SECRET, associated_data=b"aad")
    _, raw = crypto.parse_value(ciphertext)
    other = keytypes.generate(name, 1, 0)
    flipped = bytearray(raw)
    flipped[-1] ^= 1
    cases: list[tuple[Any, str, dict[str, Any]]] = [
        (only(kv), crypto.format_value(1, bytes(flipped)), {"associated_data": b"aad"}),
        (only(kv), crypto.format_value(1, raw[:-1]), {"associated_data": b"aad"}),
        (only(kv), crypto.format_value(1, raw[:20]), {"associated_data": b"aad"}),
        (only(kv), crypto.format_value(1, b""), {"associated_data": b"aad"}),
        (only(kv), ciphertext, {"associated_data": b"other"}),
        (only(kv), ciphertext, {}),
        (only(other), ciphertext, {"associated_data": b"aad"}),
    ]
    for lookup, value, options in cases:
        with pytest.raises(BadRequest) as info:
            crypto.decrypt(kt, lookup, value, **options)
        assert info.value.message == crypto.AUTH_FAILED
    assert crypto.decrypt(kt, only(kv), ciphertext, associated_data=b"aad") == SECRET


@pytest.mark.parametrize("name", AEAD)
def test_given_nonce(name: str) -> None:
    kt, kv = key(name)
    nonce = bytes(12)
    value = crypto.encrypt(kt, kv, SECRET, nonce=nonce)
    assert crypto.parse_value(value)[1][:12] == nonce
    assert crypto.encrypt(kt, kv, SECRET, nonce=nonce) == value
    with pytest.raises(BadRequest, match="nonce must be 12 bytes long but given 8 bytes"):
        crypto.encrypt(kt, kv, SECRET, nonce=bytes(8))


def test_rsa_encryption_rules() -> None:
    kt, kv = key("rsa-2048")
    with pytest.raises(BadRequest, match="encrypts with RSA-OAEP"):
        crypto.encrypt(kt, kv, SECRET, context=b"c", derived=True)
    with pytest.raises(BadRequest, match="at most 190 bytes"):
        crypto.encrypt(kt, kv, b"x" * 191)
    assert crypto.decrypt(kt, only(kv), crypto.encrypt(kt, kv, b"x" * 190)) == b"x" * 190
    with pytest.raises(BadRequest) as info:
        crypto.decrypt(kt, only(kv), crypto.format_value(1, bytes(256)))
    assert info.value.message == crypto.RSA_DECRYPT_FAILED


@pytest.mark.parametrize("name", ["ed25519", "ecdsa-p256", "hmac"])
def test_non_encrypting_types(name: str) -> None:
    kt, kv = key(name)
    with pytest.raises(BadRequest, match=f"key type {name} does not support encryption"):
        crypto.encrypt(kt, kv, SECRET)
    with pytest.raises(BadRequest, match="does not support encryption"):
        crypto.decrypt(kt, only(kv), "vault:v1:AAAA")


def test_errors_never_contain_secrets() -> None:
    kt, kv = key("aes256-gcm96")
    ciphertext = crypto.encrypt(kt, kv, SECRET)
    messages = []
    attempts: list[Any] = [
        lambda: crypto.decrypt(kt, only(keytypes.generate("aes256-gcm96", 1, 0)), ciphertext),
        lambda: crypto.encrypt(kt, kv, SECRET, nonce=b"short"),
        lambda: crypto.encrypt(key("rsa-2048")[0], key("rsa-2048")[1], SECRET * 10),
        lambda: crypto.b64decode_field(SECRET.decode(), "plaintext"),
        lambda: crypto.parse_value("vault:v1:" + SECRET.decode()),
        lambda: crypto.hash_value(SECRET, SECRET.decode(), "hex"),
        lambda: crypto.hmac_value(kv, kt, SECRET, SECRET.decode()),
        lambda: keytypes.from_import("aes128-gcm96", 1, 0, SECRET),
        lambda: keytypes.from_import("rsa-2048", 1, 0, SECRET),
        lambda: keytypes.key_type(SECRET.decode()),
        lambda: signing.sign(*key("ed25519"), SECRET, hash_algorithm=SECRET.decode()),
        lambda: byok.unwrap(byok.new_wrapping_key(), b64(SECRET * 20)),
    ]
    for attempt in attempts:
        with pytest.raises(BadRequest) as info:
            attempt()
        messages.append(info.value.message)
    for message in messages:
        assert_no_secret(message, SECRET, kv.key, kv.hmac_key)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(AEAD), plaintext=st.binary(max_size=512),
       context=st.binary(min_size=1, max_size=64), aad=st.binary(max_size=64),
       derived=st.booleans(), convergent=st.booleans())
def test_property_round_trip(name: str, plaintext: bytes, context: bytes, aad: bytes,
                             derived: bool, convergent: bool) -> None:
    kt, kv = key(name)
    convergent = convergent and derived
    value = crypto.encrypt(kt, kv, plaintext, context=context, derived=derived,
                           convergent=convergent, associated_data=aad)
    assert re.fullmatch(r"vault:v1:[A-Za-z0-9+/]+=*", value)
    assert crypto.decrypt(kt, only(kv), value, context=context, derived=derived,
                          convergent=convergent, associated_data=aad) == plaintext
    if convergent:
        assert crypto.encrypt(kt, kv, plaintext, context=context, derived=True,
                              convergent=True, associated_data=aad) == value


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(AEAD), plaintext=st.binary(min_size=1, max_size=64),
       position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
def test_property_any_bit_flip_fails(name: str, plaintext: bytes, position: int,
                                     bit: int) -> None:
    kt, kv = key(name)
    _, raw = crypto.parse_value(crypto.encrypt(kt, kv, plaintext))
    tampered = bytearray(raw)
    tampered[position % len(raw)] ^= 1 << bit
    with pytest.raises(BadRequest) as info:
        crypto.decrypt(kt, only(kv), crypto.format_value(1, bytes(tampered)))
    assert info.value.message == crypto.AUTH_FAILED


# --- datakey, hmac, hash, random -----------------------------------------------------

def test_datakey() -> None:
    assert [len(crypto.datakey(b)) for b in (128, 256, 512)] == [16, 32, 64]
    for bad in (0, 192, 1024, True):
        with pytest.raises(BadRequest, match="one of: 128, 256, 512"):
            crypto.datakey(bad)


@pytest.mark.parametrize("name", keytypes.KEY_TYPES)
@pytest.mark.parametrize("algorithm", HASHES)
def test_hmac_round_trip(name: str, algorithm: str) -> None:
    kt, kv = key(name)
    value = crypto.hmac_value(kv, kt, SECRET, algorithm)
    assert value.startswith("vault:v1:")
    assert crypto.hmac_verify(kv, kt, SECRET, value, algorithm)
    assert not crypto.hmac_verify(kv, kt, SECRET + b"!", value, algorithm)
    assert not crypto.hmac_verify(kv, kt, SECRET, value[:-4] + "AAA=", algorithm)


def test_hmac_key_choice() -> None:
    kt, kv = key("hmac")
    aes_kt, aes_kv = key("aes256-gcm96")
    import hashlib
    import hmac as std_hmac
    expected_hmac = std_hmac.new(kv.key, b"x", hashlib.sha256).digest()
    expected_aes = std_hmac.new(aes_kv.hmac_key, b"x", hashlib.sha256).digest()
    assert crypto.hmac_value(kv, kt, b"x") == crypto.format_value(1, expected_hmac)
    assert crypto.hmac_value(aes_kv, aes_kt, b"x") == crypto.format_value(1, expected_aes)


def test_hmac_errors() -> None:
    kt, kv = key("aes256-gcm96")
    with pytest.raises(BadRequest, match="invalid hash algorithm 'md5'"):
        crypto.hmac_value(kv, kt, b"x", "md5")
    with pytest.raises(BadRequest, match="invalid hash algorithm 'none'"):
        crypto.hmac_value(kv, kt, b"x", "none")
    with pytest.raises(BadRequest, match="unable to decode verification HMAC as base64"):
        crypto.hmac_verify(kv, kt, b"x", "vault:v1:@@@")
    with pytest.raises(BadRequest, match="invalid hmac: no 'vault:v<N>:' prefix"):
        crypto.hmac_verify(kv, kt, b"x", "AAAA")
    with pytest.raises(BadRequest, match="names key version 2, not 1"):
        crypto.hmac_verify(kv, kt, b"x", "vault:v2:AAAA")


def test_hash_and_random() -> None:
    assert crypto.hash_value(b"", "sha2-256", "hex") == \
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert crypto.hash_value(b"", "sha2-256", "base64") == \
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    with pytest.raises(BadRequest, match="unsupported algorithm 'sha1'"):
        crypto.hash_value(b"", "sha1", "hex")
    with pytest.raises(BadRequest, match='must be "hex" or "base64"'):
        crypto.hash_value(b"", "sha2-256", "base92")
    assert len(bytes.fromhex(crypto.random_bytes(16, "hex"))) == 16
    assert len(base64.b64decode(crypto.random_bytes(crypto.RANDOM_MAX_BYTES, "base64"))) == \
        crypto.RANDOM_MAX_BYTES
    for n, message in ((0, "cannot be less than 1"), (crypto.RANDOM_MAX_BYTES + 1,
                                                      "should be less than"),
                       (True, "must be an integer")):
        with pytest.raises(BadRequest, match=message):
            crypto.random_bytes(n, "hex")
    with pytest.raises(BadRequest, match="must be"):
        crypto.random_bytes(4, "raw")
