"""strongbox.client.exchange: failover, retries, backoff, Retry-After, idempotency keys,
index tracking and error mapping, driven without I/O (the plan is a generator)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace

import httpx
import pytest

from strongbox.client import errors
from strongbox.client.config import resolve_config
from strongbox.client.consistency import Consistency, IndexTracker
from strongbox.client.endpoints import EndpointPool
from strongbox.client.exchange import Call, CallContext, ClientResponse, Send, Sleep, plan_call

A, B, C = "https://a:8200", "https://b:8200", "https://c:8200"
Handler = Callable[[Send], httpx.Response | httpx.TransportError]


def index(cluster: str, n: int) -> str:
    return base64.b64encode(f"{cluster}:{n}".encode()).decode()


def make_ctx(*addresses: str, retries: int = 3, token: str = "sbs.SECRETTOKEN") -> CallContext:
    config = replace(resolve_config(address=list(addresses), token=token, retries=retries,
                                    env={}), backoff_base=0.1, backoff_max=1.0)
    return CallContext(config, EndpointPool(config.addresses), IndexTracker(), lambda: token)


def run(call: Call, ctx: CallContext, handler: Handler,
        ) -> tuple[ClientResponse, list[Send], list[float]]:
    sends: list[Send] = []
    sleeps: list[float] = []
    plan = plan_call(call, ctx)
    step = next(plan)
    try:
        while True:
            if isinstance(step, Sleep):
                sleeps.append(step.seconds)
                step = plan.send(None)
            else:
                sends.append(step)
                step = plan.send(handler(step))
    except StopIteration as stop:
        return stop.value, sends, sleeps


def run_error(call: Call, ctx: CallContext, handler: Handler,
              ) -> tuple[errors.ClientError, list[Send]]:
    sends: list[Send] = []

    def recording(step: Send) -> httpx.Response | httpx.TransportError:
        sends.append(step)
        return handler(step)
    with pytest.raises(errors.ClientError) as info:
        run(call, ctx, recording)
    return info.value, sends


def reply(status: int, body: object = None, headers: dict[str, str] | None = None,
          ) -> httpx.Response:
    if body is None:
        return httpx.Response(status, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def refused(step: Send) -> httpx.TransportError:
    return httpx.ConnectError("connection refused")


def test_connection_refused_fails_over_to_the_next_node_without_sleeping() -> None:
    ctx = make_ctx(A, B)
    result, sends, sleeps = run(Call("GET", "secret/data/x"), ctx,
                                lambda s: refused(s) if s.address == A else reply(200, {"d": 1}))
    assert result.node == B and result.data == {"d": 1}
    assert [s.address for s in sends] == [A, B] and sleeps == []


def test_a_down_node_is_skipped_then_probed_with_health_after_the_cooldown() -> None:
    now = [0.0]
    ctx = make_ctx(A, B)
    ctx.pool = EndpointPool(ctx.config.addresses, cooldown=2.0, clock=lambda: now[0])
    run(Call("GET", "x"), ctx, lambda s: refused(s) if s.address == A else reply(200, {}))
    _, sends, _ = run(Call("GET", "x"), ctx, lambda s: reply(200, {}))
    assert [s.address for s in sends] == [B]
    now[0] = 3.0
    ctx.pool.mark_down(B, "test")  # leave only the suspect A
    _, sends, _ = run(Call("GET", "x"), ctx, lambda s: reply(200, {}))
    assert [(s.address, s.url.endswith("/v1/sys/health"), s.probe) for s in sends] == \
        [(A, True, True), (A, False, False)]


def test_a_sealed_probe_keeps_the_node_down() -> None:
    now = [0.0]
    ctx = make_ctx(A, B)
    ctx.pool = EndpointPool(ctx.config.addresses, cooldown=1.0, clock=lambda: now[0])
    ctx.pool.mark_down(A, "sealed")
    now[0] = 2.0

    def handler(step: Send) -> httpx.Response:
        if step.probe:
            return reply(503, {"sealed": True})
        return reply(200, {"ok": True})
    result, sends, _ = run(Call("GET", "x"), ctx, handler)
    assert result.node == B and [s.address for s in sends] == [A, B]


@pytest.mark.parametrize(("status", "body"), [
    (503, {"errors": ["StrongBox is sealed: submit unseal key shares"]}),
    (503, {"errors": ["no leader"]}),
    (502, {"errors": ["forwarding failed"]}),
    (412, {"errors": ["index not reached"]}),
])
def test_reads_move_on_after_sealed_no_leader_bad_gateway_or_behind(status: int,
                                                                   body: object) -> None:
    ctx = make_ctx(A, B)
    result, sends, _ = run(Call("GET", "x"), ctx,
                           lambda s: reply(status, body) if s.address == A else reply(200, {}))
    assert result.node == B and len(sends) == 2


def test_after_a_412_the_next_node_may_forward_to_the_leader() -> None:
    ctx = make_ctx(A, B)
    ctx.tracker.observe(index("c1", 5))
    _, sends, _ = run(Call("GET", "x"), ctx,
                      lambda s: reply(412, {"errors": []}) if s.address == A else reply(200, {}))
    assert "X-Vault-Inconsistent" not in sends[0].headers
    assert sends[1].headers["X-Vault-Inconsistent"] == "forward-active-node"
    assert sends[1].headers["X-Vault-Index"] == index("c1", 5)


def test_every_node_sealed_raises_sealed_after_bounded_jittered_backoff() -> None:
    ctx = make_ctx(A, B, retries=2)
    error, sends = run_error(Call("GET", "x"), ctx,
                             lambda s: reply(503, {"errors": ["StrongBox is sealed"]}))
    assert isinstance(error, errors.Sealed) and "sealed" in str(error)
    assert len(sends) == 2 + 1 + 1  # retries + 1, plus one free try for the second node
    _, _, sleeps = run(Call("GET", "x"), make_ctx(A, retries=3),
                       _flaky([reply(503, {"errors": ["no leader"]})] * 3 + [reply(200, {})]))
    assert len(sleeps) == 3 and all(0 < s <= 1.0 for s in sleeps)
    assert sleeps[0] < sleeps[2]  # exponential (jitter is at most a factor of two)


def _flaky(outcomes: list[httpx.Response | httpx.TransportError]) -> Handler:
    queue = list(outcomes)
    return lambda step: queue.pop(0)


def test_429_waits_for_retry_after_then_retries() -> None:
    ctx = make_ctx(A)
    handler = _flaky([reply(429, {"errors": ["slow down"]}, {"Retry-After": "7"}),
                      reply(200, {"ok": 1})])
    result, sends, sleeps = run(Call("POST", "secret/data/x", json={}), ctx, handler)
    assert result.status == 200 and sleeps == [7.0] and len(sends) == 2


def test_429_exhausted_raises_rate_limited_with_retry_after() -> None:
    ctx = make_ctx(A, retries=1)
    error, _ = run_error(Call("GET", "x"), ctx,
                         lambda s: reply(429, {"errors": ["throttled"]}, {"Retry-After": "2"}))
    assert isinstance(error, errors.RateLimited) and error.retry_after == 2.0


def test_writes_carry_one_idempotency_key_reused_on_every_retry() -> None:
    ctx = make_ctx(A, B)
    handler = _flaky([httpx.ReadError("reset after send"), reply(200, {"data": {"version": 1}})])
    result, sends, _ = run(Call("POST", "secret/data/x", json={"data": {}}), ctx, handler)
    keys = {s.headers["Idempotency-Key"] for s in sends}
    assert len(sends) == 2 and len(keys) == 1 and result.status == 200


def test_a_caller_key_is_used_as_is() -> None:
    ctx = make_ctx(A)
    _, sends, _ = run(Call("PUT", "sys/policies/acl/p", json={}, idempotency_key="k-1"), ctx,
                      lambda s: reply(204))
    assert sends[0].headers["Idempotency-Key"] == "k-1"


@pytest.mark.parametrize("path", ["auth/approle/login", "auth/userpass/login/alice",
                                  "auth/token/create", "auth/token/create-orphan",
                                  "sys/wrapping/wrap", "sys/unseal", "sys/init"])
def test_token_issuing_writes_get_no_key_and_ambiguity_is_outcome_unknown(path: str) -> None:
    ctx = make_ctx(A, B)
    error, sends = run_error(Call("POST", path, json={}), ctx,
                             lambda s: httpx.ReadTimeout("timed out"))
    assert isinstance(error, errors.OutcomeUnknown) and "outcome" in str(error)
    assert "unknown" in str(error) and "SECRETTOKEN" not in str(error)
    assert len(sends) == 1 and "Idempotency-Key" not in sends[0].headers


def test_token_issuing_write_refused_connection_is_retried_elsewhere() -> None:
    ctx = make_ctx(A, B)
    result, sends, _ = run(Call("POST", "auth/approle/login", json={}), ctx,
                           lambda s: refused(s) if s.address == A else reply(200, {"auth": {}}))
    assert result.node == B and "Idempotency-Key" not in sends[1].headers


def test_retry_write_false_never_retries_an_ambiguous_failure() -> None:
    ctx = make_ctx(A, B)
    error, sends = run_error(Call("POST", "secret/data/x", json={}, retry_write=False), ctx,
                             lambda s: httpx.ReadError("dropped"))
    assert isinstance(error, errors.OutcomeUnknown) and len(sends) == 1
    assert "Idempotency-Key" not in sends[0].headers


def test_keyed_write_that_stays_ambiguous_raises_outcome_unknown_naming_the_key() -> None:
    ctx = make_ctx(A, retries=1)
    error, sends = run_error(Call("POST", "secret/data/x", json={}), ctx,
                             lambda s: reply(502, {"errors": ["forwarding failed"]}))
    key = sends[0].headers["Idempotency-Key"]
    assert isinstance(error, errors.OutcomeUnknown) and key in str(error) and len(sends) == 2


def test_422_from_a_key_reuse_is_raised_not_retried() -> None:
    ctx = make_ctx(A, B)
    error, sends = run_error(Call("POST", "secret/data/x", json={}), ctx,
                             lambda s: reply(422, {"errors": ["Idempotency-Key reused"]}))
    assert isinstance(error, errors.UnprocessableEntity) and len(sends) == 1
    assert errors.Conflict is errors.UnprocessableEntity


def test_pinned_call_does_not_fail_over() -> None:
    ctx = make_ctx(A, B)
    error, sends = run_error(Call("GET", "sys/seal-status", node=B), ctx, refused)
    assert isinstance(error, errors.ConnectionFailed) and [s.address for s in sends] == [B]


def test_all_nodes_unreachable_is_connection_failed_naming_the_call() -> None:
    error, sends = run_error(Call("GET", "secret/data/x"), make_ctx(A, B, retries=0), refused)
    assert type(error) is errors.ConnectionFailed and "no StrongBox node reachable" in str(error)
    assert len(sends) == 2


def test_certificate_failure_is_one_tls_error_without_retry() -> None:
    import ssl
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
           "certificate in certificate chain (_ssl.c:1006)")

    def handler(step: Send) -> httpx.TransportError:
        try:
            raise httpx.ConnectError("handshake") from cause
        except httpx.ConnectError as exc:
            return exc
    error, sends = run_error(Call("GET", "x"), make_ctx(A, B), handler)
    assert isinstance(error, errors.TLSError) and len(sends) == 1
    text = str(error)
    assert "\n" not in text and "self-signed certificate in certificate chain" in text
    assert "cacert" in text


def test_write_index_is_remembered_and_sent_on_read_your_writes_reads_only() -> None:
    ctx = make_ctx(A)
    run(Call("POST", "secret/data/x", json={}), ctx,
        lambda s: reply(200, {}, {"X-Vault-Index": index("c1", 9)}))
    run(Call("POST", "secret/data/y", json={}), ctx,
        lambda s: reply(200, {}, {"X-Vault-Index": index("c1", 4)}))
    seen: dict[Consistency, dict[str, str]] = {}
    for level in Consistency:
        _, sends, _ = run(Call("GET", "x", consistency=level), ctx, lambda s: reply(200, {}))
        seen[level] = sends[0].headers
    assert seen[Consistency.READ_YOUR_WRITES]["X-Vault-Index"] == index("c1", 9)
    assert "X-Vault-Index" not in seen[Consistency.STALE]
    assert seen[Consistency.LINEARIZABLE]["X-Strongbox-Consistency"] == "consistent"


def test_error_answers_map_to_classes_with_server_messages_and_request_id() -> None:
    ctx = make_ctx(A)
    error, _ = run_error(Call("GET", "secret/data/x"), ctx, lambda s: reply(
        403, {"errors": ["permission denied"]}, {"X-Request-Id": "r-1"}))
    assert isinstance(error, errors.PermissionDenied)
    assert str(error) == "permission denied (HTTP 403)"
    assert error.request_id == "r-1" and error.node == A and error.errors == ["permission denied"]


def test_accepted_statuses_are_returned_and_headers_carry_token_and_namespace() -> None:
    ctx = make_ctx(A)
    ctx.config = replace(ctx.config, namespace="team-a")
    result, sends, _ = run(Call("GET", "sys/health", accept=frozenset({473})), ctx,
                           lambda s: reply(473, {"standby": True}))
    assert result.status == 473 and result.data == {"standby": True}
    assert sends[0].headers["X-Vault-Token"] == "sbs.SECRETTOKEN"
    assert sends[0].headers["X-Vault-Namespace"] == "team-a"
    _, sends, _ = run(Call("GET", "sys/health", authenticated=False), ctx,
                      lambda s: reply(200, {}))
    assert "X-Vault-Token" not in sends[0].headers
