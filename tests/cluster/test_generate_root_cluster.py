"""generate-root across a cluster: the attempt is replicated, so each share may go to a
different node, and the token made at the end works on every node."""

from __future__ import annotations

import base64

import pytest

from strongbox.testing import LocalCluster

pytestmark = pytest.mark.cluster


def test_shares_given_to_different_nodes_complete_one_attempt(
        shared_cluster: LocalCluster) -> None:
    leader = shared_cluster.wait_leader()
    first, second = shared_cluster.followers()[:2]
    with leader.client() as raw:
        started = raw.put("/v1/sys/generate-root/attempt", json={})
        assert started.status_code == 200, started.text
        attempt, index = started.json(), started.headers["x-vault-index"]
    with first.client() as raw:  # X-Vault-Index: see the attempt, however far behind
        seen = raw.get("/v1/sys/generate-root/attempt", headers={"X-Vault-Index": index})
        assert seen.json()["nonce"] == attempt["nonce"]
        one = raw.put("/v1/sys/generate-root/update", headers={"X-Vault-Index": index},
                      json={"key": shared_cluster.keys[0], "nonce": attempt["nonce"]})
        assert one.status_code == 200 and one.json()["progress"] == 1, one.text
        index = one.headers["x-vault-index"]
    with second.client() as raw:
        dup = raw.put("/v1/sys/generate-root/update", headers={"X-Vault-Index": index},
                      json={"key": shared_cluster.keys[0], "nonce": attempt["nonce"]})
        assert dup.status_code == 400  # the same share, on another node: counted once
        done = raw.put("/v1/sys/generate-root/update", headers={"X-Vault-Index": index},
                       json={"key": shared_cluster.keys[1], "nonce": attempt["nonce"]})
        assert done.status_code == 200, done.text
        encoded, index = done.json()["encoded_token"], done.headers["x-vault-index"]
    raw_bytes = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    token = bytes(a ^ b for a, b in zip(raw_bytes, attempt["otp"].encode(),
                                        strict=True)).decode()
    for node in shared_cluster.nodes:
        with node.client(token) as c:
            looked = c.get("/v1/auth/token/lookup-self", headers={"X-Vault-Index": index})
            assert looked.status_code == 200 and looked.json()["data"]["policies"] == ["root"]
            assert c.get("/v1/sys/generate-root/attempt").json()["started"] is False
