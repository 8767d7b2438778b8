"""Group commit (raft/batching.py, Store.batch): batches form under load, nothing is
answered before it is durable and visible, and per-entry results and indexes survive."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongbox.pb import records_pb2 as rec
from strongbox.raft.batching import AckBatcher
from strongbox.raft.node import RaftLog, RaftSettings
from strongbox.state import keys
from strongbox.state.store import Store

# --- Store.batch -------------------------------------------------------------------------


def test_batch_children_commit_together_and_fail_alone(tmp_path: Path) -> None:
    store = Store(tmp_path)
    meta = store.db["meta"]
    with store.batch():
        with store.write() as txn:
            txn.put(b"first", b"1", db=meta)
        with pytest.raises(ValueError), store.write() as txn:
            txn.put(b"doomed", b"x", db=meta)
            raise ValueError("this entry fails alone")
        with store.write() as txn:  # a later entry sees the earlier one of the batch
            assert txn.get(b"first", db=meta) == b"1"
            txn.put(b"second", b"2", db=meta)
        assert store._get("meta", b"first") is None  # readers: nothing before the commit
    assert store._get("meta", b"first") == b"1"
    assert store._get("meta", b"second") == b"2"
    assert store._get("meta", b"doomed") is None
    store.close()


def test_an_error_in_the_batch_keeps_none_of_it(tmp_path: Path) -> None:
    store = Store(tmp_path)
    meta = store.db["meta"]
    with pytest.raises(RuntimeError), store.batch():
        with store.write() as txn:
            txn.put(b"kept?", b"no", db=meta)
        raise RuntimeError("the commit never happens")
    assert store._get("meta", b"kept?") is None
    with store.write() as txn:  # and the store is usable again, outside any batch
        txn.put(b"after", b"yes", db=meta)
    assert store._get("meta", b"after") == b"yes"
    store.close()


def test_batches_do_not_nest_and_install_refuses_inside_one(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.batch():
        with pytest.raises(RuntimeError, match="does not nest"), store.batch():
            pass
        with pytest.raises(RuntimeError, match="inside an open batch"):
            store.install(store.new_env_dir())
    store.close()


# --- AckBatcher --------------------------------------------------------------------------


class _Wire:
    def __init__(self) -> None:
        self.events: list[str] = []

    def sync(self) -> None:
        self.events.append("fsync")

    def send(self, node: Any, message: dict[str, Any]) -> bool:
        self.events.append(f"{node}:{message['n']}")
        return True


def test_acks_while_draining_share_one_fsync_and_keep_their_order() -> None:
    wire = _Wire()
    acks = AckBatcher(wire.sync, wire.send)
    acks.hold()
    for n in range(3):
        assert acks.offer("leader", {"n": n}, is_ack=True)
    assert wire.events == []  # nothing left before the fsync
    acks.release()
    assert wire.events == ["fsync", "leader:0", "leader:1", "leader:2"]


def test_a_non_ack_while_holding_goes_after_the_held_acks() -> None:
    wire = _Wire()
    acks = AckBatcher(wire.sync, wire.send)
    acks.hold()
    acks.offer("leader", {"n": 0}, is_ack=True)
    assert not acks.offer("leader", {"n": 1}, is_ack=False)  # the caller sends it now
    wire.send("leader", {"n": 1})
    acks.offer("leader", {"n": 2}, is_ack=True)
    acks.release()
    assert wire.events == ["fsync", "leader:0", "leader:1", "fsync", "leader:2"]


def test_outside_a_drain_every_ack_is_synced_first() -> None:
    wire = _Wire()
    acks = AckBatcher(wire.sync, wire.send)
    assert not acks.offer("leader", {"n": 0}, is_ack=True)
    assert wire.events == ["fsync"]
    acks.release()  # nothing held: no extra fsync
    assert wire.events == ["fsync"]


# --- a real single-node RaftLog over a real Store ----------------------------------------


class _Counting:
    """Store.batch, counted; and what the store showed at each answer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.batches = 0
        self.sizes: list[int] = []
        self._in_batch = 0
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        self.batches += 1
        self._in_batch = 0
        with self.store.batch():
            yield
        self.sizes.append(self._in_batch)

    def apply(self, index: int, data: bytes) -> rec.ApplyResult:
        self._in_batch += 1
        with self.store.write() as txn:
            txn.put(b"cmd-" + data, keys.u64(index), db=self.store.db["meta"])
            txn.put(keys.APPLIED_INDEX, keys.u64(index), db=self.store.db["meta"])
        return rec.ApplyResult(code=rec.ApplyResult.OK, index=index, message=data.decode())


@pytest.fixture
def single_node(tmp_path: Path) -> Iterator[tuple[RaftLog, _Counting]]:
    store = Store(tmp_path / "store")
    counting = _Counting(store)
    raft = RaftLog(RaftSettings(node_id="solo", data_dir=tmp_path, min_free_bytes=0),
                   counting.apply, batch=counting.batch)
    try:
        assert raft.wait_leader(timeout=20.0)
        yield raft, counting
    finally:
        raft.close()
        store.close()


def test_concurrent_writes_are_grouped_and_each_gets_its_own_result(
        single_node: tuple[RaftLog, _Counting]) -> None:
    raft, counting = single_node
    store = counting.store

    async def one(i: int) -> tuple[str, int, bool]:
        result = await raft.propose(f"w{i:03d}".encode(), timeout=30.0)
        # answered only once durable and visible: a read right after sees it
        seen = store._get("meta", f"cmd-w{i:03d}".encode()) is not None
        return result.message, result.index, seen

    async def burst() -> list[tuple[str, int, bool]]:
        return await asyncio.gather(*(one(i) for i in range(200)))

    before = counting.batches
    answers = asyncio.run(burst())
    assert [message for message, _, _ in answers] == [f"w{i:03d}" for i in range(200)]
    assert all(seen for _, _, seen in answers)
    indexes = [index for _, index, _ in answers]
    assert len(set(indexes)) == 200  # the applied index advanced per entry
    for message, index, _ in answers:  # and each entry was applied at its own index
        stored = store._get("meta", b"cmd-" + message.encode())
        assert stored is not None and keys.from_u64(stored) == index
    batches = counting.batches - before
    assert batches < 100, f"200 concurrent writes took {batches} store commits"
    assert max(counting.sizes) > 1


def test_a_lone_write_is_not_held_back(single_node: tuple[RaftLog, _Counting]) -> None:
    raft, counting = single_node

    async def lone() -> rec.ApplyResult:
        return await raft.propose(b"alone", timeout=30.0)

    result = asyncio.run(lone())
    assert result.message == "alone"
    assert counting.sizes[-1] == 1
