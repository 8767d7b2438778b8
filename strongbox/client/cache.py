"""Optional read cache of a client (off by default): TTL-bounded, size-bounded (LRU).

Keys are (namespace, token, method, path, query): two tokens never share an entry,
because their policies may differ. Only successful reads made through the
convenience methods (`read`, `list`, typed KV reads) are stored; a cached answer is
as old as `ttl` at most, so caching weakens read-your-writes to "your own writes
through this client": the client's own writes invalidate the path they wrote, and for
KV v2 the sibling paths (`data/` ↔ `metadata/` ↔ `subkeys/`, and the `delete/`,
`undelete/`, `destroy/` forms) plus the LIST entries of every parent folder.
Other clients' writes are visible only after `ttl`. Thread-safe (one lock).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")
CacheKey = tuple[Hashable, ...]
KV2_SUBPATHS = ("data", "metadata", "subkeys", "delete", "undelete", "destroy")
KV2_READABLE = ("data", "metadata", "subkeys")


def cache_key(namespace: str | None, token: str | None, method: str, path: str,
              params: Mapping[str, Any] | None) -> CacheKey:
    query = tuple(sorted((str(k), str(v)) for k, v in (params or {}).items()))
    return (namespace or "", token or "", method, path.strip("/"), query)


def related_paths(path: str) -> set[str]:
    """Paths whose cached reads a write to `path` makes stale (see the docstring)."""
    clean = path.strip("/")
    related = {clean}
    segments = clean.split("/")
    for i, segment in enumerate(segments[:-1]):
        if segment in KV2_SUBPATHS and i > 0:
            rest = "/".join(segments[i + 1:])
            mount = "/".join(segments[:i])
            related.update(f"{mount}/{sub}/{rest}" for sub in KV2_READABLE)
    parents: set[str] = set()
    for item in related:
        parts = item.split("/")
        parents.update("/".join(parts[:n]) for n in range(1, len(parts)))
    return related | parents


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    expires: float


class ReadCache(Generic[V]):
    """An LRU of at most `max_entries` values, each kept `ttl` seconds."""

    def __init__(self, ttl: float = 5.0, max_entries: int = 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if ttl <= 0 or max_entries <= 0:
            raise ValueError("cache ttl and max_entries must be positive")
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[CacheKey, _Entry[V]] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def get(self, key: CacheKey) -> V | None:
        """The value if present and fresh (it becomes most recently used)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.expires <= now:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry.value

    def put(self, key: CacheKey, value: V) -> None:
        with self._lock:
            self._entries[key] = _Entry(value, self._clock() + self.ttl)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def invalidate(self, path: str) -> int:
        """Drop every entry a write to `path` makes stale; how many were dropped."""
        stale = related_paths(path)
        with self._lock:
            keys = [key for key in self._entries if key[3] in stale]
            for key in keys:
                del self._entries[key]
        return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
