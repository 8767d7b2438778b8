"""Token lifetime: renew a renewable token at ~2/3 of its TTL, log in again when
renewal is refused or the max TTL is near, re-read a token file (or secret-id file)
when its mtime changes, report failures to `on_error`.

Pieces:
- `LoginMethod` (protocol): builds the login `Call` each time (so a secret-id file
  is re-read). `AppRoleLogin`, `UserpassLogin`; add Kubernetes/JWT by writing one.
- `TokenSchedule`: pure — given the TTL facts and a clock, what is due (NONE, RENEW,
  LOGIN). Tested with a fake clock.
- `TokenLifecycle`: the shared logic as programs (generators of `Call`s, like the
  typed helpers) plus the token-file check.
- `TokenManager` / `AsyncTokenManager`: run the lifecycle under one lock (a
  `threading.Lock` / an `asyncio.Lock`), so concurrent callers wait for the one login
  or renewal in flight instead of starting their own.

The client calls `before_call()` before each authenticated request and
`after_denied(generation)` after a 403 (the token may have expired early): one fresh
login, then the request is retried once.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from strongbox.client.errors import ClientError
from strongbox.client.exchange import Call
from strongbox.client.helpers.program import Body, Program

_log = logging.getLogger(__name__)
ErrorCallback = Callable[[ClientError], None]


class LoginMethod(Protocol):
    """An auth method the manager can log in with."""

    def login_call(self) -> Call:
        """The login request (unauthenticated, token-issuing)."""
        ...


def _read_secret(path: str) -> str:
    return Path(path).read_text().strip()


@dataclass(frozen=True, slots=True)
class AppRoleLogin:
    """AppRole: `secret_id`, or `secret_id_file` (re-read at every login)."""

    role_id: str
    secret_id: str | None = None
    secret_id_file: str | None = None
    mount: str = "approle"

    def login_call(self) -> Call:
        secret = _read_secret(self.secret_id_file) if self.secret_id_file else self.secret_id
        payload: dict[str, Any] = {"role_id": self.role_id}
        if secret:
            payload["secret_id"] = secret
        return Call("POST", f"auth/{self.mount}/login", json=payload, authenticated=False)


@dataclass(frozen=True, slots=True)
class UserpassLogin:
    """userpass: `password`, or `password_file` (re-read at every login)."""

    username: str
    password: str | None = None
    password_file: str | None = None
    mount: str = "userpass"

    def login_call(self) -> Call:
        password = _read_secret(self.password_file) if self.password_file else self.password
        return Call("POST", f"auth/{self.mount}/login/{self.username}",
                    json={"password": password or ""}, authenticated=False)


SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"  # noqa: S105 (a path)


@dataclass(frozen=True, slots=True)
class KubernetesLogin:
    """Kubernetes: the pod's service-account token, re-read at every login (projected
    tokens are short-lived and the kubelet rotates the file)."""

    role: str
    jwt_file: str = SERVICE_ACCOUNT_TOKEN
    mount: str = "kubernetes"

    def login_call(self) -> Call:
        return Call("POST", f"auth/{self.mount}/login",
                    json={"role": self.role, "jwt": _read_secret(self.jwt_file)},
                    authenticated=False)


@dataclass(frozen=True, slots=True)
class JwtLogin:
    """JWT (CI OIDC tokens): `jwt`, or `jwt_file` (re-read at every login)."""

    role: str
    jwt: str | None = None
    jwt_file: str | None = None
    mount: str = "jwt"

    def login_call(self) -> Call:
        token = _read_secret(self.jwt_file) if self.jwt_file else self.jwt
        return Call("POST", f"auth/{self.mount}/login",
                    json={"role": self.role, "jwt": token or ""}, authenticated=False)


class Due(enum.Enum):
    NONE = "none"
    RENEW = "renew"
    LOGIN = "login"
    LOOKUP = "lookup"


class TokenSchedule:
    """When to renew or log in, from the TTL facts of the current token (pure)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 renew_fraction: float = 2 / 3, can_login: bool = False) -> None:
        self._clock = clock
        self.renew_fraction = renew_fraction
        self.can_login = can_login
        self.known = False
        self.renew_at = float("inf")
        self.expires_at = float("inf")
        self.renewable = False
        self.first_ttl = 0.0

    def adopt(self, ttl: float, renewable: bool, *, fresh: bool) -> None:
        """A token was issued (`fresh`) or renewed, valid `ttl` seconds (0: no expiry)."""
        now = self._clock()
        self.known = True
        if fresh or self.first_ttl <= 0:
            self.first_ttl = ttl
        if ttl <= 0:
            self.renew_at = self.expires_at = float("inf")
            return
        self.expires_at = now + ttl
        self.renew_at = now + ttl * self.renew_fraction
        # A renewal that came back much shorter than the first TTL means the max TTL
        # is near: the next refresh is a login, not another renewal.
        near_max = not fresh and ttl < self.first_ttl * (1 - self.renew_fraction)
        self.renewable = renewable and not near_max

    def forget(self) -> None:
        """The token changed outside the schedule (file, assignment): learn it again."""
        self.known = False
        self.renew_at = self.expires_at = float("inf")

    def due(self) -> Due:
        """What must happen before the next call."""
        if not self.known:
            return Due.LOGIN if self.can_login else Due.LOOKUP
        if self._clock() < self.renew_at:
            return Due.NONE
        if self.renewable:
            return Due.RENEW
        return Due.LOGIN if self.can_login else Due.NONE


