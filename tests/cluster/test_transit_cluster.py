"""Transit on a real three-node cluster: a rotation on the leader is seen by every
follower's decrypt at once with read-your-writes (X-Vault-Index), followers encrypt
and decrypt on their own, and the encryption counters add up across nodes."""

from __future__ import annotations

import base64

import httpx

from strongbox.testing import LocalCluster, ServerProcess


def call(node: ServerProcess, token: str, path: str, body: dict[str, object] | None = None,
         index: str | None = None, method: str = "POST") -> httpx.Response:
    headers = {"X-Vault-Index": index} if index else {}
    with node.client(token) as c:
        return c.request(method, "/v1/" + path, json=body, headers=headers)


def raft_index(header: str) -> int:
    """The Raft index inside an X-Vault-Index value (base64 of "<cluster>:<index>")."""
    return int(base64.b64decode(header).decode().rsplit(":", 1)[1])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_rotate_on_the_leader_is_seen_by_follower_decrypts_at_once(
        shared_cluster: LocalCluster) -> None:
    leader, root = shared_cluster.wait_leader(), shared_cluster.root_token
    assert call(leader, root, "sys/mounts/transit", {"type": "transit"}).status_code == 204
    created = call(leader, root, "transit/keys/app")
    assert created.status_code == 200, created.text
    for round_ in range(3):
        rotated = call(leader, root, "transit/keys/app/rotate")
        assert rotated.status_code == 200, rotated.text
        index = rotated.headers["x-vault-index"]
        version = round_ + 2
        for follower in shared_cluster.followers():
            out = call(follower, root, "transit/encrypt/app", {"plaintext": b64(b"p")},
                       index=index)
            assert out.status_code == 200, out.text
            ciphertext = out.json()["data"]["ciphertext"]
            assert ciphertext.startswith(f"vault:v{version}:")
            # and the leader (and the other follower) decrypt what a follower made
            for node in shared_cluster.nodes:
                back = call(node, root, "transit/decrypt/app", {"ciphertext": ciphertext},
                            index=out.headers.get("x-vault-index") or index)
                assert back.status_code == 200, back.text
                assert base64.b64decode(back.json()["data"]["plaintext"]) == b"p"


def test_counts_from_every_node_add_up(shared_cluster: LocalCluster) -> None:
    leader, root = shared_cluster.wait_leader(), shared_cluster.root_token
    call(leader, root, "sys/mounts/transit-count", {"type": "transit"})
    index = call(leader, root, "transit-count/keys/k").headers["x-vault-index"]
    last = index
    for node in shared_cluster.nodes:
        for _ in range(3):
            out = call(node, root, "transit-count/encrypt/k", {"plaintext": b64(b"x")},
                       index=index)
            assert out.status_code == 200, out.text
            last = max(last, out.headers.get("x-vault-index", last), key=raft_index)
    info = call(leader, root, "transit-count/keys/k", method="GET", index=last)
    count = info.json()["data"]["encryption_count"]["1"]
    # an upper bound: each node reserves in doubling blocks (1, 2, 4, 8 for 3 encryptions)
    # and the next block ahead, so at most 3 + 8 + 8 per node
    assert 9 <= count <= 3 * 19
