"""Login throttling: at most `limit` attempts per `window_s` per key (sliding window).

`attempt(key, now)` records an attempt and returns None, or the seconds to wait
when the key is over its limit (the attempt is then not recorded). Keys are
"addr:<ip>" and "user:<mount>:<name>" (10 a minute), and "net:<network>" (`network_of`:
the /24 or /64, 60 a minute) so that many addresses of one network cannot each take
a full budget; each node keeps its own counts (a
client spreading attempts over three nodes gets at most three times the
limit; the replicated lockout after consecutive failures is cluster-wide).
Memory is bounded: beyond `max_keys`, the stalest keys are dropped.
Single-threaded: called from the event loop only.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict, deque


class Throttle:
    def __init__(self, limit: int = 10, window_s: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def attempt(self, key: str, now: float) -> int | None:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        self._hits.move_to_end(key)
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1, math.ceil(hits[0] + self.window_s - now))
        hits.append(now)
        return None

    def check(self, keys: list[str], now: float) -> int | None:
        """Record an attempt under every key; the longest wait if any is over its limit."""
        waits = [wait for key in keys if (wait := self.attempt(key, now)) is not None]
        return max(waits) if waits else None


def network_of(addr: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address belongs to: one budget per network."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr
    prefix = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))
