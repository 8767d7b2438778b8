"""What the chart renders, with defaults and with each option on (real Helm engine)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes_validate
import pytest

from strongbox.config import load_config
from tests.chart.conftest import ALL_OPTIONS, CHART_DIR, ROOT, Manifest, find, kinds, render

CRDS = {"Certificate", "ServiceMonitor"}  # no schema in kubernetes-validate: checked by hand
SELECTOR = {"app.kubernetes.io/name": "strongbox", "app.kubernetes.io/instance": "strongbox",
            "app.kubernetes.io/component": "server"}


def pod_specs(objects: list[Manifest]) -> list[dict[str, Any]]:
    specs = []
    for o in objects:
        if o["kind"] in ("StatefulSet", "Job"):
            specs.append(o["spec"]["template"]["spec"])
        elif o["kind"] == "CronJob":
            specs.append(o["spec"]["jobTemplate"]["spec"]["template"]["spec"])
    return specs


def server(objects: list[Manifest]) -> dict[str, Any]:
    spec = find(objects, "StatefulSet")["spec"]["template"]["spec"]
    return next(c for c in spec["containers"] if c["name"] == "strongbox")


def configs(objects: list[Manifest]) -> dict[str, dict[str, Any]]:
    data = find(objects, "ConfigMap", "strongbox-config")["data"]
    return {name: tomllib.loads(text) for name, text in data.items()}


@pytest.mark.parametrize("values", [{}, ALL_OPTIONS, {"server": {"replicas": 5}},
                                    {"tls": {"mode": "existingSecrets"},
                                     "serviceRegistration": {"enabled": False}},
                                    {"bootstrap": {"enabled": True, "insecureDev": True}}],
                         ids=["defaults", "all-options", "five", "no-registration", "dev"])
def test_every_manifest_validates_against_the_kubernetes_schema(values: dict[str, Any]) -> None:
    for obj in render(values):
        if obj["kind"] in CRDS:
            assert obj["apiVersion"] in ("cert-manager.io/v1", "monitoring.coreos.com/v1")
            assert obj["metadata"]["name"] and obj["spec"]
            continue
        kubernetes_validate.validate(obj, "1.30", strict=True)


def test_defaults_render_the_documented_objects() -> None:
    assert kinds(render()) == sorted([
        "Certificate", "Certificate", "Certificate", "ConfigMap", "NetworkPolicy", "NetworkPolicy",
        "PodDisruptionBudget", "Role", "RoleBinding", "Service", "Service", "Service",
        "Service", "ServiceAccount", "StatefulSet"])


def test_statefulset_runs_three_parallel_pods_each_with_its_own_volume() -> None:
    sts = find(render(), "StatefulSet")["spec"]
    assert sts["replicas"] == 3
    assert sts["podManagementPolicy"] == "Parallel"
    assert sts["serviceName"] == "strongbox-internal"
    assert sts["updateStrategy"] == {"type": "OnDelete"}
    claim = sts["volumeClaimTemplates"][0]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    assert "storageClassName" not in claim["spec"]
    custom = find(render({"dataStorage": {"size": "50Gi", "storageClass": "fast"}}),
                  "StatefulSet")["spec"]["volumeClaimTemplates"][0]["spec"]
    assert custom["storageClassName"] == "fast"
    assert custom["resources"]["requests"]["storage"] == "50Gi"


@pytest.mark.parametrize("replicas", [1, 3, 5, 7])
def test_each_node_config_lists_every_other_member_by_stable_dns_name(replicas: int) -> None:
    objects = render({"server": {"replicas": replicas}})
    members = {f"strongbox-{n}": f"strongbox-{n}.strongbox-internal.vault.svc:8201"
               for n in range(replicas)}
    rendered = configs(objects)
    assert set(rendered) == {f"{m}.toml" for m in members}
    for node_id, address in members.items():
        config = rendered[f"{node_id}.toml"]
        assert config["node_id"] == node_id
        assert config["cluster"]["advertise_address"] == address
        assert config["cluster"]["peers"] == [f"{m}={a}" for m, a in members.items()
                                              if m != node_id]
        assert config["listener"]["tls_cert_file"] == f"/etc/strongbox/tls/{node_id}/tls.crt"
    args = server(objects)["args"]
    assert args == ["server", "--config", "/etc/strongbox/config/$(POD_NAME).toml"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} \
        in server(objects)["env"]


def probe_query(probe: dict[str, Any]) -> dict[str, str]:
    get = probe["httpGet"]
    assert get["scheme"] == "HTTPS" and get["port"] == "api"
    url = urlsplit(get["path"])
    assert url.path == "/v1/sys/health"
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def test_probes_understand_the_seal() -> None:
    container = server(render())
    ready = probe_query(container["readinessProbe"])
    assert ready["standbyok"] == "true"               # followers serve reads: Ready
    assert ready["sealedcode"] == ready["uninitcode"] == "503"  # sealed: not Ready
    assert ready["laggingcode"] == "503"              # not caught up: not Ready
    for name in ("livenessProbe", "startupProbe"):
        live = probe_query(container[name])           # sealed/uninit is alive: 2xx
        assert 200 <= int(live["sealedcode"]) < 300 and 200 <= int(live["uninitcode"]) < 300
        assert live["standbyok"] == "true"
        assert "laggingcode" not in live              # a lagging pod is never restarted
    assert container["startupProbe"]["failureThreshold"] * \
        container["startupProbe"]["periodSeconds"] >= 300   # room for a slow journal replay


def test_every_pod_runs_non_root_read_only_without_privileges() -> None:
    objects = render(ALL_OPTIONS | {"bootstrap": {"enabled": True, "insecureDev": True}})
    specs = pod_specs(objects)
    assert len(specs) == 3  # server, snapshot CronJob, bootstrap Job
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert any(v["name"] == "tmp" and "emptyDir" in v for v in spec["volumes"])
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] > 0
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_server_container_gets_no_kubernetes_token() -> None:
    spec = find(render(), "StatefulSet")["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert all("kube" not in m["name"] for m in server(render())["volumeMounts"])
    sidecar = next(c for c in spec["containers"] if c["name"] == "podlabel")
    assert any(m["name"] == "kube-token" for m in sidecar["volumeMounts"])
    opted_in = find(render({"serviceAccount": {"automountToken": True}}), "StatefulSet")
    assert opted_in["spec"]["template"]["spec"]["automountServiceAccountToken"] is True


def test_graceful_shutdown_fits_in_the_grace_period() -> None:
    spec = find(render(), "StatefulSet")["spec"]["template"]["spec"]
    container = server(render())
    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[:2] == ["python", "-c"] and "time.sleep(5)" in sleep[2]
    # preStop 5 s + uvicorn drain 3 s + leadership handoff <= 5 s + closing Raft and LMDB
    assert spec["terminationGracePeriodSeconds"] >= 5 + 3 + 5 + 5


def test_pods_spread_and_disruptions_are_one_at_a_time() -> None:
    objects = render()
    affinity = find(objects, "StatefulSet")["spec"]["template"]["spec"]["affinity"]
    [term] = affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == SELECTOR
    pdb = find(objects, "PodDisruptionBudget")["spec"]
    assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}}
    soft = find(render({"server": {"antiAffinity": "preferred"}}), "StatefulSet")
    anti = soft["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert list(anti) == ["preferredDuringSchedulingIgnoredDuringExecution"]
    spread = find(render(ALL_OPTIONS), "StatefulSet")["spec"]["template"]["spec"]
    assert spread["topologySpreadConstraints"][0]["topologyKey"] == \
        "topology.kubernetes.io/zone"


def test_services_select_ready_pods_and_the_active_label() -> None:
    services = {o["metadata"]["name"]: o["spec"] for o in render() if o["kind"] == "Service"}
    assert set(services) == {"strongbox", "strongbox-internal", "strongbox-active",
                             "strongbox-standby"}
    internal = services["strongbox-internal"]
    assert internal["clusterIP"] == "None" and internal["publishNotReadyAddresses"] is True
    assert services["strongbox"]["selector"] == SELECTOR
    assert services["strongbox"]["publishNotReadyAddresses"] is False
    assert services["strongbox-active"]["selector"] == {**SELECTOR,
                                                        "strongbox.io/active": "true"}
    assert services["strongbox-standby"]["selector"] == {**SELECTOR,
                                                         "strongbox.io/active": "false"}
    role = find(render(), "Role", "strongbox-podlabel")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"],
                              "verbs": ["get", "patch"],
                              "resourceNames": ["strongbox-0", "strongbox-1", "strongbox-2"]}]


def test_without_service_registration_there_are_no_labels_to_patch() -> None:
    objects = render({"serviceRegistration": {"enabled": False}})
    assert {o["metadata"]["name"] for o in objects if o["kind"] == "Service"} == \
        {"strongbox", "strongbox-internal"}
    assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding")]
    spec = find(objects, "StatefulSet")["spec"]["template"]["spec"]
    assert [c["name"] for c in spec["containers"]] == ["strongbox"]


def test_network_policy_opens_the_cluster_port_only_between_strongbox_pods() -> None:
    policy = find(render(ALL_OPTIONS), "NetworkPolicy", "strongbox")["spec"]
    cluster_rule, api_rule = policy["ingress"]
    assert cluster_rule == {"from": [{"podSelector": {"matchLabels": SELECTOR}}],
                            "ports": [{"port": 8201, "protocol": "TCP"}]}
    assert api_rule["ports"] == [{"port": 8200, "protocol": "TCP"}]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "apps"}}} \
        in api_rule["from"]
    jobs = find(render(ALL_OPTIONS), "NetworkPolicy", "strongbox-jobs")["spec"]
    assert jobs["policyTypes"] == ["Ingress"] and "ingress" not in jobs   # nothing gets in


def test_each_pod_gets_a_certificate_naming_it_for_both_listeners() -> None:
    objects = render()
    certs = [o for o in objects if o["kind"] == "Certificate"]
    assert [c["spec"]["commonName"] for c in certs] == ["strongbox-0", "strongbox-1",
                                                         "strongbox-2"]
    for n, cert in enumerate(certs):
        spec = cert["spec"]
        assert spec["secretName"] == f"strongbox-tls-{n}"
        assert {"server auth", "client auth"} <= set(spec["usages"])
        names = set(spec["dnsNames"])
        # the gRPC peers verify the node id; clients verify the DNS names they dial
        assert {f"strongbox-{n}", f"strongbox-{n}.strongbox-internal.vault.svc",
                "strongbox.vault.svc", "strongbox-active.vault.svc", "localhost"} <= names
    sources = next(v for v in find(objects, "StatefulSet")["spec"]["template"]["spec"]
                   ["volumes"] if v["name"] == "tls")["projected"]["sources"]
    assert [s["secret"]["name"] for s in sources] == [f"strongbox-tls-{n}" for n in range(3)]
    assert not [o for o in render({"tls": {"mode": "existingSecrets"}})
                if o["kind"] == "Certificate"]


def test_options_render_monitoring_snapshots_and_bootstrap() -> None:
    objects = render(ALL_OPTIONS)
    monitor = find(objects, "ServiceMonitor")["spec"]["endpoints"][0]
    assert monitor["path"] == "/v1/sys/metrics" and monitor["scheme"] == "https"
    dashboard = find(objects, "ConfigMap", "strongbox-dashboard")["data"]["strongbox.json"]
    assert dashboard.strip() == (ROOT / "docs" / "grafana-dashboard.json").read_text().strip()
    cron = find(objects, "CronJob")["spec"]
    job = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    container = job["containers"][0]
    assert container["command"] == ["python", "-m", "strongbox.ops.backup", "save"]
    assert container["args"][container["args"].index("--keep") + 1] == "14"
    assert find(objects, "PersistentVolumeClaim")["metadata"]["name"] == "strongbox-snapshots"
    assert any(v.get("secret", {}).get("secretName") == "strongbox-snapshot-token"
               for v in job["volumes"])
    boot = find(objects, "Job")["spec"]["template"]["spec"]
    args = boot["containers"][0]["args"]
    nodes = [args[i + 1] for i, a in enumerate(args) if a == "--node"]
    assert nodes == [f"https://strongbox-{n}.strongbox-internal.vault.svc:8200"
                     for n in range(3)]
    assert "--insecure-dev-secrets" not in args and boot["automountServiceAccountToken"] is False
    assert not [o for o in objects if o["kind"] == "Role" and "bootstrap" in
                o["metadata"]["name"]]


def test_insecure_dev_bootstrap_alone_may_create_secrets() -> None:
    objects = render({"bootstrap": {"enabled": True, "insecureDev": True}})
    role = find(objects, "Role", "strongbox-bootstrap")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"],
                              "verbs": ["create"]}]
    boot = find(objects, "Job")["spec"]["template"]["spec"]
    assert boot["automountServiceAccountToken"] is True
    assert boot["serviceAccountName"] == "strongbox-bootstrap"
    assert "--insecure-dev-secrets" in boot["containers"][0]["args"]


def test_snapshot_without_a_token_secret_fails_to_render() -> None:
    from helm_python.errors import HelmError
    with pytest.raises(HelmError, match=r"snapshot\.tokenSecret\.name is required"):
        render({"snapshot": {"enabled": True}})


def test_chart_dashboard_copy_is_the_documented_one() -> None:
    assert (CHART_DIR / "files" / "grafana-dashboard.json").read_text() == \
        (ROOT / "docs" / "grafana-dashboard.json").read_text()


def test_rendered_configs_load_with_the_real_config_loader(tmp_path: Path) -> None:
    extra = "[limits]\nwrite_timeout_s = 4.0"
    objects = render({"server": {"extraConfig": extra}})
    data = find(objects, "ConfigMap", "strongbox-config")["data"]
    env = {}
    for key in ("LISTENER__TLS_CERT_FILE", "LISTENER__TLS_KEY_FILE", "CLUSTER__TLS_CA_FILE",
                "CLUSTER__TLS_CERT_FILE", "CLUSTER__TLS_KEY_FILE"):  # no Secrets mounted here
        (tmp_path / key).write_text("x")
        env[f"STRONGBOX_{key}"] = str(tmp_path / key)
    for name, text in data.items():
        (tmp_path / name).write_text(text)
        config = load_config(tmp_path / name, env=env)
        assert config.node_id == name.removesuffix(".toml")
        assert config.limits.write_timeout_s == 4.0
        assert config.listener.address == "0.0.0.0:8200"
        pod = name.removesuffix(".toml")
        assert config.api_addr == f"https://{pod}.strongbox-internal.vault.svc:8200"
        assert config.observability.metrics_unauthenticated is True
