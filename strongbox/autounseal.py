"""A node's auto-unseal and seal migration, on top of `Core` (docs/seals.md).

- `run(core)`: the node's loop (started by the server). While the node is sealed and
  its `[seal]` is an auto-unseal seal of the type the cluster stores, it asks the key
  manager to unwrap the unseal key and unseals; when that fails (HSM unplugged, wrong
  PIN, Transit cluster sealed) it keeps the node sealed, says why in
  `core.seal_error` (shown in `sys/seal-status` and logged once per reason) and tries
  again with backoff (1 s doubling to 30 s), so the node unseals on its own once the
  key manager is back. A node sealed by `sys/seal` stays sealed until it restarts.
- `initialize(core, ...)`: `sys/init` with an auto-unseal seal: the unseal key is
  wrapped by the seal and stored; recovery shares are returned instead of unseal
  shares; the node then unseals itself.
- `migrate_share(core, share)`: `sys/unseal` with `migrate=true` when the cluster's
  stored seal differs from this node's `[seal]` (seal/migrate.py), one share at a
  time like an unseal.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from strongbox.barrier.aead import new_key
from strongbox.errors import (
    BadRequest,
    NotInitialized,
    SealUnavailable,
    ServiceUnavailable,
)
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.seal import unseal as unseal_mod
from strongbox.seal.auto import recovery_check
from strongbox.seal.migrate import auto_open, migrate, share_rule, stored_type

if TYPE_CHECKING:
    from strongbox.core import Core

log = logging.getLogger("strongbox.seal")
MIN_BACKOFF_S, MAX_BACKOFF_S = 1.0, 30.0


def configured_type(core: Core) -> str:
    return core.auto_seal.type if core.auto_seal is not None else "shamir"


def migrating(core: Core) -> bool:
    cluster = core.store.cluster()
    return cluster is not None and stored_type(cluster) != configured_type(core)


async def auto_unseal_once(core: Core) -> bool:
    """One attempt; False when the key manager failed (retry with backoff)."""
    seal_ = core.auto_seal
    if seal_ is None or not core.sealed or core.operator_sealed:
        return True
    cluster = core.store.cluster()
    if cluster is None:
        return True  # not initialized (yet, or the record has not replicated here)
    if cluster.seal_type != seal_.type:
        core.seal_error = (f"seal migration pending: the cluster uses the "
                           f"{stored_type(cluster)} seal and this node is configured for "
                           f"{seal_.type}; unseal with migrate=true")
        return True
    try:
        root = await asyncio.to_thread(auto_open, cluster, seal_)
    except SealUnavailable as exc:
        if exc.message != core.seal_error:
            log.warning("auto-unseal with the %s seal failed, retrying: %s", seal_.type,
                        exc.message)
        core.seal_error = exc.message
        return False
    core.open_keyring(root)
    core.seal_error = ""
    log.info("unsealed by the %s seal", seal_.type)
    return True


async def run(core: Core) -> None:
    delay = MIN_BACKOFF_S
    while True:
        try:
            ok = await auto_unseal_once(core)
        except Exception:  # never let the loop die: the node would stay sealed forever
            log.exception("auto-unseal attempt failed unexpectedly; retrying")
            ok = False
        delay = MIN_BACKOFF_S if ok else min(delay * 2, MAX_BACKOFF_S)
        await asyncio.sleep(delay)


def check_recovery(shares: int, threshold: int) -> None:
    if not 1 <= shares <= 255 or not 1 <= threshold <= shares:
        raise BadRequest("recovery_shares must be 1-255 and recovery_threshold between 1 and "
                         "recovery_shares")
    if threshold == 1 and shares > 1:
        raise BadRequest("recovery_threshold must be at least 2 when recovery_shares is more "
                         "than 1")


async def seal_cluster(core: Core, cluster: rec.ClusterRecord, unseal_key: bytes,
                       recovery_shares: int, recovery_threshold: int) -> list[bytes]:
    """Fill `cluster`'s auto-unseal fields (before init proposes it); the recovery shares."""
    seal_ = core.auto_seal
    assert seal_ is not None
    check_recovery(recovery_shares, recovery_threshold)
    cluster.seal_type = seal_.type
    cluster.wrapped_unseal_key = await asyncio.to_thread(seal_.wrap, unseal_key, True)
    recovery_key = new_key()
    try:
        cluster.recovery_shares, cluster.recovery_threshold = recovery_shares, \
            recovery_threshold
        cluster.recovery_check = recovery_check(recovery_key)
        return unseal_mod.split_unseal_key(recovery_key, recovery_shares, recovery_threshold)
    finally:
        recovery_key[:] = b"\0" * len(recovery_key)


async def migrate_share(core: Core, key_text: str) -> None:
    cluster = core.store.cluster()
    if cluster is None:
        raise NotInitialized()
    if not core.sealed:
        raise BadRequest("this node is unsealed: a seal migration happens while unsealing; "
                         "restart the node with its new [seal] first")
    if not migrating(core):
        raise BadRequest(f"nothing to migrate: the cluster and this node both use the "
                         f"{configured_type(core)} seal; unseal without migrate")
    shares, threshold = share_rule(cluster)
    share = unseal_mod.decode_share(key_text, unseal_mod.share_length(shares))
    key = core.unseal_progress.add(share, threshold)
    if key is None:
        return
    try:
        root, new = await asyncio.to_thread(migrate, cluster, key, core.auto_seal,
                                            core.previous_seal)
    finally:
        key[:] = b"\0" * len(key)
    result = await core.submit(cmd_pb.Command(seal_migrate=cmd_pb.SealMigrate(cluster=new)))
    if result.code != result.OK:
        root[:] = b"\0" * len(root)
        raise ServiceUnavailable(f"the seal migration was not applied ({result.message}); "
                                 "unseal with migrate=true again")
    core.open_keyring(root)
    core.seal_error = ""
    log.warning("seal migrated from %s to %s", stored_type(cluster), stored_type(new))
