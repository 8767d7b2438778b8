"""Records of auth methods (users, roles, secret ids, lock state) in the replicated store.

Keys are `<namespace>\\0<mount uuid>\\0<kind>\\0<parts...>`: keyed by the mount's uuid,
not its path, so a user or role written while its method was being disabled (or its
namespace deleted) can never reappear in a method re-created at the same path.
Every write names its mount (`MountRef`) and apply refuses it once that mount
is gone. `entry_key` builds keys, `read` / `scan` read them, `write` changes them.
"""

from __future__ import annotations

from strongbox.backend.context import Context
from strongbox.backend.storage import MountStorage
from strongbox.errors import NotFound
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec


def view(ctx: Context, mount: rec.MountRecord) -> MountStorage:
    """The auth method's storage view (plain records: apply reads them)."""
    return MountStorage(ctx.core, ctx.request.namespace, mount, secrets_engine=False,
                        origin=ctx.request)


def entry_key(ctx: Context, mount: rec.MountRecord, kind: str, *parts: str) -> bytes:
    return view(ctx, mount).key(kind, *parts)


def mount_ref(ctx: Context, mount: rec.MountRecord) -> cmd_pb.MountRef:
    return view(ctx, mount).ref()


def read(ctx: Context, key: bytes) -> bytes | None:
    return ctx.core.store.auth_entry(key)


def scan(ctx: Context, prefix: bytes) -> list[tuple[bytes, bytes]]:
    return ctx.core.store.auth_entries(prefix)


async def write(ctx: Context, mount: rec.MountRecord, op: cmd_pb.MountWrite,
                conflict: str = "it already exists") -> None:
    """Apply `op` to the mount's records; 404 if the mount went away (or the write could
    not be applied), 400 `conflict` on a precondition."""
    await view(ctx, mount).propose(op, conflict, invalid=NotFound)


def put(key: bytes, value: bytes) -> cmd_pb.MountWrite.Put:
    return cmd_pb.MountWrite.Put(key=key, value=value)
