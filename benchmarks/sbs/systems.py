"""The two systems under test behind one interface: `StrongBoxSystem` and `EtcdSystem`.

Contract (both): `start()` brings up three members on loopback and prepares them (StrongBox:
init + unseal, a policy allowing only read/create/update on `secret/data/bench/*`, a token
with only that policy, a file audit device `audit.log` in every node's data directory;
etcd: nothing beyond the cluster); `fill(keys, seed)` writes `bench/key-0000` ... with
1,024-character values (base64 text of random bytes; etcd stores the same 1,024 bytes) on
the leader and waits until every member has them; `member(target)` gives the (port, pid)
of the leader or of the first follower; `pids()` every member's pid; `wrk_script(op)` and
`wrk_env()` what wrk needs; `requests(op, keys, seed)` raw requests for the open-loop
generator (the same shapes as the Lua scripts); `stop()` stops everything (idempotent).
The bench token is only handed to wrk through its environment and is never printed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import ssl
import time
from pathlib import Path
from typing import Literal, Protocol

import httpx

from sbs.etcd import EtcdCluster
from sbs.load import http_request, send_all
from strongbox.testing import CertificateAuthority, LocalCluster

WRK_DIR = Path(__file__).resolve().parent.parent / "wrk"
VALUE_CHARS = 1024
FILL_CONNECTIONS = 16
POLICY = 'path "secret/data/bench/*" { capabilities = ["read", "create", "update"] }'
Op = Literal["read", "write"]


def key_name(i: int) -> str:
    return f"bench/key-{i:04d}"


def random_value(rng: random.Random) -> str:
    """1,024 characters of base64 text (from 768 random bytes)."""
    return base64.b64encode(rng.randbytes(VALUE_CHARS * 3 // 4)).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class System(Protocol):
    name: str
    ssl_context: ssl.SSLContext

    def start(self) -> None: ...
    def fill(self, keys: int, seed: int) -> None: ...
    def member(self, target: str) -> tuple[int, int]: ...
    def pids(self) -> dict[str, int]: ...
    def wrk_script(self, op: Op) -> Path: ...
    def wrk_env(self) -> dict[str, str]: ...
    def requests(self, op: Op, keys: int, seed: int) -> list[bytes]: ...
    def stop(self) -> None: ...


class StrongBoxSystem:
    """A LocalCluster of three nodes with `workers` API processes each; `extra_config`
    goes to every node's TOML."""

    name = "strongbox"

    def __init__(self, directory: Path, extra_config: str = "", workers: int = 1) -> None:
        self.cluster = LocalCluster(directory, 3, extra_config=extra_config, workers=workers)
        self.ssl_context = ssl.create_default_context(cafile=str(self.cluster.ca.cert_file))
        self.token = ""

    def start(self) -> None:
        self.cluster.start()
        self.cluster.init_and_unseal()
        leader = self.cluster.wait_leader()
        with leader.client(self.cluster.root_token) as client:
            client.put("/v1/sys/policy/bench", json={"policy": POLICY}).raise_for_status()
            client.put("/v1/sys/audit/bench", json={
                "type": "file", "options": {"file_path": "audit.log"}}).raise_for_status()
            answer = client.post("/v1/auth/token/create",
                                 json={"policies": ["bench"], "ttl": "24h"})
            answer.raise_for_status()
            self.token = answer.json()["auth"]["client_token"]

    def _headers(self) -> dict[str, str]:
        return {"X-Vault-Token": self.token}

    def requests(self, op: Op, keys: int, seed: int) -> list[bytes]:
        rng = random.Random(seed)
        if op == "read":
            return [http_request("GET", f"/v1/secret/data/{key_name(i)}", self._headers())
                    for i in range(keys)]
        return [http_request("POST", f"/v1/secret/data/{key_name(i)}", self._headers(),
                             json.dumps({"data": {"value": random_value(rng)}}).encode())
                for i in range(keys)]

    def fill(self, keys: int, seed: int) -> None:
        port, _ = self.member("leader")
        errors = asyncio.run(send_all(port, self.ssl_context, self.requests("write", keys, seed),
                                      FILL_CONNECTIONS))
        if errors:
            raise RuntimeError(f"{errors} of {keys} StrongBox fill writes failed")
        self._wait_replicated(key_name(keys - 1))
        for node in self.cluster.nodes:  # the audit device is on, on every node
            # audit.log, and audit.log.worker-<n> of each read worker
            if not any(log.stat().st_size for log in node.data_dir.glob("audit.log*")):
                raise RuntimeError(f"{node.node_id} wrote no audit log in {node.data_dir}")

    def _wait_replicated(self, key: str, timeout: float = 60.0) -> None:
        """Wait until every node serves `key` and reports the same applied index."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            indexes = set()
            for node in self.cluster.nodes:
                with node.client(self.token) as client:
                    if client.get(f"/v1/secret/data/{key}").status_code != 200:
                        break
                    health = client.get("/v1/sys/health?standbyok=true").json()
                    indexes.add(health.get("raft_applied_index"))
            else:
                if len(indexes) == 1:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"StrongBox nodes did not converge in {timeout}s")

    def member(self, target: str) -> tuple[int, int]:
        node = self.cluster.wait_leader() if target == "leader" else self.cluster.followers()[0]
        return node.port, node.pid

    def pids(self) -> dict[str, int]:
        return {n.node_id: n.pid for n in self.cluster.nodes if n.proc is not None}

    def wrk_script(self, op: Op) -> Path:
        return WRK_DIR / ("strongbox_read.lua" if op == "read" else "strongbox_write.lua")

    def wrk_env(self) -> dict[str, str]:
        return {"SBS_TOKEN": self.token}

    def stop(self) -> None:
        self.cluster.stop()


class EtcdSystem:
    """Three etcd members (sbs.etcd), client TLS from the same kind of throw-away CA."""

    name = "etcd"

    def __init__(self, directory: Path) -> None:
        ca = CertificateAuthority.create(directory / "ca", name="side_by_side etcd CA")
        self.cluster = EtcdCluster(directory / "etcd", ca)
        self.ssl_context = self.cluster.ssl_context

    def start(self) -> None:
        self.cluster.start()

    def requests(self, op: Op, keys: int, seed: int) -> list[bytes]:
        rng = random.Random(seed)
        if op == "read":
            return [http_request("POST", "/v3/kv/range", None, json.dumps(
                {"key": b64(key_name(i)), "serializable": True}).encode())
                for i in range(keys)]
        return [http_request("POST", "/v3/kv/put", None, json.dumps(
            {"key": b64(key_name(i)), "value": b64(random_value(rng))}).encode())
            for i in range(keys)]

    def fill(self, keys: int, seed: int) -> None:
        port, _ = self.member("leader")
        errors = asyncio.run(send_all(port, self.ssl_context, self.requests("write", keys, seed),
                                      FILL_CONNECTIONS))
        if errors:
            raise RuntimeError(f"{errors} of {keys} etcd fill writes failed")
        self._wait_replicated(key_name(keys - 1))

    def _wait_replicated(self, key: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        body = {"key": b64(key), "serializable": True}
        while time.monotonic() < deadline:
            counts = []
            for m in self.cluster.members:
                answer = httpx.post(f"{m.url}/v3/kv/range", json=body, verify=self.ssl_context)
                counts.append(answer.json().get("count"))
            if all(c == "1" for c in counts):
                return
            time.sleep(0.2)
        raise TimeoutError(f"etcd members did not converge in {timeout}s")

    def member(self, target: str) -> tuple[int, int]:
        m = self.cluster.leader() if target == "leader" else self.cluster.followers()[0]
        return m.client_port, m.pid

    def pids(self) -> dict[str, int]:
        return {m.name: m.pid for m in self.cluster.members if m.proc is not None}

    def wrk_script(self, op: Op) -> Path:
        return WRK_DIR / ("etcd_range.lua" if op == "read" else "etcd_put.lua")

    def wrk_env(self) -> dict[str, str]:
        return {}

    def stop(self) -> None:
        self.cluster.stop()
