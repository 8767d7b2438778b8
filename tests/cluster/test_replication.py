"""Three nodes: the leader takes writes, followers serve reads, any node accepts writes."""

from __future__ import annotations

import base64
import time

import pytest

from strongbox.testing import LocalCluster

pytestmark = pytest.mark.cluster


def test_write_on_leader_read_on_every_follower_with_index(shared_cluster: LocalCluster) -> None:
    leader = shared_cluster.wait_leader()
    with leader.client(shared_cluster.root_token) as client:
        written = client.post("/v1/secret/data/repl/a", json={"data": {"v": "leader"}})
        assert written.status_code == 200
        index = written.headers["x-vault-index"]
    cluster_id, _, raft_index = base64.b64decode(index).decode().rpartition(":")
    assert cluster_id and int(raft_index) > 0
    for follower in shared_cluster.followers():
        with follower.client(shared_cluster.root_token) as client:
            read = client.get("/v1/secret/data/repl/a", headers={"X-Vault-Index": index})
            assert read.status_code == 200, read.text
            assert read.json()["data"]["data"] == {"v": "leader"}


def test_write_on_follower_is_forwarded_and_visible_everywhere(
        shared_cluster: LocalCluster) -> None:
    follower = shared_cluster.followers()[0]
    with follower.client(shared_cluster.root_token) as client:
        written = client.post("/v1/secret/data/repl/b", json={"data": {"v": follower.node_id}})
        assert written.status_code == 200, written.text
        index = written.headers["x-vault-index"]
    for node in shared_cluster.nodes:
        with node.client(shared_cluster.root_token) as client:
            assert client.get("/v1/secret/data/repl/b", headers={"X-Vault-Index": index}) \
                .json()["data"]["data"] == {"v": follower.node_id}


def test_health_leader_and_configuration_report_the_truth(shared_cluster: LocalCluster) -> None:
    leader = shared_cluster.wait_leader()
    with leader.client() as client:
        assert client.get("/v1/sys/health").status_code == 200
        info = client.get("/v1/sys/leader").json()
        assert info["is_self"] is True and info["leader_address"] == leader.addr
    for follower in shared_cluster.followers():
        with follower.client(shared_cluster.root_token) as client:
            assert client.get("/v1/sys/health").status_code == 473
            assert client.get("/v1/sys/health?standbyok=true").status_code == 200
            assert client.get("/v1/sys/health?performancestandbycode=299").status_code == 299
            info = client.get("/v1/sys/leader").json()
            assert info["is_self"] is False and info["leader_address"] == leader.addr
            servers = client.get("/v1/sys/storage/raft/configuration").json()["data"]["config"][
                "servers"]
            assert sorted(s["node_id"] for s in servers) == ["node-1", "node-2", "node-3"]
            assert [s["node_id"] for s in servers if s["leader"]] == [leader.node_id]
            state = client.get("/v1/sys/storage/raft/autopilot/state").json()["data"]
            assert state["leader"] == leader.node_id and len(state["servers"]) == 3
            expected = {n.node_id: n.addr for n in shared_cluster.nodes}
            deadline = time.monotonic() + 20
            while True:  # each peer's API address arrives with its cluster Hello
                servers = client.get("/v1/sys/storage/raft/configuration").json()["data"][
                    "config"]["servers"]
                if {s["node_id"]: s["api_address"] for s in servers} == expected:
                    break
                assert time.monotonic() < deadline, servers
                time.sleep(0.1)


def test_forward_and_consistent_reads_on_a_follower(shared_cluster: LocalCluster) -> None:
    leader = shared_cluster.wait_leader()
    with leader.client(shared_cluster.root_token) as client:
        client.post("/v1/secret/data/repl/c", json={"data": {"n": 1}})
    follower = shared_cluster.followers()[0]
    with follower.client(shared_cluster.root_token) as client:
        forwarded = client.get("/v1/sys/leader", headers={"X-Vault-Forward": "active-node"})
        assert forwarded.json()["is_self"] is True  # answered by the leader
        consistent = client.get("/v1/secret/data/repl/c",
                                headers={"X-Strongbox-Consistency": "consistent"})
        assert consistent.json()["data"]["data"] == {"n": 1}


def test_index_from_the_future_gives_412_or_forwards(shared_cluster: LocalCluster) -> None:
    follower = shared_cluster.followers()[0]
    with follower.client(shared_cluster.root_token) as client:
        cluster_id = client.get("/v1/sys/health").json()["cluster_id"]
        future = base64.b64encode(f"{cluster_id}:99999999".encode()).decode()
        stale = client.get("/v1/secret/data/repl/a", headers={"X-Vault-Index": future})
        assert stale.status_code == 412
        assert "X-Vault-Inconsistent" in stale.json()["errors"][0]
        garbage = client.get("/v1/secret/data/repl/a", headers={"X-Vault-Index": "%%%"})
        assert garbage.status_code == 400


def test_idempotency_key_returns_the_first_result(shared_cluster: LocalCluster) -> None:
    follower = shared_cluster.followers()[0]
    headers = {"Idempotency-Key": "order-42"}
    with follower.client(shared_cluster.root_token) as client:
        first = client.post("/v1/secret/data/repl/idem", json={"data": {"n": 1}},
                            headers=headers)
        again = client.post("/v1/secret/data/repl/idem", json={"data": {"n": 1}},
                            headers=headers)
        assert first.status_code == again.status_code == 200
        assert first.json()["data"]["version"] == again.json()["data"]["version"] == 1
        assert first.headers["x-vault-index"] == again.headers["x-vault-index"]
        other = client.post("/v1/secret/data/repl/idem", json={"data": {"n": 2}},
                            headers=headers)
        assert other.status_code == 422
        assert client.get("/v1/secret/metadata/repl/idem").json()["data"][
            "current_version"] == 1


def test_a_sealed_follower_still_replicates(cluster: LocalCluster) -> None:
    follower = cluster.followers()[0]
    with follower.client(cluster.root_token) as client:
        assert client.put("/v1/sys/seal").status_code == 204
        assert client.get("/v1/secret/data/repl/sealed").status_code == 503
    leader = cluster.wait_leader()
    with leader.client(cluster.root_token) as client:
        index = client.post("/v1/secret/data/repl/sealed", json={"data": {"v": 1}}) \
            .headers["x-vault-index"]
        raft_index = int(base64.b64decode(index).decode().rpartition(":")[2])
    with follower.client() as client:
        deadline = time.monotonic() + 10
        while client.get("/v1/sys/health?sealedcode=200").json()["raft_applied_index"] \
                < raft_index:
            assert time.monotonic() < deadline, "a sealed follower stopped replicating"
            time.sleep(0.1)
    follower.unseal(cluster.keys)
    with follower.client(cluster.root_token) as client:
        assert client.get("/v1/secret/data/repl/sealed", headers={"X-Vault-Index": index}) \
            .json()["data"]["data"] == {"v": 1}


def test_step_down_from_a_follower_moves_leadership(cluster: LocalCluster) -> None:
    old = cluster.wait_leader()
    follower = cluster.followers()[0]
    with follower.client(cluster.root_token) as client:
        response = client.put("/v1/sys/step-down")
        assert response.status_code == 204, response.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if cluster.wait_leader() is not old:
            break
        time.sleep(0.2)
    new = cluster.wait_leader()
    assert new is not old
    with new.client(cluster.root_token) as client:
        assert client.post("/v1/secret/data/repl/after-step-down", json={"data": {"v": 1}}) \
            .status_code == 200
