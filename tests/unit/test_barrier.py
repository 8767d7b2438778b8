"""Tests for strongbox.barrier: AES-GCM helpers, the keyring and envelope encryption."""

from __future__ import annotations

import pytest

from strongbox.barrier import aead, envelope
from strongbox.barrier.aead import DecryptError
from strongbox.barrier.keyring import (
    TOKEN_HMAC,
    InitMaterial,
    Keyring,
    generate_init_material,
    kek_name,
    open_root_key,
)
from strongbox.errors import Sealed
from strongbox.pb import records_pb2 as rec

NOW = 1_700_000_000_000_000_000


class Ring:
    """A keyring over an in-memory key dict, as Core builds it over the store."""

    def __init__(self, material: InitMaterial | None = None) -> None:
        self.material = material or generate_init_material(NOW)
        self.keys: dict[str, rec.KeyRecord] = dict(self.material.keys)
        self.term = 1
        root = open_root_key(self.material.unseal_key, self.material.sealed_root_key)
        self.keyring = Keyring(root, self.keys.get, lambda: self.term)

    def reopen(self) -> Keyring:
        """A second keyring over the same records (another node, or after a reseal)."""
        root = open_root_key(self.material.unseal_key, self.material.sealed_root_key)
        return Keyring(root, self.keys.get, lambda: self.term)

    def rotate(self) -> None:
        self.term += 1
        self.keys[kek_name(self.term)] = self.keyring.new_kek_record(self.term, NOW + self.term)


@pytest.fixture
def ring() -> Ring:
    return Ring()


# --- aead ---------------------------------------------------------------------------


def test_aead_round_trip_returns_plaintext_and_hides_it() -> None:
    cipher = aead.cipher_for(aead.new_key())
    sealed = aead.seal(cipher, b"top secret value", b"aad")
    assert b"top secret value" not in sealed
    assert len(sealed) == aead.NONCE_BYTES + len(b"top secret value") + aead.TAG_BYTES
    assert aead.open_sealed(cipher, sealed, b"aad") == b"top secret value"


def test_aead_uses_a_fresh_nonce_per_seal() -> None:
    cipher = aead.cipher_for(aead.new_key())
    first, second = aead.seal(cipher, b"v", b""), aead.seal(cipher, b"v", b"")
    assert first[: aead.NONCE_BYTES] != second[: aead.NONCE_BYTES]
    assert first != second


def test_aead_wrong_aad_raises_decrypt_error() -> None:
    cipher = aead.cipher_for(aead.new_key())
    sealed = aead.seal(cipher, b"value", b"ns\0secret/\0app\x001")
    with pytest.raises(DecryptError):
        aead.open_sealed(cipher, sealed, b"ns\0secret/\0app\x002")


@pytest.mark.parametrize("position", [0, aead.NONCE_BYTES, -1])
def test_aead_flipped_bit_raises_decrypt_error(position: int) -> None:
    cipher = aead.cipher_for(aead.new_key())
    sealed = bytearray(aead.seal(cipher, b"value", b"aad"))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptError):
        aead.open_sealed(cipher, bytes(sealed), b"aad")


@pytest.mark.parametrize("keep", [0, 5, aead.NONCE_BYTES + aead.TAG_BYTES - 1, -1])
def test_aead_truncated_ciphertext_raises_decrypt_error(keep: int) -> None:
    cipher = aead.cipher_for(aead.new_key())
    sealed = aead.seal(cipher, b"value", b"aad")
    with pytest.raises(DecryptError):
        aead.open_sealed(cipher, sealed[:keep], b"aad")


def test_aead_wrong_key_raises_decrypt_error() -> None:
    sealed = aead.seal(aead.cipher_for(aead.new_key()), b"value", b"aad")
    with pytest.raises(DecryptError):
        aead.open_sealed(aead.cipher_for(aead.new_key()), sealed, b"aad")


def test_cipher_for_rejects_keys_that_are_not_256_bits() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        aead.cipher_for(b"\0" * 16)


# --- envelope -----------------------------------------------------------------------


def test_envelope_round_trip_with_keyring_from_init_material(ring: Ring) -> None:
    aad = envelope.value_aad("", "secret/", "app/db", 1)
    env = envelope.encrypt(ring.keyring, b'{"password":"hunter2"}', aad)
    assert env.kek_term == 1
    assert b"hunter2" not in env.SerializeToString()
    assert envelope.decrypt(ring.keyring, env, aad) == b'{"password":"hunter2"}'


