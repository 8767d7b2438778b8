"""The replicated-log seam: what the rest of the server needs from Raft.

`CommandLog` is the small interface (as hashicorp/raft's FSM/LogStore split):
propose command bytes, get the apply result once committed and applied, and
read the Raft status. `RaftLog` (raft/node.py) is the real one on pysyncobj;
`DirectLog` here applies in-process in order, for unit tests of the layers
above. The apply function is injected: raft/ knows state/ only through it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from strongbox.pb import records_pb2 as rec

ApplyFn = Callable[[int, bytes], rec.ApplyResult]


@dataclass(frozen=True, slots=True)
class PeerStatus:
    node_id: str
    address: str
    connected: bool
    match_index: int
    api_addr: str = ""  # its API address, as its cluster Hello announced it ("" unknown)


@dataclass(frozen=True, slots=True)
class RaftStatus:
    node_id: str
    address: str
    is_leader: bool
    leader_id: str | None
    leader_address: str | None    # cluster address
    leader_api_addr: str | None   # HTTP API address, once known
    term: int
    commit_index: int
    applied_index: int
    last_leader_contact_ms: int  # 0 on the leader, -1 if never heard from one
    peers: tuple[PeerStatus, ...]


class CommandLog(Protocol):
    async def propose(self, data: bytes, timeout: float) -> rec.ApplyResult:
        """Commit `data` through the log; the result of applying it on this node.

        Raises errors.NoLeader if the outcome is unknown after `timeout`.
        """
        ...

    def status(self) -> RaftStatus: ...

    def is_leader(self) -> bool:
        """Cheap: no status dictionary is built."""
        ...

    def disk_full(self) -> bool:
        """True while this node is too low on disk space to take writes (507)."""
        ...

    def leader_stub(self) -> Any | None:
        """A Cluster gRPC stub for the current leader (None: no leader, or it is us)."""
        ...

    def leader_id(self) -> str | None:
        """Cheap: the node this one follows (itself when leading), None when it knows none."""
        ...

    def leader_contact_ms(self) -> int:
        """Cheap: ms since the leader was last heard from (0 when leading, -1 never)."""
        ...

    async def remove_peer(self, node_id: str, timeout: float) -> None: ...

    async def wait_applied_quorum(self, index: int, timeout: float) -> bool:
        """True once a majority of the members (this one included) has applied `index`;
        False if that did not happen within `timeout`."""
        ...

    async def step_down(self, timeout: float) -> None: ...

    def join(self, timeout: float) -> bool:
        """Ask the configured peers to add this node; True once one did (blocking)."""
        ...

    def close(self) -> None: ...


class DirectLog:
    """A single-process log that applies immediately, in order (tests only)."""

    def __init__(self, apply: ApplyFn, start_index: int = 1) -> None:
        self._apply = apply
        self._index = start_index
        self._lock = threading.Lock()

    async def propose(self, data: bytes, timeout: float) -> rec.ApplyResult:
        await asyncio.sleep(0)
        with self._lock:
            self._index += 1
            return self._apply(self._index, data)

    def status(self) -> RaftStatus:
        return RaftStatus("direct", "", True, "direct", None, None, 1, self._index, self._index,
                          0, ())

    def leader_stub(self) -> Any | None:
        return None

    def leader_id(self) -> str | None:
        return "direct"

    def is_leader(self) -> bool:
        return True

    def leader_contact_ms(self) -> int:
        return 0

    def disk_full(self) -> bool:
        return False

    async def remove_peer(self, node_id: str, timeout: float) -> None:
        raise NotImplementedError("a DirectLog has no peers")

    async def wait_applied_quorum(self, index: int, timeout: float) -> bool:
        return self._index >= index

    async def step_down(self, timeout: float) -> None:
        pass

    def join(self, timeout: float) -> bool:
        return False

    def close(self) -> None:
        pass
