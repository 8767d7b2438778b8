"""PreVote against a stand-in for pysyncobj's private election state."""

from __future__ import annotations

from typing import Any

from pysyncobj.node import Node

from strongbox.raft.election import CANDIDATE, FOLLOWER, LEADER, PARKED_S, PreVote


class FakeSync:
    """The `_SyncObj__*` attributes PreVote reads and writes, nothing else."""

    def __init__(self, peers: int = 2, term: int = 5, log: tuple[int, int] = (5, 10)) -> None:
        self._SyncObj__raftState = FOLLOWER
        self._SyncObj__raftCurrentTerm = term
        self._SyncObj__raftElectionDeadline = 1001.0  # pysyncobj arms it at start
        self._SyncObj__otherNodes = {Node(f"n{i}") for i in range(peers)}
        self._SyncObj__raftLeader: Node | None = Node("n0")
        self.leader_changes = 0
        self.log = log
        self.connected = True
        self.term_set: list[tuple[int, Any]] = []

    def _SyncObj__getCurrentLogTerm(self) -> int:
        return self.log[0]

    def _SyncObj__getCurrentLogIndex(self) -> int:
        return self.log[1]

    def _SyncObj__connectedToAnyone(self) -> bool:
        return self.connected

    def _SyncObj__setCurrentTerm(self, term: int, voted: Any) -> None:
        self._SyncObj__raftCurrentTerm = term
        self.term_set.append((term, voted))

    def _SyncObj__setState(self, state: int) -> None:
        self._SyncObj__raftState = state

    def _SyncObj__onLeaderChanged(self) -> None:
        self.leader_changes += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(sync: FakeSync, contact: float = 0.0) -> tuple[PreVote, list[tuple[str, dict[str, Any]]],
                                                         Clock]:
    sent: list[tuple[str, dict[str, Any]]] = []
    clock = Clock()

    def send(node: Node, message: dict[str, Any]) -> bool:
        sent.append((str(node.id), message))
        return True

    vote = PreVote(sync, send, min_timeout=0.7, max_timeout=1.3,
                   last_leader_contact=lambda: contact, clock=clock)
    return vote, sent, clock


def test_pysyncobj_never_elects_by_itself_and_a_pre_vote_comes_first() -> None:
    sync = FakeSync()
    sync._SyncObj__raftElectionDeadline = 1000.5   # pysyncobj armed its timer
    vote, sent, clock = make(sync)
    vote.on_tick()
    assert sync._SyncObj__raftElectionDeadline > clock.now + PARKED_S / 2
    assert sent == []
    clock.now = 1000.6
    vote.on_tick()
    assert {m["type"] for _, m in sent} == {"pre_vote"}
    assert all(m["term"] == 6 and m["last_log_index"] == 10 for _, m in sent)
    assert sync._SyncObj__raftCurrentTerm == 5   # asking changes nothing


def test_a_majority_of_grants_starts_the_real_election() -> None:
    sync = FakeSync()
    vote, _, clock = make(sync)
    vote.on_tick()
    clock.now += 2.0
    vote.on_tick()
    peer = Node("n0")
    vote.on_message(peer, {"type": "pre_vote_response", "term": 6, "granted": True})
    assert sync._SyncObj__raftElectionDeadline == 0   # pysyncobj elects on its next tick
    vote.on_tick()
    assert sync._SyncObj__raftElectionDeadline == 0   # and is left to do so


def test_grants_for_another_round_do_not_count() -> None:
    sync = FakeSync()
    vote, _, clock = make(sync)
    vote.on_tick()
    clock.now += 2.0
    vote.on_tick()
    vote.on_message(Node("n0"), {"type": "pre_vote_response", "term": 4, "granted": True})
    assert sync._SyncObj__raftElectionDeadline != 0


def test_a_denial_with_a_higher_term_makes_it_a_follower_of_that_term() -> None:
    sync = FakeSync()
    sync._SyncObj__raftState = CANDIDATE
    vote, _, _ = make(sync)
    vote.on_message(Node("n0"), {"type": "pre_vote_response", "term": 9, "granted": False})
    assert sync._SyncObj__raftCurrentTerm == 9 and sync._SyncObj__raftState == FOLLOWER


