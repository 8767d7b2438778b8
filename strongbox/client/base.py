"""What the sync and async clients share: configuration, the node pool, the index
tracker, the token, and turning the convenience methods into `Call`s and answers
into return values. No I/O here; `Client` and `AsyncClient` add the transport.

Thread-safety: the token is a plain attribute (assignment is atomic); the pool and
the tracker have their own locks, so one client may be used from many threads (or
one AsyncClient from many tasks).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from strongbox.client.cache import CacheKey, ReadCache, cache_key
from strongbox.client.config import ClientConfig, resolve_config
from strongbox.client.consistency import Consistency, IndexTracker, parse_consistency
from strongbox.client.endpoints import EndpointPool
from strongbox.client.exchange import Call, CallContext, ClientResponse

NOT_FOUND = frozenset({404})
WRITE_OPTIONS = ("method", "idempotency_key", "retry_write", "headers", "node")
# Listen-anywhere addresses a member may report (no advertise_address): not dialable.
WILDCARDS = frozenset({"0.0.0.0", "[::]", "::"})  # noqa: S104 (compared, never bound)


class ClientBase:
    """Configuration and call building common to `Client` and `AsyncClient`."""

    def __init__(self, address: str | Sequence[str] | None = None, token: str | None = None,
                 namespace: str | None = None, cacert: str | None = None,
                 client_cert: str | None = None, client_key: str | None = None,
                 timeout: float = 10.0, consistency: str | Consistency = "read_your_writes",
                 retries: int = 3, tls_verify: bool | None = None, *, discover: bool = False,
                 config: ClientConfig | None = None, pool: EndpointPool | None = None,
                 tracker: IndexTracker | None = None) -> None:
        self.config = config or resolve_config(
            address=address, token=token, namespace=namespace, cacert=cacert,
            client_cert=client_cert, client_key=client_key, timeout=timeout,
            consistency=consistency, retries=retries, tls_verify=tls_verify,
            discover=discover)
        self._token = self.config.token
        self._pool = pool or EndpointPool(self.config.addresses,
                                          cooldown=self.config.down_cooldown)
        self._tracker = tracker or IndexTracker()
        self._context = CallContext(self.config, self._pool, self._tracker,
                                    lambda: self._token, random.random)
        self._discovered = not self.config.discover
        self.cache: ReadCache[ClientResponse] | None = None

    @property
    def addresses(self) -> list[str]:
        """The nodes this client talks to (configured, plus discovered ones)."""
        return list(self.config.addresses) if self.config.pinned else self._pool.addresses

    @property
    def token(self) -> str | None:
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value or None

    def _set_token(self, value: str) -> None:
        self._token = value or None

    @property
    def namespace(self) -> str | None:
        return self.config.namespace

    @property
    def index_tracker(self) -> IndexTracker:
        """The X-Vault-Index memory of this client's writes (shared with `on_node`)."""
        return self._tracker

    def _pinned_kwargs(self, address: str) -> dict[str, Any]:
        config = self.config.on_node(address)
        return {"config": config, "tracker": self._tracker,
                "pool": EndpointPool(config.addresses, cooldown=config.down_cooldown)}

    @staticmethod
    def make_call(method: str, path: str, *, json: Any = None,
                  params: Mapping[str, Any] | None = None,
                  headers: Mapping[str, str] | None = None, node: str | None = None,
                  consistency: str | Consistency | None = None,
                  idempotency_key: str | None = None, retry_write: bool | None = None,
                  **extra: Any) -> Call:
        """A `Call` from `request()`'s arguments."""
        return Call(method=method.upper(), path=path.strip("/"), json=json, params=params,
                    headers=headers, node=node,
                    consistency=parse_consistency(consistency) if consistency else None,
                    idempotency_key=idempotency_key, retry_write=retry_write, **extra)

    @staticmethod
    def read_call(path: str, params: Mapping[str, Any], consistency: str | None,
                  node: str | None) -> Call:
        return ClientBase.make_call("GET", path, params=params or None, node=node,
                                    consistency=consistency, accept=NOT_FOUND, cacheable=True)

    @staticmethod
    def list_call(path: str, consistency: str | None, node: str | None) -> Call:
        return ClientBase.make_call("LIST", path, consistency=consistency, node=node,
                                    accept=NOT_FOUND, cacheable=True)

    @staticmethod
    def write_call(path: str, data: Mapping[str, Any] | None, fields: Mapping[str, Any],
                   **options: Any) -> Call:
        body = {**(data or {}), **fields}
        method = options.pop("method", None) or "POST"
        return ClientBase.make_call(method, path, json=body if body or data is not None
                                    else None, **options)

    def write_kwargs_call(self, path: str, data: Mapping[str, Any] | None,
                          kw: dict[str, Any]) -> Call:
        """`write()`'s call: keyword fields go to the body, except the call options."""
        options = {k: kw.pop(k) for k in WRITE_OPTIONS if k in kw}
        return self.write_call(path, data, kw, **options)

    def cache_lookup(self, call: Call) -> tuple[CacheKey | None, ClientResponse | None]:
        """(key, cached answer) for a cacheable call; (None, None) when not cached."""
        if self.cache is None or not call.cacheable:
            return None, None
        key = cache_key(self.namespace, self.token, call.method, call.path, call.params)
        return key, self.cache.get(key)

    def cache_store(self, key: CacheKey, response: ClientResponse) -> ClientResponse:
        if self.cache is not None and 200 <= response.status < 300:
            self.cache.put(key, response)
        return response

    def cache_invalidate(self, call: Call) -> None:
        """The client's own write makes its cached reads of that path stale."""
        if self.cache is not None and call.method not in ("GET", "LIST", "HEAD"):
            self.cache.invalidate(call.path)

    def finish(self, call: Call, response: ClientResponse) -> dict[str, Any] | None:
        """What a convenience method returns: the body (None on an accepted 404);
        a login's token becomes the client's."""
        if response.status == 404 and 404 in call.accept:
            return None
        if call.sets_token and response.data:
            auth = response.data.get("auth") or {}
            if auth.get("client_token"):
                self._token = str(auth["client_token"])
        return response.data

    def _learn_members(self, response: ClientResponse) -> None:
        """Discovery: add every member's `api_address` from sys/storage/raft/configuration
        (a wildcard listen address such as 0.0.0.0 is no address to dial: skipped)."""
        data = (response.data or {}).get("data") or {}
        for server in (data.get("config") or {}).get("servers") or []:
            address = str(server.get("api_address") or "").rstrip("/")
            host = address.split("://", 1)[-1].rsplit(":", 1)[0]
            if address.startswith(("http://", "https://")) and host not in WILDCARDS:
                self._pool.add(address)

    def _learn_leader(self, response: ClientResponse) -> None:
        """Discovery: add the leader's API address from sys/leader to the pool."""
        data = response.data or {}
        leader = str(data.get("leader_address") or "").rstrip("/")
        if leader.startswith(("http://", "https://")):
            self._pool.add(leader)
            self._pool.set_leader(leader)
        elif data.get("is_self"):
            self._pool.set_leader(response.node)
        self._discovered = True
