"""Tests for strongbox.raft.journal.DurableJournal."""

from __future__ import annotations

import errno
import itertools
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path

import pysyncobj.syncobj
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.journal import Journal

from strongbox.raft.journal import DurableJournal, Entry, JournalCorruptError

LOG = "raft.log"


def _fill(j: DurableJournal, n: int, start: int = 1, term: int = 1) -> list[Entry]:
    entries = [(b"cmd-%d" % i, i, term) for i in range(start, start + n)]
    for e in entries:
        j.add(*e)
    return entries


def _crash_copy(src: Path, dst: Path) -> DurableJournal:
    """Open what is on disk right now (unflushed/unsynced buffers are 'lost')."""
    shutil.copytree(src, dst)
    return DurableJournal(dst)


def test_is_a_pysyncobj_journal(tmp_path: Path) -> None:
    j = DurableJournal(tmp_path / "a" / "b")
    assert isinstance(j, Journal)
    assert (tmp_path / "a" / "b" / LOG).exists()
    assert len(j) == 0
    assert j.getCurrentTerm() == 0
    assert j.getVotedForNodeId() is None
    assert j.getRaftCommitIndex() == 1
    j._destroy()
    j._destroy()  # idempotent


def test_round_trip(tmp_path: Path) -> None:
    j = DurableJournal(tmp_path)
    entries = _fill(j, 10)
    j.add(b"", 11, 2)
    j.add(bytes(range(256)) * 10, 12, 2)
    entries += [(b"", 11, 2), (bytes(range(256)) * 10, 12, 2)]
    j.setCurrentTerm(2, "127.0.0.1:4321")
    j.setRaftCommitIndex(9)
    j.sync()
    j._destroy()

    j2 = DurableJournal(tmp_path)
    assert j2[:] == entries
    assert j2[-1] == entries[-1]
    assert j2[3:5] == entries[3:5]
    assert j2.getCurrentTerm() == 2
    assert j2.getVotedForNodeId() == "127.0.0.1:4321"
    assert j2.getRaftCommitIndex() == 9
    j2._destroy()


