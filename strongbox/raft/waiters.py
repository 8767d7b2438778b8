"""Futures of Raft proposals, settled from pysyncobj's tick thread on their own event loop.

`Pending` holds the proposals a leader is waiting on; `fail_all` (tick thread) fails
them together when the leadership is lost. `settle` turns pysyncobj's callback
(result, FAIL_REASON) into the future's result or a `NoLeader`; `resolve` sets a plain
value. All three are no-ops on a future that is already done.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from pysyncobj.config import FAIL_REASON

from strongbox.errors import NoLeader
from strongbox.pb import records_pb2 as rec


class Pending:
    """Futures of proposals in flight, failed together when the leadership is lost.

    `add`/`discard` run on the event loop, `fail_all` on the tick thread: a lock
    guards the set and each future is settled on its own loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[asyncio.Future[Any], asyncio.AbstractEventLoop] = {}

    def add(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any]) -> None:
        with self._lock:
            self._futures[future] = loop

    def discard(self, future: asyncio.Future[Any]) -> None:
        with self._lock:
            self._futures.pop(future, None)

    def fail_all(self, error: Exception) -> int:
        with self._lock:
            futures, self._futures = self._futures, {}
        for future, loop in futures.items():
            loop.call_soon_threadsafe(fail, future, error)
        return len(futures)


def fail(future: asyncio.Future[Any], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)


def settle(future: asyncio.Future[rec.ApplyResult], result: rec.ApplyResult | None,
           error: int) -> None:
    if future.done():
        return
    if error == FAIL_REASON.SUCCESS and result is not None:
        future.set_result(result)
    elif error == FAIL_REASON.QUEUE_FULL:
        future.set_exception(NoLeader("the Raft proposal queue is full; retry shortly"))
    else:
        future.set_exception(NoLeader(
            "the write was not committed (leader changed or lost); retry with the same "
            "Idempotency-Key"))


def resolve(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)
