"""What the kubernetes and jwt auth methods share: records, token settings, globs, login.

Contract
--------
- Records (a mount's `config` and its `role/<name>`) are JSON objects stored **sealed**
  in the mount's storage view (`read_record`, `write_record`, `delete_record`,
  `role_names`): they may hold secrets (`token_reviewer_jwt`), so never `put_plain`.
- `TOKEN_SCHEMA` and `token_settings(body, role)` read Vault's `token_*` role fields
  (and their legacy names `policies`, `ttl`, `max_ttl`, `period`) into a role dict;
  `token_view(role)` is how a role read shows them. Unsupported ones
  (`token_bound_cidrs`, `token_no_default_policy`) are refused with a 400 that says so.
- `glob_match(pattern, value)`: `*` matches any run of characters (anywhere in the
  pattern), nothing else is special; `"*"` alone matches everything.
- `claim_value(claims, name)`: a top-level claim, or a nested one by JSON pointer
  (`/a/b`) as Vault's `bound_claims` and `claim_mappings` allow.
- `throttle(ctx, mount, role)`: the per-node login throttle of userpass
  (`auth/throttle.py`: per client address, per role, per network).
- `issue_login(ctx, mount, role_name, role, display_name, meta)` mints the token
  from the role's settings and answers Vault's login envelope.

Handlers call these on the event loop.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from strongbox.auth import store as auth_store
from strongbox.auth.issue import issue, with_default
from strongbox.auth.throttle import network_of
from strongbox.auth.token_store import duration, policy_names
from strongbox.auth.tokens import initial_ttl
from strongbox.backend.context import Context, MountHandler
from strongbox.backend.request import LIST, Schema
from strongbox.backend.response import Response, envelope, json_response, no_content, ok
from strongbox.backend.storage import Batch
from strongbox.errors import BadRequest, NotFound, RateLimited
from strongbox.pb import records_pb2 as rec

NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.@-]{0,127})"
MAX_USES = 2**31 - 1
OPT_STR = (str, type(None))
OPT_LIST = (list, str, type(None))
OPT_DURATION = (str, int, type(None))
TOKEN_SCHEMA: dict[str, tuple[type, ...]] = {
    "token_policies": OPT_LIST, "policies": OPT_LIST,
    "token_ttl": OPT_DURATION, "ttl": OPT_DURATION,
    "token_max_ttl": OPT_DURATION, "max_ttl": OPT_DURATION,
    "token_explicit_max_ttl": OPT_DURATION, "token_period": OPT_DURATION,
    "period": OPT_DURATION, "token_num_uses": (int, type(None)),
    "num_uses": (int, type(None)), "token_type": OPT_STR,
    "token_no_default_policy": (bool, type(None)), "token_bound_cidrs": OPT_LIST,
    "bound_cidrs": OPT_LIST,
}


# --- records --------------------------------------------------------------------------


def read_record(ctx: Context, mount: rec.MountRecord, *key: str) -> dict[str, Any] | None:
    raw = auth_store.view(ctx, mount).get(*key)
    return None if raw is None else dict(json.loads(raw))


async def write_record(ctx: Context, mount: rec.MountRecord, value: dict[str, Any],
                       *key: str) -> None:
    await auth_store.view(ctx, mount).write(Batch().put(json.dumps(value).encode(), *key))


async def delete_record(ctx: Context, mount: rec.MountRecord, *key: str) -> None:
    await auth_store.view(ctx, mount).write(Batch().delete(*key))


def config(ctx: Context, mount: rec.MountRecord) -> dict[str, Any]:
    """The mount's config record; 400 saying how to write it when there is none."""
    found = read_record(ctx, mount, "config")
    if found is None:
        raise BadRequest(f"this {mount.type} auth method is not configured: write "
                         f"auth/{mount.path}config first")
    return found


