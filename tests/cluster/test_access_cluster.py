"""Access control across three real nodes: every rule holds cluster-wide because every
state change (a secret id's use, a failed login, a token's use, a namespace) goes
through the Raft log; batch tokens need no replication at all."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from strongbox.testing import LocalCluster, ServerProcess

pytestmark = pytest.mark.cluster


def call(node: ServerProcess, token: str | None, method: str, path: str,
         **kwargs: Any) -> httpx.Response:
    with node.client(token) as client:
        return client.request(method, path, **kwargs)


def eventually(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_a_single_use_secret_id_logs_in_once_even_on_two_followers_at_once(
        shared_cluster: LocalCluster) -> None:
    leader, root = shared_cluster.wait_leader(), shared_cluster.root_token
    assert call(leader, root, "POST", "/v1/sys/auth/approle-c",
                json={"type": "approle"}).status_code == 204
    assert call(leader, root, "POST", "/v1/auth/approle-c/role/job",
                json={"token_policies": ["default"], "secret_id_num_uses": 1}).status_code == 204
    role_id = call(leader, root, "GET", "/v1/auth/approle-c/role/job/role-id").json()["data"][
        "role_id"]
    issued = call(leader, root, "POST", "/v1/auth/approle-c/role/job/secret-id")
    index = issued.headers["x-vault-index"]
    secret_id = issued.json()["data"]["secret_id"]
    results: list[int] = []

    def login(node: ServerProcess) -> None:
        results.append(call(node, None, "POST", "/v1/auth/approle-c/login",
                            json={"role_id": role_id, "secret_id": secret_id},
                            headers={"X-Vault-Index": index}).status_code)

    threads = [threading.Thread(target=login, args=(n,)) for n in shared_cluster.followers()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400]


def test_a_batch_token_works_on_every_node_without_replication(
        shared_cluster: LocalCluster) -> None:
    leader, root = shared_cluster.wait_leader(), shared_cluster.root_token
    created = call(leader, root, "POST", "/v1/auth/token/create",
                   json={"type": "batch", "policies": ["default"], "ttl": "10m"})
    assert "x-vault-index" not in created.headers  # nothing was written
    token = created.json()["auth"]["client_token"]
    for node in shared_cluster.nodes:
        me = call(node, token, "GET", "/v1/auth/token/lookup-self")
        assert me.status_code == 200 and me.json()["data"]["type"] == "batch"


def test_a_limited_use_token_counts_its_uses_across_nodes(shared_cluster: LocalCluster) -> None:
    leader, root = shared_cluster.wait_leader(), shared_cluster.root_token
    created = call(leader, root, "POST", "/v1/auth/token/create",
                   json={"num_uses": 3, "policies": ["default"]})
    token, index = created.json()["auth"]["client_token"], created.headers["x-vault-index"]
    codes = [call(node, token, "GET", "/v1/auth/token/lookup-self",
                  headers={"X-Vault-Index": index}).status_code
             for node in shared_cluster.nodes]
    assert codes == [200, 200, 200]
    for node in shared_cluster.nodes:
        assert eventually(lambda n=node: call(n, token, "GET", "/v1/auth/token/lookup-self")
                          .status_code == 403)


def test_a_lockout_on_one_node_holds_on_the_others(shared_cluster: LocalCluster) -> None:
    leader, root = shared_cluster.wait_leader(), shared_cluster.root_token
    first, second = shared_cluster.followers()
    assert call(leader, root, "POST", "/v1/sys/auth/userpass-c",
                json={"type": "userpass"}).status_code == 204
    made = call(leader, root, "POST", "/v1/auth/userpass-c/users/bob",
                json={"password": "right-password"})
    index = made.headers["x-vault-index"]
    codes = [call(first, None, "POST", "/v1/auth/userpass-c/login/bob",
                  json={"password": "wrong"}, headers={"X-Vault-Index": index}).status_code
             for _ in range(5)]
    assert codes == [400, 400, 400, 400, 403]
    locked = eventually(lambda: call(second, None, "POST", "/v1/auth/userpass-c/login/bob",
                                     json={"password": "right-password"}).status_code == 403)
    assert locked, "the other follower let the locked user in"


def test_deleting_a_namespace_on_a_follower_revokes_its_tokens_everywhere(
        shared_cluster: LocalCluster) -> None:
    leader, root = shared_cluster.wait_leader(), shared_cluster.root_token
    follower = shared_cluster.followers()[0]
    assert call(leader, root, "POST", "/v1/sys/namespaces/tenant-c").status_code == 200
    created = call(leader, root, "POST", "/v1/auth/token/create",
                   headers={"X-Vault-Namespace": "tenant-c"}, json={"policies": ["default"]})
    token, index = created.json()["auth"]["client_token"], created.headers["x-vault-index"]
    for node in shared_cluster.nodes:
        assert call(node, token, "GET", "/v1/auth/token/lookup-self",
                    headers={"X-Vault-Namespace": "tenant-c",
                             "X-Vault-Index": index}).status_code == 200
    assert call(follower, root, "DELETE", "/v1/sys/namespaces/tenant-c").status_code == 204
    for node in shared_cluster.nodes:
        assert eventually(lambda n=node: call(n, token, "GET", "/v1/auth/token/lookup-self")
                          .status_code in (403, 404))
