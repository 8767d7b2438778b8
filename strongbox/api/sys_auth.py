"""Mount tables of a namespace: sys/mounts (secrets engines) and sys/auth (auth methods),
plus sys/locked-users (userpass lockouts: list, unlock).

`POST sys/mounts/:path {"type": "kv", "options": {"version": "2"}}` mounts a
secrets engine, `POST sys/auth/:path {"type": "userpass"}` enables an auth method;
which types exist, and what options they take, is `strongbox.registry`'s business
(`type: kv` without a version is KV version 1, as in Vault; `kv-v2` is version 2).
DELETE removes a mount with all its data (an auth method also revokes the tokens it
issued). `.../:path/tune` reads a mount's settings and changes its description, or
its `options.version` when the target backend can take the mount over (KV 1 -> 2).
Every change goes through Raft.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from strongbox import registry
from strongbox.api import sys_leases, sys_mount_read
from strongbox.auth import store as auth_store
from strongbox.backend.context import Context, Handler, Route
from strongbox.backend.contract import Backend
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest, MethodNotAllowed, NotFound
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.timefmt import parse_duration

SYSTEM_TTL_NS = 768 * 3600 * 10**9  # Vault's system default and maximum lease TTL

PATH_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}){0,3}/$")
# Vault's auth methods: one StrongBox does not have gets "not supported by StrongBox"
# rather than "unknown" (the registry is asked first, so a method added there wins).
VAULT_AUTH_TYPES = frozenset({
    "github", "ldap", "okta", "radius", "aws", "gcp", "azure", "oci", "alicloud",
    "cf", "kerberos", "saml", "scep", "spiffe", "oidc", "jwt", "kubernetes", "cert",
    "plugin"})
RESERVED_MOUNTS = ("sys/", "auth/", "cubbyhole/", "identity/")
MOUNT_SCHEMA = {"type": (str,), "description": (str, type(None)), "options": (dict, type(None)),
                "config": (dict, type(None)), "local": (bool, type(None)),
                "seal_wrap": (bool, type(None)), "plugin_name": (str, type(None)),
                "external_entropy_access": (bool, type(None))}


_mount_info = sys_mount_read.mount_info


async def get_mounts(ctx: Context) -> Response:
    mounts = {m.path: _mount_info(m) for m in ctx.core.store.mounts(ctx.request.namespace)}
    return ok(ctx.request.request_id, mounts)


async def get_auth(ctx: Context) -> Response:
    methods = {"token/": {**_mount_info(rec.MountRecord(
        path="token/", type="token", accessor="auth_token_root",
        description="token based credentials")), "uuid": ""}}
    for mount in ctx.core.store.auth_mounts(ctx.request.namespace):
        methods[mount.path] = _mount_info(mount)
    return ok(ctx.request.request_id, methods)


def _path(ctx: Context, prefix: str) -> str:
    path = ctx.request.path[len(prefix):].strip("/") + "/"
    if not PATH_RE.match(path) or path.startswith(RESERVED_MOUNTS) or path == "token/":
        raise BadRequest(f"invalid mount path {path!r}: use 1-4 segments of letters, digits, "
                         "'.', '_' or '-', and not sys/, auth/, token/, cubbyhole/ or "
                         "identity/")
    return path


def _raw_options(body: dict[str, Any]) -> dict[str, str]:
    options = body.get("options") or {}
    if not all(isinstance(k, str) and isinstance(v, str | int) and not isinstance(v, bool)
               for k, v in options.items()):
        raise BadRequest("'options' must map strings to strings")
    return {k: str(v) for k, v in options.items()}


def _engine(kind: str, options: dict[str, str]) -> Backend:
    backend = registry.secrets_engine(kind, options.get("version", ""))
    if backend is not None:
        return backend
    supported = ", ".join(registry.types("secret"))
    if registry.secrets_engine(kind) is not None:
        raise BadRequest(f"the 'version' option names no version of {kind} that StrongBox "
                         "serves")
    raise BadRequest(f"'type' is not a secrets engine type StrongBox serves; supported "
                     f"types: {supported}")


async def _enable(ctx: Context, path: str, mount: rec.MountRecord, auth: bool) -> Response:
    result = await ctx.submit(cmd_pb.Command(mount_enable=cmd_pb.MountEnable(
        namespace=ctx.request.namespace, mount=mount, auth=auth)))
    if result.code == result.CONFLICT:
        raise BadRequest(f"cannot mount at {path!r}: {result.message}")
    if result.code != result.OK:
        raise NotFound(result.message)
    return no_content()


async def enable_engine(ctx: Context) -> Response:
    path = _path(ctx, "sys/mounts/")
    body = ctx.request.json_body(MOUNT_SCHEMA, required=("type",))
    raw = _raw_options(body)
    backend = _engine(body["type"], raw)
    mount = rec.MountRecord(path=path, type=backend.type,
                            accessor=f"{backend.type}_{secrets.token_hex(4)}",
                            uuid=str(uuid.uuid4()), description=body.get("description") or "",
                            options=backend.options(raw), created_time_ns=ctx.now_ns())
    return await _enable(ctx, path, mount, auth=False)


def _tuned(ctx: Context, prefix: str) -> tuple[str, bool]:
    """(mount path, is an auth method) of a .../:path/tune request."""
    path = _path(ctx, prefix)
    return path[:-len("tune/")], prefix == "sys/auth/"


def _mount_record(ctx: Context, path: str, auth: bool) -> rec.MountRecord:
    store = ctx.core.store
    mount = store.auth_mount(ctx.request.namespace, path) if auth else \
        store.mount(ctx.request.namespace, path)
    if mount is None:
        raise BadRequest(f"no mount at {path!r}: see GET /v1/sys/{'auth' if auth else 'mounts'}")
    return mount


async def read_tune(ctx: Context, prefix: str) -> Response:
    path, auth = _tuned(ctx, prefix)
    mount = _mount_record(ctx, path, auth)
    return ok(ctx.request.request_id, {
        "description": mount.description,
        "default_lease_ttl": (mount.default_lease_ttl_ns or SYSTEM_TTL_NS) // 10**9,
        "max_lease_ttl": (mount.max_lease_ttl_ns or SYSTEM_TTL_NS) // 10**9,
        "force_no_cache": False, "options": dict(mount.options) or None,
        "token_type": "default-service"})


TUNE_SCHEMA = {"description": (str, type(None)), "options": (dict, type(None)),
               "default_lease_ttl": (str, int, type(None)),
               "max_lease_ttl": (str, int, type(None))}


def _lease_ttl(body: dict[str, Any], name: str, current_ns: int) -> int:
    """A tuned lease TTL in ns: absent keeps `current_ns`; "system" or 0 is the default."""
    value = body.get(name)
    if value is None or value == "":
        return current_ns
    if value in ("system", 0, "0"):
        return 0
    try:
        ns = parse_duration(value, name)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if ns > SYSTEM_TTL_NS:
        raise BadRequest(f"'{name}' cannot exceed the system maximum of 768h")
    return ns


async def write_tune(ctx: Context, prefix: str) -> Response:
    """Validate every field first, then change: a refused field changes nothing. The lease
    TTLs and the description go in one `MountTune`; an `options.version` change (a KV
    upgrade, moved in batches) comes after, once everything is known to be valid."""
    path, auth = _tuned(ctx, prefix)
    mount = _mount_record(ctx, path, auth)
    body = ctx.request.json_body(TUNE_SCHEMA)
    default_ns = _lease_ttl(body, "default_lease_ttl", mount.default_lease_ttl_ns)
    max_ns = _lease_ttl(body, "max_lease_ttl", mount.max_lease_ttl_ns)
    if default_ns and max_ns and default_ns > max_ns:
        raise BadRequest("'default_lease_ttl' cannot be greater than 'max_lease_ttl'")
    upgrade, options = None, None
    if body.get("options") is not None and not auth:
        upgrade, options = _tune_options(ctx, mount, _raw_options(body))  # changes nothing
    description = body.get("description")
    changed_ttls = (default_ns, max_ns) != (mount.default_lease_ttl_ns, mount.max_lease_ttl_ns)
    if changed_ttls or options is not None or (description is not None
                                               and description != mount.description):
        await ctx.submit(cmd_pb.Command(mount_tune=cmd_pb.MountTune(
            namespace=ctx.request.namespace, path=path, auth=auth,
            description=mount.description if description is None else description,
            set_lease_ttls=True, default_lease_ttl_ns=default_ns, max_lease_ttl_ns=max_ns,
            set_options=options is not None, options=options or {})))
    if upgrade is not None:
        await upgrade()
    return no_content()


def _tune_options(ctx: Context, mount: rec.MountRecord, raw: dict[str, str]
                  ) -> tuple[Callable[[], Awaitable[None]] | None, dict[str, str] | None]:
    """Validate an options tune: (the version change to run (KV 1 -> 2), if any; the
    new options to store when they change without a version change, else None).

    Changing `options.version` hands the mount to the target version's backend."""
    current = dict(mount.options)
    version = raw.get("version", current.get("version", ""))
    if version == current.get("version", ""):
        backend = registry.for_mount(mount.type, current, auth=False)
        merged = backend.options({**current, **raw}) if backend is not None else current
        return None, (merged if merged != current else None)
    target = registry.secrets_engine(mount.type, version)
    if target is None or target.upgrade is None:  # only KV 2 takes over (from 1)
        raise BadRequest(f"a {mount.type} mount at version {current.get('version')!r} cannot "
                         "be changed to the requested version")
    options = target.options({**current, **raw})
    take_over = target.upgrade

    async def run() -> None:
        fresh = _mount_record(ctx, mount.path, auth=False)  # after the TTL tune, if any
        await take_over(ctx, fresh, options)
    return run, None