def role_names(ctx: Context, mount: rec.MountRecord) -> list[str]:
    return [parts[0] for parts in auth_store.view(ctx, mount).list("role")]


# --- field parsing ----------------------------------------------------------------------


def string_list(body: dict[str, Any], name: str) -> list[str] | None:
    """A list of strings, or Vault's comma-separated form; None when absent."""
    raw = body.get(name)
    if raw is None:
        return None
    if isinstance(raw, str):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise BadRequest(f"{name!r} must be a list of strings")
    return [item for item in raw if item]


def _first(body: dict[str, Any], *names: str) -> str | None:
    return next((n for n in names if body.get(n) is not None), None)


def _uses(value: int, name: str) -> int:
    if not 0 <= value <= MAX_USES:
        raise BadRequest(f"{name!r} must be between 0 and {MAX_USES}")
    return value


def token_settings(body: dict[str, Any], role: dict[str, Any]) -> None:
    """Apply the `token_*` fields of `body` to `role` (in place); 400 naming a bad field."""
    policies = _first(body, "token_policies", "policies")
    if policies is not None:
        role["token_policies"] = policy_names(body[policies], "token_policies",
                                              allow_root=False)
    if string_list(body, "token_bound_cidrs") or string_list(body, "bound_cidrs"):
        raise BadRequest("'token_bound_cidrs' is not supported yet by this auth method")
    if body.get("token_no_default_policy"):
        raise BadRequest("'token_no_default_policy' is not supported: tokens always get "
                         "the default policy")
    for target, names in (("token_ttl", ("token_ttl", "ttl")),
                          ("token_max_ttl", ("token_max_ttl", "max_ttl")),
                          ("token_period", ("token_period", "period")),
                          ("token_explicit_max_ttl", ("token_explicit_max_ttl",))):
        found = _first(body, *names)
        if found is not None:
            role[target] = duration(body, found)
    uses = _first(body, "token_num_uses", "num_uses")
    if uses is not None:
        role["token_num_uses"] = _uses(body[uses], uses)
    if body.get("token_type") is not None:
        kind = body["token_type"].replace("default-", "").replace("default", "service")
        if kind not in ("service", "batch"):
            raise BadRequest("'token_type' must be \"service\" or \"batch\"")
        role["token_type"] = kind
    if role.get("token_type") == "batch" and (role.get("token_num_uses")
                                              or role.get("token_period")):
        raise BadRequest("batch tokens cannot be periodic or limited-use: use token_type "
                         "\"service\" with token_num_uses or token_period")


def token_view(role: dict[str, Any]) -> dict[str, Any]:
    """The `token_*` fields as a role read shows them (durations in seconds)."""
    policies = list(role.get("token_policies", []))
    seconds = {f: role.get(f, 0) // 10**9 for f in ("token_ttl", "token_max_ttl",
                                                   "token_period", "token_explicit_max_ttl")}
    return {"token_policies": policies, "policies": policies, **seconds,
            "ttl": seconds["token_ttl"], "max_ttl": seconds["token_max_ttl"],
            "period": seconds["token_period"], "token_num_uses": role.get("token_num_uses", 0),
            "token_type": role.get("token_type", "default"), "token_bound_cidrs": [],
            "token_no_default_policy": False}


# --- matching ---------------------------------------------------------------------------


