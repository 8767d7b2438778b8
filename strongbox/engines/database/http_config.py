"""`database/config/:name`, `reset/:name` and `rotate-root/:name`.

A connection is verified (connect + `SELECT 1`) before it is stored unless
`verify_connection=false`; its root password is never returned. `rotate-root` is
two phases, so a crash or a leader change in between never leaves a password that
nothing knows:

1. a new password is stored through Raft as `pending_password` (the old one stays);
2. it is set in PostgreSQL (`ALTER ROLE ... PASSWORD`, or
   `root_rotation_statements`) and a fresh login with it is checked;
3. it replaces the old one through Raft and `pending_password` is cleared.

`finish_root_rotation` (the leader's worker, and the next rotate-root) resolves an
interrupted one: whichever of the pending and the stored password logs in is kept.
After a rotation no one can read the root password: it is in no answer.
"""

from __future__ import annotations

import asyncio
import logging

from strongbox.backend.context import Context
from strongbox.backend.response import Response, no_content, ok
from strongbox.backend.storage import Batch, MountStorage
from strongbox.engines.database import store, templates
from strongbox.engines.database.models import Connection
from strongbox.engines.database.postgres import PostgresPlugin
from strongbox.engines.database.store import CONN, view_of
from strongbox.errors import BadRequest, NotFound, StrongBoxError

log = logging.getLogger("strongbox.database")
PHASE_TIMEOUT_S = 10.0  # phase 2 (set + login check) gives up after this; see worker.py
MOUNT_TYPE = "database"


def name_of(ctx: Context) -> str:
    assert ctx.match is not None
    return ctx.match["name"]


async def write_config(ctx: Context) -> Response:
    view, name = view_of(ctx), name_of(ctx)
    current = store.connection(view, name)
    conn = Connection.parse(name, ctx.request.raw_json(), current)
    if conn.verify_connection:
        probe = PostgresPlugin(conn.pg())
        try:
            await probe.verify()
        finally:
            await probe.close()
    await view.write(Batch().put(store.encode(conn), CONN, name))
    store.forget_plugin(view, name)
    return no_content()


async def read_config(ctx: Context) -> Response:
    conn = store.existing_connection(view_of(ctx), name_of(ctx))
    return ok(ctx.request.request_id, conn.describe(), MOUNT_TYPE)


async def delete_config(ctx: Context) -> Response:
    view, name = view_of(ctx), name_of(ctx)
    await view.write(Batch().delete(CONN, name))
    store.forget_plugin(view, name)
    return no_content()


async def list_config(ctx: Context) -> Response:
    found = store.names(view_of(ctx), CONN)
    if not found:
        raise NotFound("")
    return ok(ctx.request.request_id, {"keys": found}, MOUNT_TYPE)


async def reset(ctx: Context) -> Response:
    view, name = view_of(ctx), name_of(ctx)
    store.existing_connection(view, name)
    store.forget_plugin(view, name)
    return no_content()


async def _commit(view: MountStorage, conn: Connection, password: str) -> None:
    conn.password, conn.pending_password = password, ""
    conn.generation += 1
    await view.write(Batch().put(store.encode(conn), CONN, conn.name))
    store.forget_plugin(view, conn.name)


async def finish_root_rotation(view: MountStorage, conn: Connection) -> bool:
    """Resolve a rotation interrupted between its phases; True if there was one."""
    if not conn.pending_password:
        return False
    checker = store.plugin(view, conn)
    try:
        await checker.login_check(conn.username, conn.pending_password)
    except StrongBoxError:
        log.warning("database: connection %r: the interrupted root rotation had not set "
                    "the new password; keeping the old one", conn.name)
        await _commit(view, conn, conn.password)
        return True
    log.warning("database: connection %r: completing an interrupted root rotation",
                conn.name)
    await _commit(view, conn, conn.pending_password)
    return True


async def set_and_check(plugin: PostgresPlugin, user: str, password: str,
                         statements: list[str]) -> None:
    await plugin.set_password(user, password, statements or None)
    await plugin.login_check(user, password)


async def rotate_root(ctx: Context) -> Response:
    view, name = view_of(ctx), name_of(ctx)
    async with store.rotation_lock(view, CONN, name):
        await _rotate_root(ctx, view, name)
    return no_content()


async def recover_root_rotation(view: MountStorage, name: str) -> bool:
    """The worker's entry: finish an interrupted rotation of connection `name`."""
    async with store.rotation_lock(view, CONN, name):
        conn = store.connection(view, name)
        return conn is not None and await finish_root_rotation(view, conn)


async def _rotate_root(ctx: Context, view: MountStorage, name: str) -> None:
    core = ctx.core
    conn = store.existing_connection(view, name)
    if not conn.username:
        raise BadRequest(f"connection {name!r} has no 'username': rotate-root changes the "
                         "password of the configured user")
    if await finish_root_rotation(view, conn):
        conn = store.existing_connection(view, name)
    new = templates.generate_password(conn.policy())
    conn.pending_password = new  # phase 1: both passwords are known to the cluster
    conn.pending_since = ctx.now_ns() // 1_000_000_000
    await view.write(Batch().put(store.encode(conn), CONN, name))
    plugin = store.plugin(view, conn)
    try:
        await asyncio.wait_for(set_and_check(plugin, conn.username, new,
                                             conn.root_rotation_statements), PHASE_TIMEOUT_S)
        core.crash_point("database.rotate_root.after_set")
    except (StrongBoxError, TimeoutError):
        current = store.existing_connection(view, name)
        await finish_root_rotation(view, current)
        raise
    await _commit(view, conn, new)  # phase 3
