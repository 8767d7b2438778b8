"""One call, from request to answer, as a sans-I/O generator shared by both clients.

`plan_call` yields `Send` (do this HTTP request, send back the `httpx.Response` or the
`httpx.TransportError`) and `Sleep` (wait this long, send back None) steps and returns
a `ClientResponse`, or raises a `ClientError`. The sync and async clients only drive
it (`Client._drive`, `AsyncClient._drive`), so endpoint choice, failover, retries,
backoff, Retry-After, idempotency keys, index tracking and error mapping exist once.

Attempt budget: `retries + 1` tries, plus one free try per extra node, so a dead node
costs a failover, not a retry. A pinned call (`node=` or `on_node`) never fails over.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from strongbox.client import rules
from strongbox.client.config import ClientConfig
from strongbox.client.consistency import (
    INDEX_HEADER,
    Consistency,
    IndexTracker,
    read_headers,
)
from strongbox.client.endpoints import SERVING_HEALTH, Candidate, EndpointPool
from strongbox.client.errors import (
    ClientError,
    ConnectionFailed,
    OutcomeUnknown,
    RateLimited,
    TLSError,
    error_for_status,
    server_messages,
)
from strongbox.client.rules import Verdict


@dataclass(frozen=True, slots=True)
class Call:
    """A request as the caller describes it. `accept`: statuses returned, not raised."""

    method: str
    path: str
    json: Any = None
    params: Mapping[str, Any] | None = None
    headers: Mapping[str, str] | None = None
    node: str | None = None
    consistency: Consistency | None = None
    idempotency_key: str | None = None
    retry_write: bool | None = None
    accept: frozenset[int] = frozenset()
    content: bytes | None = None
    authenticated: bool = True
    cacheable: bool = False
    sets_token: bool = False


@dataclass(frozen=True, slots=True)
class Send:
    """Do this HTTP request. `probe`: a health check, not the call itself."""

    address: str
    method: str
    url: str
    headers: dict[str, str]
    params: Mapping[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    probe: bool = False


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Step = Send | Sleep
Outcome = httpx.Response | httpx.TransportError | None


@dataclass(frozen=True, slots=True)
class ClientResponse:
    """An answer. `data`: the parsed JSON object (None for 204, empty or non-JSON bodies)."""

    status: int
    headers: httpx.Headers
    data: dict[str, Any] | None
    node: str
    content: bytes = b""
    request_id: str | None = None
    index: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


@dataclass(slots=True)
class CallContext:
    """What a plan needs from its client; `token` is read at every attempt."""

    config: ClientConfig
    pool: EndpointPool
    tracker: IndexTracker
    token: Callable[[], str | None]
    rand: Callable[[], float] = field(default=lambda: 0.5)


def parse_body(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code == 204 or not response.content:
        return None
    try:
        body = jsonlib.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _headers(call: Call, ctx: CallContext, key: str | None, forward: bool) -> dict[str, str]:
    headers: dict[str, str] = {}
    token = ctx.token() if call.authenticated else None
    if token:
        headers["X-Vault-Token"] = token
    if ctx.config.namespace:
        headers["X-Vault-Namespace"] = ctx.config.namespace
    if not rules.is_write(call.method):
        level = call.consistency or ctx.config.consistency
        headers.update(read_headers(level, ctx.tracker, forward_when_behind=forward))
    if key:
        headers[rules.IDEMPOTENCY_HEADER] = key
    headers.update(call.headers or {})
    return headers


def _key_for(call: Call) -> str | None:
    if call.retry_write is False or not rules.takes_idempotency_key(
            call.method, call.path, call.headers or {}):
        return None
    return call.idempotency_key or rules.new_idempotency_key()


def _url(address: str, path: str) -> str:
    return f"{address}/v1/{path.lstrip('/')}"


def _probe(address: str) -> Generator[Step, Outcome, bool]:
    """Ask a suspect node's sys/health whether it serves; True if it does."""
    outcome = yield Send(address, "GET", _url(address, "sys/health"), {}, probe=True)
    return isinstance(outcome, httpx.Response) and outcome.status_code in SERVING_HEALTH


def _answer(response: httpx.Response, address: str) -> ClientResponse:
    return ClientResponse(status=response.status_code, headers=response.headers,
                          data=parse_body(response), node=address, content=response.content,
                          request_id=response.headers.get("x-request-id"),
                          index=response.headers.get(INDEX_HEADER))


def status_error(response: httpx.Response, address: str) -> ClientError:
    return error_for_status(response.status_code, parse_body(response),
                            request_id=response.headers.get("x-request-id"), node=address,
                            headers=response.headers)


def _unknown(call: Call, address: str, why: str, key: str | None) -> OutcomeUnknown:
    advice = (f"retry with Idempotency-Key {key} to apply it at most once" if key else
              "check the current state before retrying")
    return OutcomeUnknown(f"the outcome of {call.method} {call.path} is unknown: {why} "
                          f"({address}); {advice}", node=address)


