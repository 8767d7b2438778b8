"""`sys/leases/*` (and Vault's older `sys/renew`, `sys/revoke`): leases of any engine.

A lease id starts with the path of the mount that issued it
("database/creds/app/<id>"); the mount is found by the longest such prefix in the
request's namespace and its backend's `LeaseHooks` do the work with that mount's
context. Vault's shapes:

- `PUT sys/leases/lookup {lease_id}` → `data: {id, issue_time, expire_time,
  last_renewal, renewable, ttl}`; `LIST sys/leases/lookup/<prefix>` (sudo) → `keys`;
- `PUT sys/leases/renew {lease_id, increment}` (or `renew/<lease_id>`) → top-level
  `lease_id`, `renewable`, `lease_duration`;
- `PUT sys/leases/revoke {lease_id}` (or `revoke/<lease_id>`) → 204;
- `PUT sys/leases/revoke-prefix/<prefix>` and `revoke-force/<prefix>` (sudo) → 204;
  `revoke-force` deletes leases whose revocation fails too;
- `POST sys/leases/tidy` (sudo) → 204: nothing to tidy (the expiry queue is exact).

`before_disable(ctx, mount)` revokes every lease of a mount that is being disabled
(the disable fails, saying why, when one cannot be revoked: use revoke-force).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from strongbox import registry
from strongbox.backend.context import Context, Route
from strongbox.backend.contract import LeaseHooks
from strongbox.backend.response import Response, json_response, no_content, ok
from strongbox.errors import BadRequest, NotFound
from strongbox.pb import records_pb2 as rec
from strongbox.timefmt import parse_duration


def _hooks(mount: rec.MountRecord) -> LeaseHooks | None:
    backend = registry.for_mount(mount.type, dict(mount.options), auth=False)
    return backend.leases if backend is not None else None


def _for_lease(ctx: Context, lease_id: str) -> tuple[Context, LeaseHooks, str]:
    """The context of the mount that issued `lease_id`, its hooks, and the key after
    the mount path."""
    if not lease_id:
        raise BadRequest("'lease_id' is required")
    mounts = sorted(ctx.core.store.mounts(ctx.request.namespace), key=lambda m: -len(m.path))
    for mount in mounts:
        if lease_id.startswith(mount.path):
            hooks = _hooks(mount)
            if hooks is None:
                break
            inner = replace(ctx, mount=mount, path=lease_id[len(mount.path):],
                            secrets_engine=True, _storage=None)
            return inner, hooks, lease_id[len(mount.path):]
    raise BadRequest("invalid lease: no mount that issues leases matches this lease id")


def _lease_id(ctx: Context, prefix: str) -> str:
    path = ctx.request.path
    from_path = path[len(prefix):] if path.startswith(prefix) else ""
    body = ctx.request.json_body({"lease_id": (str,), "url_lease_id": (str,),
                                  "increment": (str, int), "sync": (bool,)})
    value = from_path or body.get("lease_id") or body.get("url_lease_id") or ""
    return str(value)


async def lookup(ctx: Context) -> Response:
    inner, hooks, key = _for_lease(ctx, _lease_id(ctx, "sys/leases/lookup/"))
    return ok(ctx.request.request_id, hooks.lookup(inner, key))


async def list_leases(ctx: Context) -> Response:
    prefix = ctx.request.path[len("sys/leases/lookup/"):]
    inner, hooks, key = _for_lease(ctx, prefix)
    return ok(ctx.request.request_id, {"keys": hooks.children(inner, key)})


def _increment(ctx: Context) -> int:
    raw: Any = ctx.request.raw_json().get("increment")
    if raw in (None, "", 0):
        return 0
    try:
        return parse_duration(raw, "increment") // 1_000_000_000
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


async def renew(ctx: Context) -> Response:
    lease_id = _lease_id(ctx, "sys/leases/renew/") or _lease_id(ctx, "sys/renew/")
    inner, hooks, key = _for_lease(ctx, lease_id)
    answer = await hooks.renew(inner, key, _increment(ctx))
    return json_response(200, {"request_id": ctx.request.request_id, **answer})


async def revoke(ctx: Context) -> Response:
    lease_id = _lease_id(ctx, "sys/leases/revoke/") or _lease_id(ctx, "sys/revoke/")
    inner, hooks, key = _for_lease(ctx, lease_id)
    await hooks.revoke(inner, key, False)
    return no_content()


async def _revoke_prefix(ctx: Context, route: str, force: bool) -> Response:
    prefix = ctx.request.path[len(route):]
    if not prefix:
        raise BadRequest("a prefix is required after the path, e.g. "
                         f"{route}database/creds/app/")
    try:
        inner, hooks, key = _for_lease(ctx, prefix)
    except BadRequest:
        raise NotFound(f"no mount that issues leases matches the prefix {prefix!r}") from None
    await hooks.revoke_prefix(inner, key, force)
    return no_content()


async def revoke_prefix(ctx: Context) -> Response:
    route = "sys/leases/revoke-prefix/" if ctx.request.path.startswith("sys/leases/") \
        else "sys/revoke-prefix/"
    return await _revoke_prefix(ctx, route, force=False)


async def revoke_force(ctx: Context) -> Response:
    route = "sys/leases/revoke-force/" if ctx.request.path.startswith("sys/leases/") \
        else "sys/revoke-force/"
    return await _revoke_prefix(ctx, route, force=True)


async def tidy(ctx: Context) -> Response:
    return no_content()


async def before_disable(ctx: Context, mount: rec.MountRecord) -> None:
    hooks = _hooks(mount)
    if hooks is None:
        return
    inner = replace(ctx, mount=mount, path="", secrets_engine=True, _storage=None)
    await hooks.revoke_prefix(inner, "", False)


ROUTES: dict[str, Route] = {
    "sys/leases/lookup": Route({"PUT": lookup}),
    "sys/leases/renew": Route({"PUT": renew}),
    "sys/renew": Route({"PUT": renew}),
    "sys/leases/revoke": Route({"PUT": revoke}),
    "sys/revoke": Route({"PUT": revoke}),
    "sys/leases/tidy": Route({"POST": tidy}, sudo=True),
}
PREFIX_ROUTES: dict[str, Route] = {
    "sys/leases/lookup/": Route({"LIST": list_leases}, sudo=True),
    "sys/leases/renew/": Route({"PUT": renew}),
    "sys/renew/": Route({"PUT": renew}),
    "sys/leases/revoke-prefix/": Route({"PUT": revoke_prefix}, sudo=True),
    "sys/revoke-prefix/": Route({"PUT": revoke_prefix}, sudo=True),
    "sys/leases/revoke-force/": Route({"PUT": revoke_force}, sudo=True),
    "sys/revoke-force/": Route({"PUT": revoke_force}, sudo=True),
    "sys/leases/revoke/": Route({"PUT": revoke}),
    "sys/revoke/": Route({"PUT": revoke}),
}
