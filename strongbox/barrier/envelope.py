"""Envelope encryption of values with AAD binding.

`encrypt(keyring, plaintext, aad)` makes a fresh 256-bit DEK, seals the value
with it and wraps the DEK with the active KEK; both use `aad`, which binds the
ciphertext to where it lives (`value_aad(namespace, mount, path, version)`), so
a record copied to another path, version or namespace fails to decrypt.
Rotation is lazy: old envelopes name their KEK term and keep decrypting.
"""

from __future__ import annotations

from strongbox.barrier.aead import cipher_for, new_key, open_sealed, seal
from strongbox.barrier.keyring import Keyring
from strongbox.pb import records_pb2 as rec


def value_aad(namespace: str, mount: str, path: str, version: int | str) -> bytes:
    # NUL cannot appear in a validated path segment, so the encoding is unambiguous.
    return f"{namespace}\0{mount}\0{path}\0{version}".encode()


def encrypt(keyring: Keyring, plaintext: bytes, aad: bytes) -> rec.Envelope:
    term = keyring.active_kek_term
    dek = new_key()
    try:
        ciphertext = seal(cipher_for(dek), plaintext, aad)
        wrapped = seal(keyring.kek(term), bytes(dek), aad)
    finally:
        dek[:] = b"\0" * len(dek)
    return rec.Envelope(kek_term=term, wrapped_dek=wrapped, ciphertext=ciphertext)


def decrypt(keyring: Keyring, envelope: rec.Envelope, aad: bytes) -> bytes:
    """Raises barrier.aead.DecryptError if the envelope was moved or tampered with."""
    dek = bytearray(open_sealed(keyring.kek(envelope.kek_term), envelope.wrapped_dek, aad))
    try:
        return open_sealed(cipher_for(dek), envelope.ciphertext, aad)
    finally:
        dek[:] = b"\0" * len(dek)