def test_envelope_decrypts_on_another_keyring_over_the_same_records(ring: Ring) -> None:
    aad = envelope.value_aad("", "secret/", "app", 1)
    env = envelope.encrypt(ring.keyring, b"value", aad)
    assert envelope.decrypt(ring.reopen(), env, aad) == b"value"


@pytest.mark.parametrize(
    "moved",
    [
        ("", "secret/", "app/other", 1),  # another path
        ("", "secret/", "app/db", 2),  # another version
        ("", "kv/", "app/db", 1),  # another mount
        ("team-a", "secret/", "app/db", 1),  # another namespace
        ("", "secret/", "app/db", "custom_metadata"),  # the custom metadata slot
    ],
)
def test_envelope_moved_to_another_location_fails_to_decrypt(
        ring: Ring, moved: tuple[str, str, str, int | str]) -> None:
    env = envelope.encrypt(ring.keyring, b"value", envelope.value_aad("", "secret/", "app/db", 1))
    with pytest.raises(DecryptError):
        envelope.decrypt(ring.keyring, env, envelope.value_aad(*moved))


def test_value_aad_is_unambiguous_across_field_boundaries() -> None:
    assert envelope.value_aad("", "secret/", "a", 12) != envelope.value_aad("", "secret/", "a1", 2)
    assert envelope.value_aad("a", "b", "c", 1) != envelope.value_aad("", "ab", "c", 1)


def test_envelope_tampered_ciphertext_or_wrapped_dek_fails(ring: Ring) -> None:
    aad = envelope.value_aad("", "secret/", "app", 1)
    env = envelope.encrypt(ring.keyring, b"value", aad)
    for field in ("ciphertext", "wrapped_dek"):
        bad = rec.Envelope()
        bad.CopyFrom(env)
        raw = bytearray(getattr(bad, field))
        raw[-1] ^= 0x80
        setattr(bad, field, bytes(raw))
        with pytest.raises(DecryptError):
            envelope.decrypt(ring.keyring, bad, aad)


def test_each_encryption_uses_a_fresh_dek(ring: Ring) -> None:
    aad = envelope.value_aad("", "secret/", "app", 1)
    first = envelope.encrypt(ring.keyring, b"same value", aad)
    second = envelope.encrypt(ring.keyring, b"same value", aad)
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_dek != second.wrapped_dek
    # The DEKs themselves differ, not just the nonces: unwrap both with the KEK.
    kek = ring.keyring.kek(1)
    dek1 = aead.open_sealed(kek, first.wrapped_dek, aad)
    dek2 = aead.open_sealed(kek, second.wrapped_dek, aad)
    assert len(dek1) == aead.KEY_BYTES
    assert dek1 != dek2
    # and each value really is sealed under its own DEK
    assert aead.open_sealed(aead.cipher_for(dek1), first.ciphertext, aad) == b"same value"
    with pytest.raises(DecryptError):
        aead.open_sealed(aead.cipher_for(dek2), first.ciphertext, aad)


def test_kek_rotation_new_envelopes_use_new_term_and_old_ones_still_decrypt(
        ring: Ring) -> None:
    aad = envelope.value_aad("", "secret/", "app", 1)
    old = envelope.encrypt(ring.keyring, b"old value", aad)
    ring.rotate()
    new = envelope.encrypt(ring.keyring, b"new value", aad)
    assert (old.kek_term, new.kek_term) == (1, 2)
    assert envelope.decrypt(ring.keyring, old, aad) == b"old value"
    assert envelope.decrypt(ring.keyring, new, aad) == b"new value"
    # KEK 2 is a different key: the term-2 wrapped DEK does not open under KEK 1.
    with pytest.raises(DecryptError):
        aead.open_sealed(ring.keyring.kek(1), new.wrapped_dek, aad)
    # A keyring opened later (a follower that received the record) reads both.
    other = ring.reopen()
    assert envelope.decrypt(other, old, aad) == b"old value"
    assert envelope.decrypt(other, new, aad) == b"new value"


def test_envelope_naming_an_unknown_kek_term_fails(ring: Ring) -> None:
    aad = envelope.value_aad("", "secret/", "app", 1)
    env = envelope.encrypt(ring.keyring, b"value", aad)
    env.kek_term = 7
    with pytest.raises(DecryptError):
        envelope.decrypt(ring.keyring, env, aad)