def test_meta_is_json_not_pickle(tmp_path: Path) -> None:
    j = DurableJournal(tmp_path)
    j.setCurrentTerm(7, None)
    meta = json.loads((tmp_path / "raft.meta").read_bytes())
    assert meta["term"] == 7 and meta["voted_for"] is None
    with pytest.raises(TypeError):
        j.setCurrentTerm(8, 123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        j.add("not bytes", 1, 1)  # type: ignore[arg-type]
    j._destroy()
    (tmp_path / "raft.meta").write_bytes(b"\x80\x04garbage")
    with pytest.raises(JournalCorruptError, match=r"raft\.meta"):
        DurableJournal(tmp_path)


def test_set_current_term_durable_without_sync(tmp_path: Path) -> None:
    j = DurableJournal(tmp_path / "live")
    _fill(j, 3)
    j.setRaftCommitIndex(3)  # not synced: must not be persisted by setCurrentTerm
    j.setCurrentTerm(5, "node-b:1")
    crashed = _crash_copy(tmp_path / "live", tmp_path / "crash")
    assert crashed.getCurrentTerm() == 5
    assert crashed.getVotedForNodeId() == "node-b:1"
    assert crashed.getRaftCommitIndex() == 1
    crashed._destroy()
    j._destroy()


def test_commit_index_persisted_by_timer_not_by_hot_path_sync(tmp_path: Path) -> None:
    j = DurableJournal(tmp_path / "live")
    _fill(j, 5)
    j.sync()
    j.setRaftCommitIndex(4)
    j.sync()  # one fsync of the log only: the commit index is an optimisation
    crashed = _crash_copy(tmp_path / "live", tmp_path / "c1")
    assert crashed.getRaftCommitIndex() == 1
    crashed._destroy()
    j.onOneSecondTimer()
    crashed = _crash_copy(tmp_path / "live", tmp_path / "c2")
    assert crashed.getRaftCommitIndex() == 4
    crashed._destroy()
    j._destroy()


def test_sync_batches_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    durations: list[float] = []
    j = DurableJournal(tmp_path, on_fsync=durations.append)
    durations.clear()
    log_inode = os.stat(tmp_path / LOG).st_ino
    fsynced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        fsynced.append(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    assert not j.needs_sync
    _fill(j, 5)
    assert j.needs_sync
    assert fsynced == []
    j.sync()
    assert fsynced.count(log_inode) == 1
    assert not j.needs_sync
    assert len(durations) == 1 and durations[0] >= 0
    j.sync()  # nothing to do
    assert fsynced.count(log_inode) == 1
    j._destroy()


def test_failed_fsync_raises_and_poisons(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    j = DurableJournal(tmp_path)
    _fill(j, 2)

    def enospc(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", enospc)
    with pytest.raises(OSError) as info:
        j.sync()
    assert info.value.errno == errno.ENOSPC
    assert j.needs_sync
    monkeypatch.setattr(os, "fsync", real_fsync)
    with pytest.raises(OSError, match="unusable") as info:
        j.sync()  # a retry must not report success after a failed fsync
    assert info.value.errno == errno.ENOSPC
    with pytest.raises(OSError):
        j.add(b"x", 3, 1)
    with pytest.raises(OSError):
        j._destroy()


def test_delete_entries_from_truncates_file(tmp_path: Path) -> None:
    j = DurableJournal(tmp_path)
    entries = _fill(j, 6)
    j.deleteEntriesFrom(3)
    assert not j.needs_sync
    assert os.path.getsize(tmp_path / LOG) == 8 + 3 * (12 + 16 + len(b"cmd-1"))
    assert j[:] == entries[:3]
    j.add(b"new", 4, 2)
    j.deleteEntriesTo(2)
    assert j[:] == [entries[2], (b"new", 4, 2)]
    assert not (tmp_path / "raft.log.tmp").exists()
    j._destroy()
    j2 = DurableJournal(tmp_path)
    assert j2[:] == [entries[2], (b"new", 4, 2)]
    j2.clear()
    j2._destroy()
    assert DurableJournal(tmp_path)[:] == []


@pytest.mark.parametrize("cut", [1, 5, 12, 20, 29])
def test_torn_tail_is_truncated(tmp_path: Path, cut: int, caplog: pytest.LogCaptureFixture) -> None:
    j = DurableJournal(tmp_path)
    entries = _fill(j, 4)
    j.sync()
    good_size = os.path.getsize(tmp_path / LOG)
    j.add(b"secret-tail-XYZ", 5, 1)
    j._destroy()
    full_size = os.path.getsize(tmp_path / LOG)
    assert 0 < cut < full_size - good_size
    os.truncate(tmp_path / LOG, full_size - cut)

    with caplog.at_level(logging.WARNING, logger="strongbox.raft.journal"):
        j2 = DurableJournal(tmp_path)
    assert j2[:] == entries
    assert os.path.getsize(tmp_path / LOG) == good_size
    assert f"offset {good_size}" in caplog.text
    assert "secret" not in caplog.text
    j2.add(b"after", 5, 2)  # appending after the repair works
    j2._destroy()
    assert DurableJournal(tmp_path)[:] == [*entries, (b"after", 5, 2)]


@pytest.mark.parametrize(
    "garbage", [b"\x00" * 4096, b"garbage!", b"SBRC\xff\xff\xff\x00", b"SBRC" + b"\x10" * 30]
)
def test_garbage_tail_is_truncated(tmp_path: Path, garbage: bytes) -> None:
    j = DurableJournal(tmp_path)
    entries = _fill(j, 3)
    j._destroy()
    good_size = os.path.getsize(tmp_path / LOG)
    with open(tmp_path / LOG, "ab") as f:
        f.write(garbage)
    j2 = DurableJournal(tmp_path)
    assert j2[:] == entries
    assert os.path.getsize(tmp_path / LOG) == good_size
    j2._destroy()


@pytest.mark.parametrize("where", ["magic", "length", "crc", "payload"])
def test_corrupt_middle_record_raises(tmp_path: Path, where: str) -> None:
    j = DurableJournal(tmp_path)
    _fill(j, 3)
    j._destroy()
    data = bytearray((tmp_path / LOG).read_bytes())
    rec1 = data.index(b"SBRC", data.index(b"SBRC") + 1)  # second record
    data[rec1 + {"magic": 0, "length": 5, "crc": 9, "payload": 20}[where]] ^= 0x40
    (tmp_path / LOG).write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError, match=rf"raft\.log: corrupt record at offset {rec1}"):
        DurableJournal(tmp_path)


def test_bad_file_header_raises(tmp_path: Path) -> None:
    (tmp_path / LOG).write_bytes(b"PYSYNCOBJ\x00\x00")
    with pytest.raises(JournalCorruptError, match="header"):
        DurableJournal(tmp_path)


# -- model-based test ---------------------------------------------------------------------

_u64 = st.integers(min_value=0, max_value=2**64 - 1)
_pos = st.integers(min_value=-4, max_value=12)


def test_matches_list_model(tmp_path: Path) -> None:
    counter = itertools.count()

    class JournalModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.base = tmp_path / f"run{next(counter)}"
            self.dirs = (self.base / f"d{i}" for i in itertools.count())
            self.dir = next(self.dirs)
            self.j = DurableJournal(self.dir)
            self.model: list[Entry] = []
            self.durable_len = 0  # entries guaranteed on disk
            self.term: tuple[int, str | None] = (0, None)
            self.commit = 1
            self.stored_commit = 1

        def _durable(self) -> None:
            self.durable_len = len(self.model)

        @rule(entries=st.lists(st.tuples(st.binary(max_size=40), _u64, _u64), max_size=6))
        def add(self, entries: list[Entry]) -> None:
            for entry in entries:
                self.j.add(*entry)
                self.model.append(entry)

        @rule(n=_pos, to=st.booleans())
        def delete(self, n: int, to: bool) -> None:
            before = len(self.model)
            if to:
                self.j.deleteEntriesTo(n)
                self.model = self.model[n:]
            else:
                self.j.deleteEntriesFrom(n)
                del self.model[n:]
            if len(self.model) != before:  # a real deletion leaves the log fully durable
                self._durable()

        @precondition(lambda self: len(self.model) > 4)
        @rule()
        def clear(self) -> None:
            self.j.clear()
            self.model = []
            self._durable()

        @rule(term=st.integers(0, 100), vote=st.none() | st.sampled_from(["a:1", "b:2", "é:3"]))
        def set_term(self, term: int, vote: str | None) -> None:
            self.j.setCurrentTerm(term, vote)
            self.term = (term, vote)

        @rule(commit=st.integers(0, 2**64 - 1))
        def set_commit(self, commit: int) -> None:
            self.j.setRaftCommitIndex(commit)
            self.commit = commit

        @rule()
        def sync(self) -> None:
            self.j.sync()
            self._durable()
            # the commit index is stored by the timer, not by the hot-path sync
            assert not self.j.needs_sync

        @rule()
        def timer(self) -> None:
            self.j.onOneSecondTimer()
            if self.commit != self.stored_commit:
                self._durable()
                self.stored_commit = self.commit

        def _after_open(self, commit: int) -> None:
            if self.model and commit > self.model[-1][1]:
                commit = self.model[-1][1]
            self.commit = self.stored_commit = commit
            self._durable()

        @rule()
        def reopen(self) -> None:
            self.j._destroy()
            self.j = DurableJournal(self.dir)
            self._after_open(self.commit)

        @rule()
        def crash(self) -> None:
            new_dir = next(self.dirs)
            shutil.copytree(self.dir, new_dir)
            self.j._destroy()
            self.dir, self.j = new_dir, DurableJournal(new_dir)
            recovered = self.j[:]
            assert self.durable_len <= len(recovered) <= len(self.model)
            assert recovered == self.model[: len(recovered)]
            self.model = recovered
            self._after_open(self.stored_commit)

        @precondition(lambda self: bool(self.model))
        @rule(data=st.data())
        def index(self, data: st.DataObject) -> None:
            i = data.draw(st.integers(-len(self.model), len(self.model) - 1))
            assert self.j[i] == self.model[i]

        @rule(start=st.none() | _pos, stop=st.none() | _pos, step=st.sampled_from([None, 1, 2, -1]))
        def slice_(self, start: int | None, stop: int | None, step: int | None) -> None:
            assert self.j[start:stop:step] == self.model[start:stop:step]

        @invariant()
        def same_as_model(self) -> None:
            assert len(self.j) == len(self.model)
            assert self.j[:] == self.model
            if self.model:
                assert self.j[-1] == self.model[-1]
            else:
                with pytest.raises(IndexError):
                    self.j[-1]
            assert (self.j.getCurrentTerm(), self.j.getVotedForNodeId()) == self.term
            assert self.j.getRaftCommitIndex() == self.commit

        def teardown(self) -> None:
            self.j._destroy()
            shutil.rmtree(self.base, ignore_errors=True)

    run_state_machine_as_test(  # type: ignore[no-untyped-call]
        JournalModel,
        settings=settings(
            max_examples=100,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# -- pysyncobj integration ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Register(SyncObj):  # type: ignore[misc]
    def __init__(self, port: int) -> None:
        conf = SyncObjConf(
            autoTickPeriod=0.01,
            appendEntriesPeriod=0.02,
            raftMinTimeout=0.1,
            raftMaxTimeout=0.2,
            logCompactionMinEntries=10**6,
            logCompactionMinTime=10**6,
        )
        self.values: list[bytes] = []  # before super(): the tick thread replays the log
        super().__init__(f"127.0.0.1:{port}", [], conf)

    @replicated  # type: ignore[untyped-decorator]
    def put(self, value: bytes) -> int:
        self.values.append(value)
        return len(self.values)


def _wait_leader(node: _Register) -> None:
    deadline = time.monotonic() + 5
    while not node._isLeader():
        assert time.monotonic() < deadline, "single node never became leader"
        time.sleep(0.01)


def test_works_as_pysyncobj_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal_dir = tmp_path / "raft"
    monkeypatch.setattr(
        pysyncobj.syncobj, "createJournal", lambda journalFile=None: DurableJournal(journal_dir)
    )

    node = _Register(_free_port())
    try:
        _wait_leader(node)
        assert [node.put(b"v%d" % i, sync=True, timeout=5) for i in range(3)] == [1, 2, 3]
        first_applied, first_term = node.raftLastApplied, node.raftCurrentTerm
    finally:
        node.destroy_synchronous()

    j = DurableJournal(journal_dir)
    before = j[:]
    assert before[-1][1] == first_applied
    assert j.getCurrentTerm() == first_term
    j._destroy()

    node = _Register(_free_port())
    try:
        _wait_leader(node)
        assert node.raftCurrentTerm > first_term
        assert node.put(b"v3", sync=True, timeout=5) == 4  # old commands were replayed
        assert node.put(b"v4", sync=True, timeout=5) == 5
        assert node.raftLastApplied > first_applied
        assert node.values == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    finally:
        node.destroy_synchronous()

    after = DurableJournal(journal_dir)[:]
    assert after[: len(before)] == before
    assert [e[1] for e in after] == list(range(after[0][1], after[0][1] + len(after)))
    assert after[-1][1] > first_applied
