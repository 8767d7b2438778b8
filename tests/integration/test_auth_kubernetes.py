"""The kubernetes auth method against a real node: real keys, real tokens, real HTTPS.

A Kubernetes API server cannot run here, so `tests/jwt_idp.IdentityProvider` stands in
for it: an HTTPS server on loopback (certificate from a test CA) that serves the
service-account issuer's OIDC discovery document and JWKS, and one API endpoint,
`POST /apis/authentication.k8s.io/v1/tokenreviews`, answering from a table of issued
and revoked tokens (and insisting on the reviewer's bearer token). The node process
reaches it with the configured `kubernetes_ca_cert`.

Logins from raw httpx bind their own loopback source address (127.1.x.y) so the
per-address login throttle of one test never refuses another's.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest

from strongbox.client import Client, KubernetesLogin
from tests.conftest import ReadyNode
from tests.jwt_idp import (
    REVIEWER_TOKEN,
    IdentityProvider,
    SigningKey,
    error_text,
    hs256_with_public_key,
    identity_provider,
    legacy_claims,
    login_from,
    loopback_addresses,
    projected_claims,
    unsigned,
)

pytestmark = pytest.mark.integration
_addresses = loopback_addresses(1)
POLICY = 'path "secret/data/k8s/*" { capabilities = ["read"] }'


@dataclass
class Env:
    node: ReadyNode
    idp: IdentityProvider
    key: SigningKey
    audit_log: Path
    mounts: Iterator[int]

    def mount(self) -> str:
        return f"k8s-{next(self.mounts)}"


@pytest.fixture(scope="module")
def env(node: ReadyNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("k8s")
    audit_log = base / "audit.log"
    with node.root as root:
        assert root.put("/v1/sys/audit/k8s-file", json={
            "type": "file", "options": {"file_path": str(audit_log)}}).status_code == 204
        assert root.put("/v1/sys/policy/k8s-app", json={"policy": POLICY}).status_code == 204
    with identity_provider(base) as idp:
        key = SigningKey.rsa("sa-key-1")
        idp.rotate(key)
        yield Env(node, idp, key, audit_log, itertools.count(1))


def root_call(env: Env, method: str, path: str, body: Any = None) -> httpx.Response:
    with env.node.root as root:
        return root.request(method, f"/v1/{path}", json=body)


def enable(env: Env, config: dict[str, Any], **role: Any) -> str:
    """A kubernetes mount with `config` and a role "app" (`role` overrides)."""
    mount = env.mount()
    assert root_call(env, "POST", f"sys/auth/{mount}", {"type": "kubernetes"}).status_code == 204
    answer = root_call(env, "POST", f"auth/{mount}/config", config)
    assert answer.status_code == 204, answer.text
    fields = {"bound_service_account_names": ["web", "batch-*"],
              "bound_service_account_namespaces": ["shop", "team-*"],
              "token_policies": ["k8s-app"], "token_ttl": "10m", **role}
    answer = root_call(env, "POST", f"auth/{mount}/role/app", fields)
    assert answer.status_code == 204, answer.text
    return mount


def pem_config(env: Env, review: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"pem_keys": [env.key.public_pem()], "issuer": env.idp.url}
    if review:
        config.update(kubernetes_host=env.idp.url, kubernetes_ca_cert=env.idp.ca_pem,
                      token_reviewer_jwt=REVIEWER_TOKEN, disable_local_ca_jwt=True)
    return config


def login(env: Env, mount: str, token: str, role: str = "app") -> httpx.Response:
    return login_from(env.node.server, next(_addresses), mount, {"role": role, "jwt": token})


def sa_token(env: Env, namespace: str = "shop", name: str = "web", **kw: Any) -> str:
    return env.key.mint(projected_claims(namespace, name, issuer=env.idp.url, **kw))


# --- logins that pass ---------------------------------------------------------------------


def test_hvac_login_with_a_projected_token_gets_vault_metadata(env: Env) -> None:
    mount = enable(env, pem_config(env))
    claims = projected_claims("shop", "web", issuer=env.idp.url, pod="web-5d8f-abc")
    client = hvac.Client(url=env.node.server.addr, verify=str(env.node.server.tls.ca_cert))
    auth = client.auth.kubernetes.login("app", env.key.mint(claims), mount_point=mount)["auth"]
    assert auth["policies"] == ["default", "k8s-app"] and auth["lease_duration"] == 600
    assert auth["metadata"] == {
        "role": "app", "service_account_name": "web", "service_account_namespace": "shop",
        "service_account_uid": claims["kubernetes.io"]["serviceaccount"]["uid"],
        "pod_name": "web-5d8f-abc", "pod_uid": claims["kubernetes.io"]["pod"]["uid"]}
    assert client.is_authenticated()
    looked_up = client.auth.token.lookup_self()["data"]
    assert looked_up["meta"]["service_account_namespace"] == "shop"
    assert looked_up["path"] == f"auth/{mount}/login"


def test_a_legacy_token_without_exp_logs_in(env: Env) -> None:
    mount = enable(env, {"pem_keys": [env.key.public_pem()]})
    answer = login(env, mount, env.key.mint(legacy_claims("team-blue", "batch-nightly")))
    assert answer.status_code == 200, answer.text
    meta = answer.json()["auth"]["metadata"]
    assert meta["service_account_secret_name"] == "batch-nightly-token-abcde"
    assert "pod_name" not in meta


def test_name_and_namespace_globs_bind_the_role(env: Env) -> None:
    mount = enable(env, pem_config(env))
    for namespace, name in (("shop", "web"), ("team-a", "batch-1"), ("team-b", "web")):
        assert login(env, mount, sa_token(env, namespace, name)).status_code == 200
    answer = login(env, mount, sa_token(env, "prod", "web"))
    assert answer.status_code == 403 and "namespace not authorized" in error_text(answer)
    answer = login(env, mount, sa_token(env, "shop", "admin"))
    assert answer.status_code == 403 and "name not authorized" in error_text(answer)


# --- local verification refusals ---------------------------------------------------------


def test_expired_wrong_audience_and_wrong_issuer_tokens_are_refused(env: Env) -> None:
    mount = enable(env, pem_config(env), audience="vault")
    expired = sa_token(env, now=time.time() - 3600)
    assert "expired" in error_text(login(env, mount, expired))
    assert "'aud'" in error_text(login(env, mount, sa_token(env, audience="other")))
    wrong_iss = env.key.mint(projected_claims("shop", "web", issuer="https://evil.example"))
    assert "'iss'" in error_text(login(env, mount, wrong_iss))
    future = sa_token(env, now=time.time() + 3600)
    assert "not valid yet" in error_text(login(env, mount, future))
    no_exp = projected_claims("shop", "web", issuer=env.idp.url)
    del no_exp["exp"]
    assert "'exp'" in error_text(login(env, mount, env.key.mint(no_exp)))


def test_forged_tokens_are_refused(env: Env) -> None:
    mount = enable(env, pem_config(env))
    claims = projected_claims("shop", "web", issuer=env.idp.url)
    for forged in (unsigned(claims), hs256_with_public_key(env.key, claims),
                   SigningKey.rsa("sa-key-1").mint(claims), "not.a.jwt", ""):
        answer = login(env, mount, forged)
        assert answer.status_code in (400, 403), answer.text
        assert "auth" not in answer.json()


def test_issuer_jwks_is_fetched_and_rotated_keys_are_picked_up(env: Env) -> None:
    mount = enable(env, {"issuer": env.idp.url, "kubernetes_ca_cert": env.idp.ca_pem})
    old, new = env.key, SigningKey.ec("sa-key-2")
    assert login(env, mount, sa_token(env)).status_code == 200
    env.idp.rotate(old, new)  # the cluster starts signing with a new key
    try:
        claims = projected_claims("shop", "web", issuer=env.idp.url)
        answer = login(env, mount, new.mint(claims))
        assert answer.status_code == 200, answer.text
        unknown = SigningKey.rsa("never-published").mint(claims)
        assert "kid" in error_text(login(env, mount, unknown))
    finally:
        env.idp.rotate(old)


# --- TokenReview --------------------------------------------------------------------------


def test_token_review_sees_a_revoked_service_account(env: Env) -> None:
    mount = enable(env, pem_config(env, review=True))
    claims = projected_claims("shop", "web", issuer=env.idp.url)
    token = env.idp.register(env.key.mint(claims), claims)
    assert login(env, mount, token).status_code == 200
    env.idp.revoked.add(token)  # kubectl delete serviceaccount web
    deadline = time.monotonic() + 20
    while True:  # the node caches a review answer for a few seconds
        answer = login(env, mount, token)
        if answer.status_code == 403 or time.monotonic() > deadline:
            break
        time.sleep(1.5)  # few attempts: the login throttle allows 10 a minute per role
    assert answer.status_code == 403 and "TokenReview" in error_text(answer), answer.text
    unknown = env.key.mint(projected_claims("shop", "web", issuer=env.idp.url))
    assert login(env, mount, unknown).status_code == 403  # never issued by the "cluster"


def test_token_review_only_mode_trusts_the_api_server(env: Env) -> None:
    mount = enable(env, {"kubernetes_host": env.idp.url, "kubernetes_ca_cert": env.idp.ca_pem,
                         "token_reviewer_jwt": REVIEWER_TOKEN, "disable_local_ca_jwt": True})
    other_key = SigningKey.ec("cluster-internal")  # keys the node was never told about
    claims = projected_claims("shop", "web", issuer="https://kubernetes.default.svc")
    token = env.idp.register(other_key.mint(claims), claims)
    assert login(env, mount, token).status_code == 200
    forged = projected_claims("shop", "web", issuer="https://kubernetes.default.svc")
    assert login(env, mount, other_key.mint(forged)).status_code == 403


# --- configuration ------------------------------------------------------------------------


def test_config_read_never_returns_the_reviewer_jwt(env: Env) -> None:
    mount = enable(env, pem_config(env, review=True))
    data = root_call(env, "GET", f"auth/{mount}/config").json()["data"]
    assert data["token_reviewer_jwt_set"] is True and "token_reviewer_jwt" not in data
    assert REVIEWER_TOKEN not in json.dumps(data)
    assert data["kubernetes_host"] == env.idp.url


@pytest.mark.parametrize(("body", "needle"), [
    ({"kubernetes_host": "http://10.0.0.1:6443"}, "kubernetes_host"),
    ({"kubernetes_host": "https://k8s", "kubernetes_ca_cert": "junk"}, "kubernetes_ca_cert"),
    ({"pem_keys": ["-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"]}, "pem_keys"),
    ({"pem_keys": "not a pem"}, "pem_keys"),
    ({"issuer": "kubernetes/serviceaccount"}, "nothing could verify"),
])
def test_bad_config_is_a_clear_400(env: Env, body: dict[str, Any], needle: str) -> None:
    mount = env.mount()
    root_call(env, "POST", f"sys/auth/{mount}", {"type": "kubernetes"})
    answer = root_call(env, "POST", f"auth/{mount}/config", body)
    assert answer.status_code == 400 and needle in error_text(answer), answer.text


@pytest.mark.parametrize(("body", "needle"), [
    ({"bound_service_account_namespaces": ["a"]}, "bound_service_account_names"),
    ({"bound_service_account_names": ["a"]}, "bound_service_account_namespaces"),
    ({"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"],
      "bound_service_account_namespace_selector": '{"matchLabels":{"a":"b"}}'},
     "namespace_selector"),
    ({"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"],
      "alias_name_source": "pod"}, "alias_name_source"),
    ({"bound_service_account_names": ["a"], "bound_service_account_namespaces": ["b"],
      "token_policies": ["root"]}, "root"),
])
def test_bad_roles_are_a_clear_400(env: Env, body: dict[str, Any], needle: str) -> None:
    mount = enable(env, pem_config(env))
    answer = root_call(env, "POST", f"auth/{mount}/role/bad", body)
    assert answer.status_code == 400 and needle in error_text(answer), answer.text


def test_roles_list_read_and_delete(env: Env) -> None:
    mount = enable(env, pem_config(env), audience="vault", alias_name_source="serviceaccount_name")
    client = hvac.Client(url=env.node.server.addr, token=env.node.root_token,
                         verify=str(env.node.server.tls.ca_cert))
    client.auth.kubernetes.create_role("second", ["x"], ["y"], mount_point=mount)
    assert client.auth.kubernetes.list_roles(mount_point=mount)["keys"] == ["app", "second"]
    role = client.auth.kubernetes.read_role("app", mount_point=mount)
    assert role["audience"] == "vault" and role["token_ttl"] == 600
    assert role["bound_service_account_namespaces"] == ["shop", "team-*"]
    client.auth.kubernetes.delete_role("second", mount_point=mount)
    assert client.auth.kubernetes.list_roles(mount_point=mount)["keys"] == ["app"]
    answer = login(env, mount, sa_token(env), role="second")
    assert answer.status_code == 400 and "invalid role" in error_text(answer)


def test_refusals_are_audited_with_the_reason_and_the_jwt_hashed(env: Env) -> None:
    mount = enable(env, pem_config(env))
    token = sa_token(env, "prod", "web")
    assert login(env, mount, token).status_code == 403
    deadline = time.monotonic() + 10
    entries: list[dict[str, Any]] = []
    while not entries and time.monotonic() < deadline:
        lines = env.audit_log.read_text().splitlines() if env.audit_log.exists() else []
        entries = [e for e in map(json.loads, lines) if e["type"] == "response"
                   and e["request"]["path"] == f"auth/{mount}/login"]
        time.sleep(0.05)
    assert entries and "namespace not authorized" in entries[-1]["error"]
    assert entries[-1]["request"]["data"]["jwt"].startswith("hmac-sha256:")
    whole = env.audit_log.read_text()
    assert token not in whole and token.split(".")[1] not in whole
    assert REVIEWER_TOKEN not in whole


def test_hvac_configure_and_read_config(env: Env) -> None:
    mount = env.mount()
    client = hvac.Client(url=env.node.server.addr, token=env.node.root_token,
                         verify=str(env.node.server.tls.ca_cert))
    client.sys.enable_auth_method("kubernetes", path=mount)
    client.auth.kubernetes.configure(env.idp.url, kubernetes_ca_cert=env.idp.ca_pem,
                                     token_reviewer_jwt=REVIEWER_TOKEN,
                                     pem_keys=[env.key.certificate_pem()], mount_point=mount,
                                     disable_local_ca_jwt=True)
    assert client.auth.kubernetes.read_config(mount_point=mount)["kubernetes_host"] == env.idp.url
    client.auth.kubernetes.create_role("app", ["web"], ["shop"], mount_point=mount)
    claims = projected_claims("shop", "web", issuer=env.idp.url)
    token = env.idp.register(env.key.mint(claims), claims)
    assert client.auth.kubernetes.login("app", token, mount_point=mount, use_token=False)["auth"]
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.auth.kubernetes.configure("http://plain.example", mount_point=mount)


def test_the_sdk_token_manager_logs_in_from_the_pods_token_file_and_rereads_it(
        env: Env, tmp_path: Path) -> None:
    """What an application in a pod does: KubernetesLogin reads the (rotated) projected
    token file at every login; a token the server refuses is replaced by a fresh login."""
    mount = enable(env, pem_config(env))
    token_file = tmp_path / "token"
    token_file.write_text(sa_token(env))
    with env.node.root as root:
        root.post("/v1/secret/data/k8s/db", json={"data": {"password": "s3"}})
    server = env.node.server
    with Client(address=server.addr, cacert=str(server.tls.ca_cert), token="unused") as app:
        manager = app.manage_token(KubernetesLogin("app", jwt_file=str(token_file),
                                                   mount=mount))
        assert app.kv.v2.read("k8s/db")["data"]["data"] == {"password": "s3"}  # type: ignore[index]
        first = app.token
        token_file.write_text(sa_token(env, name="batch-7"))  # the kubelet rotated it
        root_call(env, "POST", "auth/token/revoke", {"token": first})
        assert app.kv.v2.read("k8s/db")["data"]["data"] == {"password": "s3"}  # type: ignore[index]
        assert app.token != first and manager.lifecycle.logins == 2
        looked = root_call(env, "POST", "auth/token/lookup", {"token": app.token}).json()
        assert looked["data"]["meta"]["service_account_name"] == "batch-7"
