"""A restricted stand-in for `pysyncobj.pickle`: unpickling with an allow-list.

pysyncobj frames every log entry with pickle (`(method_id, (command_bytes,))`),
and `pickle.loads` of attacker-controlled bytes is code execution. Our commands
are protobuf bytes inside that frame, so the only globals a legitimate entry
needs are `_codecs.encode` (how protocol 2 pickles `bytes`), `set`, and, for
membership changes and snapshots, pysyncobj's node classes. Anything else
raises `UnsafePickleError`.

`install()` points `pysyncobj.syncobj.pickle` and `pysyncobj.serializer.pickle`
at this module. It is idempotent
and runs when `strongbox.raft` is imported, before any SyncObj exists.
"""

from __future__ import annotations

import io
import pickle
import sys
from typing import IO, Any

import pysyncobj.serializer
import pysyncobj.syncobj

ALLOWED_GLOBALS = frozenset({
    ("_codecs", "encode"),
    ("__builtin__", "set"),  # pysyncobj's in-memory snapshots carry the member set
    ("builtins", "set"),
    ("pysyncobj.node", "Node"),
    ("pysyncobj.node", "TCPNode"),
})
PROTOCOL = 2  # what pysyncobj writes; kept so mixed-version logs stay readable


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(f"refusing to unpickle global {module}.{name}")
        return super().find_class(module, name)


def to_bytes(data: bytes | str) -> bytes:
    return data if isinstance(data, bytes) else data.encode("utf-8")


def loads(data: bytes | str) -> Any:
    return _RestrictedUnpickler(io.BytesIO(to_bytes(data))).load()


def load(file: IO[bytes]) -> Any:
    return _RestrictedUnpickler(file).load()


def dumps(obj: object, protocol: int | None = None) -> bytes:
    return pickle.dumps(obj, PROTOCOL)


def dump(obj: object, file: IO[bytes], protocol: int | None = None) -> None:
    pickle.dump(obj, file, PROTOCOL)


def install() -> None:
    # syncobj (log entries, membership) and serializer (in-memory snapshots, which our
    # file-based hooks never use: defence in depth) both import pysyncobj.pickle.
    pysyncobj.syncobj.pickle = sys.modules[__name__]
    pysyncobj.serializer.pickle = sys.modules[__name__]
