"""The leader's upkeep of a Database mount (the sweeper's `maintain` hook, every second).

Each round, in order:

1. finish root and static-role rotations interrupted between their phases (a crash
   or a leader change; pending for `RECOVER_AFTER_S`): whichever password logs in is
   kept (http_config.py);
2. rotate static roles whose `rotation_period` has passed;
3. revoke leases whose token is gone (revoked or expired): a token's leases end with it;
4. revoke what the expiry queue says is due, at most `BATCH` per round, at most
   `PARALLEL` at once. A revocation PostgreSQL refuses is retried with exponential
   backoff (2 s, 4 s, ... up to 5 min); after `leases.REVOKE_ATTEMPTS` the lease is
   marked **irrevocable**: kept with the reason, out of the queue, logged as an error
   and counted (`strongbox_database_revocations_failed_total`,
   `strongbox_database_leases_irrevocable`), never forgotten.

The queue is replicated, so the next leader continues where this one stopped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from strongbox.auth.tokens import expired as token_expired
from strongbox.backend.storage import Batch, MountStorage
from strongbox.core import Core
from strongbox.engines.database import http_config, http_roles, leases, store
from strongbox.engines.database.models import Lease
from strongbox.errors import StrongBoxError
from strongbox.pb import records_pb2 as rec

log = logging.getLogger("strongbox.database")
BATCH = 200
PARALLEL = 8
MAX_BACKOFF_S = 300
# a rotation pending this long was interrupted: a live one gives up its PostgreSQL phase
# after http_config.PHASE_TIMEOUT_S
RECOVER_AFTER_S = 15
# mount uuid -> (live leases, irrevocable leases), for the gauges over all mounts
_tally: dict[str, tuple[int, int]] = {}


def _count(core: Core, name: str, amount: int = 1) -> None:
    for hook in core.on_engine_count:
        hook(name, amount)


async def maintain(core: Core, namespace: str, mount: rec.MountRecord, now_ns: int) -> int:
    view = MountStorage(core, namespace, mount, secrets_engine=True)
    now = now_ns // 1_000_000_000
    changed = 0
    for name in store.names(view, store.CONN):
        conn = store.connection(view, name)
        if conn is not None and conn.pending_password \
                and now - conn.pending_since >= RECOVER_AFTER_S:
            changed += await _guarded(http_config.recover_root_rotation(view, name))
    for name in store.names(view, store.STATIC):
        role = store.static_role(view, name)
        stuck = role is not None and role.pending_password \
            and now - role.pending_since >= RECOVER_AFTER_S
        if role is not None and (stuck or (role.due(now) and not role.pending_password)):
            changed += await _guarded(http_roles.rotate_static(view, name, now,
                                                               only_if_due=True))
    changed += await _revoke_orphans(core, view, now)
    changed += await _revoke_due(core, view, now)
    _report(core, view)
    return changed


async def _guarded(work: object) -> int:
    try:
        await work  # type: ignore[misc]
    except StrongBoxError as exc:
        log.warning("database: upkeep step failed (retried next round): %s", exc.message)
        return 0
    return 1


async def _revoke_due(core: Core, view: MountStorage, now: int) -> int:
    due = store.due(view, now, BATCH)
    gate = asyncio.Semaphore(PARALLEL)

    async def one(key: str) -> int:
        async with gate:
            return await _revoke_one(core, view, key, now)

    return sum(await asyncio.gather(*(one(key) for _, key in due)))


async def _revoke_one(core: Core, view: MountStorage, key: str, now: int,
                      early: bool = False) -> int:
    """Revoke lease `key` if it is due (or `early`: its token is gone); 1 if revoked."""
    record = store.lease(view, key)
    if record is None:
        return 0
    if record.irrevocable or (not early and (record.next_attempt or record.expire_time) > now):
        return 0
    try:
        await leases.revoke_in_database(view, record)
    except StrongBoxError as exc:
        await _failed(core, view, record, key, now, exc.message)
        return 0
    await view.write(store.drop_lease(Batch(), record, key))
    _count(core, "database_leases_revoked")
    return 1


async def _failed(core: Core, view: MountStorage, record: Lease, key: str, now: int,
                  reason: str) -> None:
    attempts = record.revoke_attempts + 1
    # jitter: leases that failed together must not retry (and collide) together
    backoff = min(2 ** attempts, MAX_BACKOFF_S)
    retry = Lease(**{**record.to_dict(), "revoke_attempts": attempts, "last_error": reason,
                     "next_attempt": now + backoff + secrets.randbelow(backoff + 1)})
    _count(core, "database_revocations_failed")
    if attempts >= leases.REVOKE_ATTEMPTS:
        retry.irrevocable = True
        log.error("database: lease %s is irrevocable after %d failed revocations: %s; "
                  "fix the cause, then sys/leases/revoke it (or revoke-force)",
                  record.lease_id, attempts, reason)
    else:
        log.warning("database: revoking lease %s failed (attempt %d, next in %ds): %s",
                    record.lease_id, attempts, retry.next_attempt - now, reason)
    await view.write(store.put_lease(Batch(), retry, key, old=record))


async def _revoke_orphans(core: Core, view: MountStorage, now: int) -> int:
    """Revoke the leases of tokens that are gone."""
    revoked = 0
    accessors = sorted({parts[0] for parts in view.keys(store.TOKEN)})
    for accessor in accessors:
        token = core.store.token_by_accessor(accessor)
        if token is not None and not token_expired(token, now * 1_000_000_000):
            continue
        for parts in view.keys(store.TOKEN, accessor):
            record = store.lease(view, parts[0])
            if record is None:
                await view.write(Batch().delete(store.TOKEN, accessor, parts[0]))
                continue
            if not record.irrevocable and record.next_attempt <= now:
                revoked += await _revoke_one(core, view, parts[0], now, early=True)
    return revoked


def _report(core: Core, view: MountStorage) -> None:
    _tally[view.mount.uuid] = (store.lease_count(view), view.count(store.BAD))
    for hook in core.on_engine_gauge:
        hook("database_leases", sum(live for live, _ in _tally.values()))
        hook("database_leases_irrevocable", sum(bad for _, bad in _tally.values()))