@dataclass(slots=True)
class _Attempts:
    """Which node the next attempt goes to, and the backoff between rounds."""

    ctx: CallContext
    call: Call
    write: bool
    queue: list[Candidate] = field(default_factory=list)
    rounds: int = 0

    def refill(self) -> None:
        node = self.call.node or (self.ctx.config.addresses[0] if self.ctx.config.pinned
                                  else None)
        if node is not None:
            self.queue = [Candidate(node.rstrip("/"), probe=False)]
        else:
            self.queue = self.ctx.pool.candidates(write=self.write)

    def budget(self) -> int:
        extra = 0 if self.pinned else len(self.ctx.pool.addresses) - 1
        return self.ctx.config.retries + 1 + extra

    @property
    def pinned(self) -> bool:
        return self.call.node is not None or self.ctx.config.pinned

    def backoff(self) -> float:
        delay = rules.backoff_delay(self.rounds, base=self.ctx.config.backoff_base,
                                    cap=self.ctx.config.backoff_max, rand=self.ctx.rand)
        self.rounds += 1
        return delay


def plan_call(call: Call, ctx: CallContext) -> Generator[Step, Outcome, ClientResponse]:
    """Run `call` to completion (see the module docstring)."""
    write = rules.is_write(call.method)
    key = _key_for(call)
    safe_retry = key is not None or call.retry_write is True
    attempts = _Attempts(ctx, call, write)
    forward = ambiguous = False
    last: ClientError | None = None
    for _ in range(attempts.budget()):
        if not attempts.queue:
            if last is not None:
                yield Sleep(attempts.backoff())
            attempts.refill()
        candidate = attempts.queue.pop(0)
        if candidate.probe and not (yield from _probe(candidate.address)):
            ctx.pool.mark_down(candidate.address, "health check failed")
            last = last or ConnectionFailed(f"{candidate.address} is not serving")
            continue
        address = candidate.address
        send = Send(address, call.method, _url(address, call.path),
                    _headers(call, ctx, key, forward), call.params, call.json, call.content)
        outcome = yield send
        if isinstance(outcome, httpx.Response):
            verdict, error = _judge_response(outcome, call, ctx, address, write)
            if verdict is Verdict.DONE:
                if error is not None:
                    raise error
                return _answer(outcome, address)
            forward = forward or outcome.status_code == 412
            assert error is not None
        else:
            assert outcome is not None
            verdict, error = _judge_failure(outcome, call, ctx, address, write, key)
        if verdict is Verdict.AMBIGUOUS:
            if not safe_retry:
                raise _unknown(call, address, error.message, None)
            ambiguous = True
        if attempts.pinned and verdict is Verdict.FAILOVER:
            raise error
        if verdict is Verdict.RETRY:
            yield Sleep(_rate_limit_wait(error, attempts))
            attempts.refill()
        last = error
    raise _exhausted(call, last, key if ambiguous else None)


def _judge_response(response: httpx.Response, call: Call, ctx: CallContext, address: str,
                    write: bool) -> tuple[Verdict, ClientError | None]:
    status = response.status_code
    if 200 <= status < 300 or status in call.accept:
        ctx.pool.mark_up(address)
        if write and 200 <= status < 300:
            ctx.tracker.observe(response.headers.get(INDEX_HEADER))
        return Verdict.DONE, None
    error = status_error(response, address)
    verdict = rules.classify_status(status, write=write,
                                    messages=server_messages(parse_body(response)))
    if verdict is Verdict.FAILOVER:
        ctx.pool.mark_down(address, str(error))
    elif verdict is Verdict.DONE:
        ctx.pool.mark_up(address)
    return verdict, error


def _judge_failure(exc: httpx.TransportError, call: Call, ctx: CallContext, address: str,
                   write: bool, key: str | None) -> tuple[Verdict, ClientError]:
    reason = rules.tls_failure(exc)
    if reason is not None:
        raise TLSError(f"TLS connection to {address} failed: {reason}; set cacert (or "
                       "STRONGBOX_CACERT) to the CA that signed the server's certificate",
                       node=address) from None
    verdict = rules.classify_transport_error(exc, write=write)
    ctx.pool.mark_down(address, type(exc).__name__)
    what = "the connection failed after the request was sent" if verdict is \
        Verdict.AMBIGUOUS else "cannot connect"
    detail = str(exc) or type(exc).__name__
    return verdict, ConnectionFailed(f"{what}: {detail}", node=address)


def _rate_limit_wait(error: ClientError, attempts: _Attempts) -> float:
    retry_after = error.retry_after if isinstance(error, RateLimited) else None
    config = attempts.ctx.config
    delay = rules.retry_after_delay(retry_after, attempts.rounds, base=config.backoff_base,
                                    cap=config.backoff_max, max_wait=config.max_retry_after,
                                    rand=attempts.ctx.rand)
    attempts.rounds += 1
    return delay


def _exhausted(call: Call, last: ClientError | None, ambiguous_key: str | None,
               ) -> ClientError:
    """The error once the budget is spent; `ambiguous_key`: a keyed write may have applied."""
    if last is None:
        return ConnectionFailed(f"{call.method} {call.path}: no node to send it to")
    if ambiguous_key is not None:
        return _unknown(call, last.node or "?", last.message, ambiguous_key)
    if isinstance(last, ConnectionFailed):
        return ConnectionFailed(f"no StrongBox node reachable for {call.method} {call.path}; "
                                f"last: {last.message} ({last.node})", node=last.node)
    return last
