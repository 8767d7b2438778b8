"""Kill, restart and partition real nodes; nothing acknowledged may be lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from strongbox.state.store import Store
from strongbox.testing import LocalCluster, ServerProcess

pytestmark = pytest.mark.cluster


def digests(cluster: LocalCluster) -> dict[str, str]:
    """Digest of every database of every (stopped) node's LMDB."""
    out = {}
    for node in cluster.nodes:
        store = Store(node.data_dir)
        try:
            out[node.node_id] = store.digest()
        finally:
            store.close()
    return out


def wait_converged(cluster: LocalCluster, timeout: float = 20.0) -> None:
    """All nodes report the same applied index (no writes in flight)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        indexes = set()
        for node in cluster.nodes:
            with node.client() as client:
                indexes.add(client.get("/v1/sys/health?standbyok=true").json()[
                    "raft_applied_index"])
        if len(indexes) == 1:
            return
        time.sleep(0.2)
    raise TimeoutError(f"applied indexes still differ: {indexes}")


class Writer(threading.Thread):
    """Writes k0, k1, ... round-robin over the nodes; records what was acknowledged."""

    def __init__(self, cluster: LocalCluster) -> None:
        super().__init__(daemon=True)
        self.cluster = cluster
        self.acked: dict[int, int] = {}
        self.attempted: set[int] = set()
        self.stop_flag = threading.Event()

    def run(self) -> None:
        i = 0
        clients = [n.client(self.cluster.root_token, timeout=6.0) for n in self.cluster.nodes]
        while not self.stop_flag.is_set():
            client = clients[i % len(clients)]
            self.attempted.add(i)
            try:
                response = client.post(f"/v1/secret/data/stream/k{i}", json={"data": {"i": i}})
                if response.status_code == 200:
                    self.acked[i] = response.json()["data"]["version"]
            except httpx.HTTPError:
                pass
            i += 1
        for client in clients:
            client.close()


def test_kill_leader_during_writes_loses_nothing_acknowledged(cluster: LocalCluster) -> None:
    writer = Writer(cluster)
    writer.start()
    time.sleep(1.5)
    old_leader = cluster.wait_leader()
    old_leader.kill()
    killed_at = time.monotonic()
    survivors = [n for n in cluster.nodes if n is not old_leader]
    new_leader = cluster.wait_leader(timeout=15.0, among=survivors)
    election_s = time.monotonic() - killed_at
    time.sleep(1.5)
    writer.stop_flag.set()
    writer.join(10)
    assert new_leader is not old_leader
    assert election_s < 10.0, f"no new leader for {election_s:.1f}s"
    old_leader.start()
    cluster.unseal(old_leader)
    wait_converged(cluster)
    assert len(writer.acked) > 10
    for node in cluster.nodes:
        with node.client(cluster.root_token) as client:
            for i in writer.attempted:
                response = client.get(f"/v1/secret/data/stream/k{i}")
                if i in writer.acked:
                    assert response.status_code == 200, (node.node_id, i)
                if response.status_code == 200:  # unacknowledged: all or nothing
                    assert response.json()["data"]["data"] == {"i": i}
    print(f"\nnew leader elected {election_s:.2f}s after kill -9; "
          f"{len(writer.acked)} writes acknowledged")
    cluster.stop()
    assert len(set(digests(cluster).values())) == 1


def test_restarted_follower_catches_up(cluster: LocalCluster) -> None:
    follower = cluster.followers()[0]
    follower.stop()
    leader = cluster.wait_leader()
    with leader.client(cluster.root_token) as client:
        for i in range(40):
            assert client.post(f"/v1/secret/data/catchup/{i}", json={"data": {"i": i}}) \
                .status_code == 200
        index = client.post("/v1/secret/data/catchup/last", json={"data": {"ok": 1}}) \
            .headers["x-vault-index"]
    follower.start()
    cluster.unseal(follower)
    with follower.client(cluster.root_token) as client:
        read = client.get("/v1/secret/data/catchup/last",
                          headers={"X-Vault-Index": index, "X-Vault-Inconsistent": "fail"})
        deadline = time.monotonic() + 10
        while read.status_code == 412 and time.monotonic() < deadline:
            read = client.get("/v1/secret/data/catchup/last", headers={"X-Vault-Index": index})
        assert read.json()["data"]["data"] == {"ok": 1}
        assert client.get("/v1/secret/data/catchup/39").json()["data"]["data"] == {"i": 39}


def test_cut_off_follower_reports_staleness_and_converges(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    follower = cluster.followers()[0]
    others = [n.node_id for n in cluster.nodes if n is not follower]
    cluster.block(follower, others)
    time.sleep(3.0)  # > max_staleness_s
    with leader.client(cluster.root_token) as client:
        index = client.post("/v1/secret/data/part/x", json={"data": {"v": 1}}) \
            .headers["x-vault-index"]
    with follower.client(cluster.root_token) as client:
        stale = client.get("/v1/secret/data/part/x")
        assert stale.status_code == 503
        assert "has not heard from a leader" in stale.json()["errors"][0]
        assert client.get("/v1/secret/data/part/x",
                          headers={"X-Vault-Index": index}).status_code == 412
    cluster.heal()
    deadline = time.monotonic() + 15
    with follower.client(cluster.root_token) as client:
        while time.monotonic() < deadline:
            read = client.get("/v1/secret/data/part/x", headers={"X-Vault-Index": index})
            if read.status_code == 200:
                break
            time.sleep(0.3)
        assert read.json()["data"]["data"] == {"v": 1}


def test_minority_leader_acknowledges_nothing(cluster: LocalCluster) -> None:
    old_leader = cluster.wait_leader()
    others = [n for n in cluster.nodes if n is not old_leader]
    cluster.block(old_leader, [n.node_id for n in others])
    with old_leader.client(cluster.root_token, timeout=10.0) as client:
        deadline = time.monotonic() + 5  # until the cut is in force on the old leader
        while time.monotonic() < deadline:
            servers = client.get("/v1/sys/storage/raft/autopilot/state").json()["data"][
                "servers"]
            if not any(servers[n.node_id]["healthy"] for n in others):
                break
            time.sleep(0.05)
        response = client.post("/v1/secret/data/minority/w", json={"data": {"lost": True}})
    assert response.status_code in (502, 503), response.text
    new_leader = cluster.wait_leader(timeout=15.0, among=others)
    with new_leader.client(cluster.root_token) as client:
        assert client.post("/v1/secret/data/minority/ok", json={"data": {"v": 1}}) \
            .status_code == 200
    cluster.heal()
    wait_converged(cluster)
    for node in cluster.nodes:
        with node.client(cluster.root_token) as client:
            assert client.get("/v1/secret/data/minority/w").status_code == 404
            assert client.get("/v1/secret/data/minority/ok").status_code == 200


def test_node_with_a_certificate_from_another_ca_cannot_join(
        cluster: LocalCluster, tmp_path: Path) -> None:
    from strongbox.testing import CertificateAuthority, free_port

    rogue_ca = CertificateAuthority.create(tmp_path / "rogue", "rogue CA")
    rogue_tls = rogue_ca.issue(tmp_path / "rogue", "node-4")
    peers = ", ".join(f'"{n.node_id}=127.0.0.1:{port}"'
                      for n, port in zip(cluster.nodes, cluster.cluster_ports, strict=True))
    rogue = ServerProcess(tmp_path / "node-4", rogue_tls, extra_config=(
        f'\n[cluster]\naddress = "127.0.0.1:{free_port()}"\npeers = [{peers}]\n'
        f'tls_ca_file = "{rogue_tls.ca_cert}"\ntls_cert_file = "{rogue_tls.cert}"\n'
        f'tls_key_file = "{rogue_tls.key}"\n'), node_id="node-4")
    with rogue:
        time.sleep(3.0)
        leader = cluster.wait_leader()
        with leader.client(cluster.root_token) as client:
            servers = client.get("/v1/sys/storage/raft/configuration").json()["data"][
                "config"]["servers"]
            assert "node-4" not in {s["node_id"] for s in servers}
            assert client.post("/v1/secret/data/ca/ok", json={"data": {"v": 1}}) \
                .status_code == 200
        with rogue.client() as client:
            assert client.get("/v1/sys/seal-status").json()["initialized"] is False


def test_node_with_empty_data_dir_catches_up_by_snapshot(tmp_path: Path) -> None:
    import shutil

    from tests.cluster.conftest import make_cluster

    cluster = make_cluster(tmp_path / "c", snapshot_threshold=20)
    try:
        follower = cluster.followers()[0]
        follower.stop()
        shutil.rmtree(follower.data_dir)
        leader = cluster.wait_leader()
        with leader.client(cluster.root_token) as client:
            for i in range(60):
                assert client.post(f"/v1/secret/data/snap/{i}", json={"data": {"i": i}}) \
                    .status_code == 200
        assert (leader.data_dir / "raft" / "snapshot.bin").exists()
        follower.start()
        cluster.unseal(follower)  # waits until the snapshot brought the cluster's init
        wait_converged(cluster)
        with follower.client(cluster.root_token) as client:
            assert client.get("/v1/secret/data/snap/59").json()["data"]["data"] == {"i": 59}
            assert client.get("/v1/secret/data/snap/0").json()["data"]["data"] == {"i": 0}
        cluster.stop()
        assert len(set(digests(cluster).values())) == 1
    finally:
        cluster.stop()


def test_retry_with_the_same_idempotency_key_after_a_leader_change_returns_the_first_result(
        cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    headers = {"Idempotency-Key": "payment-7"}
    with leader.client(cluster.root_token) as client:
        first = client.post("/v1/secret/data/idem/pay", json={"data": {"amount": 7}},
                            headers=headers)
    assert first.status_code == 200
    leader.kill()
    survivors = [n for n in cluster.nodes if n is not leader]
    new_leader = cluster.wait_leader(timeout=15.0, among=survivors)
    with new_leader.client(cluster.root_token) as client:
        retry = client.post("/v1/secret/data/idem/pay", json={"data": {"amount": 7}},
                            headers=headers)
        assert retry.status_code == 200
        assert retry.json()["data"]["version"] == first.json()["data"]["version"] == 1
        assert retry.headers["x-vault-index"] == first.headers["x-vault-index"]
        assert client.get("/v1/secret/metadata/idem/pay").json()["data"][
            "current_version"] == 1
