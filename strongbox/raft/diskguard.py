"""Low disk space: stop taking part before a write can fail, resume when space returns.

A write that fails half-way (ENOSPC on the journal's fsync, on LMDB's commit, on
the journal meta) cannot be retried safely after "fsyncgate", so the node stops
with exit code 70 when one happens (raft/node.py). `DiskGuard` keeps that from
being the normal route for a disk that fills up: the tick thread calls
`check()` on every tick, and while the file system holding the data directory
has less than `min_free_bytes` available to us:

- the tick thread waits inside `wait_for_space()`, re-checking every
  `poll_s`: the node sends no heartbeats and acknowledges no entries, so a
  leader loses its leadership to a follower (its followers elect another after
  an election timeout) and a follower simply falls behind, as if paused. No
  journal or LMDB write is attempted, so nothing on disk is touched;
- `full` is True, and the HTTP layer answers writes on this node with 507
  (`errors.InsufficientStorage`), reads keep working within the usual
  staleness bound;
- once available space is back above the threshold plus `resume_margin_bytes`
  (hysteresis, so it does not flap), the wait ends and Raft catches up as after
  any pause, with no restart.

`min_free_bytes` is `[storage] min_free_mb` (default 64 MiB: more than the
largest batch of entries and LMDB pages one tick writes). 0 turns the guard off.
`statvfs` is cheap (microseconds) but is still called at most every
`check_interval_s`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("strongbox.raft.disk")


def available_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


class DiskGuard:
    def __init__(self, path: Path, min_free_bytes: int, *, poll_s: float = 0.25,
                 check_interval_s: float = 0.05, resume_margin_bytes: int | None = None,
                 available: Callable[[Path], int] = available_bytes,
                 on_change: Callable[[bool], None] | None = None) -> None:
        self.path = path
        self.min_free_bytes = min_free_bytes
        self.resume_bytes = min_free_bytes + (resume_margin_bytes if resume_margin_bytes
                                              is not None else min_free_bytes // 4)
        self.poll_s = poll_s
        self.check_interval_s = check_interval_s
        self._available = available
        self._on_change = on_change
        self._checked = 0.0
        self.full = False
        self.episodes = 0  # how many times the node ran low (metrics, tests)

    def _free(self) -> int | None:
        try:
            return self._available(self.path)
        except OSError:
            return None  # cannot tell: do not stop the node over a failed statvfs

    def check(self) -> bool:
        """True if there is room to go on; False (and `full`) when space ran low."""
        if self.min_free_bytes <= 0:
            return True
        now = time.monotonic()
        if now - self._checked < self.check_interval_s and not self.full:
            return True
        self._checked = now
        free = self._free()
        if free is None or free >= self.min_free_bytes:
            return True
        if not self.full:
            self.full = True
            self.episodes += 1
            log.critical("only %d MiB free on the file system of %s (the node needs %d MiB): "
                         "refusing writes (507) and pausing Raft until space is freed",
                         free // 2**20, self.path, self.min_free_bytes // 2**20)
            if self._on_change is not None:
                self._on_change(True)
        return False

    def wait_for_space(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Block (the tick thread) until free space is back above the resume threshold."""
        while not stop():
            free = self._free()
            if free is not None and free >= self.resume_bytes:
                break
            time.sleep(self.poll_s)
        if self.full:
            self.full = False
            log.warning("disk space is back on %s; resuming Raft", self.path)
            if self._on_change is not None:
                self._on_change(False)
