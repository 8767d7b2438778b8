"""auth/token/roles/:name and auth/token/create/:role (Vault's token store roles).

A role fixes what tokens created through it may be: `allowed_policies` (empty: the
parent's, as without a role), `disallowed_policies` (always refused, also when
inherited), `orphan`, `renewable`, `token_type` (`service`, `batch`, `default-service`,
`default-batch`), `token_explicit_max_ttl`, `token_period`, `token_num_uses`,
`token_no_default_policy`, `path_suffix` (added to the token's path, for prefix
revocation) and `token_bound_cidrs`. A role lets a token get policies its parent lacks
if the role allows them (Vault), and a periodic or orphan token without sudo: writing
a role is the privileged step.

Roles are replicated records of the token store's own storage (sealed, per namespace),
written with a `MountWrite` like any backend's storage.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from strongbox.auth.issue import issue, with_default
from strongbox.auth.token_store import CREATE_SCHEMA, duration, policy_names
from strongbox.auth.tokens import ancestors_expire
from strongbox.auth.tokens import initial_ttl as token_initial_ttl
from strongbox.backend.context import Context, Route
from strongbox.backend.request import LIST
from strongbox.backend.response import Response, envelope, json_response, no_content, ok
from strongbox.backend.storage import Batch, MountStorage
from strongbox.errors import BadRequest, NotFound, PermissionDenied
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.policy import DEFAULT_POLICY_NAME, ROOT_POLICY_NAME

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
SUFFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{0,128}$")
TOKEN_TYPES = ("service", "batch", "default-service", "default-batch")
_STORE = rec.MountRecord(path="token/", type="token", uuid="token-store-roles")
_DURATION = (str, int, type(None))
_LIST = (list, str, type(None))
ROLE_SCHEMA = {
    "allowed_policies": _LIST, "disallowed_policies": _LIST, "orphan": (bool, type(None)),
    "renewable": (bool, type(None)), "token_type": (str, type(None)),
    "token_explicit_max_ttl": _DURATION, "explicit_max_ttl": _DURATION,
    "token_period": _DURATION, "period": _DURATION, "path_suffix": (str, type(None)),
    "token_bound_cidrs": _LIST, "bound_cidrs": _LIST, "token_num_uses": (int, type(None)),
    "token_no_default_policy": (bool, type(None)), "allowed_entity_aliases": _LIST,
}


class _RoleStorage(MountStorage):
    """The token store's storage view: not a mount in the table, so no mount check."""

    def ref(self) -> cmd_pb.MountRef:
        return cmd_pb.MountRef(uuid=_STORE.uuid)


def _storage(ctx: Context) -> _RoleStorage:
    return _RoleStorage(ctx.core, ctx.request.namespace, _STORE, False, origin=ctx.request)


def _role_name(ctx: Context, prefix: str) -> str:
    name = ctx.request.path[len(prefix):].strip("/")
    if not NAME_RE.match(name):
        raise BadRequest("a token role name is 1-128 letters, digits, '.', '_' or '-'")
    return name


def load_role(ctx: Context, name: str) -> dict[str, Any] | None:
    raw = _storage(ctx).get("role", name)
    return json.loads(raw) if raw is not None else None


def _names(raw: Any, field: str) -> list[str]:
    return policy_names(raw, field)


def _cidrs(raw: Any) -> list[str]:
    items = [c.strip() for c in raw.split(",")] if isinstance(raw, str) else list(raw or [])
    out = []
    for item in items:
        if not isinstance(item, str) or not item:
            continue
        try:
            out.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise BadRequest("'token_bound_cidrs' must list CIDR blocks such as "
                             "10.0.0.0/8") from None
    return out


