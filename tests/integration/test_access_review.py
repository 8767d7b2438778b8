"""Regressions of the access-control review, each against a real node."""

from __future__ import annotations

import ssl

import httpx
import hvac
import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration
HOUR = 3600


def client(node: ReadyNode, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token, verify=str(node.server.tls.ca_cert))


def test_users_do_not_survive_their_auth_method(node: ReadyNode) -> None:
    """Users are keyed by the method's uuid: re-enabling the path starts empty."""
    root = client(node, node.root_token)
    root.sys.enable_auth_method("userpass", path="cycle")
    root.auth.userpass.create_or_update_user("mallory", "known-password", mount_point="cycle")
    root.sys.disable_auth_method("cycle")
    root.sys.enable_auth_method("userpass", path="cycle")
    with node.root as raw:
        assert raw.request("LIST", "/v1/auth/cycle/users").status_code == 404
        login = raw.post("/v1/auth/cycle/login/mallory", json={"password": "known-password"},
                         headers={"X-Vault-Token": ""})
    assert login.status_code == 400


def test_token_issuing_requests_refuse_an_idempotency_key(node: ReadyNode) -> None:
    """A retry would mint a token apply never stores: refused instead of a dead token."""
    with node.root as raw:
        answer = raw.post("/v1/auth/token/create", json={"policies": ["default"]},
                          headers={"Idempotency-Key": "k-token"})
    assert answer.status_code == 400 and "Idempotency-Key" in answer.text


def test_idempotency_keys_belong_to_their_caller(node: ReadyNode) -> None:
    """Two callers using the same key for the same write are two writes, not one."""
    root = client(node, node.root_token)
    root.sys.create_or_update_policy(
        name="writer", policy='path "secret/data/idem/*" { capabilities = ["create","update"] }')
    other = root.auth.token.create(policies=["writer"])["auth"]["client_token"]
    versions = []
    for token in (node.root_token, other):
        with node.client(token) as raw:
            written = raw.post("/v1/secret/data/idem/shared", json={"data": {"v": "same"}},
                               headers={"Idempotency-Key": "deploy-42"})
            assert written.status_code == 200, written.text
            versions.append(written.json()["data"]["version"])
    assert versions == [1, 2]


def test_a_rotated_role_id_no_longer_logs_in(node: ReadyNode) -> None:
    root = client(node, node.root_token)
    root.sys.enable_auth_method("approle", path="rot")
    root.auth.approle.create_or_update_approle("r", token_policies=["default"], mount_point="rot")
    old_id = root.auth.approle.read_role_id("r", mount_point="rot")["data"]["role_id"]
    with node.root as raw:
        assert raw.post("/v1/auth/rot/role/r/role-id", json={"role_id": "new-id"}) \
            .status_code == 204
    secret = root.auth.approle.generate_secret_id("r", mount_point="rot")["data"]["secret_id"]
    with node.client() as raw:
        stale = raw.post("/v1/auth/rot/login", json={"role_id": old_id, "secret_id": secret})
        fresh = raw.post("/v1/auth/rot/login", json={"role_id": "new-id", "secret_id": secret})
    assert (stale.status_code, fresh.status_code) == (400, 200)


def test_a_batch_token_dies_with_the_auth_method_that_issued_it(node: ReadyNode) -> None:
    root = client(node, node.root_token)
    root.sys.enable_auth_method("approle", path="batchy")
    root.auth.approle.create_or_update_approle("b", token_policies=["default"],
                                               token_type="batch", mount_point="batchy")
    role_id = root.auth.approle.read_role_id("b", mount_point="batchy")["data"]["role_id"]
    secret = root.auth.approle.generate_secret_id("b", mount_point="batchy")["data"]["secret_id"]
    token = client(node).auth.approle.login(role_id, secret, mount_point="batchy")["auth"][
        "client_token"]
    assert token.startswith("sbb.")
    with node.client(token) as raw:
        assert raw.get("/v1/auth/token/lookup-self").status_code == 200
    root.sys.disable_auth_method("batchy")
    with node.client(token) as raw:
        assert raw.get("/v1/auth/token/lookup-self").status_code == 403


def test_names_and_mounts_cannot_shadow_each_other(node: ReadyNode) -> None:
    with node.root as raw:
        assert raw.post("/v1/sys/mounts/shadow", json={"type": "kv"}).status_code == 204
        refused = raw.post("/v1/sys/namespaces/shadow")
        assert refused.status_code == 400 and "hide" in refused.text
        assert raw.post("/v1/sys/namespaces/tenant-x").status_code == 200
        taken = raw.post("/v1/sys/mounts/tenant-x", json={"type": "kv"})
        assert taken.status_code == 400 and "namespace" in taken.text


def test_token_ttls_are_capped_at_the_system_maximum(node: ReadyNode) -> None:
    created = client(node, node.root_token).auth.token.create(ttl="876000h",
                                                              policies=["default"])
    assert created["auth"]["lease_duration"] == 768 * HOUR


def test_create_orphan_needs_update_not_sudo(node: ReadyNode) -> None:
    root = client(node, node.root_token)
    root.sys.create_or_update_policy(
        name="orphan-maker", policy='path "auth/token/create-orphan" { capabilities = ["update"] }')
    maker = root.auth.token.create(policies=["orphan-maker"])["auth"]["client_token"]
    orphan = client(node, maker).auth.token.create_orphan(policies=["orphan-maker"])["auth"]
    assert orphan["orphan"] is True


def test_unknown_users_lock_like_real_ones(node: ReadyNode) -> None:
    """The lock must not tell which names exist: five failures lock any name."""
    root = client(node, node.root_token)
    root.sys.enable_auth_method("userpass", path="enum")
    root.auth.userpass.create_or_update_user("real", "pw-real-1", mount_point="enum")
    answers = {}
    for source, name in (("127.0.9.1", "real"), ("127.0.9.2", "ghost")):
        # each name from its own address: the per-address throttle (10/min) stays out of it
        context = ssl.create_default_context(cafile=str(node.server.tls.ca_cert))
        transport = httpx.HTTPTransport(local_address=source, verify=context)
        with httpx.Client(base_url=node.server.addr, transport=transport) as raw:
            answers[name] = [raw.post(f"/v1/auth/enum/login/{name}",
                                      json={"password": f"wrong-{n}"}).status_code
                             for n in range(6)]
    assert answers["real"] == answers["ghost"] == [400, 400, 400, 400, 403, 403]
