"""Which node a call goes to: the client's list of nodes and what it knows about each.

- A node is *down* after a connection failure, a 503 (sealed, no leader, too stale),
  a 502 or a 412; it stays skipped for `cooldown` seconds, then is *suspect*: the next
  call that wants it probes `sys/health` first and uses it only if the probe says it
  serves (200 leader, 429/473 standby).
- Reads prefer a follower (the leader is tried last when it is known), writes prefer
  the leader (saves the forwarding hop; any node accepts them). Within a role, the
  node that last answered stays first (connection reuse), the others keep their order.
- When every node is down, all are returned anyway (oldest failure first): a call
  never fails without trying.

Thread-safe (one lock); the clock is injected for tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

SERVING_HEALTH = frozenset({200, 429, 473})


@dataclass(slots=True)
class NodeState:
    """What the client believes about one node."""

    address: str
    down_until: float = 0.0
    failed_at: float = 0.0
    reason: str = ""
    is_leader: bool | None = None
    suspect: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """A node to try, and whether it must pass a health probe first."""

    address: str
    probe: bool


class EndpointPool:
    """The nodes of one client (shared with clients made by `on_node`)."""

    def __init__(self, addresses: Sequence[str], *, cooldown: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._nodes = {a: NodeState(a) for a in addresses}
        self._order = list(addresses)
        self._cooldown = cooldown
        self._clock = clock
        self._sticky: str | None = None

    @property
    def addresses(self) -> list[str]:
        with self._lock:
            return list(self._order)

    def add(self, address: str) -> None:
        """Add a node learnt by discovery (no-op if known)."""
        with self._lock:
            if address not in self._nodes:
                self._nodes[address] = NodeState(address)
                self._order.append(address)

    def candidates(self, *, write: bool) -> list[Candidate]:
        """Nodes in the order to try for one call (see the module docstring)."""
        now = self._clock()
        with self._lock:
            states = [self._nodes[a] for a in self._order]
            up = [s for s in states if s.down_until <= now]
            down = sorted((s for s in states if s.down_until > now), key=lambda s: s.failed_at)
            up.sort(key=lambda s: self._rank(s, write))
        chosen = [Candidate(s.address, probe=s.suspect) for s in up]
        if not chosen:
            chosen = [Candidate(s.address, probe=False) for s in down]
        return chosen

    def _rank(self, state: NodeState, write: bool) -> tuple[int, int]:
        role = 1 if state.is_leader is None else (0 if state.is_leader == write else 2)
        return role, 0 if state.address == self._sticky else 1

    def mark_down(self, address: str, reason: str) -> None:
        """Skip `address` for the cooldown."""
        now = self._clock()
        with self._lock:
            state = self._nodes.get(address)
            if state is not None:
                state.down_until = now + self._cooldown
                state.failed_at = now
                state.reason = reason
                state.suspect = True
                if self._sticky == address:
                    self._sticky = None

    def mark_up(self, address: str, *, is_leader: bool | None = None) -> None:
        """`address` answered (or its health probe said it serves)."""
        with self._lock:
            state = self._nodes.get(address)
            if state is None:
                return
            state.down_until = state.failed_at = 0.0
            state.reason = ""
            state.suspect = False
            if is_leader is not None:
                state.is_leader = is_leader
            self._sticky = address

    def set_leader(self, address: str) -> None:
        """Record which node leads (from sys/leader or a health body)."""
        with self._lock:
            for state in self._nodes.values():
                state.is_leader = state.address == address

    def reason(self, address: str) -> str:
        with self._lock:
            state = self._nodes.get(address)
            return state.reason if state else ""