def _role_from(body: dict[str, Any], old: dict[str, Any] | None) -> dict[str, Any]:
    role = dict(old or {})

    def pick(*names: str) -> Any:
        return next((body[n] for n in names if body.get(n) is not None), None)
    if body.get("allowed_policies") is not None:
        role["allowed_policies"] = _names(body["allowed_policies"], "allowed_policies")
    if body.get("disallowed_policies") is not None:
        role["disallowed_policies"] = _names(body["disallowed_policies"], "disallowed_policies")
    for flag in ("orphan", "renewable", "token_no_default_policy"):
        if body.get(flag) is not None:
            role[flag] = body[flag]
    kind = body.get("token_type")
    if kind is not None:
        if kind not in TOKEN_TYPES:
            raise BadRequest("'token_type' must be one of " + ", ".join(TOKEN_TYPES))
        role["token_type"] = kind
    for name, aliases in (("token_explicit_max_ttl", ("token_explicit_max_ttl",
                                                      "explicit_max_ttl")),
                          ("token_period", ("token_period", "period"))):
        value = pick(*aliases)
        if value is not None:
            role[name] = duration({name: value}, name) // 10**9
    suffix = body.get("path_suffix")
    if suffix is not None:
        if not SUFFIX_RE.match(suffix):
            raise BadRequest("'path_suffix' may hold only letters, digits, '.', '_' or '-'")
        role["path_suffix"] = suffix
    cidrs = pick("token_bound_cidrs", "bound_cidrs")
    if cidrs is not None:
        role["token_bound_cidrs"] = _cidrs(cidrs)
    uses = body.get("token_num_uses")
    if uses is not None:
        if not 0 <= uses <= 2**31 - 1:
            raise BadRequest("'token_num_uses' must be between 0 and 2147483647")
        role["token_num_uses"] = uses
    if body.get("allowed_entity_aliases") is not None:
        raw = body["allowed_entity_aliases"]
        items = raw.split(",") if isinstance(raw, str) else raw
        role["allowed_entity_aliases"] = [str(a).strip() for a in items if str(a).strip()]
    return role


def _view(name: str, role: dict[str, Any]) -> dict[str, Any]:
    period, explicit = role.get("token_period", 0), role.get("token_explicit_max_ttl", 0)
    return {"name": name, "allowed_policies": role.get("allowed_policies", []),
            "disallowed_policies": role.get("disallowed_policies", []),
            "allowed_policies_glob": [], "disallowed_policies_glob": [],
            "orphan": role.get("orphan", False), "renewable": role.get("renewable", True),
            "token_type": role.get("token_type", "default-service"),
            "token_explicit_max_ttl": explicit, "explicit_max_ttl": explicit,
            "token_period": period, "period": period,
            "path_suffix": role.get("path_suffix", ""),
            "token_bound_cidrs": role.get("token_bound_cidrs", []),
            "token_no_default_policy": role.get("token_no_default_policy", False),
            "token_num_uses": role.get("token_num_uses", 0),
            "allowed_entity_aliases": role.get("allowed_entity_aliases", [])}


async def write_role(ctx: Context) -> Response:
    name = _role_name(ctx, "auth/token/roles/")
    body = ctx.request.json_body(ROLE_SCHEMA)
    role = _role_from(body, load_role(ctx, name))
    await _storage(ctx).write(Batch().put(json.dumps(role).encode(), "role", name))
    return no_content()


async def read_role(ctx: Context) -> Response:
    name = _role_name(ctx, "auth/token/roles/")
    role = load_role(ctx, name)
    if role is None:
        raise NotFound("")
    return ok(ctx.request.request_id, _view(name, role))


async def delete_role(ctx: Context) -> Response:
    name = _role_name(ctx, "auth/token/roles/")
    await _storage(ctx).write(Batch().delete("role", name))
    return no_content()


async def list_roles(ctx: Context) -> Response:
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on auth/token/roles")
    names = sorted(parts[0] for parts in _storage(ctx).list("role"))
    if not names:
        raise NotFound("")
    return ok(ctx.request.request_id, {"keys": names})


