"""The KV v2 HTTP API of a real node, checked against Vault's documented behaviour."""

from __future__ import annotations

import itertools

import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration
_names = itertools.count()


def fresh_path() -> str:
    return f"kvtest/p{next(_names)}"


def test_write_read_versions_and_envelope(node: ReadyNode) -> None:
    path = fresh_path()
    with node.root as c:
        first = c.post(f"/v1/secret/data/{path}", json={"data": {"user": "a", "n": 1}})
        assert first.status_code == 200
        assert first.json()["data"]["version"] == 1 and first.json()["data"]["destroyed"] is False
        assert first.headers["x-vault-index"]
        c.post(f"/v1/secret/data/{path}", json={"data": {"user": "b"}})
        latest = c.get(f"/v1/secret/data/{path}").json()
        assert latest["data"]["data"] == {"user": "b"}
        assert latest["data"]["metadata"]["version"] == 2
        assert set(latest) >= {"request_id", "lease_id", "renewable", "lease_duration", "data",
                               "wrap_info", "warnings", "auth"}
        assert c.get(f"/v1/secret/data/{path}?version=1").json()["data"]["data"] == \
            {"user": "a", "n": 1}
        assert c.get(f"/v1/secret/data/{path}?version=9").status_code == 404
        assert c.get("/v1/secret/data/kvtest/never-written").json() == {"errors": []}


def test_check_and_set(node: ReadyNode) -> None:
    path = fresh_path()
    with node.root as c:
        assert c.post(f"/v1/secret/data/{path}",
                      json={"data": {"a": 1}, "options": {"cas": 0}}).status_code == 200
        again = c.post(f"/v1/secret/data/{path}", json={"data": {"a": 2}, "options": {"cas": 0}})
        assert again.status_code == 400
        assert again.json()["errors"] == [
            "check-and-set parameter did not match the current version"]
        assert c.post(f"/v1/secret/data/{path}",
                      json={"data": {"a": 2}, "options": {"cas": 1}}).status_code == 200
        assert c.get(f"/v1/secret/data/{path}").json()["data"]["data"] == {"a": 2}
        c.post(f"/v1/secret/metadata/{path}", json={"cas_required": True})
        required = c.post(f"/v1/secret/data/{path}", json={"data": {"a": 3}})
        assert required.status_code == 400 and "check-and-set" in required.json()["errors"][0]


def test_patch_is_json_merge_patch(node: ReadyNode) -> None:
    path = fresh_path()
    with node.root as c:
        c.post(f"/v1/secret/data/{path}", json={"data": {"a": 1, "b": {"c": 2, "d": 3}}})
        headers = {"Content-Type": "application/merge-patch+json"}
        patched = c.patch(f"/v1/secret/data/{path}", headers=headers,
                          json={"data": {"a": None, "b": {"c": 5}, "e": "new"}})
        assert patched.status_code == 200 and patched.json()["data"]["version"] == 2
        assert c.get(f"/v1/secret/data/{path}").json()["data"]["data"] == \
            {"b": {"c": 5, "d": 3}, "e": "new"}
        wrong_type = c.patch(f"/v1/secret/data/{path}", json={"data": {"a": 1}})
        assert wrong_type.status_code == 415
        missing = c.patch("/v1/secret/data/kvtest/missing-patch", headers=headers,
                          json={"data": {"a": 1}})
        assert missing.status_code == 404


def test_delete_undelete_destroy(node: ReadyNode) -> None:
    path = fresh_path()
    with node.root as c:
        for i in range(3):
            c.post(f"/v1/secret/data/{path}", json={"data": {"i": i}})
        assert c.delete(f"/v1/secret/data/{path}").status_code == 204
        deleted = c.get(f"/v1/secret/data/{path}")
        assert deleted.status_code == 404
        assert deleted.json()["data"]["metadata"]["deletion_time"] != ""
        assert deleted.json()["data"]["data"] is None
        assert c.post(f"/v1/secret/undelete/{path}", json={"versions": [3]}).status_code == 204
        assert c.get(f"/v1/secret/data/{path}").json()["data"]["data"] == {"i": 2}
        assert c.post(f"/v1/secret/delete/{path}", json={"versions": [1, 2]}).status_code == 204
        assert c.get(f"/v1/secret/data/{path}?version=1").status_code == 404
        assert c.put(f"/v1/secret/destroy/{path}", json={"versions": [1]}).status_code == 204
        c.post(f"/v1/secret/undelete/{path}", json={"versions": [1, 2]})
        destroyed = c.get(f"/v1/secret/data/{path}?version=1")
        assert destroyed.status_code == 404
        assert destroyed.json()["data"]["metadata"]["destroyed"] is True
        assert c.get(f"/v1/secret/data/{path}?version=2").json()["data"]["data"] == {"i": 1}
        meta = c.get(f"/v1/secret/metadata/{path}").json()["data"]
        assert meta["versions"]["1"]["destroyed"] is True
        assert meta["current_version"] == 3


