"""auth/token/: Vault's token store — create, look up, renew and revoke tokens.

Service tokens (`sbs.…`) are random and stored only as keyed hashes; batch tokens
(`sbb.…`) are sealed, self-describing and never stored (see `auth.tokens`). A
child's policies must be a subset of its parent's (root may grant anything);
revoking a token revokes its children (Vault), `revoke-orphan` keeps them.
`period` (periodic tokens) needs root or sudo; `explicit_max_ttl` caps every
renewal; `num_uses` counts down through Raft on each request. Tokens belong to
the request's namespace; a token is visible only from its namespace and above.
"""

from __future__ import annotations

from typing import Any

from strongbox.auth.issue import auth_block, issue, with_default
from strongbox.auth.tokens import (
    MAX_TTL_NS,
    ancestors_expire,
    expired,
    expires_at,
    renewed_ttl,
)
from strongbox.auth.tokens import initial_ttl as token_initial_ttl
from strongbox.backend.context import Context, Route
from strongbox.backend.request import LIST
from strongbox.backend.response import Response, envelope, json_response, no_content, ok
from strongbox.errors import BadRequest, NotFound, PermissionDenied
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.policy import DEFAULT_POLICY_NAME, ROOT_POLICY_NAME, normalize_policy_name
from strongbox.state.keys import namespace_within
from strongbox.timefmt import parse_duration, rfc3339

MAX_NUM_USES = 2**31 - 1
CREATE_SCHEMA = {
    "policies": (list, type(None)), "ttl": (str, int, type(None)),
    "display_name": (str, type(None)), "meta": (dict, type(None)),
    "no_parent": (bool, type(None)), "no_default_policy": (bool, type(None)),
    "renewable": (bool, type(None)), "type": (str, type(None)),
    "explicit_max_ttl": (str, int, type(None)), "period": (str, int, type(None)),
    "num_uses": (int, type(None)), "id": (str, type(None)),
    "entity_alias": (str, type(None)),
}


def _caller(ctx: Context) -> rec.TokenRecord:
    if ctx.token is None:
        raise PermissionDenied()
    return ctx.token


def duration(body: dict[str, Any], name: str) -> int:
    """A duration field in ns (0 when absent); 400 naming the field when malformed."""
    value = body.get(name)
    if value in (None, ""):
        return 0
    try:
        ns = parse_duration(value, name)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if ns > MAX_TTL_NS:
        raise BadRequest(f"{name!r} must be at most 100 years")
    return ns


