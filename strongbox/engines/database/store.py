"""Where the Database engine keeps its records, and the node's PostgreSQL pools.

Layout under the mount's storage view (every value sealed unless marked plain):

- ("conn", <name>): a `Connection` (with the root password);
- ("role", <name>), ("static", <name>): a `Role`, a `StaticRole` (with its passwords);
- ("lease", <key>): a `Lease`; <key> is the lease id after the mount path
  ("creds/<role>/<id>");
- ("due", <unix seconds, 12 digits>, <key>) plain, empty: the expiry queue. The
  leader's worker scans it in order and revokes what is due; a failed revocation
  moves its entry later (backoff). It is replicated, so a new leader takes the
  queue over where the old one stopped;
- ("tok", <token accessor>, <key>) plain, empty: the leases a token created, so
  revoking a token revokes them;
- ("bad", <key>) plain, empty: the irrevocable leases (counted for the alert).

`plugin(view, conn)` is this node's `PostgresPlugin` of a connection: made on first
use, replaced (and the old pool closed) when the connection's `generation` changes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from strongbox.backend.context import Context
from strongbox.backend.storage import Batch, MountStorage
from strongbox.engines.database.models import Connection, Lease, Role, StaticRole
from strongbox.engines.database.postgres import PostgresPlugin
from strongbox.errors import BadRequest, NotFound

CONN, ROLE, STATIC, LEASE, DUE, TOKEN, BAD = ("conn", "role", "static", "lease", "due",
                                              "tok", "bad")
_plugins: dict[tuple[str, str, str], tuple[int, PostgresPlugin]] = {}
_locks: dict[tuple[str, str, str, str], asyncio.Lock] = {}


def rotation_lock(view: MountStorage, kind: str, name: str) -> asyncio.Lock:
    """One rotation at a time per root connection or static role on this node: the
    request handlers and the leader's worker (both run on the leader) take it."""
    return _locks.setdefault((view.namespace, view.mount.uuid, kind, name), asyncio.Lock())


def view_of(ctx: Context) -> MountStorage:
    view = ctx.storage
    assert isinstance(view, MountStorage)
    return view


def encode(record: Any) -> bytes:
    return json.dumps(record.to_dict(), separators=(",", ":")).encode()


def _get(view: MountStorage, kind: str, name: str) -> dict[str, Any] | None:
    raw = view.get(kind, name)
    return None if raw is None else dict(json.loads(raw))


def connection(view: MountStorage, name: str) -> Connection | None:
    raw = _get(view, CONN, name)
    return None if raw is None else Connection.from_dict(raw)


def existing_connection(view: MountStorage, name: str) -> Connection:
    found = connection(view, name)
    if found is None:
        raise NotFound(f"no database connection named {name!r}: configure it with "
                       f"database/config/{name}")
    return found


def role(view: MountStorage, name: str) -> Role | None:
    raw = _get(view, ROLE, name)
    return None if raw is None else Role.from_dict(raw)


def static_role(view: MountStorage, name: str) -> StaticRole | None:
    raw = _get(view, STATIC, name)
    return None if raw is None else StaticRole.from_dict(raw)


def lease(view: MountStorage, key: str) -> Lease | None:
    raw = _get(view, LEASE, key)
    return None if raw is None else Lease.from_dict(raw)


def names(view: MountStorage, kind: str) -> list[str]:
    return sorted({parts[0] for parts in view.list(kind)})


def lease_keys(view: MountStorage, prefix: str = "") -> list[str]:
    return [parts[0] for parts in view.list(LEASE, prefix, partial=True)] if prefix else \
        [parts[0] for parts in view.keys(LEASE)]


def lease_count(view: MountStorage) -> int:
    return view.count(LEASE)


def due_slot(when: int) -> str:
    return f"{max(when, 0):012d}"


def due(view: MountStorage, now: int, limit: int) -> list[tuple[int, str]]:
    """Up to `limit` (time, lease key) of the expiry queue at or before `now`."""
    out: list[tuple[int, str]] = []
    for parts in view.keys(DUE, limit=limit):  # in time order: stop at the first not due
        if len(parts) != 2 or int(parts[0]) > now:
            break
        out.append((int(parts[0]), parts[1]))
    return out


def put_lease(batch: Batch, record: Lease, key: str, old: Lease | None = None) -> Batch:
    """Store `record`, moving its queue entry (from `old`'s) to `record.next_attempt`
    or its expiry; an irrevocable lease leaves the queue."""
    if old is not None:
        batch.delete(DUE, due_slot(old.next_attempt or old.expire_time), key)
    batch.put(encode(record), LEASE, key)
    if record.irrevocable:
        batch.put_plain(b"", BAD, key)
    else:
        batch.put_plain(b"", DUE, due_slot(record.next_attempt or record.expire_time), key)
        batch.delete(BAD, key)
    if record.token_accessor:
        batch.put_plain(b"", TOKEN, record.token_accessor, key)
    return batch


def drop_lease(batch: Batch, record: Lease, key: str) -> Batch:
    batch.delete(LEASE, key).delete(BAD, key)
    batch.delete(DUE, due_slot(record.next_attempt or record.expire_time), key)
    if record.token_accessor:
        batch.delete(TOKEN, record.token_accessor, key)
    return batch


def plugin(view: MountStorage, conn: Connection) -> PostgresPlugin:
    key = (view.namespace, view.mount.uuid, conn.name)
    cached = _plugins.get(key)
    if cached is not None and cached[0] == conn.generation:
        return cached[1]
    made = PostgresPlugin(conn.pg())
    _plugins[key] = (conn.generation, made)
    if cached is not None:
        _close_later(cached[1])
    return made


def forget_plugin(view: MountStorage, name: str) -> None:
    cached = _plugins.pop((view.namespace, view.mount.uuid, name), None)
    if cached is not None:
        _close_later(cached[1])


_closing: set[asyncio.Task[None]] = set()


def _close_later(old: PostgresPlugin) -> None:
    try:
        task = asyncio.get_running_loop().create_task(old.close())
    except RuntimeError:  # no loop (unit tests): nothing is open
        return
    _closing.add(task)
    task.add_done_callback(_closing.discard)


def for_role(view: MountStorage, role_name: str, db_name: str) -> tuple[Connection,
                                                                        PostgresPlugin]:
    conn = existing_connection(view, db_name)
    if not conn.allows(role_name):
        raise BadRequest(f"role {role_name!r} is not in the allowed_roles of database "
                         f"connection {db_name!r}")
    return conn, plugin(view, conn)