def role_policies(role: dict[str, Any], requested: list[str], parent: rec.TokenRecord,
                  no_default: bool) -> list[str]:
    """Vault's rules: requested policies must be allowed (when the role lists any) and
    never disallowed; without a request, the allowed ones (or the parent's)."""
    allowed = set(role.get("allowed_policies", []))
    disallowed = set(role.get("disallowed_policies", []))
    chosen = requested or sorted(allowed) or [p for p in parent.policies
                                              if p != ROOT_POLICY_NAME]
    policies = with_default(chosen, no_default)
    if allowed:
        extra = set(policies) - allowed - {DEFAULT_POLICY_NAME}
        if extra:
            raise BadRequest("token policies (" + ", ".join(sorted(extra)) + ") must be a "
                             "subset of the role's allowed policies")
    elif ROOT_POLICY_NAME not in parent.policies:
        extra = set(policies) - set(parent.policies) - {DEFAULT_POLICY_NAME}
        if extra:
            raise PermissionDenied("permission denied: a child token cannot have policies "
                                   "its parent lacks: " + ", ".join(sorted(extra)))
    if ROOT_POLICY_NAME in policies:
        raise BadRequest("a role cannot create root tokens")
    refused = set(policies) & disallowed
    if refused:
        raise BadRequest("token policies (" + ", ".join(sorted(refused)) + ") are "
                         "disallowed by the role")
    return policies


def _kind(role: dict[str, Any], asked: str | None) -> str:
    fixed = role.get("token_type", "default-service")
    if fixed in ("service", "batch"):
        if asked and asked != fixed:
            raise BadRequest(f"the role only issues {fixed} tokens")
        return str(fixed)
    return asked or fixed.removeprefix("default-")


async def create_with_role(ctx: Context) -> Response:
    """POST auth/token/create/:role: a token shaped by the role (see the module doc)."""
    parent = ctx.token
    if parent is None:
        raise PermissionDenied()
    name = _role_name(ctx, "auth/token/create/")
    role = load_role(ctx, name)
    if role is None:
        raise BadRequest(f"unknown role {name}")
    body = ctx.request.json_body(CREATE_SCHEMA)
    kind = _kind(role, body.get("type"))
    no_default = bool(body.get("no_default_policy") or role.get("token_no_default_policy"))
    policies = role_policies(role, policy_names(body.get("policies")), parent, no_default)
    period = role.get("token_period", 0) * 10**9 or duration(body, "period")
    explicit = role.get("token_explicit_max_ttl", 0) * 10**9
    asked_max = duration(body, "explicit_max_ttl")
    explicit = min(x for x in (explicit, asked_max) if x) if explicit or asked_max else 0
    orphan = bool(role.get("orphan"))
    num_uses = body.get("num_uses") or role.get("token_num_uses", 0)
    if kind == "batch" and (period or num_uses):
        raise BadRequest("batch tokens cannot be periodic or limited-use")
    meta = body.get("meta") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise BadRequest("'meta' must map strings to strings")
    display = body.get("display_name")
    suffix = role.get("path_suffix", "")
    record = rec.TokenRecord(
        policies=policies, display_name="token" + (f"-{display}" if display else ""),
        ttl_ns=token_initial_ttl(duration(body, "ttl"), period, explicit),
        explicit_max_ttl_ns=explicit, period_ns=period, num_uses=num_uses,
        namespace=ctx.request.namespace, meta=meta, type=kind,
        parent_accessor="" if orphan else parent.accessor,
        ancestors_expire_ns=0 if orphan else ancestors_expire(parent),
        renewable=kind == "service" and role.get("renewable", True)
        and body.get("renewable") is not False,
        auth_path=f"auth/token/create/{name}" + (f"/{suffix}" if suffix else ""),
        bound_cidrs=role.get("token_bound_cidrs", []))
    block = await issue(ctx, record)
    return json_response(200, envelope(ctx.request.request_id, None, auth=block))


ROUTES = {"auth/token/roles": Route({"LIST": list_roles, "GET": list_roles})}
PREFIX_ROUTES = {
    "auth/token/roles/": Route({"GET": read_role, "POST": write_role, "DELETE": delete_role}),
    "auth/token/create/": Route({"POST": create_with_role}),
}
