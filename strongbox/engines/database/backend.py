"""The Database engine as a `Backend`: Vault's paths, leases and the leader's upkeep.

Paths that talk to PostgreSQL and write (`creds`, `rotate-root`, `rotate-role`,
`static-roles` writes) are forwarded to the leader, whose pools and expiry worker
own the database side; reads of configuration work on any node. The mount option
`max_leases` caps the live leases of the mount (a runaway client cannot create a
million users).
"""

from __future__ import annotations

from typing import Any

from strongbox.backend.context import Context, PathTable, Route
from strongbox.backend.contract import Backend, LeaseHooks
from strongbox.engines.database import http_config, http_roles, leases, quota, worker
from strongbox.engines.database.store import view_of
from strongbox.errors import BadRequest

NAME = r"(?P<name>\w(?:[\w.-]*\w)?)"


def _route(handlers: dict[str, Any], forward: bool = False) -> Route:
    return Route(handlers, forward=forward)


ROUTES: list[tuple[str, Route]] = [
    (f"config/{NAME}", _route({"POST": http_config.write_config, "GET": http_config.read_config,
                               "DELETE": http_config.delete_config}, forward=True)),
    (f"reset/{NAME}", _route({"POST": http_config.reset})),
    (f"rotate-root/{NAME}", _route({"POST": http_config.rotate_root}, forward=True)),
    (f"roles/{NAME}", _route({"POST": http_roles.write_role, "GET": http_roles.read_role,
                              "DELETE": http_roles.delete_role})),
    (f"creds/{NAME}", _route({"GET": http_roles.creds}, forward=True)),
    (f"static-roles/{NAME}", _route({"POST": http_roles.write_static_role,
                                     "GET": http_roles.read_static_role,
                                     "DELETE": http_roles.delete_static_role}, forward=True)),
    (f"static-creds/{NAME}", _route({"GET": http_roles.static_creds})),
    (f"rotate-role/{NAME}", _route({"POST": http_roles.rotate_role}, forward=True)),
]
PATHS = PathTable(exact={"config": Route({"LIST": http_config.list_config}),
                         "roles": Route({"LIST": http_roles.list_roles}),
                         "static-roles": Route({"LIST": http_roles.list_static_roles})},
                  patterns=ROUTES)


def options(raw: dict[str, str]) -> dict[str, str]:
    value = raw.get(quota.MAX_LEASES_OPTION, "")
    if value and not (value.isdigit() and 0 < int(value) <= 10**9):
        raise BadRequest(f"option {quota.MAX_LEASES_OPTION!r} must be a positive "
                         "integer (live leases allowed in this mount)")
    return raw


def _now(ctx: Context) -> int:
    return ctx.now_ns() // 1_000_000_000


def _lookup(ctx: Context, key: str) -> dict[str, Any]:
    return leases.lookup(view_of(ctx), key, _now(ctx))


async def _renew(ctx: Context, key: str, increment: int) -> dict[str, Any]:
    view = view_of(ctx)
    record = await leases.renew(view, key, increment, _now(ctx))
    return leases.renew_answer(view, record, _now(ctx))


async def _revoke(ctx: Context, key: str, force: bool) -> None:
    await leases.revoke(view_of(ctx), key, force)


async def _revoke_prefix(ctx: Context, prefix: str, force: bool) -> int:
    return await leases.revoke_prefix(view_of(ctx), prefix, force)


def _children(ctx: Context, prefix: str) -> list[str]:
    return leases.children(view_of(ctx), prefix)


BACKEND = Backend(kind="secret", type="database", paths=PATHS, options=options,
                  description="short-lived PostgreSQL credentials with replicated leases",
                  check_token_first=True, maintain=worker.maintain, maintain_interval_s=1.0,
                  leases=LeaseHooks(lookup=_lookup, renew=_renew, revoke=_revoke,
                                    revoke_prefix=_revoke_prefix, children=_children))
