"""ACL policy endpoints (Vault): sys/policies/acl[/:name], the older sys/policy[/:name],
and sys/capabilities-self.

Policies are validated here (a parse error names the line and column) and stored as
written; every node compiles them into ACLs on demand (cached per policy set until
any policy changes).
"""

from __future__ import annotations

from strongbox.backend.context import Context, Route, namespace_prefix
from strongbox.backend.request import LIST
from strongbox.backend.response import Response, envelope, json_response, no_content, ok
from strongbox.errors import BadRequest, NotFound, PermissionDenied
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.policy import (
    DEFAULT_POLICY_NAME,
    ROOT_POLICY_NAME,
    check_deletable,
    normalize_policy_name,
    parse_policy,
)


def _name(ctx: Context, prefix: str) -> str:
    return normalize_policy_name(ctx.request.path[len(prefix):])


async def list_policies(ctx: Context) -> Response:
    names = sorted([*ctx.core.store.policy_names(ctx.request.namespace), ROOT_POLICY_NAME])
    return ok(ctx.request.request_id, {"keys": names, "policies": names})


async def list_legacy(ctx: Context) -> Response:
    """GET sys/policy: Vault's older answer has `keys`/`policies` at the top level too."""
    names = sorted([*ctx.core.store.policy_names(ctx.request.namespace), ROOT_POLICY_NAME])
    body = {"keys": names, "policies": names}
    return json_response(200, {**envelope(ctx.request.request_id, body), **body})


async def read_policy(ctx: Context, prefix: str, legacy: bool) -> Response:
    name = _name(ctx, prefix)
    record = ctx.core.store.policy(ctx.request.namespace, name)
    if record is None:
        raise NotFound(f"no policy named {name!r}")
    if legacy:  # sys/policy/:name answers Vault's older shape, at the top level too
        body = {"name": name, "rules": record.text}
        return json_response(200, {**body, "data": body, "request_id": ctx.request.request_id})
    return ok(ctx.request.request_id, {"name": name, "policy": record.text})


async def write_policy(ctx: Context, prefix: str) -> Response:
    name = _name(ctx, prefix)
    if name == ROOT_POLICY_NAME:
        raise BadRequest("the root policy cannot be changed")
    body = ctx.request.json_body({"policy": (str,), "rules": (str,)})
    text = body.get("policy", body.get("rules"))
    if not text:
        raise BadRequest("missing required field 'policy' (the policy text, HCL or JSON)")
    parse_policy(name, text)  # PolicyParseError (400) names the line and column
    now = ctx.now_ns()
    result = await ctx.submit(cmd_pb.Command(policy_write=cmd_pb.PolicyWrite(
        policy=rec.PolicyRecord(name=name, text=text, created_time_ns=now,
                                updated_time_ns=now), namespace=ctx.request.namespace)))
    if result.code != result.OK:
        raise NotFound(result.message)
    return no_content()


async def delete_policy(ctx: Context, prefix: str) -> Response:
    """Vault deletes any name (and a missing one) with 204. A name we would never store
    (Vault accepts more characters than we write) is deleted the same way: nothing to do."""
    raw = ctx.request.path[len(prefix):]
    try:
        name = _name(ctx, prefix)
    except BadRequest:
        if raw.strip().lower() in (ROOT_POLICY_NAME, DEFAULT_POLICY_NAME):
            raise
        return no_content()
    check_deletable(name)
    await ctx.submit(cmd_pb.Command(policy_delete=cmd_pb.PolicyDelete(
        name=name, namespace=ctx.request.namespace)))
    return no_content()


def _acl_handlers(prefix: str, legacy: bool) -> Route:
    async def get(ctx: Context) -> Response:
        return await read_policy(ctx, prefix, legacy)

    async def put(ctx: Context) -> Response:
        return await write_policy(ctx, prefix)

    async def delete(ctx: Context) -> Response:
        return await delete_policy(ctx, prefix)

    return Route({"GET": get, "PUT": put, "DELETE": delete})


async def capabilities_self(ctx: Context) -> Response:
    if ctx.token is None:
        raise PermissionDenied()
    if ctx.request.method == "GET":
        paths = [p for p in ctx.request.query.get("paths", "").split(",") if p]
    else:
        body = ctx.request.json_body({"paths": (list,), "path": (str,)})
        paths = body.get("paths") or ([body["path"]] if body.get("path") else [])
    if not paths or not all(isinstance(p, str) and p for p in paths):
        raise BadRequest("send 'paths': a non-empty list of paths")
    policies = tuple(ctx.token.policies)
    result: dict[str, list[str]] = {}
    prefix = namespace_prefix(ctx.token.namespace, ctx.request.namespace)
    for path in paths:
        if ROOT_POLICY_NAME in policies:
            result[path] = ["root"]
        else:
            acl = ctx.core.acl_for(ctx.token.namespace, policies)
            result[path] = sorted(acl.capabilities(prefix + path.strip("/")))
    if len(paths) == 1:
        result = {**result, "capabilities": result[paths[0]]}
    return ok(ctx.request.request_id, result)


async def list_acl(ctx: Context) -> Response:
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on sys/policies/acl")
    return await list_policies(ctx)


ROUTES: dict[str, Route] = {
    "sys/policies/acl": Route({"LIST": list_acl, "GET": list_acl}),
    "sys/policy": Route({"GET": list_legacy, "LIST": list_legacy}),
    "sys/capabilities-self": Route({"PUT": capabilities_self, "GET": capabilities_self}),
}
PREFIX_ROUTES: dict[str, Route] = {
    "sys/policies/acl/": _acl_handlers("sys/policies/acl/", legacy=False),
    "sys/policy/": _acl_handlers("sys/policy/", legacy=True),
}