def test_metadata_max_versions_custom_metadata_and_delete(node: ReadyNode) -> None:
    path = fresh_path()
    with node.root as c:
        assert c.post(f"/v1/secret/metadata/{path}", json={
            "max_versions": 2, "delete_version_after": "1h",
            "custom_metadata": {"owner": "team-a"}}).status_code == 204
        for i in range(4):
            c.post(f"/v1/secret/data/{path}", json={"data": {"i": i}})
        meta = c.get(f"/v1/secret/metadata/{path}").json()["data"]
        assert sorted(meta["versions"]) == ["3", "4"]
        assert meta["oldest_version"] == 3 and meta["max_versions"] == 2
        assert meta["delete_version_after"] == "1h0m0s"
        assert meta["custom_metadata"] == {"owner": "team-a"}
        assert meta["versions"]["4"]["deletion_time"] != ""  # delete_version_after applied
        assert c.get(f"/v1/secret/data/{path}").json()["data"]["metadata"]["custom_metadata"] \
            == {"owner": "team-a"}
        assert c.patch(f"/v1/secret/metadata/{path}", headers={
            "Content-Type": "application/merge-patch+json"},
            json={"custom_metadata": {"env": "prod"}}).status_code == 204
        assert c.get(f"/v1/secret/metadata/{path}").json()["data"]["custom_metadata"] == \
            {"owner": "team-a", "env": "prod"}
        assert c.delete(f"/v1/secret/metadata/{path}").status_code == 204
        assert c.get(f"/v1/secret/metadata/{path}").status_code == 404
        assert c.get(f"/v1/secret/data/{path}?version=4").status_code == 404


def test_list_folders_and_keys(node: ReadyNode) -> None:
    with node.root as c:
        for name in ("list/a", "list/b/c", "list/b/d", "list/e"):
            c.post(f"/v1/secret/data/{name}", json={"data": {"x": 1}})
        listed = c.request("LIST", "/v1/secret/metadata/list").json()["data"]["keys"]
        assert listed == ["a", "b/", "e"]
        assert c.get("/v1/secret/metadata/list/?list=true").json()["data"]["keys"] == listed
        assert c.request("LIST", "/v1/secret/metadata/list/b").json()["data"]["keys"] == \
            ["c", "d"]
        assert c.request("LIST", "/v1/secret/metadata/nothing-here").status_code == 404


def test_subkeys_and_config(node: ReadyNode) -> None:
    path = fresh_path()
    with node.root as c:
        c.post(f"/v1/secret/data/{path}", json={"data": {"a": {"b": {"c": 1}}, "d": "x"}})
        assert c.get(f"/v1/secret/subkeys/{path}").json()["data"]["subkeys"] == \
            {"a": {"b": {"c": None}}, "d": None}
        assert c.get(f"/v1/secret/subkeys/{path}?depth=1").json()["data"]["subkeys"] == \
            {"a": None, "d": None}
        assert c.post("/v1/secret/config", json={"max_versions": 7}).status_code == 204
        config = c.get("/v1/secret/config").json()["data"]
        assert config["max_versions"] == 7 and config["cas_required"] is False
        c.post("/v1/secret/config", json={"max_versions": 0})


def test_destroy_protection_extension(node: ReadyNode) -> None:
    path = fresh_path()
    with node.root as c:
        c.post(f"/v1/secret/data/{path}", json={"data": {"a": 1}})
        c.post(f"/v1/secret/metadata/{path}", json={"destroy_protection": True})
        refused = c.put(f"/v1/secret/destroy/{path}", json={"versions": [1]})
        assert refused.status_code == 400 and "destroy_protection" in refused.text
        assert c.delete(f"/v1/secret/metadata/{path}").status_code == 400
        assert c.get(f"/v1/secret/data/{path}").json()["data"]["data"] == {"a": 1}


def test_security_headers_and_request_id(node: ReadyNode) -> None:
    with node.client() as c:
        response = c.get("/v1/sys/health")
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'"
        assert "max-age" in response.headers["strict-transport-security"]
        assert len(response.headers["x-request-id"]) == 36
        assert c.get("/v1/sys/health").headers["x-request-id"] != \
            response.headers["x-request-id"]


def test_tokens_are_checked_on_every_request(node: ReadyNode) -> None:
    with node.client() as c:
        assert c.get("/v1/secret/data/x").status_code == 403
        assert c.get("/v1/secret/data/x", headers={"X-Vault-Token": "sbs.wrong"}).json() == \
            {"errors": ["permission denied"]}
        bearer = c.get("/v1/sys/key-status",
                       headers={"Authorization": f"Bearer {node.root_token}"})
        assert bearer.status_code == 200
        assert c.put("/v1/sys/rotate", headers={"X-Vault-Token": "nope"}).status_code == 403
