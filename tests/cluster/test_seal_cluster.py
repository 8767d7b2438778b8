"""Auto-unseal on a real three-node cluster: every node restarted at once unseals with
no human; and a migration shamir -> auto seal -> shamir, node by node, while a client
keeps reading with zero failed reads. Run with the static seal and with a real SoftHSM2
token (PKCS#11) when it is installed (CI installs it)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongbox.client import Client
from strongbox.testing import LocalCluster, ServerProcess
from tests.cluster.conftest import FAST, LIMITS

SEAL_KINDS = ["static", "pkcs11"]


@pytest.fixture(params=SEAL_KINDS)
def seal_config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "static":
        key = tmp_path / "seal.key"
        key.write_text(os.urandom(32).hex())
        yield f'\n[seal]\ntype = "static"\nkey_file = "{key}"\n'
        return
    from tests.softhsm import require_softhsm, softhsm_token

    require_softhsm()
    with softhsm_token(tmp_path / "hsm") as hsm:
        pin = tmp_path / "pin"
        pin.write_text(hsm.pin)
        yield (f'\n[seal]\ntype = "pkcs11"\nlib = "{hsm.library}"\n'
               f'token_label = "{hsm.token_label}"\nkey_label = "strongbox-unseal"\n'
               f'generate_key = true\npin_file = "{pin}"\n')


def seal_status(node: ServerProcess) -> dict[str, Any]:
    with node.client() as c:
        return dict(c.get("/v1/sys/seal-status").json())


def wait_all_unsealed(nodes: list[ServerProcess], deadline_s: float = 40) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if all(not seal_status(n)["sealed"] for n in nodes):
            return
        time.sleep(0.2)
    raise AssertionError(f"not all unsealed: {[seal_status(n) for n in nodes]}")


def migrate_unseal(cluster: LocalCluster, node: ServerProcess, keys: list[str],
                   deadline_s: float = 60) -> None:
    """Submit `keys` with migrate=true. A 503 (the restarted node's cluster had no leader
    to commit the migration in time, on a busy machine) resets the progress: wait for a
    leader and give the shares again, as key holders would, within a deadline."""
    end = time.monotonic() + deadline_s
    while True:
        with node.client() as c:
            codes = [c.put("/v1/sys/unseal", json={"key": key, "migrate": True}).status_code
                     for key in keys]
        if codes == [200] * len(keys):
            return
        assert 503 in codes and time.monotonic() < end, codes
        cluster.wait_leader(timeout=20)
        # a timed-out migration may still have committed: the node then unseals itself
        wait = time.monotonic() + 3
        while time.monotonic() < wait:
            current = seal_status(node)
            if not current["migration"]:  # committed after all
                if current["sealed"] and current["type"] == "shamir":
                    node.unseal(keys)
                return
            time.sleep(0.2)


def reconfigure(node: ServerProcess, base: str, seal: str) -> None:
    node.stop()
    node.extra_config = base + seal
    node.start()


def test_all_nodes_restarted_unseal_with_no_human(tmp_path: Path, seal_config: str) -> None:
    cluster = LocalCluster(tmp_path / "c", 3, extra_cluster_config=FAST,
                           extra_config=LIMITS + seal_config)
    cluster.start()
    try:
        leader = cluster.wait_leader()
        with leader.client() as c:
            body = c.put("/v1/sys/init", json={"recovery_shares": 3,
                                              "recovery_threshold": 2}).json()
        assert body["keys"] == [] and len(body["recovery_keys"]) == 3
        wait_all_unsealed(cluster.nodes)
        root = body["root_token"]
        with cluster.wait_leader().client(root) as c:
            assert c.put("/v1/secret/data/x", json={"data": {"v": "1"}}).status_code == 200
        started = time.monotonic()
        for node in cluster.nodes:
            node.stop()
        for node in cluster.nodes:
            node.start()
        wait_all_unsealed(cluster.nodes)
        print(f"\n{seal_config.split()[3]} seal: 3 nodes restarted and unsealed in "
              f"{time.monotonic() - started:.1f}s")
        with cluster.wait_leader().client(root) as c:
            assert c.get("/v1/secret/data/x").json()["data"]["data"] == {"v": "1"}
    finally:
        cluster.stop()


def test_migration_there_and_back_under_read_load(tmp_path: Path, seal_config: str) -> None:
    cluster = LocalCluster(tmp_path / "c", 3, extra_cluster_config=FAST, extra_config=LIMITS)
    cluster.start()
    keys, root = cluster.init_and_unseal(shares=3, threshold=2)
    bases = {n.node_id: n.extra_config for n in cluster.nodes}
    stop, reads, failures = threading.Event(), [0], []
    client = Client(address=[n.addr for n in cluster.nodes], token=root,
                    cacert=str(cluster.nodes[0].tls.ca_cert), timeout=8.0, retries=12)
    client.kv.v2.write("app/db", {"password": "p"})

    def reader() -> None:
        while not stop.is_set():
            try:
                assert client.kv.v2.read("app/db")["data"]["data"] == {"password": "p"}
                reads[0] += 1
            except Exception as exc:  # counted: the assertion is that none happen
                failures.append(repr(exc))
            time.sleep(0.02)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        first, *rest = cluster.nodes
        reconfigure(first, bases[first.node_id], seal_config)
        assert seal_status(first)["migration"] is True
        migrate_unseal(cluster, first, keys[:2])
        for node in rest:
            reconfigure(node, bases[node.node_id], seal_config)
        wait_all_unsealed(cluster.nodes)
        assert {seal_status(n)["type"] for n in cluster.nodes} == {seal_config.split()[3]
                                                                  .strip('"')}
        previous = seal_config.replace("[seal]", "[previous_seal]")
        reconfigure(first, bases[first.node_id], previous)
        migrate_unseal(cluster, first, keys[:2])  # the recovery keys are the old unseal keys
        for node in rest:
            reconfigure(node, bases[node.node_id], "")
            node.unseal(keys[1:3])
        wait_all_unsealed(cluster.nodes)
        assert {seal_status(n)["type"] for n in cluster.nodes} == {"shamir"}
    finally:
        stop.set()
        thread.join(timeout=30)
        client.close()
        cluster.stop()
    assert failures == [] and reads[0] > 10
