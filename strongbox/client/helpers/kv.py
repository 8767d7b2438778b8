"""KV helpers: `c.kv.v2` (versioned, Vault's KV v2 paths) and `c.kv.v1`. Every method
takes `mount=` (default "secret" for v2, "kv" for v1). Reads return the envelope
(`["data"]` holds the secret for v2 as `{"data": ..., "metadata": ...}`), or None
when the secret does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic

from strongbox.client.helpers.program import (
    NOT_FOUND,
    Body,
    Level,
    Program,
    R,
    Runner,
    body,
    call,
)

MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


def _p(mount: str, sub: str, path: str) -> str:
    return f"{mount.strip('/')}/{sub}/{path.strip('/')}"


class KvV2(Generic[R]):
    """KV version 2 on a mount."""

    def __init__(self, run: Runner[R], mount: str = "secret") -> None:
        self._run = run
        self.mount = mount

    def read(self, path: str, version: int | None = None, *, mount: str | None = None,
             consistency: Level = None) -> R:
        return self._run(call("GET", _p(mount or self.mount, "data", path),
                              params={"version": version}, accept=NOT_FOUND, cacheable=True,
                              consistency=consistency))

    def write(self, path: str, data: Mapping[str, Any], *, cas: int | None = None,
              mount: str | None = None) -> R:
        """Put a new version; `cas`: only if the current version is `cas` (0: new)."""
        payload: dict[str, Any] = {"data": dict(data)}
        if cas is not None:
            payload["options"] = {"cas": cas}
        return self._run(call("POST", _p(mount or self.mount, "data", path), payload))

    def patch(self, path: str, data: Mapping[str, Any], *, mount: str | None = None) -> R:
        """JSON merge patch of the latest version (a None value removes a key)."""
        return self._run(call("PATCH", _p(mount or self.mount, "data", path),
                              {"data": dict(data)}, headers=MERGE_PATCH))

    def delete(self, path: str, versions: list[int] | None = None, *,
               mount: str | None = None) -> R:
        """Soft-delete the latest version, or the listed ones."""
        if versions is None:
            return self._run(call("DELETE", _p(mount or self.mount, "data", path)))
        return self._run(call("POST", _p(mount or self.mount, "delete", path),
                              {"versions": versions}))

    def undelete(self, path: str, versions: list[int], *, mount: str | None = None) -> R:
        return self._run(call("POST", _p(mount or self.mount, "undelete", path),
                              {"versions": versions}))

    def destroy(self, path: str, versions: list[int], *, mount: str | None = None) -> R:
        return self._run(call("POST", _p(mount or self.mount, "destroy", path),
                              {"versions": versions}))

    def list(self, path: str = "", *, mount: str | None = None,
             consistency: Level = None) -> R:
        return self._run(call("LIST", _p(mount or self.mount, "metadata", path),
                              accept=NOT_FOUND, cacheable=True, consistency=consistency))

    def read_metadata(self, path: str, *, mount: str | None = None,
                      consistency: Level = None) -> R:
        return self._run(call("GET", _p(mount or self.mount, "metadata", path),
                              accept=NOT_FOUND, cacheable=True, consistency=consistency))

    def write_metadata(self, path: str, *, mount: str | None = None, **fields: Any) -> R:
        """max_versions, cas_required, delete_version_after, custom_metadata,
        destroy_protection."""
        return self._run(call("POST", _p(mount or self.mount, "metadata", path),
                              body(**fields)))

    def delete_metadata(self, path: str, *, mount: str | None = None) -> R:
        return self._run(call("DELETE", _p(mount or self.mount, "metadata", path)))

    def rollback(self, path: str, version: int, *, mount: str | None = None) -> R:
        """Write version `version`'s data as a new version (check-and-set on the current
        one, so a concurrent write makes it fail instead of being overwritten)."""
        return self._run(self._rollback(path, version, mount or self.mount))

    @staticmethod
    def _rollback(path: str, version: int, mount: str) -> Program:
        old = yield from call("GET", _p(mount, "data", path), params={"version": version},
                              accept=NOT_FOUND)
        meta = yield from call("GET", _p(mount, "metadata", path), accept=NOT_FOUND)
        if old is None or meta is None:
            return None
        current = int((meta.get("data") or {}).get("current_version", 0))
        payload = {"data": (old.get("data") or {}).get("data") or {},
                   "options": {"cas": current}}
        result: Body = yield from call("POST", _p(mount, "data", path), payload)
        return result


class KvV1(Generic[R]):
    """KV version 1 (unversioned) on a mount."""

    def __init__(self, run: Runner[R], mount: str = "kv") -> None:
        self._run = run
        self.mount = mount

    def _path(self, path: str, mount: str | None) -> str:
        return f"{(mount or self.mount).strip('/')}/{path.strip('/')}"

    def read(self, path: str, *, mount: str | None = None, consistency: Level = None) -> R:
        return self._run(call("GET", self._path(path, mount), accept=NOT_FOUND,
                              cacheable=True, consistency=consistency))

    def write(self, path: str, data: Mapping[str, Any], *, mount: str | None = None) -> R:
        return self._run(call("POST", self._path(path, mount), dict(data)))

    def list(self, path: str = "", *, mount: str | None = None) -> R:
        return self._run(call("LIST", self._path(path, mount), accept=NOT_FOUND,
                              cacheable=True))

    def delete(self, path: str, *, mount: str | None = None) -> R:
        return self._run(call("DELETE", self._path(path, mount)))


class Kv(Generic[R]):
    """`c.kv.v2` and `c.kv.v1`."""

    def __init__(self, run: Runner[R]) -> None:
        self.v2 = KvV2(run)
        self.v1 = KvV1(run)
