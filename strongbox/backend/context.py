"""What a handler gets (`Context`) and how paths find handlers (`Route`, `PathTable`).

A `Route` maps methods to handlers and carries the path's flags: whether the
caller must present a token (`auth`; False = unauthenticated, like logins),
whether the node must be unsealed (`unsealed`), whether the token also needs
`sudo`, and whether a follower forwards the request to the leader (`forward`).
PUT and POST are interchangeable, as in Vault. `CAPABILITY` maps a method to the
ACL capability the policy check asks for.

`PathTable` is the one matching mechanism of every backend: exact paths,
prefixes and regular expressions (full match, named groups land in
`Context.match`), tried in that order.

`Context.submit` is how handlers write: it proposes a command through
`Core.submit` with the request's Idempotency-Key and records the Raft index in
`request.write_index`, which the pipeline turns into `X-Vault-Index`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from strongbox.backend.request import Request
from strongbox.backend.response import Response
from strongbox.backend.storage import MountStorage
from strongbox.core import Core
from strongbox.errors import MethodNotAllowed, NotFound, PermissionDenied
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state.keys import namespace_within


@dataclass(slots=True)
class Context:
    request: Request
    core: Core
    token: rec.TokenRecord | None = None
    acl_path: str = ""  # the request path as the token's policies see it (namespaces)
    mount: rec.MountRecord | None = None  # the mount serving the request (None: sys/, token)
    path: str = ""  # the path inside the mount
    match: re.Match[str] | None = None  # named groups of the route's pattern
    secrets_engine: bool = False  # the mount is in sys/mounts (else sys/auth)
    _storage: MountStorage | None = field(default=None, repr=False)

    @property
    def storage(self) -> MountStorage | None:
        """The mount's storage view, made on first use (most requests never need it)."""
        if self._storage is None and self.mount is not None:
            self._storage = MountStorage(self.core, self.request.namespace, self.mount,
                                         self.secrets_engine, origin=self.request)
        return self._storage

    async def submit(self, command: cmd_pb.Command, request_id: str = "") -> rec.ApplyResult:
        return await self.core.submit(command, request_id, origin=self.request)

    async def submit_revocation(self, command: cmd_pb.Command) -> rec.ApplyResult:
        """Submit, then answer only once a majority of nodes has applied the command
        (`Core.confirm_applied`): a token revoked here is refused there afterwards."""
        result = await self.submit(command)
        await self.core.confirm_applied(result.index)
        return result

    def now_ns(self) -> int:
        return self.core.clock.now_ns()


Handler = Callable[[Context], Awaitable[Response]]
# A handler that takes the mount and the path match as keywords (auth methods).
MountHandler = Callable[..., Awaitable[Response]]


def bound(handler: MountHandler) -> Handler:
    """`handler(ctx, mount=ctx.mount, match=ctx.match)` as a plain handler."""
    async def call(ctx: Context) -> Response:
        return await handler(ctx, mount=ctx.mount, match=ctx.match)
    return call


def mount_routes(routes: list[tuple[str, dict[str, MountHandler], bool]]
                 ) -> list[tuple[str, Route]]:
    """Patterns of an auth method: (regex, {method: handler}, needs a token)."""
    return [(pattern, Route({m: bound(h) for m, h in handlers.items()}, auth=auth))
            for pattern, handlers, auth in routes]

CAPABILITY = {"GET": "read", "HEAD": "read", "LIST": "list", "PUT": "update",
              "POST": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class Route:
    handlers: dict[str, Handler]
    auth: bool = True
    unsealed: bool = True
    sudo: bool = False
    forward: bool = False

    def handler_for(self, method: str, path: str) -> Handler:
        handler = self.handlers.get(method)
        if handler is None and method in ("PUT", "POST"):
            handler = self.handlers.get("POST" if method == "PUT" else "PUT")
        if handler is None:
            allow = tuple(sorted(self.handlers))
            raise MethodNotAllowed(f"{method} is not supported on /v1/{path}; "
                                   f"supported: {', '.join(allow)}", allow)
        return handler


@dataclass(frozen=True, slots=True)
class Matched:
    route: Route
    match: re.Match[str] | None = None


class PathTable:
    """Paths of one backend, relative to where it is mounted."""

    def __init__(self, exact: dict[str, Route] | None = None,
                 prefixes: dict[str, Route] | None = None,
                 patterns: list[tuple[str, Route]] | None = None,
                 not_found: Callable[[str], str] | None = None) -> None:
        """`not_found(mount path)` adds a hint to the 404 of a path nothing here serves."""
        self.exact = dict(exact or {})
        self.prefixes = dict(prefixes or {})
        self.patterns = [(re.compile(p), r) for p, r in (patterns or [])]
        self._not_found = not_found

    def match(self, path: str) -> Matched | None:
        route = self.exact.get(path) or self.exact.get(path.rstrip("/"))  # LIST keeps "/"
        if route is not None:
            return Matched(route)
        for prefix, route in self.prefixes.items():
            if path.startswith(prefix):
                return Matched(route)
        for pattern, route in self.patterns:
            found = pattern.fullmatch(path)
            if found is not None:
                return Matched(route, found)
        return None

    def not_found(self, full_path: str, mount_path: str = "") -> NotFound:
        detail = self._not_found(mount_path) if self._not_found is not None else ""
        return NotFound(f"no handler for route \"{full_path}\"{detail}")



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
