"""KV version 1 on a real node: mounting, hvac's kv.v1, raw HTTP edges, encryption at
rest, the upgrade to version 2, remounting and namespaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest

from strongbox.testing import TlsFiles
from tests.conftest import ReadyNode, create_token, ns, put_policy, ready_node

pytestmark = pytest.mark.integration


def hv(node: ReadyNode, token: str | None = None, namespace: str | None = None) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token or node.root_token,
                       verify=str(node.server.tls.ca_cert), namespace=namespace)


def mount(node: ReadyNode, path: str, namespace: str = "", **body: Any) -> None:
    with node.root as c:
        response = c.post(f"/v1/sys/mounts/{path}", json={"type": "kv", **body},
                          headers=ns(namespace) if namespace else {})
    assert response.status_code == 204, response.text


def mounts(node: ReadyNode, namespace: str = "") -> dict[str, Any]:
    with node.root as c:
        response = c.get("/v1/sys/mounts", headers=ns(namespace) if namespace else {})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def version_of(node: ReadyNode, path: str, namespace: str = "") -> str:
    options = mounts(node, namespace)[path + "/"]["options"] or {}
    version: str = options.get("version", "")
    return version


# --- enabling -----------------------------------------------------------------------


def test_kv_without_options_is_version_1(node: ReadyNode) -> None:
    root = hv(node)
    root.sys.enable_secrets_engine("kv", path="kv1")
    root.sys.enable_secrets_engine("kv", path="kv1-explicit", options={"version": "1"})
    root.sys.enable_secrets_engine("kv-v2", path="kv2-alias")
    listed = root.sys.list_mounted_secrets_engines()["data"]
    assert listed["kv1/"]["type"] == "kv" and listed["kv1/"]["options"]["version"] == "1"
    assert listed["kv1-explicit/"]["options"]["version"] == "1"
    assert listed["kv2-alias/"]["type"] == "kv"
    assert listed["kv2-alias/"]["options"]["version"] == "2"
    assert version_of(node, "kv1") == "1"


# --- hvac kv.v1 ---------------------------------------------------------------------


def test_hvac_v1_write_read_list_delete(node: ReadyNode) -> None:
    mount(node, "kv1-crud")
    kv = hv(node).secrets.kv.v1
    kv.create_or_update_secret(path="app/db", secret={"user": "svc", "password": "pw1"},
                               mount_point="kv1-crud")
    kv.create_or_update_secret(path="app/web/tls", secret={"cert": "c"},
                               mount_point="kv1-crud")
    kv.create_or_update_secret(path="app/api", secret={"k": "v"}, mount_point="kv1-crud")
    read = kv.read_secret(path="app/db", mount_point="kv1-crud")
    assert read["data"] == {"user": "svc", "password": "pw1"}
    assert read["lease_duration"] == 2764800
    assert read["renewable"] is False
    assert kv.list_secrets(path="app", mount_point="kv1-crud")["data"]["keys"] == \
        ["api", "db", "web/"]
    assert kv.list_secrets(path="app/web", mount_point="kv1-crud")["data"]["keys"] == ["tls"]
    assert kv.list_secrets(path="", mount_point="kv1-crud")["data"]["keys"] == ["app/"]
    # an overwrite replaces the whole object: no merge
    kv.create_or_update_secret(path="app/db", secret={"token": "t"}, mount_point="kv1-crud")
    assert kv.read_secret(path="app/db", mount_point="kv1-crud")["data"] == {"token": "t"}
    kv.delete_secret(path="app/db", mount_point="kv1-crud")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret(path="app/db", mount_point="kv1-crud")
    kv.delete_secret(path="app/db", mount_point="kv1-crud")  # deleting again is fine
    assert kv.list_secrets(path="app", mount_point="kv1-crud")["data"]["keys"] == \
        ["api", "web/"]


# --- raw HTTP edges -----------------------------------------------------------------


def test_raw_http_edges(node: ReadyNode) -> None:
    mount(node, "kv1-raw")
    with node.root as c:
        empty = c.put("/v1/kv1-raw/app/x", content=b"")
        assert empty.status_code == 400, empty.text
        assert empty.json()["errors"] and empty.json()["errors"][0]
        empty_object = c.put("/v1/kv1-raw/app/x", json={})
        assert empty_object.status_code == 400 and empty_object.json()["errors"]
        for body in (b"[1, 2]", b'"text"', b"null", b"{not json"):
            odd = c.put("/v1/kv1-raw/app/x", content=body,
                        headers={"Content-Type": "application/json"})
            assert odd.status_code == 400 and odd.json()["errors"], (body, odd.text)
        no_path = c.put("/v1/kv1-raw/", json={"a": "b"})
        assert no_path.status_code == 400 and no_path.json()["errors"], no_path.text
        assert c.get("/v1/kv1-raw/app/x").status_code == 404  # none of these wrote
        missing = c.get("/v1/kv1-raw/app/missing")
        assert missing.status_code == 404 and missing.json() == {"errors": []}
        assert c.request("LIST", "/v1/kv1-raw/empty/").status_code == 404
        assert c.request("LIST", "/v1/kv1-raw/").status_code == 404  # nothing in the mount
        assert c.put("/v1/kv1-raw/app/x", json={"a": "b"}).status_code == 204
        assert c.get("/v1/kv1-raw/app/x").json()["data"] == {"a": "b"}
        listed = c.request("LIST", "/v1/kv1-raw/app/")
        assert listed.status_code == 200 and listed.json()["data"]["keys"] == ["x"]
    with node.client() as anonymous:
        assert anonymous.get("/v1/kv1-raw/app/x").status_code == 403
        assert anonymous.put("/v1/kv1-raw/app/x", json={"a": "c"}).status_code == 403
    put_policy(node, "kv1-raw-read", 'path "kv1-raw/*" { capabilities = ["read"] }')
    reader = create_token(node, policies=["kv1-raw-read"])["client_token"]
    with node.client(reader) as c:
        assert c.get("/v1/kv1-raw/app/x").json()["data"] == {"a": "b"}
        assert c.put("/v1/kv1-raw/app/x", json={"a": "c"}).status_code == 403
        assert c.delete("/v1/kv1-raw/app/x").status_code == 403
        assert c.request("LIST", "/v1/kv1-raw/app/").status_code == 403
    with node.root as c:
        assert c.get("/v1/kv1-raw/app/x").json()["data"] == {"a": "b"}



def test_values_are_encrypted_at_rest(tmp_path: Path, tls: TlsFiles) -> None:
    plaintext = "PLAINTEXT-kv1-canary-7f3a9c1e"
    data_dir = tmp_path / "data"
    with ready_node(data_dir, tls) as ready:
        mount(ready, "kv1")
        with ready.root as c:
            assert c.put("/v1/kv1/canary", json={"value": plaintext}).status_code == 204
            assert c.get("/v1/kv1/canary").json()["data"] == {"value": plaintext}
        ready.server.stop()
        data_files = sorted(data_dir.rglob("data.mdb"))
        assert data_files, list(data_dir.rglob("*"))
        needle = plaintext.encode()
        for path in data_files:
            assert needle not in path.read_bytes(), path
        for path in (p for p in data_dir.rglob("*") if p.is_file()):
            assert needle not in path.read_bytes(), path


# --- upgrade to version 2 -----------------------------------------------------------

OLD = {"app/db": {"password": "db-pw"}, "app/web/tls": {"cert": "c1", "key": "k1"},
       "top": {"a": "1"}, "deep/er/still/x": {"n": "4"}}


def test_upgrade_to_version_2_keeps_every_secret_as_version_1(node: ReadyNode) -> None:
    mount(node, "kv1-up")
    root = hv(node)
    for path, value in OLD.items():
        root.secrets.kv.v1.create_or_update_secret(path=path, secret=value,
                                                   mount_point="kv1-up")
    with node.root as c:
        tuned = c.post("/v1/sys/mounts/kv1-up/tune", json={"options": {"version": "2"}})
        assert tuned.status_code == 204, tuned.text
    assert version_of(node, "kv1-up") == "2"
    assert "upgrading" not in (mounts(node)["kv1-up/"]["options"] or {})
    kv2 = root.secrets.kv.v2
    for path, value in OLD.items():
        read = kv2.read_secret_version(path=path, mount_point="kv1-up",
                                       raise_on_deleted_version=True)
        assert read["data"]["data"] == value, path
        assert read["data"]["metadata"]["version"] == 1, path
    written = kv2.create_or_update_secret(path="app/db", secret={"password": "new"},
                                          mount_point="kv1-up")
    assert written["data"]["version"] == 2
    assert kv2.read_secret_version(path="app/db", mount_point="kv1-up",
                                   raise_on_deleted_version=True)["data"]["data"] == \
        {"password": "new"}
    assert kv2.read_secret_version(path="app/db", version=1, mount_point="kv1-up",
                                   raise_on_deleted_version=True)["data"]["data"] == \
        OLD["app/db"]
    assert kv2.list_secrets(path="app", mount_point="kv1-up")["data"]["keys"] == ["db", "web/"]
    with node.root as c:
        assert c.get("/v1/kv1-up/app/db").status_code == 404  # v2 paths need data/
        back = c.post("/v1/sys/mounts/kv1-up/tune", json={"options": {"version": "1"}})
        assert back.status_code == 400, back.text
        assert back.json()["errors"]
        again = c.post("/v1/sys/mounts/kv1-up/tune", json={"options": {"version": "2"}})
        assert again.status_code == 204, again.text
    assert version_of(node, "kv1-up") == "2"


def test_upgrade_of_an_empty_mount(node: ReadyNode) -> None:
    mount(node, "kv1-up-empty")
    with node.root as c:
        tuned = c.post("/v1/sys/mounts/kv1-up-empty/tune", json={"options": {"version": "2"}})
        assert tuned.status_code == 204, tuned.text
    assert version_of(node, "kv1-up-empty") == "2"
    written = hv(node).secrets.kv.v2.create_or_update_secret(
        path="a", secret={"b": "c"}, mount_point="kv1-up-empty")
    assert written["data"]["version"] == 1


# --- remount ------------------------------------------------------------------------


def test_disable_then_enable_forgets_old_secrets(node: ReadyNode) -> None:
    root = hv(node)
    root.sys.enable_secrets_engine("kv", path="kv1-again")
    root.secrets.kv.v1.create_or_update_secret(path="app/db", secret={"p": "old"},
                                               mount_point="kv1-again")
    root.sys.disable_secrets_engine(path="kv1-again")
    assert "kv1-again/" not in root.sys.list_mounted_secrets_engines()["data"]
    root.sys.enable_secrets_engine("kv", path="kv1-again")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.secrets.kv.v1.read_secret(path="app/db", mount_point="kv1-again")
    with node.root as c:
        assert c.request("LIST", "/v1/kv1-again/app/").status_code == 404


# --- namespaces ---------------------------------------------------------------------


def _get(c: httpx.Client, path: str, namespace: str = "") -> httpx.Response:
    return c.get(path, headers=ns(namespace) if namespace else {})


def _mount_in_root_and(node: ReadyNode, namespace: str, path: str) -> None:
    """A new namespace, and a v1 mount at `path` both in it and in the root namespace."""
    with node.root as c:
        created = c.post(f"/v1/sys/namespaces/{namespace}")
        assert created.status_code == 200, created.text
    mount(node, path)
    mount(node, path, namespace=namespace)


def test_a_namespace_mount_is_independent_of_the_root_one(node: ReadyNode) -> None:
    _mount_in_root_and(node, "team-a", "kv1-ns")
    assert version_of(node, "kv1-ns", "team-a") == "1"
    with node.root as c:
        assert c.put("/v1/kv1-ns/app/db", json={"who": "root"}).status_code == 204
        assert _get(c, "/v1/kv1-ns/app/db", "team-a").status_code == 404
        assert c.put("/v1/kv1-ns/app/db", json={"who": "team-a"},
                     headers=ns("team-a")).status_code == 204
        assert c.put("/v1/kv1-ns/app/only-a", json={"x": "y"},
                     headers=ns("team-a")).status_code == 204
        assert _get(c, "/v1/kv1-ns/app/db").json()["data"] == {"who": "root"}
        assert _get(c, "/v1/kv1-ns/app/db", "team-a").json()["data"] == {"who": "team-a"}
        # the namespace as a path prefix reaches the same mount as the header
        assert c.get("/v1/team-a/kv1-ns/app/db").json()["data"] == {"who": "team-a"}
        assert c.request("LIST", "/v1/kv1-ns/app/").json()["data"]["keys"] == ["db"]
        assert c.request("LIST", "/v1/kv1-ns/app/", headers=ns("team-a")).json()[
            "data"]["keys"] == ["db", "only-a"]
        assert c.delete("/v1/kv1-ns/app/db", headers=ns("team-a")).status_code == 204
        assert _get(c, "/v1/kv1-ns/app/db", "team-a").status_code == 404
        assert _get(c, "/v1/kv1-ns/app/db").json()["data"] == {"who": "root"}
    root_ns = hv(node, namespace="team-a")
    assert root_ns.secrets.kv.v1.read_secret(path="app/only-a", mount_point="kv1-ns")[
        "data"] == {"x": "y"}
    with pytest.raises(hvac.exceptions.InvalidPath):
        hv(node).secrets.kv.v1.read_secret(path="app/only-a", mount_point="kv1-ns")


def test_upgrading_a_namespace_mount_leaves_the_root_one_alone(node: ReadyNode) -> None:
    _mount_in_root_and(node, "team-up", "kv1-nsup")
    with node.root as c:
        assert c.put("/v1/kv1-nsup/a/b", json={"who": "root"}).status_code == 204
        assert c.put("/v1/kv1-nsup/a/b", json={"who": "team"},
                     headers=ns("team-up")).status_code == 204
        tuned = c.post("/v1/sys/mounts/kv1-nsup/tune", json={"options": {"version": "2"}},
                       headers=ns("team-up"))
        assert tuned.status_code == 204, tuned.text
        assert _get(c, "/v1/kv1-nsup/a/b").json()["data"] == {"who": "root"}
    assert version_of(node, "kv1-nsup") == "1"
    assert version_of(node, "kv1-nsup", "team-up") == "2"
    read = hv(node, namespace="team-up").secrets.kv.v2.read_secret_version(
        path="a/b", mount_point="kv1-nsup", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"who": "team"}
    assert read["data"]["metadata"]["version"] == 1


def test_a_refused_tune_does_not_upgrade_the_mount(node: ReadyNode) -> None:
    mount(node, "kv1-refused")
    with node.root as c:
        assert c.put("/v1/kv1-refused/app/db", json={"a": "b"}).status_code == 204
        tuned = c.post("/v1/sys/mounts/kv1-refused/tune",  # a bad TTL: nothing changes
                       json={"options": {"version": "2"}, "max_lease_ttl": "9999h"})
        assert tuned.status_code == 400 and "cannot exceed" in tuned.text
        assert c.get("/v1/kv1-refused/app/db").json()["data"] == {"a": "b"}
        assert c.get("/v1/sys/mounts/kv1-refused/tune").json()["data"]["max_lease_ttl"] \
            == 768 * 3600
    assert version_of(node, "kv1-refused") == "1"


def test_a_tune_with_an_upgrade_and_lease_ttls_applies_both(node: ReadyNode) -> None:
    mount(node, "kv1-ttl")
    with node.root as c:
        assert c.put("/v1/kv1-ttl/app/db", json={"a": "b"}).status_code == 204
        tuned = c.post("/v1/sys/mounts/kv1-ttl/tune", json={
            "options": {"version": "2"}, "max_lease_ttl": "2h", "default_lease_ttl": "1h"})
        assert tuned.status_code == 204, tuned.text
        read = c.get("/v1/sys/mounts/kv1-ttl/tune").json()["data"]
        assert (read["default_lease_ttl"], read["max_lease_ttl"]) == (3600, 7200)
    assert version_of(node, "kv1-ttl") == "2"
