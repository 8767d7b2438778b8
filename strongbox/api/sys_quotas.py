"""`sys/quotas/lease-count/:name`: caps on live leases per namespace or mount (root
namespace only; Vault Enterprise's shape).

`POST {path, max_leases}` creates or replaces a quota: `path` "" (every lease), a
namespace ("team-a/") or a mount ("team-a/database/"). `GET` reads one, `DELETE`
removes one, `LIST sys/quotas/lease-count` names them. Engines that issue leases
check every quota whose path covers the issuing mount before they issue
(engines/database/quota.py) and answer 429 with `Retry-After` when one is full.
"""

from __future__ import annotations

import re
from typing import Any

from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest, NotFound
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec

PREFIX = "sys/quotas/lease-count/"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
MAX = 10**9


def _name(ctx: Context) -> str:
    if ctx.request.namespace:
        raise BadRequest("quotas are managed in the root namespace")
    name = ctx.request.path[len(PREFIX):].strip("/")
    if not NAME.fullmatch(name):
        raise BadRequest("a quota name is letters, digits, '.', '_' or '-' (up to 128)")
    return name


def _found(ctx: Context, name: str) -> rec.LeaseQuota:
    quota = next((q for q in ctx.core.store.lease_quotas() if q.name == name), None)
    if quota is None:
        raise NotFound(f"no lease-count quota named {name!r}")
    return quota


def describe(quota: rec.LeaseQuota) -> dict[str, Any]:
    return {"name": quota.name, "path": quota.path, "type": "lease-count",
            "max_leases": quota.max_leases, "inheritable": True, "role": ""}


async def write(ctx: Context) -> Response:
    name = _name(ctx)
    body = ctx.request.json_body({"path": (str,), "max_leases": (int, str),
                                  "inheritable": (bool,), "role": (str,)})
    path = body.get("path", "").strip("/")
    path = path + "/" if path else ""
    raw = body.get("max_leases")
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if not isinstance(raw, int) or not 0 < raw <= MAX:
        raise BadRequest(f"'max_leases' is required: an integer from 1 to {MAX}")
    if body.get("role"):
        raise BadRequest("'role' is not served: a quota covers a namespace or a mount")
    quota = rec.LeaseQuota(name=name, path=path, max_leases=raw)
    await ctx.submit(cmd_pb.Command(quota_write=cmd_pb.QuotaWrite(quota=quota)))
    return no_content()


async def read(ctx: Context) -> Response:
    return ok(ctx.request.request_id, describe(_found(ctx, _name(ctx))))


async def delete(ctx: Context) -> Response:
    await ctx.submit(cmd_pb.Command(quota_delete=cmd_pb.QuotaDelete(name=_name(ctx))))
    return no_content()


async def names(ctx: Context) -> Response:
    found = sorted(q.name for q in ctx.core.store.lease_quotas())
    if not found:
        raise NotFound("")
    return ok(ctx.request.request_id, {"keys": found})


ROUTES: dict[str, Route] = {"sys/quotas/lease-count": Route({"LIST": names}, sudo=True)}
PREFIX_ROUTES: dict[str, Route] = {
    PREFIX: Route({"POST": write, "GET": read, "DELETE": delete, "LIST": names}, sudo=True),
}
