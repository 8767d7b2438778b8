"""Tests for strongbox.state.snapshot and the Store's environment swap, on real LMDB.

The last group drives a real single-node pysyncobj SyncObj (manual ticks, the durable
journal, the snapshot hooks) through log compaction and restarts.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pysyncobj.syncobj as pso
import pytest
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON
from pysyncobj.journal import Journal
from pysyncobj.node import Node, TCPNode

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.raft.journal import DurableJournal
from strongbox.raft.transport_local import LocalTransport
from strongbox.state import snapshot as snap
from strongbox.state import store as store_mod
from strongbox.state.apply import apply
from strongbox.state.snapshot import (
    MAGIC,
    Member,
    SnapshotError,
    make_hooks,
    read_snapshot_meta,
    restore_snapshot,
    write_snapshot,
)
from strongbox.state.store import POINTER_NAME, Store

R = rec.ApplyResult
T0 = 1_700_000_000_000_000_000
MOUNT = "secret/"
_ids = itertools.count(1)


# --- commands (the shapes of tests/unit/test_apply.py) -------------------------------


def command(**op: Any) -> bytes:
    return cmd_pb.Command(request_id=f"req-{next(_ids)}", time_ns=T0, **op).SerializeToString()


def init_cluster() -> bytes:
    key = rec.KeyRecord(term=1, install_time_ns=T0, sealed_key=b"sealed")
    op = cmd_pb.InitCluster(
        cluster=rec.ClusterRecord(cluster_id="c1", cluster_name="test", secret_shares=1,
                                  secret_threshold=1, sealed_root_key=b"root",
                                  init_time_ns=T0),
        keys=[cmd_pb.NamedKey(name=name, key=key) for name in ("kek/1", "token-hmac")],
        mounts=[rec.MountRecord(path=MOUNT, type="kv", accessor="kv_1",
                                kv_config=rec.KvConfig(max_versions=1000))],
        root_token_hash=b"root-hash",
        root_token=rec.TokenRecord(accessor="acc", policies=["root"]),
    )
    return command(init_cluster=op)


def put(path: str, version: int, value: bytes) -> bytes:
    record = rec.KvVersionRecord(value=rec.Envelope(kek_term=1, wrapped_dek=b"dek",
                                                    ciphertext=value))
    return command(kv_put=cmd_pb.KvPut(namespace="", mount=MOUNT, path=path, version=version,
                                       record=record))


def noop() -> bytes:
    return command(noop=cmd_pb.Noop())


def value_of(store: Store, path: str, version: int) -> bytes | None:
    record = store.kv_version("", MOUNT, path, version)
    return None if record is None else record.value.ciphertext


class Log:
    """A store fed in log order, as the apply thread would."""

    def __init__(self, data_dir: Path) -> None:
        self.store = Store(data_dir, map_size_mb=64)
        self.index = 0

    def __call__(self, data: bytes) -> R:
        self.index += 1
        result = apply(self.store, self.index, data)
        assert result.code == R.OK, result
        return result

    def fill(self, puts: int, path: str = "app/db", first_version: int = 1) -> None:
        if self.index == 0:
            self(init_cluster())
        for version in range(first_version, first_version + puts):
            self(put(path, version, f"{path}@{version}".encode()))
        self(noop())

    def entries(self, term: int = 3) -> tuple[snap.Entry, snap.Entry]:
        """(last, prev) as pysyncobj would pass them for the current index."""
        return (b"\x01last", self.index, term), (b"\x01prev", self.index - 1, term)


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Log]:
    log = Log(tmp_path / "source")
    log.fill(20)
    yield log
    log.store.close()


@pytest.fixture
def snapshot_file(source: Log, tmp_path: Path) -> Path:
    path = tmp_path / "snapshot.bin"
    write_snapshot(source.store, str(path), source.entries(),
                   [Member("n1", "10.0.0.1:8201"), Member("n2")])
    return path


def env_dirs(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name.startswith("store") and p.is_dir())


# --- file format: write, read, restore -------------------------------------------------


def test_write_read_restore_round_trip(source: Log, snapshot_file: Path,
                                       tmp_path: Path) -> None:
    before = time.time_ns()
    info = read_snapshot_meta(snapshot_file)
    assert info.applied_index == source.index == 22
    assert info.last_entry == (b"\x01last", 22, 3)
    assert info.prev_entry == (b"\x01prev", 21, 3)
    assert info.members == (Member("n1", "10.0.0.1:8201"), Member("n2", ""))
    assert 0 < before - info.created_time_ns < 60 * 10**9
    assert snapshot_file.read_bytes().startswith(MAGIC)
    assert snapshot_file.stat().st_size == info.lmdb_offset + info.lmdb_bytes + 32

    target = Store(tmp_path / "target", map_size_mb=64)
    try:
        assert restore_snapshot(target, snapshot_file) is True
        assert target.digest() == source.store.digest()
        assert target.applied_index() == 22
        assert value_of(target, "app/db", 20) == b"app/db@20"
        assert target.path == tmp_path / "target" / "store-1"
        assert (tmp_path / "target" / POINTER_NAME).read_text().strip() == "store-1"
        # The store keeps working as the apply thread's store.
        assert apply(target, 23, put("app/db", 21, b"after")).code == R.OK
        assert value_of(target, "app/db", 21) == b"after"
    finally:
        target.close()
    assert env_dirs(tmp_path / "target") == ["store-1"]  # the replaced env is gone after close


def test_snapshot_of_an_empty_store(tmp_path: Path) -> None:
    empty = Store(tmp_path / "empty", map_size_mb=64)
    path = tmp_path / "s.bin"
    write_snapshot(empty, str(path), ((b"\x00", 2, 1), (b"\x00", 1, 0)), [])
    info = read_snapshot_meta(path)
    assert (info.applied_index, info.members) == (0, ())
    target = Store(tmp_path / "target", map_size_mb=64)
    assert restore_snapshot(target, path) is False  # 0 >= 0: nothing to do
    assert target.digest() == empty.digest()
    empty.close()
    target.close()


def test_restore_is_skipped_when_the_store_is_at_or_past_the_snapshot(
        snapshot_file: Path, source: Log, tmp_path: Path) -> None:
    # The node that wrote it, restarting on its own data.
    digest = source.store.digest()
    assert restore_snapshot(source.store, snapshot_file) is False
    assert source.store.digest() == digest
    # A different store that is further along.
    ahead = Log(tmp_path / "ahead")
    ahead.fill(30, path="other")
    digest = ahead.store.digest()
    assert restore_snapshot(ahead.store, snapshot_file) is False
    assert ahead.store.digest() == digest
    assert ahead.store.path.name == "store"
    assert not (tmp_path / "ahead" / POINTER_NAME).exists()
    ahead.store.close()


def test_restore_replaces_a_store_that_is_behind(snapshot_file: Path, source: Log,
                                                 tmp_path: Path) -> None:
    behind = Log(tmp_path / "behind")
    behind.fill(3, path="stale")
    assert restore_snapshot(behind.store, snapshot_file) is True
    assert behind.store.digest() == source.store.digest()
    assert behind.store.kv_metadata("", MOUNT, "stale") is None
    behind.store.close()


def test_the_store_may_trail_the_last_entry_but_not_pass_it(source: Log,
                                                            tmp_path: Path) -> None:
    # pysyncobj applies its own entries (leader no-ops, membership) without calling apply.
    path = tmp_path / "s.bin"
    last = (b"\x00", source.index + 2, 4)
    write_snapshot(source.store, str(path), (last, (b"\x00", source.index + 1, 4)), [])
    info = read_snapshot_meta(path)
    assert (info.applied_index, info.last_entry) == (source.index, last)
    # A state newer than the log position it would claim is refused.
    with pytest.raises(ValueError, match="past the last applied log entry"):
        write_snapshot(source.store, str(path), ((b"x", 10, 1), (b"x", 9, 1)), [])
    # Entries given as (prev, last) - the order pysyncobj does *not* use - are refused.
    last_entry, prev_entry = source.entries()
    with pytest.raises(ValueError, match="must be"):
        write_snapshot(source.store, str(path), (prev_entry, last_entry), [])
    with pytest.raises(TypeError):
        write_snapshot(source.store, str(path), (("x", 1, 1), (b"x", 0, 1)), [])  # type: ignore[arg-type]


def _flip(offset_of: Callable[[int], int]) -> Callable[[bytes], bytes]:
    def damage(data: bytes) -> bytes:
        at = offset_of(len(data))
        return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]
    return damage


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "byte in the magic": _flip(lambda n: 3),
    "byte in the version": _flip(lambda n: 8),
    "byte in the meta length": _flip(lambda n: 13),
    "byte in the meta": _flip(lambda n: 20),
    "byte in the LMDB copy": _flip(lambda n: n // 2),
    "last LMDB byte": _flip(lambda n: n - 33),
    "byte in the checksum": _flip(lambda n: n - 1),
    "truncated by one byte": lambda d: d[:-1],
    "truncated to half": lambda d: d[: len(d) // 2],
    "truncated to the header": lambda d: d[:12],
    "empty": lambda d: b"",
    "one byte appended": lambda d: d + b"\0",
    "wrong magic": lambda d: b"SQLite f" + d[8:],
    "version 2": lambda d: d[:8] + (2).to_bytes(4, "little") + d[12:],
    "huge meta length": lambda d: d[:12] + (2**32 - 1).to_bytes(4, "little") + d[16:],
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_file_is_refused_and_the_store_untouched(
        damage: str, snapshot_file: Path, tmp_path: Path) -> None:
    snapshot_file.write_bytes(DAMAGE[damage](snapshot_file.read_bytes()))
    with pytest.raises(SnapshotError, match=str(snapshot_file)):
        read_snapshot_meta(snapshot_file)
    target = Log(tmp_path / "target")
    target.fill(2, path="mine")
    digest = target.store.digest()
    with pytest.raises(SnapshotError, match=str(snapshot_file)):
        restore_snapshot(target.store, snapshot_file)
    assert target.store.digest() == digest
    assert target.store.path.name == "store"
    assert env_dirs(tmp_path / "target") == ["store"]
    assert not (tmp_path / "target" / POINTER_NAME).exists()
    target.store.close()


def test_a_missing_file_is_a_snapshot_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="no such file"):
        read_snapshot_meta(tmp_path / "nope.bin")


# --- the store swap ----------------------------------------------------------------------


def test_a_reader_that_started_before_the_swap_finishes_on_the_old_state(
        snapshot_file: Path, source: Log, tmp_path: Path) -> None:
    target = Log(tmp_path / "target")
    target.fill(2, path="old")
    old_digest = target.store.digest()
    with target.store.read_view() as view:  # a reader mid-transaction
        swapped = threading.Thread(target=restore_snapshot, args=(target.store, snapshot_file))
        swapped.start()
        swapped.join()
        assert view.applied_index() == 4
        assert view.txn.get(b"\0secret/\0old", db=view.db["kv_meta"]) is not None
        assert len(list(view.txn.cursor(db=view.db["kv_data"]))) == 2
        # Meanwhile new reads see the new state.
        assert target.store.applied_index() == 22
        assert target.store.kv_metadata("", MOUNT, "old") is None
    assert target.store.digest() == source.store.digest() != old_digest
    # The old environment stays open for the grace period, then goes with close().
    assert env_dirs(tmp_path / "target") == ["store", "store-1"]
    target.store.close()
    assert env_dirs(tmp_path / "target") == ["store-1"]


def test_readers_on_other_threads_never_fail_across_repeated_swaps(tmp_path: Path) -> None:
    source = Log(tmp_path / "source")
    snapshots = []
    for round_ in range(4):
        source.fill(5, first_version=round_ * 5 + 1)
        path = tmp_path / f"s{round_}.bin"
        write_snapshot(source.store, str(path), source.entries(), [])
        snapshots.append((path, source.store.applied_index()))
    target = Store(tmp_path / "target", map_size_mb=64)
    stop = threading.Event()
    seen: list[list[int]] = [[], [], []]
    errors: list[BaseException] = []

    def reader(out: list[int]) -> None:
        try:
            while not stop.is_set():
                out.append(target.applied_index())
                target.mounts("")
                target.kv_list("", MOUNT, "")
                target.digest()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(out,)) for out in seen]
    for thread in threads:
        thread.start()
    for path, index in snapshots:
        assert restore_snapshot(target, path) is True
        assert target.applied_index() == index
        time.sleep(0.02)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []
    allowed = {0} | {index for _, index in snapshots}
    for out in seen:
        assert out and set(out) <= allowed
        assert out == sorted(out)  # a reader never goes back to an older environment
    assert target.digest() == source.store.digest()
    target.close()
    source.store.close()


def test_old_environments_are_reaped_after_the_grace_period(
        source: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = tmp_path / "first.bin"
    write_snapshot(source.store, str(first), source.entries(), [])
    source.fill(3, path="more")
    second = tmp_path / "second.bin"
    write_snapshot(source.store, str(second), source.entries(), [])
    target = Store(tmp_path / "target", map_size_mb=64)
    assert restore_snapshot(target, first)
    assert env_dirs(tmp_path / "target") == ["store", "store-1"]
    monkeypatch.setattr(store_mod, "RETIRE_GRACE_S", 0.0)
    assert restore_snapshot(target, second)
    assert env_dirs(tmp_path / "target") == ["store-2"]
    assert target.digest() == source.store.digest()
    target.close()


def test_reopening_the_data_dir_opens_the_restored_environment(
        snapshot_file: Path, source: Log, tmp_path: Path) -> None:
    data_dir = tmp_path / "target"
    target = Log(data_dir)
    target.fill(1, path="old")
    assert restore_snapshot(target.store, snapshot_file)
    target.store.close()
    (data_dir / "store-9").mkdir()  # a leftover of an interrupted restore
    (data_dir / "store-9" / "data.mdb").write_bytes(b"partial")
    reopened = Store(data_dir, map_size_mb=64)
    assert reopened.path == data_dir / "store-1"
    assert reopened.digest() == source.store.digest()
    assert reopened.applied_index() == 22
    assert env_dirs(data_dir) == ["store-1"]
    reopened.close()


def test_reopen_refuses_a_pointer_without_its_environment(tmp_path: Path) -> None:
    data_dir = tmp_path / "d"
    Store(data_dir, map_size_mb=64).close()
    (data_dir / POINTER_NAME).write_text("store-4\n")
    with pytest.raises(FileNotFoundError, match="store-4"):
        Store(data_dir, map_size_mb=64)
    (data_dir / POINTER_NAME).write_text("../elsewhere\n")
    with pytest.raises(ValueError, match="not a store name"):
        Store(data_dir, map_size_mb=64)
    # A lost pointer while only replaced environments exist: refuse to start empty.
    (data_dir / POINTER_NAME).unlink()
    (data_dir / "store").rename(data_dir / "store-3")
    with pytest.raises(FileNotFoundError, match=POINTER_NAME):
        Store(data_dir, map_size_mb=64)


def test_a_fresh_data_dir_without_a_pointer_uses_store(tmp_path: Path) -> None:
    log = Log(tmp_path / "d")
    log.fill(1)
    assert log.store.path == tmp_path / "d" / "store"
    log.store.close()
    assert Store(tmp_path / "d").applied_index() == log.index


# --- the pysyncobj hooks -------------------------------------------------------------------


def test_hooks_round_trip_with_pysyncobj_nodes(source: Log, tmp_path: Path) -> None:
    serializer, _ = make_hooks(source.store)
    dump = tmp_path / "raft" / "snapshot.bin"
    dump.parent.mkdir()
    last, prev = source.entries()
    cluster = {Node("n1", address="10.0.0.1:8201"), Node("n2"),
               TCPNode("10.0.0.3:8201")}
    # As Serializer.serialize: hook(tmpFile, data[1:]) then rename.
    serializer(str(dump) + ".tmp", (last, prev, cluster))
    os.replace(str(dump) + ".tmp", dump)

    target = Store(tmp_path / "target", map_size_mb=64)
    _, deserializer = make_hooks(target)
    data = (None, *deserializer(str(dump)))  # as Serializer.deserialize
    # As SyncObj.__loadDumpFile: data[1] is the last entry, data[2] the one before.
    assert data[1] == last and isinstance(data[1], tuple)
    assert data[2] == prev and isinstance(data[2], tuple)
    nodes = {node.id: node for node in data[3]}
    assert set(nodes) == {"n1", "n2", "10.0.0.3:8201"}
    assert all(type(node) is Node for node in nodes.values())
    assert nodes["n1"] == Node("n1") and nodes["n1"].address == "10.0.0.1:8201"
    assert nodes["n2"].address is None
    assert nodes["10.0.0.3:8201"].address == "10.0.0.3:8201"
    assert target.digest() == source.store.digest()
    target.close()


def test_the_hooks_report_failures_and_back_off(source: Log, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    serializer, deserializer = make_hooks(source.store)
    tmp = tmp_path / "snapshot.bin.tmp"
    with pytest.raises(ValueError, match="past the last applied"):
        serializer(str(tmp), ((b"x", 5, 1), (b"x", 4, 1), set()))
    assert not tmp.exists()  # no half-written file left behind
    assert "writing snapshot" in caplog.text
    with pytest.raises(SnapshotError, match="backing off"):
        serializer(str(tmp), (*source.entries(), set()))
    tmp.write_bytes(b"garbage")
    with pytest.raises(SnapshotError):
        deserializer(str(tmp))
    assert "loading snapshot" in caplog.text


def test_the_deserializer_aligns_a_journal_that_was_not_trimmed(
        source: Log, tmp_path: Path) -> None:
    journal = DurableJournal(tmp_path / "raft")
    for index in range(1, source.index + 4):
        journal.add(b"\x01cmd%d" % index, index, 2)
    journal.sync()
    dump = tmp_path / "raft" / "snapshot.bin"
    last, prev = journal[source.index - 1], journal[source.index - 2]
    write_snapshot(source.store, str(dump), (last, prev), [])
    # A journal holding other entries at those indexes is left for pysyncobj to clear.
    other = DurableJournal(tmp_path / "other")
    for index in range(1, source.index + 4):
        other.add(b"\x01other", index, 2)
    _, deserializer = make_hooks(source.store, journal=other)
    deserializer(str(dump))
    assert len(other) == source.index + 3
    _, deserializer = make_hooks(source.store, journal=journal)
    assert deserializer(str(dump))[:2] == (last, prev)
    assert journal[0] == prev and journal[1] == last and len(journal) == 5
    journal._destroy()
    other._destroy()
    assert DurableJournal(tmp_path / "raft")[0] == prev  # durable


# --- end to end: a real single-node SyncObj ------------------------------------------------


_original_create_journal = pso.createJournal


@pytest.fixture(autouse=True)
def _journal_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    # As strongbox.raft.node does: let a ready Journal through conf.journalFile.
    def create(journal_file: Any) -> Any:
        if isinstance(journal_file, Journal):
            return journal_file
        return _original_create_journal(journal_file)
    monkeypatch.setattr(pso, "createJournal", create)


class _Machine(SyncObj):  # type: ignore[misc]
    def __init__(self, store: Store, conf: SyncObjConf) -> None:
        self._sb_store = store
        super().__init__(Node("n1"), [], conf, transport=LocalTransport(None, None, []))

    @replicated  # type: ignore[untyped-decorator]
    def apply_command(self, data: bytes) -> R:
        return apply(self._sb_store, self.raftLastApplied + 1, data)


class RaftNode:
    """One node: store, durable journal, snapshot hooks; ticked by the test thread."""

    def __init__(self, data_dir: Path, min_entries: int = 8, align: bool = True) -> None:
        self.store = Store(data_dir / "state", map_size_mb=64)
        raft_dir = data_dir / "raft"
        self.journal = DurableJournal(raft_dir)
        self.dump = raft_dir / "snapshot.bin"  # beside the journal (see snapshot.py)
        # The late-bound form, as RaftLog needs it (hooks first, journal later).
        self.hooks = make_hooks(self.store, journal=(lambda: self.journal) if align else None)
        conf = SyncObjConf(
            journalFile=self.journal, autoTick=False, appendEntriesUseBatch=False,
            commandsWaitLeader=True, raftMinTimeout=0.05, raftMaxTimeout=0.1,
            appendEntriesPeriod=0.01, logCompactionMinEntries=min_entries,
            logCompactionMinTime=10**6, fullDumpFile=str(self.dump),
            serializer=self.hooks[0], deserializer=self.hooks[1], useFork=False,
            dynamicMembershipChange=False)
        self.sync = _Machine(self.store, conf)
        self.sync.addOnTickCallback(self.journal.sync)
        self.tick_until(lambda: self.sync._isLeader() and self.sync.isReady())

    def tick_until(self, done: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "timed out ticking"
            self.sync.doTick(0.002)

    def ticks(self, n: int) -> None:
        for _ in range(n):
            self.sync.doTick(0.0)

    def propose(self, data: bytes) -> R:
        got: list[tuple[R | None, int]] = []
        self.sync.apply_command(data, callback=lambda res, err: got.append((res, err)))
        self.tick_until(lambda: bool(got))
        result, error = got[0]
        assert error == FAIL_REASON.SUCCESS and result is not None
        assert result.code == R.OK and result.message != "already applied", result
        return result

    @property
    def last_applied(self) -> int:
        return int(self.sync.raftLastApplied)

    def close(self) -> None:
        self.sync.destroy()  # closes the journal
        self.store.close()


def put_versions(node: RaftNode, first: int, last: int) -> list[R]:
    return [node.propose(put("app/db", v, b"value-%d" % v)) for v in range(first, last + 1)]


def check_versions(store: Store, last: int) -> None:
    meta = store.kv_metadata("", MOUNT, "app/db")
    assert meta is not None and meta.current_version == last
    assert [value_of(store, "app/db", v) for v in range(1, last + 1)] == \
        [b"value-%d" % v for v in range(1, last + 1)]


def test_log_compaction_and_restart_with_a_real_syncobj(tmp_path: Path) -> None:
    node = RaftNode(tmp_path)
    node.propose(init_cluster())
    results = put_versions(node, 1, 30)
    indexes = [r.index for r in results]
    assert indexes == sorted(set(indexes))
    node.ticks(3)  # the trim follows the snapshot by one tick
    assert node.dump.exists() and not Path(str(node.dump) + ".tmp").exists()
    info = read_snapshot_meta(node.dump)
    assert info.applied_index == info.last_entry[1] > 20  # the last entry was a command
    assert node.journal[0] == info.prev_entry and node.journal[1] == info.last_entry
    assert len(node.journal) <= 10  # trimmed: not 33 entries
    digest, applied = node.store.digest(), node.store.applied_index()
    assert applied == indexes[-1] == node.last_applied
    node.close()

    node = RaftNode(tmp_path)  # restart on its own data: the snapshot is not restored
    assert node.store.path.name == "store"
    assert node.store.digest() == digest
    assert node.last_applied >= applied
    later = put_versions(node, 31, 45)
    assert [r.index for r in later] == sorted({r.index for r in later})
    assert later[0].index > applied
    assert [r.version for r in later] == list(range(31, 46))
    check_versions(node.store, 45)
    node.close()


def test_a_snapshot_whose_last_entry_is_a_leader_noop(tmp_path: Path) -> None:
    node = RaftNode(tmp_path, min_entries=1000)
    node.propose(init_cluster())
    put_versions(node, 1, 5)
    node.close()
    node = RaftNode(tmp_path, min_entries=1000)  # the new term starts with a no-op entry
    applied = node.store.applied_index()
    assert node.last_applied == applied + 1
    node.sync.forceLogCompaction()
    node.ticks(3)
    info = read_snapshot_meta(node.dump)
    assert (info.applied_index, info.last_entry[1]) == (applied, applied + 1)
    assert len(node.journal) == 2
    node.close()
    node = RaftNode(tmp_path, min_entries=1000)
    assert put_versions(node, 6, 7)[0].index > applied + 1
    check_versions(node.store, 7)
    node.close()


def test_a_node_that_lost_its_store_recovers_from_snapshot_and_journal(
        tmp_path: Path) -> None:
    node = RaftNode(tmp_path)
    node.propose(init_cluster())
    put_versions(node, 1, 25)
    node.ticks(3)
    snapshot_index = read_snapshot_meta(node.dump).applied_index
    put_versions(node, 26, 28)  # past the snapshot, only in the journal
    digest = node.store.digest()
    node.close()
    shutil.rmtree(tmp_path / "state")

    node = RaftNode(tmp_path)
    assert node.store.path.name == "store-1"  # restored from the snapshot ...
    assert node.store.applied_index() > snapshot_index  # ... then the journal replayed
    assert node.store.digest() == digest
    put_versions(node, 29, 30)
    check_versions(node.store, 30)
    node.close()


def test_a_crash_between_snapshot_and_journal_trim_loses_nothing(tmp_path: Path) -> None:
    node = RaftNode(tmp_path, min_entries=1000)
    node.propose(init_cluster())
    put_versions(node, 1, 10)
    # What __tryLogCompaction does, without the trim that would follow on the next tick.
    last_index = node.last_applied
    first = node.journal[0][1]
    last, prev = node.journal[last_index - first], node.journal[last_index - 1 - first]
    node.hooks[0](str(node.dump) + ".tmp", (last, prev, {Node("n1")}))
    os.replace(str(node.dump) + ".tmp", node.dump)
    put_versions(node, 11, 15)  # committed, applied and acknowledged after the snapshot
    node.close()

    node = RaftNode(tmp_path, min_entries=1000)
    assert node.journal[0] == prev
    assert node.last_applied > node.store.applied_index() - 1  # replayed past the snapshot
    put_versions(node, 16, 17)  # new entries get new indexes, not skipped as applied
    check_versions(node.store, 17)
    node.close()