def glob_match(pattern: str, value: str) -> bool:
    """`*` matches any run of characters; everything else matches itself."""
    if "*" not in pattern:
        return pattern == value
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def claim_value(claims: dict[str, Any], name: str) -> Any:
    """The claim `name`, or the nested value a JSON pointer (`/a/b`) names; None if absent."""
    if not name.startswith("/"):
        return claims.get(name)
    node: Any = claims
    for raw in name[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def scalar_text(value: Any) -> str | None:
    """A claim value as the string Vault compares and maps (None for objects/lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    return None


# --- login ------------------------------------------------------------------------------


def throttle(ctx: Context, mount: rec.MountRecord, role: str) -> None:
    """429 with Retry-After when this address, role or network is over its login budget."""
    now, addr = time.monotonic(), ctx.request.remote_addr
    wait = ctx.core.login_throttle.check(
        [f"addr:{addr}", f"role:{ctx.request.namespace}:{mount.uuid}:{role}"], now)
    if wait is None:
        wait = ctx.core.login_network_throttle.check([f"net:{network_of(addr)}"], now)
    if wait is not None:
        raise RateLimited(f"too many login attempts; retry in {wait}s", retry_after=wait)


async def issue_login(ctx: Context, mount: rec.MountRecord, role_name: str,
                      role: dict[str, Any], display_name: str,
                      meta: dict[str, str]) -> Response:
    """Mint the token a successful login gets and answer Vault's login envelope."""
    max_ttl = min(filter(None, (role.get("token_max_ttl", 0),
                                role.get("token_explicit_max_ttl", 0))), default=0)
    period = role.get("token_period", 0)
    kind = role.get("token_type", "service")
    token = rec.TokenRecord(
        policies=with_default(list(role.get("token_policies", []))),
        display_name=f"{mount.type}-{display_name}"[:256],
        ttl_ns=initial_ttl(role.get("token_ttl", 0), period, max_ttl),
        explicit_max_ttl_ns=max_ttl, period_ns=period,
        num_uses=role.get("token_num_uses", 0), namespace=ctx.request.namespace,
        meta={**meta, "role": role_name}, renewable=kind != "batch",
        type=kind, auth_path=f"auth/{mount.path}login",
        mount_path=mount.path, mount_uuid=mount.uuid)
    block = await issue(ctx, token)
    return json_response(200, envelope(ctx.request.request_id, None, auth=block))


# --- role handlers both methods serve the same way -------------------------------------


def login_role_name(raw: str) -> str:
    """The role a login names, lower-cased; 400 if it cannot be a role name."""
    if not re.fullmatch(NAME, raw):
        raise BadRequest("'role' is not a valid role name")
    return raw.lower()


def existing_role(ctx: Context, mount: rec.MountRecord, name: str) -> dict[str, Any]:
    role = read_record(ctx, mount, "role", name.lower())
    if role is None:
        raise NotFound(f"no role named {name.lower()!r}")
    return role


async def list_roles(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on role")
    names = role_names(ctx, mount)
    if not names:
        raise NotFound("no roles")
    return ok(ctx.request.request_id, {"keys": names})


def role_writer(schema: Schema, apply_fields: Callable[[dict[str, Any], dict[str, Any]], None],
                initial: dict[str, Any]) -> MountHandler:
    """The POST role/:name handler: read the body with `schema`, update the stored role
    (or a copy of `initial`) with `apply_fields(body, role)`, store it."""
    async def write_role(ctx: Context, mount: rec.MountRecord,
                         match: re.Match[str]) -> Response:
        name = match["name"].lower()
        body = ctx.request.json_body(schema)
        role = read_record(ctx, mount, "role", name) or dict(initial)
        apply_fields(body, role)
        await write_record(ctx, mount, role, "role", name)
        return no_content()
    return write_role


def method_routes(write_config: MountHandler, read_config: MountHandler,
                  write_role: MountHandler, read_role: MountHandler,
                  login: MountHandler) -> list[tuple[str, dict[str, MountHandler], bool]]:
    """The path table both methods serve: config, role/:name, LIST role, login."""
    return [
        (r"config", {"POST": write_config, "GET": read_config}, True),
        (r"role/?", {"LIST": list_roles, "GET": list_roles}, True),
        (f"role/{NAME}", {"POST": write_role, "GET": read_role, "DELETE": delete_role}, True),
        (r"login", {"POST": login}, False),
    ]


async def delete_role(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    await delete_record(ctx, mount, "role", match["name"].lower())
    return no_content()
