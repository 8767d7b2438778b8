"""Dynamic and static roles: `roles/:name`, `creds/:name`, `static-roles/:name`,
`static-creds/:name`, `rotate-role/:name`.

`creds/:role` makes a new PostgreSQL user with the role's creation statements and
answers Vault's lease envelope (`lease_id`, `lease_duration`, `renewable`,
`data.username`, `data.password`). The lease is written before the user is made
(see leases.py); the mount's `max_leases` and lease-count quotas cap them (quota.py).

A static role manages the password of an existing user. Rotation is two phases as
for the root password (pending through Raft, set + login check in PostgreSQL,
commit through Raft). With `alternate_username` (ours), two users take turns: a
rotation changes the password of the user *not* handed out and then hands that
one out, so a client holding the previous credentials keeps working until the
next rotation, a whole `rotation_period` later.
"""

from __future__ import annotations

import asyncio
from typing import Any

from strongbox.backend.context import Context
from strongbox.backend.response import Response, json_response, no_content, ok
from strongbox.backend.storage import Batch, MountStorage
from strongbox.engines.database import http_config, leases, quota, store, templates
from strongbox.engines.database.http_config import MOUNT_TYPE, name_of
from strongbox.engines.database.models import Lease, Role, StaticRole
from strongbox.engines.database.store import ROLE, STATIC, view_of
from strongbox.errors import BadRequest, NotFound, StrongBoxError

DEFAULT_USERNAME = ("v-{{.DisplayName | truncate 8}}-{{.RoleName | truncate 8}}-"
                    "{{random 20}}-{{unix_time}}")


def _now(ctx: Context) -> int:
    return ctx.now_ns() // 1_000_000_000


async def write_role(ctx: Context) -> Response:
    view, name = view_of(ctx), name_of(ctx)
    role = Role.parse(name, ctx.request.raw_json(), store.role(view, name))
    await view.write(Batch().put(store.encode(role), ROLE, name))
    return no_content()


async def read_role(ctx: Context) -> Response:
    role = store.role(view_of(ctx), name_of(ctx))
    if role is None:
        raise NotFound("")
    return ok(ctx.request.request_id, role.describe(), MOUNT_TYPE)


async def delete_role(ctx: Context) -> Response:
    await view_of(ctx).write(Batch().delete(ROLE, name_of(ctx)))
    return no_content()


def _listing(ctx: Context, kind: str) -> Response:
    found = store.names(view_of(ctx), kind)
    if not found:
        raise NotFound("")
    return ok(ctx.request.request_id, {"keys": found}, MOUNT_TYPE)


async def list_roles(ctx: Context) -> Response:
    return _listing(ctx, ROLE)


async def list_static_roles(ctx: Context) -> Response:
    return _listing(ctx, STATIC)


async def creds(ctx: Context) -> Response:
    view, name, now = view_of(ctx), name_of(ctx), _now(ctx)
    role = store.role(view, name)
    if role is None:
        raise BadRequest(f"unknown role: {name}")
    conn, plugin = store.for_role(view, name, role.db_name)
    quota.check(ctx.core, view)
    default, maximum = leases.ttls(view, role)
    display = ctx.token.display_name if ctx.token is not None else "token"
    username = templates.username_template(conn.username_template or DEFAULT_USERNAME,
                                           display, name, leases.when(now))
    password = templates.generate_password(conn.policy())
    key = leases.new_key(name)
    record = Lease(lease_id=leases.lease_id(view, key), role=name, db_name=role.db_name,
                   username=username, issue_time=now, expire_time=now + default,
                   max_expire=now + maximum, namespace=ctx.request.namespace,
                   token_accessor=ctx.token.accessor if ctx.token is not None else "")
    await view.write(store.put_lease(Batch(), record, key))  # write-ahead: see leases.py
    try:
        await plugin.create_user(role.creation_statements, username, password,
                                 leases.when(record.expire_time))
    except StrongBoxError:
        await _undo(view, plugin, role, record, key)
        raise
    body = {"request_id": ctx.request.request_id, "lease_id": record.lease_id,
            "renewable": True, "lease_duration": default,
            "data": {"username": username, "password": password}, "wrap_info": None,
            "warnings": None, "auth": None, "mount_type": MOUNT_TYPE}
    return json_response(200, body)


