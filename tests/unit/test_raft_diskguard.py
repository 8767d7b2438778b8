"""DiskGuard (low space pauses Raft) and the one failure route of the journal."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import NoReturn

import pytest

from strongbox.raft.diskguard import DiskGuard
from strongbox.raft.journal import DurableJournal

MiB = 2**20


class Space:
    def __init__(self, free: int) -> None:
        self.free = free

    def __call__(self, path: Path) -> int:
        return self.free


def test_enough_space_goes_on(tmp_path: Path) -> None:
    guard = DiskGuard(tmp_path, 64 * MiB, available=Space(65 * MiB), check_interval_s=0)
    assert guard.check() and not guard.full


def test_low_space_stops_and_waits_until_space_is_back_with_margin(tmp_path: Path) -> None:
    space = Space(10 * MiB)
    changes: list[bool] = []
    guard = DiskGuard(tmp_path, 64 * MiB, available=space, check_interval_s=0, poll_s=0.001,
                      on_change=changes.append)
    assert not guard.check() and guard.full and changes == [True]
    space.free = 65 * MiB            # above the threshold but inside the hysteresis margin
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (guard.wait_for_space(), done.set()))
    waiter.start()
    assert not done.wait(0.05) and guard.full
    space.free = 200 * MiB
    assert done.wait(5.0)
    waiter.join()
    assert not guard.full and changes == [True, False] and guard.episodes == 1


def test_zero_turns_it_off_and_a_failed_statvfs_never_stops_the_node(tmp_path: Path) -> None:
    def broken(path: Path) -> int:
        raise OSError("statvfs failed")

    assert DiskGuard(tmp_path, 0, available=Space(0)).check()
    assert DiskGuard(tmp_path, 64 * MiB, available=broken, check_interval_s=0).check()


def test_the_real_file_system_has_room(tmp_path: Path) -> None:
    assert DiskGuard(tmp_path, 1, check_interval_s=0).check()


class Stopped(Exception):
    pass


def test_every_journal_io_failure_takes_the_failure_route(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """fsync, meta writes and truncation all reach on_failure, not only the log fsync."""
    seen: list[str] = []

    def on_failure(exc: OSError) -> NoReturn:
        seen.append(exc.strerror or str(exc))
        raise Stopped

    def no_space(*args: object) -> None:
        raise OSError(28, "No space left on device")

    journal = DurableJournal(tmp_path / "j", on_failure=on_failure)
    second = DurableJournal(tmp_path / "k", on_failure=on_failure)
    third = DurableJournal(tmp_path / "m", on_failure=on_failure)
    journal.add(b"a", 1, 1)
    third.add(b"b", 1, 1)
    third.add(b"b", 2, 1)
    third.sync()
    third.setRaftCommitIndex(2)
    monkeypatch.setattr("strongbox.raft.journal.os.fsync", no_space)
    with pytest.raises(Stopped):
        journal.sync()
    assert seen == ["No space left on device"]
    with pytest.raises(Stopped):
        second.setCurrentTerm(3, "node-2")        # the meta file's fsync
    with pytest.raises(Stopped):
        third.onOneSecondTimer()                  # the timer's meta write (wedged before)
    assert len(seen) == 3
    with pytest.raises(OSError, match="unusable after earlier I/O error"):
        journal.add(b"c", 2, 1)                   # and nothing is written after a failure


def test_hide_after_is_a_read_only_view(tmp_path: Path) -> None:
    journal = DurableJournal(tmp_path / "j")
    for idx in range(1, 6):
        journal.add(b"x%d" % idx, idx, 1)
    with journal.hide_after(3):
        assert len(journal) == 3 and journal[-1][1] == 3
        assert [e[1] for e in journal[1:]] == [2, 3]
        with pytest.raises(IndexError):
            journal[3]
        with pytest.raises(RuntimeError):
            journal.add(b"y", 6, 1)
        with pytest.raises(RuntimeError):
            journal.deleteEntriesFrom(1)
    assert len(journal) == 5 and journal[-1][1] == 5