def _auth_ttl(data: Body) -> tuple[str | None, float, bool]:
    auth = (data or {}).get("auth") or {}
    return (auth.get("client_token"), float(auth.get("lease_duration") or 0),
            bool(auth.get("renewable")))


class TokenLifecycle:
    """The manager's logic as programs; see the module docstring."""

    def __init__(self, set_token: Callable[[str], None], login: LoginMethod | None = None,
                 token_file: str | None = None, *, clock: Callable[[], float] = time.monotonic,
                 renew_fraction: float = 2 / 3) -> None:
        self._set_token = set_token
        self.login_method = login
        self.token_file = token_file
        self.schedule = TokenSchedule(clock, renew_fraction=renew_fraction,
                                      can_login=login is not None)
        self.generation = 0
        self.logins = self.renewals = 0
        self._file_mtime: float | None = None

    def check_file(self) -> bool:
        """Re-read the token file if its mtime changed; True if the token changed."""
        if self.token_file is None:
            return False
        try:
            mtime = Path(self.token_file).stat().st_mtime_ns / 1e9
            if mtime == self._file_mtime:
                return False
            token = _read_secret(self.token_file)
        except OSError:
            return False
        self._file_mtime = mtime
        if token:
            self._set_token(token)
            self.schedule.forget()
            self.generation += 1
            return True
        return False

    def login(self) -> Program:
        if self.login_method is None:
            return None
        data = yield self.login_method.login_call()
        token, ttl, renewable = _auth_ttl(data)
        if not token:
            raise ClientError("login answered without a client token")
        self._set_token(token)
        self.schedule.adopt(ttl, renewable, fresh=True)
        self.generation += 1
        self.logins += 1
        return data

    def renew(self) -> Program:
        data = yield Call("POST", "auth/token/renew-self", json={})
        _, ttl, renewable = _auth_ttl(data)
        self.schedule.adopt(ttl, renewable, fresh=False)
        self.renewals += 1
        return data

    def lookup(self) -> Program:
        """Learn a given token's TTL (lookup-self); on failure, stop asking."""
        try:
            data = yield Call("GET", "auth/token/lookup-self")
        except ClientError:
            self.schedule.adopt(0, False, fresh=True)
            raise
        info = (data or {}).get("data") or {}
        self.schedule.adopt(float(info.get("ttl") or 0), bool(info.get("renewable")),
                            fresh=True)
        return data

    def report(self, due: Due, exc: ClientError, on_error: ErrorCallback | None) -> bool:
        """Log a failed refresh and tell `on_error`; always False (nothing refreshed)."""
        _log.warning("token %s failed: %s", due.value, exc)
        if on_error is not None:
            on_error(exc)
        return False

    def refresh(self, due: Due) -> Program:
        """Renew or log in as `due` says; a refused renewal falls back to a login."""
        if due is Due.LOOKUP:
            return (yield from self.lookup())
        if due is Due.RENEW:
            try:
                return (yield from self.renew())
            except ClientError:
                if self.login_method is None:
                    raise
        return (yield from self.login())


Drive = Callable[[Program], Body]
AsyncDrive = Callable[[Program], Awaitable[Body]]


class TokenManager:
    """Thread-safe driver of a `TokenLifecycle` for `Client` (attach with `manage`)."""

    def __init__(self, lifecycle: TokenLifecycle, drive: Drive,
                 on_error: ErrorCallback | None = None) -> None:
        self.lifecycle = lifecycle
        self._drive = drive
        self._on_error = on_error
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        return self.lifecycle.generation

    def before_call(self) -> None:
        self.lifecycle.check_file()
        if self.lifecycle.schedule.due() is Due.NONE:
            return
        with self._lock:
            due = self.lifecycle.schedule.due()  # another thread may have done it
            if due is not Due.NONE:
                self._refresh(due)

    def after_denied(self, generation: int) -> bool:
        """After a 403: True if a newer token is there (or a new login worked)."""
        if self.lifecycle.login_method is None:
            return self.lifecycle.check_file()
        with self._lock:
            if self.lifecycle.generation != generation:
                return True
            return self._refresh(Due.LOGIN)

    def _refresh(self, due: Due) -> bool:
        try:
            self._drive(self.lifecycle.refresh(due))
        except ClientError as exc:
            return self.lifecycle.report(due, exc, self._on_error)
        return True

    def stop(self) -> None:
        """Nothing runs in the background: refreshes happen before calls."""


class AsyncTokenManager:
    """The same for `AsyncClient` (one asyncio.Lock: tasks wait for the one login)."""

    def __init__(self, lifecycle: TokenLifecycle, drive: AsyncDrive,
                 on_error: ErrorCallback | None = None) -> None:
        self.lifecycle = lifecycle
        self._drive = drive
        self._on_error = on_error
        self._lock = asyncio.Lock()

    @property
    def generation(self) -> int:
        return self.lifecycle.generation

    async def before_call(self) -> None:
        self.lifecycle.check_file()
        if self.lifecycle.schedule.due() is Due.NONE:
            return
        async with self._lock:
            due = self.lifecycle.schedule.due()
            if due is not Due.NONE:
                await self._refresh(due)

    async def after_denied(self, generation: int) -> bool:
        if self.lifecycle.login_method is None:
            return self.lifecycle.check_file()
        async with self._lock:
            if self.lifecycle.generation != generation:
                return True
            return await self._refresh(Due.LOGIN)

    async def _refresh(self, due: Due) -> bool:
        try:
            await self._drive(self.lifecycle.refresh(due))
        except ClientError as exc:
            return self.lifecycle.report(due, exc, self._on_error)
        return True

    def stop(self) -> None:
        """Nothing runs in the background."""
