"""Handing leadership over when a leader is shut down (SIGTERM: `kubectl delete pod`, a
rolling upgrade, a node drain).

`hand_off_leadership(log, timeout_s)` runs after the HTTP listener has stopped
taking requests and before Raft is closed. If this node leads a cluster with
other members, it asks Raft to transfer leadership to the most caught-up
follower (pysyncobj's TimeoutNow) and waits until it no longer leads, so the
cluster has a new leader within a heartbeat or two instead of an election
timeout after the old leader vanished. It never raises: a failed transfer
(no follower caught up, the timeout) is logged and shutdown goes on; the
followers then elect a leader the usual way.

Called on the event loop thread; `step_down` hands the work to the tick thread.
It sees the log through the small `Leadership` protocol below (which `RaftLog`
satisfies), so it depends on nothing of the raft package.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from strongbox.errors import NoLeader

log = logging.getLogger("strongbox.handoff")


class _Status(Protocol):
    @property
    def is_leader(self) -> bool: ...

    @property
    def peers(self) -> Sequence[object]: ...


class Leadership(Protocol):
    """What this module needs of `strongbox.raft.log.CommandLog`."""

    def status(self) -> _Status: ...

    def is_leader(self) -> bool: ...

    async def step_down(self, timeout: float) -> None: ...


async def hand_off_leadership(raft: Leadership, timeout_s: float = 5.0) -> bool:
    """True if this node led and leadership moved to another member within `timeout_s`."""
    status = raft.status()
    if not status.is_leader or not status.peers:
        return False
    deadline = time.monotonic() + timeout_s
    try:
        await raft.step_down(timeout_s)
    except NoLeader as exc:
        log.warning("shutting down as leader without a handoff: %s", exc)
        return False
    while raft.is_leader():
        if time.monotonic() > deadline:
            log.warning("leadership did not move within %.1fs; shutting down anyway", timeout_s)
            return False
        await asyncio.sleep(0.05)
    log.info("handed leadership over before shutting down")
    return True
