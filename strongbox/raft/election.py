"""Pre-vote and the election timer for pysyncobj (Raft thesis §9.6).

pysyncobj 0.3.17 becomes a candidate, and increments its term, as soon as its
election timer fires. A node that was paused or cut off therefore comes back
with a higher term and deposes a healthy leader, and two followers whose timers
fire together split the vote. `PreVote` takes over the timer and asks first:

- The tick thread calls `on_tick()` after each pysyncobj tick. Whenever
  pysyncobj (re)arms its election deadline (a heartbeat, a granted vote, the
  start of an election) `PreVote` adopts that deadline as its own and parks
  pysyncobj's far in the future, so pysyncobj never starts an election by
  itself.
- When the adopted deadline passes on a follower or candidate, it forgets the
  leader it followed (a partitioned follower then answers writes 503 at once
  instead of forwarding them into the void), and sends
  `pre_vote` (the term it would stand in, its last log index and term) to every
  peer without changing any state of its own. Once a majority (itself
  included) grants, it sets pysyncobj's deadline to 0 and pysyncobj runs a real
  election on the next tick. A round that does not succeed is retried after a
  random 0.2-0.5 s (a pre-vote costs no term, so asking again soon is harmless);
  a denial carrying a higher term makes the node adopt that term as a follower,
  as any Raft message with a higher term would.
- A peer grants a pre-vote only if it has not heard from a leader for at least
  the minimum election timeout less 0.2 s (leader stickiness: a live leader keeps
  its followers), is not the leader itself, and the asking node's log is at least
  as up to date as its own. Granting changes no Raft state on the granting node;
  it only holds its own timer back by half the timeout spread, so the asker's
  real election is not split by the granter standing at the same moment.
- A leadership transfer (`timeout_now`) sets pysyncobj's deadline to 0 itself;
  that election runs at once, without a pre-vote round, as the thesis says.

Pre-vote messages are ours (codec `pre_vote` / `pre_vote_response`); they never
reach pysyncobj. A member running an older StrongBox drops them, so during a
rolling upgrade only upgraded members can be elected once a majority is
upgraded, and only older ones before (there is always an electable majority).

Thread: everything here runs on pysyncobj's tick thread. It reaches into
pysyncobj's private state (name-mangled `_SyncObj__*` attributes), pinned to
0.3.17 by pyproject and covered by tests/unit/test_raft_election.py.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

from pysyncobj.monotonic import monotonic as pysyncobj_clock
from pysyncobj.node import Node

log = logging.getLogger("strongbox.raft.election")

FOLLOWER, CANDIDATE, LEADER = 0, 1, 2   # pysyncobj's _RAFT_STATE
PARKED_S = 10_000.0                       # pysyncobj's deadline while we hold the timer
# A voter counts a leader as alive for the minimum election timeout less this margin: the
# asker's timer fired at least the minimum after *its* last heartbeat, which may have come
# a tick before the voter's; without the margin such a round fails and the next one comes
# a whole timeout later (measured: kill -9 failovers of 2 s instead of 1).
STICKY_MARGIN_S = 0.2
RETRY_MIN_S, RETRY_MAX_S = 0.2, 0.5       # after a pre-vote round that did not win

Send = Callable[[Node, dict[str, Any]], bool]


class PreVote:
    def __init__(self, sync: Any, send: Send, *, min_timeout: float, max_timeout: float,
                 last_leader_contact: Callable[[], float],
                 clock: Callable[[], float] = pysyncobj_clock) -> None:
        self._sync = sync
        self._send = send
        self._min = min_timeout
        self._max = max_timeout
        self._last_leader_contact = last_leader_contact
        self._clock = clock
        self._deadline: float | None = None   # our election deadline (None: not adopted yet)
        self._round_term = 0                  # the term of the pre-vote round in flight (0: none)
        self._granted: set[str] = set()
        self._armed = False                   # pysyncobj's deadline set to 0 by us
        self.rounds = 0                       # pre-vote rounds started (tests, status)
        self.elections = 0                    # rounds that won and started a real election

    # --- pysyncobj state -----------------------------------------------------------

    def _state(self) -> int:
        return int(self._sync._SyncObj__raftState)

    def _term(self) -> int:
        return int(self._sync._SyncObj__raftCurrentTerm)

    def _last_log(self) -> tuple[int, int]:
        """(last log term, last log index) of this node."""
        return (int(self._sync._SyncObj__getCurrentLogTerm()),
                int(self._sync._SyncObj__getCurrentLogIndex()))

    def _peers(self) -> list[Node]:
        return list(self._sync._SyncObj__otherNodes)

    def _timeout(self) -> float:
        return self._min + (self._max - self._min) * random.random()  # noqa: S311 - a timer

    # --- the timer (tick thread) ------------------------------------------------------

    def on_tick(self) -> None:
        now = self._clock()
        sync = self._sync
        pso_deadline = float(sync._SyncObj__raftElectionDeadline)
        if self._state() == LEADER:
            self._armed = False
            self._round_term = 0
            self._deadline = None
            return
        if pso_deadline == 0:
            if not self._armed:
                return  # timeout_now: pysyncobj elects on its next tick, no pre-vote
            if self._deadline is not None and now < self._deadline:
                return  # armed by us: give pysyncobj its tick (it needs a connected peer)
            self._armed = False  # not connected to anyone for a whole timeout: ask again
        elif pso_deadline < now + PARKED_S / 2:
            # pysyncobj re-armed its timer (heartbeat, vote granted, election started).
            self._deadline = pso_deadline
            self._armed = False
            self._round_term = 0
        sync._SyncObj__raftElectionDeadline = now + PARKED_S
        if self._deadline is None:
            self._deadline = now + self._timeout()
        if now >= self._deadline:
            self._start_round(now)

    def _start_round(self, now: float) -> None:
        # the next round, if this one fails: soon (asking costs no term), but randomised
        self._deadline = now + RETRY_MIN_S + (RETRY_MAX_S - RETRY_MIN_S) * random.random()  # noqa: S311
        sync = self._sync
        if sync._SyncObj__raftLeader is not None:
            # An election timeout without a heartbeat: stop claiming a leader (pysyncobj
            # only forgets it when it starts an election, which it no longer does), so
            # writes and forwards here fail fast instead of waiting on a silent node.
            sync._SyncObj__raftLeader = None
            sync._SyncObj__onLeaderChanged()
        peers = self._peers()
        if not peers:
            self._arm()
            return
        if not self._sync._SyncObj__connectedToAnyone():
            return
        self.rounds += 1
        self._round_term = self._term() + 1
        self._granted = set()
        last_term, last_index = self._last_log()
        for node in peers:
            self._send(node, {"type": "pre_vote", "term": self._round_term,
                              "last_log_index": last_index, "last_log_term": last_term})

    def _arm(self) -> None:
        """Let pysyncobj start a real election on its next tick."""
        self._armed = True
        self._round_term = 0
        self.elections += 1
        self._sync._SyncObj__raftElectionDeadline = 0

    # --- messages (tick thread) -------------------------------------------------------

    def on_message(self, node: Node, message: dict[str, Any]) -> bool:
        """Handle our own message types; True if `message` was one (pysyncobj must not see it)."""
        kind = message.get("type")
        if kind == "pre_vote":
            self._answer(node, message)
            return True
        if kind == "pre_vote_response":
            self._count(node, message)
            return True
        return False

    def would_grant(self, term: int, last_log_term: int, last_log_index: int) -> bool:
        if self._state() == LEADER:
            return False
        contact = self._last_leader_contact()
        if contact and self._clock() - contact < self._min - STICKY_MARGIN_S:
            return False
        if term < self._term():
            return False
        return (last_log_term, last_log_index) >= self._last_log()

    def _answer(self, node: Node, message: dict[str, Any]) -> None:
        term = int(message["term"])
        granted = self.would_grant(term, int(message["last_log_term"]),
                                   int(message["last_log_index"]))
        if granted and self._deadline is not None:
            # Give the node we just encouraged time to ask for real votes before our own
            # timer fires: two followers standing at once split the vote (measured under
            # load: a third of SIGSTOP failovers took a second election without this).
            self._deadline = max(self._deadline, self._clock() + (self._max - self._min) / 2)
        # A grant names the term asked about; a denial the voter's own term, so the asker
        # learns of a higher term without a denial ever inflating its term.
        self._send(node, {"type": "pre_vote_response",
                          "term": term if granted else self._term(), "granted": granted})

    def _count(self, node: Node, message: dict[str, Any]) -> None:
        term = int(message["term"])
        if not message["granted"]:
            if term > self._term() and self._state() != LEADER:
                # Raft: a higher term seen anywhere makes a node a follower of that term.
                self._sync._SyncObj__setCurrentTerm(term, None)
                self._sync._SyncObj__setState(FOLLOWER)
                self._round_term = 0
            return
        if not self._round_term or term != self._round_term or self._state() == LEADER:
            return
        self._granted.add(str(node.id))
        if len(self._granted) + 1 > (len(self._peers()) + 1) / 2:
            log.info("pre-vote won for term %d; starting the election", term)
            self._arm()