def test_key_record_sealed_for_one_name_does_not_open_as_another(ring: Ring) -> None:
    # Moving kek/1's record to kek/2 must not yield a usable KEK 2.
    ring.keys[kek_name(2)] = ring.keys[kek_name(1)]
    with pytest.raises(DecryptError):
        ring.keyring.kek(2)


# --- root key, token hash, wipe -------------------------------------------------------


def test_open_root_key_with_the_right_unseal_key_returns_the_root_key() -> None:
    material = generate_init_material(NOW)
    expected = bytes(material.root_key)
    assert bytes(open_root_key(material.unseal_key, material.sealed_root_key)) == expected


def test_open_root_key_with_a_wrong_unseal_key_raises_decrypt_error() -> None:
    material = generate_init_material(NOW)
    with pytest.raises(DecryptError):
        open_root_key(aead.new_key(), material.sealed_root_key)


def test_open_root_key_of_another_cluster_raises_decrypt_error() -> None:
    one, two = generate_init_material(NOW), generate_init_material(NOW)
    with pytest.raises(DecryptError):
        open_root_key(one.unseal_key, two.sealed_root_key)


def test_keyring_with_a_missing_hmac_record_raises_decrypt_error() -> None:
    material = generate_init_material(NOW)
    records = dict(material.keys)
    del records[TOKEN_HMAC]
    root = open_root_key(material.unseal_key, material.sealed_root_key)
    with pytest.raises(DecryptError, match="token-hmac"):
        Keyring(root, records.get, lambda: 1)


def test_keyring_zeroes_the_root_key_buffer_it_was_given() -> None:
    material = generate_init_material(NOW)
    root = open_root_key(material.unseal_key, material.sealed_root_key)
    Keyring(root, material.keys.get, lambda: 1)
    assert root == bytearray(len(root))


def test_token_hash_is_deterministic_for_one_keyring(ring: Ring) -> None:
    token = "sbs.abcdef"
    digest = ring.keyring.token_hash(token)
    assert len(digest) == 32
    assert ring.keyring.token_hash(token) == digest
    assert ring.reopen().token_hash(token) == digest  # same cluster, other node
    assert ring.keyring.token_hash("sbs.abcdeg") != digest


def test_token_hash_is_keyed_different_keyrings_give_different_hashes(ring: Ring) -> None:
    other = Ring()
    assert ring.keyring.token_hash("sbs.abcdef") != other.keyring.token_hash("sbs.abcdef")
    assert ring.keyring.audit_hash("x") != other.keyring.audit_hash("x")


def test_token_and_audit_hashes_use_different_keys(ring: Ring) -> None:
    token_hex = ring.keyring.token_hash("value").hex()
    assert ring.keyring.audit_hash("value") != "hmac-sha256:" + token_hex


def test_wipe_makes_the_keyring_unusable(ring: Ring) -> None:
    aad = envelope.value_aad("", "secret/", "app", 1)
    env = envelope.encrypt(ring.keyring, b"value", aad)
    token_digest = ring.keyring.token_hash("sbs.token")
    audit_digest = ring.keyring.audit_hash("sbs.token")
    assert token_digest and audit_digest
    ring.keyring.wipe()
    with pytest.raises(Sealed):
        envelope.decrypt(ring.keyring, env, aad)
    with pytest.raises(Sealed):
        ring.keyring.token_hash("sbs.token")
    with pytest.raises(Sealed):
        ring.keyring.audit_hash("sbs.token")


def test_wipe_zeroes_the_hmac_key_buffers(ring: Ring) -> None:
    buffers = [ring.keyring._token_hmac, ring.keyring._audit_hmac]
    assert all(any(buf) for buf in buffers)
    ring.keyring.wipe()
    assert all(buf == bytearray(len(buf)) for buf in buffers)


def test_new_kek_record_after_wipe_is_refused(ring: Ring) -> None:
    ring.keyring.wipe()
    with pytest.raises(Sealed):
        ring.keyring.new_kek_record(2, NOW)
    with pytest.raises(Sealed):
        ring.keyring.token_hash("sbs.x")


def test_keyring_zeroes_the_root_key_buffer_even_when_opening_fails() -> None:
    material = generate_init_material(NOW)
    records = dict(material.keys)
    del records[TOKEN_HMAC]
    root = open_root_key(material.unseal_key, material.sealed_root_key)
    with pytest.raises(DecryptError):
        Keyring(root, records.get, lambda: 1)
    assert root == bytearray(len(root))
