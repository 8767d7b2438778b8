"""Reading one mount back: `GET sys/mounts/:path`, `GET sys/auth/:path` (Terraform reads a
mount after creating it) and `sys/internal/ui/mounts[/:path]` (the `vault kv` CLI and
consul-template ask it first for a mount's KV version).

`sys/internal/ui/mounts` needs no token, as in Vault: without one it lists nothing;
with one, the mounts on which the token's policies grant anything. The `:path` form
needs a token that can do something under that mount (Vault's `hasMountAccess`), so a
token limited to `secret/data/app/*` can still learn that `secret/` is KV version 2.
"""

from __future__ import annotations

from typing import Any

from strongbox.backend.context import Context, Route, namespace_prefix
from strongbox.backend.response import Response, ok
from strongbox.errors import BadRequest, PermissionDenied, StrongBoxError
from strongbox.pb import records_pb2 as rec
from strongbox.policy import ROOT_POLICY_NAME

SYSTEM_TTL_S = 768 * 3600


def mount_info(mount: rec.MountRecord) -> dict[str, Any]:
    """A mount as `sys/mounts` lists it (Vault's field set)."""
    return {"type": mount.type, "description": mount.description, "accessor": mount.accessor,
            "uuid": mount.uuid, "options": dict(mount.options) or None,
            "config": {"default_lease_ttl": mount.default_lease_ttl_ns // 10**9,
                       "max_lease_ttl": mount.max_lease_ttl_ns // 10**9,
                       "force_no_cache": False, "token_type": "default-service"},
            "local": False, "seal_wrap": False, "external_entropy_access": False,
            "plugin_version": "", "running_plugin_version": "", "running_sha256": "",
            "deprecation_status": "supported"}


def _mount_path(rest: str) -> str:
    return rest.strip("/") + "/"


async def read_mount(ctx: Context) -> Response:
    """GET sys/mounts/:path: one secrets engine (Vault 1.10+); 400 when nothing is there."""
    path = _mount_path(ctx.request.path[len("sys/mounts/"):])
    mount = ctx.core.store.mount(ctx.request.namespace, path)
    if mount is None:
        raise BadRequest(f"No secret engine mount at {path}")
    return ok(ctx.request.request_id, mount_info(mount))


async def read_auth(ctx: Context) -> Response:
    """GET sys/auth/:path: one auth method; 400 when nothing is there (Vault)."""
    path = _mount_path(ctx.request.path[len("sys/auth/"):])
    mount = ctx.core.store.auth_mount(ctx.request.namespace, path)
    if mount is None:
        raise BadRequest(f"No auth engine at auth/{path}")
    return ok(ctx.request.request_id, mount_info(mount))


def _token(ctx: Context) -> rec.TokenRecord | None:
    if not ctx.request.token:
        return None
    try:
        return ctx.core.authenticate(ctx.request.token)
    except StrongBoxError:
        return None


def _can_reach(ctx: Context, token: rec.TokenRecord, mount_path: str, inner: str) -> bool:
    """Anything granted on the mount or, for KV v2, on its data/metadata of `inner`."""
    if ROOT_POLICY_NAME in token.policies:
        return True
    acl = ctx.core.acl_for(token.namespace, tuple(token.policies))
    prefix = namespace_prefix(token.namespace, ctx.request.namespace)
    candidates = [mount_path + inner, mount_path + "data/" + inner,
                  mount_path + "metadata/" + inner]
    return any(acl.capabilities(prefix + p.rstrip("/")) - {"deny"} for p in candidates) \
        or acl.has_access_under(prefix + mount_path)


async def ui_mounts(ctx: Context) -> Response:
    token = _token(ctx)
    secret: dict[str, Any] = {}
    auth: dict[str, Any] = {}
    if token is not None:
        for mount in ctx.core.store.mounts(ctx.request.namespace):
            if _can_reach(ctx, token, mount.path, ""):
                secret[mount.path] = mount_info(mount)
        for mount in ctx.core.store.auth_mounts(ctx.request.namespace):
            if _can_reach(ctx, token, "auth/" + mount.path, ""):
                auth[mount.path] = mount_info(mount)
    return ok(ctx.request.request_id, {"secret": secret, "auth": auth})


async def ui_mount(ctx: Context) -> Response:
    """The mount serving a path: `type`, `options.version`, `path` (what `vault kv` reads)."""
    token = _token(ctx)
    if token is None:
        raise PermissionDenied()
    rest = ctx.request.path[len("sys/internal/ui/mounts/"):].strip("/")
    mounts = sorted(ctx.core.store.mounts(ctx.request.namespace), key=lambda m: -len(m.path))
    for mount in mounts:
        if (rest + "/").startswith(mount.path):
            inner = rest[len(mount.path):]
            if not _can_reach(ctx, token, mount.path, inner):
                raise PermissionDenied(
                    f"preflight capability check returned 403, please ensure client's "
                    f"policies grant access to path \"{mount.path}\"")
            return ok(ctx.request.request_id, {**mount_info(mount), "path": mount.path})
    raise BadRequest(f"no mount found for path {rest!r}"[:200])


ROUTES: dict[str, Route] = {
    "sys/internal/ui/mounts": Route({"GET": ui_mounts}, auth=False),
}
PREFIX_ROUTES: dict[str, Route] = {
    "sys/internal/ui/mounts/": Route({"GET": ui_mount}, auth=False),
}
