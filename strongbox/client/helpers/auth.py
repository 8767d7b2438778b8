"""`c.tokens`, `c.policies`, `c.wrapping`, `c.auth.approle`, `c.auth.userpass`.

Logins (`auth.*.login`) make the returned token the client's token. `tokens.create`
does not (it returns the child's auth block). Token-issuing calls never carry an
Idempotency-Key: after an ambiguous failure they raise `OutcomeUnknown`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic

from strongbox.client.helpers.program import R, Runner, body, call


class Tokens(Generic[R]):
    """auth/token/*."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def create(self, *, orphan: bool = False, **fields: Any) -> R:
        """policies, ttl, explicit_max_ttl, period, no_parent, num_uses, renewable,
        type, meta, display_name, ... → the envelope with the child's `auth` block."""
        path = "auth/token/create-orphan" if orphan else "auth/token/create"
        return self._run(call("POST", path, body(**fields)))

    def lookup(self, token: str) -> R:
        return self._run(call("POST", "auth/token/lookup", {"token": token}))

    def lookup_self(self) -> R:
        return self._run(call("GET", "auth/token/lookup-self"))

    def renew(self, token: str, increment: str | int | None = None) -> R:
        return self._run(call("POST", "auth/token/renew",
                              body(token=token, increment=increment)))

    def renew_self(self, increment: str | int | None = None) -> R:
        return self._run(call("POST", "auth/token/renew-self", body(increment=increment)))

    def revoke(self, token: str) -> R:
        return self._run(call("POST", "auth/token/revoke", {"token": token}))

    def revoke_self(self) -> R:
        return self._run(call("POST", "auth/token/revoke-self"))


class Policies(Generic[R]):
    """sys/policies/acl/*."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def write(self, name: str, policy: str) -> R:
        return self._run(call("PUT", f"sys/policies/acl/{name}", {"policy": policy}))

    def read(self, name: str) -> R:
        return self._run(call("GET", f"sys/policies/acl/{name}", accept=frozenset({404})))

    def list(self) -> R:
        return self._run(call("LIST", "sys/policies/acl"))

    def delete(self, name: str) -> R:
        return self._run(call("DELETE", f"sys/policies/acl/{name}"))


class Wrapping(Generic[R]):
    """sys/wrapping/*: response wrapping."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def wrap(self, data: Mapping[str, Any], ttl: str = "5m") -> R:
        return self._run(call("PUT", "sys/wrapping/wrap", dict(data),
                              headers={"X-Vault-Wrap-TTL": ttl}))

    def unwrap(self, token: str | None = None) -> R:
        """Unwrap `token` (or the client's own token, if it is the wrapping token)."""
        return self._run(call("PUT", "sys/wrapping/unwrap", body(token=token)))

    def lookup(self, token: str) -> R:
        return self._run(call("PUT", "sys/wrapping/lookup", {"token": token},
                              authenticated=False))


class AppRole(Generic[R]):
    """auth/<mount>/login of AppRole."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def login(self, role_id: str, secret_id: str | None = None, *,
              mount: str = "approle") -> R:
        return self._run(call("POST", f"auth/{mount}/login",
                              body(role_id=role_id, secret_id=secret_id),
                              authenticated=False, sets_token=True))


class Userpass(Generic[R]):
    """auth/<mount>/login/<username> of userpass."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def login(self, username: str, password: str, *, mount: str = "userpass") -> R:
        return self._run(call("POST", f"auth/{mount}/login/{username}",
                              {"password": password}, authenticated=False, sets_token=True))


class Auth(Generic[R]):
    """`c.auth.approle`, `c.auth.userpass`."""

    def __init__(self, run: Runner[R]) -> None:
        self.approle = AppRole(run)
        self.userpass = Userpass(run)
