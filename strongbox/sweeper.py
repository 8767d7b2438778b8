"""The leader's sweeper: removes expired tokens and wrapped responses, and whatever
the backends' expiry hooks find lapsed in their mounts (AppRole secret ids,
idle failed-login counters of userpass); and proposes what the backends'
`retire` hooks find due (KV v2 versions past `delete_version_after`, destroyed
one `KvSetVersionState(retention=True)` per secret), each with the audit line the
backend gives (path and versions only) and the `Core.on_retention` hooks (the
`strongbox_kv_versions_retired_total` metric). Destroy protection is respected.
Then it awaits each backend's `maintain` hook per mount (Transit's automatic key
rotation).

Expiry is enforced on every use, on every node, without it (docs/design.md: check
on use); the sweeper only reclaims space and revokes the children of expired
tokens. Every `interval_s` the leader of an unsealed node collects up to `BATCH`
expired items of each kind (and per mount) and proposes one `Sweep` command;
apply re-checks each item against the command's time with the same rule, so a
renewal that raced the sweep wins. Runs on the event loop; the scan (LMDB reads
of the token and wrapped tables and of each swept mount's storage) runs in a
worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from strongbox import registry
from strongbox.backend.contract import Retirement
from strongbox.core import Core
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply_sweep import expired_in_mount
from strongbox.state.store import Store

log = logging.getLogger("strongbox.sweeper")
BATCH = 500


def _mounts(store: Store) -> list[tuple[str, rec.MountRecord, bool]]:
    return store.every_mount()


def collect(store: Store, now_ns: int, limit: int = BATCH) -> cmd_pb.Sweep:
    """The `Sweep` this node would propose at `now_ns` (empty: nothing to do)."""
    core_records = store.expired(now_ns, limit)
    sweep = cmd_pb.Sweep(token_accessors=core_records.tokens,
                         wrapped_hashes=core_records.wrapped)
    for namespace, mount, secrets_engine in _mounts(store):
        backend = registry.for_mount(mount.type, dict(mount.options), not secrets_engine)
        if backend is None or backend.expiry is None:
            continue
        found = expired_in_mount(store, namespace, mount, backend.expiry, now_ns, limit)
        if found:
            ref = cmd_pb.MountRef(key=keys.mount_key(namespace, mount.path), uuid=mount.uuid,
                                  secrets_engine=secrets_engine)
            sweep.mounts.append(cmd_pb.SweptMount(mount=ref, keys=found))
    return sweep


async def sweep_once(core: Core) -> int:
    """One round on this node if it leads and is unsealed; the number of items removed."""
    if core.sealed or not core.log.is_leader():
        return 0
    # The scan reads whole tables: a worker thread, so the event loop keeps serving
    # (it still shares the GIL, in slices, rather than stalling for the whole scan).
    sweep = await asyncio.to_thread(collect, core.store, core.clock.now_ns())
    if not (sweep.token_accessors or sweep.wrapped_hashes or sweep.mounts):
        return 0
    result = await core.submit(cmd_pb.Command(sweep=sweep))
    log.info("swept %d expired tokens, wrapped responses and backend records",
             result.version)
    return int(result.version)


def collect_retention(store: Store, now_ns: int, limit: int = BATCH) -> list[Retirement]:
    """What the backends' `retire` hooks would have this node propose at `now_ns`."""
    out: list[Retirement] = []
    for namespace, mount, secrets_engine in _mounts(store):
        backend = registry.for_mount(mount.type, dict(mount.options), not secrets_engine)
        if backend is None or backend.retire is None:
            continue
        out += backend.retire(store, namespace, mount, now_ns, limit - len(out))
        if len(out) >= limit:
            break
    return out


async def retire_once(core: Core) -> int:
    """One retention round on the leader; the number of records retired."""
    if core.sealed or not core.log.is_leader():
        return 0
    due = await asyncio.to_thread(collect_retention, core.store, core.clock.now_ns())
    retired = 0
    for item in due:
        result = await core.submit(item.command)
        if result.code != result.OK or not result.version:
            continue
        count = int(result.version)
        retired += count
        _audit(core, item.audit(count))
        for hook in core.on_retention:
            hook(count)
    if retired:
        log.info("retention: retired %d records past their retention (KV versions past "
                 "delete_version_after)", retired)
    return retired


async def maintain_once(core: Core, due: set[str] | None = None) -> int:
    """One round of the backends' `maintain` hooks on the leader (only of the backend
    types in `due`, when given); the changes made."""
    if core.sealed or not core.log.is_leader():
        return 0
    changed = 0
    now = core.clock.now_ns()
    for namespace, mount, secrets_engine in _mounts(core.store):
        backend = registry.for_mount(mount.type, dict(mount.options), not secrets_engine)
        if backend is None or backend.maintain is None:
            continue
        if due is not None and backend.type not in due:
            continue
        try:
            changed += await backend.maintain(core, namespace, mount, now)
        except Exception:  # one mount's failure (no quorum, a refused change) spares others
            log.warning("upkeep of mount %s (%s) failed; retried next round", mount.path,
                        mount.type, exc_info=True)
    return changed


def _audit(core: Core, entry: dict[str, Any]) -> None:
    if not core.audit.names():
        return
    try:
        core.audit.log_response(entry)
    except Exception:  # no device could record it: the write is committed already
        log.warning("retention: the audit line could not be written", exc_info=True)


async def run(core: Core, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await sweep_once(core)
            await retire_once(core)
        except Exception:  # a failed round (no quorum, sealed meanwhile) is retried later
            log.warning("sweep round failed; retrying in %gs", interval_s, exc_info=True)


def _intervals(default_s: float) -> dict[str, float]:
    return {b.type: b.maintain_interval_s or default_s for b in registry.BACKENDS
            if b.maintain is not None and b.kind == "secret"}


async def run_maintenance(core: Core, interval_s: float, tick_s: float = 0.5) -> None:
    """The backends' `maintain` hooks, each at its own interval (`maintain_interval_s`,
    else the sweep interval), on their own loop so a slow one never delays the sweep."""
    intervals = _intervals(interval_s)
    last: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(tick_s)
        now = loop.time()
        due = {t for t, every in intervals.items() if now - last.get(t, now - every) >= every}
        if not due:
            continue
        for type_ in due:
            last[type_] = now
        try:
            await maintain_once(core, due)
        except Exception:
            log.warning("upkeep round failed; retried next round", exc_info=True)
