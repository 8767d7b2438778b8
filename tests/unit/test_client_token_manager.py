"""strongbox.client.token_manager: the schedule with a fake clock, and the managers over
httpx.MockTransport (one login shared by concurrent threads and tasks)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from pathlib import Path

import httpx

from strongbox.client import AppRoleLogin, AsyncClient, Client, UserpassLogin, errors
from strongbox.client.token_manager import Due, TokenSchedule

ADDR = "https://n1:8200"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_schedule_renews_at_two_thirds_of_the_ttl() -> None:
    clock = FakeClock()
    schedule = TokenSchedule(clock, can_login=True)
    assert schedule.due() is Due.LOGIN  # no token yet
    schedule.adopt(30, renewable=True, fresh=True)
    clock.now += 19.9
    assert schedule.due() is Due.NONE
    clock.now += 0.2
    assert schedule.due() is Due.RENEW


def test_schedule_logs_in_when_not_renewable_or_max_ttl_is_near() -> None:
    clock = FakeClock()
    schedule = TokenSchedule(clock, can_login=True)
    schedule.adopt(30, renewable=False, fresh=True)
    clock.now += 21
    assert schedule.due() is Due.LOGIN
    schedule.adopt(30, renewable=True, fresh=True)
    schedule.adopt(6, renewable=True, fresh=False)  # renewal capped by the max TTL
    clock.now += 5
    assert schedule.due() is Due.LOGIN


def test_schedule_without_login_method_looks_up_then_never_expires_for_ttl_zero() -> None:
    schedule = TokenSchedule(FakeClock(), can_login=False)
    assert schedule.due() is Due.LOOKUP
    schedule.adopt(0, renewable=False, fresh=True)
    assert schedule.due() is Due.NONE


class FakeServer:
    """Answers approle/userpass logins, renew-self and KV reads; counts them."""

    def __init__(self, ttl: int = 30, renewable: bool = True, login_delay: float = 0.0) -> None:
        self.ttl, self.renewable, self.login_delay = ttl, renewable, login_delay
        self.logins = self.renewals = 0
        self.valid: set[str] = set()
        self.lock = threading.Lock()
        self.bodies: list[dict[str, object]] = []

    def _auth(self, token: str) -> httpx.Response:
        return httpx.Response(200, json={"auth": {"client_token": token,
                                                  "lease_duration": self.ttl,
                                                  "renewable": self.renewable}})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/login") or "/login/" in path:
            time.sleep(self.login_delay)
            with self.lock:
                self.logins += 1
                token = f"t{self.logins}"
                self.valid.add(token)
            self.bodies.append(json.loads(request.content))
            return self._auth(token)
        token = request.headers.get("x-vault-token", "")
        if token not in self.valid:
            return httpx.Response(403, json={"errors": ["permission denied"]})
        if path.endswith("renew-self"):
            self.renewals += 1
            return self._auth(token)
        return httpx.Response(200, json={"data": {"token": token}})

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(self.login_delay if "login" in request.url.path else 0)
        delay, self.login_delay = self.login_delay, 0.0
        try:
            return self(request)
        finally:
            self.login_delay = delay


def test_concurrent_threads_wait_for_one_login() -> None:
    server = FakeServer(login_delay=0.2)
    client = Client(address=ADDR, token=None, transport=httpx.MockTransport(server))
    client.manage_token(AppRoleLogin("role", "secret"))
    results: list[object] = []
    threads = [threading.Thread(target=lambda: results.append(client.read("secret/x")))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert server.logins == 1 and len(results) == 8
    assert all(r == {"data": {"token": "t1"}} for r in results)


def test_concurrent_tasks_wait_for_one_login() -> None:
    server = FakeServer(login_delay=0.1)

    async def main() -> list[object]:
        async with AsyncClient(address=ADDR, token=None,
                               transport=httpx.MockTransport(server.handle_async)) as client:
            client.manage_token(UserpassLogin("alice", "pw"))
            return await asyncio.gather(*(client.read("secret/x") for _ in range(8)))
    results = asyncio.run(main())
    assert server.logins == 1 and len(results) == 8


def test_renews_then_logs_in_again_when_renewal_is_refused() -> None:
    clock = FakeClock()
    server = FakeServer(ttl=30)
    client = Client(address=ADDR, token=None, transport=httpx.MockTransport(server))
    manager = client.manage_token(AppRoleLogin("role", "secret"), clock=clock)
    client.read("secret/x")
    clock.now += 21
    client.read("secret/x")
    assert (server.logins, server.renewals) == (1, 1)
    server.valid.clear()  # the token was revoked: renewal answers 403
    clock.now += 21
    assert client.read("secret/x") == {"data": {"token": "t2"}}
    assert server.logins == 2 and manager.lifecycle.logins == 2


def test_a_403_triggers_one_login_and_one_retry() -> None:
    server = FakeServer(ttl=3600)
    client = Client(address=ADDR, token=None, transport=httpx.MockTransport(server))
    client.manage_token(AppRoleLogin("role", "secret"))
    client.read("secret/x")
    server.valid.clear()
    assert client.read("secret/x") == {"data": {"token": "t2"}}


def test_secret_id_file_is_read_at_every_login(tmp_path: Path) -> None:
    secret = tmp_path / "secret-id"
    secret.write_text("first\n")
    server = FakeServer(ttl=30, renewable=False)
    clock = FakeClock()
    client = Client(address=ADDR, token=None, transport=httpx.MockTransport(server))
    client.manage_token(AppRoleLogin("role", secret_id_file=str(secret)), clock=clock)
    client.read("secret/x")
    secret.write_text("second\n")
    clock.now += 25
    client.read("secret/x")
    assert [b["secret_id"] for b in server.bodies] == ["first", "second"]


def test_token_file_is_re_read_when_its_mtime_changes(tmp_path: Path) -> None:
    server = FakeServer()
    server.valid = {"file-1", "file-2"}
    token_file = tmp_path / "token"
    token_file.write_text("file-1")
    client = Client(address=ADDR, token=None, transport=httpx.MockTransport(server))
    client.manage_token(token_file=str(token_file))
    assert client.read("secret/x") == {"data": {"token": "file-1"}}
    token_file.write_text("file-2")
    stat = token_file.stat()
    os.utime(token_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert client.read("secret/x") == {"data": {"token": "file-2"}}


def test_on_error_is_called_when_login_fails() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"errors": ["invalid role or secret id"]})
    seen: list[errors.ClientError] = []
    client = Client(address=ADDR, token=None, transport=httpx.MockTransport(handler))
    client.manage_token(AppRoleLogin("role", "bad"), on_error=seen.append)
    with contextlib.suppress(errors.ClientError):
        client.read("secret/x")
    assert seen and isinstance(seen[0], errors.BadRequest)
    assert "invalid role" in str(seen[0])
