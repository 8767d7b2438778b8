"""The one router: which backend and route serve a request path.

`sys/...` and `auth/token/...` are served by the node's own table (`static`);
every other path is looked up by longest prefix in the request namespace's mount
table: `auth/<path>` among its auth methods, anything else among its secrets
engines. The sorted mount lists are cached and rebuilt only when the mount table
changes (`Store.mount_generation`, bumped by every mount-table change and
different after a snapshot install), so a request costs one small read, not a
scan of the table. The backend's `PathTable` then matches the rest of the path.

Errors of a path nothing serves come back in `Target.error`: the pipeline raises
them at the point the backend asks for (after the token check for secrets
engines, as Vault does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from strongbox import registry
from strongbox.backend.context import PathTable, Route
from strongbox.backend.contract import Backend
from strongbox.errors import NotFound, StrongBoxError
from strongbox.pb import records_pb2 as rec


class MountTable(Protocol):
    """What the router reads of the replicated store (`Store` is one)."""

    def mount_generation(self) -> tuple[Path, int]: ...
    def mounts(self, namespace: str) -> list[rec.MountRecord]: ...
    def auth_mounts(self, namespace: str) -> list[rec.MountRecord]: ...


@dataclass(frozen=True, slots=True)
class Target:
    route: Route | None
    backend: Backend | None = None
    mount: rec.MountRecord | None = None
    path: str = ""  # inside the mount
    match: re.Match[str] | None = None
    error: StrongBoxError | None = None
    static: bool = False  # sys/ or auth/token/: the node's own table
    token_first: bool = False  # check the token before answering `error` / 405

    @property
    def mount_type(self) -> str:
        return self.mount.type if self.mount is not None else ""


class Mounted(NamedTuple):
    mount: rec.MountRecord
    backend: Backend | None  # None: no backend of this StrongBox serves the mount's type


class Router:
    def __init__(self, store: MountTable, static: PathTable) -> None:
        self.store = store
        self.static = static
        self._generation: tuple[object, int] | None = None
        self._mounts: dict[tuple[str, bool], tuple[Mounted, ...]] = {}

    def mounts(self, namespace: str, auth: bool = False) -> tuple[Mounted, ...]:
        """A namespace's mounts with their backends, longest path first (cached per
        mount-table generation)."""
        generation = self.store.mount_generation()
        if generation != self._generation:
            self._mounts.clear()
            self._generation = generation
        key = (namespace, auth)
        found = self._mounts.get(key)
        if found is None:
            listed = self.store.auth_mounts(namespace) if auth else self.store.mounts(namespace)
            found = self._mounts[key] = tuple(
                Mounted(m, registry.for_mount(m.type, dict(m.options), auth))
                for m in sorted(listed, key=lambda m: len(m.path), reverse=True))
        return found

    def mount_paths(self, namespace: str) -> tuple[str, ...]:
        return tuple(entry.mount.path for entry in self.mounts(namespace))

    def resolve(self, path: str, namespace: str) -> Target:
        if path.startswith("sys/") or path.startswith("auth/token/") or path == "auth/token":
            matched = self.static.match(path)
            if matched is None:
                raise NotFound(f"no handler for route \"{path}\"")
            return Target(matched.route, static=True)
        auth = path.startswith("auth/")
        rest = path[len("auth/"):] if auth else path
        entry = next((e for e in self.mounts(namespace, auth)
                      if (rest + "/").startswith(e.mount.path)), None)
        if entry is None:
            what = "no auth method is enabled there" if auth else "nothing is mounted there"
            return Target(None, error=NotFound(f"no handler for route \"{path}\": {what}"),
                          token_first=not auth)
        mount, backend = entry
        if backend is None:
            return Target(None, mount=mount, token_first=not auth, error=NotFound(
                f"no handler for route \"{path}\": no backend serves mounts of type "
                f"{mount.type!r}"))
        inner = rest[len(mount.path):]
        matched = backend.paths.match(inner)
        if matched is None:
            prefix = ("auth/" if auth else "") + mount.path
            return Target(None, backend, mount, inner, token_first=backend.check_token_first,
                          error=backend.paths.not_found(path, prefix))
        return Target(matched.route, backend, mount, inner, matched.match,
                      token_first=backend.check_token_first)
