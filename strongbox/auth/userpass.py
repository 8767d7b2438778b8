"""auth/<mount>/ of type userpass: users with Argon2id passwords, and login.

`users/:name` (POST create/update, GET, DELETE), `LIST users`,
`users/:name/password`, `users/:name/policies`, and `login/:name` (no token).
User names are case-insensitive (stored lower-case), as in Vault.

Login defences, in order: the per-node throttle (10 attempts a minute per client
address and per user: 429 with Retry-After); the replicated lock (5 failures in
a row, within 15 minutes of each other, lock the name for 5 minutes on every node:
403 saying so, until the time runs out or an operator calls
sys/locked-users/:accessor/unlock/:name); then one Argon2id verification off the
event loop. Unknown users cost the same verification, get the same answer as a
wrong password and are locked the same way, so nothing tells which names exist. Every failure is an
audited request with its error; lockouts are also logged (without the name).
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from strongbox.auth import cidrs, passwords
from strongbox.auth import store as auth_store
from strongbox.auth.issue import issue, with_default
from strongbox.auth.throttle import network_of
from strongbox.auth.token_store import duration, policy_names
from strongbox.auth.tokens import initial_ttl
from strongbox.backend.context import Context, MountHandler, PathTable, mount_routes
from strongbox.backend.contract import Backend, ExpiryHook
from strongbox.backend.request import LIST
from strongbox.backend.response import Response, envelope, json_response, no_content, ok
from strongbox.errors import BadRequest, NotFound, PermissionDenied, RateLimited
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec

log = logging.getLogger("strongbox.auth")
NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.@-]{0,127})"
MAX_FAILURES = 5
LOCK_NS = 300 * 10**9
COUNTER_RESET_NS = 900 * 10**9  # failures further apart than this are not "in a row"
USER_SCHEMA = {"password": (str,), "policies": (list, str, type(None)),
               "token_policies": (list, str, type(None)), "token_ttl": (str, int, type(None)),
               "token_max_ttl": (str, int, type(None)), "ttl": (str, int, type(None)),
               "max_ttl": (str, int, type(None)), "token_bound_cidrs": (list, str, type(None)),
               "token_type": (str, type(None)), "token_period": (str, int, type(None)),
               "period": (str, int, type(None))}


def _token_fields(user: rec.UserpassUser, body: dict[str, Any]) -> None:
    """token_bound_cidrs, token_type and token_period (Vault's tokenutil fields)."""
    if body.get("token_bound_cidrs") is not None:
        del user.token_bound_cidrs[:]
        user.token_bound_cidrs.extend(cidrs.parse(body["token_bound_cidrs"],
                                                  "token_bound_cidrs"))
    if body.get("token_type") is not None:
        kind = body["token_type"].removeprefix("default-")
        kind = "" if kind == "default" else kind
        if kind not in ("", "service", "batch"):
            raise BadRequest("'token_type' must be \"service\", \"batch\" or \"default\"")
        user.token_type = kind
    for alias in ("token_period", "period"):
        if body.get(alias) is not None:
            user.token_period_ns = duration(body, alias)
            break
    if user.token_type == "batch" and user.token_period_ns:  # noqa: S105
        raise BadRequest("batch tokens cannot be periodic: use token_type \"service\" "
                         "with token_period")


def _key(ctx: Context, mount: rec.MountRecord, kind: str, name: str) -> bytes:
    return auth_store.entry_key(ctx, mount, kind, name.lower())


def _user(ctx: Context, mount: rec.MountRecord, name: str) -> rec.UserpassUser | None:
    raw = auth_store.read(ctx, _key(ctx, mount, "user", name))
    return None if raw is None else rec.UserpassUser.FromString(raw)


def _password(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest("missing required field 'password'")
    if len(value.encode()) > passwords.MAX_PASSWORD_BYTES:
        raise BadRequest(f"'password' must be at most {passwords.MAX_PASSWORD_BYTES} bytes")
    return value


async def _put_user(ctx: Context, mount: rec.MountRecord, name: str,
                    user: rec.UserpassUser) -> None:
    await auth_store.write(ctx, mount, cmd_pb.MountWrite(
        puts=[auth_store.put(_key(ctx, mount, "user", name), user.SerializeToString())]))


async def write_user(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    name = match["name"]
    body = ctx.request.json_body(USER_SCHEMA)
    user = _user(ctx, mount, name) or rec.UserpassUser(created_time_ns=ctx.now_ns())
    if "password" in body or not user.password_hash:
        user.password_hash = await passwords.hash_async(_password(body.get("password")))
    raw_policies = body.get("token_policies", body.get("policies"))
    if raw_policies is not None:
        del user.token_policies[:]
        user.token_policies.extend(policy_names(raw_policies, "token_policies", allow_root=False))
    for field, aliases in (("token_ttl", ("token_ttl", "ttl")),
                           ("token_max_ttl", ("token_max_ttl", "max_ttl"))):
        for alias in aliases:
            if body.get(alias) is not None:
                setattr(user, field + "_ns", duration(body, alias))
                break
    _token_fields(user, body)
    await _put_user(ctx, mount, name, user)
    return no_content()


async def read_user(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    user = _user(ctx, mount, match["name"])
    if user is None:
        raise NotFound(f"no user named {match['name'].lower()!r}")
    policies = list(user.token_policies)
    return ok(ctx.request.request_id, {
        "token_policies": policies, "policies": policies,
        "token_ttl": user.token_ttl_ns // 10**9, "ttl": user.token_ttl_ns // 10**9,
        "token_max_ttl": user.token_max_ttl_ns // 10**9,
        "max_ttl": user.token_max_ttl_ns // 10**9, "token_type": user.token_type or "default",
        "token_bound_cidrs": list(user.token_bound_cidrs), "token_num_uses": 0,
        "token_period": user.token_period_ns // 10**9,
        "token_no_default_policy": False, "token_explicit_max_ttl": 0})


async def delete_user(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    name = match["name"]
    await auth_store.write(ctx, mount, cmd_pb.MountWrite(
        deletes=[_key(ctx, mount, "user", name), _key(ctx, mount, "lock", name)]))
    return no_content()


async def list_users(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on users")
    prefix = auth_store.entry_key(ctx, mount, "user", "")
    names = [key.decode() for key, _ in auth_store.scan(ctx, prefix)]
    if not names:
        raise NotFound("no users")
    return ok(ctx.request.request_id, {"keys": names})


async def update_password(ctx: Context, mount: rec.MountRecord,
                          match: re.Match[str]) -> Response:
    user = _user(ctx, mount, match["name"])
    if user is None:
        raise NotFound(f"no user named {match['name'].lower()!r}")
    body = ctx.request.json_body({"password": (str,)}, required=("password",))
    user.password_hash = await passwords.hash_async(_password(body["password"]))
    await _put_user(ctx, mount, match["name"], user)
    return no_content()


async def update_policies(ctx: Context, mount: rec.MountRecord,
                          match: re.Match[str]) -> Response:
    user = _user(ctx, mount, match["name"])
    if user is None:
        raise NotFound(f"no user named {match['name'].lower()!r}")
    body = ctx.request.json_body({"policies": (list, str), "token_policies": (list, str)})
    del user.token_policies[:]
    user.token_policies.extend(policy_names(body.get("token_policies", body.get("policies")),
                                            "token_policies", allow_root=False))
    await _put_user(ctx, mount, match["name"], user)
    return no_content()


def _throttle(ctx: Context, mount: rec.MountRecord, name: str) -> None:
    now, addr = time.monotonic(), ctx.request.remote_addr
    wait = ctx.core.login_throttle.check(
        [f"addr:{addr}", f"user:{ctx.request.namespace}:{mount.uuid}:{name}"], now)
    if wait is None:  # many addresses of one network share a wider budget
        wait = ctx.core.login_network_throttle.check([f"net:{network_of(addr)}"], now)
    if wait is not None:
        raise RateLimited(f"too many login attempts; retry in {wait}s", retry_after=wait)



def _locked(ctx: Context, lock_key: bytes) -> tuple[int, int]:
    """(failures so far, lock end in ns or 0)."""
    raw = auth_store.read(ctx, lock_key)
    if raw is None:
        return 0, 0
    state = rec.LoginState.FromString(raw)
    locked = state.locked_until_ns if state.locked_until_ns > ctx.now_ns() else 0
    return (0 if state.locked_until_ns and not locked else state.failures), locked


def _locked_error(ctx: Context, until_ns: int) -> PermissionDenied:
    seconds = max(1, (until_ns - ctx.now_ns()) // 10**9)
    return PermissionDenied(f"this user is locked after {MAX_FAILURES} failed logins in a row; "
                            f"try again in {seconds}s or ask an operator to unlock it "
                            "(sys/locked-users/<mount accessor>/unlock/<name>)")


async def login(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    name = match["name"].lower()
    body = ctx.request.json_body({"password": (str,)}, required=("password",))
    _throttle(ctx, mount, name)
    lock_key = _key(ctx, mount, "lock", name)
    failures, locked_until = _locked(ctx, lock_key)
    if locked_until:
        raise _locked_error(ctx, locked_until)
    user = _user(ctx, mount, name)
    password = body["password"]
    good = await passwords.verify_async(user.password_hash if user else None, password)
    if user is None or not good:
        # Unknown names count too: locking must not tell which users exist.
        await _count_failure(ctx, mount, lock_key)
        raise BadRequest("invalid username or password")
    if passwords.needs_rehash(user.password_hash):  # parameters were raised: upgrade it
        user.password_hash = await passwords.hash_async(password)
        await _put_user(ctx, mount, name, user)
    token = rec.TokenRecord(
        policies=with_default(list(user.token_policies)), display_name=f"userpass-{name}",
        ttl_ns=initial_ttl(user.token_ttl_ns, user.token_period_ns, user.token_max_ttl_ns),
        explicit_max_ttl_ns=user.token_max_ttl_ns, namespace=ctx.request.namespace,
        meta={"username": name}, renewable=user.token_type != "batch",  # noqa: S105
        type=user.token_type or "service", period_ns=user.token_period_ns,
        auth_path=f"auth/{mount.path}login/{name}",
        mount_path=mount.path, mount_uuid=mount.uuid,
        bound_cidrs=list(user.token_bound_cidrs))
    block = await issue(ctx, token, reset=lock_key if failures else b"")
    return json_response(200, envelope(ctx.request.request_id, None, auth=block))


async def _count_failure(ctx: Context, mount: rec.MountRecord, lock_key: bytes) -> None:
    result = await ctx.submit(cmd_pb.Command(login_failure=cmd_pb.LoginFailure(
        key=lock_key, max_failures=MAX_FAILURES, lock_ns=LOCK_NS,
        reset_after_ns=COUNTER_RESET_NS, mount=auth_store.mount_ref(ctx, mount))))
    if result.code == result.LOCKED:
        log.warning("userpass user locked after %d failed logins", result.version,
                    extra={"request_id": ctx.request.request_id})
        _, until = _locked(ctx, lock_key)
        raise _locked_error(ctx, until or ctx.now_ns() + LOCK_NS)


_ROUTES: list[tuple[str, dict[str, MountHandler], bool]] = [
    (r"users/?", {"LIST": list_users, "GET": list_users}, True),
    (f"users/{NAME}", {"POST": write_user, "GET": read_user,
                                   "DELETE": delete_user}, True),
    (f"users/{NAME}/password", {"POST": update_password}, True),
    (f"users/{NAME}/policies", {"POST": update_policies}, True),
    (f"login/{NAME}", {"POST": login}, False),
]



def _counter_idle(parts: tuple[str, ...], raw: bytes, now_ns: int) -> bool:
    """A failed-login counter that neither locks nor counts any more (the sweeper drops it)."""
    state = rec.LoginState.FromString(raw)
    return state.locked_until_ns <= now_ns and state.last_failure_ns + COUNTER_RESET_NS <= now_ns


BACKEND = Backend(kind="auth", type="userpass", description="user names and Argon2id passwords",
                  paths=PathTable(patterns=mount_routes(_ROUTES)),
                  expiry=ExpiryHook(kinds=("lock",), expired=_counter_idle))
