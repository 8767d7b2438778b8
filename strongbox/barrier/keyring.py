"""The keyring: root key, KEK versions and the HMAC keys, held only while unsealed.

Hierarchy (docs/design.md §3): the unseal key (rebuilt from Shamir shares) opens the
root key; the root key opens every key record of the `keyring` database:
`kek/<term>` (key-encryption keys, one per rotation), `token-hmac` (keyed hash of
token ids) and `audit-hmac` (hashes in audit lines). Records live in LMDB and
arrive through Raft, so a KEK rotated on the leader reaches a follower as a
sealed record; `Keyring` opens it lazily the first time it is needed.

Key material is held in `bytearray`s and `AESGCM` objects and dropped on
`wipe()`. Python cannot guarantee the bytes are zeroed (copies may exist in the
allocator); the threat model says so. Thread-safety: readers on the event loop
and the apply thread may call concurrently; the lazily filled dict is only ever
grown with immutable values, which is safe under the GIL.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongbox.barrier.aead import DecryptError, cipher_for, new_key, open_sealed, seal
from strongbox.errors import Sealed
from strongbox.pb import records_pb2 as rec

MEMO_ENTRIES = 4096     # hashes kept (tokens, accessors, short audit fields)
MEMO_MAX_VALUE = 256    # longer values (secret data) are hashed every time

ROOT_KEY_AAD = b"strongbox|root-key"
TOKEN_HMAC = "token-hmac"  # noqa: S105 - a key name, not a secret
AUDIT_HMAC = "audit-hmac"
BATCH_KEY_LABEL = b"strongbox batch-token key v1"


def kek_name(term: int) -> str:
    return f"kek/{term}"


def _key_aad(name: str) -> bytes:
    return b"keyring|" + name.encode()


def seal_key_record(root: AESGCM, name: str, key: bytes | bytearray, term: int,
                    now_ns: int) -> rec.KeyRecord:
    return rec.KeyRecord(term=term, install_time_ns=now_ns,
                         sealed_key=seal(root, bytes(key), _key_aad(name)))


@dataclass(slots=True)
class InitMaterial:
    """What `init` produces: the unseal key for splitting, and the records to replicate."""

    unseal_key: bytearray
    root_key: bytearray
    sealed_root_key: bytes
    keys: dict[str, rec.KeyRecord]


def generate_init_material(now_ns: int) -> InitMaterial:
    """Fresh unseal key, root key, KEK v1 and HMAC keys, all but the unseal key sealed."""
    unseal_key = new_key()
    root_key = new_key()
    root = cipher_for(root_key)
    sealed_root = seal(cipher_for(unseal_key), bytes(root_key), ROOT_KEY_AAD)
    keys = {
        kek_name(1): seal_key_record(root, kek_name(1), new_key(), 1, now_ns),
        TOKEN_HMAC: seal_key_record(root, TOKEN_HMAC, new_key(), 1, now_ns),
        AUDIT_HMAC: seal_key_record(root, AUDIT_HMAC, new_key(), 1, now_ns),
    }
    return InitMaterial(unseal_key=unseal_key, root_key=root_key, sealed_root_key=sealed_root,
                        keys=keys)


def open_root_key(unseal_key: bytes | bytearray, sealed_root_key: bytes) -> bytearray:
    """Raises DecryptError when the unseal key is wrong (e.g. a wrong share set)."""
    return bytearray(open_sealed(cipher_for(unseal_key), sealed_root_key, ROOT_KEY_AAD))


class Keyring:
    """The opened keyring of an unsealed node.

    `load_key(name)` reads a sealed `KeyRecord` from the store (None if absent);
    `latest_kek_term()` reads the highest KEK term applied so far.
    """

    def __init__(self, root_key: bytearray, load_key: Callable[[str], rec.KeyRecord | None],
                 latest_kek_term: Callable[[], int]) -> None:
        self._root = cipher_for(root_key)
        self._load_key = load_key
        self._latest_kek_term = latest_kek_term
        self._keks: dict[int, AESGCM] = {}
        self._wiped = False
        # The same tokens and accessors are hashed on every request: short values'
        # hashes are kept (bounded, emptied on wipe) instead of recomputed.
        self._memo: dict[tuple[bool, str], bytes | str] = {}
        try:
            self._token_hmac = self._open(TOKEN_HMAC)
            self._audit_hmac = self._open(AUDIT_HMAC)
            batch_key = hmac.new(self._token_hmac, BATCH_KEY_LABEL, sha256).digest()
            self._batch = cipher_for(batch_key)
        finally:
            root_key[:] = b"\0" * len(root_key)

    def _check(self) -> None:
        if self._wiped:
            raise Sealed()

    def _open(self, name: str) -> bytearray:
        self._check()
        record = self._load_key(name)
        if record is None:
            raise DecryptError(f"keyring record {name!r} is missing")
        return bytearray(open_sealed(self._root, record.sealed_key, _key_aad(name)))

    @property
    def active_kek_term(self) -> int:
        return self._latest_kek_term()

    def kek(self, term: int) -> AESGCM:
        self._check()
        cipher = self._keks.get(term)
        if cipher is None:
            key = self._open(kek_name(term))
            cipher = cipher_for(key)
            key[:] = b"\0" * len(key)
            self._keks[term] = cipher
        return cipher

    def new_kek_record(self, term: int, now_ns: int) -> rec.KeyRecord:
        """A sealed, fresh KEK for `term` (rotation; the leader proposes it)."""
        self._check()
        return seal_key_record(self._root, kek_name(term), new_key(), term, now_ns)

    def token_hash(self, token: str) -> bytes:
        """Keyed hash under which a token is stored; the token itself never is."""
        self._check()
        memo_key = (False, token)
        found = self._memo.get(memo_key)
        if found is None:
            found = hmac.new(self._token_hmac, token.encode(), sha256).digest()
            self._remember(memo_key, found, len(token))
        assert isinstance(found, bytes)
        return found

    def _remember(self, memo_key: tuple[bool, str], value: bytes | str, size: int) -> None:
        if size > MEMO_MAX_VALUE:
            return
        if len(self._memo) >= MEMO_ENTRIES:
            self._memo.clear()
        self._memo[memo_key] = value

    def seal_batch(self, plaintext: bytes) -> bytes:
        """Seal a batch token's record (key derived from the token HMAC key)."""
        self._check()
        return seal(self._batch, plaintext, BATCH_KEY_LABEL)

    def open_batch(self, sealed: bytes) -> bytes:
        """Raises DecryptError for anything this cluster did not seal as a batch token."""
        self._check()
        return open_sealed(self._batch, sealed, BATCH_KEY_LABEL)

    def audit_hash(self, value: str) -> str:
        self._check()
        memo_key = (True, value)
        found = self._memo.get(memo_key)
        if found is None:
            found = "hmac-sha256:" + hmac.new(self._audit_hmac, value.encode(),
                                              sha256).hexdigest()
            self._remember(memo_key, found, len(value))
        assert isinstance(found, str)
        return found

    def wipe(self) -> None:
        """Drop every key reference (seal); every later use raises errors.Sealed."""
        self._wiped = True
        self._memo.clear()
        for buf in (self._token_hmac, self._audit_hmac):
            buf[:] = b"\0" * len(buf)
        self._keks.clear()
        self._root = AESGCM(os.urandom(32))
        self._batch = AESGCM(os.urandom(32))
