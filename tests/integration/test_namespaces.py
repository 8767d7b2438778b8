"""Namespaces on a real node: tenants with their own mounts, policies, tokens and auth methods.

A namespace is addressed by the `X-Vault-Namespace` header, by a path prefix
(`/v1/team-a/secret/...`) or both combined. A token works in its own namespace and
below it; its policies name paths relative to its own namespace. Every test uses
namespace names of its own: the node is shared by the whole module.
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest

from tests.conftest import ReadyNode, create_token, ns, put_policy

pytestmark = pytest.mark.integration

KV2: dict[str, Any] = {"type": "kv", "options": {"version": "2"}}
EVERYTHING = 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'


def hv(node: ReadyNode, token: str, namespace: str | None = None) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token, verify=str(node.server.tls.ca_cert),
                       namespace=namespace)


def create_namespace(node: ReadyNode, path: str) -> dict[str, Any]:
    """Create `path` (e.g. "a/b": "b" inside "a"); the server's answer."""
    parent, _, name = path.rpartition("/")
    with node.root as c:
        response = c.post(f"/v1/sys/namespaces/{name}", headers=ns(parent) if parent else {})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def mount_kv(node: ReadyNode, namespace: str, path: str = "secret") -> None:
    with node.root as c:
        response = c.post(f"/v1/sys/mounts/{path}", json=KV2, headers=ns(namespace))
    assert response.status_code == 204, response.text


def child_keys(c: httpx.Client, headers: dict[str, str] | None = None) -> list[str]:
    """The child namespaces LIST sys/namespaces shows (404 means none)."""
    response = c.request("LIST", "/v1/sys/namespaces", headers=headers or {})
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    keys: list[str] = response.json()["data"]["keys"]
    return keys


