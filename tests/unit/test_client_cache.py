"""strongbox.client.cache and singleflight: TTL, LRU, invalidation, one request per group."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from strongbox.client.cache import ReadCache, cache_key, related_paths
from strongbox.client.singleflight import AsyncSingleflight, Singleflight


def key(path: str) -> tuple[object, ...]:
    return cache_key(None, "t", "GET", path, None)


def test_entries_expire_after_the_ttl() -> None:
    now = [0.0]
    cache: ReadCache[str] = ReadCache(ttl=5.0, clock=lambda: now[0])
    cache.put(key("a"), "v")
    now[0] = 4.9
    assert cache.get(key("a")) == "v"
    now[0] = 5.0
    assert cache.get(key("a")) is None and len(cache) == 0


def test_least_recently_used_entry_is_evicted() -> None:
    cache: ReadCache[str] = ReadCache(ttl=60, max_entries=2)
    cache.put(key("a"), "a")
    cache.put(key("b"), "b")
    assert cache.get(key("a")) == "a"  # b is now the oldest
    cache.put(key("c"), "c")
    assert cache.get(key("b")) is None and cache.get(key("a")) == "a"
    assert cache.get(key("c")) == "c"


def test_tokens_and_queries_do_not_share_entries() -> None:
    assert cache_key(None, "t1", "GET", "p", None) != cache_key(None, "t2", "GET", "p", None)
    assert cache_key(None, "t", "GET", "p", {"version": 1}) != cache_key(None, "t", "GET", "p",
                                                                         None)


def test_kv2_writes_invalidate_data_metadata_siblings_and_parent_lists() -> None:
    related = related_paths("secret/data/app/db")
    assert {"secret/data/app/db", "secret/metadata/app/db", "secret/subkeys/app/db",
            "secret/metadata/app", "secret/metadata"} <= related
    assert "secret/metadata/app/db" in related_paths("secret/destroy/app/db")
    assert "other/data/app/db" not in related


def test_invalidate_drops_only_stale_entries() -> None:
    cache: ReadCache[str] = ReadCache(ttl=60)
    for path in ("secret/data/a", "secret/metadata/a", "secret/data/b"):
        cache.put(key(path), path)
    assert cache.invalidate("secret/data/a") == 2
    assert cache.get(key("secret/data/b")) == "secret/data/b"


def test_bad_cache_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        ReadCache(ttl=0)


def test_singleflight_threads_share_one_call() -> None:
    flights: Singleflight[int] = Singleflight()
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow() -> int:
        calls.append(1)
        started.set()
        release.wait(10)
        return 42
    results: list[int] = []
    leader = threading.Thread(target=lambda: results.append(flights.run("k", slow)))
    leader.start()
    assert started.wait(10)
    followers = [threading.Thread(target=lambda: results.append(flights.run("k", slow)))
                 for _ in range(7)]
    for thread in followers:
        thread.start()
    deadline = time.monotonic() + 10
    while flights.waiting("k") < 7 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in [leader, *followers]:
        thread.join(10)
    assert len(calls) == 1 and results == [42] * 8
    assert flights.run("k", lambda: 7) == 7  # the flight ended


def test_singleflight_shares_the_exception() -> None:
    flights: Singleflight[int] = Singleflight()

    def boom() -> int:
        raise RuntimeError("down")
    with pytest.raises(RuntimeError, match="down"):
        flights.run("k", boom)


def test_async_singleflight_tasks_share_one_call() -> None:
    calls = []

    async def main() -> list[int]:
        flights: AsyncSingleflight[int] = AsyncSingleflight()

        async def slow() -> int:
            calls.append(1)
            await asyncio.sleep(0.05)
            return 5
        return await asyncio.gather(*(flights.run("k", slow) for _ in range(10)))
    assert asyncio.run(main()) == [5] * 10 and len(calls) == 1
