"""`strongbox cluster up` when a node cannot start: it names the node and the port, stops
every node it had started (checked by their pids), leaves no cluster.json, exits 1; what it
wrote is owner-only (0600 files, 0700 directories) even from a umask-022 shell."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from strongbox.devcluster import free_port, port_in_use

pytestmark = pytest.mark.cluster
NODES = 3


def strongbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "strongbox.cli.main", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def free_run(count: int, avoid: set[int]) -> int:
    """A port p with p .. p+count-1 all free (cluster up numbers its nodes' ports so)."""
    for _ in range(200):
        base = free_port()
        ports = set(range(base, base + count))
        if base + count < 65536 and not ports & avoid and not any(
                port_in_use(p) for p in ports):
            return base
    raise AssertionError(f"no run of {count} free ports found")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := [p for p in pids if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize(("kind", "blocked_node"), [("api", 2), ("cluster", 3)])
def test_a_taken_port_stops_the_nodes_already_started(tmp_path: Path, umask_022: None,
                                                      kind: str, blocked_node: int) -> None:
    api = free_run(NODES, set())
    cluster = free_run(NODES, set(range(api, api + NODES)))
    taken = (api if kind == "api" else cluster) + blocked_node - 1
    directory = tmp_path / "local"
    with socket.socket() as squatter:  # another program listening on that node's port
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        up = strongbox("cluster", "up", "--dir", str(directory), "--api-port", str(api),
                       "--cluster-port", str(cluster))
    output = up.stdout + up.stderr
    started = {int(pid) for pid in re.findall(r"is running \(pid (\d+)\)", up.stdout)}
    stopped = {int(pid) for pid in re.findall(r"stopped node-\d \(pid (\d+)\)", up.stderr)}
    try:
        assert up.returncode == 1, output
        what = "API port" if kind == "api" else "cluster port"
        assert (f"error: node-{blocked_node} cannot start: {what} {taken} on 127.0.0.1 is "
                "already in use") in up.stderr, output
        assert "--api-port and --cluster-port" in up.stderr, output
        assert len(started) == blocked_node - 1, output  # the nodes before it did start
        assert stopped == started, output
        assert wait_gone(sorted(started)) == [], f"still running: {output}"
        assert not (directory / "cluster.json").exists()
        assert "no node of this cluster is left running" in up.stderr
    finally:
        for pid in started:  # never leave a node behind, whatever failed above
            if alive(pid):
                os.kill(pid, 9)
    wrong = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root) / name
            mode = stat.S_IMODE(path.lstat().st_mode)
            if mode != (0o700 if path.is_dir() else 0o600):
                wrong[str(path)] = oct(mode)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert (directory / "tls" / "node-1.key").exists() and not wrong, wrong


def test_up_works_again_once_the_port_is_free(tmp_path: Path) -> None:
    api = free_run(NODES, set())
    directory = tmp_path / "local"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", api))  # node-1's own port: nothing starts at all
        squatter.listen()
        first = strongbox("cluster", "up", "--dir", str(directory), "--api-port", str(api),
                          "--cluster-port", "0")
    assert first.returncode == 1 and f"API port {api}" in first.stderr, first.stderr
    assert "is running" not in first.stdout
    again = strongbox("cluster", "up", "--dir", str(directory), "--api-port", str(api),
                      "--cluster-port", "0")
    try:
        assert again.returncode == 0, again.stdout + again.stderr
        assert "is up, initialized and unsealed" in again.stdout
    finally:
        down = strongbox("cluster", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    pids = [int(pid) for pid in re.findall(r"is running \(pid (\d+)\)", again.stdout)]
    assert len(pids) == NODES and wait_gone(pids) == []
