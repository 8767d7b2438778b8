"""Leases of dynamic credentials: issue, renew, revoke, look up, list.

A lease is written through Raft **before** its user is created in PostgreSQL (a
write-ahead record): if the node dies between the two, the lease still expires
and its revocation (`DROP ROLE IF EXISTS`, idempotent) removes whatever was made.
If the creation fails, the lease is removed again and the rollback statements run.

TTLs: a lease lasts the role's `default_ttl` (else the mount's default lease TTL,
else the system's 768h) and can be renewed up to `max_ttl` after it was issued
(role, else mount, else system), never further. Revocation runs the role's
revocation statements (by default: end the user's sessions, reassign or drop what
it owns, drop it) and then deletes the lease; when PostgreSQL refuses, the lease
stays and the error says why (`revoke-force` deletes it anyway).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from strongbox.backend.storage import Batch, MountStorage
from strongbox.engines.database import store
from strongbox.engines.database.models import Lease, Role
from strongbox.errors import BadRequest, NotFound, StrongBoxError

SYSTEM_TTL_S = 768 * 3600
REVOKE_ATTEMPTS = 8  # then the lease is irrevocable: kept, reported, alerted on


def ttls(view: MountStorage, role: Role) -> tuple[int, int]:
    """(default, max) lease TTL in seconds for `role` on this mount."""
    mount = view.mount
    mount_max = mount.max_lease_ttl_ns // 10**9 or SYSTEM_TTL_S
    maximum = min(role.max_ttl or mount_max, mount_max)
    default = role.default_ttl or mount.default_lease_ttl_ns // 10**9 or SYSTEM_TTL_S
    return min(default, maximum), maximum


def new_key(role: str) -> str:
    return f"creds/{role}/{uuid.uuid4()}"


def lease_id(view: MountStorage, key: str) -> str:
    return view.mount.path + key


def key_of(view: MountStorage, full_id: str) -> str:
    if not full_id.startswith(view.mount.path):
        raise BadRequest("the lease id does not belong to this mount")
    return full_id[len(view.mount.path):]


def when(unix_s: int) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC)


async def revoke_in_database(view: MountStorage, record: Lease) -> None:
    """Run the revocation of `record`'s user (role statements or the default)."""
    role = store.role(view, record.role)
    conn = store.existing_connection(view, record.db_name)
    plugin = store.plugin(view, conn)
    statements = role.revocation_statements if role else []
    await plugin.revoke_user(statements, record.username,
                             reassign_to=(role.reassign_owned_to or None) if role else None,
                             drop_owned=role.drop_owned if role else True)


def existing(view: MountStorage, key: str) -> Lease:
    record = store.lease(view, key)
    if record is None:
        raise BadRequest("lease not found or lease is not renewable")
    return record


async def revoke(view: MountStorage, key: str, force: bool = False) -> None:
    """Revoke now: the user is dropped, then the lease deleted (204 also when gone)."""
    record = store.lease(view, key)
    if record is None:
        return
    try:
        await revoke_in_database(view, record)
    except StrongBoxError:
        if not force:
            raise
    await view.write(store.drop_lease(Batch(), record, key))


async def renew(view: MountStorage, key: str, increment: int, now: int) -> Lease:
    record = existing(view, key)
    if record.irrevocable:
        raise BadRequest("lease is irrevocable: it cannot be renewed; see revocation_error")
    role = store.role(view, record.role)
    default, _ = ttls(view, role) if role else (SYSTEM_TTL_S, SYSTEM_TTL_S)
    target = min(now + (increment or default), record.max_expire)
    if target <= now:
        raise BadRequest("lease is past its max_ttl and cannot be renewed")
    conn = store.existing_connection(view, record.db_name)
    plugin = store.plugin(view, conn)
    await plugin.renew_user(role.renew_statements if role else [], record.username,
                            when(target))
    renewed = Lease(**{**record.to_dict(), "expire_time": target, "last_renewal": now,
                       "next_attempt": 0})
    await view.write(store.put_lease(Batch(), renewed, key, old=record))
    return renewed


def renew_answer(view: MountStorage, record: Lease, now: int) -> dict[str, Any]:
    return {"lease_id": record.lease_id, "renewable": record.expire_time < record.max_expire,
            "lease_duration": max(0, record.expire_time - now), "data": None,
            "warnings": None, "wrap_info": None, "auth": None}


def lookup(view: MountStorage, key: str, now: int) -> dict[str, Any]:
    record = store.lease(view, key)
    if record is None:
        raise BadRequest("invalid lease")
    return record.describe(now)


def children(view: MountStorage, prefix: str) -> list[str]:
    """`LIST sys/leases/lookup/<mount>creds/<role>/`: ids or folders below `prefix`."""
    below = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    out: list[str] = []
    for key in store.lease_keys(view, below):
        head, slash, _ = key.partition("/")
        child = head + slash
        if child and child not in out:
            out.append(child)
    if not out:
        raise NotFound("")
    return out


async def revoke_prefix(view: MountStorage, prefix: str, force: bool) -> int:
    done = 0
    for rest in store.lease_keys(view, prefix):
        await revoke(view, prefix + rest, force)
        done += 1
    return done
