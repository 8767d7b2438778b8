"""AES-256-GCM sealing with a random 96-bit nonce prepended to the ciphertext.

`seal(cipher, plaintext, aad) -> nonce || ciphertext+tag` and `open_sealed` is its
inverse; a wrong key, wrong AAD or any flipped bit raises `DecryptError`. Callers
keep an `AESGCM` object per long-lived key (construction costs more than a 1 KiB
encryption). Thread-safe: `AESGCM` objects are immutable.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


class DecryptError(Exception):
    """Authentication failed: wrong key, wrong AAD, or tampered data."""


def new_key() -> bytearray:
    """A fresh random 256-bit key, as a bytearray so it can be dropped on seal."""
    return bytearray(os.urandom(KEY_BYTES))


def cipher_for(key: bytes | bytearray) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise ValueError(f"AES-256-GCM needs a {KEY_BYTES}-byte key, got {len(key)} bytes")
    return AESGCM(bytes(key))


def seal(cipher: AESGCM, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + cipher.encrypt(nonce, plaintext, aad)


def open_sealed(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise DecryptError("ciphertext too short")
    try:
        return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        raise DecryptError("message authentication failed") from None