def _with_tune(prefix: str, handlers: dict[str, Handler], sudo: bool) -> Route:
    """A prefix route whose `.../tune` paths read and change a mount's settings."""
    async def dispatch(ctx: Context) -> Response:
        tune = ctx.request.path.rstrip("/").endswith("/tune")
        method = ctx.request.method
        if tune and method == "GET":
            return await read_tune(ctx, prefix)
        if tune and method in ("POST", "PUT"):
            return await write_tune(ctx, prefix)
        handler = handlers.get("POST" if method == "PUT" else method)
        if tune or handler is None:
            allow = ("GET", "POST") if tune else tuple(sorted(handlers))
            raise MethodNotAllowed(f"{method} is not supported on /v1/{ctx.request.path}; "
                                   f"supported: {', '.join(allow)}", allow)
        return await handler(ctx)
    return Route({m: dispatch for m in ("GET", "POST", "PUT", "DELETE")}, sudo=sudo)


async def disable_engine(ctx: Context) -> Response:
    path = _path(ctx, "sys/mounts/")
    mount = ctx.core.store.mount(ctx.request.namespace, path)
    if mount is not None:
        await sys_leases.before_disable(ctx, mount)  # Vault revokes a mount's leases first
    await ctx.submit(cmd_pb.Command(mount_disable=cmd_pb.MountDisable(
        namespace=ctx.request.namespace, path=path)))
    return no_content()


