"""Singleflight: N concurrent identical reads → one request; the others wait for it
and share its answer (or its exception). Keyed like the read cache.

`Singleflight` is for threads (an Event per flight), `AsyncSingleflight` for tasks of
one event loop (a Future per flight). A flight ends when its leader returns; a call
that starts after that makes a new request (the cache, if any, answers it instead).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(slots=True)
class _Flight(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None
    waiters: int = 0


class Singleflight(Generic[T]):
    """Thread-safe: `run(key, fn)` calls `fn` once per concurrent group of callers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Hashable, _Flight[T]] = {}

    def run(self, key: Hashable, fn: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
            else:
                flight.waiters += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value  # type: ignore[return-value]
        try:
            flight.value = fn()
            return flight.value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def waiting(self, key: Hashable) -> int:
        """How many callers wait for the flight of `key` (0 if none is running)."""
        with self._lock:
            flight = self._flights.get(key)
            return flight.waiters if flight is not None else 0


class AsyncSingleflight(Generic[T]):
    """For tasks of one event loop: `await run(key, fn)` awaits `fn()` once per group."""

    def __init__(self) -> None:
        self._flights: dict[Hashable, asyncio.Future[T]] = {}

    async def run(self, key: Hashable, fn: Callable[[], Awaitable[T]]) -> T:
        flight = self._flights.get(key)
        if flight is not None:
            return await asyncio.shield(flight)
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        try:
            value = await fn()
        except BaseException as exc:
            flight.set_exception(exc)
            flight.exception()  # mark retrieved: waiters may be none
            raise
        else:
            flight.set_result(value)
            return value
        finally:
            del self._flights[key]
