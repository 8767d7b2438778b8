"""The Raft wire codec: pysyncobj message dicts <-> `strongbox.pb.RaftMessage` bytes.

pysyncobj's nodes talk in Python dicts, and its TCP transport pickles them;
the gRPC transport sends these explicit protobuf frames instead, so no pickle
is ever parsed from a peer by the transport.

Contract:
- `encode(message)` takes a dict exactly as pysyncobj 0.3.17 passes it to
  `Transport.send` and returns one frame of at most `MAX_FRAME_BYTES`. A dict
  it does not know (unknown `type`, a missing or unexpected key, a value of the
  wrong type, an integer outside 0..2**63-1) raises `CodecError`, so a change
  in pysyncobj's messages fails loudly instead of being silently mangled.
- `decode(frame)` returns the dict pysyncobj expects: `decode(encode(m)) == m`
  for every message pysyncobj sends, keeping what pysyncobj distinguishes -
  an absent key versus a key set to None (`'prevLogIdx' in message`,
  `'request_id' in message`, `serialized` None versus False). Log entries come
  back as a list of `(command, idx, term)` tuples and a snapshot chunk as a
  `(data, isFirst, isLast)` tuple, as pysyncobj builds them.
- `decode` is safe on hostile input: any bytes give a dict or `CodecError`,
  never another exception. It refuses frames longer than `MAX_FRAME_BYTES`
  before parsing, then protobuf parse errors, a missing body, out-of-range
  values and anything but the canonical encoding: every message has exactly
  one frame (`encode(decode(f)) == f`), so unknown fields are refused too and a
  schema change needs a coordinated upgrade. `CodecError` messages name fields
  and sizes, never payload bytes.

Message shapes (pysyncobj `syncobj.py`):
  request_vote            {type, term, last_log_index, last_log_term}
  response_vote           {type, term}
  append_entries          {type, term, commit_index, entries, prevLogIdx, prevLogTerm}
                          {type, transmission, data, term, commit_index, prevLogIdx,
                           prevLogTerm}    (one large entry, pickled and chunked)
                          {type, term, commit_index, serialized}    (snapshot)
  next_node_idx           {type, next_node_idx, reset, success}
  apply_command           {type, command[, request_id]}
  apply_command_response  {type, request_id, error} | {type, request_id, log_idx, log_term}
  timeout_now             {type, term}
  pre_vote                {type, term, last_log_index, last_log_term}   (ours: election.py)
  pre_vote_response       {type, term, granted}                         (ours: election.py)
prevLogIdx/prevLogTerm may be None; serialized is None, False or a 3-tuple.

Payloads stay opaque here: command bytes are pysyncobj's own (pickle) frame,
and the chunks of a large-entry transmission and of a snapshot are pickles that
pysyncobj, not this codec, reassembles and loads - the transmission through
`pysyncobj.syncobj.pickle` (swapped for `safe_pickle`), the snapshot through
`pysyncobj.serializer.pickle`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError

from strongbox.pb import raft_pb2 as pb

__all__ = ["MAX_FRAME_BYTES", "MAX_INT", "CodecError", "decode", "encode"]

MAX_FRAME_BYTES = 16 * 1024 * 1024
"""The largest frame `encode` produces and `decode` accepts (16 MiB)."""

MAX_INT = 2**63 - 1
"""The largest term, index or request id accepted (fits a signed 64-bit integer)."""

FAIL_REASONS = frozenset(range(8))
"""pysyncobj's `FAIL_REASON` values (SUCCESS .. UNKNOWN_OUTCOME), the only valid `error`s."""

_STAGES = {"start": pb.AppendEntriesTransmission.START,
           "process": pb.AppendEntriesTransmission.PROCESS,
           "finish": pb.AppendEntriesTransmission.FINISH}
_STAGE_NAMES = {number: name for name, number in _STAGES.items()}


class CodecError(ValueError):
    """A message that cannot be encoded, or a frame that is not a valid Raft message."""


# --- encode -------------------------------------------------------------------------------


def _describe_key(key: object) -> str:
    return repr(key[:40]) if isinstance(key, str) else f"<{type(key).__name__} key>"