def test_a_denial_at_the_same_term_changes_nothing() -> None:
    sync = FakeSync()
    vote, _, _ = make(sync)
    vote.on_message(Node("n0"), {"type": "pre_vote_response", "term": 5, "granted": False})
    assert sync.term_set == []


def test_voter_denies_while_it_hears_from_a_leader() -> None:
    sync = FakeSync()
    vote, sent, _ = make(sync, contact=999.8)   # 0.2 s ago
    vote.on_message(Node("n0"), {"type": "pre_vote", "term": 6, "last_log_index": 10,
                                 "last_log_term": 5})
    assert sent[-1] == ("n0", {"type": "pre_vote_response", "term": 5, "granted": False})


def test_voter_grants_an_up_to_date_log_after_the_leader_went_quiet() -> None:
    sync = FakeSync()
    vote, sent, _ = make(sync, contact=998.0)       # 2 s ago
    vote.on_message(Node("n0"), {"type": "pre_vote", "term": 6, "last_log_index": 10,
                                 "last_log_term": 5})
    assert sent[-1] == ("n0", {"type": "pre_vote_response", "term": 6, "granted": True})
    assert sync._SyncObj__raftCurrentTerm == 5 and sync.term_set == []  # granting is free


def test_voter_denies_a_shorter_or_older_log_and_the_leader_denies_all() -> None:
    sync = FakeSync()
    vote, _, _ = make(sync)
    assert not vote.would_grant(6, 5, 9)      # shorter
    assert not vote.would_grant(6, 4, 50)     # older last term
    assert not vote.would_grant(4, 5, 10)     # stale term
    assert vote.would_grant(6, 5, 10)
    sync._SyncObj__raftState = LEADER
    assert not vote.would_grant(6, 9, 99)


def test_timeout_now_elects_at_once_without_a_pre_vote() -> None:
    sync = FakeSync()
    vote, sent, _ = make(sync)
    vote.on_tick()                                 # adopts and parks
    sync._SyncObj__raftElectionDeadline = 0        # pysyncobj got timeout_now
    vote.on_tick()
    assert sync._SyncObj__raftElectionDeadline == 0 and sent == []


def test_no_round_while_connected_to_nobody() -> None:
    sync = FakeSync()
    sync.connected = False
    vote, sent, clock = make(sync)
    vote.on_tick()
    clock.now += 5
    vote.on_tick()
    assert sent == [] and vote.rounds == 0


def test_a_silent_leader_is_forgotten_when_the_election_timeout_passes() -> None:
    sync = FakeSync()
    sync.connected = False   # cut off: no pre-vote can even be sent
    vote, _, clock = make(sync)
    vote.on_tick()
    assert sync._SyncObj__raftLeader is not None
    clock.now += 2.0
    vote.on_tick()
    assert sync._SyncObj__raftLeader is None and sync.leader_changes == 1


def test_granting_holds_the_own_timer_back_so_the_asker_can_win() -> None:
    sync = FakeSync()
    vote, sent, clock = make(sync, contact=990.0)
    vote.on_tick()                                  # adopts pysyncobj's deadline (1001.0)
    clock.now = 1000.9
    vote.on_message(Node("n0"), {"type": "pre_vote", "term": 6, "last_log_index": 10,
                                 "last_log_term": 5})
    assert sent[-1][1]["granted"]
    clock.now = 1001.05                             # past the old deadline: no round yet
    vote.on_tick()
    assert all(m["type"] != "pre_vote" for _, m in sent)
    clock.now = 1001.3                              # the hold-off (0.3 s) is over
    vote.on_tick()
    assert any(m["type"] == "pre_vote" for _, m in sent)


def test_stickiness_allows_for_heartbeats_a_tick_apart() -> None:
    """The asker fired >= 0.7 s after its own last heartbeat; the voter's may be newer."""
    sync = FakeSync()
    vote, _, _ = make(sync, contact=999.45)         # 0.55 s ago
    assert vote.would_grant(6, 5, 10)


def test_a_round_that_does_not_win_is_retried_soon() -> None:
    sync = FakeSync()
    vote, _, clock = make(sync)
    vote.on_tick()
    clock.now = 1001.5
    vote.on_tick()                                   # round 1 (no answers)
    assert vote.rounds == 1
    clock.now = 1002.05                              # 0.55 s later: past the 0.5 s retry
    vote.on_tick()
    assert vote.rounds == 2