async def _undo(view: MountStorage, plugin: Any, role: Role, record: Lease, key: str) -> None:
    try:
        await plugin.rollback_user(role.rollback_statements, record.username)
    except StrongBoxError:
        return  # the lease stays: its expiry revokes whatever was made
    await view.write(store.drop_lease(Batch(), record, key))


# -- static roles ----------------------------------------------------------------------

async def rotate_static(view: MountStorage, name: str, now: int,
                        only_if_due: bool = False) -> StaticRole | None:
    """One two-phase rotation of static role `name` (also finishing an interrupted one);
    with `only_if_due` (the worker), only when it is due or stuck between phases."""
    async with store.rotation_lock(view, STATIC, name):
        role = store.static_role(view, name)
        if role is None:
            raise NotFound(f"no static role named {name!r}")
        if only_if_due and not (role.due(now) or role.pending_password):
            return None
        return await _rotate_static(view, role, now)


async def _rotate_static(view: MountStorage, role: StaticRole, now: int) -> StaticRole:
    name = role.name
    role = await finish_static(view, role, now)
    conn, plugin = store.for_role(view, name, role.db_name)
    user, new = role.next_user(), templates.generate_password(conn.policy())
    role.pending_user, role.pending_password, role.pending_since = user, new, now
    await view.write(Batch().put(store.encode(role), STATIC, name))  # phase 1
    try:  # phase 2
        await asyncio.wait_for(http_config.set_and_check(plugin, user, new,
                                                         role.rotation_statements),
                               http_config.PHASE_TIMEOUT_S)
    except (StrongBoxError, TimeoutError):
        await finish_static(view, role, now)
        raise
    return await _commit_static(view, role, now)


async def _commit_static(view: MountStorage, role: StaticRole, now: int) -> StaticRole:
    if role.alternate_username and role.active and role.pending_user != role.active:
        role.previous_password = role.password
    role.active, role.password = role.pending_user, role.pending_password
    role.pending_user = role.pending_password = ""
    role.rotated(now)
    await view.write(Batch().put(store.encode(role), STATIC, role.name))  # phase 3
    return role


async def finish_static(view: MountStorage, role: StaticRole, now: int) -> StaticRole:
    """Resolve a rotation interrupted between its phases: keep whichever password works."""
    if not role.pending_password:
        return role
    _, plugin = store.for_role(view, role.name, role.db_name)
    try:
        await plugin.login_check(role.pending_user, role.pending_password)
    except StrongBoxError:
        role.pending_user = role.pending_password = ""
        await view.write(Batch().put(store.encode(role), STATIC, role.name))
        return role
    return await _commit_static(view, role, now)


async def write_static_role(ctx: Context) -> Response:
    view, name = view_of(ctx), name_of(ctx)
    current = store.static_role(view, name)
    role = StaticRole.parse(name, ctx.request.raw_json(), current)
    store.for_role(view, name, role.db_name)
    if current is None:
        role.rotated(_now(ctx))  # not due before its first rotation below
    await view.write(Batch().put(store.encode(role), STATIC, name))
    if current is None:  # Vault sets a password at creation; a role that cannot is not kept
        try:
            await rotate_static(view, name, _now(ctx))
        except StrongBoxError:
            await view.write(Batch().delete(STATIC, name))
            raise
    return no_content()


async def read_static_role(ctx: Context) -> Response:
    role = store.static_role(view_of(ctx), name_of(ctx))
    if role is None:
        raise NotFound("")
    return ok(ctx.request.request_id, role.describe(_now(ctx)), MOUNT_TYPE)


async def delete_static_role(ctx: Context) -> Response:
    await view_of(ctx).write(Batch().delete(STATIC, name_of(ctx)))
    return no_content()


async def static_creds(ctx: Context) -> Response:
    role = store.static_role(view_of(ctx), name_of(ctx))
    if role is None or not role.active:
        raise BadRequest(f"unknown static role: {name_of(ctx)}")
    now = _now(ctx)
    data = {"username": role.active, "password": role.password,
            "last_vault_rotation": role.describe(now)["last_vault_rotation"],
            "rotation_period": role.rotation_period, "ttl": role.ttl(now)}
    if role.rotation_schedule:
        data["rotation_schedule"] = role.rotation_schedule
    return ok(ctx.request.request_id, data, MOUNT_TYPE)


async def rotate_role(ctx: Context) -> Response:
    await rotate_static(view_of(ctx), name_of(ctx), _now(ctx))
    return no_content()
