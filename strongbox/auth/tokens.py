"""Token lifetimes and batch tokens (Vault's token semantics).

A service token (`sbs.…`) is random; only its keyed hash is stored. A batch
token (`sbb.…`) is not stored at all: it is its own `TokenRecord`, sealed with
AES-256-GCM under a key derived from the token HMAC key, so any unsealed node
can open it and a flipped bit is a bad token. Batch tokens are not renewable
and have no accessor; one with a parent dies with its parent.

Lifetimes are measured from creation: `ttl_ns` is the current lifetime,
`explicit_max_ttl_ns` a hard cap, `period_ns` makes a token renewable forever
by that much at a time (still under an explicit max, if any).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

from strongbox.barrier.aead import DecryptError
from strongbox.barrier.keyring import Keyring
from strongbox.pb import records_pb2 as rec
from strongbox.state.lifetimes import ends_at as expires_at
from strongbox.state.lifetimes import lapsed as expired

SERVICE_PREFIX = "sbs."
BATCH_PREFIX = "sbb."
SYSTEM_MAX_TTL_NS = 768 * 3600 * 10**9  # Vault's default max TTL (32 days)
MAX_TTL_NS = 100 * 365 * 86400 * 10**9
MAX_BATCH_TOKEN_CHARS = 4096
NEVER = 2**63 - 1
_BATCH_TEXT = re.compile(r"[A-Za-z0-9_-]+")
__all__ = ["expired", "expires_at"]  # a token's lifetime, as for every record that has one


def new_service_token() -> str:
    return SERVICE_PREFIX + secrets.token_urlsafe(24)


def new_accessor() -> str:
    return secrets.token_urlsafe(18)


def ancestors_expire(parent: rec.TokenRecord) -> int:
    """`ancestors_expire_ns` of a child of `parent`: the earliest expiry among the child's
    ancestors, NEVER if none expires, 0 if unknown (the ancestors are then looked up)."""
    own = expires_at(parent) or NEVER
    above = parent.ancestors_expire_ns if parent.parent_accessor else NEVER
    return min(own, above)


def initial_ttl(requested_ns: int, period_ns: int, explicit_max_ns: int) -> int:
    """The TTL a new token gets: its period if periodic, else what was asked up to the
    system max (768h, as Vault's default max_lease_ttl); an explicit max caps both."""
    ttl = period_ns or min(requested_ns or SYSTEM_MAX_TTL_NS, SYSTEM_MAX_TTL_NS)
    return min(ttl, explicit_max_ns) if explicit_max_ns else ttl


def renewed_ttl(token: rec.TokenRecord, increment_ns: int, now_ns: int) -> int:
    """The token's new lifetime (from creation) after a renewal at `now_ns`.

    Periodic tokens get `period` more from now, with no system cap; others get the
    increment (default: the TTL they were issued with), capped at 768h from
    creation. An explicit max TTL caps both.
    """
    if token.period_ns:
        ttl = now_ns + token.period_ns - token.creation_time_ns
    else:
        extra = increment_ns or token.issued_ttl_ns or token.ttl_ns
        ttl = min(now_ns + extra - token.creation_time_ns, SYSTEM_MAX_TTL_NS)
    if token.explicit_max_ttl_ns:
        ttl = min(ttl, token.explicit_max_ttl_ns)
    return ttl


def seal_batch_token(keyring: Keyring, token: rec.TokenRecord) -> str:
    sealed = keyring.seal_batch(token.SerializeToString())
    return BATCH_PREFIX + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def open_batch_token(keyring: Keyring, token_id: str) -> rec.TokenRecord | None:
    """The record sealed in a batch token; None if it is malformed or was tampered with."""
    text = token_id[len(BATCH_PREFIX):]
    if len(token_id) > MAX_BATCH_TOKEN_CHARS or not _BATCH_TEXT.fullmatch(text):
        return None
    try:
        sealed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if base64.urlsafe_b64encode(sealed).rstrip(b"=").decode() != text:
            return None  # one token, one spelling (audit hashes the string as sent)
        record = rec.TokenRecord.FromString(keyring.open_batch(sealed))
    except (binascii.Error, ValueError, DecryptError):
        return None
    return record if record.type == "batch" else None
