"""Fast answers in a minority, revocations applied on a quorum, consistent follower
snapshots and the full-disk route, on real three-node clusters (and one real node)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strongbox.testing import LocalCluster, ServerProcess, make_tls

pytestmark = pytest.mark.cluster


def timed_write(client: httpx.Client, path: str) -> tuple[httpx.Response, float]:
    start = time.monotonic()
    response = client.post(path, json={"data": {"v": 1}})
    return response, time.monotonic() - start


def wait_for(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError(what)


def test_writes_in_a_minority_answer_503_fast(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    survivor = leader
    for node in cluster.nodes:
        if node is not leader:
            node.kill()
    with survivor.client(cluster.root_token, timeout=15.0) as client:
        response, took = timed_write(client, "/v1/secret/data/minority/a")
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert took < 3.0, f"answered after {took:.2f}s"
        # and the next one, to a node that knows no leader now, at once
        response, took = timed_write(client, "/v1/secret/data/minority/b")
        assert response.status_code == 503 and took < 3.0, (response.status_code, took)


def test_a_partitioned_leader_stops_taking_writes_quickly(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    others = [n.node_id for n in cluster.nodes if n is not leader]
    cluster.block(leader, others)
    try:
        with leader.client(cluster.root_token, timeout=15.0) as client:
            # the first write may land before the cut is noticed; what matters is that
            # none hangs and the ex-leader refuses within about an election timeout
            deadline = time.monotonic() + 5.0
            while True:
                response, took = timed_write(client, "/v1/secret/data/cut/x")
                assert took < 3.0, f"a write to the cut-off leader took {took:.2f}s"
                if response.status_code == 503:
                    break
                assert time.monotonic() < deadline, "the cut-off leader kept taking writes"
        survivors = [n for n in cluster.nodes if n is not leader]
        new_leader = cluster.wait_leader(among=survivors, timeout=10.0)
        with new_leader.client(cluster.root_token) as client:
            assert client.post("/v1/secret/data/cut/y", json={"data": {"v": 2}}) \
                .status_code == 200
    finally:
        cluster.heal()


def test_a_revoked_token_is_refused_on_a_majority_when_the_revoke_answers(
        cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    followers = [n for n in cluster.nodes if n is not leader]
    for round_ in range(5):
        with leader.client(cluster.root_token) as client:
            created = client.post("/v1/auth/token/create", json={"policies": ["default"]})
            token = created.json()["auth"]["client_token"]
        # the token works on both followers (once they have applied its creation)
        for node in followers:
            with node.client(token) as client:
                assert client.get("/v1/auth/token/lookup-self", headers={
                    "X-Vault-Index": created.headers["x-vault-index"]}).status_code == 200
        with leader.client(cluster.root_token) as client:
            response = client.post("/v1/auth/token/revoke", json={"token": token})
            assert response.status_code == 204
            index = response.headers["x-vault-index"]
        refused = 0
        for node in followers:
            with node.client(token) as client:
                if client.get("/v1/auth/token/lookup-self").status_code == 403:
                    refused += 1
        assert refused >= 1, f"round {round_}: no follower refused the revoked token"
        # with the revocation's index, every node refuses it
        for node in followers:
            with node.client(token) as client:
                status = client.get("/v1/auth/token/lookup-self",
                                    headers={"X-Vault-Index": index}).status_code
                assert status == 403, status


def test_a_follower_snapshot_holds_what_the_leader_acknowledged(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    with leader.client(cluster.root_token) as writer, \
            follower.client(cluster.root_token, timeout=30.0) as reader:
        for i in range(5):
            written = writer.post(f"/v1/secret/data/snap/{i}", json={"data": {"i": i}})
            assert written.status_code == 200
            health = writer.get("/v1/sys/health").json()
            snapshot = reader.get("/v1/sys/storage/raft/snapshot")
            assert snapshot.status_code == 200
            held = int(snapshot.headers["x-strongbox-snapshot-index"])
            # everything the leader had applied when it answered is in the snapshot
            assert held >= health["raft_applied_index"], (held, health)


def test_digests_match_at_one_applied_index(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    with leader.client(cluster.root_token) as client:
        for i in range(10):
            assert client.post(f"/v1/secret/data/dg/{i}", json={"data": {"i": i}}) \
                .status_code == 200

    def same() -> bool:
        seen = set()
        for node in cluster.nodes:
            with node.client(cluster.root_token) as client:
                body = client.get("/v1/sys/storage/raft/digest").json()["data"]
                seen.add((body["applied_index"], body["digest"]))
        return len(seen) == 1

    wait_for(same, 20.0, "replica digests never agreed at one index")
    with cluster.nodes[0].client() as client:   # sudo, and never without a token
        assert client.get("/v1/sys/storage/raft/digest").status_code in (400, 403)


# --- a real full disk (a small tmpfs), one node --------------------------------------


def _can_mount() -> bool:
    return os.geteuid() == 0 and shutil.which("mount") is not None


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if not _can_mount():
        pytest.skip("mounting a tmpfs needs root")  # CI runs as root
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(mount: Path, leave_bytes: int) -> Path:
    """Fill the file system until about `leave_bytes` stay free."""
    stat = os.statvfs(mount)
    free = stat.f_bavail * stat.f_frsize
    filler = mount / "filler"
    with open(filler, "ab") as f:
        f.truncate(0)
        remaining = max(0, free - leave_bytes)
        chunk = b"\0" * 2**20
        while remaining > 0:
            try:
                f.write(chunk[: min(len(chunk), remaining)])
                f.flush()
            except OSError:
                break
            remaining -= min(len(chunk), remaining)
    return filler


def start_node(tmp_path: Path, data_dir: Path, min_free_mb: int
               ) -> tuple[ServerProcess, list[str], str]:
    tls = make_tls(tmp_path / "tls")
    node = ServerProcess(data_dir, tls, extra_config=f"[storage]\nmap_size_mb = 64\n"
                                                     f"min_free_mb = {min_free_mb}\n")
    node.start()
    keys, token = node.init_and_unseal()
    return node, keys, token


def test_a_full_disk_refuses_writes_with_507_and_recovers_by_itself(tmp_path: Path,
                                                                    small_disk: Path) -> None:
    node, _, token = start_node(tmp_path, small_disk / "data", min_free_mb=8)
    try:
        with node.client(token) as client:
            assert client.post("/v1/secret/data/before", json={"data": {"v": 1}}) \
                .status_code == 200
            filler = fill(small_disk, 4 * 2**20)
            pid = node.pid

            def refused() -> bool:
                return client.post("/v1/secret/data/during", json={"data": {"v": 2}}) \
                    .status_code == 507

            wait_for(refused, 10.0, "writes were not refused on a full disk")
            response = client.post("/v1/secret/data/during", json={"data": {"v": 2}})
            assert response.headers["retry-after"] == "5"
            assert "disk space" in response.json()["errors"][0]
            assert client.get("/v1/secret/data/before").status_code == 200  # reads go on
            filler.unlink()

            def accepted() -> bool:
                return client.post("/v1/secret/data/after", json={"data": {"v": 3}}) \
                    .status_code == 200

            wait_for(accepted, 15.0, "writes did not resume after space came back")
            assert node.pid == pid and node.proc is not None and node.proc.poll() is None
            assert client.get("/v1/secret/data/before").json()["data"]["data"] == {"v": 1}
    finally:
        node.stop()


def test_an_io_error_past_the_guard_stops_the_node_with_70_and_loses_nothing(
        tmp_path: Path, small_disk: Path) -> None:
    node, keys, token = start_node(tmp_path, small_disk / "data", min_free_mb=0)  # guard off
    acked: dict[int, int] = {}
    try:
        with node.client(token, timeout=5.0) as client:
            filler = fill(small_disk, 256 * 1024)
            for i in range(2000):
                try:
                    response = client.post(f"/v1/secret/data/k{i}",
                                           json={"data": {"blob": "x" * 4096, "i": i}})
                except httpx.HTTPError:
                    break
                if response.status_code == 200:
                    acked[i] = response.json()["data"]["version"]
                assert response.status_code in (200, 503, 507, 500), response.text
            assert node.proc is not None
            code = node.proc.wait(timeout=30)
            assert code == 70, f"exit code {code}"
            log = node.log_path.read_text()
            assert "stopping (exit code 70)" in log
        node.proc = None
        filler.unlink()
        node.start()
        node.unseal(keys)
        with node.client(token) as client:
            for i, version in acked.items():
                body = client.get(f"/v1/secret/data/k{i}").json()["data"]
                assert body["data"]["i"] == i and body["metadata"]["version"] == version
    finally:
        node.stop()


def test_a_follower_back_from_a_partition_does_not_depose_the_leader(
        cluster: LocalCluster) -> None:
    """Pre-vote: the cut-off follower never raises its term, so healing changes nothing."""
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n is not leader)

    before = _term(leader, cluster.root_token)
    cluster.block(follower, [n.node_id for n in cluster.nodes if n is not follower])
    time.sleep(4.0)  # a hold time, not a wait: several election timeouts on the far side
    cluster.heal()
    with leader.client(cluster.root_token) as client:
        def caught_up() -> bool:
            return client.post("/v1/secret/data/healed", json={"data": {"v": 1}}) \
                .status_code == 200 and _term(follower, cluster.root_token) == before
        wait_for(caught_up, 15.0, "the healed follower did not rejoin at the leader's term")
    assert cluster.wait_leader() is leader
    assert _term(leader, cluster.root_token) == before


def _term(node: ServerProcess, token: str) -> int:
    with node.client(token) as client:
        body = client.get("/v1/sys/metrics", params={"format": "prometheus"}).text
    for line in body.splitlines():
        if line.startswith("strongbox_raft_term "):
            return int(float(line.split()[1]))
    raise AssertionError("no strongbox_raft_term in the metrics")


def test_a_partitioned_follower_answers_writes_503_fast(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    follower = next(n for n in cluster.nodes if n is not leader)
    cluster.block(follower, [n.node_id for n in cluster.nodes if n is not follower])
    try:
        with follower.client(cluster.root_token, timeout=15.0) as client:
            deadline = time.monotonic() + 6.0
            while True:
                response, took = timed_write(client, "/v1/secret/data/cutf/x")
                assert took < 3.0, f"a write to the cut-off follower took {took:.2f}s"
                if response.status_code == 503:
                    assert response.headers["retry-after"] == "1"
                    break
                assert time.monotonic() < deadline, "the cut-off follower never refused"
    finally:
        cluster.heal()


def test_a_token_made_on_the_leader_works_at_once_on_followers_with_its_index(
        shared_cluster: LocalCluster) -> None:
    """Found by the campaign: a follower checked the token before waiting for the index
    the client sent, so a token created a moment ago on the leader was refused (403)."""
    cluster = shared_cluster
    leader = cluster.wait_leader()
    followers = [n for n in cluster.nodes if n is not leader]
    refused = []
    with leader.client(cluster.root_token) as writer:
        clients = [f.client() for f in followers]
        try:
            for i in range(60):
                created = writer.post("/v1/auth/token/create",
                                      json={"policies": ["default"], "ttl": "5m"})
                token = created.json()["auth"]["client_token"]
                index = created.headers["x-vault-index"]
                for client in clients:
                    answer = client.get("/v1/auth/token/lookup-self", headers={
                        "X-Vault-Token": token, "X-Vault-Index": index})
                    if answer.status_code != 200:
                        refused.append((i, answer.status_code))
        finally:
            for client in clients:
                client.close()
    assert refused == []
    # a made-up token still gets the plain 403, and does not get to wait
    with followers[0].client() as client:
        answer = client.get("/v1/auth/token/lookup-self", headers={
            "X-Vault-Token": "hvs.madeup", "X-Vault-Index": index})
        assert answer.status_code == 403
