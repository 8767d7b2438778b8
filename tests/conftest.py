"""Shared fixtures: real `strongbox server` processes with real TLS (strongbox.testing)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import strongbox.registry  # noqa: F401 (registers the backends' apply handlers)
from strongbox.testing import ServerProcess, TlsFiles, make_tls
from tests.inprocess import InProcessApi, in_process_api


@pytest.fixture
def sdk_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No client settings from the environment and a HOME of the test's own (no
    ~/.strongbox-token): SDK tests see only what they pass."""
    for prefix in ("STRONGBOX_", "VAULT_"):
        for name in ("ADDR", "TOKEN", "NAMESPACE", "CACERT", "SKIP_VERIFY"):
            monkeypatch.delenv(prefix + name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[InProcessApi]:
    """A fresh in-process node (real app, Core and LMDB; DirectLog; FixedClock)."""
    with in_process_api(tmp_path / "in-process") as node:
        yield node


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls(tmp_path_factory.mktemp("tls"))


@dataclass
class ReadyNode:
    server: ServerProcess
    keys: list[str]
    root_token: str

    def client(self, token: str | None = None) -> httpx.Client:
        return self.server.client(token)

    @property
    def root(self) -> httpx.Client:
        return self.server.client(self.root_token)


@contextmanager
def ready_node(data_dir: Path, tls: TlsFiles, extra_config: str = "") -> Iterator[ReadyNode]:
    """A node process of its own, initialized (3 shares, threshold 2) and unsealed."""
    server = ServerProcess(data_dir, tls, extra_config=extra_config).start()
    try:
        keys, root = server.init_and_unseal(shares=3, threshold=2)
        yield ReadyNode(server, keys, root)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[ReadyNode]:
    """An initialized, unsealed node shared by a test module."""
    with ready_node(tmp_path_factory.mktemp("node") / "data", tls) as ready:
        yield ready


@pytest.fixture
def fresh_server(tmp_path: Path, tls: TlsFiles) -> Iterator[ServerProcess]:
    """A new, uninitialized node of its own."""
    server = ServerProcess(tmp_path / "data", tls).start()
    try:
        yield server
    finally:
        server.stop()


def ns(namespace: str) -> dict[str, str]:
    return {"X-Vault-Namespace": namespace}


def create_token(node: ReadyNode, namespace: str = "", token: str | None = None,
                 **body: Any) -> dict[str, Any]:
    """auth/token/create as `token` (default: root), in `namespace`; the auth block."""
    with node.client(token or node.root_token) as c:
        response = c.post("/v1/auth/token/create", json=body,
                          headers=ns(namespace) if namespace else {})
    assert response.status_code == 200, response.text
    auth: dict[str, Any] = response.json()["auth"]
    return auth


def put_policy(node: ReadyNode, name: str, text: str, namespace: str = "") -> None:
    with node.root as c:
        response = c.put(f"/v1/sys/policy/{name}", json={"policy": text},
                         headers=ns(namespace) if namespace else {})
    assert response.status_code == 204, response.text


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask of an operator's shell; server processes started meanwhile inherit it."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)