async def enable_auth(ctx: Context) -> Response:
    path = _path(ctx, "sys/auth/")
    body = ctx.request.json_body(MOUNT_SCHEMA, required=("type",))
    kind = body["type"]
    if registry.auth_method(kind) is None:
        supported = ", ".join(registry.types("auth"))
        if kind in VAULT_AUTH_TYPES:
            raise BadRequest(f"auth method type {kind!r} is a Vault auth method that is not "
                             f"supported by StrongBox; supported types: {supported}")
        raise BadRequest(f"'type' is not an auth method type StrongBox serves; supported "
                         f"types: {supported}")
    mount = rec.MountRecord(path=path, type=kind, accessor=f"auth_{kind}_{secrets.token_hex(4)}",
                            uuid=str(uuid.uuid4()), description=body.get("description") or "",
                            created_time_ns=ctx.now_ns())
    return await _enable(ctx, path, mount, auth=True)


async def disable_auth(ctx: Context) -> Response:
    path = _path(ctx, "sys/auth/")
    await ctx.submit_revocation(cmd_pb.Command(mount_disable=cmd_pb.MountDisable(
        namespace=ctx.request.namespace, path=path, auth=True)))
    return no_content()


def _userpass_mount(ctx: Context, accessor: str) -> rec.MountRecord:
    for mount in ctx.core.store.auth_mounts(ctx.request.namespace):
        if mount.accessor == accessor and mount.type == "userpass":
            return mount
    raise NotFound(f"no userpass auth method has the accessor {accessor!r}")


async def locked_users(ctx: Context) -> Response:
    now, out = ctx.now_ns(), []
    for mount in ctx.core.store.auth_mounts(ctx.request.namespace):
        if mount.type != "userpass":
            continue
        prefix = auth_store.entry_key(ctx, mount, "lock", "")
        users = [key.decode() for key, raw in auth_store.scan(ctx, prefix)
                 if rec.LoginState.FromString(raw).locked_until_ns > now]
        if users:
            out.append({"mount_accessor": mount.accessor, "mount_path": "auth/" + mount.path,
                        "counts": len(users), "locked_users": [
                            {"alias_identifier": name, "mount_accessor": mount.accessor}
                            for name in users]})
    return ok(ctx.request.request_id, {"by_namespace": [{
        "namespace_id": ctx.request.namespace or "root",
        "namespace_path": ctx.request.namespace, "counts": sum(m["counts"] for m in out),
        "mount_accessors": out}], "total": sum(m["counts"] for m in out)})


async def unlock_user(ctx: Context) -> Response:
    """POST sys/locked-users/:mount_accessor/unlock/:name (Vault 1.13's operator unlock)."""
    rest = ctx.request.path[len("sys/locked-users/"):]
    accessor, _, name = rest.partition("/unlock/")
    if not accessor or not name:
        raise BadRequest("use sys/locked-users/<mount accessor>/unlock/<user name>")
    mount = _userpass_mount(ctx, accessor)
    key = auth_store.entry_key(ctx, mount, "lock", name.lower())
    await ctx.submit(cmd_pb.Command(mount_write=cmd_pb.MountWrite(deletes=[key])))
    return no_content()


ROUTES = {
    "sys/mounts": Route({"GET": get_mounts}),
    "sys/auth": Route({"GET": get_auth}),
    "sys/locked-users": Route({"GET": locked_users}, sudo=True),
}
PREFIX_ROUTES = {
    "sys/mounts/": _with_tune("sys/mounts/", {"POST": enable_engine, "DELETE": disable_engine,
                                              "GET": sys_mount_read.read_mount}, sudo=False),
    "sys/auth/": _with_tune("sys/auth/", {"POST": enable_auth, "DELETE": disable_auth,
                                          "GET": sys_mount_read.read_auth}, sudo=True),
    "sys/locked-users/": Route({"POST": unlock_user}, sudo=True),
}
