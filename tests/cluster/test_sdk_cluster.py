"""The client SDK against a real three-node cluster: follower reads keep working while a
node is killed, writes are never doubled by the client's retries, read-your-writes
holds across nodes under write load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from strongbox.client import Client, errors
from strongbox.testing import LocalCluster

pytestmark = [pytest.mark.cluster, pytest.mark.usefixtures("sdk_env")]
DEADLINE_S = 90.0


def sdk(cluster: LocalCluster, **kwargs: object) -> Client:
    return Client(address=[n.addr for n in cluster.nodes], token=cluster.root_token,
                  cacert=str(cluster.nodes[0].tls.ca_cert), timeout=8.0, retries=12,
                  **kwargs)  # type: ignore[arg-type]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S,
             loads: tuple[Load, ...] = ()) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        failed = [e for load in loads for e in load.errors if
                  not isinstance(e, errors.OutcomeUnknown)]
        assert not failed, failed
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(0.05)


class Load(threading.Thread):
    """Calls `step` until stopped; counts successes and keeps the errors."""

    def __init__(self, step: Callable[[int], None]) -> None:
        super().__init__(daemon=True)
        self.step = step
        self.done = 0
        self.errors: list[BaseException] = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop_flag.is_set():
            try:
                self.step(i)
                self.done += 1
            except Exception as exc:  # kept and asserted on by the test
                self.errors.append(exc)
            i += 1

    def finish(self) -> None:
        self.stop_flag.set()
        self.join(DEADLINE_S)


@pytest.fixture
def writer_reader(cluster: LocalCluster) -> Iterator[tuple[Client, Client]]:
    with sdk(cluster) as writer, sdk(cluster, discover=True) as reader:
        yield writer, reader


def _writes_and_reads(writer: Client, reader: Client, path: str,
                      acked: list[int]) -> tuple[Load, Load]:
    def write(i: int) -> None:
        body = writer.kv.v2.write(path, {"i": i})
        acked.append(int(body["data"]["version"]))  # type: ignore[index]

    def read(i: int) -> None:
        assert reader.kv.v2.read(path, consistency="stale") is not None
    writes, reads = Load(write), Load(read)
    writer.kv.v2.write(path, {"i": -1})
    acked.append(1)
    writes.start()
    reads.start()
    return writes, reads


def _check_versions(writer: Client, path: str, acked: list[int], writes: Load) -> None:
    meta = writer.kv.v2.read_metadata(path)
    assert meta is not None
    current = int(meta["data"]["current_version"])
    unknown = [e for e in writes.errors if isinstance(e, errors.OutcomeUnknown)]
    assert sorted(acked) == list(range(1, len(acked) + 1)), "a version was acknowledged twice"
    assert len(acked) <= current <= len(acked) + len(unknown)
    if not unknown:
        assert current == len(acked), "a retried write was applied twice"


def test_follower_killed_mid_run_reads_never_fail_and_no_write_is_doubled(
        cluster: LocalCluster, writer_reader: tuple[Client, Client]) -> None:
    writer, reader = writer_reader
    acked: list[int] = []
    writes, reads = _writes_and_reads(writer, reader, "sdkfail/follower", acked)
    wait_for(lambda: reads.done > 50 and writes.done > 10, "load before the kill",
             loads=(reads, writes))
    served_by = reader.read("secret/data/sdkfail/follower", consistency="stale")
    leader = cluster.wait_leader()
    sticky = reader.request("GET", "secret/data/sdkfail/follower", consistency="stale").node
    victim = next(n for n in cluster.nodes if n.addr == sticky)
    assert served_by is not None and victim is not leader  # reads prefer a follower
    victim.kill()
    at_kill = reads.done, writes.done
    wait_for(lambda: reads.done > at_kill[0] + 100 and writes.done > at_kill[1] + 20,
             "load after the kill", loads=(reads, writes))
    reads.finish()
    writes.finish()
    assert reads.errors == [] and writes.errors == []
    _check_versions(writer, "sdkfail/follower", acked, writes)


def test_leader_killed_mid_run_writes_are_retried_without_doubling(
        cluster: LocalCluster, writer_reader: tuple[Client, Client]) -> None:
    writer, reader = writer_reader
    acked: list[int] = []
    writes, reads = _writes_and_reads(writer, reader, "sdkfail/leader", acked)
    wait_for(lambda: reads.done > 50 and writes.done > 10, "load before the kill",
             loads=(reads, writes))
    old = cluster.wait_leader()
    old.kill()
    survivors = [n for n in cluster.nodes if n is not old]
    cluster.wait_leader(timeout=DEADLINE_S, among=survivors)
    at_election = writes.done
    wait_for(lambda: writes.done > at_election + 20, "writes after the election",
             loads=(reads,))
    reads.finish()
    writes.finish()
    assert reads.errors == []
    assert all(isinstance(e, errors.OutcomeUnknown) for e in writes.errors), writes.errors
    _check_versions(writer, "sdkfail/leader", acked, writes)


def test_read_your_writes_across_nodes_under_write_load(shared_cluster: LocalCluster) -> None:
    with sdk(shared_cluster) as client, sdk(shared_cluster) as noise:
        background = Load(lambda i: noise.kv.v2.write(f"sdkryw/noise{i % 20}", {"i": i}))
        background.start()
        try:
            nodes = [client.on_node(n.addr) for n in shared_cluster.nodes]
            for i in range(60):
                writer, reader = nodes[i % 3], nodes[(i + 1) % 3]
                version = writer.kv.v2.write("sdkryw/own", {"i": i})["data"]["version"]  # type: ignore[index]
                seen = reader.kv.v2.read("sdkryw/own")
                assert seen is not None
                assert seen["data"]["metadata"]["version"] >= version, (i, reader.addresses)
                assert seen["data"]["data"] == {"i": i}
        finally:
            background.finish()
        assert background.errors == [] and background.done > 0


def test_stale_and_linearizable_reads_on_every_node(shared_cluster: LocalCluster) -> None:
    with sdk(shared_cluster) as client:
        client.kv.v2.write("sdkryw/levels", {"v": 1})
        for node in shared_cluster.nodes:
            pinned = client.on_node(node.addr)
            lin = pinned.read("secret/data/sdkryw/levels", consistency="linearizable")
            assert lin is not None and lin["data"]["data"] == {"v": 1}
            health = pinned.sys.health()
            assert health is not None and health["sealed"] is False


def test_one_address_with_discovery_finds_every_member_and_survives_its_loss(
        cluster: LocalCluster) -> None:
    """Given one node, the client learns the leader (sys/leader) and every member's API
    address (sys/storage/raft/configuration), so it keeps reading when that node dies."""
    first = cluster.nodes[0]
    expected = sorted(n.addr for n in cluster.nodes)
    deadline = time.monotonic() + DEADLINE_S
    while True:  # members announce their API address in their cluster Hello
        with Client(address=first.addr, token=cluster.root_token, discover=True,
                    cacert=str(first.tls.ca_cert), timeout=8.0, retries=12) as probe:
            probe.kv.v2.write("sdkdisc/x", {"v": 1})
            if sorted(probe.addresses) == expected:
                break
        assert time.monotonic() < deadline, probe.addresses
        time.sleep(0.2)
    with Client(address=first.addr, token=cluster.root_token, discover=True,
                cacert=str(first.tls.ca_cert), timeout=8.0, retries=12) as client:
        assert client.kv.v2.read("sdkdisc/x") is not None
        assert sorted(client.addresses) == expected
        first.kill()
        for _ in range(20):
            assert client.kv.v2.read("sdkdisc/x", consistency="stale") is not None
