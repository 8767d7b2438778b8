"""Three nodes with two API processes each: writes that land on a follower's read worker
go worker -> its main process -> the leader; reads with X-Vault-Index see them on every
process of every node; a cut-off follower refuses stale reads on every process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from strongbox.testing import LocalCluster
from tests.cluster.conftest import make_cluster
from tests.waiting import wait_until

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    made = make_cluster(tmp_path_factory.mktemp("workers-cluster"), workers=2)
    try:
        for node in made.nodes:  # every node's worker is up and unsealed
            wait_until(lambda node=node: all(  # type: ignore[misc]
                _get(node, made.root_token, "/v1/sys/health?standbyok=true") == 200
                for _ in range(6)), f"{node.node_id} to serve on every process")
        yield made
    finally:
        made.stop()


def _get(node: object, token: str, path: str) -> int:
    with node.client(token) as client:  # type: ignore[attr-defined]
        return int(client.get(path).status_code)


def test_writes_on_a_follower_reach_the_leader_and_every_process_reads_them(
        cluster: LocalCluster) -> None:
    follower = cluster.followers()[0]
    indexes = []
    for i in range(16):  # each on its own connection: main process and worker both take some
        with follower.client(cluster.root_token) as client:
            written = client.post(f"/v1/secret/data/wk/{i}", json={"data": {"v": i}})
            assert written.status_code == 200, written.text
            indexes.append(written.headers["x-vault-index"])
    for node in cluster.nodes:
        for i, index in enumerate(indexes):
            with node.client(cluster.root_token) as client:
                read = client.get(f"/v1/secret/data/wk/{i}", headers={"X-Vault-Index": index})
                assert read.status_code == 200, (node.node_id, read.text)
                assert read.json()["data"]["data"] == {"v": i}


def test_a_cut_off_follower_stops_serving_stale_reads_on_every_process(
        cluster: LocalCluster) -> None:
    follower = cluster.followers()[0]
    token = cluster.root_token
    with cluster.wait_leader().client(token) as client:
        assert client.post("/v1/secret/data/wk/stale", json={"data": {"v": 1}}).status_code \
            == 200
    wait_until(lambda: all(_get(follower, token, "/v1/secret/data/wk/stale") == 200
                           for _ in range(10)), "the follower to have the secret")
    others = [node.node_id for node in cluster.nodes if node is not follower]
    cluster.block(follower, others)
    try:  # max_staleness_s = 2: the workers learn the contact age from the main process
        wait_until(lambda: all(_get(follower, token, "/v1/secret/data/wk/stale") == 503
                               for _ in range(10)), "every process to refuse stale reads")
    finally:
        cluster.heal()
    wait_until(lambda: all(_get(follower, token, "/v1/secret/data/wk/stale") == 200
                           for _ in range(10)), "every process to serve again")
