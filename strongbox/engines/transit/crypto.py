"""Transit's symmetric cryptography and value formats, byte-compatible with Vault.

Contract (Vault's sdk/helper/keysutil/policy.go and builtin/logical/transit/path_*.go):

- Values are `vault:v<N>:<std base64>` (`format_value`, `parse_value`).
- `encrypt`: AES-GCM (96-bit nonce, 128-bit tag) or ChaCha20-Poly1305; the raw value is
  nonce || ciphertext || tag. A derived key is HKDF-SHA256(ikm=version key, salt=none,
  info=context). Convergent encryption is Vault's version 3: HKDF output of
  key_size + 32 bytes, the first key_size bytes are the AEAD key, the next 32 an HMAC
  key, and the nonce is HMAC-SHA256(hmac key, plaintext)[:12]. RSA keys encrypt with
  RSA-OAEP (SHA-256, MGF1-SHA-256, empty label) as Vault does.
- `decrypt`: every authentication failure (wrong key, context, associated data, a
  truncated or altered value) is the same `BadRequest(AUTH_FAILED)`.
- `hmac_value`/`hmac_verify`: HMAC with the version's hmac key (the key itself for
  `hmac` keys), compared in constant time. `hash_value`, `random_bytes`, `datakey`:
  Vault's hash, random and datakey endpoints.

Every bad input raises `BadRequest` whose message never contains plaintext or key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from strongbox.engines.transit import keytypes
from strongbox.engines.transit.keytypes import KeyType, KeyVersion
from strongbox.errors import BadRequest

PREFIX = "vault:v"
NONCE_SIZE = 12
TAG_SIZE = 16
CONVERGENT_HMAC_SIZE = 32
AUTH_FAILED = "cipher: message authentication failed"
RSA_DECRYPT_FAILED = "failed to RSA decrypt the ciphertext: crypto/rsa: decryption error"
MISSING_CONTEXT = ("missing 'context' for key derivation; the key was created using a derived "
                   "key, which means additional, per-request information must be included in "
                   "order to perform operations with the key")
RANDOM_MAX_BYTES = 128 * 1024  # Vault's random.APIMaxBytes
DATAKEY_BITS = (128, 256, 512)

# Vault's keysutil.HashTypeMap / HashFuncMap names ("none" is a signing-only option).
HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha2-224": hashes.SHA224,
    "sha2-256": hashes.SHA256,
    "sha2-384": hashes.SHA384,
    "sha2-512": hashes.SHA512,
    "sha3-224": hashes.SHA3_224,
    "sha3-256": hashes.SHA3_256,
    "sha3-384": hashes.SHA3_384,
    "sha3-512": hashes.SHA3_512,
}
_HASHLIB = {"sha1": "sha1", "sha2-224": "sha224", "sha2-256": "sha256", "sha2-384": "sha384",
            "sha2-512": "sha512", "sha3-224": "sha3_224", "sha3-256": "sha3_256",
            "sha3-384": "sha3_384", "sha3-512": "sha3_512"}
_SUM_ALGORITHMS = tuple(name for name in _HASHLIB if name != "sha1")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def format_value(version: int, raw: bytes) -> str:
    """`vault:v<version>:` followed by standard base64 of `raw`."""
    return f"{PREFIX}{version}:{base64.b64encode(raw).decode('ascii')}"


def parse_prefix(value: str, what: str = "ciphertext") -> tuple[int, str]:
    """Split `vault:v<N>:<rest>` into (N, rest). Version 0 reads as 1 for ciphertexts
    (Vault's compatibility rule); otherwise a version must be 1 or more."""
    if not isinstance(value, str) or not value.startswith(PREFIX):
        raise BadRequest(f"invalid {what}: no 'vault:v<N>:' prefix")
    number, sep, rest = value[len(PREFIX):].partition(":")
    if not sep:
        raise BadRequest(f"invalid {what}: wrong number of fields")
    if not number.isascii() or not number.isdigit() or len(number) > 9:
        raise BadRequest(f"invalid {what}: version number could not be decoded")
    version = int(number)
    if version == 0:
        if what != "ciphertext":
            raise BadRequest(f"invalid {what}: version must be 1 or more")
        version = 1
    return version, rest


def std_b64decode(value: str) -> bytes:
    """Go's base64.StdEncoding: padded standard alphabet; CR and LF are skipped."""
    if not value.isascii():
        raise ValueError("not base64")
    return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)


