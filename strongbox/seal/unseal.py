"""Unseal ceremony state of one node: threshold, progress, nonce, reset.

Key holders submit shares one at a time (Vault's `PUT /sys/unseal`). Shares are
kept in memory only until the threshold is reached, then combined and
dropped, whatever the outcome. Duplicates are detected with constant-time
comparison. `UnsealProgress` is not thread-safe: the API calls it from the
event loop only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import uuid

from strongbox.errors import BadRequest
from strongbox.seal import shamir

UNSEAL_KEY_BYTES = 32


def decode_share(text: str, expected_len: int) -> bytearray:
    """Accept a share as hex or base64, as Vault does; never echo it in errors."""
    if not isinstance(text, str) or not text:
        raise BadRequest("'key' must be a non-empty string holding an unseal key share "
                         "in hex or base64")
    candidates: list[bytes] = []
    with contextlib.suppress(ValueError):
        candidates.append(bytes.fromhex(text))
    with contextlib.suppress(binascii.Error, ValueError):
        candidates.append(base64.b64decode(text, validate=True))
    if not candidates:
        raise BadRequest("'key' is neither hex nor base64: paste the share exactly as "
                         "it was given at init")
    raw = next((c for c in candidates if len(c) == expected_len), None)
    if raw is None:
        raise BadRequest(f"'key' decodes to {len(candidates[0])} bytes but shares of this "
                         f"cluster are {expected_len} bytes: check that the share is complete")
    return bytearray(raw)


def split_unseal_key(unseal_key: bytes | bytearray, shares: int, threshold: int) -> list[bytes]:
    """One share is the key itself (as Vault); otherwise Shamir shares of it."""
    if shares == 1:
        return [bytes(unseal_key)]
    return shamir.split(bytes(unseal_key), shares, threshold)


def share_length(shares: int) -> int:
    return UNSEAL_KEY_BYTES if shares == 1 else UNSEAL_KEY_BYTES + 1


class UnsealProgress:
    def __init__(self) -> None:
        self._shares: list[bytearray] = []
        self.nonce = ""

    @property
    def progress(self) -> int:
        return len(self._shares)

    def reset(self) -> None:
        for share in self._shares:
            share[:] = b"\0" * len(share)
        self._shares.clear()
        self.nonce = ""

    def add(self, share: bytearray, threshold: int) -> bytearray | None:
        """Record a share; return the combined unseal key once `threshold` are in.

        The caller must check the key (by opening the root key) and call `reset()`
        either way; progress is reset here as soon as the shares are combined.
        """
        if any(hmac.compare_digest(bytes(share), bytes(seen)) for seen in self._shares):
            raise BadRequest("this unseal key share was already submitted in this attempt; "
                             "submit a different share or reset with {\"reset\": true}")
        if not self.nonce:
            self.nonce = str(uuid.uuid4())
        self._shares.append(share)
        if len(self._shares) < threshold:
            return None
        try:
            if threshold == 1:
                return bytearray(self._shares[0])
            try:
                return bytearray(shamir.combine([bytes(s) for s in self._shares]))
            except shamir.ShamirError as exc:
                raise BadRequest(f"unseal failed: {exc}; progress was reset") from None
        finally:
            self.reset()
