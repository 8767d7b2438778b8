"""The read workers' channel frames (workers/wire.py) and the worker count."""

from __future__ import annotations

import asyncio
import struct

import pytest

from strongbox.config import MAX_WORKERS
from strongbox.workers import wire
from strongbox.workers.supervisor import available_cpus, worker_count


def _read(data: bytes) -> tuple[int, bytes]:
    async def go() -> tuple[int, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await wire.read_frame(reader)
    return asyncio.run(go())


def test_frames_round_trip() -> None:
    assert _read(wire.encode(wire.PROPOSE, b"command")) == (wire.PROPOSE, b"command")
    assert _read(wire.encode(wire.STATE, b"")) == (wire.STATE, b"")


def test_bad_frames_are_refused_not_read() -> None:
    with pytest.raises(wire.FrameError, match="kind 99"):
        _read(struct.pack(">BI", 99, 3) + b"abc")
    with pytest.raises(wire.FrameError):  # a length past the limit is never allocated
        _read(struct.pack(">BI", wire.PROXY, wire.MAX_FRAME + 1))
    with pytest.raises(wire.FrameError):
        wire.encode(wire.PROXY, b"x" * (wire.MAX_FRAME + 1))
    with pytest.raises(asyncio.IncompleteReadError):  # the peer went away mid-frame
        _read(struct.pack(">BI", wire.PROXY, 10) + b"short")


def test_worker_count_follows_the_config_and_the_cpus() -> None:
    assert worker_count(3, MAX_WORKERS) == 3
    assert worker_count(0, MAX_WORKERS) == min(available_cpus(), MAX_WORKERS) >= 1
    assert worker_count(0, 1) == 1
    assert worker_count(40, MAX_WORKERS) == MAX_WORKERS
