"""When a replicated record with a lifetime ends: tokens, wrapped responses, secret ids.

Every such record carries `creation_time_ns` and `ttl_ns` (0 = it never ends). Apply
passes the command's time as `now_ns`, the API its own clock; both ask here, so a
record ends at the same instant for each of them.
"""

from __future__ import annotations

from typing import Protocol


class HasLifetime(Protocol):
    @property
    def creation_time_ns(self) -> int: ...
    @property
    def ttl_ns(self) -> int: ...


def ends_at(record: HasLifetime) -> int:
    """The end of the record's life in ns since the epoch; 0 = never."""
    return record.creation_time_ns + record.ttl_ns if record.ttl_ns else 0


def lapsed(record: HasLifetime, now_ns: int) -> bool:
    end = ends_at(record)
    return bool(end) and end <= now_ns
