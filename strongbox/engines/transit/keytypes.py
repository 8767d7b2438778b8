"""Transit key types and the material of one key version.

Contract:

- `KEY_TYPES` names the supported types, spelled as Vault spells them; `key_type(name)`
  returns the `KeyType` that says what a type can do (encrypt, sign, derive, convergent,
  which export types apply) or raises `BadRequest`.
- `KeyVersion` holds one version's secret material: `key` is the raw symmetric key
  (aes*, chacha20, hmac) or a PKCS#8 DER private key (ed25519, ecdsa-*, rsa-*);
  `hmac_key` is the per-version key of the `hmac/` endpoint (Vault's `HMACKey`).
  `to_dict`/`from_dict` give a JSON-able form (base64 fields); `repr` never shows keys.
- `generate` makes a fresh version from the OS CSPRNG; `from_import` validates imported
  material (type, size, curve) and normalises asymmetric keys to PKCS#8 DER.
- `private_key`, `public_key_object` and `ed25519_expanded` load a version's key for
  the other modules of this package.

Every bad input raises `BadRequest` with a message built from names and sizes only,
never from key bytes. A corrupt stored record raises `InternalError`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from strongbox.errors import BadRequest, InternalError

KEY_TYPES: tuple[str, ...] = (
    "aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "ed25519", "ecdsa-p256",
    "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096", "hmac",
)

HMAC_MIN_KEY_SIZE = 32  # Vault's HmacMinKeySize (bytes)
HMAC_MAX_KEY_SIZE = 512  # Vault's HmacMaxKeySize (bytes)
DEFAULT_HMAC_KEY_SIZE = 32

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


@dataclass(frozen=True)
class KeyType:
    """What a key type can do. `family` is one of aead, ed25519, ecdsa, rsa, hmac."""

    name: str
    symmetric: bool
    encrypts: bool
    signs: bool
    derives: bool
    convergent: bool
    exports: tuple[str, ...]
    key_size: int  # bytes of a symmetric key; 0 for asymmetric types (hmac: default size)
    family: str = ""
    bits: int = 0  # RSA modulus / EC curve size in bits


_AEAD_EXPORTS = ("encryption-key", "hmac-key")
_SIGN_EXPORTS = ("signing-key", "public-key", "hmac-key")
_RSA_EXPORTS = ("encryption-key", "signing-key", "public-key", "hmac-key")

_TYPES: dict[str, KeyType] = {
    "aes128-gcm96": KeyType("aes128-gcm96", True, True, False, True, True, _AEAD_EXPORTS,
                            16, "aead"),
    "aes256-gcm96": KeyType("aes256-gcm96", True, True, False, True, True, _AEAD_EXPORTS,
                            32, "aead"),
    "chacha20-poly1305": KeyType("chacha20-poly1305", True, True, False, True, True,
                                 _AEAD_EXPORTS, 32, "aead"),
    "ed25519": KeyType("ed25519", False, False, True, True, False, _SIGN_EXPORTS, 0,
                       "ed25519", 256),
    "ecdsa-p256": KeyType("ecdsa-p256", False, False, True, False, False, _SIGN_EXPORTS, 0,
                          "ecdsa", 256),
    "ecdsa-p384": KeyType("ecdsa-p384", False, False, True, False, False, _SIGN_EXPORTS, 0,
                          "ecdsa", 384),
    # Vault's RSA keys also encrypt (RSA-OAEP with SHA-256), see keysutil EncryptionSupported.
    "rsa-2048": KeyType("rsa-2048", False, True, True, False, False, _RSA_EXPORTS, 0,
                        "rsa", 2048),
    "rsa-3072": KeyType("rsa-3072", False, True, True, False, False, _RSA_EXPORTS, 0,
                        "rsa", 3072),
    "rsa-4096": KeyType("rsa-4096", False, True, True, False, False, _RSA_EXPORTS, 0,
                        "rsa", 4096),
    "hmac": KeyType("hmac", True, False, False, False, False, ("hmac-key",),
                    DEFAULT_HMAC_KEY_SIZE, "hmac"),
}

_CURVES: dict[str, type[ec.EllipticCurve]] = {"ecdsa-p256": ec.SECP256R1,
                                               "ecdsa-p384": ec.SECP384R1}


_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def shown(value: object) -> str:
    """`value` quoted for an error message if it looks like an option name, else '?':
    a message never echoes free-form input (which could be a secret)."""
    return repr(value) if isinstance(value, str) and _TOKEN.fullmatch(value) else "'?'"


def key_type(name: str) -> KeyType:
    """The `KeyType` called `name`; BadRequest for an unknown name."""
    kind = _TYPES.get(name) if isinstance(name, str) else None
    if kind is None:
        raise BadRequest(f"unknown key type {shown(name)}; one of: {', '.join(KEY_TYPES)}")
    return kind


_lookup = key_type  # `generate` and `from_import` take a parameter called key_type


@dataclass
class KeyVersion:
    """One version of a key. `created` is unix seconds."""

    version: int
    key: bytes = field(repr=False)
    hmac_key: bytes = field(repr=False)
    created: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "key": base64.b64encode(self.key).decode("ascii"),
            "hmac_key": base64.b64encode(self.hmac_key).decode("ascii"),
            "created": self.created,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyVersion:
        try:
            version, created = d["version"], d["created"]
            if not isinstance(version, int) or not isinstance(created, int):
                raise TypeError("version and created must be integers")
            key = base64.b64decode(d["key"], validate=True)
            hmac_key = base64.b64decode(d["hmac_key"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error) as exc:
            raise InternalError(f"corrupt transit key version record: {type(exc).__name__}") \
                from None
        return cls(version=version, key=key, hmac_key=hmac_key, created=created)


def _hmac_key(size: int) -> bytes:
    if not HMAC_MIN_KEY_SIZE <= size <= HMAC_MAX_KEY_SIZE:
        raise BadRequest(f"invalid key size {size}: an HMAC key is {HMAC_MIN_KEY_SIZE} to "
                         f"{HMAC_MAX_KEY_SIZE} bytes")
    return os.urandom(size)


def _pkcs8(private: PrivateKey) -> bytes:
    return private.private_bytes(serialization.Encoding.DER,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def _new_private(kind: KeyType) -> PrivateKey:
    if kind.family == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind.family == "ecdsa":
        return ec.generate_private_key(_CURVES[kind.name]())
    return rsa.generate_private_key(public_exponent=65537, key_size=kind.bits)


def generate(key_type: str, version: int, now: int, hmac_key_size: int = 32,
             key_size: int = 0) -> KeyVersion:
    """A fresh version of a key of `key_type`. `key_size` (bytes) applies to hmac keys only
    (0: 32 bytes; Vault allows 32..512)."""
    kind = _lookup(key_type)
    if key_size and kind.name != "hmac":
        raise BadRequest(f"key_size is not valid for key type {kind.name}")
    if kind.name == "hmac":
        material = _hmac_key(key_size or DEFAULT_HMAC_KEY_SIZE)
    elif kind.symmetric:
        material = os.urandom(kind.key_size)
    else:
        material = _pkcs8(_new_private(kind))
    return KeyVersion(version=version, key=material, hmac_key=_hmac_key(hmac_key_size),
                      created=now)


def _check_symmetric(kind: KeyType, material: bytes) -> None:
    if kind.name == "hmac":
        if not HMAC_MIN_KEY_SIZE <= len(material) <= HMAC_MAX_KEY_SIZE:
            raise BadRequest(f"invalid key size {len(material)} bytes for key type hmac; it "
                             f"needs {HMAC_MIN_KEY_SIZE} to {HMAC_MAX_KEY_SIZE} bytes")
    elif len(material) != kind.key_size:
        raise BadRequest(f"invalid key size {len(material)} bytes for key type {kind.name}; "
                         f"it needs exactly {kind.key_size} bytes")


def _parse_private(material: bytes) -> PrivateKey:
    try:
        loaded = serialization.load_der_private_key(material, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BadRequest("the imported key is not an unencrypted private key in PKCS#8 DER "
                         "(or PKCS#1 RSA / SEC1 EC DER)") from None
    if not isinstance(loaded, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey,
                               rsa.RSAPrivateKey)):
        raise BadRequest("the imported key is of an algorithm transit does not support")
    return loaded


def _describe(private: PrivateKey) -> str:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "an ed25519 key"
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return f"an EC key on curve {private.curve.name}"
    return f"an RSA key of {private.key_size} bits"


def _check_asymmetric(kind: KeyType, private: PrivateKey) -> None:
    if kind.family == "ed25519":
        ok = isinstance(private, ed25519.Ed25519PrivateKey)
    elif kind.family == "ecdsa":
        ok = isinstance(private, ec.EllipticCurvePrivateKey) and \
            isinstance(private.curve, _CURVES[kind.name])
    else:
        ok = isinstance(private, rsa.RSAPrivateKey) and private.key_size == kind.bits
    if not ok:
        raise BadRequest(f"the imported key is {_describe(private)}, which does not match "
                         f"key type {kind.name}")


def from_import(key_type: str, version: int, now: int, material: bytes) -> KeyVersion:
    """A version made of imported `material`: raw bytes for symmetric types, a private
    key in PKCS#8 DER (PKCS#1 RSA and SEC1 EC DER are accepted too) otherwise."""
    kind = _lookup(key_type)
    if not isinstance(material, bytes) or not material:
        raise BadRequest("the imported key material is empty")
    if kind.symmetric:
        _check_symmetric(kind, material)
        key = material
    else:
        private = _parse_private(material)
        _check_asymmetric(kind, private)
        key = _pkcs8(private)
    return KeyVersion(version=version, key=key, hmac_key=os.urandom(32), created=now)


def private_key(kind: KeyType, kv: KeyVersion) -> PrivateKey:
    """The private key object of an asymmetric version (validated when it was stored)."""
    if kind.symmetric:
        raise BadRequest(f"key type {kind.name} has no private/public key pair")
    try:
        loaded = serialization.load_der_private_key(kv.key, password=None,
                                                    unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InternalError(f"stored key version {kv.version} is not a valid private key") \
            from None
    if not isinstance(loaded, (ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey,
                               rsa.RSAPrivateKey)):
        raise InternalError(f"stored key version {kv.version} has an unsupported algorithm")
    return loaded


def public_key_object(kind: KeyType, kv: KeyVersion) -> PublicKey:
    return private_key(kind, kv).public_key()


def ed25519_expanded(private: ed25519.Ed25519PrivateKey) -> bytes:
    """Go's 64-byte ed25519.PrivateKey: seed || public key (Vault's stored `Key`)."""
    seed = private.private_bytes_raw()
    return seed + private.public_key().public_bytes_raw()
