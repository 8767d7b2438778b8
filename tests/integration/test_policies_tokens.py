"""ACL policies and service tokens against a real node, through hvac where it can."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration

APP_POLICY = '''
# read the app's secrets, nothing else
path "secret/data/app/*" {
  capabilities = ["read", "list"]
}
path "secret/metadata/app/*" {
  capabilities = ["list"]
}
'''


TOKEN_MAKER = 'path "auth/token/create" { capabilities = ["update"] }'


def client(node: ReadyNode, token: str) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token, verify=str(node.server.tls.ca_cert))


def test_policy_crud_through_hvac_and_parse_errors_name_line_and_column(
        node: ReadyNode) -> None:
    root = client(node, node.root_token)
    root.sys.create_or_update_policy(name="app-read", policy=APP_POLICY)
    assert "app-read" in root.sys.list_policies()["data"]["policies"]
    assert "secret/data/app/*" in root.sys.read_policy(name="app-read")["data"]["rules"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as bad:
        root.sys.create_or_update_policy(name="broken",
                                         policy='path "a" {\n  capabilities = ["raed"]\n}')
    assert "line" in str(bad.value) and "raed" in str(bad.value)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.create_or_update_policy(name="root", policy=APP_POLICY)
    root.sys.delete_policy(name="app-read")
    assert "app-read" not in root.sys.list_policies()["data"]["policies"]


def test_least_privilege_token_reads_only_what_its_policy_grants(node: ReadyNode) -> None:
    root = client(node, node.root_token)
    root.secrets.kv.v2.create_or_update_secret(path="app/db", secret={"password": "pw"})
    root.secrets.kv.v2.create_or_update_secret(path="other/db", secret={"password": "no"})
    root.sys.create_or_update_policy(name="app-read", policy=APP_POLICY)
    created = root.auth.token.create(policies=["app-read"], ttl="1h", display_name="app")
    token = created["auth"]["client_token"]
    assert token.startswith("sbs.") and created["auth"]["policies"] == ["app-read", "default"]
    app = client(node, token)
    assert app.secrets.kv.v2.read_secret_version(
        path="app/db", raise_on_deleted_version=True)["data"]["data"] == {"password": "pw"}
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.read_secret_version(path="other/db", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.create_or_update_secret(path="app/db", secret={"password": "x"})
    with pytest.raises(hvac.exceptions.Forbidden):
        app.sys.rotate_encryption_key()
    with pytest.raises(hvac.exceptions.Forbidden):  # no sudo
        app.sys.read_policy(name="app-read")
    assert app.lookup_token()["data"]["policies"] == ["app-read", "default"]
    with node.client(token) as raw:
        caps = raw.post("/v1/sys/capabilities-self",
                        json={"paths": ["secret/data/app/db", "secret/data/other/db"]})
        assert caps.json()["data"]["secret/data/app/db"] == ["list", "read"]
        assert caps.json()["data"]["secret/data/other/db"] == ["deny"]
        # policy path traversal does not escape the granted prefix
        assert raw.get("/v1/secret/data/app/%2E%2E/other/db").status_code == 400


def test_a_child_cannot_exceed_its_parent_and_revoking_a_parent_revokes_the_tree(
        node: ReadyNode) -> None:
    root = client(node, node.root_token)
    root.sys.create_or_update_policy(name="app-read", policy=APP_POLICY)
    root.sys.create_or_update_policy(name="admin-ish",
                                     policy='path "sys/*" { capabilities = ["read"] }')
    root.sys.create_or_update_policy(name="token-maker", policy=TOKEN_MAKER)
    parent = root.auth.token.create(policies=["app-read", "token-maker"])["auth"]["client_token"]
    child_client = client(node, parent)
    with pytest.raises(hvac.exceptions.Forbidden):
        child_client.auth.token.create(policies=["admin-ish"])
    child = child_client.auth.token.create(
        policies=["app-read", "token-maker"])["auth"]["client_token"]
    grandchild = client(node, child).auth.token.create()["auth"]["client_token"]
    root.auth.token.revoke(token=parent)
    for token in (parent, child, grandchild):
        with node.client(token) as raw:
            assert raw.get("/v1/auth/token/lookup-self").status_code == 403


def test_revoke_orphan_keeps_children_and_accessors_work(node: ReadyNode) -> None:
    root = client(node, node.root_token)
    root.sys.create_or_update_policy(name="app-read", policy=APP_POLICY)
    root.sys.create_or_update_policy(name="token-maker", policy=TOKEN_MAKER)
    parent = root.auth.token.create(policies=["app-read", "token-maker"])["auth"]
    child = client(node, parent["client_token"]).auth.token.create(
        policies=["app-read"])["auth"]
    looked = root.auth.token.lookup_accessor(child["accessor"])["data"]
    assert looked["id"] == "" and looked["policies"] == ["app-read", "default"]
    root.auth.token.revoke_and_orphan_children(token=parent["client_token"])
    with node.client(child["client_token"]) as raw:
        me = raw.get("/v1/auth/token/lookup-self").json()["data"]
        assert me["orphan"] is True
    root.auth.token.revoke_accessor(child["accessor"])
    with node.client(child["client_token"]) as raw:
        assert raw.get("/v1/auth/token/lookup-self").status_code == 403
    with node.client(node.root_token) as raw:
        assert raw.post("/v1/auth/token/create", json={"type": "bulk"}).status_code == 400
        typo = raw.post("/v1/auth/token/create", json={"polices": ["x"]})  # Vault: a warning
        assert typo.status_code == 200
        assert typo.json()["warnings"] == [
            "Endpoint ignored these unrecognized parameters: [polices]"]


def test_revoke_self(node: ReadyNode) -> None:
    root = client(node, node.root_token)
    token = root.auth.token.create()["auth"]["client_token"]
    client(node, token).auth.token.revoke_self()
    with node.client(token) as raw:
        assert raw.get("/v1/auth/token/lookup-self").status_code == 403


def test_renew_self_extends_a_token_and_non_renewable_tokens_refuse(node: ReadyNode) -> None:
    root = client(node, node.root_token)
    created = root.auth.token.create(ttl="30s")["auth"]
    app = client(node, created["client_token"])
    renewed = app.auth.token.renew_self(increment="1h")["auth"]
    assert 3500 <= renewed["lease_duration"] <= 3600
    looked = app.lookup_token()["data"]
    assert looked["creation_ttl"] == 30 and looked["ttl"] > 3500
    fixed = root.auth.token.create(ttl="1h", renewable=False)["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client(node, fixed).auth.token.renew_self()
    with pytest.raises(hvac.exceptions.InvalidRequest):  # the root token has no TTL
        root.auth.token.renew_self()
    by_accessor = root.auth.token.renew_accessor(created["accessor"], increment="2h")
    assert by_accessor["auth"]["lease_duration"] > 7000
