"""Dispatch auth/<mount>/... to the auth method mounted there (userpass, AppRole).

Each method module exposes `ROUTES`: a list of (regex over the path inside the
mount, {method: handler}, authenticated). Login routes are unauthenticated;
managing users and roles needs a token whose policies allow the path, like any
other request. A handler gets the request context and the mount record.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import cast

from strongbox.api import auth_approle, auth_userpass
from strongbox.api.routing import Handler, MountRoutes
from strongbox.errors import MethodNotAllowed, NotFound
from strongbox.state.store import Store

METHODS: dict[str, MountRoutes] = {"userpass": auth_userpass.ROUTES,
                                     "approle": auth_approle.ROUTES}


@dataclass(frozen=True, slots=True)
class Found:
    handler: Handler
    authenticated: bool
    type: str


def resolve(store: Store, namespace: str, path: str, method: str) -> Found:
    rest = path[len("auth/"):] + "/"
    mount = next((m for m in sorted(store.auth_mounts(namespace), key=lambda m: len(m.path),
                                    reverse=True) if rest.startswith(m.path)), None)
    if mount is None:
        raise NotFound(f"no handler for route \"{path}\": no auth method is enabled there")
    sub = path[len("auth/") + len(mount.path):]
    for pattern, handlers, authenticated in METHODS.get(mount.type, []):
        match = pattern.fullmatch(sub)
        if match is None:
            continue
        handler = handlers.get(method) or (handlers.get("POST") if method == "PUT" else None)
        if handler is None:
            allow = tuple(sorted(handlers))
            raise MethodNotAllowed(f"{method} is not supported on /v1/{path}; "
                                   f"supported: {', '.join(allow)}", allow)
        bound = cast(Handler, functools.partial(handler, mount=mount, match=match))
        return Found(bound, authenticated, mount.type)
    raise NotFound(f"no handler for route \"{path}\"")
