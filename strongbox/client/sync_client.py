"""`Client`: the blocking client. A thin driver of `exchange.plan_call` over one
`httpx.Client` (connection pools per node), plus the optional cache, singleflight
and token manager. Safe to share between threads.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import IO, Any

import httpx

from strongbox.client.base import ClientBase
from strongbox.client.cache import ReadCache
from strongbox.client.consistency import Consistency
from strongbox.client.errors import ClientError, PermissionDenied
from strongbox.client.exchange import (
    Call,
    ClientResponse,
    Send,
    Sleep,
    plan_call,
    status_error,
)
from strongbox.client.helpers import Helpers
from strongbox.client.helpers.program import Program, one
from strongbox.client.singleflight import Singleflight
from strongbox.client.token_manager import (
    ErrorCallback,
    LoginMethod,
    TokenLifecycle,
    TokenManager,
)

Body = dict[str, Any] | None


class Client(ClientBase):
    """A StrongBox (Vault-compatible) client for one cluster; see docs/sdk.md."""

    def __init__(self, address: str | Sequence[str] | None = None, token: str | None = None,
                 namespace: str | None = None, cacert: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None,
                 timeout: float = 10.0, consistency: str | Consistency = "read_your_writes",
                 retries: int = 3, tls_verify: bool | None = None, *,
                 cache: ReadCache[ClientResponse] | None = None,
                 transport: httpx.BaseTransport | None = None,
                 **kwargs: Any) -> None:
        super().__init__(address, token, namespace, cacert, client_cert, client_key, timeout,
                         consistency, retries, tls_verify, **kwargs)
        self._transport = transport
        self._http = httpx.Client(verify=self.config.ssl_context(), timeout=self.config.timeout,
                                  transport=transport)
        self.cache = cache
        self._flights: Singleflight[ClientResponse] = Singleflight()
        self.token_manager: TokenManager | None = None
        helpers: Helpers[Body, Iterator[bytes]] = Helpers(self._program, self._stream)
        self.kv, self.tokens, self.policies = helpers.kv, helpers.tokens, helpers.policies
        self.sys, self.wrapping, self.auth = helpers.sys, helpers.wrapping, helpers.auth

    @classmethod
    def from_env(cls, **overrides: Any) -> Client:
        """Same as `Client(**overrides)`: anything not given comes from the environment."""
        return cls(**overrides)

    def on_node(self, address: str) -> Client:
        """A client with the same settings (and write index), talking only to `address`."""
        client = Client(transport=self._transport, **self._pinned_kwargs(address))
        client.token = self.token
        return client

    def close(self) -> None:
        if self.token_manager is not None:
            self.token_manager.stop()
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- generic requests -------------------------------------------------------------

    def request(self, method: str, path: str, *, json: Any = None,
                params: Mapping[str, Any] | None = None,
                headers: Mapping[str, str] | None = None, node: str | None = None,
                consistency: str | Consistency | None = None,
                idempotency_key: str | None = None,
                retry_write: bool | None = None) -> ClientResponse:
        """Send one request (`path` without /v1/); raises a `ClientError` on failure."""
        return self.execute(self.make_call(
            method, path, json=json, params=params, headers=headers, node=node,
            consistency=consistency, idempotency_key=idempotency_key, retry_write=retry_write))

    def read(self, path: str, *, consistency: str | None = None, node: str | None = None,
             **params: Any) -> Body:
        """GET `path`; the body, or None on 404."""
        return self._program(one(self.read_call(path, params, consistency, node)))

    def list(self, path: str, *, consistency: str | None = None,
             node: str | None = None) -> Body:
        """LIST `path`; the body, or None on 404."""
        return self._program(one(self.list_call(path, consistency, node)))

    def write(self, path: str, data: Mapping[str, Any] | None = None, **kw: Any) -> Body:
        """POST `data` (plus other keyword fields) to `path`; the body (None for 204).
        Options: method=, idempotency_key=, retry_write=, headers=, node=."""
        return self._program(one(self.write_kwargs_call(path, data, kw)))

    def delete(self, path: str, **options: Any) -> Body:
        """DELETE `path`; the body (usually None)."""
        return self._program(one(self.make_call("DELETE", path, **options)))

    # -- the driver ---------------------------------------------------------------------

    def manage_token(self, login: LoginMethod | None = None, *, token_file: str | None = None,
                     on_error: ErrorCallback | None = None,
                     clock: Callable[[], float] = time.monotonic) -> TokenManager:
        """Keep this client's token alive (see token_manager.py); returns the manager."""
        lifecycle = TokenLifecycle(self._set_token, login, token_file, clock=clock)
        self.token_manager = TokenManager(
            lifecycle, lambda program: self._program(program, raw=True), on_error)
        return self.token_manager

    def _program(self, program: Program, raw: bool = False) -> Body:
        """Run a helper program; `raw`: bypass token manager and cache."""
        result: Body = None
        try:
            call = next(program)
            while True:
                response = self.send(call) if raw else self.execute(call)
                result = self.finish(call, response)
                call = program.send(result)
        except StopIteration as stop:
            final: Body = stop.value
            return final

    def execute(self, call: Call) -> ClientResponse:
        """Run a `Call`: token manager, cache and singleflight around `send`."""
        manager = self.token_manager if call.authenticated else None
        if manager is not None:
            manager.before_call()
        generation = manager.generation if manager is not None else 0
        try:
            response = self._cached(call)
        except PermissionDenied:
            if manager is None or not manager.after_denied(generation):
                raise
            response = self._cached(call)
        self.cache_invalidate(call)
        return response

    def _cached(self, call: Call) -> ClientResponse:
        key, hit = self.cache_lookup(call)
        if key is None:
            return self.send(call)
        if hit is not None:
            return hit
        return self._flights.run(key, lambda: self.cache_store(key, self.send(call)))

    def send(self, call: Call) -> ClientResponse:
        """Run a `Call` without the token manager or cache (failover and retries only)."""
        if not self._discovered:
            self._discovered = True
            with contextlib.suppress(ClientError):  # discovery is best effort
                self._learn_leader(self.send(Call("GET", "sys/leader",
                                                    authenticated=False)))
            if self._token:  # the member list needs a token; best effort as well
                with contextlib.suppress(ClientError):
                    self._learn_members(self.send(
                        Call("GET", "sys/storage/raft/configuration")))
        plan = plan_call(call, self._context)
        step = next(plan)
        while True:
            try:
                if isinstance(step, Sleep):
                    time.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    step = plan.send(self._exchange(step))
            except StopIteration as stop:
                result: ClientResponse = stop.value
                return result

    def _exchange(self, step: Send) -> httpx.Response | httpx.TransportError:
        try:
            return self._http.request(step.method, step.url, headers=step.headers,
                                      params=step.params, json=step.json,
                                      content=step.content)
        except httpx.TransportError as exc:
            return exc

    def _stream(self, call: Call, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream a GET answer's body from one node (snapshots); raises like `request`."""
        address = call.node or self.addresses[0]
        headers = {"X-Vault-Token": self.token} if self.token else {}
        with self._http.stream(call.method, f"{address}/v1/{call.path}",
                               headers=headers) as response:
            if response.status_code != 200:
                response.read()
                self._raise_for(response, address)
            yield from response.iter_bytes(chunk_size)

    @staticmethod
    def _raise_for(response: httpx.Response, address: str) -> None:
        raise status_error(response, address)

    def save_to(self, chunks: Iterator[bytes], destination: str | IO[bytes]) -> int:
        """Write a byte stream (e.g. `sys.raft.snapshot_save()`) to a path or file; bytes."""
        total = 0
        if isinstance(destination, str):
            with open(destination, "wb") as out:
                return self.save_to(chunks, out)
        for chunk in chunks:
            destination.write(chunk)
            total += len(chunk)
        return total
