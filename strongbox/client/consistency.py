"""Read consistency levels and the client's memory of its own writes (X-Vault-Index).

What each level promises for a read (GET, LIST, HEAD):

- `read_your_writes` (default): the read reflects every write *this client* has had
  acknowledged (any node, any thread). The client keeps the newest X-Vault-Index of
  its writes per cluster and sends it; a node that is behind waits for it, or answers
  412 and the client moves on to another node. Another client's writes may not be
  visible yet.
- `stale`: any node answers from its local state, no index sent. Fastest; may be up
  to `cluster.max_staleness_s` behind (a follower that lost its leader longer than
  that refuses reads with 503).
- `linearizable`: sends `X-Strongbox-Consistency: consistent`; the node runs a no-op
  through Raft before reading, so the read reflects every write acknowledged by the
  cluster before it started, by anyone. Costs a Raft round trip.

`IndexTracker` is thread-safe (a lock around a dict); it never goes backwards.
"""

from __future__ import annotations

import base64
import binascii
import enum
import threading

from strongbox.client.errors import ConfigurationError

INDEX_HEADER = "X-Vault-Index"
CONSISTENCY_HEADER = "X-Strongbox-Consistency"
INCONSISTENT_HEADER = "X-Vault-Inconsistent"


class Consistency(enum.StrEnum):
    """Read consistency level (see the module docstring for what each promises)."""

    READ_YOUR_WRITES = "read_your_writes"
    STALE = "stale"
    LINEARIZABLE = "linearizable"


def parse_consistency(value: str | Consistency) -> Consistency:
    """A `Consistency` from its name (also accepts `consistent` for linearizable)."""
    if isinstance(value, Consistency):
        return value
    name = value.strip().lower().replace("-", "_")
    if name in ("consistent", "strong"):
        return Consistency.LINEARIZABLE
    try:
        return Consistency(name)
    except ValueError:
        choices = ", ".join(c.value for c in Consistency)
        raise ConfigurationError(f"consistency: {value!r} is not one of {choices}") from None


def decode_index(value: str) -> tuple[str, int] | None:
    """(cluster id, raft index) of one X-Vault-Index value; None if it is not one."""
    try:
        text = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    cluster, sep, index = text.rpartition(":")
    if not sep or not cluster or not index.isdigit():
        return None
    return cluster, int(index)


class IndexTracker:
    """The newest X-Vault-Index seen per cluster id, from this client's writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._newest: dict[str, tuple[int, str]] = {}

    def observe(self, header: str | None) -> None:
        """Remember `header` (one or more comma-separated values) if it is newer."""
        if not header:
            return
        for value in header.split(","):
            decoded = decode_index(value)
            if decoded is None:
                continue
            cluster, index = decoded
            with self._lock:
                current = self._newest.get(cluster)
                if current is None or index > current[0]:
                    self._newest[cluster] = (index, value.strip())

    def header(self) -> str | None:
        """The value to send with a read (None before any write)."""
        with self._lock:
            values = [value for _, value in self._newest.values()]
        return ",".join(values) if values else None

    def newest(self, cluster: str) -> int:
        """The newest raft index written on `cluster` (0 if none)."""
        with self._lock:
            current = self._newest.get(cluster)
        return current[0] if current else 0


def read_headers(level: Consistency, tracker: IndexTracker,
                 *, forward_when_behind: bool = False) -> dict[str, str]:
    """Headers a read at `level` carries."""
    if level is Consistency.LINEARIZABLE:
        return {CONSISTENCY_HEADER: "consistent"}
    if level is Consistency.STALE:
        return {}
    index = tracker.header()
    if index is None:
        return {}
    headers = {INDEX_HEADER: index}
    if forward_when_behind:
        headers[INCONSISTENT_HEADER] = "forward-active-node"
    return headers
