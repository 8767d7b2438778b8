"""auth/token/: create, look up and revoke service tokens (Vault's token store subset).

A token is random (`sbs.` + 32 url-safe bytes), chosen by the node that creates it;
only its keyed hash is replicated. A child token's policies must be a subset of its
parent's (root may grant anything); revoking a token revokes its children (Vault),
`revoke-orphan` keeps them. Renewal extends a token up to 768h from its creation.
Batch tokens, periodic tokens, explicit max TTLs and num_uses come with the rest of
the access-control work: asking for them is a clear 400 until then.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from strongbox.api.envelope import Response, envelope, json_response, no_content, ok
from strongbox.api.routing import Context, Route
from strongbox.core import new_token
from strongbox.errors import BadRequest, PermissionDenied
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.policy import DEFAULT_POLICY_NAME, ROOT_POLICY_NAME, normalize_policy_name
from strongbox.timefmt import parse_duration, rfc3339

DEFAULT_TTL_NS = 768 * 3600 * 10**9  # Vault's default max TTL (32 days)
MAX_TTL_NS = 100 * 365 * 86400 * 10**9
CREATE_SCHEMA = {
    "policies": (list, type(None)), "ttl": (str, int, type(None)),
    "display_name": (str, type(None)), "meta": (dict, type(None)),
    "no_parent": (bool, type(None)), "no_default_policy": (bool, type(None)),
    "renewable": (bool, type(None)), "type": (str, type(None)),
    "explicit_max_ttl": (str, int, type(None)), "period": (str, int, type(None)),
    "num_uses": (int, type(None)), "id": (str, type(None)),
}
NOT_YET = ("explicit_max_ttl", "period", "num_uses", "id")


def _caller(ctx: Context) -> rec.TokenRecord:
    if ctx.token is None:
        raise PermissionDenied()
    return ctx.token


def _policies(body: dict[str, Any], parent: rec.TokenRecord) -> list[str]:
    raw = body.get("policies") or list(parent.policies)
    if not all(isinstance(p, str) for p in raw):
        raise BadRequest("'policies' must be a list of policy names")
    policies = sorted({normalize_policy_name(p) for p in raw})
    if not body.get("no_default_policy") and DEFAULT_POLICY_NAME not in policies \
            and ROOT_POLICY_NAME not in policies:
        policies.append(DEFAULT_POLICY_NAME)
    if ROOT_POLICY_NAME not in parent.policies:
        extra = set(policies) - set(parent.policies) - {DEFAULT_POLICY_NAME}
        if extra or ROOT_POLICY_NAME in policies:
            raise PermissionDenied("permission denied: a child token cannot have policies "
                                   "its parent lacks: " + ", ".join(sorted(extra or {"root"})))
    return sorted(policies)


def _ttl(body: dict[str, Any]) -> int:
    if body.get("ttl") in (None, "", 0, "0"):
        return DEFAULT_TTL_NS
    try:
        ttl = parse_duration(body["ttl"], "ttl")
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not 0 < ttl <= MAX_TTL_NS:
        raise BadRequest("'ttl' must be between 1s and 100 years")
    return ttl


def auth_block(token_id: str, token: rec.TokenRecord) -> dict[str, Any]:
    return {"client_token": token_id, "accessor": token.accessor,
            "policies": list(token.policies), "token_policies": list(token.policies),
            "metadata": dict(token.meta) or None, "lease_duration": token.ttl_ns // 10**9,
            "renewable": token.renewable, "entity_id": "", "token_type": "service",
            "orphan": not token.parent_accessor, "mfa_requirement": None,
            "num_uses": 0}


async def _create(ctx: Context, orphan: bool) -> Response:
    parent = _caller(ctx)
    body = ctx.request.json_body(CREATE_SCHEMA)
    for name in NOT_YET:
        if body.get(name):
            raise BadRequest(f"'{name}' is not supported yet")
    if body.get("type") not in (None, "", "service"):
        raise BadRequest("only service tokens are supported yet (type \"service\")")
    no_parent = orphan or bool(body.get("no_parent"))
    if body.get("no_parent") and ROOT_POLICY_NAME not in parent.policies:
        raise PermissionDenied("permission denied: only a root token may set no_parent "
                               "(use auth/token/create-orphan with sudo)")
    meta = body.get("meta") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise BadRequest("'meta' must map strings to strings")
    token_id = new_token()
    record = rec.TokenRecord(
        accessor=secrets.token_urlsafe(18), policies=_policies(body, parent),
        display_name="token" + (f"-{body['display_name']}" if body.get("display_name") else ""),
        creation_time_ns=time.time_ns(), ttl_ns=_ttl(body), namespace=parent.namespace,
        parent_accessor="" if no_parent else parent.accessor, meta=meta,
        renewable=bool(body.get("renewable", True)), type="service")
    record.issued_ttl_ns = record.ttl_ns
    keyring = ctx.core.require_keyring()
    result = await ctx.core.submit(cmd_pb.Command(token_create=cmd_pb.TokenCreate(
        token_hash=keyring.token_hash(token_id), token=record)))
    if result.code != result.OK:
        raise BadRequest(result.message or "the token could not be created")
    return json_response(200, envelope(ctx.request.request_id, None,
                                       auth=auth_block(token_id, record)))


async def create(ctx: Context) -> Response:
    return await _create(ctx, orphan=False)


async def create_orphan(ctx: Context) -> Response:
    return await _create(ctx, orphan=True)


def _lookup_data(token: rec.TokenRecord, token_id: str | None) -> dict[str, Any]:
    ttl, expire = 0, None
    if token.ttl_ns:
        expire_ns = token.creation_time_ns + token.ttl_ns
        ttl, expire = max(0, (expire_ns - time.time_ns()) // 10**9), rfc3339(expire_ns)
    return {
        "accessor": token.accessor, "creation_time": token.creation_time_ns // 10**9,
        "creation_ttl": (token.issued_ttl_ns or token.ttl_ns) // 10**9,
        "display_name": token.display_name,
        "entity_id": "", "expire_time": expire, "explicit_max_ttl": 0, "id": token_id or "",
        "meta": dict(token.meta) or None, "num_uses": 0, "orphan": not token.parent_accessor,
        "path": "auth/token/root" if ROOT_POLICY_NAME in token.policies
        else "auth/token/create", "policies": list(token.policies), "renewable":
        token.renewable, "ttl": ttl, "type": "service", "namespace_path": token.namespace}


def _by_token(ctx: Context, token_id: Any) -> rec.TokenRecord:
    if not isinstance(token_id, str) or not token_id:
        raise BadRequest("missing required field 'token'")
    record = ctx.core.store.token(ctx.core.require_keyring().token_hash(token_id))
    if record is None or (record.ttl_ns and
                          record.creation_time_ns + record.ttl_ns <= time.time_ns()):
        raise BadRequest("bad token: it does not exist, expired or was revoked")
    return record


def _by_accessor(ctx: Context, accessor: Any) -> rec.TokenRecord:
    if not isinstance(accessor, str) or not accessor:
        raise BadRequest("missing required field 'accessor'")
    record = ctx.core.store.token_by_accessor(accessor)
    if record is None:
        raise BadRequest("invalid accessor: no token has it")
    return record


async def lookup_self(ctx: Context) -> Response:
    return ok(ctx.request.request_id, _lookup_data(_caller(ctx), ctx.request.token))


async def lookup(ctx: Context) -> Response:
    body = ctx.request.json_body({"token": (str,)}, required=("token",))
    return ok(ctx.request.request_id, _lookup_data(_by_token(ctx, body["token"]),
                                                   body["token"]))


async def lookup_accessor(ctx: Context) -> Response:
    body = ctx.request.json_body({"accessor": (str,)}, required=("accessor",))
    return ok(ctx.request.request_id, _lookup_data(_by_accessor(ctx, body["accessor"]), None))


async def _revoke(ctx: Context, token: rec.TokenRecord, orphan_children: bool) -> Response:
    await ctx.core.submit(cmd_pb.Command(token_revoke=cmd_pb.TokenRevoke(
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
    if not token.ttl_ns:
        raise BadRequest("this token has no TTL: there is nothing to renew")
    if not token.renewable:
        raise BadRequest("lease is not renewable")
    increment = body.get("increment")
    try:
        extra = parse_duration(increment, "increment") if increment not in (None, "", 0) \
            else (token.issued_ttl_ns or token.ttl_ns)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    now = time.time_ns()
    # Capped at the system maximum from creation (Vault's max_ttl, 768h by default).
    ttl = min(now + extra - token.creation_time_ns, DEFAULT_TTL_NS)
    result = await ctx.core.submit(cmd_pb.Command(token_renew=cmd_pb.TokenRenew(
        accessor=token.accessor, ttl_ns=ttl)))
    if result.code != result.OK:
        raise BadRequest(result.message)
    token.ttl_ns = ttl
    block = auth_block(token_id, token)
    block["lease_duration"] = max(0, (token.creation_time_ns + ttl - now) // 10**9)
    return json_response(200, envelope(ctx.request.request_id, None, auth=block))


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


ROUTES = {
    "auth/token/renew": Route({"POST": renew}),
    "auth/token/renew-self": Route({"POST": renew_self}),
    "auth/token/renew-accessor": Route({"POST": renew_accessor}),
    "auth/token/create": Route({"POST": create}),
    "auth/token/create-orphan": Route({"POST": create_orphan}, sudo=True),
    "auth/token/lookup-self": Route({"GET": lookup_self}),
    "auth/token/lookup": Route({"POST": lookup, "GET": lookup}),
    "auth/token/lookup-accessor": Route({"POST": lookup_accessor}),
    "auth/token/revoke": Route({"POST": revoke}),
    "auth/token/revoke-self": Route({"POST": revoke_self}),
    "auth/token/revoke-accessor": Route({"POST": revoke_accessor}),
    "auth/token/revoke-orphan": Route({"POST": revoke_orphan}, sudo=True),
}
