"""Test helpers that start real StrongBox nodes: real processes, TLS, LMDB on disk.

    tls = make_tls(tmp_path / "tls")
    with ServerProcess(tmp_path / "node", tls) as node:
        keys, root = node.init_and_unseal(shares=3, threshold=2)
        node.client(root).get("/v1/secret/data/app")

`ServerProcess` runs `strongbox server` as a subprocess on a free loopback
port with a generated CA and server certificate; `kill()` is SIGKILL (a crash),
`stop()` is SIGTERM, `start()` starts it again on the same data directory.
Used by tests/ and benchmarks/; it is public so that users can test against
real nodes too (like rqlite's end-to-end helpers).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def make_tls(directory: Path, common_name: str = "strongbox-node") -> TlsFiles:
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost (ECDSA P-256)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "StrongBox test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / "ca.crt", directory / "node.crt", directory / "node.key")
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, files.key)
    return files


class ServerProcess:
    """One `strongbox server` process on loopback with TLS."""

    def __init__(self, data_dir: Path, tls: TlsFiles, port: int | None = None,
                 extra_config: str = "") -> None:
        self.data_dir = Path(data_dir)
        self.tls = tls
        self.port = port or free_port()
        self.addr = f"https://127.0.0.1:{self.port}"
        self.config_path = self.data_dir.parent / f"{self.data_dir.name}.toml"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> None:
        self.config_path.write_text(
            f'node_id = "node-1"\ndata_dir = "{self.data_dir}"\n{self.extra_config}\n'
            f'[listener]\naddress = "127.0.0.1:{self.port}"\n'
            f'tls_cert_file = "{self.tls.cert}"\ntls_key_file = "{self.tls.key}"\n')

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self._write_config()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "strongbox.cli.main", "server", "--config",
             str(self.config_path)], stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"strongbox server exited with {self.proc.returncode}; "
                                   f"log:\n{self.log_path.read_text()[-3000:]}")
            try:
                with self.client() as client:
                    client.get("/v1/sys/seal-status", timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()
        raise TimeoutError(f"strongbox server did not answer within {timeout}s")

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

    def stop(self, timeout: float = 10.0) -> None:
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
