"""`python -m strongbox.ops.configure` against a real node: it enables and configures the
Kubernetes auth method from a state file, a second run writes nothing, and a pod's
service-account JWT then logs in through the configured role."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from strongbox.ops.configure import StateError, load_state, seconds
from tests.conftest import ReadyNode, create_token
from tests.jwt_idp import SigningKey, projected_claims

ISSUER = "https://kubernetes.default.svc.cluster.local"
POLICY = 'path "secret/data/shop/*" { capabilities = ["read"] }'


def state(key: SigningKey, path: str = "k8s-ops") -> dict[str, Any]:
    """What the chart renders for authMethods.kubernetes (local verification: pem_keys;
    no kubernetes_host, as there is no API server to send TokenReviews to here). The
    policy is named after the mount: tests sharing a node do not see each other's."""
    policy = f"{path}-web"
    return {"path": path, "config": {"kubernetes_host": "", "issuer": ISSUER,
                                          "pem_keys": [key.public_pem()],
                                          "disable_iss_validation": False},
            "policies": {policy: POLICY},
            "roles": {"shop-web": {"bound_service_account_names": ["web"],
                                   "bound_service_account_namespaces": ["shop"],
                                   "token_policies": [policy], "token_ttl": "1h",
                                   "audience": "vault"}}}


def run_configure(node: ReadyNode, tmp_path: Path, desired: dict[str, Any],
                  token: str = "") -> subprocess.CompletedProcess[str]:
    token_file, state_file = tmp_path / "token", tmp_path / "state.json"
    token_file.write_text((token or node.root_token) + "\n")
    state_file.write_text(json.dumps(desired))
    return subprocess.run(
        [sys.executable, "-m", "strongbox.ops.configure", "--addr", node.server.addr,
         "--ca-file", str(node.server.tls.ca_cert), "--token-file", str(token_file),
         "--state", str(state_file), "--wait-timeout", "20"],
        capture_output=True, text=True, timeout=60, check=False,
        # The in-pod CA path, pointed at a PEM CA that exists here.
        env={**os.environ, "STRONGBOX_KUBE_CA_FILE": str(node.server.tls.ca_cert)})


def test_configure_is_idempotent_and_the_role_logs_in(node: ReadyNode, tmp_path: Path) -> None:
    key = SigningKey.rsa("sa-signer")
    first = run_configure(node, tmp_path, state(key))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["changed"] == [
        "sys/auth/k8s-ops", "auth/k8s-ops/config", "sys/policies/acl/k8s-ops-web",
        "auth/k8s-ops/role/shop-web"]
    assert node.root_token not in first.stderr + first.stdout

    second = run_configure(node, tmp_path, state(key))
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["changed"] == []

    with node.root as client:
        config = client.get("/v1/auth/k8s-ops/config").json()["data"]
        role = client.get("/v1/auth/k8s-ops/role/shop-web").json()["data"]
    assert config["kubernetes_ca_cert"] == node.server.tls.ca_cert.read_text()
    assert config["disable_local_ca_jwt"] is False and config["token_reviewer_jwt_set"] is False
    assert role["token_ttl"] == 3600

    jwt = key.mint(projected_claims("shop", "web", issuer=ISSUER))
    with node.client() as client:
        login = client.post("/v1/auth/k8s-ops/login", json={"role": "shop-web", "jwt": jwt})
        assert login.status_code == 200, login.text
        assert login.json()["auth"]["policies"] == ["default", "k8s-ops-web"]
        other = key.mint(projected_claims("shop", "db", issuer=ISSUER))
        assert client.post("/v1/auth/k8s-ops/login",
                           json={"role": "shop-web", "jwt": other}).status_code == 403


def test_a_changed_role_is_rewritten_alone(node: ReadyNode, tmp_path: Path) -> None:
    key = SigningKey.rsa("sa-signer-2")
    desired = state(key, "k8s-ops-2")
    assert run_configure(node, tmp_path, desired).returncode == 0
    desired["roles"]["shop-web"]["token_ttl"] = "30m"
    again = run_configure(node, tmp_path, desired)
    assert json.loads(again.stdout)["changed"] == ["auth/k8s-ops-2/role/shop-web"]


def test_the_documented_configure_policy_is_enough(node: ReadyNode, tmp_path: Path) -> None:
    # docs/kubernetes.md "Enabling the Kubernetes auth method", for mount k8s-ops-3.
    hcl = """
path "sys/auth"          { capabilities = ["read"] }
path "sys/auth/*"        { capabilities = ["create", "update", "sudo"] }
path "sys/policies/acl/*" { capabilities = ["read", "create", "update"] }
path "auth/k8s-ops-3/*" { capabilities = ["read", "create", "update"] }
"""
    with node.root as client:
        assert client.put("/v1/sys/policies/acl/sb-configure",
                          json={"policy": hcl}).status_code == 204
    token = create_token(node, policies=["sb-configure"])["client_token"]
    desired = state(SigningKey.rsa("sa-signer-3"), "k8s-ops-3")
    first = run_configure(node, tmp_path, desired, token)
    assert first.returncode == 0, first.stderr
    assert len(json.loads(first.stdout)["changed"]) == 4
    again = run_configure(node, tmp_path, desired, token)
    assert json.loads(again.stdout)["changed"] == []


def test_another_method_at_the_path_is_an_error(node: ReadyNode, tmp_path: Path) -> None:
    with node.root as client:
        assert client.post("/v1/sys/auth/taken", json={"type": "userpass"}).status_code < 300
    result = run_configure(node, tmp_path, state(SigningKey.rsa("k"), "taken"))
    assert result.returncode == 1
    assert "not kubernetes" in result.stderr


def test_a_bad_state_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text('{"path": "../x"}')
    with pytest.raises(StateError):
        load_state(tmp_path / "bad.json")
    assert seconds("1h") == 3600 and seconds("15m") == 900 and seconds(90) == 90
    with pytest.raises(StateError):
        seconds("an hour")
