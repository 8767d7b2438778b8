"""Encryptions per key version: a count that never under-counts, cluster-wide.

A 96-bit random nonce is safe for about 2**32 encryptions under one key (NIST SP
800-38D); past that, nonce collisions become likely and GCM loses its guarantees
(vault#13243). Counting every encryption through Raft would make encryption a
replicated write, so each node **reserves** encryptions before doing them:

- ("count", <key>, <version>, <node id>) holds the total this node has reserved for
  that version (a plain decimal). Only that node writes its record, so there is no
  race between nodes, and the cluster's count is the sum over nodes.
- A node that needs more reserves a block through Raft: the block doubles from 1 up
  to `MAX_BLOCK`, so a key used a little shows an exact count, and a busy one costs
  one write per `MAX_BLOCK` encryptions. The next block is reserved in the background
  once half of the current one is used, so encryptions wait for Raft only when a
  block runs out faster than a write commits. What was reserved but not used (a restart)
  stays counted: the count is an upper bound, never lower than the truth.

`reserve(ctx, name, key_version, n)` must be awaited before `n` encryptions (it
answers the cluster's count as of the node's last reservation);
`count(view, key, version)` is what `keys/:name` shows and what the warning and
`auto_rotate_max_encryptions` compare against.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass

from strongbox.backend.context import Context
from strongbox.backend.storage import Batch, MountStorage
from strongbox.engines.transit.keystore import COUNT, storage
from strongbox.engines.transit.keytypes import KeyVersion

MAX_BLOCK = 65536
log = logging.getLogger("strongbox.transit")


@dataclass
class _Local:
    used: int = 0
    reserved: int = 0  # what this node's record says (the part of it this process owns)
    block: int = 1
    loaded: bool = False
    cluster: int = 0  # every node's reservations, as read at this node's last reservation
    extending: bool = False  # a reservation ahead is in flight


_local: dict[tuple[str, str, str, int, str], _Local] = {}
_locks: dict[tuple[str, str, str, int, str], asyncio.Lock] = {}


def _node(ctx: Context) -> str:
    return ctx.core.config.node_id


def count(view: MountStorage, name: str, version: int) -> int:
    """Encryptions reserved for `version` of key `name` by all nodes (an upper bound)."""
    total = 0
    for parts in view.list(COUNT, name, str(version)):
        raw = view.get_plain(COUNT, name, str(version), *parts)
        total += int(raw or b"0")
    return total


def counts(view: MountStorage, name: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for parts in view.list(COUNT, name):
        if len(parts) != 2 or not parts[0].isdigit():
            continue
        raw = view.get_plain(COUNT, name, *parts)
        out[int(parts[0])] = out.get(int(parts[0]), 0) + int(raw or b"0")
    return out


async def reserve(ctx: Context, name: str, kv: KeyVersion, n: int) -> int:
    """Count `n` encryptions of version `kv` of key `name` before they are done; returns
    the cluster's count as of this node's last reservation (for the near-limit warning:
    cheap, read again once per block)."""
    view = storage(ctx)
    version = kv.version
    # The material's fingerprint: a key deleted and made again starts a new count.
    key = (view.namespace, view.mount.uuid, name, version,
           hashlib.sha256(kv.hmac_key).hexdigest()[:16])
    local = _local.setdefault(key, _Local())
    lock = _locks.setdefault(key, asyncio.Lock())
    if local.loaded and local.used + n <= local.reserved:
        local.used += n
        if local.reserved - local.used < local.block // 2 and not local.extending:
            _extend_soon(ctx, name, version, local, lock)  # before callers have to wait
        return local.cluster
    async with lock:
        node = _node(ctx)
        if not local.loaded:
            stored = view.get_plain(COUNT, name, str(version), node)
            local.reserved = local.used = int(stored or b"0")  # earlier runs: all used
            local.loaded = True
        if local.used + n > local.reserved:
            await _write(view, name, version, node, local, local.used + n + local.block - 1)
        local.used += n
        return local.cluster


async def _write(view: MountStorage, name: str, version: int, node: str, local: _Local,
                 target: int) -> None:
    await view.write(Batch().put_plain(str(target).encode(), COUNT, name, str(version), node))
    local.reserved = target
    local.block = min(local.block * 2, MAX_BLOCK)
    local.cluster = count(view, name, version)


_background: set[asyncio.Task[None]] = set()


def _extend_soon(ctx: Context, name: str, version: int, local: _Local,
                 lock: asyncio.Lock) -> None:
    """Reserve the next block in the background once half of this one is used, so a
    busy key never waits for a Raft write at the block's end."""
    view = storage(ctx)
    quiet = MountStorage(ctx.core, view.namespace, view.mount, secrets_engine=True)
    node = _node(ctx)
    local.extending = True

    async def extend() -> None:
        try:
            async with lock:
                if local.reserved - local.used < local.block // 2:
                    await _write(quiet, name, version, node, local,
                                 local.reserved + local.block)
        except Exception:  # the next reservation in the foreground retries it
            log.warning("transit: reserving encryptions ahead failed", exc_info=True)
        finally:
            local.extending = False

    task = asyncio.get_running_loop().create_task(extend())
    _background.add(task)
    task.add_done_callback(_background.discard)

