"""`AsyncClient`: the asyncio client. The same `exchange.plan_call` driven with
`await`s over one `httpx.AsyncClient`; helpers, cache and token manager as `Client`.
Share one instance between the tasks of one event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

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
from strongbox.client.helpers.program import Body, Program, one
from strongbox.client.singleflight import AsyncSingleflight
from strongbox.client.token_manager import (
    AsyncTokenManager,
    ErrorCallback,
    LoginMethod,
    TokenLifecycle,
)

Pending = Any  # a coroutine returning Body (typed by the helpers as R)


class AsyncClient(ClientBase):
    """The asyncio twin of `Client`: same arguments, every method is awaited."""

    def __init__(self, address: str | Sequence[str] | None = None, token: str | None = None,
                 namespace: str | None = None, cacert: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None,
                 timeout: float = 10.0, consistency: str | Consistency = "read_your_writes",
                 retries: int = 3, tls_verify: bool | None = None, *,
                 cache: ReadCache[ClientResponse] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None,
                 **kwargs: Any) -> None:
        super().__init__(address, token, namespace, cacert, client_cert, client_key, timeout,
                         consistency, retries, tls_verify, **kwargs)
        self._transport = transport
        self._http = httpx.AsyncClient(verify=self.config.ssl_context(),
                                       timeout=self.config.timeout, transport=transport)
        self.cache = cache
        self._flights: AsyncSingleflight[ClientResponse] = AsyncSingleflight()
        self.token_manager: AsyncTokenManager | None = None
        helpers: Helpers[Pending, AsyncIterator[bytes]] = Helpers(self._program, self._stream)
        self.kv, self.tokens, self.policies = helpers.kv, helpers.tokens, helpers.policies
        self.sys, self.wrapping, self.auth = helpers.sys, helpers.wrapping, helpers.auth

    @classmethod
    def from_env(cls, **overrides: Any) -> AsyncClient:
        return cls(**overrides)

    def on_node(self, address: str) -> AsyncClient:
        client = AsyncClient(transport=self._transport, **self._pinned_kwargs(address))
        client.token = self.token
        return client

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def request(self, method: str, path: str, *, json: Any = None,
                      params: Mapping[str, Any] | None = None,
                      headers: Mapping[str, str] | None = None, node: str | None = None,
                      consistency: str | Consistency | None = None,
                      idempotency_key: str | None = None,
                      retry_write: bool | None = None) -> ClientResponse:
        return await self.execute(self.make_call(
            method, path, json=json, params=params, headers=headers, node=node,
            consistency=consistency, idempotency_key=idempotency_key, retry_write=retry_write))

    async def read(self, path: str, *, consistency: str | None = None,
                   node: str | None = None, **params: Any) -> Body:
        return await self._program(one(self.read_call(path, params, consistency, node)))

    async def list(self, path: str, *, consistency: str | None = None,
                   node: str | None = None) -> Body:
        return await self._program(one(self.list_call(path, consistency, node)))

    async def write(self, path: str, data: Mapping[str, Any] | None = None,
                    **kw: Any) -> Body:
        return await self._program(one(self.write_kwargs_call(path, data, kw)))

    async def delete(self, path: str, **options: Any) -> Body:
        return await self._program(one(self.make_call("DELETE", path, **options)))

    def manage_token(self, login: LoginMethod | None = None, *, token_file: str | None = None,
                     on_error: ErrorCallback | None = None,
                     clock: Callable[[], float] = time.monotonic) -> AsyncTokenManager:
        lifecycle = TokenLifecycle(self._set_token, login, token_file, clock=clock)
        self.token_manager = AsyncTokenManager(
            lifecycle, lambda program: self._program(program, raw=True), on_error)
        return self.token_manager

    async def _program(self, program: Program, raw: bool = False) -> Body:
        try:
            call = next(program)
            while True:
                response = await (self.send(call) if raw else self.execute(call))
                call = program.send(self.finish(call, response))
        except StopIteration as stop:
            final: Body = stop.value
            return final

    async def execute(self, call: Call) -> ClientResponse:
        manager = self.token_manager if call.authenticated else None
        if manager is not None:
            await manager.before_call()
        generation = manager.generation if manager is not None else 0
        try:
            response = await self._cached(call)
        except PermissionDenied:
            if manager is None or not await manager.after_denied(generation):
                raise
            response = await self._cached(call)
        self.cache_invalidate(call)
        return response

    async def _cached(self, call: Call) -> ClientResponse:
        key, hit = self.cache_lookup(call)
        if key is None:
            return await self.send(call)
        if hit is not None:
            return hit

        async def fetch() -> ClientResponse:
            return self.cache_store(key, await self.send(call))
        return await self._flights.run(key, fetch)

    async def send(self, call: Call) -> ClientResponse:
        if not self._discovered:
            self._discovered = True
            with contextlib.suppress(ClientError):  # discovery is best effort
                self._learn_leader(await self.send(Call("GET", "sys/leader",
                                                    authenticated=False)))
            if self._token:  # the member list needs a token; best effort as well
                with contextlib.suppress(ClientError):
                    self._learn_members(await self.send(
                        Call("GET", "sys/storage/raft/configuration")))
        plan = plan_call(call, self._context)
        step = next(plan)
        while True:
            try:
                if isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                    step = plan.send(None)
                else:
                    step = plan.send(await self._exchange(step))
            except StopIteration as stop:
                result: ClientResponse = stop.value
                return result

    async def _exchange(self, step: Send) -> httpx.Response | httpx.TransportError:
        try:
            return await self._http.request(step.method, step.url, headers=step.headers,
                                            params=step.params, json=step.json,
                                            content=step.content)
        except httpx.TransportError as exc:
            return exc

    async def _stream(self, call: Call, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        address = call.node or self.addresses[0]
        headers = {"X-Vault-Token": self.token} if self.token else {}
        async with self._http.stream(call.method, f"{address}/v1/{call.path}",
                                     headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                raise status_error(response, address)
            async for chunk in response.aiter_bytes(chunk_size):
                yield chunk
