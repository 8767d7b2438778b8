"""sys/health's `laggingcode` and `replication_lagging` on real nodes (StrongBox extension).

A follower cut off from its peers stops hearing from the leader; past
`cluster.max_staleness_s` (2 s in these clusters) it reports `replication_lagging` and
answers `laggingcode`, and recovers when the partition heals. Waits poll with deadlines.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from strongbox.api.sys_seal import MAX_APPLY_LAG, replication_lagging
from strongbox.raft.log import RaftStatus
from strongbox.testing import LocalCluster, ServerProcess

pytestmark = pytest.mark.cluster
READINESS = "/v1/sys/health?standbyok=true&perfstandbyok=true&sealedcode=503&uninitcode=503"


def status(*, leader: bool = False, contact_ms: int = 100, commit: int = 1000) -> RaftStatus:
    return RaftStatus(node_id="n", address="a:1", is_leader=leader, leader_id=None,
                      leader_address=None, leader_api_addr=None, term=3,
                      commit_index=commit, applied_index=commit,
                      last_leader_contact_ms=contact_ms, peers=())


@pytest.mark.parametrize(("raft", "applied", "lagging"), [
    (status(leader=True, contact_ms=0, commit=5000), 0, False),  # the leader never lags
    (status(contact_ms=100), 1000, False),
    (status(contact_ms=100), 1000 - MAX_APPLY_LAG, False),       # within the bound
    (status(contact_ms=100), 999 - MAX_APPLY_LAG, True),         # catching up
    (status(contact_ms=2001), 1000, True),                       # past max_staleness_s
    (status(contact_ms=-1), 1000, True),                         # never heard from a leader
])
def test_lagging_is_stale_contact_or_a_large_apply_gap(raft: RaftStatus, applied: int,
                                                        lagging: bool) -> None:
    assert replication_lagging(raft, applied, max_staleness_s=2.0) is lagging


def health(node: ServerProcess, query: str) -> httpx.Response:
    with node.client() as client:
        return client.get(query)


def wait_for(check: Any, what: str, timeout: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer is not None:
            return answer  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.2)


def ready(node: ServerProcess) -> httpx.Response | None:
    """The readiness answer (with laggingcode) when it is 200, else None."""
    answer = health(node, READINESS + "&laggingcode=503")
    return answer if answer.status_code == 200 else None


def test_caught_up_nodes_are_ready_and_not_lagging(cluster: LocalCluster) -> None:
    leader = cluster.wait_leader()
    for node in cluster.nodes:
        answer = wait_for(lambda n=node: ready(n), f"{node.node_id} ready")
        assert answer.json()["replication_lagging"] is False
    assert health(leader, "/v1/sys/health?laggingcode=503").status_code == 200


def test_cut_off_follower_is_lagging_until_healed(cluster: LocalCluster) -> None:
    cluster.wait_leader()
    follower = cluster.followers()[0]
    cluster.block(follower, [n.node_id for n in cluster.nodes if n is not follower])

    def lagging() -> httpx.Response | None:
        answer = health(follower, READINESS + "&laggingcode=503")
        return answer if answer.json()["replication_lagging"] else None

    answer = wait_for(lagging, "the cut-off follower to report lagging")
    assert answer.status_code == 503
    # Without laggingcode nothing changes: Vault's codes, as before the extension.
    assert health(follower, READINESS).status_code == 200
    assert health(follower, "/v1/sys/health").status_code == 473
    assert health(follower, "/v1/sys/health?laggingcode=299").status_code == 299
    cluster.heal()
    healed = wait_for(lambda: ready(follower), "the healed follower to catch up")
    assert healed.json()["replication_lagging"] is False


def test_laggingcode_outside_the_status_range_is_refused(cluster: LocalCluster) -> None:
    node = cluster.wait_leader()
    assert health(node, "/v1/sys/health?laggingcode=42").status_code == 400
    assert health(node, "/v1/sys/health?laggingcode=600").status_code == 400
