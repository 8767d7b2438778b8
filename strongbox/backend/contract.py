"""The `Backend` contract: what every secrets engine and auth method provides.

A backend is mounted at a path of a namespace's mount table (`sys/mounts` for
secrets engines, `sys/auth` for auth methods). The router finds the mount by
longest prefix and hands the rest of the path to the backend's `paths`
(a `PathTable` of `Route`s, each with its flags: `auth=False` for
unauthenticated paths such as logins, `sudo`, `forward` to the leader). The
request then runs through the one pipeline (token, use, audit, handler, wrap,
audit) and reaches the route's handler with `ctx.mount`, `ctx.path`,
`ctx.match` and `ctx.storage` (the mount's own storage view) set.

What else a backend declares:

- `kind` ("secret" or "auth") and `type` (the `type` of `sys/mounts` /
  `sys/auth`); `version` and `default_version` when one type has several
  backends (KV 1 and 2: a mount's `options.version` picks one).
- `options(raw)`: validate and normalise mount options at enable/tune time
  (raise `BadRequest`); returns what is stored on the mount record.
- `apply_handlers`: apply functions of the replicated commands it owns
  (`Command` oneof name -> handler); `state.apply` dispatches them. Most
  backends need none: `ctx.storage` writes go through the generic
  `MountWrite` command.
- `unmount(store, txn, namespace, mount)`: extra cleanup when the mount is
  disabled, in the same apply transaction (its storage view is always
  deleted).
- `expiry`: an `ExpiryHook` naming which of its storage records lapse (AppRole
  secret ids, userpass failure counters): the leader's sweeper scans every mount
  of the backend with it and proposes the keys; apply re-checks them with it.
- `retire`: writes the leader's sweeper proposes for records of a mount that are
  due (KV v2 versions past `delete_version_after`), each a `Retirement`: the
  command (apply re-checks the rule at the command's time) and the audit entry to
  record when it removed something. None when the backend has nothing to retire.
- `maintain(core, namespace, mount, now_ns)`: leader-side upkeep of one mount that
  needs more than a pure rule (Transit's automatic key rotation makes new key
  material): the sweeper awaits it on the leader every round, for every mount of
  the backend, and logs what it returns (the number of changes). None when the
  backend needs none.
  `maintain_interval_s`: how often (None: the sweeper's interval; Database: 1 s).
- `leases`: a `LeaseHooks` when the backend issues leases (Database): `sys/leases/*`
  finds the mount by the lease id's prefix and calls these with that mount's context.
- `serves_data`: reads of this backend get the follower-read checks
  (snapshot restore in progress, `X-Strongbox-Consistency: consistent`,
  staleness without a leader).
- `check_token_first`: the token is checked before a path the backend does
  not serve is answered 404/405 (Vault's rule for secrets engines).
- `upgrade(ctx, new_options)`: an engine may take over a tune that changes its
  version (KV 1 -> 2); None when it has no such thing.

A new engine is one package under `engines/` (or `auth/`) exposing a `Backend`
and one line in `strongbox/registry.py`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import lmdb

from strongbox.backend.context import Context, PathTable
from strongbox.core import Core
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state.apply_sweep import ExpiryHook
from strongbox.state.store import Store

__all__ = ["ApplyHandler", "Backend", "ExpiryHook", "LeaseHooks", "Maintain", "Retire",
           "Retirement", "Unmount", "Upgrade"]

ApplyHandler = Callable[[Store, lmdb.Transaction, cmd_pb.Command], rec.ApplyResult]
Unmount = Callable[[Store, lmdb.Transaction, str, rec.MountRecord], None]
Upgrade = Callable[[Context, rec.MountRecord, dict[str, str]], Awaitable[None]]
Maintain = Callable[[Core, str, rec.MountRecord, int], Awaitable[int]]


@dataclass(frozen=True)
class Retirement:
    """One write of the leader's sweeper for a backend, and `audit(count)`: the audit
    entry once apply removed `count` things (`ApplyResult.version`)."""

    command: cmd_pb.Command
    audit: Callable[[int], dict[str, Any]]


# (store, namespace, mount, now_ns, limit) -> up to `limit` retirements due at now_ns
Retire = Callable[[Store, str, rec.MountRecord, int, int], list[Retirement]]


def no_options(raw: dict[str, str]) -> dict[str, str]:
    return raw


@dataclass(frozen=True)
class LeaseHooks:
    """What `sys/leases/*` asks a backend; `key` is the lease id after the mount path."""

    lookup: Callable[[Context, str], dict[str, Any]]
    renew: Callable[[Context, str, int], Awaitable[dict[str, Any]]]  # increment seconds
    revoke: Callable[[Context, str, bool], Awaitable[None]]  # force
    revoke_prefix: Callable[[Context, str, bool], Awaitable[int]]
    children: Callable[[Context, str], list[str]]  # LIST below a prefix


@dataclass(frozen=True)
class Backend:
    kind: str  # "secret" | "auth"
    type: str
    paths: PathTable
    description: str = ""
    version: str = ""
    default_version: bool = True
    options: Callable[[dict[str, str]], dict[str, str]] = no_options
    apply_handlers: Mapping[str, ApplyHandler] = field(default_factory=dict)
    unmount: Unmount | None = None
    serves_data: bool = False
    check_token_first: bool = False
    upgrade: Upgrade | None = None
    expiry: ExpiryHook | None = None
    retire: Retire | None = None
    maintain: Maintain | None = None
    maintain_interval_s: float | None = None
    leases: LeaseHooks | None = None
