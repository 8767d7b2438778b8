"""A follower's log is truncated only from the first conflicting entry (Raft §5.3).

The replays run pysyncobj's own append_entries handling on a real SyncObj whose
journal is our DurableJournal, with and without `rewrite_append` in front, and
check the journal's contents and what the follower answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.node import Node

from strongbox.raft.appendfix import rewrite_append
from strongbox.raft.journal import DurableJournal

Entry = tuple[bytes, int, int]


def entries(*terms: int, start: int = 1) -> list[Entry]:
    return [(f"cmd{start + n}-t{term}".encode(), start + n, term) for n, term in enumerate(terms)]


class Follower:
    """A pysyncobj follower with a real DurableJournal; messages go straight to its handler."""

    def __init__(self, directory: Path, log: list[Entry]) -> None:
        self.journal = DurableJournal(directory)
        for entry in log:
            self.journal.add(*entry)
        self.journal.sync()
        self.journal.setCurrentTerm(max(e[2] for e in log), None)
        self.sent: list[dict[str, Any]] = []
        conf = SyncObjConf(journalFile=self.journal, autoTick=False, dynamicMembershipChange=True)
        import strongbox.raft.node  # noqa: F401 - installs the journal passthrough

        self.leader = Node("leader")
        follower = self

        class _Transport:
            def __init__(self, *args: Any) -> None:
                pass

            def setOnMessageReceivedCallback(self, cb: Any) -> None:
                follower.handle = cb

            def __getattr__(self, name: str) -> Any:
                return lambda *a, **k: None

            def send(self, node: Node, message: dict[str, Any]) -> bool:
                follower.sent.append(message)
                return True

        self.sync = SyncObj(Node("follower"), [self.leader], conf, transportClass=_Transport)

    def deliver(self, message: dict[str, Any], fixed: bool) -> None:
        if fixed:
            hide = rewrite_append(self.journal, message)
            if hide is not None:
                with self.journal.hide_after(hide):
                    self.handle(self.leader, message)
                return
        self.handle(self.leader, message)

    def log(self) -> list[Entry]:
        return list(self.journal[:])

    def close(self) -> None:
        self.sync.destroy()


def append(prev: int, prev_term: int, new: list[Entry], term: int = 2,
           commit: int = 0) -> dict[str, Any]:
    return {"type": "append_entries", "term": term, "commit_index": commit,
            "entries": list(new), "prevLogIdx": prev, "prevLogTerm": prev_term}


@pytest.fixture
def make(tmp_path: Path) -> Any:
    made: list[Follower] = []

    def factory(log: list[Entry]) -> Follower:
        follower = Follower(tmp_path / f"f{len(made)}", log)
        made.append(follower)
        return follower

    yield factory
    for follower in made:
        follower.close()


def test_stock_pysyncobj_drops_the_tail_on_a_heartbeat_behind_it(make: Any) -> None:
    """The bug being fixed: without the rewrite, a heartbeat deletes acknowledged entries."""
    log = entries(1, 1, 2, 2, 2)
    follower = make(log)
    follower.deliver(append(2, 1, []), fixed=False)
    assert follower.log() == log[:2]


def test_a_heartbeat_behind_the_tail_keeps_it(make: Any) -> None:
    log = entries(1, 1, 2, 2, 2)
    follower = make(log)
    follower.deliver(append(2, 1, []), fixed=True)
    assert follower.log() == log
    reply = follower.sent[-1]
    # matched only what the leader vouched for: it may not count entries 3-5 yet
    assert reply == {"type": "next_node_idx", "next_node_idx": 3, "reset": False,
                     "success": True}


def test_a_resent_append_of_held_entries_changes_nothing(make: Any) -> None:
    log = entries(1, 1, 2, 2, 2)
    follower = make(log)
    follower.deliver(append(2, 1, log[2:4]), fixed=True)
    assert follower.log() == log
    assert follower.sent[-1]["next_node_idx"] == 5
    assert follower.journal.needs_sync is False  # nothing was rewritten


def test_new_entries_after_held_ones_are_appended(make: Any) -> None:
    log = entries(1, 1, 2)
    follower = make(log)
    new = entries(2, 2, start=3)
    follower.deliver(append(1, 1, log[1:] + new[1:]), fixed=True)
    assert follower.log() == log + new[1:]
    assert follower.sent[-1]["next_node_idx"] == 5


def test_a_conflict_truncates_from_the_conflict_only(make: Any) -> None:
    log = entries(1, 1, 2, 2, 2)
    follower = make(log)
    leader_entries = entries(1, 3, 3, start=2)   # index 2 matches, 3 conflicts
    follower.deliver(append(1, 1, leader_entries, term=3), fixed=True)
    assert follower.log() == log[:2] + leader_entries[1:]


def test_commit_index_is_bounded_by_what_the_leader_sent(make: Any) -> None:
    log = entries(1, 1, 1, 1)
    follower = make(log)
    follower.deliver(append(2, 1, [], commit=4), fixed=True)
    assert follower.sync.raftCommitIndex == 2


@pytest.mark.parametrize("message", [
    append(9, 1, []),                                  # beyond the log: pysyncobj's reset
    append(2, 7, []),                                  # previous term differs
    {"type": "append_entries", "term": 2, "commit_index": 0, "serialized": None},
    append(1, 1, [(b"x", 5, 1)]),                      # not consecutive
])
def test_messages_it_cannot_reason_about_are_left_alone(message: dict[str, Any]) -> None:
    before = dict(message)
    assert rewrite_append(entries(1, 1, 2), message) is None
    assert message == before


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=8).map(sorted),
       st.lists(st.integers(1, 3), min_size=1, max_size=8).map(sorted),
       st.integers(0, 7), st.integers(0, 8))
def test_result_is_raft_append_semantics(local_terms: list[int], leader_terms: list[int],
                                          prev_pos: int, count: int) -> None:
    """Property: the rewritten message applied the pysyncobj way equals Raft's rule."""
    local, leader = entries(*local_terms), entries(*leader_terms)
    prev_pos = min(prev_pos, len(leader) - 1, len(local) - 1)
    prev = leader[prev_pos]
    if local[prev_pos][2] != prev[2]:
        return  # the follower answers a mismatch; nothing to compare
    new = leader[prev_pos + 1: prev_pos + 1 + count]
    # Raft §5.3: walk the new entries; delete from the first conflict; append the rest.
    expected = list(local)
    for entry in new:
        pos = entry[1] - 1
        if pos < len(expected) and expected[pos][2] != entry[2]:
            del expected[pos:]
        if pos >= len(expected):
            expected.append(entry)
    message = append(prev[1], prev[2], new)
    hide = rewrite_append(local, message)
    # what pysyncobj then does: truncate after prevLogIdx if anything follows, then add;
    # with the tail hidden it sees nothing after prevLogIdx and changes nothing
    got = list(local) if hide is not None else local[: message["prevLogIdx"]] + message["entries"]
    assert got == expected
