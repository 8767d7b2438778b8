"""Init, unseal, seal and restart of a real node process (TLS, LMDB on disk)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from strongbox.testing import ServerProcess, TlsFiles

pytestmark = pytest.mark.integration


def test_new_node_is_uninitialized_and_sealed(fresh_server: ServerProcess) -> None:
    with fresh_server.client() as client:
        assert client.get("/v1/sys/init").json() == {"initialized": False}
        status = client.get("/v1/sys/seal-status").json()
        assert status["initialized"] is False and status["sealed"] is True
        assert client.get("/v1/sys/health").status_code == 501
        response = client.get("/v1/secret/data/x", headers={"X-Vault-Token": "anything"})
        assert response.status_code == 503
        assert "not initialized" in response.json()["errors"][0]


def test_init_returns_shares_once_and_rejects_second_init(fresh_server: ServerProcess) -> None:
    with fresh_server.client() as client:
        body = client.put("/v1/sys/init",
                          json={"secret_shares": 5, "secret_threshold": 3}).json()
        assert len(body["keys"]) == 5 and len(set(body["keys"])) == 5
        assert [base64.b64decode(k).hex() for k in body["keys_base64"]] == body["keys"]
        assert all(len(bytes.fromhex(k)) == 33 for k in body["keys"])
        assert body["root_token"].startswith("sbs.")
        again = client.put("/v1/sys/init", json={"secret_shares": 1, "secret_threshold": 1})
        assert again.status_code == 400
        assert "already initialized" in again.json()["errors"][0]
        status = client.get("/v1/sys/seal-status").json()
        assert (status["t"], status["n"], status["sealed"]) == (3, 5, True)


@pytest.mark.parametrize("body", [
    {"secret_shares": 0, "secret_threshold": 0},
    {"secret_shares": 3, "secret_threshold": 4},
    {"secret_shares": 3, "secret_threshold": 1},
    {"secret_shares": 256, "secret_threshold": 2},
    {"secret_shares": "3", "secret_threshold": 2},
    {"secret_shares": 3},
    {"secret_shares": 3, "secret_threshold": 2, "pgp_keys": ["a", "b", "c"]},
])
def test_bad_init_requests_are_400_and_leave_node_uninitialized(
        fresh_server: ServerProcess, body: dict[str, object]) -> None:
    with fresh_server.client() as client:
        response = client.put("/v1/sys/init", json=body)
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]
        assert client.get("/v1/sys/init").json() == {"initialized": False}


def test_unseal_progress_duplicate_wrong_set_and_reset(fresh_server: ServerProcess) -> None:
    with fresh_server.client() as client:
        keys = client.put("/v1/sys/init",
                          json={"secret_shares": 3, "secret_threshold": 2}).json()["keys"]
        first = client.put("/v1/sys/unseal", json={"key": keys[0]}).json()
        assert first["sealed"] and first["progress"] == 1 and first["nonce"]
        duplicate = client.put("/v1/sys/unseal", json={"key": keys[0]})
        assert duplicate.status_code == 400 and "already submitted" in duplicate.text
        reset = client.put("/v1/sys/unseal", json={"reset": True}).json()
        assert reset["progress"] == 0 and reset["nonce"] == ""
        # A forged share of the right shape: combine succeeds but yields the wrong key.
        forged = bytes.fromhex(keys[1])
        forged = bytes([forged[0] ^ 1]) + forged[1:]
        client.put("/v1/sys/unseal", json={"key": keys[0]})
        wrong = client.put("/v1/sys/unseal", json={"key": forged.hex()})
        assert wrong.status_code == 400
        assert "do not reconstruct" in wrong.json()["errors"][0]
        assert keys[0] not in wrong.text and forged.hex() not in wrong.text
        status = client.get("/v1/sys/seal-status").json()
        assert status["sealed"] and status["progress"] == 0
        # base64 shares are accepted too.
        b64 = [base64.b64encode(bytes.fromhex(k)).decode() for k in keys]
        client.put("/v1/sys/unseal", json={"key": b64[2]})
        assert client.put("/v1/sys/unseal", json={"key": b64[1]}).json()["sealed"] is False


@pytest.mark.parametrize("key", ["zz-not-a-share", "abcd", "", "00" * 40, 12])
def test_malformed_unseal_keys_are_400(fresh_server: ServerProcess, key: object) -> None:
    with fresh_server.client() as client:
        client.put("/v1/sys/init", json={"secret_shares": 3, "secret_threshold": 2})
        response = client.put("/v1/sys/unseal", json={"key": key})
        assert response.status_code == 400, response.text
        assert client.get("/v1/sys/seal-status").json()["progress"] == 0


def test_restart_is_sealed_keeps_data_and_unseals_with_same_shares(
        fresh_server: ServerProcess) -> None:
    keys, root = fresh_server.init_and_unseal(shares=3, threshold=2)
    with fresh_server.client(root) as client:
        for i in range(5):
            assert client.post(f"/v1/secret/data/app/{i}",
                               json={"data": {"n": i}}).status_code == 200
    fresh_server.stop()
    fresh_server.start()
    with fresh_server.client(root) as client:
        assert client.get("/v1/sys/seal-status").json()["sealed"] is True
        sealed = client.get("/v1/secret/data/app/1")
        assert sealed.status_code == 503 and "sealed" in sealed.json()["errors"][0]
    assert fresh_server.unseal([keys[2], keys[0]])["sealed"] is False
    with fresh_server.client(root) as client:
        assert [client.get(f"/v1/secret/data/app/{i}").json()["data"]["data"]["n"]
                for i in range(5)] == list(range(5))


def test_kill_minus_9_loses_no_acknowledged_write(fresh_server: ServerProcess) -> None:
    keys, root = fresh_server.init_and_unseal()
    acknowledged = []
    with fresh_server.client(root) as client:
        for i in range(30):
            if client.post(f"/v1/secret/data/k{i}", json={"data": {"i": i}}).status_code == 200:
                acknowledged.append(i)
    fresh_server.kill()
    fresh_server.start()
    fresh_server.unseal(keys[:1])
    with fresh_server.client(root) as client:
        for i in acknowledged:
            assert client.get(f"/v1/secret/data/k{i}").json()["data"]["data"] == {"i": i}
        # The log keeps going at fresh indexes after replay.
        assert client.post("/v1/secret/data/after", json={"data": {"ok": True}}).status_code \
            == 200
        assert client.get("/v1/secret/data/after").json()["data"]["data"] == {"ok": True}


def test_seal_endpoint_drops_keys_and_needs_shares_again(fresh_server: ServerProcess) -> None:
    keys, root = fresh_server.init_and_unseal(shares=1, threshold=1)
    with fresh_server.client(root) as client:
        client.post("/v1/secret/data/s", json={"data": {"a": "b"}})
        assert client.put("/v1/sys/seal").status_code == 204
        assert client.get("/v1/secret/data/s").status_code == 503
        assert client.get("/v1/sys/health").status_code == 503
    fresh_server.unseal(keys)
    with fresh_server.client(root) as client:
        assert client.get("/v1/secret/data/s").json()["data"]["data"] == {"a": "b"}


def test_rotate_adds_kek_term_and_old_versions_still_decrypt(fresh_server: ServerProcess) -> None:
    keys, root = fresh_server.init_and_unseal()
    with fresh_server.client(root) as client:
        client.post("/v1/secret/data/r", json={"data": {"v": 1}})
        before = client.get("/v1/sys/key-status").json()["data"]
        assert before["term"] == 1
        assert client.put("/v1/sys/rotate").status_code == 204
        assert client.get("/v1/sys/key-status").json()["data"]["term"] == 2
        client.post("/v1/secret/data/r", json={"data": {"v": 2}})
        assert client.get("/v1/secret/data/r?version=1").json()["data"]["data"] == {"v": 1}
        assert client.get("/v1/secret/data/r").json()["data"]["data"] == {"v": 2}
    fresh_server.stop()
    fresh_server.start()
    fresh_server.unseal(keys)
    with fresh_server.client(root) as client:
        assert client.get("/v1/secret/data/r?version=1").json()["data"]["data"] == {"v": 1}
        assert client.get("/v1/sys/key-status").json()["data"]["term"] == 2


def test_single_node_compacts_its_journal_and_restarts_from_the_snapshot(
        tmp_path: Path, tls: TlsFiles) -> None:
    server = ServerProcess(tmp_path / "data", tls,
                           extra_config="[cluster]\nsnapshot_threshold = 10\n")
    with server:
        keys, root = server.init_and_unseal()
        with server.client(root) as client:
            for i in range(40):
                client.post(f"/v1/secret/data/compact/{i}", json={"data": {"i": i}})
        assert (tmp_path / "data" / "raft" / "snapshot.bin").exists()
        server.stop()
        server.start()
        server.unseal(keys)
        with server.client(root) as client:
            assert client.get("/v1/secret/data/compact/39").json()["data"]["data"] == {"i": 39}
            assert client.post("/v1/secret/data/compact/new", json={"data": {"n": 1}}) \
                .status_code == 200
            assert client.get("/v1/secret/data/compact/new").json()["data"]["data"] == {"n": 1}
