"""strongbox.client.rules and endpoints: pure decisions (write kinds, keys, verdicts,
backoff) and node order (followers first for reads, the leader first for writes)."""

from __future__ import annotations

import httpx
import pytest

from strongbox.client import errors
from strongbox.client.endpoints import EndpointPool
from strongbox.client.errors import error_for_status
from strongbox.client.rules import (
    Verdict,
    backoff_delay,
    classify_status,
    classify_transport_error,
    retry_after_delay,
    takes_idempotency_key,
)


@pytest.mark.parametrize(("method", "path", "headers", "expected"), [
    ("POST", "secret/data/a", {}, True),
    ("DELETE", "secret/metadata/a", {}, True),
    ("PATCH", "secret/data/a", {}, True),
    ("GET", "secret/data/a", {}, False),
    ("POST", "auth/approle/login", {}, False),
    ("POST", "auth/userpass/login/bob", {}, False),
    ("POST", "auth/token/create/role", {}, False),
    ("POST", "sys/storage/raft/snapshot", {}, False),
    ("POST", "secret/data/a", {"X-Vault-Wrap-TTL": "1m"}, False),
    ("POST", "auth/token/renew-self", {}, True),
])
def test_which_requests_take_an_idempotency_key(method: str, path: str,
                                                headers: dict[str, str],
                                                expected: bool) -> None:
    assert takes_idempotency_key(method, path, headers) is expected


def test_status_verdicts() -> None:
    assert classify_status(412, write=False, messages=[]) is Verdict.FAILOVER
    assert classify_status(429, write=True, messages=[]) is Verdict.RETRY
    assert classify_status(502, write=False, messages=[]) is Verdict.FAILOVER
    assert classify_status(502, write=True, messages=[]) is Verdict.AMBIGUOUS
    assert classify_status(503, write=True, messages=["no leader"]) is Verdict.FAILOVER
    assert classify_status(503, write=True, messages=[
        "write outcome is unknown: retry with the same Idempotency-Key"]) is Verdict.AMBIGUOUS
    assert classify_status(400, write=True, messages=[]) is Verdict.DONE


def test_transport_verdicts() -> None:
    assert classify_transport_error(httpx.ConnectError("x"), write=True) is Verdict.FAILOVER
    assert classify_transport_error(httpx.ReadTimeout("x"), write=True) is Verdict.AMBIGUOUS
    assert classify_transport_error(httpx.RemoteProtocolError("x"), write=False) is \
        Verdict.FAILOVER


def test_backoff_grows_is_capped_and_jittered() -> None:
    low = [backoff_delay(n, base=0.1, cap=2.0, rand=lambda: 0.0) for n in range(8)]
    high = [backoff_delay(n, base=0.1, cap=2.0, rand=lambda: 1.0) for n in range(8)]
    assert low[:3] == pytest.approx([0.05, 0.1, 0.2]) and high[-1] == 2.0
    assert all(lo < hi for lo, hi in zip(low, high, strict=True))
    assert retry_after_delay(7.0, 0, base=0.1, cap=2, max_wait=30) == 7.0
    assert retry_after_delay(300.0, 0, base=0.1, cap=2, max_wait=30) == 30


def test_error_mapping_sealed_and_rate_limited() -> None:
    sealed = error_for_status(503, {"errors": ["StrongBox is sealed: unseal it"]})
    assert isinstance(sealed, errors.Sealed) and isinstance(sealed, errors.Unavailable)
    limited = error_for_status(429, {"errors": ["too many"]}, headers={"retry-after": "3"})
    assert isinstance(limited, errors.RateLimited) and limited.retry_after == 3.0
    other = error_for_status(507, {"errors": ["map full"]})
    assert type(other) is errors.ClientError and str(other) == "map full (HTTP 507)"
    assert str(error_for_status(404, {"errors": []})) == "not found (HTTP 404)"


def test_reads_prefer_followers_and_writes_the_leader() -> None:
    pool = EndpointPool(["https://a", "https://b", "https://c"])
    pool.set_leader("https://a")
    assert pool.candidates(write=False)[-1].address == "https://a"
    assert pool.candidates(write=True)[0].address == "https://a"
    pool.mark_up("https://c")
    assert pool.candidates(write=False)[0].address == "https://c"  # sticky


def test_when_every_node_is_down_all_are_still_tried_oldest_failure_first() -> None:
    now = [0.0]
    pool = EndpointPool(["https://a", "https://b"], cooldown=10, clock=lambda: now[0])
    pool.mark_down("https://b", "x")
    now[0] = 1.0
    pool.mark_down("https://a", "y")
    assert [c.address for c in pool.candidates(write=False)] == ["https://b", "https://a"]
