"""Pure decisions about one call: is it a write, may it carry an Idempotency-Key,
what an answer or a failure means for the next attempt, how long to back off.

Writes are never doubled by a retry:

- a failure where the request surely did not reach the server (connection refused,
  connect timeout) may be retried on any node, with or without a key;
- an *ambiguous* failure (connection dropped after sending, read timeout, 502, 503
  "outcome unknown") is retried only when the write carries an Idempotency-Key (the
  client adds a uuid4 to every write that may take one), or the caller said the write
  is idempotent (`retry_write=True`); otherwise it raises `OutcomeUnknown`;
- token-issuing requests (logins, `auth/token/create*`, `sys/wrapping/wrap`, anything
  sent with X-Vault-Wrap-TTL) and the per-node or many-write ones (`sys/init`,
  `sys/unseal`, `sys/seal`, snapshot restores, `sys/wrapping/unwrap`) never carry a
  key: the server refuses keys on token-issuing requests (400).
"""

from __future__ import annotations

import enum
import random
import re
import ssl
import uuid
from collections.abc import Callable, Mapping

import httpx

READ_METHODS = frozenset({"GET", "HEAD", "LIST", "OPTIONS"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
_NO_KEY_PATHS = (
    re.compile(r"^auth/.+/login(/.*)?$"),
    re.compile(r"^auth/token/create.*$"),
    re.compile(r"^sys/wrapping/(wrap|unwrap|rewrap)$"),
    re.compile(r"^sys/(init|unseal|seal|step-down)$"),
    re.compile(r"^sys/storage/raft/snapshot(-force)?$"),
)


class Verdict(enum.Enum):
    """What to do after one attempt."""

    DONE = "done"            # return the answer (or raise its error)
    FAILOVER = "failover"    # mark the node down, try another one
    RETRY = "retry"          # try again (any node) after the backoff
    AMBIGUOUS = "ambiguous"  # a write may have applied: retry only if safe


def is_write(method: str) -> bool:
    return method.upper() in WRITE_METHODS


def takes_idempotency_key(method: str, path: str, headers: Mapping[str, str]) -> bool:
    """True if a write to `path` may carry an Idempotency-Key (see the docstring)."""
    if not is_write(method):
        return False
    if any(name.lower() == "x-vault-wrap-ttl" for name in headers):
        return False
    clean = path.strip("/")
    return not any(pattern.match(clean) for pattern in _NO_KEY_PATHS)


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


def classify_status(status: int, *, write: bool, messages: list[str]) -> Verdict:
    """The verdict for an HTTP answer."""
    if status == 412:
        return Verdict.FAILOVER
    if status == 429:
        return Verdict.RETRY
    if status == 502:
        return Verdict.AMBIGUOUS if write else Verdict.FAILOVER
    if status == 503:
        unknown = any("outcome is unknown" in m or "outcome unknown" in m for m in messages)
        return Verdict.AMBIGUOUS if write and unknown else Verdict.FAILOVER
    return Verdict.DONE


def tls_failure(exc: BaseException) -> str | None:
    """The reason if `exc` (or what caused it) is a TLS failure (e.g. the certificate did
    not verify), else None."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        text = str(seen)
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
            match = re.search(r"certificate verify failed: ([^(]+)", text)
            if match:
                return "certificate verify failed: " + match.group(1).strip()
            return getattr(seen, "reason", None) or text
        seen = seen.__cause__ or seen.__context__
    return None


def classify_transport_error(exc: httpx.TransportError, *, write: bool) -> Verdict:
    """Connect failures surely did not reach the server; anything later is ambiguous."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return Verdict.FAILOVER
    return Verdict.AMBIGUOUS if write else Verdict.FAILOVER


def backoff_delay(attempt: int, *, base: float, cap: float,
                  rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter: uniform in [c/2, c], c = min(cap, base * 2**attempt)."""
    ceiling = min(cap, base * (2.0 ** max(0, attempt)))
    return float(ceiling * (0.5 + rand() / 2))


def retry_after_delay(retry_after: float | None, attempt: int, *, base: float, cap: float,
                      max_wait: float, rand: Callable[[], float] = random.random) -> float:
    """How long to wait after a 429: the server's Retry-After (bounded), else backoff."""
    if retry_after is not None:
        return min(max_wait, retry_after)
    return backoff_delay(attempt, base=base, cap=cap, rand=rand)
