"""A three-member etcd cluster on loopback for the side-by-side benchmark.

Contract: `EtcdCluster(directory, ca).start()` starts three `etcd` processes, each with its
own data directory under `directory`, listening on 127.0.0.1 only. Client URLs are HTTPS
with a certificate from `ca` and no client certificates, like StrongBox's API listener
(etcd 3.4 requires client certificates as soon as `--trusted-ca-file` is given, even without
`--client-cert-auth`, so it is left out); peer URLs are mutual TLS with certificates from
the same CA (StrongBox's Raft links are mutual-TLS gRPC). `start()` returns once every
member answers `/v3/maintenance/status` and they agree on a leader; `stop()` terminates
(then, after 3 s, kills) every member and is safe to call twice. Logs go to
`<directory>/<member>.log`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from strongbox.testing import CertificateAuthority, free_port

CLUSTER_TOKEN = "sbs-bench"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 3.0  # then SIGKILL: the data is thrown away anyway


@dataclass(slots=True)
class EtcdMember:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.client_port}"

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None else 0


def etcd_version() -> str:
    """`etcd --version`'s first line without the prefix, e.g. "3.4.23" ("" if missing)."""
    exe = shutil.which("etcd")
    if exe is None:
        return ""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10,
                         check=False).stdout
    return out.splitlines()[0].split(":", 1)[-1].strip() if out else ""


class EtcdCluster:
    """Three etcd members; see the module docstring."""

    def __init__(self, directory: Path, ca: CertificateAuthority, size: int = 3) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca = ca
        self.tls_dir = directory / "tls"
        used: set[int] = set()
        self.members: list[EtcdMember] = []
        for i in range(1, size + 1):
            client, peer = free_port(avoid=used), 0
            used.add(client)
            peer = free_port(avoid=used)
            used.add(peer)
            name = f"etcd-{i}"
            self.members.append(EtcdMember(name, client, peer, directory / name,
                                           directory / f"{name}.log"))
        self.ssl_context = ssl.create_default_context(cafile=str(ca.cert_file))

    def _command(self, member: EtcdMember) -> list[str]:
        tls = self.ca.issue(self.tls_dir, member.name)
        peers = ",".join(f"{m.name}=https://127.0.0.1:{m.peer_port}" for m in self.members)
        return [
            shutil.which("etcd") or "etcd", "--name", member.name,
            "--data-dir", str(member.data_dir),
            "--listen-client-urls", member.url, "--advertise-client-urls", member.url,
            "--listen-peer-urls", f"https://127.0.0.1:{member.peer_port}",
            "--initial-advertise-peer-urls", f"https://127.0.0.1:{member.peer_port}",
            "--initial-cluster", peers, "--initial-cluster-state", "new",
            "--initial-cluster-token", CLUSTER_TOKEN,
            "--cert-file", str(tls.cert), "--key-file", str(tls.key),
            "--peer-cert-file", str(tls.cert), "--peer-key-file", str(tls.key),
            "--peer-trusted-ca-file", str(tls.ca_cert), "--peer-client-cert-auth",
            "--logger", "zap", "--log-outputs", "stderr",
        ]

    def start(self) -> EtcdCluster:
        try:
            for member in self.members:
                with member.log_path.open("ab") as log:
                    member.proc = subprocess.Popen(
                        self._command(member), stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True)
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def status(self, member: EtcdMember, timeout: float = 2.0) -> dict[str, object]:
        """The member's `/v3/maintenance/status` answer."""
        request = urllib.request.Request(f"{member.url}/v3/maintenance/status", data=b"{}",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout,
                                    context=self.ssl_context) as response:
            answer: dict[str, object] = json.loads(response.read())
        return answer

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            for member in self.members:
                if member.proc is not None and member.proc.poll() is not None:
                    raise RuntimeError(f"{member.name} exited with {member.proc.returncode}; "
                                       f"log {member.log_path}:\n"
                                       f"{member.log_path.read_text()[-3000:]}")
            try:
                if len({str(self.status(m)["leader"]) for m in self.members}) == 1 \
                        and self.status(self.members[0]).get("leader"):
                    return
            except (OSError, ValueError, KeyError) as exc:
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"etcd cluster not ready in {START_TIMEOUT_S}s ({last}); "
                           f"logs in {self.directory}")

    def leader(self) -> EtcdMember:
        """The member whose `header.member_id` equals the `leader` every member reports."""
        for member in self.members:
            answer = self.status(member)
            header = answer["header"]
            assert isinstance(header, dict)
            if str(header["member_id"]) == str(answer["leader"]):
                return member
        raise RuntimeError("no etcd member says it is the leader")

    def followers(self) -> list[EtcdMember]:
        leader = self.leader()
        return [m for m in self.members if m is not leader]

    def stop(self) -> None:
        for member in self.members:
            if member.proc is not None and member.proc.poll() is None:
                member.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S  # a leader may linger, trying to
        for member in self.members:                   # hand over to peers already gone
            if member.proc is None:
                continue
            try:
                member.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    member.proc.kill()
                member.proc.wait()
            member.proc = None
