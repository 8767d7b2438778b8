"""The operations the Helm chart documents, on three real node processes: a rolling upgrade
(followers first, the leader last) under an SDK client's read and write load, and scaling
3 -> 5 -> 3 through Raft join and remove-peer.

A "new release" here is a process replaced with a changed config file on the same data
directory (one binary exists on this machine); SIGTERM makes a leader hand leadership over
before it stops, as the chart's termination does.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from strongbox.client import Client, errors
from strongbox.testing import LocalCluster, ServerProcess
from tests.cluster.test_sdk_cluster import Load, sdk, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("sdk_env")]
DEADLINE_S = 90.0


def _caught_up(node: ServerProcess, root: str, path: str) -> bool:
    """Unsealed and serving the secret at `path` (it has replicated up to it)."""
    try:
        with Client(address=node.addr, token=root, cacert=str(node.tls.ca_cert),
                    timeout=3.0, retries=0) as pinned:
            return pinned.kv.v2.read(path, consistency="stale") is not None
    except errors.ClientError:
        return False


def _replace(cluster: LocalCluster, node: ServerProcess, release: int, path: str) -> None:
    node.stop()  # SIGTERM: a leader steps down first
    node.extra_config += f"\n# release {release}\n"
    node.start()
    cluster.unseal(node, timeout=DEADLINE_S)
    wait_for(lambda: _caught_up(node, cluster.root_token, path),
             f"{node.node_id} serving again", timeout=DEADLINE_S)


def test_rolling_upgrade_followers_first_leader_last_fails_no_read(
        cluster: LocalCluster) -> None:
    path = "rolling/app"
    acked: list[int] = []
    with sdk(cluster) as writer, sdk(cluster) as reader:
        writer.kv.v2.write(path, {"i": -1})
        acked.append(1)

        def write(i: int) -> None:
            acked.append(int(writer.kv.v2.write(path, {"i": i})["data"]["version"]))  # type: ignore[index]

        def read(i: int) -> None:
            assert reader.kv.v2.read(path) is not None  # read_your_writes, the default

        writes, reads = Load(write), Load(read)
        writes.start()
        reads.start()
        wait_for(lambda: reads.done > 30 and writes.done > 5, "load before the upgrade",
                 loads=(reads,))
        leader = cluster.wait_leader()
        order = [n for n in cluster.nodes if n is not leader] + [leader]
        started = time.monotonic()
        for release, node in enumerate(order, start=2):
            at = reads.done, writes.done
            _replace(cluster, node, release, path)
            wait_for(lambda a=at: reads.done > a[0] + 20 and writes.done > a[1] + 3,
                     f"load after replacing {node.node_id}", loads=(reads,))
        upgrade_s = time.monotonic() - started
        reads.finish()
        writes.finish()
        assert reads.errors == [], reads.errors[:3]
        assert all(isinstance(e, errors.OutcomeUnknown) for e in writes.errors), writes.errors
        meta = writer.kv.v2.read_metadata(path)
        assert meta is not None
        current = int(meta["data"]["current_version"])
        assert sorted(acked) == list(range(1, len(acked) + 1)), "a version acknowledged twice"
        assert len(acked) <= current <= len(acked) + len(writes.errors)
    new_leader = cluster.wait_leader()
    assert new_leader is not leader or len(cluster.nodes) == 1
    print(f"rolling upgrade of 3 nodes: {upgrade_s:.1f}s, {reads.done} reads, 0 failed, "
          f"{writes.done} writes, {len(writes.errors)} with an unknown outcome")


def _voters(client: Client) -> set[str]:
    config = client.read("sys/storage/raft/configuration")
    assert config is not None
    return {s["node_id"] for s in config["data"]["config"]["servers"]}


def test_scaling_three_to_five_and_back(cluster: LocalCluster, tmp_path: Path) -> None:
    with sdk(cluster) as client:
        client.kv.v2.write("scale/before", {"v": "1"})
        added = [cluster.add_node("node-4"), cluster.add_node("node-5")]
        wait_for(lambda: {"node-4", "node-5"} <= _voters(client), "five voters",
                 timeout=DEADLINE_S)
        for node in added:
            cluster.unseal(node, timeout=DEADLINE_S)
            wait_for(lambda n=node: _caught_up(n, cluster.root_token, "scale/before"),
                     f"{node.node_id} caught up", timeout=DEADLINE_S)
        client.kv.v2.write("scale/five", {"v": "5"})
        for node in reversed(added):  # scale down: remove the peer first, then stop it
            client.write("sys/storage/raft/remove-peer", {"server_id": node.node_id})
            wait_for(lambda n=node: n.node_id not in _voters(client),
                     f"{node.node_id} removed", timeout=DEADLINE_S)
            node.stop()
        assert _voters(client) == {"node-1", "node-2", "node-3"}
        client.kv.v2.write("scale/after", {"v": "3"})
        for node in cluster.nodes[:3]:
            wait_for(lambda n=node: _caught_up(n, cluster.root_token, "scale/after"),
                     f"{node.node_id} has the write made after scaling down",
                     timeout=DEADLINE_S)
