"""The unseal ceremony through the CLI on a fresh three-node TLS cluster: `operator init
-holder-dir`, three key holders each running `operator unseal -all -`, a wrong share, a
node down during `unseal -all`, a restarted node unsealed again, `status`."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from strongbox.testing import LocalCluster
from tests.cluster.conftest import FAST, LIMITS

pytestmark = pytest.mark.cluster


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """Three nodes started but NOT initialized."""
    cluster = LocalCluster(tmp_path / "cluster", 3, extra_cluster_config=FAST,
                           extra_config=LIMITS)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def cli(cluster: LocalCluster, home: Path, *args: str, stdin: str | None = None,
        ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "STRONGBOX_"))}
    env.update({"HOME": str(home), "STRONGBOX_CACERT": str(cluster.ca.cert_file),
                "STRONGBOX_ADDR": ",".join(node.addr for node in cluster.nodes)})
    return subprocess.run([sys.executable, "-m", "strongbox.cli.main", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def sealed(cluster: LocalCluster, home: Path, address: str) -> bool:
    result = cli(cluster, home, "status", "-format=json", f"-address={address}")
    assert result.returncode in (0, 2), result.stderr
    return bool(json.loads(result.stdout)["sealed"])


def test_unseal_ceremony_end_to_end(fresh_cluster: LocalCluster, tmp_path: Path) -> None:
    cluster, home, holders = fresh_cluster, tmp_path / "home", tmp_path / "holders"
    home.mkdir()
    cluster.wait_leader()
    init = cli(cluster, home, "operator", "init", "-key-shares", "5", "-key-threshold", "3",
               "-holder-dir", str(holders))
    assert init.returncode == 0, init.stderr
    files = sorted(holders.glob("holder-*.key"))
    assert len(files) == 5 and (holders / "root-token").exists()
    for path in [*files, holders / "root-token"]:
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert path.read_text().strip() not in init.stdout  # only the file names are printed
    shares = [path.read_text().strip() for path in files]

    # Two holders, then a wrong share (what a share of another cluster looks like).
    for share in shares[:2]:
        step = cli(cluster, home, "operator", "unseal", "-all", "-", stdin=share + "\n")
        assert step.returncode == 0, step.stderr
    wrong = cli(cluster, home, "operator", "unseal", "-all", "-",
                stdin=secrets.token_hex(len(shares[0]) // 2) + "\n")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    lines = wrong.stderr.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("Error: https://") for line in lines)
    assert all(sealed(cluster, home, node.addr) for node in cluster.nodes)

    # Three holders, each once, with their share on stdin: every node unseals.
    for share in shares[2:5]:
        step = cli(cluster, home, "operator", "unseal", "-all", "-", stdin=share + "\n")
        assert step.returncode == 0, step.stderr
        assert share not in step.stdout + step.stderr
    assert not any(sealed(cluster, home, node.addr) for node in cluster.nodes)
    status = cli(cluster, home, "status")
    assert status.returncode == 0 and "Sealed                 false" in status.stdout

    # A node down during `unseal -all`: reported on stderr, the others still answer.
    restarted = cluster.nodes[2]
    restarted.stop()
    partial = cli(cluster, home, "operator", "unseal", "-all", "-", stdin=shares[0] + "\n")
    assert partial.returncode == 1
    assert partial.stderr.count("\n") == 1 and restarted.addr in partial.stderr
    assert f"{cluster.nodes[0].addr}: unsealed" in partial.stdout

    # The restarted node comes back sealed and is unsealed again via the CLI.
    restarted.start()
    assert sealed(cluster, home, restarted.addr)
    for share in shares[1:4]:
        step = cli(cluster, home, "operator", "unseal", f"-address={restarted.addr}", "-",
                   stdin=share + "\n")
        assert step.returncode == 0, step.stderr
    assert not sealed(cluster, home, restarted.addr)
    root = (holders / "root-token").read_text().strip()
    peers = subprocess.run(
        [sys.executable, "-m", "strongbox.cli.main", "operator", "raft", "list-peers",
         "-format=json"], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "HOME": str(home), "STRONGBOX_CACERT": str(cluster.ca.cert_file),
             "STRONGBOX_ADDR": cluster.nodes[0].addr, "STRONGBOX_TOKEN": root})
    assert peers.returncode == 0, peers.stderr
    assert len(json.loads(peers.stdout)["data"]["config"]["servers"]) == 3
