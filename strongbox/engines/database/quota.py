"""Lease caps: the mount option `max_leases`, and the lease-count quotas of
`sys/quotas/lease-count` whose path covers the mount ("" = everything, "team-a/" = a
namespace and the namespaces below it, "team-a/database/" = one mount). A quota counts
the live leases of every Database mount under its path. `check` raises 429 with
`Retry-After` before a credential is made when a cap is reached."""

from __future__ import annotations

from strongbox.backend.storage import MountStorage
from strongbox.core import Core
from strongbox.engines.database import store
from strongbox.errors import RateLimited

MAX_LEASES_OPTION = "max_leases"
MOUNT_TYPE = "database"


def full_path(namespace: str, mount_path: str) -> str:
    return (namespace + "/" if namespace else "") + mount_path


def _count_under(core: Core, path: str) -> int:
    total = 0
    for namespace, mount, secrets_engine in core.store.every_mount():
        if not secrets_engine or mount.type != MOUNT_TYPE:
            continue
        if full_path(namespace, mount.path).startswith(path):
            total += store.lease_count(MountStorage(core, namespace, mount, True))
    return total


def check(core: Core, view: MountStorage) -> None:
    raw = view.mount.options.get(MAX_LEASES_OPTION, "")
    if raw and store.lease_count(view) >= int(raw):
        raise RateLimited(f"this mount holds its maximum of {raw} live leases (option "
                          f"{MAX_LEASES_OPTION}); revoke some or let them expire",
                          retry_after=5)
    here = full_path(view.namespace, view.mount.path)
    for quota in core.store.lease_quotas():
        if here.startswith(quota.path) and _count_under(core, quota.path) >= quota.max_leases:
            where = quota.path or "the whole cluster"
            raise RateLimited(f"lease-count quota {quota.name!r} allows {quota.max_leases} "
                              f"live leases under {where}; revoke some or let them expire",
                              retry_after=5)
