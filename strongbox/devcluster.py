"""Real StrongBox nodes as local processes: TLS material, configs, start, stop, kill.

    tls = make_tls(tmp_path / "tls")
    with ServerProcess(tmp_path / "node", tls) as node:
        keys, root = node.init_and_unseal(shares=3, threshold=2)
        node.client(root).get("/v1/secret/data/app")

`ServerProcess` runs `strongbox server` as a subprocess on a free loopback
port with a generated CA and server certificate; `kill()` is SIGKILL (a crash),
`stop()` is SIGTERM, `start()` starts it again on the same data directory.
`LocalCluster` runs N of them as one Raft cluster on loopback. Used by `strongbox
cluster up` and, through `strongbox.testing`, by tests/ and benchmarks/; it is
public so that users can test against real nodes too (like rqlite's end-to-end
helpers).

Everything written here (keys, certificates, node configs, logs) is owner-only: files
0600, directories 0700 (`write_private`, `private_dir`), whatever the caller's umask; the
servers themselves set a 0o077 umask at start (strongbox/ops/fileperms.py).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_cert: Path
    cert: Path
    key: Path


def _port_pool() -> Iterator[int]:
    """Ports below the kernel's ephemeral range, a slice per pytest-xdist worker.

    A port the kernel hands out for `bind(0)` is in the ephemeral range, which it also
    uses for the source port of every outgoing connection: under load a client socket
    could take a node's port between the check and the node's bind. Ports from here
    are never chosen by the kernel, never by two workers, and handed out in turn.
    """
    low, high = 20000, 32000
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        high = min(high, ephemeral_low)
    except (OSError, ValueError, IndexError):
        pass
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    slot = int(worker[2:]) % 8 if worker.startswith("gw") and worker[2:].isdigit() else 0
    width = (high - low) // 8
    start = low + slot * width
    offset = (os.getpid() * 7919) % width   # two runs at once rarely start together
    for n in itertools.count():
        yield start + (offset + n) % width


_PORTS = _port_pool()
_PORTS_LOCK = threading.Lock()


def free_port(avoid: Collection[int] = ()) -> int:
    """A port nothing listens on now, outside the ephemeral range (see `_port_pool`),
    and not one of `avoid` (ports already promised to something else)."""
    with _PORTS_LOCK:
        for _ in range(2000):
            port = next(_PORTS)
            if port not in avoid and not port_in_use(port):
                return port
    with socket.socket() as sock:  # the pool is exhausted: fall back to the kernel's choice
        sock.bind(("127.0.0.1", 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on (or holds) `port`: a bind as the server does it
    (SO_REUSEADDR, so TIME_WAIT connections of a stopped node do not count) fails."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def private_dir(path: Path) -> Path:
    """`path` created if needed (parents too) and made 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Write `path` as a 0600 file: created 0600 (no window with a wider mode), an
    existing file chmod'ed to 0600 before it is truncated and written."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(raw)


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    cert_file: Path

    @classmethod
    def create(cls, directory: Path, name: str = "StrongBox test CA") -> CertificateAuthority:
        private_dir(directory)
        now = dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .sign(key, hashes.SHA256()))
        cert_file = directory / "ca.crt"
        write_private(cert_file, cert.public_bytes(serialization.Encoding.PEM))
        return cls(cert, key, cert_file)

    def issue(self, directory: Path, common_name: str, ips: Collection[str] = ()) -> TlsFiles:
        """A certificate for `common_name` (the node id) valid for 127.0.0.1, localhost and
        `ips`, usable as server and client certificate (API listener and cluster mTLS)."""
        private_dir(directory)
        now = dt.datetime.now(dt.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName(common_name), x509.DNSName("localhost"),
                    *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", *ips))]),
                    critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        files = TlsFiles(self.cert_file, directory / f"{common_name}.crt",
                         directory / f"{common_name}.key")
        write_private(files.cert, cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, files.key)
        return files


def make_tls(directory: Path, common_name: str = "node-1") -> TlsFiles:
    """A throw-away CA and one certificate for 127.0.0.1 / localhost (ECDSA P-256)."""
    return CertificateAuthority.create(directory).issue(directory, common_name)


class ServerProcess:
    """One `strongbox server` process on loopback with TLS."""

    def __init__(self, data_dir: Path, tls: TlsFiles, port: int | None = None,
                 extra_config: str = "", node_id: str = "node-1",
                 cluster_port: int | None = None, workers: int = 1) -> None:
        self.node_id = node_id
        self.workers = workers  # listener.workers: test and dev nodes are one process
        self.cluster_port = cluster_port  # checked to be free before start, when known
        self.data_dir = Path(data_dir)
        self.tls = tls
        self.port = port or free_port()
        self.addr = f"https://127.0.0.1:{self.port}"
        self.config_path = self.data_dir.parent / f"{self.data_dir.name}.toml"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.extra_config = extra_config
        self.exec_prefix: list[str] = []  # e.g. ["ip", "netns", "exec", "ns1"] (fault tests)
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        write_private(
            self.config_path,
            f'node_id = "{self.node_id}"\ndata_dir = "{self.data_dir}"\n{self.extra_config}\n'
            f'[listener]\naddress = "127.0.0.1:{self.port}"\nworkers = {self.workers}\n'
            f'tls_cert_file = "{self.tls.cert}"\ntls_key_file = "{self.tls.key}"\n')

    def ports(self) -> dict[str, int]:
        """The ports this node listens on, by what they are for."""
        ports = {"API port": self.port}
        if self.cluster_port is not None:
            ports["cluster port"] = self.cluster_port
        return ports

    def _describe(self) -> str:
        return f"{self.node_id} (" + ", ".join(f"{what} {port}" for what, port
                                               in self.ports().items()) + ")"

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Start the server and wait until it answers; raise `RuntimeError` naming the
        node and its ports if a port is taken or the process exits, `TimeoutError` if
        it does not answer in time (the process is killed: nothing is left running)."""
        taken = [f"{what} {port}" for what, port in self.ports().items() if port_in_use(port)]
        if taken:
            raise RuntimeError(f"{self.node_id} cannot start: {' and '.join(taken)} on "
                               "127.0.0.1 is already in use (another process listens there)")
        self._write_config()
        log = os.fdopen(os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND
                                | os.O_CLOEXEC, 0o600), "ab")
        os.fchmod(log.fileno(), 0o600)
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [*self.exec_prefix, sys.executable, "-m", "strongbox.cli.main", "server",
             "--config", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code, self.proc = self.proc.returncode, None
                taken = [f"{what} {port}" for what, port in self.ports().items()
                         if port_in_use(port)]
                busy = f" ({' and '.join(taken)} in use)" if taken else ""
                raise RuntimeError(f"{self._describe()}: strongbox server exited with "
                                   f"{code}{busy}; log {self.log_path}:\n"
                                   f"{self.log_path.read_text()[-3000:]}")
            try:
                with self.client() as client:
                    client.get("/v1/sys/seal-status", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"{self._describe()}: strongbox server did not answer within "
                           f"{timeout}s; log {self.log_path}")

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"X-Vault-Token": token} if token else {}
        context = ssl.create_default_context(cafile=str(self.tls.ca_cert))
        return httpx.Client(base_url=self.addr, verify=context, headers=headers,
                            timeout=kwargs.pop("timeout", 15.0), **kwargs)

    def init_and_unseal(self, shares: int = 1, threshold: int = 1) -> tuple[list[str], str]:
        with self.client() as client:
            response = client.put("/v1/sys/init", json={"secret_shares": shares,
                                                        "secret_threshold": threshold})
            response.raise_for_status()
            body = response.json()
            self.unseal(body["keys"][:threshold])
        return body["keys"], body["root_token"]

    def unseal(self, keys: list[str]) -> dict[str, Any]:
        status: dict[str, Any] = {}
        with self.client() as client:
            for key in keys:
                response = client.put("/v1/sys/unseal", json={"key": key})
                response.raise_for_status()
                status = response.json()
        return status

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0

    def detach(self) -> None:
        """Forget the process without stopping it (it outlives this object)."""
        self.proc = None

    def stop(self, timeout: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class LocalCluster:
    """N `strongbox server` processes on loopback forming one Raft cluster over mTLS gRPC.

    Node i is `node-i` with its own certificate from one CA (used for its API
    listener and as its cluster identity). `fault_injection` lets tests cut a
    node off from chosen peers through `<data_dir>/faults.json`.
    """

    def __init__(self, directory: Path, size: int = 3, *, snapshot_threshold: int = 10000,
                 fault_injection: bool = False, api_ports: list[int] | None = None,
                 cluster_ports: list[int] | None = None, extra_cluster_config: str = "",
                 extra_config: str = "", workers: int = 1) -> None:
        self.directory = private_dir(Path(directory))
        self.ca = CertificateAuthority.create(self.directory / "tls")
        self.size = size
        ids = [f"node-{i}" for i in range(1, size + 1)]
        # Ports given for one kind are never handed out for the other (`cluster up
        # --api-port 8200 --cluster-port 0` must not put a cluster port on 8201).
        given = set(cluster_ports or ()) | set(api_ports or ())
        self.cluster_ports = cluster_ports or [free_port(avoid=given) for _ in ids]
        api_ports = api_ports or [free_port(avoid=given | set(self.cluster_ports))
                                  for _ in ids]
        self.nodes: list[ServerProcess] = []
        self.keys: list[str] = []
        self.root_token = ""
        self._settings = (snapshot_threshold, fault_injection, extra_cluster_config, extra_config)
        self.workers = workers
        self._addresses = dict(zip(ids, self.cluster_ports, strict=True))
        for index, node_id in enumerate(ids):
            self.nodes.append(self._make_node(node_id, api_ports[index]))

    def _make_node(self, node_id: str, api_port: int) -> ServerProcess:
        snapshot_threshold, fault_injection, extra_cluster_config, extra_config = self._settings
        tls = self.ca.issue(self.directory / "tls", node_id)
        peers = ", ".join(f'"{other}=127.0.0.1:{port}"'
                          for other, port in self._addresses.items() if other != node_id)
        extra = (f'\n[cluster]\naddress = "127.0.0.1:{self._addresses[node_id]}"\n'
                 f"peers = [{peers}]\n"
                 f'tls_ca_file = "{tls.ca_cert}"\ntls_cert_file = "{tls.cert}"\n'
                 f'tls_key_file = "{tls.key}"\nsnapshot_threshold = {snapshot_threshold}\n'
                 f"fault_injection = {'true' if fault_injection else 'false'}\n"
                 f"{extra_cluster_config}\n{extra_config}\n")
        return ServerProcess(self.directory / node_id, tls, api_port, extra_config=extra,
                             node_id=node_id, cluster_port=self._addresses[node_id],
                             workers=self.workers)

    def add_node(self, node_id: str) -> ServerProcess:
        """A new node configured with the current members as peers (it joins by itself)."""
        self._addresses[node_id] = free_port()
        node = self._make_node(node_id, free_port())
        self.nodes.append(node)
        return node.start()

    def start(self) -> LocalCluster:
        """Start every node; if one fails, stop those already started and re-raise."""
        try:
            for node in self.nodes:
                node.start()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_leader(self, timeout: float = 20.0, among: list[ServerProcess] | None = None,
                    ) -> ServerProcess:
        deadline = time.monotonic() + timeout
        candidates = among or self.nodes
        while time.monotonic() < deadline:
            for node in candidates:
                try:
                    with node.client() as client:
                        if client.get("/v1/sys/leader", timeout=1.0).json().get("is_self"):
                            return node
                except (httpx.HTTPError, ValueError):
                    continue
            time.sleep(0.1)
        raise TimeoutError(f"no leader among {[n.node_id for n in candidates]} in {timeout}s")

    def init_and_unseal(self, shares: int = 3, threshold: int = 2) -> tuple[list[str], str]:
        leader = self.wait_leader()
        with leader.client() as client:
            response = client.put("/v1/sys/init", json={"secret_shares": shares,
                                                        "secret_threshold": threshold})
            response.raise_for_status()
            body = response.json()
        self.keys, self.root_token = body["keys"], body["root_token"]
        for node in self.nodes:
            self.unseal(node)
        return self.keys, self.root_token

    def unseal(self, node: ServerProcess, timeout: float = 20.0) -> None:
        """Unseal once the node has replicated the cluster's init (it may lag behind)."""
        deadline = time.monotonic() + timeout
        with node.client() as client:
            while not client.get("/v1/sys/seal-status").json()["initialized"]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{node.node_id} never saw the cluster's init")
                time.sleep(0.1)
        node.unseal(self.keys)

    def node(self, node_id: str) -> ServerProcess:
        return next(n for n in self.nodes if n.node_id == node_id)

    def followers(self) -> list[ServerProcess]:
        leader = self.wait_leader()
        return [n for n in self.nodes if n is not leader and n.proc is not None]

    def block(self, node: ServerProcess, peers: list[str]) -> None:
        """Cut `node` off from `peers` (both directions once each side applies it)."""
        (node.data_dir / "faults.json").write_text(json.dumps({"blocked": peers}))
        for other in self.nodes:
            if other.node_id in peers:
                current: list[str] = []
                path = other.data_dir / "faults.json"
                if path.exists():
                    current = json.loads(path.read_text()).get("blocked", [])
                path.write_text(json.dumps({"blocked": sorted({*current, node.node_id})}))

    def heal(self) -> None:
        for node in self.nodes:
            (node.data_dir / "faults.json").unlink(missing_ok=True)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
