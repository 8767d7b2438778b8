"""sys/storage/raft/snapshot: save on one node, restore through Raft on every node."""

from __future__ import annotations

import time

import pytest

from strongbox.testing import LocalCluster

pytestmark = pytest.mark.cluster


def test_snapshot_save_and_restore_across_the_cluster(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    follower = cluster.followers()[0]
    with leader.client(cluster.root_token) as client:
        client.post("/v1/secret/data/snap/keep", json={"data": {"v": "before"}})
    with follower.client(cluster.root_token) as client:
        saved = client.get("/v1/sys/storage/raft/snapshot")
        assert saved.status_code == 200
        assert saved.headers["content-type"] == "application/octet-stream"
        snapshot = saved.content
    with leader.client(cluster.root_token) as client:
        client.post("/v1/secret/data/snap/keep", json={"data": {"v": "after"}})
        client.post("/v1/secret/data/snap/new", json={"data": {"v": 1}})
        bad = client.post("/v1/sys/storage/raft/snapshot", content=snapshot[:-5] + b"xxxxx")
        assert bad.status_code == 400 and "not a valid" in bad.json()["errors"][0]
        restored = client.post("/v1/sys/storage/raft/snapshot", content=snapshot)
        assert restored.status_code == 204, restored.text
        index = client.post("/v1/secret/data/snap/marker", json={"data": {"m": 1}}) \
            .headers["x-vault-index"]
    deadline = time.monotonic() + 10
    for node in cluster.nodes:
        with node.client(cluster.root_token) as client:
            while time.monotonic() < deadline:
                if client.get("/v1/secret/data/snap/marker",
                              headers={"X-Vault-Index": index}).status_code == 200:
                    break
                time.sleep(0.2)
            assert client.get("/v1/secret/data/snap/keep").json()["data"]["data"] == \
                {"v": "before"}
            assert client.get("/v1/secret/data/snap/new").status_code == 404


def test_snapshot_requires_a_root_token(shared_cluster: LocalCluster) -> None:
    with shared_cluster.nodes[0].client() as client:
        assert client.get("/v1/sys/storage/raft/snapshot").status_code == 403
