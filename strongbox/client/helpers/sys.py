"""`c.sys`: seal, init, health, leader, keys, Raft peers and snapshots, mounts, auth
methods, audit devices, namespaces (paths and bodies of docs/api.md "sys").

`health()` never raises for the status codes Vault's health endpoint uses to report
state (429, 472, 473, 501, 503): it returns the body, which says `sealed`, `standby`,
`initialized`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic

from strongbox.client.exchange import Call
from strongbox.client.helpers.program import R, Runner, S, Streamer, body, call

HEALTH_CODES = frozenset({429, 472, 473, 501, 503})


class Raft(Generic[R, S]):
    """sys/storage/raft/*."""

    def __init__(self, run: Runner[R], stream: Streamer[S]) -> None:
        self._run, self._stream = run, stream

    def peers(self) -> R:
        """`{"config": {"servers": [...], "index"}}` (addresses are cluster addresses)."""
        return self._run(call("GET", "sys/storage/raft/configuration"))

    def autopilot_state(self) -> R:
        return self._run(call("GET", "sys/storage/raft/autopilot/state"))

    def remove_peer(self, server_id: str) -> R:
        return self._run(call("POST", "sys/storage/raft/remove-peer", {"server_id": server_id}))

    def snapshot_save(self, *, node: str | None = None) -> S:
        """The snapshot as a stream of byte chunks (write them to a file)."""
        return self._stream(Call("GET", "sys/storage/raft/snapshot", node=node))

    def snapshot_restore(self, snapshot: bytes, *, force: bool = False) -> R:
        """Restore (`force`: a snapshot of another cluster; every node seals after)."""
        path = "sys/storage/raft/snapshot-force" if force else "sys/storage/raft/snapshot"
        return self._run(call("POST", path, content=snapshot, retry_write=False,
                              headers={"Content-Type": "application/octet-stream"}))


class Mounts(Generic[R]):
    """sys/mounts: secrets engines."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def enable(self, path: str, type: str, *, description: str | None = None,
               options: Mapping[str, Any] | None = None) -> R:
        return self._run(call("POST", f"sys/mounts/{path.strip('/')}",
                              body(type=type, description=description, options=options)))

    def disable(self, path: str) -> R:
        return self._run(call("DELETE", f"sys/mounts/{path.strip('/')}"))

    def list(self) -> R:
        return self._run(call("GET", "sys/mounts"))

    def read_tune(self, path: str) -> R:
        return self._run(call("GET", f"sys/mounts/{path.strip('/')}/tune"))

    def tune(self, path: str, **fields: Any) -> R:
        """description, options (e.g. {"version": "2"} to upgrade KV 1 → 2)."""
        return self._run(call("POST", f"sys/mounts/{path.strip('/')}/tune", body(**fields)))


class AuthMethods(Generic[R]):
    """sys/auth: auth methods."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def enable(self, path: str, type: str, *, description: str | None = None) -> R:
        return self._run(call("POST", f"sys/auth/{path.strip('/')}",
                              body(type=type, description=description)))

    def disable(self, path: str) -> R:
        return self._run(call("DELETE", f"sys/auth/{path.strip('/')}"))

    def list(self) -> R:
        return self._run(call("GET", "sys/auth"))


class Audit(Generic[R]):
    """sys/audit: audit devices (only `file`)."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def enable(self, path: str, file_path: str, *, type: str = "file",
               description: str | None = None, **options: Any) -> R:
        opts = {"file_path": file_path, **options}
        return self._run(call("PUT", f"sys/audit/{path.strip('/')}",
                              body(type=type, description=description, options=opts)))

    def disable(self, path: str) -> R:
        return self._run(call("DELETE", f"sys/audit/{path.strip('/')}"))

    def list(self) -> R:
        return self._run(call("GET", "sys/audit"))


class Namespaces(Generic[R]):
    """sys/namespaces: children of the client's namespace."""

    def __init__(self, run: Runner[R]) -> None:
        self._run = run

    def create(self, name: str, custom_metadata: Mapping[str, str] | None = None) -> R:
        return self._run(call("POST", f"sys/namespaces/{name.strip('/')}",
                              body(custom_metadata=custom_metadata)))

    def list(self) -> R:
        return self._run(call("LIST", "sys/namespaces", accept=frozenset({404})))

    def delete(self, name: str) -> R:
        return self._run(call("DELETE", f"sys/namespaces/{name.strip('/')}"))


class Sys(Generic[R, S]):
    """`c.sys`."""

    def __init__(self, run: Runner[R], stream: Streamer[S]) -> None:
        self._run = run
        self.raft = Raft(run, stream)
        self.mounts = Mounts(run)
        self.auth = AuthMethods(run)
        self.audit = Audit(run)
        self.namespaces = Namespaces(run)

    def init(self, secret_shares: int = 1, secret_threshold: int = 1, *,
             node: str | None = None) -> R:
        return self._run(call("PUT", "sys/init", {"secret_shares": secret_shares,
                                                  "secret_threshold": secret_threshold},
                              node=node, authenticated=False))

    def init_status(self, *, node: str | None = None) -> R:
        return self._run(call("GET", "sys/init", node=node, authenticated=False))

    def unseal(self, key: str | None = None, *, reset: bool = False,
               node: str | None = None) -> R:
        """Submit one share to one node (`node=`, or the first configured one)."""
        payload = {"reset": True} if reset else {"key": key}
        return self._run(call("PUT", "sys/unseal", payload, node=node, authenticated=False))

    def seal(self, *, node: str | None = None) -> R:
        return self._run(call("PUT", "sys/seal", node=node))

    def seal_status(self, *, node: str | None = None) -> R:
        return self._run(call("GET", "sys/seal-status", node=node, authenticated=False))

    def health(self, *, node: str | None = None, **params: Any) -> R:
        """The health body, whatever the state (see the module docstring)."""
        return self._run(call("GET", "sys/health", params=params, node=node,
                              accept=HEALTH_CODES, authenticated=False))

    def leader(self, *, node: str | None = None) -> R:
        return self._run(call("GET", "sys/leader", node=node, authenticated=False))

    def step_down(self) -> R:
        return self._run(call("PUT", "sys/step-down"))

    def rotate(self) -> R:
        return self._run(call("PUT", "sys/rotate"))

    def key_status(self) -> R:
        return self._run(call("GET", "sys/key-status"))

    def metrics(self, *, node: str | None = None) -> R:
        """Prometheus text is not JSON: use `request("GET", "sys/metrics", params=
        {"format": "prometheus"}).text` for it; this returns None for that format."""
        return self._run(call("GET", "sys/metrics", node=node))
