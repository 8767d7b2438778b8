"""Client and AsyncClient over httpx.MockTransport: the generic methods, helper request
shapes, the read cache and singleflight through the client, on_node, parity."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strongbox.client import AsyncClient, Client, ReadCache, errors

ADDR, ADDR2 = "https://n1:8200", "https://n2:8200"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for prefix in ("STRONGBOX_", "VAULT_"):
        for name in ("ADDR", "TOKEN", "NAMESPACE", "CACERT", "SKIP_VERIFY", "CLIENT_CERT",
                     "CLIENT_KEY"):
            monkeypatch.delenv(prefix + name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


class Recorder:
    """Records requests; answers KV-like bodies; `gate` holds GETs until set."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if request.method == "GET":
            self.gate.wait(10)
        if request.url.path.endswith("/missing"):
            return httpx.Response(404, json={"errors": []})
        if request.method in ("POST", "PUT", "PATCH"):
            index = base64.b64encode(f"c:{len(self.requests)}".encode()).decode()
            return httpx.Response(200, json={"data": {"version": 1}},
                                  headers={"X-Vault-Index": index})
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"data": {"n": len(self.requests)}},
                              headers={"X-Request-Id": "rid"})

    def gets(self, path: str) -> int:
        return sum(1 for r in self.requests if r.method == "GET" and r.url.path == path)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> Iterator[Client]:
    with Client(address=ADDR, token="root", transport=httpx.MockTransport(recorder)) as c:
        yield c


def test_request_and_response_fields(client: Client, recorder: Recorder) -> None:
    response = client.request("GET", "sys/health")
    assert response.status == 200 and response.node == ADDR and response.request_id == "rid"
    assert response.data == {"data": {"n": 1}} and response.index is None
    assert str(recorder.requests[0].url) == f"{ADDR}/v1/sys/health"
    assert recorder.requests[0].headers["x-vault-token"] == "root"


def test_read_list_write_delete(client: Client, recorder: Recorder) -> None:
    assert client.read("secret/data/missing") is None
    assert client.list("secret/metadata/missing") is None
    assert client.write("secret/data/a", {"data": {"k": "v"}})["data"] == {"version": 1}
    assert client.delete("secret/data/a") is None
    write = recorder.requests[2]
    assert json.loads(write.content) == {"data": {"k": "v"}}
    assert recorder.requests[1].method == "LIST" and write.headers["idempotency-key"]
    assert client.read("secret/data/a", version=2) is not None
    assert recorder.requests[-1].url.params["version"] == "2"
    assert recorder.requests[-1].headers["x-vault-index"]  # read-your-writes


def test_write_keyword_fields_and_options(client: Client, recorder: Recorder) -> None:
    client.write("sys/policies/acl/p", policy="x", method="PUT", idempotency_key="key-9")
    request = recorder.requests[0]
    assert request.method == "PUT" and json.loads(request.content) == {"policy": "x"}
    assert request.headers["idempotency-key"] == "key-9"


def test_token_property_and_login_helpers_set_it(recorder: Recorder) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        recorder(request)
        return httpx.Response(200, json={"auth": {"client_token": "sbs.new"}})
    with Client(address=ADDR, transport=httpx.MockTransport(handler)) as c:
        assert c.token is None
        c.auth.approle.login("rid", "sid")
        assert c.token == "sbs.new"
        assert "x-vault-token" not in recorder.requests[0].headers
        assert "idempotency-key" not in recorder.requests[0].headers
        c.auth.userpass.login("alice", "pw")
        assert recorder.requests[1].url.path == "/v1/auth/userpass/login/alice"
        c.token = "other"
        assert c.token == "other"


def test_kv_v2_helper_shapes(client: Client, recorder: Recorder) -> None:
    client.kv.v2.write("app/db", {"p": 1}, cas=0)
    client.kv.v2.patch("app/db", {"q": 2})
    client.kv.v2.delete("app/db", versions=[1])
    client.kv.v2.list("app", mount="kv2")
    sent = [(r.method, r.url.path) for r in recorder.requests]
    assert sent == [("POST", "/v1/secret/data/app/db"), ("PATCH", "/v1/secret/data/app/db"),
                    ("POST", "/v1/secret/delete/app/db"), ("LIST", "/v1/kv2/metadata/app")]
    assert json.loads(recorder.requests[0].content) == {"data": {"p": 1},
                                                        "options": {"cas": 0}}
    assert recorder.requests[1].headers["content-type"] == "application/merge-patch+json"


