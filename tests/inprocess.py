"""An in-process node for fast handler tests: the real ASGI app, Core and LMDB store,
with Raft replaced by `DirectLog` (apply in order, in process) and a `FixedClock`.

    def test_something(api: InProcessApi) -> None:
        r = api.request("POST", "secret/data/x", json={"data": {"a": "1"}})
        assert r.status_code == 200
        api.clock.advance(3600)   # seconds; time moves only when told

Requests go through `httpx.ASGITransport`, so they take every step of the real
pipeline (routing, seal, token, policy, audit, handler, wrapping) without a
process, a socket or TLS: a request costs well under a millisecond instead of a
subprocess start per module. What this cannot show (Raft, forwarding, TLS,
process restarts) stays in tests/integration and tests/cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

import strongbox.registry  # noqa: F401 (registers the backends' apply handlers)
from strongbox.api.app import StrongBoxApp
from strongbox.clock import FixedClock
from strongbox.config import load_config
from strongbox.core import Core
from strongbox.raft.log import DirectLog
from strongbox.state.apply import apply
from strongbox.state.store import Store

START_NS = 1_800_000_000 * 10**9  # a fixed "now" (2027-01-15) so tests see the same times


class InProcessApi:
    """One initialized, unsealed node in this process; `request` is synchronous."""

    def __init__(self, core: Core, loop: asyncio.AbstractEventLoop, clock: FixedClock,
                 root_token: str) -> None:
        self.core, self.loop, self.clock, self.root_token = core, loop, clock, root_token
        self.app = StrongBoxApp(core, tls=False)
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", 40000))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://in-process")

    def request(self, method: str, path: str, token: str | None = None, *,
                headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """`path` without /v1/; the root token unless `token` is given ("" = none)."""
        sent = dict(headers or {})
        token = self.root_token if token is None else token
        if token:
            sent["X-Vault-Token"] = token
        return self.loop.run_until_complete(
            self.http.request(method, "/v1/" + path.lstrip("/"), headers=sent, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())


@contextmanager
def in_process_api(directory: Path) -> Iterator[InProcessApi]:
    loop = asyncio.new_event_loop()
    store = Store(str(directory), map_size_mb=64)
    clock = FixedClock(START_NS)
    config = load_config(None, env={}, overrides={"data_dir": str(directory),
                                                  "listener.tls_disable": True})
    core = Core(config, store, DirectLog(lambda index, data: apply(store, index, data)), clock)
    try:
        init = loop.run_until_complete(core.initialize(1, 1))
        core.submit_share(init.shares[0].hex())
        api = InProcessApi(core, loop, clock, init.root_token)
        try:
            yield api
        finally:
            api.close()
    finally:
        store.close()
        loop.close()