def b64url_raw_decode(value: str) -> bytes:
    """Go's base64.RawURLEncoding: URL alphabet, no padding."""
    value = value.replace("\r", "").replace("\n", "")
    if not _B64URL.fullmatch(value) or len(value) % 4 == 1:
        raise ValueError("not raw base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def b64url_raw_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_value(value: str, what: str = "ciphertext") -> tuple[int, bytes]:
    """(version, raw bytes) of a `vault:v<N>:<std base64>` value."""
    version, rest = parse_prefix(value, what)
    try:
        return version, std_b64decode(rest)
    except (ValueError, binascii.Error):
        raise BadRequest(f"invalid {what}: could not decode base64") from None


def b64decode_field(value: str, field: str) -> bytes:
    """Strict standard base64 of a request field."""
    if not isinstance(value, str):
        raise BadRequest(f"field {field!r} must be a base64 string")
    try:
        return std_b64decode(value)
    except (ValueError, binascii.Error):
        raise BadRequest(f"field {field!r} must be base64") from None


def hkdf_sha256(ikm: bytes, context: bytes, length: int) -> bytes:
    """Vault's Kdf_hkdf_sha256: HKDF-SHA256 with no salt and the context as info."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=context).derive(ikm)


def derived_material(kv_key: bytes, context: bytes | None, length: int) -> bytes:
    if not context:
        raise BadRequest(MISSING_CONTEXT)
    return hkdf_sha256(kv_key, context, length)


def encryption_key(kt: KeyType, kv: KeyVersion, context: bytes | None, derived: bool) -> bytes:
    """The AEAD key of a version: the stored key, or its HKDF derivation for `context`."""
    if kt.family != "aead":
        raise BadRequest(f"key type {kt.name} has no symmetric encryption key")
    if not derived:
        return kv.key
    return derived_material(kv.key, context, kt.key_size)


def _aead(kt_name: str, key: bytes) -> AESGCM | ChaCha20Poly1305:
    if kt_name in ("aes128-gcm96", "aes256-gcm96"):
        if len(key) != keytypes.key_type(kt_name).key_size:
            raise BadRequest(f"an {kt_name} key must be {keytypes.key_type(kt_name).key_size} "
                             "bytes")
        return AESGCM(key)
    if kt_name == "chacha20-poly1305":
        if len(key) != 32:
            raise BadRequest("a chacha20-poly1305 key must be 32 bytes")
        return ChaCha20Poly1305(key)
    raise BadRequest(f"key type {kt_name} is not an AEAD cipher")


def aead_seal(kt_name: str, key: bytes, nonce: bytes, plaintext: bytes,
              aad: bytes | None) -> bytes:
    """ciphertext || tag under a 12-byte nonce."""
    if len(nonce) != NONCE_SIZE:
        raise BadRequest(f"base64-decoded nonce must be {NONCE_SIZE} bytes long but given "
                         f"{len(nonce)} bytes")
    return _aead(kt_name, key).encrypt(nonce, plaintext, aad or None)


def aead_open(kt_name: str, key: bytes, nonce: bytes, ct_tag: bytes,
              aad: bytes | None) -> bytes:
    """The plaintext of ciphertext || tag; BadRequest(AUTH_FAILED) on any failure."""
    cipher = _aead(kt_name, key)
    if len(nonce) != NONCE_SIZE or len(ct_tag) < TAG_SIZE:
        raise BadRequest(AUTH_FAILED)
    try:
        return cipher.decrypt(nonce, ct_tag, aad or None)
    except InvalidTag:
        raise BadRequest(AUTH_FAILED) from None


def _rsa_public(kt: KeyType, kv: KeyVersion) -> rsa.RSAPublicKey:
    public = keytypes.public_key_object(kt, kv)
    assert isinstance(public, rsa.RSAPublicKey)
    return public


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                        label=None)


def _rsa_encrypt(kt: KeyType, kv: KeyVersion, plaintext: bytes, extras: bool) -> str:
    if extras:
        raise BadRequest(f"key type {kt.name} encrypts with RSA-OAEP: context, convergent "
                         "encryption, nonce and associated_data do not apply")
    limit = kt.bits // 8 - 2 * 32 - 2
    if len(plaintext) > limit:
        raise BadRequest(f"plaintext is too long for RSA-OAEP with key type {kt.name}: at "
                         f"most {limit} bytes")
    return format_value(kv.version, _rsa_public(kt, kv).encrypt(plaintext, _oaep()))


def _check_encrypts(kt: KeyType) -> None:
    if not kt.encrypts:
        raise BadRequest(f"key type {kt.name} does not support encryption")


def encrypt(kt: KeyType, kv: KeyVersion, plaintext: bytes, *, context: bytes | None = None,
            derived: bool = False, convergent: bool = False, nonce: bytes | None = None,
            associated_data: bytes | None = None) -> str:
    """`vault:v<N>:` + base64(nonce || ciphertext || tag) (RSA: the OAEP ciphertext).
    A caller-given `nonce` is used for non-convergent keys (Vault's deprecated option);
    convergent keys compute theirs and ignore it, as Vault does."""
    _check_encrypts(kt)
    if kt.family == "rsa":
        return _rsa_encrypt(kt, kv, plaintext,
                            bool(context or convergent or nonce or associated_data))
    if convergent and not derived:
        raise BadRequest("convergent encryption requires derivation to be enabled, so context "
                         "is required")
    if convergent:
        material = derived_material(kv.key, context, kt.key_size + CONVERGENT_HMAC_SIZE)
        key, nonce_key = material[:kt.key_size], material[kt.key_size:]
        nonce = hmac.new(nonce_key, plaintext, hashlib.sha256).digest()[:NONCE_SIZE]
    else:
        key = encryption_key(kt, kv, context, derived)
        nonce = nonce if nonce else os.urandom(NONCE_SIZE)
    sealed = aead_seal(kt.name, key, nonce, plaintext, associated_data)
    return format_value(kv.version, nonce + sealed)


def decrypt(kt: KeyType, kv_by_version: Callable[[int], KeyVersion], ciphertext: str, *,
            context: bytes | None = None, derived: bool = False, convergent: bool = False,
            associated_data: bytes | None = None) -> bytes:
    """The plaintext of a `vault:v<N>:` ciphertext. `kv_by_version(N)` returns the version
    (the caller checks min_decryption_version). Convergent version-3 values carry their
    nonce like any other, so `convergent` changes nothing here."""
    del convergent
    _check_encrypts(kt)
    version, raw = parse_value(ciphertext, "ciphertext")
    kv = kv_by_version(version)
    if kt.family == "rsa":
        if context or associated_data:
            raise BadRequest(f"key type {kt.name} decrypts with RSA-OAEP: context and "
                             "associated_data do not apply")
        private = keytypes.private_key(kt, kv)
        assert isinstance(private, rsa.RSAPrivateKey)
        try:
            return private.decrypt(raw, _oaep())
        except ValueError:
            raise BadRequest(RSA_DECRYPT_FAILED) from None
    key = encryption_key(kt, kv, context, derived)
    return aead_open(kt.name, key, raw[:NONCE_SIZE], raw[NONCE_SIZE:], associated_data)


def datakey(bits: int) -> bytes:
    """A fresh random data key of 128, 256 or 512 bits."""
    if isinstance(bits, bool) or bits not in DATAKEY_BITS:
        raise BadRequest("invalid 'bits'; one of: 128, 256, 512")
    return os.urandom(bits // 8)


def _hmac_algorithm(algorithm: str) -> str:
    name = _HASHLIB.get(algorithm) if isinstance(algorithm, str) else None
    if name is None:
        raise BadRequest(f"invalid hash algorithm {keytypes.shown(algorithm)}; one of: "
                         f"{', '.join(_HASHLIB)}")
    return name


def _hmac_raw(kv: KeyVersion, kt: KeyType, data: bytes, algorithm: str) -> bytes:
    digest = _hmac_algorithm(algorithm)
    key = kv.key if kt.name == "hmac" else kv.hmac_key
    if not key:
        raise BadRequest("no HMAC key exists for that key version")
    return hmac.new(key, data, digest).digest()


def hmac_value(kv: KeyVersion, kt: KeyType, data: bytes, algorithm: str = "sha2-256") -> str:
    """`vault:v<N>:` + base64(HMAC(key, data)); the key is the version's hmac key, or the
    key itself for `hmac` keys."""
    return format_value(kv.version, _hmac_raw(kv, kt, data, algorithm))


def hmac_verify(kv: KeyVersion, kt: KeyType, data: bytes, value: str,
                algorithm: str = "sha2-256") -> bool:
    """Whether `value` is the HMAC of `data` under `kv` (constant-time comparison)."""
    version, rest = parse_prefix(value, "hmac")
    try:
        given = std_b64decode(rest)
    except (ValueError, binascii.Error):
        raise BadRequest("unable to decode verification HMAC as base64") from None
    if version != kv.version:
        raise BadRequest(f"invalid HMAC: it names key version {version}, not {kv.version}")
    return hmac.compare_digest(_hmac_raw(kv, kt, data, algorithm), given)


def hash_value(data: bytes, algorithm: str = "sha2-256", fmt: str = "hex") -> str:
    """Vault's hash endpoint: sha2-224/256/384/512 or sha3-*, as hex or base64."""
    if fmt not in ("hex", "base64"):
        raise BadRequest(f'unsupported encoding format {keytypes.shown(fmt)}; must be "hex" or '
                         '"base64"')
    if algorithm not in _SUM_ALGORITHMS:
        raise BadRequest(f"unsupported algorithm {keytypes.shown(algorithm)}; one of: "
                         f"{', '.join(_SUM_ALGORITHMS)}")
    digest = hashlib.new(_HASHLIB[algorithm], data).digest()
    return digest.hex() if fmt == "hex" else base64.b64encode(digest).decode("ascii")


def random_bytes(n: int, fmt: str = "base64") -> str:
    """`n` (1..128 KiB, Vault's limit) random bytes as hex or base64."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise BadRequest("'bytes' must be an integer")
    if n < 1:
        raise BadRequest("'bytes' cannot be less than 1")
    if n > RANDOM_MAX_BYTES:
        raise BadRequest(f"'bytes' should be less than {RANDOM_MAX_BYTES}")
    if fmt not in ("hex", "base64"):
        raise BadRequest(f'unsupported encoding format {keytypes.shown(fmt)}; must be "hex" or '
                         '"base64"')
    raw = os.urandom(n)
    return raw.hex() if fmt == "hex" else base64.b64encode(raw).decode("ascii")