def test_health_returns_the_body_for_state_codes() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/sys/health":
            return httpx.Response(503, json={"sealed": True})
        return httpx.Response(503, json={"errors": ["StrongBox is sealed: submit unseal key "
                                                    "shares with PUT /v1/sys/unseal"]})
    with Client(address=ADDR, transport=httpx.MockTransport(handler), retries=0) as c:
        assert c.sys.health() == {"sealed": True}
        with pytest.raises(errors.Sealed):
            c.sys.key_status()


def test_on_node_pins_and_shares_the_write_index(client: Client, recorder: Recorder) -> None:
    client.write("secret/data/a", {"data": {}})
    pinned = client.on_node(ADDR2)
    assert pinned.addresses == [ADDR2] and pinned.token == "root"
    pinned.read("secret/data/a")
    assert recorder.requests[-1].url.host == "n2"
    assert recorder.requests[-1].headers["x-vault-index"] == client.index_tracker.header()


def test_cache_serves_repeat_reads_and_is_invalidated_by_own_writes(recorder: Recorder) -> None:
    cache: ReadCache[object] = ReadCache(ttl=60)
    with Client(address=ADDR, token="t", transport=httpx.MockTransport(recorder),
                cache=cache) as c:  # type: ignore[arg-type]
        first = c.kv.v2.read("app/db")
        assert c.kv.v2.read("app/db") == first
        assert recorder.gets("/v1/secret/data/app/db") == 1
        c.kv.v2.read_metadata("app/db")
        c.kv.v2.write("app/db", {"x": 1})
        c.kv.v2.read("app/db")
        c.kv.v2.read_metadata("app/db")
        assert recorder.gets("/v1/secret/data/app/db") == 2
        assert recorder.gets("/v1/secret/metadata/app/db") == 2


def test_no_cache_by_default(client: Client, recorder: Recorder) -> None:
    client.read("secret/data/a")
    client.read("secret/data/a")
    assert recorder.gets("/v1/secret/data/a") == 2


def test_concurrent_cached_reads_make_one_request(recorder: Recorder) -> None:
    with Client(address=ADDR, token="t", transport=httpx.MockTransport(recorder),
                cache=ReadCache(ttl=60)) as c:
        recorder.gate.clear()
        results: list[object] = []
        threads = [threading.Thread(target=lambda: results.append(c.read("secret/data/s")))
                   for _ in range(10)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while c._flights.waiting(("", "t", "GET", "secret/data/s", ())) < 9 and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        recorder.gate.set()
        for thread in threads:
            thread.join(10)
        assert recorder.gets("/v1/secret/data/s") == 1 and len(results) == 10


def test_async_client_has_the_same_behaviour(recorder: Recorder) -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        return recorder(request)

    async def main() -> None:
        async with AsyncClient(address=ADDR, token="t",
                               transport=httpx.MockTransport(handler)) as c:
            assert await c.read("secret/data/missing") is None
            await c.kv.v2.write("app/db", {"a": 1})
            body = await c.kv.v2.read("app/db")
            assert body is not None and body["data"] == {"n": 3}
            assert recorder.requests[-1].headers["x-vault-index"]
            with pytest.raises(errors.NotFound):
                await c.request("GET", "secret/data/missing")
            pinned = c.on_node(ADDR2)
            await pinned.sys.seal_status()
            assert recorder.requests[-1].url.host == "n2"
    asyncio.run(main())


def test_failover_through_the_client_with_a_dead_node(recorder: Recorder) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "n1":
            raise httpx.ConnectError("refused")
        return recorder(request)
    with Client(address=f"{ADDR},{ADDR2}", token="t",
                transport=httpx.MockTransport(handler)) as c:
        assert c.addresses == [ADDR, ADDR2]
        for _ in range(5):
            assert c.read("secret/data/x") is not None
        assert len(recorder.requests) == 5  # n1 is skipped while it is down
