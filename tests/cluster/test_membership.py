"""Run-time membership: a new node joins through retry_join; remove-peer takes one out."""

from __future__ import annotations

import time

import pytest

from strongbox.testing import LocalCluster

pytestmark = pytest.mark.cluster


def server_ids(cluster: LocalCluster) -> set[str]:
    leader = cluster.wait_leader()
    with leader.client(cluster.root_token) as client:
        servers = client.get("/v1/sys/storage/raft/configuration").json()["data"]["config"][
            "servers"]
    return {s["node_id"] for s in servers}


def wait_for(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise TimeoutError("condition not reached")


def test_new_node_joins_replicates_and_can_be_removed(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    with leader.client(cluster.root_token) as client:
        client.post("/v1/secret/data/member/before", json={"data": {"v": 1}})
    newcomer = cluster.add_node("node-4")
    wait_for(lambda: "node-4" in server_ids(cluster))
    cluster.unseal(newcomer)
    with newcomer.client(cluster.root_token) as client:
        # The explicit API does what retry_join did: asking again is harmless.
        assert client.post("/v1/sys/storage/raft/join", json={}).json() == {"joined": True}
        wait_for(lambda: client.get("/v1/secret/data/member/before").status_code == 200)
        assert client.get("/v1/secret/data/member/before").json()["data"]["data"] == {"v": 1}
        assert client.post("/v1/secret/data/member/from-4", json={"data": {"v": 4}}) \
            .status_code == 200
    follower = next(n for n in cluster.followers() if n is not newcomer)
    with follower.client(cluster.root_token) as client:  # a follower forwards the removal
        removed = client.post("/v1/sys/storage/raft/remove-peer", json={"server_id": "node-4"})
        assert removed.status_code == 204, removed.text
        missing = client.post("/v1/sys/storage/raft/remove-peer",
                              json={"server_id": "node-99"})
        assert missing.status_code == 404
    wait_for(lambda: "node-4" not in server_ids(cluster))
    with cluster.wait_leader().client(cluster.root_token) as client:
        assert client.post("/v1/secret/data/member/after", json={"data": {"v": 2}}) \
            .status_code == 200
