"""The fault campaign: a real three-node cluster, client load, one fault per round, checks.

    with Campaign(directory, Settings()) as campaign:     # cluster up, init, unseal
        result = campaign.run_round("kill_leader", 1)     # a dict (see `run_round`)
        assert result["ok"], result["problems"]

The cluster is three `strongbox server` processes (real mTLS gRPC Raft, real LMDB, TLS
API), built on `strongbox.testing.LocalCluster` with `fault_injection` on. As root, each
node runs in a network namespace of its own (`netns.NetLab`, a veth to a bridge in the
root namespace, certificates with the node's IP in their SANs) and its data directory is
a small tmpfs (`diskfault.TmpfsDisk`, mounted before the node starts) so that a full disk
can be made on whichever node is the leader or a follower at the time. Without root the
partition kinds fall back to the `faults.json` "blocked" hook and the disk kinds are
skipped; `Campaign.environment` says which.

A round: wait until the cluster is healthy (every fault of an earlier round undone, every
node up, unsealed, at one applied index), start the load, hold `pre_s`, inject the fault,
hold `hold_s`, undo it (restart + unseal killed nodes, SIGCONT, heal, delete the fill
file, clear faults.json), hold `post_s`, stop the load (operations in flight may finish
their retries), wait for convergence, then check:

* every acknowledged write (HTTP 200, also a retry's) is readable on every node with its
  value and version; a write never acknowledged is either absent or has its value;
* the CAS counter: acknowledged versions distinct, none lost (final version >= max
  acknowledged, the stored value of each acknowledged version is the acknowledged one);
* read-your-writes: no 200 older than the write whose X-Vault-Index the read sent;
* the three store digests (`GET /v1/sys/storage/raft/digest`) equal at one applied index.

Load (`<seq>` counts the campaign's rounds, across kinds): `writers` threads writing unique
keys `campaign/r<seq>/w<id>/k<i>`, `cas_clients`
threads on `campaign/r<seq>/cas` (read version, write with `options.cas`), `ryw_readers`
threads (write on one node, read on the next with the write's X-Vault-Index; 412/503 are
allowed refusals). All over httpx with `timeout_s` timeouts and an Idempotency-Key per
logical write; a 503 / 502 / 429 / 507 / timeout / connection error is retried with the
same key on the next node, as a client with several addresses does. Every attempt's start,
end and outcome is kept: the unavailability window is the time from the injection to the
first accepted write that was sent after it.

Nodes that exit by themselves are restarted (as Kubernetes would) and the round records
it ("node-2 exited 70"). Nothing here sleeps to wait for a condition: waits poll with a
deadline; holds are the fault's duration.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from strongbox.testing import LocalCluster, ServerProcess, TlsFiles
from tests.faults import diskfault, netns

KINDS: tuple[str, ...] = (
    "kill_leader", "kill_follower", "kill_two", "sigstop_leader", "sigstop_follower",
    "partition_leader", "partition_follower", "disk_full_follower", "disk_full_leader",
    "slow_disk", "clock_forward", "clock_back")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 507})
REPO = Path(__file__).resolve().parents[2]
FAST = "max_staleness_s = 2.0\nindex_wait_s = 1.0\n"
CAS_MISMATCH = "check-and-set"


@dataclass
class Settings:
    pre_s: float = 1.5            # load before the fault
    hold_s: float = 3.0           # how long the fault is held
    post_s: float = 3.0           # load after the fault is undone
    writers: int = 3             # one homed on each node
    cas_clients: int = 2
    ryw_readers: int = 1
    timeout_s: float = 3.0        # client timeout per request
    finish_s: float = 15.0        # after the load stops, an operation may retry this long
    converge_timeout_s: float = 60.0
    use_netns: bool = True        # when root; else the faults.json hook
    use_tmpfs: bool = True        # when root; else the disk kinds are skipped
    tmpfs_mb: int = 96
    min_free_mb: int = 16         # [storage] min_free_mb, when this build has it
    fill_leave_mb: float = 4.0    # the fill file leaves this much free (< min_free_mb)
    fsync_delay_ms: int = 200     # slow_disk
    clock_step_s: float = 30.0    # clock_forward / clock_back
    write_timeout_s: float = 4.0  # [limits] write_timeout_s of the nodes
    snapshot_threshold: int = 2000


def now() -> float:
    return time.monotonic()


def index_number(header: str) -> int:
    """The applied index inside an X-Vault-Index value (base64 of "<cluster id>:<index>")."""
    try:
        return int(base64.b64decode(header).decode().rsplit(":", 1)[1])
    except (ValueError, IndexError):
        return 0


# --------------------------------------------------------------------------- features

def features() -> dict[str, bool]:
    """Which of the fault hooks this build has (the Raft side is being written in
    parallel: a hook the nodes do not know yet makes its kind a no-op, said in reports)."""
    from strongbox import config

    raft_src = " ".join(p.read_text() for p in (REPO / "strongbox" / "raft").glob("*.py"))
    server_src = (REPO / "strongbox" / "server.py").read_text()
    return {
        "min_free_mb": "min_free_mb" in {f.name for f in
                                         dataclasses.fields(config.StorageConfig)},
        "fsync_delay_ms": "fsync_delay_ms" in raft_src,
        "clock_offset_s": "FaultClock" in server_src,
    }


# --------------------------------------------------------------------------- netns nodes

class NetnsServerProcess(ServerProcess):
    """A `ServerProcess` launched under `ip netns exec <ns>`, listening on the
    namespace's IP (`ip netns exec` execs, so the pid is the server's own)."""

    def __init__(self, data_dir: Path, tls: TlsFiles, *, ip: str, exec_prefix: list[str],
                 port: int, extra_config: str, node_id: str) -> None:
        super().__init__(data_dir, tls, port, extra_config=extra_config, node_id=node_id)
        self.ip = ip
        self.exec_prefix = exec_prefix
        self.addr = f"https://{ip}:{port}"

    def _write_config(self) -> None:
        super()._write_config()
        text = self.config_path.read_text().replace(
            f'address = "127.0.0.1:{self.port}"', f'address = "{self.ip}:{self.port}"')
        self.config_path.write_text(text)


# --------------------------------------------------------------------------- load

@dataclass
class Attempt:
    start: float
    end: float
    node: str
    outcome: str          # "200", "503", ..., "timeout", "conn"
    kind: str             # "write" | "cas" | "ryw"


@dataclass
class Ack:
    path: str
    value: dict[str, Any]
    version: int
    index: str            # the X-Vault-Index header of the answer
    at: float


class Load:
    """The client threads of one round; everything they saw, for the checks."""

    def __init__(self, campaign: Campaign, round_no: int) -> None:
        self.campaign = campaign
        self.round_no = round_no
        self.stop_flag = threading.Event()
        self.attempts: list[Attempt] = []
        self.acked: dict[str, Ack] = {}
        self.unacked: dict[str, dict[str, Any]] = {}
        self.cas_acked: list[Ack] = []
        self.cas_conflicts = 0
        self.ryw_reads = 0
        self.ryw_refused = 0
        self.ryw_stale: list[dict[str, Any]] = []
        self.ryw_last: dict[str, int] = {}     # key -> last acknowledged seq
        self.unexpected: list[str] = []
        self.errors: list[str] = []
        self.threads: list[threading.Thread] = []
        self.cas_path = f"campaign/r{round_no}/cas"

    # ---- one logical write, retried with its Idempotency-Key
    def write(self, clients: list[httpx.Client], names: list[str], first: int, path: str,
              body: dict[str, Any], kind: str) -> tuple[httpx.Response | None, int]:
        """Returns (the 200 response or a final non-retryable one, the slot it came from).

        Starts at `first`; a retryable outcome moves on to the next node with the same
        Idempotency-Key (None once the load stopped and `finish_s` passed)."""
        key = secrets.token_hex(12)
        give_up = None
        attempt = 0
        outcome = ""
        while True:
            slot = (first + attempt) % len(clients)
            started = now()
            response = None
            try:
                response = clients[slot].post(f"/v1/secret/data/{path}", json=body,
                                              headers={"Idempotency-Key": key})
                outcome = str(response.status_code)
            except httpx.TimeoutException:
                outcome = "timeout"
            except httpx.TransportError:
                outcome = "conn"
            self.attempts.append(Attempt(started, now(), names[slot], outcome, kind))
            if response is not None and response.status_code not in RETRY_STATUSES:
                if response.status_code >= 500 or response.status_code in (404, 403):
                    self.unexpected.append(f"{kind} {path} on {names[slot]}: "
                                           f"{response.status_code} {response.text[:200]}")
                return response, slot
            if response is not None and response.status_code == 500:
                self.unexpected.append(f"{kind} {path} on {names[slot]}: 500 "
                                       f"{response.text[:200]}")
            if self.stop_flag.is_set():
                give_up = give_up or now() + self.campaign.settings.finish_s
                if now() > give_up:
                    return None, slot
            attempt += 1
            if outcome != "conn" and attempt % len(clients) == 0:
                time.sleep(0.1)  # a client's back-off after trying every address

    def _clients(self) -> tuple[list[httpx.Client], list[str]]:
        nodes = self.campaign.cluster.nodes
        token = self.campaign.app_token
        timeout = self.campaign.settings.timeout_s
        return [n.client(token, timeout=timeout) for n in nodes], [n.node_id for n in nodes]

    def _guard(self, target: Callable[[int], None], ident: int) -> Callable[[], None]:
        def run() -> None:
            try:
                target(ident)
            except Exception as exc:  # a crashed client thread is a finding
                self.errors.append(f"{target.__name__}[{ident}] crashed: {exc!r}")
        return run

    def writer(self, ident: int) -> None:
        clients, names = self._clients()
        i = 0
        slot = ident % len(clients)  # a home node; stays where the last write succeeded
        try:
            while not self.stop_flag.is_set():
                path = f"campaign/r{self.round_no}/w{ident}/k{i}"
                value = {"r": self.round_no, "w": ident, "i": i, "pad": secrets.token_hex(16)}
                self.unacked[path] = value
                response, slot = self.write(clients, names, slot, path, {"data": value},
                                            "write")
                if response is not None and response.status_code == 200:
                    del self.unacked[path]
                    self.acked[path] = Ack(path, value, response.json()["data"]["version"],
                                           response.headers.get("x-vault-index", ""), now())
                elif response is not None:
                    self.unexpected.append(f"write {path}: final {response.status_code} "
                                           f"{response.text[:200]}")
                i += 1
        finally:
            for client in clients:
                client.close()

    def cas_client(self, ident: int) -> None:
        clients, names = self._clients()
        index = ""
        n = 0
        slot = (ident + 1) % len(clients)  # sticky, as the writers
        try:
            while not self.stop_flag.is_set():
                n += 1
                started = now()
                try:
                    headers = {"X-Vault-Index": str(index)} if index else {}
                    read = clients[slot].get(f"/v1/secret/data/{self.cas_path}",
                                             headers=headers)
                except httpx.HTTPError:
                    self.attempts.append(Attempt(started, now(), names[slot], "read-fail",
                                                 "cas-read"))
                    slot = (slot + 1) % len(clients)
                    continue
                if read.status_code == 404:
                    version = 0
                elif read.status_code == 200:
                    version = read.json()["data"]["metadata"]["version"]
                else:
                    if read.status_code not in (412, 503):
                        self.unexpected.append(f"cas read on {names[slot]}: "
                                               f"{read.status_code} {read.text[:200]}")
                    slot = (slot + 1) % len(clients)
                    time.sleep(0.05)
                    continue
                value = {"n": version + 1, "c": ident, "op": n}
                response, slot = self.write(clients, names, slot, self.cas_path,
                                         {"data": value, "options": {"cas": version}}, "cas")
                if response is None:
                    continue
                if response.status_code == 200:
                    got = response.json()["data"]["version"]
                    index = response.headers.get("x-vault-index", "")
                    self.cas_acked.append(Ack(self.cas_path, value, got, index, now()))
                    if got != version + 1:
                        self.unexpected.append(f"cas client {ident}: cas={version} answered "
                                               f"version {got}")
                elif response.status_code == 400 and CAS_MISMATCH in response.text:
                    self.cas_conflicts += 1
                else:
                    self.unexpected.append(f"cas write: {response.status_code} "
                                           f"{response.text[:200]}")
        finally:
            for client in clients:
                client.close()

    def ryw_reader(self, ident: int) -> None:
        clients, names = self._clients()
        path = f"campaign/r{self.round_no}/ryw{ident}"
        seq = 0
        try:
            while not self.stop_flag.is_set():
                seq += 1
                slot = (seq + ident) % len(clients)
                value = {"seq": seq}
                self.unacked[f"{path}#{seq}"] = value
                response, slot = self.write(clients, names, slot, path, {"data": value},
                                            "ryw")
                if response is None or response.status_code != 200:
                    continue
                del self.unacked[f"{path}#{seq}"]
                self.ryw_last[path] = seq
                index = response.headers.get("x-vault-index", "")
                other = (slot + 1) % len(clients)
                # read on another node than the one that acknowledged the write
                self.ryw_reads += 1
                try:
                    read = clients[other].get(f"/v1/secret/data/{path}",
                                              headers={"X-Vault-Index": index} if index else {})
                except httpx.HTTPError:
                    self.ryw_refused += 1
                    continue
                if read.status_code == 200:
                    got = read.json()["data"]["data"].get("seq", -1)
                    if got < seq:
                        self.ryw_stale.append({"path": path, "node": names[other],
                                               "index": index, "wrote": seq, "read": got})
                elif read.status_code == 404:
                    self.ryw_stale.append({"path": path, "node": names[other],
                                           "index": index, "wrote": seq, "read": "404"})
                elif read.status_code in (412, 503):
                    self.ryw_refused += 1
                else:
                    self.unexpected.append(f"ryw read on {names[other]}: {read.status_code} "
                                           f"{read.text[:200]}")
        finally:
            for client in clients:
                client.close()

    def start(self) -> None:
        s = self.campaign.settings
        plan = ([(self.writer, i) for i in range(s.writers)]
                + [(self.cas_client, i) for i in range(s.cas_clients)]
                + [(self.ryw_reader, i) for i in range(s.ryw_readers)])
        for target, ident in plan:
            thread = threading.Thread(target=self._guard(target, ident), daemon=True,
                                      name=f"{target.__name__}-{ident}")
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stop_flag.set()
        deadline = now() + self.campaign.settings.finish_s + 10
        for thread in self.threads:
            thread.join(max(0.1, deadline - now()))
            if thread.is_alive():
                self.errors.append(f"client thread {thread.name} did not finish")


class LeaderWatch:
    """Polls each node's sys/leader every 0.1 s (a thread per node, so a stopped node
    does not delay the others): when did another node become leader."""

    def __init__(self, nodes: list[ServerProcess]) -> None:
        self.seen: list[tuple[float, str]] = []   # (time, node id claiming leadership)
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._poll, args=(node,), daemon=True,
                                         name=f"leader-watch-{node.node_id}")
                        for node in nodes]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self.threads:
            thread.join(timeout)

    def _poll(self, node: ServerProcess) -> None:
        with node.client(timeout=0.5) as client:
            while not self.stop_flag.is_set():
                try:
                    if client.get("/v1/sys/leader").json().get("is_self"):
                        self.seen.append((now(), node.node_id))
                except (httpx.HTTPError, ValueError):
                    pass
                self.stop_flag.wait(0.1)

    def first_other(self, since: float, old: str) -> float | None:
        return next((t - since for t, n in self.seen if t >= since and n != old), None)


# --------------------------------------------------------------------------- campaign

class ConvergenceError(Exception):
    pass


class Campaign:
    """One cluster, many rounds. Always use as a context manager (or call close())."""

    def __init__(self, directory: Path, settings: Settings | None = None) -> None:
        self.directory = Path(directory)
        self.settings = settings or Settings()
        self.lab: netns.NetLab | None = None
        self.disks: dict[str, diskfault.TmpfsDisk] = {}
        self.cluster: LocalCluster
        self.app_token = ""
        self.features = features()
        ok_ns, why_ns = netns.available() if self.settings.use_netns else (False, "disabled")
        ok_disk, why_disk = diskfault.available() if self.settings.use_tmpfs \
            else (False, "disabled")
        self.environment: dict[str, Any] = {
            "netns": ok_ns, "netns_note": why_ns or "each node in its own network namespace",
            "tmpfs": ok_disk, "tmpfs_note": why_disk or f"{self.settings.tmpfs_mb} MiB tmpfs "
                                                          "per node data directory",
            "features": self.features, "root": os.geteuid() == 0,
        }
        self.expected_down: set[str] = set()     # killed on purpose, not yet restarted
        self.stopped: set[str] = set()           # SIGSTOPped
        self.exits: list[str] = []               # unexpected exits of the current round
        self._log_offsets: dict[str, int] = {}
        self._closed = False
        self.seq = 0  # rounds run by this campaign: keys are campaign/r<seq>/..., unique

    # ---- set-up and tear-down
    def __enter__(self) -> Campaign:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _extra_config(self) -> str:
        s = self.settings
        extra = f"[limits]\nwrite_timeout_s = {s.write_timeout_s}\n"
        if self.environment["tmpfs"] and self.features["min_free_mb"]:
            extra += f"[storage]\nmin_free_mb = {s.min_free_mb}\n"
        return extra

    def start(self) -> None:
        s = self.settings
        cluster = LocalCluster(self.directory, 3, fault_injection=True,
                               snapshot_threshold=s.snapshot_threshold,
                               extra_cluster_config=FAST, extra_config=self._extra_config())
        self.cluster = cluster
        if self.environment["netns"]:
            self.lab = netns.NetLab.create()
            self.environment["subnet"] = f"10.213.{self.lab.subnet}.0/24"
            ids = [n.node_id for n in cluster.nodes]
            for node_id in ids:
                self.lab.add_node(node_id)
            nodes: list[ServerProcess] = []
            for node_id in ids:
                ip = self.lab.ips[node_id]
                tls = cluster.ca.issue(self.directory / "tls-netns", node_id, [ip])
                peers = ", ".join(f'"{o}={self.lab.ips[o]}:8201"' for o in ids if o != node_id)
                extra = (f'\n[cluster]\naddress = "{ip}:8201"\npeers = [{peers}]\n'
                         f'tls_ca_file = "{tls.ca_cert}"\ntls_cert_file = "{tls.cert}"\n'
                         f'tls_key_file = "{tls.key}"\n'
                         f"snapshot_threshold = {s.snapshot_threshold}\n"
                         f"fault_injection = true\n{FAST}\n{self._extra_config()}\n")
                nodes.append(NetnsServerProcess(
                    self.directory / node_id, tls, ip=ip, port=8200, extra_config=extra,
                    node_id=node_id, exec_prefix=self.lab.exec_prefix(node_id)))
            cluster.nodes = nodes
        if self.environment["tmpfs"]:
            for node in cluster.nodes:
                self.disks[node.node_id] = diskfault.TmpfsDisk.mount(node.data_dir,
                                                                     s.tmpfs_mb)
        atexit.register(self.close)  # runs before the netns/tmpfs atexit hooks (LIFO)
        cluster.start()
        cluster.init_and_unseal()
        self._make_app_token()
        self.wait_converged()

    def _make_app_token(self) -> None:
        leader = self.cluster.wait_leader()
        with leader.client(self.cluster.root_token) as client:
            client.put("/v1/sys/policies/acl/campaign", json={
                "policy": 'path "secret/*" { capabilities = ["create", "read", "update", '
                          '"delete", "list"] }'}).raise_for_status()
            response = client.post("/v1/auth/token/create",
                                   json={"policies": ["campaign"], "ttl": "24h"})
            response.raise_for_status()
            self.app_token = response.json()["auth"]["client_token"]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cluster = getattr(self, "cluster", None)
        if cluster is not None:
            for node in cluster.nodes:
                with contextlib.suppress(Exception):
                    if node.proc is not None and node.proc.poll() is None:
                        os.kill(node.proc.pid, signal.SIGCONT)
                with contextlib.suppress(Exception):
                    node.kill()
        for disk in self.disks.values():
            disk.unmount()
        if self.lab is not None:
            self.lab.close()

    # ---- helpers
    def node(self, node_id: str) -> ServerProcess:
        return self.cluster.node(node_id)

    def root_client(self, node: ServerProcess, timeout: float = 5.0) -> httpx.Client:
        return node.client(self.cluster.root_token, timeout=timeout)

    def leader(self, timeout: float = 20.0) -> ServerProcess:
        alive = [n for n in self.cluster.nodes if n.proc is not None]
        return self.cluster.wait_leader(timeout=timeout, among=alive)

    def follower(self) -> ServerProcess:
        leader = self.leader()
        return next(n for n in self.cluster.nodes if n is not leader and n.proc is not None)

    def set_fault(self, node: ServerProcess, **values: Any) -> None:
        """Merge keys into the node's faults.json (written atomically); None deletes."""
        path = node.data_dir / "faults.json"
        current: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            current = json.loads(path.read_text())
        for key, value in values.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(current))
        os.replace(tmp, path)

    def partition(self, node: ServerProcess) -> str:
        others = [n.node_id for n in self.cluster.nodes if n is not node]
        if self.lab is not None:
            self.lab.partition(node.node_id)
            return "netns blackhole routes"
        self.set_fault(node, blocked=others)
        for other in self.cluster.nodes:
            if other is not node:
                self.set_fault(other, blocked=[node.node_id])
        return "faults.json blocked (no netns)"

    def heal_all(self) -> None:
        if self.lab is not None:
            self.lab.heal()
        for node in self.cluster.nodes:
            (node.data_dir / "faults.json").unlink(missing_ok=True)
            if node.proc is not None and node.proc.poll() is None:
                os.kill(node.proc.pid, signal.SIGCONT)
        self.stopped.clear()
        for disk in self.disks.values():
            disk.unfill()

    def restart(self, node: ServerProcess, why: str) -> None:
        """Start a stopped/crashed node and unseal it; retried while it fails to start."""
        deadline = now() + 60
        while True:
            try:
                node.proc = None
                node.start()
                self.cluster.unseal(node, timeout=30)
                self.expected_down.discard(node.node_id)
                return
            except (RuntimeError, TimeoutError, httpx.HTTPError) as exc:
                self.exits.append(f"{node.node_id} restart ({why}) failed: "
                                  f"{str(exc).splitlines()[0][:200]}")
                node.kill()
                if now() > deadline:
                    raise
                time.sleep(1.0)  # a supervisor's restart back-off

    def reap(self) -> None:
        """Restart nodes that exited on their own (as Kubernetes would), record it."""
        for node in self.cluster.nodes:
            if node.node_id in self.expected_down or node.proc is None:
                continue
            code = node.proc.poll()
            if code is not None:
                self.exits.append(f"{node.node_id} exited {code}")
                self.restart(node, f"exited {code}")

    def hold(self, seconds: float) -> None:
        """Hold a fault for `seconds`, restarting nodes that exit by themselves."""
        end = now() + seconds
        while now() < end:
            self.reap()
            time.sleep(min(0.2, max(0.0, end - now())))

    def health(self) -> dict[str, dict[str, Any] | str]:
        out: dict[str, dict[str, Any] | str] = {}
        for node in self.cluster.nodes:
            try:
                with node.client(timeout=2.0) as client:
                    response = client.get("/v1/sys/health?standbyok=true")
                body = response.json()
                if isinstance(body, dict) and "sealed" in body:
                    out[node.node_id] = {**body, "_status": response.status_code}
                else:
                    out[node.node_id] = f"{response.status_code} {response.text[:120]}"
            except (httpx.HTTPError, ValueError) as exc:
                out[node.node_id] = f"unreachable: {exc!r}"[:160]
        return out

    def wait_converged(self, timeout: float | None = None) -> dict[str, int]:
        """Every node up, unsealed, one leader, the same applied index."""
        deadline = now() + (timeout or self.settings.converge_timeout_s)
        last: dict[str, dict[str, Any] | str] = {}
        while now() < deadline:
            self.reap()
            for node in self.cluster.nodes:
                if node.proc is None and node.node_id not in self.expected_down:
                    self.restart(node, "was down")
            last = self.health()
            bodies = [b for b in last.values() if isinstance(b, dict)]
            if len(bodies) == len(self.cluster.nodes):
                sealed = [n for n, b in last.items() if isinstance(b, dict) and b["sealed"]]
                for node_id in sealed:
                    with contextlib.suppress(httpx.HTTPError, TimeoutError):
                        self.cluster.unseal(self.node(node_id), timeout=5)
                indexes = {n: b["raft_applied_index"] for n, b in last.items()
                           if isinstance(b, dict)}
                leaders = [n for n, b in last.items() if isinstance(b, dict)
                           and not b["standby"]]
                ready = all(isinstance(b, dict) and b["_status"] == 200 for b in last.values())
                if ready and not sealed and len(set(indexes.values())) == 1 \
                        and len(leaders) == 1:
                    return indexes
            time.sleep(0.2)
        raise ConvergenceError(f"cluster did not converge in time: {last}")

    def terms(self) -> dict[str, int]:
        out = {}
        for node in self.cluster.nodes:
            try:
                with self.root_client(node, 2.0) as client:
                    text = client.get("/v1/sys/metrics?format=prometheus").text
                match = re.search(r"^strongbox_raft_term(?:\{[^}]*\})? ([0-9.e+]+)$", text,
                                  re.MULTILINE)
                if match:
                    out[node.node_id] = int(float(match.group(1)))
            except httpx.HTTPError:
                continue
        return out

    def digests(self, timeout: float = 15.0) -> dict[str, Any]:
        """The three digests at one applied index (retried until the indexes agree)."""
        deadline = now() + timeout
        seen: dict[str, Any] = {}
        while now() < deadline:
            seen = {}
            for node in self.cluster.nodes:
                try:
                    with self.root_client(node) as client:
                        response = client.get("/v1/sys/storage/raft/digest")
                    seen[node.node_id] = response.json()["data"] if \
                        response.status_code == 200 else f"{response.status_code}"
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    seen[node.node_id] = repr(exc)
            bodies = [b for b in seen.values() if isinstance(b, dict)]
            if len(bodies) == len(self.cluster.nodes) and \
                    len({b["applied_index"] for b in bodies}) == 1:
                return {"equal": len({b["digest"] for b in bodies}) == 1,
                        "applied_index": bodies[0]["applied_index"],
                        "digests": {n: b["digest"][:16] for n, b in seen.items()
                                    if isinstance(b, dict)}}
            time.sleep(0.1)
        return {"equal": None, "error": f"no common applied index: {seen}"}

    def _mark_logs(self) -> None:
        for node in self.cluster.nodes:
            self._log_offsets[node.node_id] = node.log_path.stat().st_size \
                if node.log_path.exists() else 0

    def log_findings(self, limit: int = 25) -> dict[str, list[str]]:
        """WARNING+ lines and Raft lines each node logged during the round: deduplicated
        (numbers of 3+ digits masked), with counts, in order of first appearance, each
        prefixed with the UTC time of its first line (HH:MM:SS.mmm)."""
        out: dict[str, list[str]] = {}
        for node in self.cluster.nodes:
            if not node.log_path.exists():
                continue
            with node.log_path.open("rb") as handle:
                handle.seek(self._log_offsets.get(node.node_id, 0))
                text = handle.read().decode(errors="replace")
            counts: Counter[str] = Counter()
            first: dict[str, str] = {}   # message -> time of its first line (UTC, ms)
            for line in text.splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    if line.strip() and ("Traceback" in line or "Error" in line):
                        counts[line.strip()[:240]] += 1
                    continue
                if not isinstance(record, dict):
                    continue
                logger = str(record.get("logger", ""))
                if logger != "strongbox.access" and (
                        record.get("level") in ("WARNING", "ERROR", "CRITICAL")
                        or logger.startswith("strongbox.raft")):
                    message = re.sub(r"\d{3,}", "N", str(record.get("msg", "")))[:200]
                    key = f"{record['level']} {record.get('logger')}: {message}"
                    counts[key] += 1
                    first.setdefault(key, str(record.get("ts", ""))[11:23])
            out[node.node_id] = [f"{first.get(m, '')} {n}x {m}"
                                 for m, n in sorted(counts.items(),
                                                    key=lambda kv: first.get(kv[0], ""))
                                 ][:limit]
        return out

    # ---- faults
    def inject(self, kind: str) -> dict[str, Any]:
        """Start the fault; returns what to undo and what happened."""
        s = self.settings
        if kind in ("kill_leader", "sigstop_leader", "partition_leader", "disk_full_leader",
                    "slow_disk", "clock_forward", "clock_back"):
            targets = [self.leader()]
            role = "leader"
        elif kind == "kill_two":
            leader = self.leader()
            targets = [leader, next(n for n in self.cluster.nodes if n is not leader)]
            role = "leader+follower"
        else:
            targets = [self.follower()]
            role = "follower"
        info: dict[str, Any] = {"targets": [n.node_id for n in targets], "role": role}
        hook = {"slow_disk": "fsync_delay_ms", "clock_forward": "clock_offset_s",
                "clock_back": "clock_offset_s"}.get(kind)
        if hook is not None:  # False: the nodes of this build ignore the hook (a no-op round)
            info["hook_present"] = self.features[hook]
        if kind.startswith("kill"):
            for node in targets:
                self.expected_down.add(node.node_id)
                node.kill()
            info["how"] = "SIGKILL"
        elif kind.startswith("sigstop"):
            for node in targets:
                os.kill(node.pid, signal.SIGSTOP)
                self.stopped.add(node.node_id)
            info["how"] = "SIGSTOP"
        elif kind.startswith("partition"):
            info["how"] = self.partition(targets[0])
        elif kind.startswith("disk_full"):
            disk = self.disks[targets[0].node_id]
            info["how"] = f"fallocate fill leaving {s.fill_leave_mb} MiB"
            info["free_mb_after_fill"] = round(disk.fill(s.fill_leave_mb), 1)
        elif kind == "slow_disk":
            self.set_fault(targets[0], fsync_delay_ms=s.fsync_delay_ms)
            info["how"] = f"faults.json fsync_delay_ms={s.fsync_delay_ms}"
        elif kind in ("clock_forward", "clock_back"):
            step = s.clock_step_s if kind == "clock_forward" else -s.clock_step_s
            self.set_fault(targets[0], clock_offset_s=step)
            info["how"] = f"faults.json clock_offset_s={step}"
        else:
            raise ValueError(f"unknown fault kind {kind!r}")
        return info

    def undo(self, kind: str, info: dict[str, Any]) -> None:
        targets = [self.node(n) for n in info["targets"]]
        if kind.startswith("kill"):  # all at once, as a supervisor restarts them
            errors: list[BaseException] = []

            def restart(node: ServerProcess) -> None:
                try:
                    self.restart(node, "killed by the campaign")
                except BaseException as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=restart, args=(n,)) for n in targets]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise errors[0]
        elif kind.startswith("sigstop"):
            for node in targets:
                if node.proc is not None and node.proc.poll() is None:
                    os.kill(node.pid, signal.SIGCONT)
                self.stopped.discard(node.node_id)
        elif kind.startswith("partition"):
            self.heal_all()
        elif kind.startswith("disk_full"):
            self.disks[targets[0].node_id].unfill()
        else:
            for node in targets:
                self.set_fault(node, fsync_delay_ms=None, clock_offset_s=None)

    def probe_tokens(self, until: float) -> dict[str, Any]:
        """Clock rounds: tokens made on the stepped leader work on every node."""
        failures: list[str] = []
        made = 0
        checks = 0
        while now() < until:
            try:
                leader = self.leader(timeout=5)
                with self.root_client(leader) as client:
                    response = client.post("/v1/auth/token/create",
                                           json={"policies": ["campaign"], "ttl": "2m"})
                if response.status_code != 200:
                    failures.append(f"create on {leader.node_id}: {response.status_code}")
                    continue
                made += 1
                made_at = time.monotonic()
                token = response.json()["auth"]["client_token"]
                index = response.headers.get("x-vault-index", "")
                for node in self.cluster.nodes:
                    with node.client(token, timeout=3.0) as client:
                        lookup = client.get("/v1/auth/token/lookup-self",
                                            headers={"X-Vault-Index": index} if index else {})
                    checks += 1
                    if lookup.status_code in (412, 503):
                        continue
                    if lookup.status_code != 200:
                        failures.append(
                            f"{node.node_id}: {lookup.status_code} {lookup.text[:160]} "
                            f"(token made on {leader.node_id}, X-Vault-Index "
                            f"{index_number(index) if index else 'MISSING'}; "
                            f"{time.monotonic() - made_at:.2f}s after its creation)")
                    elif lookup.json()["data"].get("ttl", 0) <= 0:
                        failures.append(f"{node.node_id}: ttl {lookup.json()['data']}")
            except (httpx.HTTPError, TimeoutError) as exc:
                failures.append(repr(exc)[:160])
            self.hold(min(0.5, max(0.0, until - now())))
        return {"tokens_made": made, "checks": checks, "failures": failures[:20],
                "failure_count": len(failures)}

    # ---- the round
    def run_round(self, kind: str, round_no: int) -> dict[str, Any]:
        s = self.settings
        result: dict[str, Any] = {"kind": kind, "round": round_no,
                                  "started": dt.datetime.now(dt.UTC).isoformat()}
        if kind.startswith("disk_full") and not self.disks:
            return {**result, "skipped": f"no tmpfs: {self.environment['tmpfs_note']}",
                    "ok": True, "problems": []}
        self.exits = []
        self.expected_down.clear()  # whatever an aborted round left down is restarted now
        self.heal_all()
        self.wait_converged()
        if self.disks:
            result["tmpfs_free_mb"] = {n: round(diskfault.free_mb(d.path), 1)
                                       for n, d in self.disks.items()}
        self._mark_logs()
        terms_before = self.terms()
        self.seq += 1
        result["seq"] = self.seq
        load = Load(self, self.seq)
        self._prepare_cas(load)
        watch = LeaderWatch(list(self.cluster.nodes))
        watch.start()
        load.start()
        problems: list[str] = []
        t_inject = now()
        t_undone: float | None = None
        try:
            self.hold(s.pre_s)
            info = self.inject(kind)
            t_inject = now()  # the fault is in force from here
            info["at_utc"] = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            result["fault"] = info
            if kind.startswith("clock"):
                result["tokens"] = self.probe_tokens(now() + s.hold_s)
                if result["tokens"]["failure_count"]:
                    problems.append(f"a token made on the leader was refused on a node sent "
                                    f"the create's X-Vault-Index: "
                                    f"{result['tokens']['failures'][:3]}")
            else:
                self.hold(s.hold_s)
            if kind.startswith("disk_full"):
                result["fault"]["free_mb_at_end"] = round(
                    diskfault.free_mb(self.disks[info["targets"][0]].path), 1)
            t_undo = now()
            info["undone_utc"] = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
            self.undo(kind, info)
            t_undone = now()  # killed nodes restarted and unsealed, SIGCONT sent, healed
            result["undo_s"] = round(t_undone - t_undo, 2)
            self.hold(s.post_s)
        except Exception as exc:  # recorded; the round still checks the data
            problems.append(f"fault phase failed: {exc!r}"[:500])
        finally:
            load.stop()
            watch.stop_flag.set()
            self.heal_all()
        watch.join(5)
        if "leader" in result.get("fault", {}).get("role", ""):
            result["new_leader_s"] = watch.first_other(t_inject, result["fault"]["targets"][0])
            if result["new_leader_s"] is not None:
                result["new_leader_s"] = round(result["new_leader_s"], 3)
        t_end = now()
        try:
            result["converged_indexes"] = self.wait_converged()
            result["converge_s"] = round(now() - t_end, 2)
            t_check = now()
            self.check(load, result, problems)
            result["check_s"] = round(now() - t_check, 2)
        except ConvergenceError as exc:
            problems.append(str(exc))
            result["converged"] = False
        terms_after = self.terms()
        result["term_before"] = max(terms_before.values(), default=None)
        result["term_after"] = max(terms_after.values(), default=None)
        result["elections"] = (result["term_after"] - result["term_before"]
                               if terms_before and terms_after else None)
        self.timing(load, t_inject, t_end, result)
        if t_undone is not None:
            # the issue's kill-two target: writes again <= 3 s after the last restart unsealed
            oks = [a.end for a in load.attempts if a.kind in ("write", "cas", "ryw")
                   and a.outcome == "200" and a.end >= t_undone]
            result["resume_after_undo_s"] = round(min(oks) - t_undone, 3) if oks else None
        result["exits"] = list(self.exits)
        result["log_findings"] = self.log_findings()
        result["client_errors"] = load.errors
        result["unexpected"] = load.unexpected[:30]
        result["unexpected_count"] = len(load.unexpected)
        forbidden = [u for u in load.unexpected if ": 403 " in u]
        if forbidden:  # the campaign's token must keep working (clock steps included)
            problems.append(f"{len(forbidden)} requests refused with 403, e.g. {forbidden[0]}")
        if load.errors:
            problems += load.errors
        result["problems"] = problems
        result["ok"] = not problems
        return result

    def _prepare_cas(self, load: Load) -> None:
        deadline = now() + 20
        while True:
            leader = self.leader()
            try:
                with self.root_client(leader) as client:
                    response = client.post(f"/v1/secret/metadata/{load.cas_path}",
                                           json={"max_versions": 1_000_000})
                if response.status_code in (200, 204):
                    return
            except httpx.HTTPError:
                pass
            if now() > deadline:
                raise ConvergenceError("could not set the CAS key's max_versions")
            time.sleep(0.2)

    # ---- checks
    def check(self, load: Load, result: dict[str, Any], problems: list[str]) -> None:
        acked = dict(load.acked)
        max_index = max([a.index for a in acked.values()] + [a.index for a in load.cas_acked],
                        key=index_number, default="")
        lost: dict[str, list[str]] = {}
        wrong_unacked: list[str] = []
        duplicated: set[str] = set()
        lock = threading.Lock()

        def read_all(node: ServerProcess) -> None:
            with self.root_client(node, 10.0) as client:
                headers = {"X-Vault-Index": max_index} if max_index else {}
                for path, ack in acked.items():
                    response = self._read(client, path, headers)
                    data = response.json()["data"] if response.status_code == 200 else None
                    if data is None or data["data"] != ack.value:
                        got = (f"{response.status_code}" if data is None else
                               f"v{data['metadata']['version']} {data['data']}")
                        with lock:
                            lost.setdefault(path, []).append(
                                f"{node.node_id}: {got} (acked v{ack.version} "
                                f"{ack.value} index {ack.index})")
                    elif data["metadata"]["version"] != 1 or ack.version != 1:
                        with lock:  # one logical write (one Idempotency-Key), two versions
                            duplicated.add(f"{path}: stored v{data['metadata']['version']}, "
                                           f"acked v{ack.version}")
                for path, value in list(load.unacked.items()):
                    if "#" in path:
                        continue
                    response = self._read(client, path, headers)
                    if response.status_code == 200 and \
                            response.json()["data"]["data"] != value:
                        with lock:
                            wrong_unacked.append(f"{node.node_id} {path}: "
                                                 f"{response.json()['data']['data']}")
                for path, seq in load.ryw_last.items():
                    response = self._read(client, path, headers)
                    got = response.json()["data"]["data"].get("seq", -1) \
                        if response.status_code == 200 else -1
                    if got < seq:
                        with lock:
                            lost.setdefault(path, []).append(
                                f"{node.node_id}: seq {got} < acked {seq}")

        threads = [threading.Thread(target=read_all, args=(n,)) for n in self.cluster.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        result["acked"] = len(acked) + len(load.cas_acked) + len(load.ryw_last)
        result["acked_unique_keys"] = len(acked)
        result["unacked_attempted"] = len(load.unacked)
        result["lost"] = len(lost)
        result["lost_detail"] = dict(list(lost.items())[:20])
        result["unacked_with_wrong_value"] = wrong_unacked[:20]
        if lost:
            problems.append(f"{len(lost)} acknowledged writes lost or wrong, e.g. "
                            f"{next(iter(lost.items()))}")
        result["duplicate_applies"] = len(duplicated)
        result["duplicate_detail"] = sorted(duplicated)[:20]
        if duplicated:
            problems.append(f"{len(duplicated)} unique-key writes applied more than once "
                            f"(Idempotency-Key retries), e.g. {sorted(duplicated)[:3]}")
        if wrong_unacked:
            problems.append(f"unacknowledged writes with another value: {wrong_unacked[:3]}")
        self.check_cas(load, result, problems, max_index)
        result["ryw_reads"] = load.ryw_reads
        result["ryw_refused"] = load.ryw_refused
        result["stale_reads"] = len(load.ryw_stale)
        result["stale_detail"] = load.ryw_stale[:20]
        if load.ryw_stale:
            problems.append(f"{len(load.ryw_stale)} stale read-your-writes reads, e.g. "
                            f"{load.ryw_stale[0]}")
        digest = self.digests()
        result["digest"] = digest
        result["divergent"] = digest["equal"] is not True
        if result["divergent"]:
            problems.append(f"store digests differ or not comparable: {digest}")

    def _read(self, client: httpx.Client, path: str, headers: dict[str, str],
              version: int | None = None) -> httpx.Response:
        url = f"/v1/secret/data/{path}" + (f"?version={version}" if version else "")
        response = None
        for _ in range(20):
            try:
                response = client.get(url, headers=headers)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if response.status_code not in (412, 503):
                return response
            time.sleep(0.2)
        if response is None:
            raise ConvergenceError(f"cannot read {path}")
        return response

    def check_cas(self, load: Load, result: dict[str, Any], problems: list[str],
                  max_index: str) -> None:
        versions = Counter(a.version for a in load.cas_acked)
        duplicated = sorted(v for v, n in versions.items() if n > 1)
        lost: list[str] = []
        final = 0
        with self.root_client(self.leader(), 10.0) as client:
            headers = {"X-Vault-Index": max_index} if max_index else {}
            response = self._read(client, load.cas_path, headers)
            if response.status_code == 200:
                final = response.json()["data"]["metadata"]["version"]
            for ack in load.cas_acked:
                response = self._read(client, load.cas_path, headers, ack.version)
                got = response.json()["data"]["data"] if response.status_code == 200 else None
                if got != ack.value:
                    lost.append(f"v{ack.version}: stored {got or response.status_code}, "
                                f"acked {ack.value}")
        top = max(versions, default=0)
        if final < top:
            lost.append(f"final version {final} < max acknowledged {top}")
        result["cas"] = {"acked": len(load.cas_acked), "conflicts": load.cas_conflicts,
                         "final_version": final, "max_acked": top,
                         "duplicated": duplicated, "lost": lost[:20]}
        result["cas_duplicated"] = len(duplicated)
        result["cas_lost"] = len(lost)
        if duplicated:
            problems.append(f"CAS versions acknowledged twice: {duplicated[:10]}")
        if lost:
            problems.append(f"CAS versions lost: {lost[:3]}")

    def timing(self, load: Load, t_inject: float, t_end: float,
               result: dict[str, Any]) -> None:
        attempts = [a for a in load.attempts if a.kind in ("write", "cas", "ryw")]
        after = [a for a in attempts if a.start >= t_inject and a.outcome == "200"]
        first_ok = min((a.end for a in after), default=None)
        result["window_s"] = round(first_ok - t_inject, 3) if first_ok is not None else None
        refused_after = [a for a in attempts if a.start >= t_inject
                         and a.outcome in {"timeout", "conn", *map(str, RETRY_STATUSES)}]
        first_refusal = min((a.end for a in refused_after), default=None)
        result["first_refusal_s"] = round(first_refusal - t_inject, 3) \
            if first_refusal is not None else None
        oks = sorted(a.end for a in attempts if a.outcome == "200" and a.end >= t_inject)
        gaps = [(b - a, a) for a, b in zip([t_inject, *oks], oks, strict=False)]
        result["max_gap_s"] = round(max(gaps)[0], 3) if gaps else None
        result["max_gap_from_s"] = round(max(gaps)[1] - t_inject, 3) if gaps else None
        # what every attempt that ended in the longest gap saw, for the evidence
        if gaps:
            g0, g1 = max(gaps)[1], max(gaps)[1] + max(gaps)[0]
            result["in_gap"] = dict(Counter(
                f"{a.node} {a.kind} {a.outcome} {round(a.end - a.start, 1)}s"
                for a in attempts if g0 <= a.end <= g1 + 0.001).most_common(12))
        during = [a for a in attempts if t_inject <= a.start <= t_end]
        result["outcomes"] = dict(Counter(a.outcome for a in during).most_common())
        result["outcomes_by_node"] = {
            node: dict(Counter(a.outcome for a in during if a.node == node).most_common())
            for node in sorted({a.node for a in during})}
        result["attempts"] = len(attempts)


# --------------------------------------------------------------------------- reporting

COLUMNS = ("kind", "rounds", "acked writes", "lost", "divergent rounds", "CAS dup", "CAS lost",
           "stale RYW", "window min s", "window p50 s", "window max s", "max gap max s",
           "new leader max s", "resume after undo max s", "elections max", "node exits",
           "failed rounds")


def summarize(rounds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in rounds:
        by_kind.setdefault(r["kind"], []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for kind, items in by_kind.items():
        ran = [r for r in items if "skipped" not in r]
        windows = [r["window_s"] for r in ran if r.get("window_s") is not None]
        never = sum(1 for r in ran if r.get("window_s") is None)
        gaps = [r["max_gap_s"] for r in ran if r.get("max_gap_s") is not None]
        elections = [r["elections"] for r in ran if r.get("elections") is not None]
        leaders = [r["new_leader_s"] for r in ran if r.get("new_leader_s") is not None]
        resumes = [r["resume_after_undo_s"] for r in ran
                   if r.get("resume_after_undo_s") is not None]
        out[kind] = {
            "rounds": len(ran), "skipped": len(items) - len(ran),
            "acked": sum(r.get("acked", 0) for r in ran),
            "lost": sum(r.get("lost", 0) for r in ran),
            "divergent_rounds": sum(1 for r in ran if r.get("divergent", True)),
            "cas_duplicated": sum(r.get("cas_duplicated", 0) for r in ran),
            "cas_lost": sum(r.get("cas_lost", 0) for r in ran),
            "stale_reads": sum(r.get("stale_reads", 0) for r in ran),
            "window_min_s": min(windows, default=None),
            "window_p50_s": round(statistics.median(windows), 3) if windows else None,
            "window_max_s": max(windows, default=None),
            "rounds_without_accepted_write": never,
            "max_gap_max_s": max(gaps, default=None),
            "new_leader_max_s": max(leaders, default=None),
            "resume_after_undo_max_s": max(resumes, default=None),
            "elections_max": max(elections, default=None),
            "node_exits": sum(len(r.get("exits", [])) for r in ran),
            "failed_rounds": sum(1 for r in ran if not r.get("ok")),
            "hook_missing": any(r.get("fault", {}).get("hook_present") is False for r in ran),
        }
    return out


def markdown(summary: dict[str, dict[str, Any]], header: str = "") -> str:
    def cell(value: Any) -> str:
        return "-" if value is None else str(value)

    lines = [header, ""] if header else []
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("|---|" + "---:|" * (len(COLUMNS) - 1))
    for kind, s in summary.items():
        rounds = f"{s['rounds']}" + (f" (+{s['skipped']} skipped)" if s["skipped"] else "")
        name = kind + (" (hook not in this build: no-op)" if s["hook_missing"] else "")
        lines.append("| " + " | ".join([
            name, rounds, cell(s["acked"]), cell(s["lost"]), cell(s["divergent_rounds"]),
            cell(s["cas_duplicated"]), cell(s["cas_lost"]), cell(s["stale_reads"]),
            cell(s["window_min_s"]), cell(s["window_p50_s"]),
            cell(s["window_max_s"]) + (f" ({s['rounds_without_accepted_write']} never)"
                                       if s["rounds_without_accepted_write"] else ""),
            cell(s["max_gap_max_s"]), cell(s["new_leader_max_s"]),
            cell(s["resume_after_undo_max_s"]), cell(s["elections_max"]),
            cell(s["node_exits"]),
            cell(s["failed_rounds"])]) + " |")
    return "\n".join(lines) + "\n"


def round_line(r: dict[str, Any]) -> str:
    """One line per round for logs."""
    if "skipped" in r:
        return f"{r['kind']} r{r['round']}: skipped ({r['skipped']})"
    return (f"{r['kind']} r{r['round']}: {'ok' if r['ok'] else 'FAILED'} "
            f"targets={r.get('fault', {}).get('targets')} acked={r.get('acked')} "
            f"lost={r.get('lost')} divergent={r.get('divergent')} "
            f"cas_dup={r.get('cas_duplicated')} cas_lost={r.get('cas_lost')} "
            f"stale={r.get('stale_reads')} window={r.get('window_s')}s "
            f"gap={r.get('max_gap_s')}s new_leader={r.get('new_leader_s')}s "
            f"elections={r.get('elections')} "
            f"exits={r.get('exits')} outcomes={r.get('outcomes')}")


@contextlib.contextmanager
def campaign(directory: Path, settings: Settings | None = None) -> Iterator[Campaign]:
    with Campaign(directory, settings) as c:
        yield c
