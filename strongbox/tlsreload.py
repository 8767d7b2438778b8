"""Reloading a node's TLS files when they change on disk, without a restart.

`TlsFileWatch(paths)` polls the files' (mtime, size, inode) every `interval_s`
seconds on one daemon thread. When they change it reads them once, checks that
they are usable (the certificate chain parses, the key matches it, the CA
parses) and only then hands the new `TlsMaterial` to its subscribers. A bad or
half-written file logs an error and keeps the old material: the next change is
tried again. Kubernetes updates a mounted Secret by swapping a symlink, which
`stat` (it follows links) sees as a new inode and mtime.

Two consumers, both swapped in place so that live connections are untouched:

- `reload_ssl_context(context, material)`: the HTTP listener's `ssl.SSLContext`
  (uvicorn's) gets the new chain; handshakes from then on present it.
- `ClusterCredentials`: the cluster port's gRPC server credentials are dynamic
  (`grpc.dynamic_ssl_server_credentials`); gRPC asks the fetcher at each new
  handshake, which answers the newest material once and `None` (unchanged) after.

Threads: subscribers run on the watch thread (the listener swap is handed to the
event loop, see `watch_ssl_context`); `ClusterCredentials.fetch` runs on gRPC's
handshake threads and takes the pending material under a lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger("strongbox.tlsreload")
DEFAULT_INTERVAL_S = 2.0
Fingerprint = tuple[tuple[int, int, int], ...]


class TlsMaterialError(ValueError):
    """The files on disk do not form a usable certificate, key (and CA)."""


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    cert: bytes
    key: bytes
    ca: bytes = b""


@dataclass(frozen=True, slots=True)
class TlsPaths:
    cert_file: str
    key_file: str
    ca_file: str = ""

    def files(self) -> tuple[str, ...]:
        return tuple(p for p in (self.cert_file, self.key_file, self.ca_file) if p)


def fingerprint(paths: TlsPaths) -> Fingerprint:
    """What changes when any of the files is replaced; raises OSError if one is missing."""
    stats = (os.stat(p) for p in paths.files())
    return tuple((s.st_mtime_ns, s.st_size, s.st_ino) for s in stats)


def _load_into(context: ssl.SSLContext, material: TlsMaterial) -> None:
    """`load_cert_chain` only reads files: write the bytes to a private temp dir."""
    with tempfile.TemporaryDirectory(prefix="strongbox-tls-") as directory:
        cert, key = Path(directory, "tls.crt"), Path(directory, "tls.key")
        cert.write_bytes(material.cert)
        key.touch(mode=0o600)
        key.write_bytes(material.key)
        context.load_cert_chain(str(cert), str(key))


def read_material(paths: TlsPaths) -> TlsMaterial:
    """Read and check the files; raises TlsMaterialError saying what is wrong."""
    try:
        material = TlsMaterial(Path(paths.cert_file).read_bytes(),
                               Path(paths.key_file).read_bytes(),
                               Path(paths.ca_file).read_bytes() if paths.ca_file else b"")
    except OSError as exc:
        raise TlsMaterialError(f"cannot read the TLS files: {exc}") from None
    try:
        _load_into(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER), material)
    except (ssl.SSLError, OSError) as exc:
        raise TlsMaterialError(f"{paths.cert_file} / {paths.key_file} are not a usable "
                               f"certificate chain and matching key: {exc}") from None
    if material.ca:
        try:
            ssl.create_default_context(cadata=material.ca.decode("ascii"))
        except (ssl.SSLError, UnicodeDecodeError, ValueError) as exc:
            raise TlsMaterialError(f"{paths.ca_file} is not a PEM CA bundle: {exc}") from None
    return material


def reload_ssl_context(context: ssl.SSLContext, material: TlsMaterial) -> None:
    """Swap the chain of a live server context (new handshakes use it; old ones keep theirs)."""
    _load_into(context, material)


class TlsFileWatch:
    """Polls `paths`; calls every subscriber with checked new material after a change."""

    def __init__(self, paths: TlsPaths, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.paths = paths
        self.interval_s = interval_s
        self.material = read_material(paths)
        self.reloads = 0
        self.failures = 0
        self._seen = fingerprint(paths)
        self._subscribers: list[Callable[[TlsMaterial], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, callback: Callable[[TlsMaterial], None]) -> None:
        self._subscribers.append(callback)

    def check_once(self) -> bool:
        """One poll; True if new material was loaded and handed to the subscribers."""
        try:
            seen = fingerprint(self.paths)
        except OSError as exc:  # mid-swap, or removed: keep serving with what we have
            log.error("TLS files unavailable, keeping the current certificate: %s", exc)
            return False
        if seen == self._seen:
            return False
        self._seen = seen
        try:
            material = read_material(self.paths)
        except TlsMaterialError as exc:
            self.failures += 1
            log.error("not reloading TLS, keeping the current certificate: %s", exc)
            return False
        if material == self.material:
            return False
        self.material = material
        for callback in self._subscribers:
            try:
                callback(material)
            except Exception:  # one consumer failing must not stop the others or the watch
                self.failures += 1
                log.exception("a TLS reload subscriber failed")
        self.reloads += 1
        log.info("reloaded TLS certificate from %s", self.paths.cert_file)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.check_once()

    def start(self) -> TlsFileWatch:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tls-reload", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)


def watch_ssl_context(context: ssl.SSLContext, cert_file: str, key_file: str,
                      interval_s: float = DEFAULT_INTERVAL_S) -> TlsFileWatch:
    """A started watch that reloads `context` (the HTTP listener's) in place.

    Called on the event loop that serves the listener, the swap is scheduled onto that
    loop: OpenSSL does not allow changing a context while another thread creates
    connections from it, and only that loop's thread creates them.
    """
    watch = TlsFileWatch(TlsPaths(cert_file, key_file), interval_s)
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        loop = None

    def swap(material: TlsMaterial) -> None:
        if loop is None or loop.is_closed():
            reload_ssl_context(context, material)
        else:
            loop.call_soon_threadsafe(_swap_logged, context, material)
    watch.subscribe(swap)
    return watch.start()


def _swap_logged(context: ssl.SSLContext, material: TlsMaterial) -> None:
    try:
        reload_ssl_context(context, material)
    except (ssl.SSLError, OSError):  # checked before; only a vanished /tmp gets here
        log.exception("could not swap the listener's certificate; keeping the current one")


class ClusterCredentials:
    """Dynamic gRPC server credentials fed by a `TlsFileWatch` (client certs required)."""

    def __init__(self, watch: TlsFileWatch) -> None:
        self._pending: TlsMaterial | None = None
        self._lock = threading.Lock()
        self._initial = watch.material
        watch.subscribe(self._changed)

    def _changed(self, material: TlsMaterial) -> None:
        with self._lock:
            self._pending = material

    @staticmethod
    def _configuration(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(material.key, material.cert)], root_certificates=material.ca)

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's fetcher: the new configuration once after a change, else None."""
        with self._lock:
            material, self._pending = self._pending, None
        return None if material is None else self._configuration(material)

    def server_credentials(self) -> grpc.ServerCredentials:
        # the stubs say the fetcher must return a configuration; gRPC documents None as
        # "unchanged" (grpc/__init__.py, dynamic_ssl_server_credentials)
        fetcher: Callable[[], grpc.ServerCertificateConfiguration] = self.fetch  # type: ignore[assignment]
        return grpc.dynamic_ssl_server_credentials(
            self._configuration(self._initial), fetcher, require_client_authentication=True)