def raw_status(node: ReadyNode, method: str, path: str) -> int:
    """Send `path` byte for byte (httpx would normalize dot segments away)."""
    context = ssl.create_default_context(cafile=str(node.server.tls.ca_cert))
    with socket.create_connection(("127.0.0.1", node.server.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: "
                     f"{node.root_token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                     .encode())
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return int(reply.split(b" ", 2)[1])


# --- sys/namespaces -----------------------------------------------------------------


def test_create_list_read_and_delete_namespaces_through_hvac(node: ReadyNode) -> None:
    root = hv(node, node.root_token)
    info = root.sys.create_namespace(path="crud-a")["data"]
    assert info["path"] == "crud-a/" and info["id"]
    listed = root.sys.list_namespaces()["data"]
    assert "crud-a/" in listed["keys"]
    assert listed["key_info"]["crud-a/"]["id"] == info["id"]
    with node.root as c:
        read = c.get("/v1/sys/namespaces/crud-a")
        assert read.status_code == 200 and read.json()["data"]["id"] == info["id"]
        # creating it again answers the existing namespace (as Vault does), not a new one
        again = c.post("/v1/sys/namespaces/crud-a")
        assert again.status_code == 200 and again.json()["data"]["id"] == info["id"]
    assert root.sys.delete_namespace(path="crud-a").status_code in (200, 204)
    with node.root as c:
        assert "crud-a/" not in child_keys(c)
        assert c.get("/v1/sys/namespaces/crud-a").status_code == 404
        assert c.get("/v1/secret/data/x", headers=ns("crud-a")).status_code == 404


def test_invalid_namespace_names_are_refused(node: ReadyNode) -> None:
    root = hv(node, node.root_token)
    for name in ("a/b", "sys", "root", "auth", "bad name", "-leading-dash", "x" * 65):
        with pytest.raises(hvac.exceptions.InvalidRequest):
            root.sys.create_namespace(path=name)
    with node.root as c:
        # An empty name is a POST to the list endpoint: refused (Vault answers 405 too).
        assert c.post("/v1/sys/namespaces/").status_code in (400, 405)
        assert c.post("/v1/sys/namespaces/%2E%2E").status_code == 400
        keys = child_keys(c)
        assert not {"a/", "a/b/", "sys/", "root/", "auth/", "bad name/", "/", "../"} & set(keys)
        assert c.get("/v1/sys/namespaces/a").status_code == 404
    assert raw_status(node, "POST", "/v1/sys/namespaces/..") == 400


# --- data isolation -------------------------------------------------------------------


def test_a_namespace_kv_is_reached_by_header_or_path_prefix_and_isolated_from_root(
        node: ReadyNode) -> None:
    create_namespace(node, "iso-a")
    mount_kv(node, "iso-a")
    with node.root as c:
        assert c.post("/v1/secret/data/iso/x", json={"data": {"owner": "iso-a"}},
                      headers=ns("iso-a")).status_code == 200
        assert c.post("/v1/secret/data/iso/x", json={"data": {"owner": "root"}}
                      ).status_code == 200
        by_prefix = c.get("/v1/iso-a/secret/data/iso/x")
        assert by_prefix.status_code == 200, by_prefix.text
        assert by_prefix.json()["data"]["data"] == {"owner": "iso-a"}
        assert by_prefix.json()["data"]["metadata"]["version"] == 1
        # a write through the prefix is seen through the header (trailing slash and all)
        assert c.post("/v1/iso-a/secret/data/iso/x", json={"data": {"owner": "iso-a v2"}}
                      ).status_code == 200
        by_header = c.get("/v1/secret/data/iso/x", headers=ns("iso-a/")).json()["data"]
        assert by_header["data"] == {"owner": "iso-a v2"}
        assert by_header["metadata"]["version"] == 2
        in_root = c.get("/v1/secret/data/iso/x").json()["data"]
        assert in_root["data"] == {"owner": "root"} and in_root["metadata"]["version"] == 1
        mounts = c.get("/v1/sys/mounts", headers=ns("iso-a")).json()["data"]
        assert mounts["secret/"]["type"] == "kv"
        assert mounts["secret/"]["options"] == {"version": "2"}
        assert c.post("/v1/sys/mounts/secret", json=KV2, headers=ns("iso-a")).status_code == 400
        listed = c.request("LIST", "/v1/secret/metadata/iso", headers=ns("iso-a"))
        assert listed.json()["data"]["keys"] == ["x"]


def test_policies_are_per_namespace_and_a_token_gets_its_namespace_rules(
        node: ReadyNode) -> None:
    create_namespace(node, "pol-a")
    mount_kv(node, "pol-a")
    put_policy(node, "app", 'path "secret/data/private" { capabilities = ["read"] }')
    put_policy(node, "app", 'path "secret/data/shared" { capabilities = ["read"] }', "pol-a")
    with node.root as c:
        for name in ("shared", "private"):
            assert c.post(f"/v1/secret/data/{name}", json={"data": {"who": name}},
                          headers=ns("pol-a")).status_code == 200
        assert "secret/data/shared" in c.get(
            "/v1/sys/policy/app", headers=ns("pol-a")).json()["rules"]
        assert "secret/data/private" in c.get("/v1/sys/policy/app").json()["rules"]
    auth = create_token(node, "pol-a", policies=["app"])
    assert auth["policies"] == ["app", "default"]
    with node.client(auth["client_token"]) as app:
        me = app.get("/v1/auth/token/lookup-self", headers=ns("pol-a"))
        assert me.status_code == 200, me.text
        assert me.json()["data"]["namespace_path"] == "pol-a/"
        assert me.json()["data"]["policies"] == ["app", "default"]
        assert app.get("/v1/pol-a/auth/token/lookup-self").json()["data"][
            "namespace_path"] == "pol-a/"
        shared = app.get("/v1/secret/data/shared", headers=ns("pol-a"))
        assert shared.status_code == 200 and shared.json()["data"]["data"] == {"who": "shared"}
        # the root namespace's "app" would allow this path; pol-a's does not
        assert app.get("/v1/secret/data/private", headers=ns("pol-a")).status_code == 403
        caps = app.post("/v1/sys/capabilities-self", headers=ns("pol-a"),
                        json={"paths": ["secret/data/shared", "secret/data/private"]})
        assert caps.json()["data"]["secret/data/shared"] == ["read"]
        assert caps.json()["data"]["secret/data/private"] == ["deny"]


def test_a_token_cannot_reach_a_sibling_namespace_even_with_a_star_policy(
        node: ReadyNode) -> None:
    for name in ("sib-a", "sib-b"):
        create_namespace(node, name)
        mount_kv(node, name)
    put_policy(node, "everything", EVERYTHING, "sib-a")
    with node.root as c:
        assert c.post("/v1/secret/data/loot", json={"data": {"gold": "sib-b"}},
                      headers=ns("sib-b")).status_code == 200
        assert c.post("/v1/secret/data/sib/loot", json={"data": {"gold": "root"}}
                      ).status_code == 200
    token = create_token(node, "sib-a", policies=["everything"])["client_token"]
    with node.client(token) as a:
        # the token is all-powerful at home...
        assert a.post("/v1/secret/data/mine", json={"data": {"k": "v"}},
                      headers=ns("sib-a")).status_code == 200
        assert a.get("/v1/secret/data/mine", headers=ns("sib-a")).status_code == 200
        # ...and nothing next door, however it asks
        assert a.get("/v1/secret/data/loot", headers=ns("sib-b")).status_code == 403
        assert a.get("/v1/sib-b/secret/data/loot").status_code == 403
        assert a.post("/v1/secret/data/loot", json={"data": {"gold": "stolen"}},
                      headers=ns("sib-b")).status_code == 403
        assert a.get("/v1/sys/policy/everything", headers=ns("sib-b")).status_code == 403
        assert a.get("/v1/secret/data/sib/loot").status_code == 403  # the root namespace
        sideways = a.get("/v1/sib-b/secret/data/loot", headers=ns("sib-a"))
        assert sideways.status_code in (403, 404) and "gold" not in sideways.text
    with node.root as c:  # an ancestor's root token reads into the namespace
        loot = c.get("/v1/secret/data/loot", headers=ns("sib-b")).json()["data"]
        assert loot["data"] == {"gold": "sib-b"} and loot["metadata"]["version"] == 1


def test_root_namespace_policies_name_child_namespace_paths_relatively(
        node: ReadyNode) -> None:
    create_namespace(node, "rel-a")
    mount_kv(node, "rel-a")
    with node.root as c:
        assert c.post("/v1/secret/data/rel/x", json={"data": {"in": "rel-a"}},
                      headers=ns("rel-a")).status_code == 200
        assert c.post("/v1/secret/data/rel/x", json={"data": {"in": "root"}}).status_code == 200
    put_policy(node, "rel-reader", 'path "rel-a/secret/data/*" { capabilities = ["read"] }')
    token = create_token(node, policies=["rel-reader"])["client_token"]
    with node.client(token) as reader:
        by_header = reader.get("/v1/secret/data/rel/x", headers=ns("rel-a"))
        assert by_header.status_code == 200 and by_header.json()["data"]["data"] == {
            "in": "rel-a"}
        assert reader.get("/v1/rel-a/secret/data/rel/x").json()["data"]["data"] == {
            "in": "rel-a"}
        assert reader.get("/v1/secret/data/rel/x").status_code == 403  # not its own ns
        assert reader.post("/v1/secret/data/rel/x", json={"data": {}},
                           headers=ns("rel-a")).status_code == 403


def test_hvac_namespaced_client_reads_writes_and_looks_up(node: ReadyNode) -> None:
    create_namespace(node, "hv-a")
    admin = hv(node, node.root_token, namespace="hv-a")
    admin.sys.enable_secrets_engine(backend_type="kv", path="secret", options={"version": "2"})
    assert "secret/" in admin.sys.list_mounted_secrets_engines()["data"]
    admin.secrets.kv.v2.create_or_update_secret(path="hv-app", secret={"k": "in hv-a"})
    admin.sys.create_or_update_policy(
        name="reader", policy='path "secret/data/*" { capabilities = ["read"] }')
    token = admin.auth.token.create(policies=["reader"], ttl="1h")["auth"]["client_token"]
    app = hv(node, token, namespace="hv-a")
    me = app.auth.token.lookup_self()["data"]
    assert me["namespace_path"] == "hv-a/" and me["policies"] == ["default", "reader"]
    read = app.secrets.kv.v2.read_secret_version(path="hv-app", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"k": "in hv-a"}
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.create_or_update_secret(path="hv-app", secret={"k": "x"})
    with pytest.raises(hvac.exceptions.Forbidden):  # outside its namespace
        hv(node, token).secrets.kv.v2.read_secret_version(path="hv-app",
                                                          raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.InvalidPath):  # the root namespace has no such secret
        hv(node, node.root_token).secrets.kv.v2.read_secret_version(
            path="hv-app", raise_on_deleted_version=True)


# --- nesting and deletion -------------------------------------------------------------


def test_nested_namespaces_are_addressed_by_combined_header_and_prefix(node: ReadyNode) -> None:
    create_namespace(node, "nest-a")
    assert create_namespace(node, "nest-a/dev")["path"] == "dev/"
    with node.root as c:
        assert child_keys(c, ns("nest-a")) == ["dev/"]
        assert "nest-a/" in child_keys(c) and "nest-a/dev/" not in child_keys(c)
        assert c.post("/v1/nest-a/dev/sys/mounts/secret", json=KV2).status_code == 204
        assert c.post("/v1/nest-a/dev/secret/data/x", json={"data": {"at": "dev"}}
                      ).status_code == 200
        for path, headers in (("/v1/nest-a/dev/secret/data/x", {}),
                              ("/v1/dev/secret/data/x", ns("nest-a")),
                              ("/v1/secret/data/x", ns("nest-a/dev"))):
            read = c.get(path, headers=headers)
            assert read.status_code == 200, (path, read.text)
            assert read.json()["data"]["data"] == {"at": "dev"}
        assert c.get("/v1/nest-a/secret/data/x").status_code == 404  # nothing mounted in nest-a
    # a token of nest-a works in nest-a/dev, its policy naming the path from nest-a
    put_policy(node, "dev-reader", 'path "dev/secret/data/*" { capabilities = ["read"] }',
                 "nest-a")
    token = create_token(node, "nest-a", policies=["dev-reader"])["client_token"]
    with node.client(token) as reader:
        assert reader.get("/v1/secret/data/x", headers=ns("nest-a/dev")).json()["data"][
            "data"] == {"at": "dev"}
        assert reader.get("/v1/dev/secret/data/x", headers=ns("nest-a")).status_code == 200
    with node.root as c:
        refused = c.delete("/v1/sys/namespaces/nest-a")
        assert refused.status_code == 400 and "child" in refused.text
        assert c.get("/v1/nest-a/dev/secret/data/x").status_code == 200  # nothing was lost
        assert c.delete("/v1/sys/namespaces/dev", headers=ns("nest-a")).status_code in (200, 204)
        assert child_keys(c, ns("nest-a")) == []
        assert c.delete("/v1/sys/namespaces/nest-a").status_code in (200, 204)
        assert c.get("/v1/sys/namespaces/nest-a").status_code == 404
        assert "nest-a/" not in child_keys(c)


def test_deleting_a_namespace_removes_its_data_and_revokes_its_tokens(node: ReadyNode) -> None:
    create_namespace(node, "del-a")
    mount_kv(node, "del-a")
    put_policy(node, "app", 'path "secret/data/*" { capabilities = ["read"] }', "del-a")
    with node.root as c:
        assert c.post("/v1/secret/data/x", json={"data": {"doomed": "yes"}},
                      headers=ns("del-a")).status_code == 200
    service = create_token(node, "del-a", policies=["app"])["client_token"]
    batch = create_token(node, "del-a", policies=["app"], type="batch")["client_token"]
    assert batch.startswith("sbb.")
    for token in (service, batch):
        with node.client(token) as t:
            assert t.get("/v1/secret/data/x", headers=ns("del-a")).status_code == 200
    with node.root as c:
        assert c.delete("/v1/sys/namespaces/del-a").status_code in (200, 204)
        assert c.get("/v1/secret/data/x", headers=ns("del-a")).status_code == 404
    for token in (service, batch):
        with node.client(token) as t:
            assert t.get("/v1/auth/token/lookup-self").status_code == 403
            assert t.get("/v1/del-a/secret/data/x").status_code in (403, 404)
    create_namespace(node, "del-a")  # the same name again: an empty namespace
    with node.root as c:
        assert "secret/" not in c.get("/v1/sys/mounts", headers=ns("del-a")).json()["data"]
        assert c.get("/v1/secret/data/x", headers=ns("del-a")).status_code == 404
        assert c.get("/v1/sys/policy/app", headers=ns("del-a")).status_code == 404
        assert c.post("/v1/auth/token/lookup", json={"token": service},  # Vault: 403
                      headers=ns("del-a")).status_code == 403
    mount_kv(node, "del-a")
    with node.root as c:
        assert c.get("/v1/secret/data/x", headers=ns("del-a")).status_code == 404
    with node.client(service) as t:
        assert t.get("/v1/auth/token/lookup-self", headers=ns("del-a")).status_code == 403


def test_a_batch_token_of_a_deleted_namespace_stays_dead_when_the_name_is_reused(
        node: ReadyNode) -> None:
    create_namespace(node, "reuse-a")
    put_policy(node, "app", 'path "secret/data/*" { capabilities = ["read"] }', "reuse-a")
    old = create_token(node, "reuse-a", policies=["app"], type="batch", ttl="1h")["client_token"]
    with node.root as c:
        assert c.delete("/v1/sys/namespaces/reuse-a").status_code in (200, 204)
    with node.client(old) as t:
        assert t.get("/v1/auth/token/lookup-self").status_code == 403
    # A new tenant gets the freed name and, naturally, a policy called "app".
    create_namespace(node, "reuse-a")
    mount_kv(node, "reuse-a")
    put_policy(node, "app", 'path "secret/data/*" { capabilities = ["read"] }', "reuse-a")
    with node.root as c:
        assert c.post("/v1/secret/data/new-tenant", json={"data": {"private": "new"}},
                      headers=ns("reuse-a")).status_code == 200
    with node.client(old) as t:
        assert t.get("/v1/auth/token/lookup-self", headers=ns("reuse-a")).status_code == 403
        stolen = t.get("/v1/secret/data/new-tenant", headers=ns("reuse-a"))
        assert stolen.status_code == 403 and "private" not in stolen.text


# --- auth methods, root-only endpoints, unknown namespaces -----------------------------


def test_auth_methods_are_per_namespace(node: ReadyNode) -> None:
    create_namespace(node, "auth-a")
    create_namespace(node, "auth-b")
    mount_kv(node, "auth-a")
    put_policy(node, "reader", 'path "secret/data/*" { capabilities = ["read"] }', "auth-a")
    h = ns("auth-a")
    with node.root as c:
        assert c.post("/v1/sys/auth/up-a", json={"type": "userpass"}, headers=h
                      ).status_code == 204
        assert c.post("/v1/auth/up-a/users/alice", headers=h, json={
            "password": "alice-in-auth-a", "token_policies": ["reader"]}).status_code == 204
        assert c.post("/v1/secret/data/app", json={"data": {"db": "pw-a"}}, headers=h
                      ).status_code == 200
        assert "up-a/" in c.get("/v1/sys/auth", headers=h).json()["data"]
        assert "up-a/" not in c.get("/v1/sys/auth").json()["data"]
        assert "up-a/" not in c.get("/v1/sys/auth", headers=ns("auth-b")).json()["data"]
    with node.client() as anon:
        # the method does not exist in the root namespace: no login there
        assert anon.post("/v1/auth/up-a/login/alice",
                         json={"password": "alice-in-auth-a"}).status_code == 404
        login = anon.post("/v1/auth/up-a/login/alice", headers=h,
                          json={"password": "alice-in-auth-a"})
        assert login.status_code == 200, login.text
        by_prefix = anon.post("/v1/auth-a/auth/up-a/login/alice",
                              json={"password": "alice-in-auth-a"})
        assert by_prefix.status_code == 200, by_prefix.text
    token = login.json()["auth"]["client_token"]
    assert login.json()["auth"]["policies"] == ["default", "reader"]
    with node.client(token) as alice:
        me = alice.get("/v1/auth/token/lookup-self", headers=h).json()["data"]
        assert me["namespace_path"] == "auth-a/" and me["meta"] == {"username": "alice"}
        assert alice.get("/v1/secret/data/app", headers=h).json()["data"]["data"] == {
            "db": "pw-a"}
        assert alice.get("/v1/secret/data/app").status_code == 403
        assert alice.get("/v1/secret/data/app", headers=ns("auth-b")).status_code == 403
        assert alice.get("/v1/auth/token/lookup-self").status_code == 403


def test_cluster_wide_endpoints_refuse_namespaced_requests(node: ReadyNode) -> None:
    create_namespace(node, "clu-a")
    h = ns("clu-a")
    with node.root as c:
        term = c.get("/v1/sys/key-status").json()["data"]["term"]
        for method, path in (("PUT", "/v1/sys/seal"),
                             ("GET", "/v1/sys/storage/raft/configuration"),
                             ("PUT", "/v1/sys/rotate"),
                             ("GET", "/v1/sys/key-status")):
            refused = c.request(method, path, headers=h)
            assert refused.status_code == 400, (path, refused.text)
            assert "root namespace" in refused.json()["errors"][0]
        prefixed = c.put("/v1/clu-a/sys/seal")
        assert prefixed.status_code == 400 and "root namespace" in prefixed.text
        assert c.get("/v1/sys/seal-status").json()["sealed"] is False
        assert c.get("/v1/sys/key-status").json()["data"]["term"] == term
        config = c.get("/v1/sys/storage/raft/configuration")
        assert config.status_code == 200 and config.json()["data"]["config"]["servers"]


def test_an_unknown_namespace_in_the_header_is_404(node: ReadyNode) -> None:
    create_namespace(node, "known-a")
    with node.root as c:
        for header in ("no-such-ns", "known-a/ghost", "ghost/known-a"):
            response = c.get("/v1/secret/data/x", headers=ns(header))
            assert response.status_code == 404, (header, response.text)
            assert "namespace" in response.json()["errors"][0]
        assert c.get("/v1/sys/mounts", headers=ns("known-a")).status_code == 200


def test_listing_namespaces_accepts_a_trailing_slash(node: ReadyNode) -> None:
    create_namespace(node, "slash-a")
    with node.root as c:
        for response in (c.request("LIST", "/v1/sys/namespaces/"),
                         c.get("/v1/sys/namespaces/", params={"list": "true"})):
            assert response.status_code == 200, response.text
            assert "slash-a/" in response.json()["data"]["keys"]


def _count(metrics: str, method: str, route: str, status: str) -> float:
    pattern = (r'strongbox_request_duration_seconds_count\{[^}]*method="' + method
               + r'"[^}]*route="' + re.escape(route) + r'"[^}]*status="' + status
               + r'"[^}]*\} (\S+)')
    match = re.search(pattern, metrics)
    return float(match.group(1)) if match else 0.0


def test_requests_inside_a_namespace_get_the_same_route_labels(node: ReadyNode) -> None:
    """A namespaced request is labelled by the path inside its namespace (never the
    namespace or the secret's path): the label set stays small and dashboards add up."""
    with node.root as raw:
        assert raw.post("/v1/sys/namespaces/metered").status_code == 200
        assert raw.post("/v1/sys/mounts/kvm", json={"type": "kv-v2"},
                        headers={"X-Vault-Namespace": "metered"}).status_code == 204
        before = raw.get("/v1/sys/metrics?format=prometheus").text
        for _ in range(3):
            assert raw.post("/v1/metered/kvm/data/app/x",
                            json={"data": {"v": "1"}}).status_code == 200
        after = raw.get("/v1/sys/metrics?format=prometheus").text
    route = "/v1/{mount}/data/*"
    assert _count(after, "POST", route, "200") - _count(before, "POST", route, "200") == 3
    assert "metered" not in after and "app/x" not in after
