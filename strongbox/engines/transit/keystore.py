"""Where Transit keys live: the mount's sealed storage view, with a per-node cache.

Layout under the mount (`backend.storage`):

- ("policy", <name>): the sealed JSON of `policy.Policy` (every version's material);
- ("gen", <name>, <n>): a plain marker of the policy's n-th write. `save` is a
  compare-and-set on it: a write expects marker `gen` present, deletes it and puts
  `gen + 1`, so of two concurrent changes (two rotations, a rotation and a config
  change) one commits and the other reads again and re-applies its change: no
  version's material is ever overwritten or lost;
- ("count", <name>, <version>, <node id>): encryption reservations (`usage.py`);
- ("wrapping_key",): the sealed RSA-4096 key of `wrapping_key` / BYOK imports.

`load` decrypts a policy once per stored value: the cache is keyed by the mount and
name and checked against the raw sealed bytes, so a rotation applied on this node
(from any node) is seen by the next request, and unchanged keys cost one LMDB read.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from strongbox.backend.context import Context
from strongbox.backend.storage import Batch, MountStorage
from strongbox.engines.transit import byok
from strongbox.engines.transit.policy import Policy
from strongbox.errors import BadRequest, NotFound, ServiceUnavailable

POLICY, GEN, COUNT, WRAPPING = "policy", "gen", "count", "wrapping_key"
RETRIES = 8
CACHE_MAX = 4096
_cache: dict[tuple[str, str, str], tuple[bytes, Policy]] = {}


def storage(ctx: Context) -> MountStorage:
    view = ctx.storage
    assert isinstance(view, MountStorage)
    return view


def _cache_key(view: MountStorage, name: str) -> tuple[str, str, str]:
    return (view.namespace, view.mount.uuid, name)


def load(view: MountStorage, name: str) -> Policy | None:
    raw = view.get_plain(POLICY, name)  # the sealed bytes: cheap, and the cache's check
    if raw is None:
        return None
    key = _cache_key(view, name)
    cached = _cache.get(key)
    if cached is not None and cached[0] == raw:
        return cached[1]
    plaintext = view.get(POLICY, name)
    if plaintext is None:
        return None
    policy = Policy.from_dict(json.loads(plaintext))
    if len(_cache) >= CACHE_MAX:
        _cache.clear()
    _cache[key] = (raw, policy)
    return policy


def existing(view: MountStorage, name: str) -> Policy:
    policy = load(view, name)
    if policy is None:
        raise NotFound(f"encryption key not found: no key named {name!r} in this mount")
    return policy


def fresh(view: MountStorage, name: str) -> Policy | None:
    """A private copy to change (the cached object is shared by readers)."""
    policy = load(view, name)
    return None if policy is None else Policy.from_dict(json.loads(json.dumps(
        policy.to_dict())))


def _encode(policy: Policy) -> bytes:
    return json.dumps(policy.to_dict(), separators=(",", ":")).encode()


async def create(view: MountStorage, policy: Policy) -> bool:
    """Store a new key; False if one of that name exists already."""
    policy.gen = 1
    batch = Batch().put(_encode(policy), POLICY, policy.name).put_plain(b"1", GEN,
                                                                        policy.name, "1")
    batch.expect_absent.append((POLICY, policy.name))
    return await view.try_write(batch)


async def update(view: MountStorage, name: str, change: Callable[[Policy], Any]) -> Policy:
    """Read, `change` and write back key `name`, retrying when a concurrent write won.
    `change` raises to refuse; what it returns is ignored. Returns the stored policy."""
    for _ in range(RETRIES):
        policy = fresh(view, name)
        if policy is None:
            raise NotFound(f"encryption key not found: no key named {name!r} in this mount")
        change(policy)
        old = policy.gen
        policy.gen = old + 1
        batch = Batch().put(_encode(policy), POLICY, name)
        batch.delete(GEN, name, str(old)).put_plain(str(old + 1).encode(), GEN, name,
                                                    str(old + 1))
        batch.expect_present.append((GEN, name, str(old)))
        if await view.try_write(batch):
            return policy
    raise ServiceUnavailable(f"key {name!r} is being changed by many requests at once; "
                             "retry")


async def delete(view: MountStorage, name: str) -> None:
    batch = Batch().delete(POLICY, name)
    batch.delete_prefixes += [(GEN, name), (COUNT, name)]
    await view.write(batch)
    _cache.pop(_cache_key(view, name), None)


async def replace(view: MountStorage, policy: Policy, force: bool) -> None:
    """`restore`: store `policy` under its name; an existing key only with `force`."""
    current = load(view, policy.name)
    if current is not None and not force:
        raise BadRequest(f"key {policy.name!r} already exists; set 'force' to overwrite it")
    policy.gen = (current.gen if current else 0) + 1
    batch = Batch().put(_encode(policy), POLICY, policy.name)
    batch.delete_prefixes += [(GEN, policy.name), (COUNT, policy.name)]
    batch.put_plain(str(policy.gen).encode(), GEN, policy.name, str(policy.gen))
    if current is None:
        batch.expect_absent.append((POLICY, policy.name))
    if not await view.try_write(batch):
        raise ServiceUnavailable(f"key {policy.name!r} changed while it was being restored; "
                                 "retry")


def names(view: MountStorage) -> list[str]:
    return sorted({parts[0] for parts in view.list(POLICY)})


async def wrapping_key(view: MountStorage) -> bytes:
    """The mount's BYOK wrapping key (PKCS#8 DER), made on first use (off the loop: an
    RSA-4096 key takes a while)."""
    found = view.get(WRAPPING)
    if found is not None:
        return found
    private = await asyncio.to_thread(byok.new_wrapping_key)
    batch = Batch().put(private, WRAPPING)
    batch.expect_absent.append((WRAPPING,))
    await view.try_write(batch)  # False: a concurrent first use won, and its key is used
    stored = view.get(WRAPPING)
    if stored is None:
        raise ServiceUnavailable("the wrapping key is not available yet; retry")
    return stored
