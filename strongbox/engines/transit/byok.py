"""Bring-your-own-key import and key export in Vault's formats.

Contract (Vault's builtin/logical/transit/path_wrapping_key.go, path_import.go,
path_export.go and keysutil Policy.WrapKey):

- The mount's wrapping key is RSA-4096 (`new_wrapping_key`, PKCS#8 DER); its public half
  is shown as a PEM SubjectPublicKeyInfo (`wrapping_public_pem`).
- An import ciphertext is base64 of RSA-OAEP(hash, MGF1 with the same hash, empty
  label)(ephemeral 32-byte AES key) -- the first 512 bytes -- followed by
  AES-KWP(ephemeral key, target key) (RFC 5649). `unwrap` returns the target key bytes;
  every cryptographic failure is the same `BadRequest(UNWRAP_FAILED)`. `wrap` builds
  such a ciphertext (what a client or Vault's BYOK export does).
- `export` gives a version's key as Vault's export endpoint does: encryption-key and
  hmac-key as base64 raw bytes (RSA encryption-key: PKCS#1 PEM); signing-key: ecdsa
  "EC PRIVATE KEY" PEM (SEC1, no final newline), rsa "RSA PRIVATE KEY" PEM (PKCS#1,
  with its final newline), ed25519 base64 of the 64-byte seed||public key;
  public-key: ecdsa PEM (no final newline), rsa PEM (final newline), ed25519 base64.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from strongbox.engines.transit import crypto, keytypes
from strongbox.engines.transit.keytypes import KeyType, KeyVersion
from strongbox.errors import BadRequest

WRAPPING_KEY_BITS = 4096
ENCRYPTED_KEY_BYTES = 512  # Vault's EncryptedKeyBytes
EPHEMERAL_KEY_BYTES = 32
EXPORT_TYPES = ("encryption-key", "signing-key", "hmac-key", "public-key")
UNWRAP_FAILED = ("failed to unwrap the imported key: it must be RSA-OAEP-wrapped (with the "
                 "given hash_function) for this mount's wrapping key, followed by the target "
                 "key wrapped with AES-KWP under the 32-byte ephemeral key")
HASH_FUNCTIONS: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1, "SHA224": hashes.SHA224, "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384, "SHA512": hashes.SHA512,
}


def new_wrapping_key() -> bytes:
    """A fresh RSA-4096 wrapping key, PKCS#8 DER."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_BITS)
    return private.private_bytes(serialization.Encoding.DER,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def _wrapping_private(private_der: bytes) -> rsa.RSAPrivateKey:
    try:
        private = serialization.load_der_private_key(private_der, password=None,
                                                     unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BadRequest("the stored wrapping key is not a valid RSA private key") from None
    if not isinstance(private, rsa.RSAPrivateKey):
        raise BadRequest("the stored wrapping key is not an RSA key")
    return private


def _pem_spki(public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def wrapping_public_pem(private_der: bytes) -> str:
    """The wrapping key's public half as Vault shows it (PEM, final newline included)."""
    return _pem_spki(_wrapping_private(private_der).public_key())


def _oaep(hash_function: str) -> padding.OAEP:
    algorithm = HASH_FUNCTIONS.get(hash_function) if isinstance(hash_function, str) else None
    if algorithm is None:
        raise BadRequest(f"unsupported hash_function {keytypes.shown(hash_function)}; one of: "
                         f"{', '.join(HASH_FUNCTIONS)}")
    return padding.OAEP(mgf=padding.MGF1(algorithm()), algorithm=algorithm(), label=None)


def oaep_decrypt(private_der: bytes, ciphertext: bytes, hash_function: str = "SHA256") -> bytes:
    """RSA-OAEP decryption (MGF1 with the same hash, empty label) with the wrapping key."""
    oaep = _oaep(hash_function)
    private = _wrapping_private(private_der)
    try:
        return private.decrypt(ciphertext, oaep)
    except ValueError:
        raise BadRequest(UNWRAP_FAILED) from None


def kwp_unwrap(kek: bytes, wrapped: bytes) -> bytes:
    """AES-KWP (RFC 5649) unwrapping; BadRequest(UNWRAP_FAILED) on any failure."""
    try:
        return keywrap.aes_key_unwrap_with_padding(kek, wrapped)
    except (ValueError, keywrap.InvalidUnwrap):
        raise BadRequest(UNWRAP_FAILED) from None


def unwrap(private_der: bytes, ciphertext_b64: str, hash_function: str = "SHA256") -> bytes:
    """The target key inside a Vault BYOK import ciphertext."""
    _oaep(hash_function)
    try:
        if not isinstance(ciphertext_b64, str):
            raise ValueError("not base64")
        blob = crypto.std_b64decode(ciphertext_b64)
    except (ValueError, binascii.Error):
        raise BadRequest("field 'ciphertext' must be base64") from None
    if len(blob) <= ENCRYPTED_KEY_BYTES:
        raise BadRequest(UNWRAP_FAILED)
    ephemeral = oaep_decrypt(private_der, blob[:ENCRYPTED_KEY_BYTES], hash_function)
    if len(ephemeral) != EPHEMERAL_KEY_BYTES:
        raise BadRequest(UNWRAP_FAILED)
    return kwp_unwrap(ephemeral, blob[ENCRYPTED_KEY_BYTES:])


def wrap(public: bytes, target: bytes, hash_function: str = "SHA256") -> str:
    """A Vault import ciphertext of `target` for a PEM/DER RSA public wrapping key."""
    oaep = _oaep(hash_function)
    try:
        loaded = (serialization.load_pem_public_key(public)
                  if public.lstrip().startswith(b"-----")
                  else serialization.load_der_public_key(public))
    except (ValueError, UnsupportedAlgorithm):
        raise BadRequest("the wrapping key is not a valid PEM or DER public key") from None
    if not isinstance(loaded, rsa.RSAPublicKey) or loaded.key_size != WRAPPING_KEY_BITS:
        raise BadRequest("the wrapping key must be an RSA-4096 public key")
    ephemeral = os.urandom(EPHEMERAL_KEY_BYTES)
    wrapped = keywrap.aes_key_wrap_with_padding(ephemeral, target)
    blob = loaded.encrypt(ephemeral, oaep) + wrapped
    return base64.b64encode(blob).decode("ascii")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _rsa_private_pem(private: rsa.RSAPrivateKey) -> str:
    return private.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption()).decode("ascii")


def _signing_key(kt: KeyType, kv: KeyVersion) -> str:
    private = keytypes.private_key(kt, kv)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return _b64(keytypes.ed25519_expanded(private))
    if isinstance(private, ec.EllipticCurvePrivateKey):
        pem = private.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
        return pem.decode("ascii").strip()
    return _rsa_private_pem(private)


def _public(kt: KeyType, kv: KeyVersion) -> str:
    public = keytypes.public_key_object(kt, kv)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return _b64(public.public_bytes_raw())
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _pem_spki(public).strip()
    return _pem_spki(public)


def export(kt: KeyType, kv: KeyVersion, export_type: str) -> str:
    """One version's key as Vault's export endpoint shows it (see the module docstring)."""
    if export_type not in EXPORT_TYPES:
        raise BadRequest(f"invalid export type {keytypes.shown(export_type)}; one of: "
                         f"{', '.join(EXPORT_TYPES)}")
    if export_type not in kt.exports:
        raise BadRequest(f"export type {export_type} does not apply to key type {kt.name}")
    if export_type == "hmac-key":
        return _b64(kv.key if kt.name == "hmac" else kv.hmac_key)
    if export_type == "public-key":
        return _public(kt, kv)
    if export_type == "signing-key":
        return _signing_key(kt, kv)
    if kt.family == "rsa":
        private = keytypes.private_key(kt, kv)
        assert isinstance(private, rsa.RSAPrivateKey)
        return _rsa_private_pem(private)
    return _b64(kv.key)