def policy_names(raw: Any, field: str = "policies", allow_root: bool = True) -> list[str]:
    """A list of policy names (also accepts Vault's comma-separated string form)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [p.strip() for p in raw.split(",") if p.strip()]
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise BadRequest(f"{field!r} must be a list of policy names")
    names = sorted({normalize_policy_name(p) for p in raw})
    if not allow_root and ROOT_POLICY_NAME in names:
        raise BadRequest(f"{field!r} cannot contain \"root\": auth methods never issue root "
                         "tokens")
    return names


def _policies(ctx: Context, body: dict[str, Any], parent: rec.TokenRecord) -> list[str]:
    policies = with_default(policy_names(body.get("policies")) or list(parent.policies),
                            bool(body.get("no_default_policy")))
    if ROOT_POLICY_NAME in parent.policies:
        return policies  # root may grant anything, here and in namespaces below
    if ROOT_POLICY_NAME in policies:
        raise PermissionDenied("permission denied: only a root token can create a root token")
    if parent.namespace != ctx.request.namespace:
        _require_sudo(ctx, parent, "creating a token in another namespace")
        return policies
    extra = set(policies) - set(parent.policies) - {DEFAULT_POLICY_NAME}
    if extra or ROOT_POLICY_NAME in policies:
        raise PermissionDenied("permission denied: a child token cannot have policies "
                               "its parent lacks: " + ", ".join(sorted(extra or {"root"})))
    return policies


def _require_sudo(ctx: Context, parent: rec.TokenRecord, what: str) -> None:
    try:
        ctx.core.authorize(parent, "sudo", ctx.acl_path)
    except PermissionDenied:
        raise PermissionDenied(f"permission denied: {what} needs a root token or sudo "
                               f"on {ctx.request.path}") from None


def _token_record(ctx: Context, body: dict[str, Any], parent: rec.TokenRecord,
                  orphan: bool) -> rec.TokenRecord:
    kind = body.get("type") or "service"
    if kind not in ("service", "batch"):
        raise BadRequest("'type' must be \"service\" or \"batch\"")
    if body.get("id"):
        raise BadRequest("'id' is not supported: StrongBox chooses every token at random")
    num_uses = body.get("num_uses") or 0
    if not 0 <= num_uses <= MAX_NUM_USES:
        raise BadRequest(f"'num_uses' must be between 0 and {MAX_NUM_USES}")
    period, explicit_max = duration(body, "period"), duration(body, "explicit_max_ttl")
    if kind == "batch" and (period or num_uses):  # renewable is ignored, as in Vault
        raise BadRequest("batch tokens cannot be periodic or limited-use")
    if period:
        _require_sudo(ctx, parent, "a periodic token")
    if body.get("no_parent") and not orphan:
        _require_sudo(ctx, parent, "no_parent")
    meta = body.get("meta") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise BadRequest("'meta' must map strings to strings")
    name = body.get("display_name")
    policies = _policies(ctx, body, parent)
    if kind == "batch" and ROOT_POLICY_NAME in policies:
        raise BadRequest("batch tokens cannot be root tokens: name the policies it needs")
    return rec.TokenRecord(
        policies=policies, display_name="token" + (f"-{name}" if name else ""),
        ttl_ns=token_initial_ttl(duration(body, "ttl"), period, explicit_max),
        explicit_max_ttl_ns=explicit_max, period_ns=period, num_uses=num_uses,
        namespace=ctx.request.namespace, meta=meta, type=kind,
        parent_accessor="" if orphan or body.get("no_parent") else parent.accessor,
        ancestors_expire_ns=0 if orphan or body.get("no_parent") else ancestors_expire(parent),
        renewable=kind == "service" and body.get("renewable") is not False,
        auth_path="auth/token/create" + ("-orphan" if orphan else ""))


async def _create(ctx: Context, orphan: bool) -> Response:
    parent = _caller(ctx)
    if parent.type == "batch":
        raise BadRequest("batch tokens cannot create more tokens; log in for a service token")
    body = ctx.request.json_body(CREATE_SCHEMA)
    record = _token_record(ctx, body, parent, orphan)
    block = await issue(ctx, record)
    return json_response(200, envelope(ctx.request.request_id, None, auth=block))


async def create(ctx: Context) -> Response:
    return await _create(ctx, orphan=False)


async def create_orphan(ctx: Context) -> Response:
    return await _create(ctx, orphan=True)


def _lookup_data(ctx: Context, token: rec.TokenRecord, token_id: str | None) -> dict[str, Any]:
    ttl, expire = 0, None
    if token.ttl_ns:
        expire_ns = expires_at(token)
        ttl, expire = max(0, (expire_ns - ctx.now_ns()) // 10**9), rfc3339(expire_ns)
    data = {
        "accessor": token.accessor, "creation_time": token.creation_time_ns // 10**9,
        "creation_ttl": (token.issued_ttl_ns or token.ttl_ns) // 10**9,
        "display_name": token.display_name, "entity_id": "", "expire_time": expire,
        "explicit_max_ttl": token.explicit_max_ttl_ns // 10**9, "id": token_id or "",
        "meta": dict(token.meta) or None, "num_uses": token.num_uses,
        "orphan": not token.parent_accessor, "path": token.auth_path or "auth/token/create",
        "policies": list(token.policies), "renewable": token.renewable, "ttl": ttl,
        "type": token.type or "service", "namespace_path": token.namespace + "/"
        if token.namespace else ""}
    if token.period_ns:
        data["period"] = token.period_ns // 10**9
    return data


def _visible(ctx: Context, token: rec.TokenRecord) -> bool:
    return namespace_within(token.namespace, ctx.request.namespace)


def _by_token(ctx: Context, token_id: Any) -> rec.TokenRecord:
    if not isinstance(token_id, str) or not token_id:
        raise BadRequest("missing required field 'token'")
    try:
        record = ctx.core.authenticate(token_id)
    except PermissionDenied:
        record = None
    if record is None or not _visible(ctx, record):
        raise BadRequest("bad token: it does not exist, expired or was revoked")
    return record


def _by_accessor(ctx: Context, accessor: Any) -> rec.TokenRecord:
    if not isinstance(accessor, str) or not accessor:
        raise BadRequest("missing required field 'accessor'")
    record = ctx.core.store.token_by_accessor(accessor)
    if record is None or expired(record, ctx.now_ns()) or not _visible(ctx, record):
        raise BadRequest("invalid accessor: no token has it (or it expired)")
    return record


async def lookup_self(ctx: Context) -> Response:
    return ok(ctx.request.request_id, _lookup_data(ctx, _caller(ctx), ctx.request.token))


async def lookup(ctx: Context) -> Response:
    """Vault answers a lookup of an unknown, expired or revoked token 403 "bad token"."""
    body = ctx.request.json_body({"token": (str,)}, required=("token",))
    try:
        record = _by_token(ctx, body["token"])
    except BadRequest as exc:
        if body["token"]:
            raise PermissionDenied("bad token") from None
        raise exc from None
    return ok(ctx.request.request_id, _lookup_data(ctx, record, body["token"]))


async def lookup_accessor(ctx: Context) -> Response:
    body = ctx.request.json_body({"accessor": (str,)}, required=("accessor",))
    return ok(ctx.request.request_id, _lookup_data(ctx, _by_accessor(ctx, body["accessor"]), None))


async def _revoke(ctx: Context, token: rec.TokenRecord, orphan_children: bool) -> Response:
    if token.type == "batch":
        raise BadRequest("batch tokens cannot be revoked; they expire (or die with their "
                         "parent)")
    await ctx.submit_revocation(cmd_pb.Command(token_revoke=cmd_pb.TokenRevoke(
        accessor=token.accessor, orphan_children=orphan_children)))
    return no_content()


async def revoke(ctx: Context) -> Response:
    body = ctx.request.json_body({"token": (str,)}, required=("token",))
    return await _revoke(ctx, _by_token(ctx, body["token"]), orphan_children=False)


async def revoke_self(ctx: Context) -> Response:
    return await _revoke(ctx, _caller(ctx), orphan_children=False)


async def revoke_accessor(ctx: Context) -> Response:
    body = ctx.request.json_body({"accessor": (str,)}, required=("accessor",))
    return await _revoke(ctx, _by_accessor(ctx, body["accessor"]), orphan_children=False)


async def revoke_orphan(ctx: Context) -> Response:
    body = ctx.request.json_body({"token": (str,)}, required=("token",))
    return await _revoke(ctx, _by_token(ctx, body["token"]), orphan_children=True)


async def _renew(ctx: Context, token: rec.TokenRecord, token_id: str) -> Response:
    body = ctx.request.raw_json()
    if token.type == "batch":
        raise BadRequest("batch tokens cannot be renewed")
    if not token.ttl_ns:
        raise BadRequest("this token has no TTL: there is nothing to renew")
    if not token.renewable:
        raise BadRequest("lease is not renewable")
    now = ctx.now_ns()
    ttl = renewed_ttl(token, duration(body, "increment"), now)
    result = await ctx.submit(cmd_pb.Command(token_renew=cmd_pb.TokenRenew(
        accessor=token.accessor, ttl_ns=ttl)))
    if result.code != result.OK:
        raise BadRequest(result.message)
    token.ttl_ns = ttl
    block = auth_block(token_id, token, now)
    warnings = ["TTL of the token is capped by its explicit max TTL"] \
        if token.explicit_max_ttl_ns and ttl == token.explicit_max_ttl_ns else None
    payload = envelope(ctx.request.request_id, None, auth=block)
    payload["warnings"] = warnings
    return json_response(200, payload)


async def renew(ctx: Context) -> Response:
    body = ctx.request.json_body({"token": (str,), "increment": (str, int, type(None))},
                                 required=("token",))
    return await _renew(ctx, _by_token(ctx, body["token"]), body["token"])


async def renew_self(ctx: Context) -> Response:
    ctx.request.json_body({"increment": (str, int, type(None)), "token": (str, type(None))})
    return await _renew(ctx, _caller(ctx), ctx.request.token or "")


async def renew_accessor(ctx: Context) -> Response:
    body = ctx.request.json_body({"accessor": (str,), "increment": (str, int, type(None))},
                                 required=("accessor",))
    return await _renew(ctx, _by_accessor(ctx, body["accessor"]), "")


async def list_accessors(ctx: Context) -> Response:
    """LIST auth/token/accessors (sudo): the only listable handle of tokens."""
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on auth/token/accessors")
    accessors = ctx.core.store.token_accessors(ctx.request.namespace)
    if not accessors:
        raise NotFound("no tokens")
    return ok(ctx.request.request_id, {"keys": accessors})


ROUTES = {
    "auth/token/accessors": Route({"LIST": list_accessors, "GET": list_accessors}, sudo=True),
    "auth/token/renew": Route({"POST": renew}),
    "auth/token/renew-self": Route({"POST": renew_self}),
    "auth/token/renew-accessor": Route({"POST": renew_accessor}),
    "auth/token/create": Route({"POST": create}),
    "auth/token/create-orphan": Route({"POST": create_orphan}),
    "auth/token/lookup-self": Route({"GET": lookup_self}),
    "auth/token/lookup": Route({"POST": lookup, "GET": lookup}),
    "auth/token/lookup-accessor": Route({"POST": lookup_accessor}),
    "auth/token/revoke": Route({"POST": revoke}),
    "auth/token/revoke-self": Route({"POST": revoke_self}),
    "auth/token/revoke-accessor": Route({"POST": revoke_accessor}),
    "auth/token/revoke-orphan": Route({"POST": revoke_orphan}, sudo=True),
}
__all__ = ["ROUTES", "duration", "policy_names"]