def _check_keys(message: dict[Any, Any], expected: frozenset[str], what: str) -> None:
    keys = set(message)
    if keys == expected:
        return
    missing = sorted(expected - keys)
    unexpected = sorted(_describe_key(k) for k in keys - expected)
    detail = []
    if missing:
        detail.append(f"missing {', '.join(map(repr, missing))}")
    if unexpected:
        detail.append(f"unexpected {', '.join(unexpected[:8])}")
    raise CodecError(f"{what}: {'; '.join(detail)}")


def _int(value: object, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CodecError(f"{field}: expected int, got {type(value).__name__}")
    if not 0 <= value <= MAX_INT:
        raise CodecError(f"{field}: out of range")
    return value


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise CodecError(f"{field}: expected bool, got {type(value).__name__}")
    return value


def _bytes(value: object, field: str) -> bytes:
    if not isinstance(value, bytes):
        raise CodecError(f"{field}: expected bytes, got {type(value).__name__}")
    return value


def _error_code(value: object) -> int:
    code = _int(value, "error")
    if code not in FAIL_REASONS:
        raise CodecError("error: not a pysyncobj FAIL_REASON")
    return code


_REQUEST_VOTE = frozenset({"type", "term", "last_log_index", "last_log_term"})
_TERM_ONLY = frozenset({"type", "term"})
_PRE_VOTE_RESPONSE = frozenset({"type", "term", "granted"})
_APPEND_ENTRIES = frozenset(
    {"type", "term", "commit_index", "entries", "prevLogIdx", "prevLogTerm"})
_TRANSMISSION = frozenset(
    {"type", "transmission", "data", "term", "commit_index", "prevLogIdx", "prevLogTerm"})
_SNAPSHOT = frozenset({"type", "term", "commit_index", "serialized"})
_NEXT_NODE_IDX = frozenset({"type", "next_node_idx", "reset", "success"})
_APPLY_COMMAND = frozenset({"type", "command"})
_APPLY_COMMAND_WITH_ID = frozenset({"type", "command", "request_id"})
_RESPONSE_ERROR = frozenset({"type", "request_id", "error"})
_RESPONSE_ACCEPTED = frozenset({"type", "request_id", "log_idx", "log_term"})


def _vote_fields(m: dict[str, Any], kind: str) -> dict[str, int]:
    """request_vote and pre_vote carry the same fields."""
    _check_keys(m, _REQUEST_VOTE, kind)
    return {"term": _int(m["term"], "term"),
            "last_log_index": _int(m["last_log_index"], "last_log_index"),
            "last_log_term": _int(m["last_log_term"], "last_log_term")}


def _encode_request_vote(m: dict[str, Any]) -> pb.RaftMessage:
    return pb.RaftMessage(request_vote=pb.RequestVote(**_vote_fields(m, "request_vote")))


def _encode_response_vote(m: dict[str, Any]) -> pb.RaftMessage:
    _check_keys(m, _TERM_ONLY, "response_vote")
    return pb.RaftMessage(response_vote=pb.ResponseVote(term=_int(m["term"], "term")))


def _encode_timeout_now(m: dict[str, Any]) -> pb.RaftMessage:
    _check_keys(m, _TERM_ONLY, "timeout_now")
    return pb.RaftMessage(timeout_now=pb.TimeoutNow(term=_int(m["term"], "term")))


def _encode_pre_vote(m: dict[str, Any]) -> pb.RaftMessage:
    return pb.RaftMessage(pre_vote=pb.PreVote(**_vote_fields(m, "pre_vote")))


def _encode_pre_vote_response(m: dict[str, Any]) -> pb.RaftMessage:
    _check_keys(m, _PRE_VOTE_RESPONSE, "pre_vote_response")
    granted = m["granted"]
    if not isinstance(granted, bool):
        raise CodecError("pre_vote_response: granted must be a bool")
    return pb.RaftMessage(pre_vote_response=pb.PreVoteResponse(
        term=_int(m["term"], "term"), granted=granted))


def _opt_int(value: object, field: str) -> int | None:
    return None if value is None else _int(value, field)


def _encode_append_entries(m: dict[str, Any]) -> pb.RaftMessage:
    if "entries" in m:
        return _encode_entries(m)
    if "transmission" in m:
        return _encode_transmission(m)
    if "serialized" in m:
        return _encode_snapshot(m)
    raise CodecError("append_entries: none of 'entries', 'transmission', 'serialized'")


def _encode_entries(m: dict[str, Any]) -> pb.RaftMessage:
    _check_keys(m, _APPEND_ENTRIES, "append_entries")
    entries = m["entries"]
    if not isinstance(entries, list | tuple):
        raise CodecError(f"entries: expected list, got {type(entries).__name__}")
    body = pb.AppendEntries(
        term=_int(m["term"], "term"),
        commit_index=_int(m["commit_index"], "commit_index"),
        prev_log_idx=_opt_int(m["prevLogIdx"], "prevLogIdx"),
        prev_log_term=_opt_int(m["prevLogTerm"], "prevLogTerm"))
    for entry in entries:
        if not isinstance(entry, tuple | list) or len(entry) != 3:
            raise CodecError("entries: each entry must be a (command, idx, term) tuple")
        command, idx, term = entry
        body.entries.add(command=_bytes(command, "entries.command"),
                         index=_int(idx, "entries.idx"), term=_int(term, "entries.term"))
    return pb.RaftMessage(append_entries=body)


def _encode_transmission(m: dict[str, Any]) -> pb.RaftMessage:
    _check_keys(m, _TRANSMISSION, "append_entries transmission")
    stage = m["transmission"]
    if not isinstance(stage, str) or stage not in _STAGES:
        raise CodecError("transmission: expected 'start', 'process' or 'finish'")
    return pb.RaftMessage(append_entries_transmission=pb.AppendEntriesTransmission(
        transmission=_STAGES[stage],
        data=_bytes(m["data"], "data"),
        term=_int(m["term"], "term"),
        commit_index=_int(m["commit_index"], "commit_index"),
        prev_log_idx=_opt_int(m["prevLogIdx"], "prevLogIdx"),
        prev_log_term=_opt_int(m["prevLogTerm"], "prevLogTerm")))


def _encode_snapshot(m: dict[str, Any]) -> pb.RaftMessage:
    _check_keys(m, _SNAPSHOT, "append_entries snapshot")
    body = pb.InstallSnapshot(term=_int(m["term"], "term"),
                              commit_index=_int(m["commit_index"], "commit_index"))
    serialized = m["serialized"]
    if serialized is None:
        body.unavailable.SetInParent()
    elif serialized is False:
        body.read_error.SetInParent()
    elif isinstance(serialized, tuple | list) and len(serialized) == 3:
        data, is_first, is_last = serialized
        body.chunk.data = _bytes(data, "serialized.data")
        body.chunk.is_first = _bool(is_first, "serialized.isFirst")
        body.chunk.is_last = _bool(is_last, "serialized.isLast")
    else:
        raise CodecError("serialized: expected None, False or (data, isFirst, isLast)")
    return pb.RaftMessage(install_snapshot=body)


def _encode_next_node_idx(m: dict[str, Any]) -> pb.RaftMessage:
    _check_keys(m, _NEXT_NODE_IDX, "next_node_idx")
    return pb.RaftMessage(next_node_idx=pb.NextNodeIdx(
        next_node_idx=_int(m["next_node_idx"], "next_node_idx"),
        reset=_bool(m["reset"], "reset"),
        success=_bool(m["success"], "success")))


def _encode_apply_command(m: dict[str, Any]) -> pb.RaftMessage:
    has_id = "request_id" in m
    _check_keys(m, _APPLY_COMMAND_WITH_ID if has_id else _APPLY_COMMAND, "apply_command")
    body = pb.ApplyCommand(command=_bytes(m["command"], "command"))
    if has_id:
        body.request_id = _int(m["request_id"], "request_id")
    return pb.RaftMessage(apply_command=body)


def _encode_apply_command_response(m: dict[str, Any]) -> pb.RaftMessage:
    if "error" in m:
        _check_keys(m, _RESPONSE_ERROR, "apply_command_response")
        body = pb.ApplyCommandResponse(request_id=_int(m["request_id"], "request_id"),
                                       error=_error_code(m["error"]))
    else:
        _check_keys(m, _RESPONSE_ACCEPTED, "apply_command_response")
        body = pb.ApplyCommandResponse(
            request_id=_int(m["request_id"], "request_id"),
            accepted=pb.LogPosition(log_idx=_int(m["log_idx"], "log_idx"),
                                    log_term=_int(m["log_term"], "log_term")))
    return pb.RaftMessage(apply_command_response=body)


_ENCODERS: dict[str, Callable[[dict[str, Any]], pb.RaftMessage]] = {
    "request_vote": _encode_request_vote,
    "response_vote": _encode_response_vote,
    "append_entries": _encode_append_entries,
    "next_node_idx": _encode_next_node_idx,
    "apply_command": _encode_apply_command,
    "apply_command_response": _encode_apply_command_response,
    "timeout_now": _encode_timeout_now,
    "pre_vote": _encode_pre_vote,
    "pre_vote_response": _encode_pre_vote_response,
}


def encode(message: dict[str, Any]) -> bytes:
    """Encode one pysyncobj message dict as a `RaftMessage` frame.

    Raises CodecError for a dict that is not one of pysyncobj's known shapes,
    or whose frame would exceed MAX_FRAME_BYTES.
    """
    if not isinstance(message, dict):
        raise CodecError(f"expected a dict, got {type(message).__name__}")
    kind = message.get("type")
    encoder = _ENCODERS.get(kind) if isinstance(kind, str) else None
    if encoder is None:
        shown = _describe_key(kind) if isinstance(kind, str) else type(kind).__name__
        raise CodecError(f"unknown raft message type {shown}")
    frame = encoder(message)
    size = frame.ByteSize()
    if size > MAX_FRAME_BYTES:
        raise CodecError(f"{kind}: frame of {size} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return frame.SerializeToString()


# --- decode -------------------------------------------------------------------------------


def _uint(value: int, field: str) -> int:
    if value > MAX_INT:
        raise CodecError(f"{field}: out of range")
    return value


def _prev_log(body: pb.AppendEntries | pb.AppendEntriesTransmission) -> dict[str, int | None]:
    return {
        "prevLogIdx": (_uint(body.prev_log_idx, "prevLogIdx")
                       if body.HasField("prev_log_idx") else None),
        "prevLogTerm": (_uint(body.prev_log_term, "prevLogTerm")
                        if body.HasField("prev_log_term") else None),
    }


def _decode_vote(kind: str, body: pb.RequestVote | pb.PreVote) -> dict[str, Any]:
    return {"type": kind,
            "term": _uint(body.term, "term"),
            "last_log_index": _uint(body.last_log_index, "last_log_index"),
            "last_log_term": _uint(body.last_log_term, "last_log_term")}


def _decode_request_vote(frame: pb.RaftMessage) -> dict[str, Any]:
    return _decode_vote("request_vote", frame.request_vote)


def _decode_response_vote(frame: pb.RaftMessage) -> dict[str, Any]:
    return {"type": "response_vote", "term": _uint(frame.response_vote.term, "term")}


def _decode_timeout_now(frame: pb.RaftMessage) -> dict[str, Any]:
    return {"type": "timeout_now", "term": _uint(frame.timeout_now.term, "term")}


def _decode_pre_vote(frame: pb.RaftMessage) -> dict[str, Any]:
    return _decode_vote("pre_vote", frame.pre_vote)


def _decode_pre_vote_response(frame: pb.RaftMessage) -> dict[str, Any]:
    body = frame.pre_vote_response
    return {"type": "pre_vote_response", "term": _uint(body.term, "term"),
            "granted": body.granted}


def _decode_append_entries(frame: pb.RaftMessage) -> dict[str, Any]:
    body = frame.append_entries
    entries = [(e.command, _uint(e.index, "entries.idx"), _uint(e.term, "entries.term"))
               for e in body.entries]
    return {"type": "append_entries",
            "term": _uint(body.term, "term"),
            "commit_index": _uint(body.commit_index, "commit_index"),
            "entries": entries,
            **_prev_log(body)}


def _decode_transmission(frame: pb.RaftMessage) -> dict[str, Any]:
    body = frame.append_entries_transmission
    stage = _STAGE_NAMES.get(body.transmission)
    if stage is None:
        raise CodecError("transmission: not start, process or finish")
    return {"type": "append_entries",
            "transmission": stage,
            "data": body.data,
            "term": _uint(body.term, "term"),
            "commit_index": _uint(body.commit_index, "commit_index"),
            **_prev_log(body)}


def _decode_snapshot(frame: pb.RaftMessage) -> dict[str, Any]:
    body = frame.install_snapshot
    which = body.WhichOneof("serialized")
    serialized: tuple[bytes, bool, bool] | bool | None
    if which == "chunk":
        serialized = (body.chunk.data, body.chunk.is_first, body.chunk.is_last)
    elif which == "unavailable":
        serialized = None
    elif which == "read_error":
        serialized = False
    else:
        raise CodecError("install_snapshot: no serialized case set")
    return {"type": "append_entries",
            "term": _uint(body.term, "term"),
            "commit_index": _uint(body.commit_index, "commit_index"),
            "serialized": serialized}


def _decode_next_node_idx(frame: pb.RaftMessage) -> dict[str, Any]:
    body = frame.next_node_idx
    return {"type": "next_node_idx",
            "next_node_idx": _uint(body.next_node_idx, "next_node_idx"),
            "reset": body.reset,
            "success": body.success}


def _decode_apply_command(frame: pb.RaftMessage) -> dict[str, Any]:
    body = frame.apply_command
    message: dict[str, Any] = {"type": "apply_command", "command": body.command}
    if body.HasField("request_id"):
        message["request_id"] = _uint(body.request_id, "request_id")
    return message


def _decode_apply_command_response(frame: pb.RaftMessage) -> dict[str, Any]:
    body = frame.apply_command_response
    message: dict[str, Any] = {"type": "apply_command_response",
                               "request_id": _uint(body.request_id, "request_id")}
    which = body.WhichOneof("result")
    if which == "error":
        if body.error not in FAIL_REASONS:
            raise CodecError("error: not a pysyncobj FAIL_REASON")
        message["error"] = body.error
    elif which == "accepted":
        message["log_idx"] = _uint(body.accepted.log_idx, "log_idx")
        message["log_term"] = _uint(body.accepted.log_term, "log_term")
    else:
        raise CodecError("apply_command_response: no result case set")
    return message


_DECODERS: dict[str, Callable[[pb.RaftMessage], dict[str, Any]]] = {
    "request_vote": _decode_request_vote,
    "response_vote": _decode_response_vote,
    "append_entries": _decode_append_entries,
    "append_entries_transmission": _decode_transmission,
    "install_snapshot": _decode_snapshot,
    "next_node_idx": _decode_next_node_idx,
    "apply_command": _decode_apply_command,
    "apply_command_response": _decode_apply_command_response,
    "timeout_now": _decode_timeout_now,
    "pre_vote": _decode_pre_vote,
    "pre_vote_response": _decode_pre_vote_response,
}


def _decode(data: object) -> dict[str, Any]:
    if isinstance(data, memoryview):
        size = data.nbytes
    elif isinstance(data, bytes | bytearray):
        size = len(data)
    else:
        raise CodecError(f"expected bytes, got {type(data).__name__}")
    if size > MAX_FRAME_BYTES:
        raise CodecError(f"frame of {size} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    raw = bytes(data)
    frame = pb.RaftMessage()
    try:
        frame.ParseFromString(raw)
    except DecodeError:
        raise CodecError(f"frame of {size} bytes is not a valid RaftMessage") from None
    # Only the canonical encoding (what `encode` writes) is accepted, so every message
    # has exactly one frame: unknown fields (a newer or foreign schema), repeated
    # singular fields, padded varints and bools other than 0/1 all re-encode differently.
    frame.DiscardUnknownFields()
    if frame.SerializeToString() != raw:
        raise CodecError(f"frame of {size} bytes is not a canonical RaftMessage "
                         "(unknown or repeated fields, or a non-minimal encoding)")
    which = frame.WhichOneof("body")
    if which is None:
        raise CodecError("RaftMessage: no body case set")
    return _DECODERS[which](frame)


def decode(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode one `RaftMessage` frame into the dict pysyncobj expects.

    Any input gives a dict or CodecError, never another exception.
    """
    try:
        return _decode(data)
    except CodecError:
        raise
    except Exception as exc:  # the hostile-input contract: nothing else escapes
        raise CodecError(f"undecodable frame ({type(exc).__name__})") from None
