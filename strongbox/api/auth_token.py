"""auth/token/ endpoints that exist before the token store (issue: access control).

Only `lookup-self` for now: hvac's `is_authenticated()` and the Vault CLI's
`token lookup` call it. Creating, renewing and revoking tokens come with the
access-control work.
"""

from __future__ import annotations

import time

from strongbox.api.envelope import Response, ok
from strongbox.api.routing import Context, Route
from strongbox.errors import PermissionDenied
from strongbox.timefmt import rfc3339


async def lookup_self(ctx: Context) -> Response:
    token = ctx.token
    if token is None:
        raise PermissionDenied()
    ttl = 0
    expire = None
    if token.ttl_ns:
        expire_ns = token.creation_time_ns + token.ttl_ns
        ttl, expire = max(0, (expire_ns - time.time_ns()) // 10**9), rfc3339(expire_ns)
    return ok(ctx.request.request_id, {
        "accessor": token.accessor, "creation_time": token.creation_time_ns // 10**9,
        "creation_ttl": token.ttl_ns // 10**9, "display_name": token.display_name,
        "entity_id": "", "expire_time": expire, "explicit_max_ttl": 0,
        "id": ctx.request.token, "meta": None, "num_uses": 0, "orphan": True,
        "path": "auth/token/root" if "root" in token.policies else "auth/token/create",
        "policies": list(token.policies), "ttl": ttl, "type": "service",
        "namespace_path": token.namespace,
    })


ROUTES = {
    "auth/token/lookup-self": Route({"GET": lookup_self}),
}
