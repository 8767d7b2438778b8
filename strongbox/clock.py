"""The clock seam: where the node's "now" comes from, outside the state machine.

`Clock.now_ns()` is wall-clock time in nanoseconds since the epoch. The node uses
`SystemClock`; tests use `FixedClock`, which moves only when told. Apply never
reads a clock: it takes time from the command (`Command.time_ns`, stamped by
`Core.submit` from this clock) and clamps it so it never runs backwards across
a leader change (`state.apply`).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int: ...


class SystemClock:
    """The machine's wall clock."""

    def now_ns(self) -> int:
        return time.time_ns()


class FixedClock:
    """A clock that stands still until `advance` or `set` moves it (tests)."""

    def __init__(self, now_ns: int = 1_700_000_000 * 10**9) -> None:
        self._now = now_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += int(seconds * 10**9)

    def set(self, now_ns: int) -> None:
        self._now = now_ns


SYSTEM = SystemClock()
