"""Frames on the worker channel: kind (1 byte) + length (4 bytes, big-endian) + protobuf.

One long-lived connection per worker carries `WorkerState` pushes (main -> worker);
every proposal and every proxied request is its own short connection (one request
frame, one answer frame). Frames are bounded (`MAX_FRAME`); a bad frame closes the
connection. Nothing here is pickle: every payload is a `workers_pb2`/`cluster_pb2`
message.
"""

from __future__ import annotations

import asyncio
import struct

STATE = 1          # WorkerState, main -> worker
PROPOSE = 2        # ProposeRequest, worker -> main; answered with PROPOSED
PROPOSED = 3       # ProposeResponse
PROXY = 4          # ProxyRequest, worker -> main; answered with PROXIED
PROXIED = 5        # cluster_pb2.HttpResponse
HELLO = 6          # WorkerState-less greeting of the control connection (payload: index)

MAX_FRAME = 64 << 20  # a request body is limited far below this (limits.max_request_bytes)
_HEAD = struct.Struct(">BI")


class FrameError(ValueError):
    """The peer sent something that is not a frame of this channel."""


def encode(kind: int, payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise FrameError(f"a frame of {len(payload)} bytes is over the {MAX_FRAME} limit")
    return _HEAD.pack(kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """The next frame; raises asyncio.IncompleteReadError at EOF, FrameError if bad."""
    head = await reader.readexactly(_HEAD.size)
    kind, length = _HEAD.unpack(head)
    if length > MAX_FRAME or kind not in (STATE, PROPOSE, PROPOSED, PROXY, PROXIED, HELLO):
        raise FrameError(f"bad frame (kind {kind}, {length} bytes)")
    return kind, await reader.readexactly(length)


async def call(path: str, kind: int, payload: bytes, answer_kind: int,
               timeout: float) -> bytes:
    """One request frame on a new connection to `path`; the answer frame's payload."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_unix_connection(path, limit=MAX_FRAME)
        try:
            writer.write(encode(kind, payload))
            await writer.drain()
            got, answer = await read_frame(reader)
        finally:
            writer.close()
    if got != answer_kind:
        raise FrameError(f"expected a frame of kind {answer_kind}, got {got}")
    return answer
