"""Routes: which handler serves (method, path), and what it requires.

A `Route` maps methods to handlers and says whether the caller must present a
token (`auth`) and whether the node must be unsealed (`unsealed`). PUT and POST
are interchangeable, as in Vault. `CAPABILITY` maps a method to the ACL
capability the policy hook checks.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from strongbox.api.envelope import Response
from strongbox.api.request import Request
from strongbox.core import Core
from strongbox.errors import MethodNotAllowed, PermissionDenied
from strongbox.pb import records_pb2 as rec
from strongbox.state.keys import namespace_within


@dataclass(slots=True)
class Context:
    request: Request
    core: Core
    token: rec.TokenRecord | None = None
    acl_path: str = ""  # the request path as the token's policies see it (namespaces)


Handler = Callable[[Context], Awaitable[Response]]
# Routes inside an auth method's mount: (path regex, {method: handler(ctx, mount=, match=)},
# needs a token).
MountHandler = Callable[..., Awaitable[Response]]
MountRoutes = list[tuple["re.Pattern[str]", dict[str, MountHandler], bool]]

CAPABILITY = {"GET": "read", "HEAD": "read", "LIST": "list", "PUT": "update",
              "POST": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class Route:
    handlers: dict[str, Handler]
    auth: bool = True
    unsealed: bool = True
    sudo: bool = False

    def handler_for(self, method: str, path: str) -> Handler:
        handler = self.handlers.get(method)
        if handler is None and method in ("PUT", "POST"):
            handler = self.handlers.get("POST" if method == "PUT" else "PUT")
        if handler is None:
            allow = tuple(sorted(self.handlers))
            raise MethodNotAllowed(f"{method} is not supported on /v1/{path}; "
                                   f"supported: {', '.join(allow)}", allow)
        return handler


def namespace_prefix(token_namespace: str, request_namespace: str) -> str:
    """What to put before a request path to get the path a token's policies see.

    A token works in its own namespace and in the namespaces below it; its policies
    name paths relative to its own namespace ("team-a/secret/data/x" for a root
    token reading team-a's secret/data/x). Raises PermissionDenied anywhere else.
    """
    if not namespace_within(request_namespace, token_namespace):
        raise PermissionDenied("permission denied: this token belongs to another namespace")
    below = request_namespace[len(token_namespace):].lstrip("/")
    return below + "/" if below else ""
