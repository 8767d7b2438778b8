"""Where a `kv` path lives: its mount, the path inside the mount and the KV version.

Contract
--------
`resolve(client, path, mount=None)` answers a `KvTarget`. Without ``-mount`` the mount is
the longest mounted prefix of `path`, found as the Vault CLI does from
``sys/internal/ui/mounts/<path>`` and, where that is not served (StrongBox answers 404),
from ``sys/mounts``. A token that may not read ``sys/mounts`` gets the first path segment
as the mount and KV version 2 (StrongBox's default ``secret/``); ``-mount`` avoids the
guess. `read_secret` / `write_secret` / `list_keys` hide the v1/v2 path differences.

Threading: none (one command at a time on the main thread).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from strongbox.cli.common import CommandFailed
from strongbox.client import Client, errors

LIST = {"list": "true"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@dataclass(frozen=True, slots=True)
class KvTarget:
    """A secret (or folder) `path` inside KV `mount` of `version` 1 or 2."""

    mount: str
    path: str
    version: int

    def api(self, section: str = "data") -> str:
        """The API path: ``mount/<section>/path`` on v2, ``mount/path`` on v1."""
        if self.version == 1:
            return f"{self.mount}/{self.path}".rstrip("/")
        return f"{self.mount}/{section}/{self.path}".rstrip("/")

    @property
    def full(self) -> str:
        return f"{self.mount}/{self.path}".rstrip("/")

    def child(self, name: str) -> KvTarget:
        base = f"{self.path}/" if self.path and not self.path.endswith("/") else self.path
        return KvTarget(self.mount, f"{base}{name}", self.version)

    def require_v2(self, what: str) -> None:
        if self.version != 2:
            raise CommandFailed(f"{what} needs a KV version 2 mount; {self.mount}/ is KV "
                                "version 1 (upgrade it with `strongbox secrets tune "
                                f"-options=version=2 {self.mount}`)")


def call(client: Client, method: str, path: str, **kwargs: Any) -> dict[str, Any] | None:
    """One request through the SDK; the parsed body (None when there is none)."""
    response = client.request(method, path, **kwargs)
    data = response.data
    return data if isinstance(data, dict) else None


def body_data(body: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``data`` object of a response envelope ({} when absent)."""
    if not body:
        return {}
    inner = body.get("data")
    return dict(inner) if isinstance(inner, Mapping) else {}


def _skippable(exc: errors.ClientError) -> bool:
    return getattr(exc, "status", None) in (400, 403, 404, 405)


def _from_ui_mounts(client: Client, path: str) -> tuple[str, int] | None:
    try:
        body = call(client, "GET", f"sys/internal/ui/mounts/{path}")
    except errors.ClientError as exc:
        if _skippable(exc):
            return None
        raise
    data = body_data(body)
    if not data.get("path"):
        return None
    options = data.get("options") or {}
    return str(data["path"]).strip("/"), int(options.get("version") or 1)


def _from_sys_mounts(client: Client, path: str) -> tuple[str, int] | None:
    try:
        body = call(client, "GET", "sys/mounts")
    except errors.PermissionDenied:
        return path.split("/", 1)[0], 2
    mounts = body_data(body) or dict(body or {})
    best = ""
    for key, entry in mounts.items():
        if isinstance(entry, Mapping) and f"{path}/".startswith(key) and len(key) > len(best):
            best = key
    if not best:
        return None
    entry = mounts[best]
    if entry.get("type") not in ("kv", "kv-v1", "kv-v2", "generic"):
        raise CommandFailed(f"{best} is a {entry.get('type')} mount, not a KV secrets engine")
    options = entry.get("options") or {}
    version = 2 if entry.get("type") == "kv-v2" else int(options.get("version") or 1)
    return best.strip("/"), version


def resolve(client: Client, path: str, mount: str | None = None) -> KvTarget:
    """The KV target of `path` (with ``-mount``, `path` is relative to that mount)."""
    path = path.strip("/")
    if mount:
        mount = mount.strip("/")
        found = _from_ui_mounts(client, mount) or _from_sys_mounts(client, mount)
        return KvTarget(mount, path, found[1] if found else 2)
    found = _from_ui_mounts(client, path) or _from_sys_mounts(client, path)
    if found is None:
        raise CommandFailed(f"no KV secrets engine is mounted at a prefix of {path!r}; "
                            "see `strongbox secrets list`")
    name, version = found
    return KvTarget(name, path[len(name):].strip("/"), version)


def read_secret(client: Client, target: KvTarget,
                version: int | None = None) -> dict[str, Any] | None:
    """The response body of a read (None when nothing is there, deleted or destroyed)."""
    params = {"version": str(version)} if version and target.version == 2 else None
    try:
        return call(client, "GET", target.api(), params=params)
    except errors.NotFound:
        return None


def secret_values(body: Mapping[str, Any] | None, target: KvTarget) -> dict[str, Any]:
    """The key/value pairs of a read's body (v2 nests them under data.data)."""
    data = body_data(body)
    if target.version == 2:
        inner = data.get("data")
        return dict(inner) if isinstance(inner, Mapping) else {}
    return data


def require_values(client: Client, target: KvTarget,
                   version: int | None = None) -> dict[str, Any]:
    """The secret's pairs; CommandFailed (exit 2, as Vault) when there is no value."""
    body = read_secret(client, target, version)
    if body is None:
        raise CommandFailed(f"No value found at {target.api()}", code=2)
    return secret_values(body, target)


def write_secret(client: Client, target: KvTarget, values: Mapping[str, Any],
                 cas: int | None = None) -> dict[str, Any] | None:
    """Write `values` as the secret (a new version on v2); the response body."""
    if target.version == 1:
        return call(client, "PUT", target.api(), json=dict(values))
    body: dict[str, Any] = {"data": dict(values)}
    if cas is not None:
        body["options"] = {"cas": cas}
    return call(client, "POST", target.api(), json=body)


def list_keys(client: Client, target: KvTarget) -> list[str]:
    """The keys directly under folder `target` ([] when empty or absent)."""
    try:
        body = call(client, "GET", target.api("metadata") + "/", params=LIST)
    except errors.NotFound:
        return []
    keys = body_data(body).get("keys") or []
    return [str(k) for k in keys]


def walk(client: Client, target: KvTarget) -> Iterator[KvTarget]:
    """Every secret under folder `target`, depth first, in the server's key order."""
    for key in list_keys(client, target):
        child = target.child(key)
        if key.endswith("/"):
            yield from walk(client, KvTarget(child.mount, child.path.rstrip("/"),
                                             child.version))
        else:
            yield child


def current_version(client: Client, target: KvTarget) -> int:
    """The metadata's current_version of a v2 secret (0 when the secret does not exist)."""
    try:
        body = call(client, "GET", target.api("metadata"))
    except errors.NotFound:
        return 0
    return int(body_data(body).get("current_version") or 0)
