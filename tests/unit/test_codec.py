"""Tests for strongbox.raft.codec: pysyncobj message dicts <-> RaftMessage frames."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON
from pysyncobj.node import Node
from pysyncobj.transport import Transport

from strongbox.pb import raft_pb2 as pb
from strongbox.raft import codec
from strongbox.raft.codec import MAX_FRAME_BYTES, MAX_INT, CodecError, decode, encode

# --- strategies: every dict shape pysyncobj passes to Transport.send ------------------------

ints = st.integers(0, MAX_INT)
opt_ints = st.none() | ints
blobs = st.binary(max_size=300)
entry = st.tuples(blobs, ints, ints)

request_vote = st.fixed_dictionaries({
    "type": st.just("request_vote"), "term": ints, "last_log_index": ints,
    "last_log_term": ints})
response_vote = st.fixed_dictionaries({"type": st.just("response_vote"), "term": ints})
append_entries = st.fixed_dictionaries({
    "type": st.just("append_entries"), "term": ints, "commit_index": ints,
    "entries": st.lists(entry, max_size=12), "prevLogIdx": opt_ints, "prevLogTerm": opt_ints})
transmission = st.fixed_dictionaries({
    "type": st.just("append_entries"),
    "transmission": st.sampled_from(["start", "process", "finish"]),
    "data": blobs, "term": ints, "commit_index": ints, "prevLogIdx": opt_ints,
    "prevLogTerm": opt_ints})
snapshot = st.fixed_dictionaries({
    "type": st.just("append_entries"), "term": ints, "commit_index": ints,
    "serialized": st.none() | st.just(False) | st.tuples(blobs, st.booleans(), st.booleans())})
next_node_idx = st.fixed_dictionaries({
    "type": st.just("next_node_idx"), "next_node_idx": ints, "reset": st.booleans(),
    "success": st.booleans()})
apply_command = st.fixed_dictionaries(
    {"type": st.just("apply_command"), "command": blobs}, optional={"request_id": ints})
response_error = st.fixed_dictionaries({
    "type": st.just("apply_command_response"), "request_id": ints,
    "error": st.sampled_from(sorted(codec.FAIL_REASONS))})
response_accepted = st.fixed_dictionaries({
    "type": st.just("apply_command_response"), "request_id": ints, "log_idx": ints,
    "log_term": ints})
timeout_now = st.fixed_dictionaries({"type": st.just("timeout_now"), "term": ints})
pre_vote = st.fixed_dictionaries({"type": st.just("pre_vote"), "term": ints,
                                  "last_log_index": ints, "last_log_term": ints})
pre_vote_response = st.fixed_dictionaries({"type": st.just("pre_vote_response"), "term": ints,
                                           "granted": st.booleans()})

SHAPES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "request_vote": request_vote,
    "response_vote": response_vote,
    "append_entries": append_entries,
    "append_entries_transmission": transmission,
    "append_entries_snapshot": snapshot,
    "next_node_idx": next_node_idx,
    "apply_command": apply_command,
    "apply_command_response_error": response_error,
    "apply_command_response_accepted": response_accepted,
    "timeout_now": timeout_now,
    "pre_vote": pre_vote,
    "pre_vote_response": pre_vote_response,
}
messages = st.one_of(*SHAPES.values())


def assert_same(decoded: dict[str, Any], original: dict[str, Any]) -> None:
    """Dict equality plus the container and scalar types pysyncobj builds."""
    assert decoded == original
    assert list(decoded) == list(original) or set(decoded) == set(original)
    for key, value in original.items():
        got = decoded[key]
        assert type(got) is type(value) or (key == "entries" and type(got) is list), key
        if key == "entries":
            assert all(type(e) is tuple for e in got)
            assert all(type(c) is bytes and type(i) is int and type(t) is int
                       for c, i, t in got)
        if key == "serialized" and isinstance(value, tuple):
            assert type(got[0]) is bytes and type(got[1]) is bool and type(got[2]) is bool


def round_trip(message: dict[str, Any]) -> dict[str, Any]:
    frame = encode(message)
    assert isinstance(frame, bytes) and len(frame) <= MAX_FRAME_BYTES
    return decode(frame)


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", sorted(SHAPES))
@given(data=st.data())
def test_round_trip_every_shape(shape: str, data: st.DataObject) -> None:
    message = data.draw(SHAPES[shape])
    assert_same(round_trip(message), message)


@given(messages)
def test_encoding_is_deterministic_and_stable(message: dict[str, Any]) -> None:
    frame = encode(message)
    assert encode(message) == frame
    assert encode(decode(frame)) == frame


@given(st.lists(entry, max_size=5).map(lambda es: [list(e) for e in es]))
def test_entries_given_as_lists_come_back_as_tuples(entries: list[list[Any]]) -> None:
    message = {"type": "append_entries", "term": 1, "commit_index": 1, "entries": entries,
               "prevLogIdx": 1, "prevLogTerm": 1}
    assert round_trip(message)["entries"] == [tuple(e) for e in entries]


# Hand-written from pysyncobj 0.3.17 syncobj.py: one example of every shape, with the
# edge values pysyncobj really produces (term 0 noop entry, None prev log, falsy keys).
GOLDEN: list[dict[str, Any]] = [
    {"type": "request_vote", "term": 1, "last_log_index": 1, "last_log_term": 0},
    {"type": "response_vote", "term": 1},
    {"type": "append_entries", "term": 1, "commit_index": 1,
     "entries": [(b"\x01", 2, 1)], "prevLogIdx": 1, "prevLogTerm": 0},
    {"type": "append_entries", "term": 3, "commit_index": 0, "entries": [],
     "prevLogIdx": 7, "prevLogTerm": 2},
    {"type": "append_entries", "term": 3, "commit_index": 9, "entries": [],
     "prevLogIdx": None, "prevLogTerm": None},
    {"type": "append_entries", "transmission": "start", "data": b"\x80\x02c_codecs",
     "term": 1, "commit_index": 2, "prevLogIdx": 5, "prevLogTerm": 1},
    {"type": "append_entries", "transmission": "process", "data": b"", "term": 1,
     "commit_index": 2, "prevLogIdx": 5, "prevLogTerm": 1},
    {"type": "append_entries", "transmission": "finish", "data": b"tail", "term": 1,
     "commit_index": 2, "prevLogIdx": 5, "prevLogTerm": 1},
    {"type": "append_entries", "term": 2, "commit_index": 26,
     "serialized": (b"\x1f\x8b\x08\x00", True, False)},
    {"type": "append_entries", "term": 2, "commit_index": 26, "serialized": (b"", False, True)},
    {"type": "append_entries", "term": 2, "commit_index": 26, "serialized": None},
    {"type": "append_entries", "term": 2, "commit_index": 26, "serialized": False},
    {"type": "next_node_idx", "next_node_idx": 2, "reset": False, "success": False},
    {"type": "next_node_idx", "next_node_idx": 28, "reset": True, "success": True},
    {"type": "apply_command", "command": b"\x00\x80\x02K\x00"},
    {"type": "apply_command", "command": b"\x00\x80\x02K\x00", "request_id": 1},
    {"type": "apply_command_response", "request_id": 1, "log_idx": 4, "log_term": 1},
    {"type": "apply_command_response", "request_id": 1, "error": FAIL_REASON.NOT_LEADER},
    {"type": "apply_command_response", "request_id": 9, "error": FAIL_REASON.SUCCESS},
    {"type": "timeout_now", "term": 1},
]


@pytest.mark.parametrize("message", GOLDEN, ids=lambda m: m["type"])
def test_golden_round_trip(message: dict[str, Any]) -> None:
    assert_same(round_trip(message), message)


def test_absent_and_none_keys_stay_distinct() -> None:
    without_id = round_trip({"type": "apply_command", "command": b"c"})
    assert "request_id" not in without_id
    none = round_trip({"type": "append_entries", "term": 1, "commit_index": 1,
                       "serialized": None})
    assert "serialized" in none and none["serialized"] is None and "prevLogIdx" not in none
    false = round_trip({"type": "append_entries", "term": 1, "commit_index": 1,
                        "serialized": False})
    assert false["serialized"] is False
    prev_none = round_trip({"type": "append_entries", "term": 1, "commit_index": 1,
                            "entries": [], "prevLogIdx": None, "prevLogTerm": None})
    assert "prevLogIdx" in prev_none and prev_none["prevLogIdx"] is None
    prev_zero = round_trip({"type": "append_entries", "term": 1, "commit_index": 1,
                            "entries": [], "prevLogIdx": 0, "prevLogTerm": 0})
    assert prev_zero["prevLogIdx"] == 0 and prev_zero["prevLogTerm"] == 0


def test_fail_reasons_match_pysyncobj() -> None:
    values = {v for k, v in vars(FAIL_REASON).items() if k.isupper()}
    assert values == codec.FAIL_REASONS


def test_codec_error_is_a_value_error() -> None:
    assert issubclass(CodecError, ValueError)


# --- real messages: a pysyncobj cluster talking through the codec ------------------------


class _Net:
    """Delivers messages between in-process nodes, through encode/decode, and records them."""

    def __init__(self) -> None:
        self.transports: dict[str, _CodecTransport] = {}
        self.links: set[tuple[str, str]] = set()
        self.queue: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque()
        self.sent: list[dict[str, Any]] = []
        self.mismatches: list[dict[str, Any]] = []

    def connect(self, a: str, b: str) -> None:
        self.links |= {(a, b), (b, a)}
        self.transports[a]._onNodeConnected(Node(b))
        self.transports[b]._onNodeConnected(Node(a))

    def inject(self, src: str, dst: str, message: dict[str, Any]) -> None:
        self.transports[dst]._onMessageReceived(Node(src), message)

    def deliver(self) -> None:
        while self.queue:
            src, dst, message = self.queue.popleft()
            if (src, dst) in self.links:
                self.transports[dst]._onMessageReceived(Node(src), message)


class _CodecTransport(Transport):  # type: ignore[misc]
    def __init__(self, net: _Net, me: str) -> None:
        super().__init__(None, None, [])
        self.net, self.me = net, me
        net.transports[me] = self

    def send(self, node: Node, message: dict[str, Any]) -> bool:
        if (self.me, node.id) not in self.net.links:
            return False
        # pysyncobj builds a fresh dict per send; copy the entries list all the same.
        original = {k: list(v) if k == "entries" else v for k, v in message.items()}
        received = decode(encode(message))
        self.net.sent.append(original)
        if received != original:
            self.net.mismatches.append(original)
        self.net.queue.append((self.me, node.id, received))
        return True


class _Counter(SyncObj):  # type: ignore[misc]
    def __init__(self, me: str, others: list[str], net: _Net) -> None:
        conf = SyncObjConf(
            autoTick=False, raftMinTimeout=0.05, raftMaxTimeout=0.1, appendEntriesPeriod=0.01,
            dynamicMembershipChange=False, useFork=False,
            # small batches so that one 230-byte entry goes as a chunked 'transmission'
            # (230: pysyncobj marks chunks 'finish' by the command's length, not the
            # pickle's, so sizes near a chunk boundary break its transmission)
            appendEntriesBatchSizeBytes=128,
            logCompactionBatchSize=100,  # a snapshot in several chunks
            logCompactionMinEntries=2**30, logCompactionMinTime=10**6)
        super().__init__(Node(me), [Node(o) for o in others], conf,
                         transport=_CodecTransport(net, me))
        self.values: list[bytes] = []  # after __init__: part of the snapshot

    @replicated  # type: ignore[untyped-decorator]
    def add(self, value: bytes) -> int:
        self.values.append(value)
        return len(self.values)


def _run_until(nodes: list[_Counter], net: _Net, done: Callable[[], bool],
               timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in nodes:
            node.doTick(0.0)
        net.deliver()
        if done():
            return
        time.sleep(0.001)
    raise AssertionError("the in-process cluster did not get there in time")


def _shape(message: dict[str, Any]) -> str:
    kind = str(message["type"])
    if kind == "append_entries":
        if "transmission" in message:
            return f"append_entries/transmission:{message['transmission']}"
        if "serialized" in message:
            return f"append_entries/serialized:{type(message['serialized']).__name__}"
        return "append_entries/prevLog:" + ("None" if message["prevLogIdx"] is None else "int")
    if kind == "apply_command":
        return "apply_command" + ("+request_id" if "request_id" in message else "")
    if kind == "apply_command_response":
        return "apply_command_response/" + ("error" if "error" in message else "log_idx")
    return kind


@pytest.fixture(scope="module")
def cluster_traffic() -> Iterator[_Net]:
    net = _Net()
    ids = ["a", "b", "c"]
    nodes = {i: _Counter(i, [o for o in ids if o != i], net) for i in ids}
    everyone = list(nodes.values())
    try:
        net.connect("a", "b")  # c is cut off until a snapshot is needed
        _run_until(everyone, net, lambda: nodes["a"]._isLeader() or nodes["b"]._isLeader())
        leader, follower = ((nodes["a"], nodes["b"]) if nodes["a"]._isLeader()
                            else (nodes["b"], nodes["a"]))
        leader_id = "a" if leader is nodes["a"] else "b"
        follower_id = "b" if leader_id == "a" else "a"
        results: list[tuple[Any, int]] = []

        def record(result: Any, error: int) -> None:
            results.append((result, error))

        leader.add(b"on the leader", callback=record)
        follower.add(b"forwarded, with a reply", callback=record)  # apply_command+request_id
        follower.add(b"forwarded, fire and forget")                # apply_command
        _run_until(everyone, net, lambda: len(results) == 2 and len(follower.values) == 3)
        follower.add(b"L" * 230, callback=record)                   # large: transmission
        _run_until(everyone, net, lambda: len(results) == 3 and len(follower.values) == 4)
        for i in range(20):
            leader.add(b"v%d" % i)
        _run_until(everyone, net, lambda: len(follower.values) == 24)
        leader.forceLogCompaction()
        _run_until(everyone, net, lambda: leader._getRaftLogSize() <= 3)
        net.connect(leader_id, "c")                                 # snapshot install
        _run_until(everyone, net, lambda: nodes["c"].values == leader.values)
        # c is a follower now: a command forwarded to it is answered with NOT_LEADER
        net.inject(leader_id, "c", {"type": "apply_command", "command": b"\x00", "request_id": 7})
        # a follower claiming a next index past the leader's log: prevLogIdx None next
        last = leader.raftLastApplied
        net.inject(follower_id, leader_id, {"type": "next_node_idx", "next_node_idx": last + 5,
                                            "reset": True, "success": False})
        _run_until(everyone, net, lambda: any(
            m["type"] == "append_entries" and m.get("prevLogIdx", 0) is None for m in net.sent))
        _run_until(everyone, net, lambda: leader.getStatus()["match_idx_server_c"] == last)
        transferred: list[int] = []
        leader.transferLeadership(Node("c"), callback=lambda _r, e: transferred.append(e))
        _run_until(everyone, net, nodes["c"]._isLeader)
        assert transferred == [FAIL_REASON.SUCCESS]
        assert all(e == FAIL_REASON.SUCCESS for _r, e in results)
        yield net
    finally:
        for node in everyone:
            node.destroy()


def test_real_pysyncobj_messages_round_trip(cluster_traffic: _Net) -> None:
    net = cluster_traffic
    assert net.mismatches == []
    for message in net.sent:
        assert_same(round_trip(message), message)
    seen = {_shape(m) for m in net.sent}
    assert seen >= {
        "request_vote", "response_vote", "next_node_idx", "timeout_now",
        "append_entries/prevLog:int", "append_entries/prevLog:None",
        "append_entries/transmission:start", "append_entries/transmission:process",
        "append_entries/transmission:finish", "append_entries/serialized:tuple",
        "apply_command", "apply_command+request_id",
        "apply_command_response/log_idx", "apply_command_response/error",
    }, seen


def test_real_messages_only_use_known_keys(cluster_traffic: _Net) -> None:
    # what the sender put in is exactly what the receiver gets (checked in send), and
    # nothing but the seven message types crossed the transport
    types = {m["type"] for m in cluster_traffic.sent}
    assert types <= {"request_vote", "response_vote", "append_entries", "next_node_idx",
                     "apply_command", "apply_command_response", "timeout_now"}


# --- encode refuses what it does not know -------------------------------------------------

SECRET = b"TOP-SECRET-PAYLOAD"

BAD_DICTS: list[tuple[str, Any]] = [
    ("not a dict", [("type", "timeout_now")]),
    ("no type", {"term": 1}),
    ("type not a str", {"type": b"timeout_now", "term": 1}),
    ("unknown type", {"type": "install_snapshot", "term": 1}),
    ("utility message", {"type": "status"}),
    ("unexpected key", {"type": "timeout_now", "term": 1, "extra": SECRET}),
    ("non-str unexpected key", {"type": "timeout_now", "term": 1, SECRET: 1}),
    ("missing key", {"type": "request_vote", "term": 1, "last_log_index": 1}),
    ("bool for int", {"type": "response_vote", "term": True}),
    ("str for int", {"type": "response_vote", "term": "1"}),
    ("float for int", {"type": "response_vote", "term": 1.0}),
    ("negative", {"type": "response_vote", "term": -1}),
    ("too big", {"type": "response_vote", "term": MAX_INT + 1}),
    ("None for int", {"type": "timeout_now", "term": None}),
    ("int for bool", {"type": "next_node_idx", "next_node_idx": 1, "reset": 0, "success": 1}),
    ("str for bytes", {"type": "apply_command", "command": "text"}),
    ("bytearray for bytes", {"type": "apply_command", "command": bytearray(SECRET)}),
    ("None request_id", {"type": "apply_command", "command": SECRET, "request_id": None}),
    ("unknown error code", {"type": "apply_command_response", "request_id": 1, "error": 99}),
    ("error and log_idx", {"type": "apply_command_response", "request_id": 1, "error": 4,
                           "log_idx": 1, "log_term": 1}),
    ("response without result", {"type": "apply_command_response", "request_id": 1}),
    ("append_entries of no form", {"type": "append_entries", "term": 1, "commit_index": 1}),
    ("entries and serialized", {"type": "append_entries", "term": 1, "commit_index": 1,
                                "entries": [], "prevLogIdx": 1, "prevLogTerm": 1,
                                "serialized": None}),
    ("snapshot with prevLogIdx", {"type": "append_entries", "term": 1, "commit_index": 1,
                                  "serialized": None, "prevLogIdx": 1}),
    ("entries not a list", {"type": "append_entries", "term": 1, "commit_index": 1,
                            "entries": {(SECRET, 1, 1)}, "prevLogIdx": 1, "prevLogTerm": 1}),
    ("short entry", {"type": "append_entries", "term": 1, "commit_index": 1,
                     "entries": [(SECRET, 1)], "prevLogIdx": 1, "prevLogTerm": 1}),
    ("entry command not bytes", {"type": "append_entries", "term": 1, "commit_index": 1,
                                 "entries": [(SECRET.decode(), 1, 1)], "prevLogIdx": 1,
                                 "prevLogTerm": 1}),
    ("prevLogIdx missing", {"type": "append_entries", "term": 1, "commit_index": 1,
                            "entries": [], "prevLogTerm": 1}),
    ("unknown transmission", {"type": "append_entries", "transmission": "abort",
                              "data": SECRET, "term": 1, "commit_index": 1, "prevLogIdx": 1,
                              "prevLogTerm": 1}),
    ("serialized True", {"type": "append_entries", "term": 1, "commit_index": 1,
                         "serialized": True}),
    ("serialized 0", {"type": "append_entries", "term": 1, "commit_index": 1,
                      "serialized": 0}),
    ("serialized 2-tuple", {"type": "append_entries", "term": 1, "commit_index": 1,
                            "serialized": (SECRET, True)}),
    ("serialized flag not bool", {"type": "append_entries", "term": 1, "commit_index": 1,
                                  "serialized": (SECRET, 1, 0)}),
]


@pytest.mark.parametrize(("name", "message"), BAD_DICTS, ids=[n for n, _ in BAD_DICTS])
def test_encode_rejects_unknown_dicts(name: str, message: Any) -> None:
    with pytest.raises(CodecError) as info:
        encode(message)
    assert SECRET.decode() not in str(info.value)
    assert "SECRET" not in str(info.value)


def test_encode_refuses_frames_over_the_limit() -> None:
    near = MAX_FRAME_BYTES - 100  # the varint lengths are as long as at the limit
    overhead = len(encode({"type": "apply_command", "command": b"x" * near})) - near
    fits = {"type": "apply_command", "command": b"x" * (MAX_FRAME_BYTES - overhead)}
    assert len(encode(fits)) == MAX_FRAME_BYTES
    assert decode(encode(fits)) == fits
    too_big = {"type": "apply_command", "command": b"x" * (MAX_FRAME_BYTES - overhead + 1)}
    with pytest.raises(CodecError, match="exceeds"):
        encode(too_big)


# --- decode is safe on hostile input ------------------------------------------------------


def _decodes_or_codec_error(frame: bytes) -> dict[str, Any] | None:
    try:
        message = decode(frame)
    except CodecError as exc:
        assert len(str(exc)) < 200
        return None
    # whatever decodes is a well-formed pysyncobj message, and its only encoding
    assert encode(message) == frame
    return message


@settings(max_examples=500)
@given(st.binary(max_size=512))
def test_random_bytes_decode_or_raise_codec_error(frame: bytes) -> None:
    _decodes_or_codec_error(frame)


_MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("set"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 8)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("append"), st.just(0), st.binary(min_size=1, max_size=12)),
)


def _mutate(frame: bytes, mutation: tuple[str, int, Any]) -> bytes:
    kind, pos, arg = mutation
    pos = pos % (len(frame) + 1)
    if kind == "flip" and frame:
        pos %= len(frame)
        return frame[:pos] + bytes([frame[pos] ^ arg]) + frame[pos + 1:]
    if kind == "set" and frame:
        pos %= len(frame)
        return frame[:pos] + bytes([arg]) + frame[pos + 1:]
    if kind == "truncate":
        return frame[:pos]
    if kind == "delete":
        return frame[:pos] + frame[pos + arg:]
    if kind == "insert":
        return frame[:pos] + bytes(arg) + frame[pos:]
    if kind == "append":
        return frame + bytes(arg)
    return frame


@settings(max_examples=1000, suppress_health_check=[HealthCheck.too_slow])
@given(messages, st.lists(_MUTATIONS, min_size=1, max_size=4))
def test_mutated_frames_decode_or_raise_codec_error(
        message: dict[str, Any], mutations: list[tuple[str, int, Any]]) -> None:
    frame = encode(message)
    for mutation in mutations:
        frame = _mutate(frame, mutation)
    _decodes_or_codec_error(frame)


@given(messages, st.sampled_from([bytearray, memoryview]))
def test_decode_accepts_bytes_like(message: dict[str, Any], kind: type) -> None:
    assert decode(kind(encode(message))) == message


@pytest.mark.parametrize("value", ["text", None, 12, [1, 2], object()])
def test_decode_rejects_non_bytes(value: Any) -> None:
    with pytest.raises(CodecError, match="expected bytes"):
        decode(value)


def test_oversized_frame_is_rejected_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoParsing:
        def RaftMessage(self) -> None:  # stands in for the generated class
            raise AssertionError("an oversized frame reached the protobuf parser")

    valid = encode({"type": "timeout_now", "term": 1})
    monkeypatch.setattr(codec, "pb", NoParsing())
    for frame in (valid + b"\x00" * MAX_FRAME_BYTES, bytearray(MAX_FRAME_BYTES + 1),
                  memoryview(b"\x00" * (MAX_FRAME_BYTES + 1))):
        with pytest.raises(CodecError, match="exceeds"):
            decode(frame)


def _frame(**body: Any) -> bytes:
    return pb.RaftMessage(**body).SerializeToString()


MAX_UINT64 = 2**64 - 1
BAD_FRAMES: list[tuple[str, bytes]] = [
    ("empty frame", b""),
    ("not protobuf", b"\xff\xff\xff\xff"),
    ("truncated", encode({"type": "apply_command", "command": SECRET})[:-3]),
    ("pickle", b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00}\x94."),
    ("unknown top-level field", encode({"type": "timeout_now", "term": 1}) + b"\x50\x01"),
    ("unknown nested field", b"\x4a\x04\x08\x01\x10\x02"),
    ("unknown field in entry", b"\x1a\x07\x1a\x05\x0a\x01x\x20\x01"),
    ("padded varint", b"\x4a\x03\x08\x81\x00"),
    ("field twice", b"\x4a\x04\x08\x01\x08\x02"),
    ("body twice", encode({"type": "timeout_now", "term": 1}) * 2),
    ("bool not 0 or 1", b"\x32\x02\x10\x03"),
    ("fields out of order", b"\x0a\x04\x10\x01\x08\x01"),
    ("empty body", _frame(install_snapshot=pb.InstallSnapshot(term=1))),
    ("term too big", _frame(timeout_now=pb.TimeoutNow(term=MAX_UINT64))),
    ("term just too big", _frame(response_vote=pb.ResponseVote(term=MAX_INT + 1))),
    ("entry index too big", _frame(append_entries=pb.AppendEntries(
        entries=[pb.LogEntry(command=SECRET, index=MAX_UINT64)]))),
    ("prev_log_idx too big", _frame(append_entries=pb.AppendEntries(prev_log_idx=MAX_UINT64))),
    ("request_id too big", _frame(apply_command=pb.ApplyCommand(request_id=MAX_UINT64))),
    ("log_idx too big", _frame(apply_command_response=pb.ApplyCommandResponse(
        accepted=pb.LogPosition(log_idx=MAX_UINT64)))),
    ("unknown error code", _frame(apply_command_response=pb.ApplyCommandResponse(error=8))),
    ("response without result", _frame(apply_command_response=pb.ApplyCommandResponse(
        request_id=1))),
    ("stage unspecified", _frame(append_entries_transmission=pb.AppendEntriesTransmission(
        data=SECRET))),
    ("stage unknown", b"\x22\x02\x08\x09"),
]


@pytest.mark.parametrize(("name", "frame"), BAD_FRAMES, ids=[n for n, _ in BAD_FRAMES])
def test_decode_rejects_bad_frames(name: str, frame: bytes) -> None:
    with pytest.raises(CodecError) as info:
        decode(frame)
    assert "SECRET" not in str(info.value)
    assert info.value.__cause__ is None


def test_decode_never_leaks_other_exceptions(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(frame: pb.RaftMessage) -> dict[str, Any]:
        raise KeyError(SECRET)

    monkeypatch.setitem(codec._DECODERS, "timeout_now", boom)
    with pytest.raises(CodecError) as info:
        decode(encode({"type": "timeout_now", "term": 1}))
    assert "SECRET" not in str(info.value)
