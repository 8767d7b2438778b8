"""authMethods.kubernetes: the configure Job, its state ConfigMap and the TokenReview RBAC,
rendered only when enabled (real Helm engine, Kubernetes schema)."""

from __future__ import annotations

import json
from typing import Any

import helm_python
import kubernetes_validate
import pytest
from helm_python.errors import HelmError, HelmValuesError

from tests.chart.conftest import CHART_DIR, Manifest, find, kinds, render

POLICY = 'path "secret/data/shop/*" { capabilities = ["read"] }'
ENABLED: dict[str, Any] = {"authMethods": {"kubernetes": {
    "enabled": True, "tokenSecret": {"name": "strongbox-admin-token"},
    "policies": {"shop-web": POLICY},
    "roles": [{"name": "shop-web", "boundServiceAccountNames": ["web"],
               "boundServiceAccountNamespaces": ["shop"], "policies": ["shop-web"],
               "ttl": "1h"}]}}}


def with_kubernetes(**options: Any) -> dict[str, Any]:
    return {"authMethods": {"kubernetes": {**ENABLED["authMethods"]["kubernetes"], **options}}}


def configure_job(objects: list[Manifest]) -> Manifest:
    return find(objects, "Job")


def server_mounts(objects: list[Manifest]) -> list[dict[str, Any]]:
    spec = find(objects, "StatefulSet")["spec"]["template"]["spec"]
    container = next(c for c in spec["containers"] if c["name"] == "strongbox")
    mounts: list[dict[str, Any]] = container["volumeMounts"]
    return mounts


def test_defaults_render_nothing_of_it() -> None:
    objects = render()
    assert "Job" not in kinds(objects) and "ClusterRoleBinding" not in kinds(objects)
    assert not [o for o in objects if o["metadata"]["name"].endswith("auth-kubernetes")]


@pytest.mark.parametrize("values", [ENABLED, with_kubernetes(kubernetesHost=""),
                                    ENABLED | {"serviceRegistration": {"enabled": False}}],
                         ids=["token-review", "local-only", "no-registration"])
def test_enabled_manifests_validate_against_the_kubernetes_schema(values: dict[str, Any]) \
        -> None:
    for obj in render(values):
        if obj["kind"] not in ("Certificate", "ServiceMonitor"):
            kubernetes_validate.validate(obj, "1.30", strict=True)


def test_the_state_is_the_values_in_the_configure_programs_terms() -> None:
    objects = render(ENABLED)
    state = json.loads(find(objects, "ConfigMap", "strongbox-auth-kubernetes")["data"]
                       ["state.json"])
    assert state == {
        "path": "kubernetes",
        "config": {"kubernetes_host": "https://kubernetes.default.svc", "issuer": "",
                   "pem_keys": [], "disable_iss_validation": False},
        "policies": {"shop-web": POLICY},
        "roles": {"shop-web": {"bound_service_account_names": ["web"],
                               "bound_service_account_namespaces": ["shop"],
                               "token_policies": ["shop-web"], "token_ttl": "1h",
                               "audience": ""}}}


def test_the_job_runs_configure_with_a_token_from_the_secret_and_no_kube_token() -> None:
    job = configure_job(render(ENABLED))
    spec = job["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    container = spec["containers"][0]
    assert container["command"] == ["python", "-m", "strongbox.ops.configure"]
    args = dict(zip(container["args"][::2], container["args"][1::2], strict=True))
    assert args["--addr"] == "https://strongbox.vault.svc:8200"
    assert args["--token-file"] == "/etc/strongbox/token/token"
    assert args["--kube-ca-file"] == "/etc/strongbox/kube/ca.crt"
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["token"]["secret"]["secretName"] == "strongbox-admin-token"
    assert volumes["kube-ca"]["configMap"]["name"] == "kube-root-ca.crt"
    assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == \
        "configure"


def test_a_changed_state_is_a_new_job_and_the_same_state_the_same_job() -> None:
    name = configure_job(render(ENABLED))["metadata"]["name"]
    assert name.startswith("strongbox-configure-")
    assert configure_job(render(ENABLED))["metadata"]["name"] == name
    changed = with_kubernetes(policies={"shop-web": POLICY + "\n"})
    assert configure_job(render(changed))["metadata"]["name"] != name


def test_token_review_binds_auth_delegator_and_mounts_the_pod_token() -> None:
    objects = render(ENABLED)
    binding = find(objects, "ClusterRoleBinding")
    assert binding["metadata"]["name"] == "vault-strongbox-tokenreview"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": "ClusterRole", "name": "system:auth-delegator"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "strongbox",
                                    "namespace": "vault"}]
    assert {"name": "kube-token", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
            "readOnly": True} in server_mounts(objects)
    alone = render(ENABLED | {"serviceRegistration": {"enabled": False}})
    assert any(m["name"] == "kube-token" for m in server_mounts(alone))


def test_local_only_verification_needs_no_rbac_and_no_server_token() -> None:
    objects = render(with_kubernetes(kubernetesHost="", pemKeys=[
        "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"]))
    assert "ClusterRoleBinding" not in kinds(objects)
    assert all("kube" not in m["name"] for m in server_mounts(objects))


def test_the_job_may_not_receive_ingress() -> None:
    objects = render(ENABLED)
    jobs = find(objects, "NetworkPolicy", "strongbox-jobs")["spec"]["podSelector"]
    components = next(e for e in jobs["matchExpressions"]
                      if e["key"] == "app.kubernetes.io/component")
    assert "configure" in components["values"]


def test_enabled_without_a_token_secret_fails_to_render() -> None:
    with pytest.raises(HelmError, match=r"authMethods\.kubernetes\.tokenSecret\.name"):
        render({"authMethods": {"kubernetes": {"enabled": True}}})


@pytest.mark.parametrize(("values", "complaint"), [
    (with_kubernetes(role=[]), "additional properties 'role' not allowed"),
    (with_kubernetes(roles=[{"name": "x", "boundServiceAccountNames": ["a"],
                             "boundServiceAccountNamespaces": ["b"], "ttls": "1h"}]),
     "additional properties 'ttls' not allowed"),
    (with_kubernetes(roles=[{"name": "x", "boundServiceAccountNames": ["a"]}]),
     "missing property 'boundServiceAccountNamespaces'"),
    (with_kubernetes(roles=[{"name": "x", "boundServiceAccountNames": ["a"],
                             "boundServiceAccountNamespaces": ["b"], "ttl": "an hour"}]),
     "does not match pattern"),
    (with_kubernetes(kubernetesHost="http://kubernetes.default.svc"), "does not match pattern"),
    (with_kubernetes(path="../sys"), "does not match pattern"),
    (with_kubernetes(policies={"Shop Web": POLICY}), "does not match pattern"),
])
def test_schema_rejects_bad_auth_values(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(HelmValuesError, match=complaint):
        render(values)


def test_helm_lint_is_clean_with_it_enabled() -> None:
    report = helm_python.lint(CHART_DIR, ENABLED, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_the_job_runs_non_root_read_only_without_privileges() -> None:
    spec = configure_job(render(ENABLED))["spec"]["template"]["spec"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    sc = spec["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
