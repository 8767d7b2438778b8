"""Background compaction (state/compaction.py): the copy leaves the tick thread free, holds
the state of the moment it began, is installed only by the tick thread, and never replaces
a snapshot that arrived from the leader meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pysyncobj.config import SERIALIZER_STATE
from test_snapshot import Log, put, source, value_of

from strongbox.state import compaction
from strongbox.state.compaction import BackgroundCompaction
from strongbox.state.snapshot import read_snapshot_meta, write_snapshot

S = SERIALIZER_STATE


__all__ = ["source"]  # the fixture of test_snapshot, shared


class _Gate:
    """Holds the background copy until released (stands in for a slow, large copy)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        original = compaction.write_snapshot_of

        def slow(*args: Any, **kwargs: Any) -> int:
            self.started.set()
            assert self.release.wait(20)
            if fail:
                raise OSError(28, "No space left on device")
            return original(*args, **kwargs)

        monkeypatch.setattr(compaction, "write_snapshot_of", slow)


def _tick_until_done(hooks: BackgroundCompaction, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = hooks.checker()
        if state != S.SERIALIZING:
            return state
        time.sleep(0.005)
    raise AssertionError("the background copy did not finish")


def _serialize(hooks: BackgroundCompaction, log: Log, final: Path) -> None:
    """As pysyncobj's Serializer.serialize: the hook, then its rename of .tmp."""
    tmp = str(final) + ".tmp"
    hooks.serializer(tmp, (*log.entries(), set()))
    Path(tmp).replace(final)


def test_the_first_snapshot_is_written_at_once(source: Log, tmp_path: Path) -> None:
    final = tmp_path / "snapshot.bin"
    hooks = BackgroundCompaction(source.store, str(final))
    _serialize(hooks, source, final)
    assert hooks.checker() == S.SUCCESS
    assert hooks.checker() == S.NOT_SERIALIZING  # reported exactly once
    assert read_snapshot_meta(final).applied_index == source.index


def test_later_copies_run_beside_the_tick_and_hold_the_state_they_began_with(
        source: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "snapshot.bin"
    write_snapshot(source.store, str(final), source.entries(), [])
    previous = final.read_bytes()
    began_at = source.index + 1
    source(put("app/db", 21, b"app/db@21"))
    gate = _Gate(monkeypatch)
    hooks = BackgroundCompaction(source.store, str(final))
    _serialize(hooks, source, final)
    assert gate.started.wait(10)
    # the tick thread is free: it answers at once and the store takes more writes
    assert hooks.checker() == S.SERIALIZING
    source(put("app/db", 22, b"app/db@22"))
    assert final.read_bytes() == previous  # pysyncobj's rename kept the current snapshot
    gate.release.set()
    assert _tick_until_done(hooks) == S.SUCCESS
    info = read_snapshot_meta(final)
    assert info.applied_index == began_at  # the state at the start, not the later write
    assert not Path(str(final) + ".partial").exists()
    assert not Path(str(final) + ".tmp").exists()
    assert hooks.copies == 1
    assert value_of(source.store, "app/db", 22) == b"app/db@22"


def test_a_copy_older_than_an_installed_snapshot_is_dropped(
        source: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "snapshot.bin"
    write_snapshot(source.store, str(final), source.entries(), [])
    gate = _Gate(monkeypatch)
    hooks = BackgroundCompaction(source.store, str(final))
    _serialize(hooks, source, final)
    assert gate.started.wait(10)
    installed = threading.Thread(target=hooks.deserializer, args=(str(final),))
    installed.start()  # a snapshot from the leader: it waits for the copy first
    time.sleep(0.05)
    assert installed.is_alive()
    gate.release.set()
    installed.join(20)
    from_leader = final.read_bytes()
    assert _tick_until_done(hooks) == S.FAILED  # the journal is kept
    assert final.read_bytes() == from_leader
    assert not Path(str(final) + ".partial").exists()


def test_a_failed_copy_keeps_the_snapshot_and_backs_off(
        source: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final = tmp_path / "snapshot.bin"
    write_snapshot(source.store, str(final), source.entries(), [])
    previous = final.read_bytes()
    gate = _Gate(monkeypatch, fail=True)
    hooks = BackgroundCompaction(source.store, str(final))
    _serialize(hooks, source, final)
    gate.release.set()
    assert _tick_until_done(hooks) == S.FAILED
    assert final.read_bytes() == previous
    with pytest.raises(ValueError, match="backing off"):
        hooks.serializer(str(final) + ".tmp", (*source.entries(), set()))
    assert hooks.checker() == S.FAILED
    assert hooks.checker() == S.NOT_SERIALIZING
