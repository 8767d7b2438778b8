"""Rekey ceremony state of one node (Vault's `sys/rekey/*`), and the root generation
one-time pad.

A rekey replaces the unseal key (new shares, a new threshold) and keeps the root key:
key holders give a threshold of the *old* shares (`RekeyCeremony.progress`), the node
combines them, checks them by opening the root key, and seals that same root key under
a fresh unseal key, which it splits. With `require_verification` the new shares are
shown first and committed only once a threshold of them has been given back
(`verify`), so a ceremony cannot lock the cluster out with shares nobody wrote down.

State is per node and in memory (as Vault keeps it on its active node): give every
share of one rekey to the same node. The pending unseal key is a `bytearray` wiped on
completion or cancel. Not thread-safe: the event loop calls it.

`encode_root_token` / `decode_root_token` are Vault's 1.10+ OTP scheme: the token XOR
an OTP of the same length, base64 without padding.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import string
import uuid
from dataclasses import dataclass, field

from strongbox.errors import BadRequest
from strongbox.seal.unseal import UnsealProgress

OTP_ALPHABET = string.ascii_letters + string.digits  # base62, as Vault's OTP


@dataclass(slots=True)
class PendingRekey:
    """New shares made, waiting for verification before they are committed."""

    unseal_key: bytearray
    sealed_root_key: bytes
    previous_sealed_root_key: bytes
    verification_nonce: str
    verify: UnsealProgress = field(default_factory=UnsealProgress)

    def wipe(self) -> None:
        self.unseal_key[:] = b"\0" * len(self.unseal_key)
        self.verify.reset()


@dataclass(slots=True)
class RekeyCeremony:
    """One node's rekey in progress (at most one)."""

    nonce: str = ""
    secret_shares: int = 0
    secret_threshold: int = 0
    require_verification: bool = False
    progress: UnsealProgress = field(default_factory=UnsealProgress)
    pending: PendingRekey | None = None

    @property
    def started(self) -> bool:
        return bool(self.nonce)

    def start(self, shares: int, threshold: int, require_verification: bool) -> None:
        if self.started:
            raise BadRequest("a rekey is already in progress: finish it, or cancel it with "
                             "DELETE sys/rekey/init")
        self.nonce = str(uuid.uuid4())
        self.secret_shares, self.secret_threshold = shares, threshold
        self.require_verification = require_verification

    def check_nonce(self, nonce: object, expected: str, what: str) -> None:
        """Constant-time nonce check; 400 naming what to send."""
        if not expected:
            raise BadRequest(f"no {what} is in progress")
        if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(),
                                                                 expected.encode()):
            raise BadRequest(f"'nonce' does not match the {what} in progress")

    def cancel(self) -> None:
        self.progress.reset()
        if self.pending is not None:
            self.pending.wipe()
        self.pending = None
        self.nonce, self.secret_shares, self.secret_threshold = "", 0, 0
        self.require_verification = False


def new_otp(length: int) -> str:
    return "".join(secrets.choice(OTP_ALPHABET) for _ in range(length))


def encode_root_token(token: str, otp: str) -> str:
    """Vault's encoding: base64 (no padding) of token XOR otp (equal lengths)."""
    if len(token) != len(otp):
        raise ValueError("the OTP must be as long as the token")
    raw = bytes(a ^ b for a, b in zip(token.encode(), otp.encode(), strict=True))
    return base64.b64encode(raw).decode().rstrip("=")


def decode_root_token(encoded: str, otp: str) -> str:
    """The inverse of `encode_root_token`; 400 if the two do not fit together."""
    try:
        raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("'encoded_token' is not base64") from None
    if len(raw) != len(otp.encode()):
        raise BadRequest("'otp' is not the length of the encoded token: use the OTP of "
                         "this root generation attempt")
    decoded = bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True))
    try:
        return decoded.decode()
    except UnicodeDecodeError:
        raise BadRequest("'otp' does not decode this token") from None
