"""The clock seam: where the node's "now" comes from, outside the state machine.

`Clock.now_ns()` is wall-clock time in nanoseconds since the epoch. The node uses
`SystemClock`; tests use `FixedClock`, which moves only when told; with fault
injection on, `FaultClock` steps a running node's clock from its faults.json. Apply never
reads a clock: it takes time from the command (`Command.time_ns`, stamped by
`Core.submit` from this clock) and clamps it so it never runs backwards across
a leader change (`state.apply`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
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


class FaultClock:
    """A test hook (`cluster.fault_injection = true`): another clock plus a step.

    `FaultClock(path, base=SYSTEM)` returns `base.now_ns()` plus `clock_offset_s`
    (seconds, a float, may be negative) read from the JSON file at `path` (the node's
    `<data_dir>/faults.json`, as `raft.transport_grpc.FaultSwitch` reads "blocked"). The
    file is re-read at most every 100 ms (monotonic time), so a test steps the clock of a
    running node by rewriting the file; a missing or unreadable file, or a missing or
    non-numeric key, means no offset. Other keys of the file are ignored.
    """

    def __init__(self, path: Path, base: Clock | None = None) -> None:
        self.path = Path(path)
        self.base: Clock = base if base is not None else SYSTEM
        self._offset_ns = 0
        self._checked = float("-inf")

    def offset_ns(self) -> int:
        now = time.monotonic()
        if now - self._checked > 0.1:
            self._checked = now
            try:
                value = json.loads(self.path.read_text()).get("clock_offset_s", 0)
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                offset = float(value) if numeric else 0.0
            except (OSError, ValueError, AttributeError):
                offset = 0.0
            self._offset_ns = int(offset * 10**9)
        return self._offset_ns

    def now_ns(self) -> int:
        return self.base.now_ns() + self.offset_ns()


SYSTEM = SystemClock()
