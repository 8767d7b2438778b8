"""The chart's rendered configuration, run for real: three `strongbox server` processes
started with exactly the rendered ConfigMap, args and env of the StatefulSet, bootstrapped
by the rendered bootstrap Job's command (twice, concurrently), backed up by the rendered
snapshot CronJob's command, and restored; the rendered configure Job enables the
Kubernetes auth method from values (twice: the second run changes nothing) and a
service-account JWT logs in through the configured role.

Kubernetes is not here, so the test rewrites only what a pod gets from Kubernetes: the
stable DNS names `strongbox-N.strongbox-internal.vault.svc` and the Service name become
127.0.0.1 with a port per pod (pods share one port number, processes on one loopback
cannot), `0.0.0.0:<port>` binds become 127.0.0.1 with that pod's ports, and the mount
points (/etc/strongbox/config, /etc/strongbox/tls, /var/lib/strongbox, /backups) become
directories under tmp_path. Everything else is the rendered text, byte for byte. The
certificates are issued from the rendered cert-manager Certificates (CN, DNS names).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from strongbox.testing import CertificateAuthority, free_port
from tests.chart.conftest import find, render
from tests.chart.fake_kube import FakeKube
from tests.jwt_idp import SigningKey, projected_claims

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
SA_SIGNER = SigningKey.rsa("sa-signer")  # the cluster's service-account signing key
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"
VALUES: dict[str, Any] = {
    "bootstrap": {"enabled": True, "shares": 3, "threshold": 2},
    "snapshot": {"enabled": True, "keep": 2, "tokenSecret": {"name": "snapshot-token"}},
    # No API server here: local verification with the signing key, no TokenReview.
    "authMethods": {"kubernetes": {
        "enabled": True, "kubernetesHost": "", "issuer": SA_ISSUER,
        "pemKeys": [SA_SIGNER.public_pem()], "tokenSecret": {"name": "admin-token"},
        "policies": {"shop-web": 'path "secret/data/shop/*" { capabilities = ["read"] }'},
        "roles": [{"name": "shop-web", "boundServiceAccountNames": ["web"],
                   "boundServiceAccountNamespaces": ["shop"], "policies": ["shop-web"],
                   "ttl": "1h"}]}},
}
DEADLINE_S = 60.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Pod:
    name: str
    api_port: int
    cluster_port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"


class Loopback:
    """The rewriting described in the module docstring, in one place."""

    def __init__(self, root: Path, pods: list[Pod]) -> None:
        self.root, self.pods = root, pods

    def text(self, text: str, pod: Pod | None = None) -> str:
        for other in self.pods:
            text = text.replace(f"{other.name}.strongbox-internal.vault.svc:8201",
                                f"127.0.0.1:{other.cluster_port}")
            text = text.replace(f"https://{other.name}.strongbox-internal.vault.svc:8200",
                                other.addr)
        text = text.replace("https://strongbox.vault.svc:8200", self.pods[0].addr)
        if pod is not None:
            text = text.replace("0.0.0.0:8200", f"127.0.0.1:{pod.api_port}")
            text = text.replace("0.0.0.0:8201", f"127.0.0.1:{pod.cluster_port}")
            text = text.replace("https://127.0.0.1:8200", pod.addr)
            text = text.replace("$(POD_NAME)", pod.name)
        for mount, local in (("/etc/strongbox/config", "config"), ("/etc/strongbox/tls", "tls"),
                             ("/var/lib/strongbox", "data"), ("/backups", "backups"),
                             ("/etc/strongbox/token", "token"), ("/etc/strongbox/state", "state"),
                             ("/etc/strongbox/kube", "kube-api-ca")):
            text = re.sub(re.escape(mount) + r"(?=/|\"|$)", str(self.root / local), text)
        if pod is not None:  # each pod has its own data volume
            text = text.replace(str(self.root / "data"), str(self.root / "data" / pod.name))
        return text

    def args(self, args: list[str], pod: Pod | None = None) -> list[str]:
        return [self.text(a, pod) for a in args]


def issue(ca: CertificateAuthority, spec: dict[str, Any], directory: Path) -> None:
    """What cert-manager would put in the Secret for this rendered Certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in spec["dnsNames"]]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec["ipAddresses"]]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                        spec["commonName"])]))
            .issuer_name(ca.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca.key, hashes.SHA256()))
    (directory / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (directory / "ca.crt").write_bytes(ca.cert_file.read_bytes())


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[tuple[list[Pod], Loopback, list[dict[str, Any]]]]:
    objects = render(VALUES)
    pods = [Pod(f"strongbox-{n}", free_port(), free_port()) for n in range(3)]
    loop = Loopback(tmp_path, pods)
    ca = CertificateAuthority.create(tmp_path / "ca")
    for cert in (o for o in objects if o["kind"] == "Certificate"):
        issue(ca, cert["spec"], tmp_path / "tls" / cert["spec"]["commonName"])
    (tmp_path / "tls" / "ca.crt").write_bytes(ca.cert_file.read_bytes())  # the Jobs' mount
    (tmp_path / "config").mkdir()
    for name, text in find(objects, "ConfigMap", "strongbox-config")["data"].items():
        pod = next(p for p in pods if name == f"{p.name}.toml")
        (tmp_path / "config" / name).write_text(loop.text(text, pod))
    container = find(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    try:
        for pod in pods:
            (tmp_path / "data" / pod.name).mkdir(parents=True)
            env = {e["name"]: loop.text(e["value"], pod) for e in container["env"]
                   if "value" in e}
            env["POD_NAME"] = pod.name  # the downward API
            log = (tmp_path / f"{pod.name}.log").open("ab")
            # the image's ENTRYPOINT is `strongbox` (cluster/Dockerfile)
            pod.proc = subprocess.Popen(
                [sys.executable, "-m", "strongbox.cli.main", *loop.args(container["args"],
                                                                         pod)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
            log.close()
        yield pods, loop, objects
    finally:
        for pod in pods:
            if pod.proc is not None and pod.proc.poll() is None:
                pod.proc.terminate()
        for pod in pods:
            if pod.proc is not None:
                try:
                    pod.proc.wait(30)
                except subprocess.TimeoutExpired:
                    pod.proc.kill()
                    pod.proc.wait()


def client(pod: Pod, root: Path, token: str = "") -> httpx.Client:
    context = ssl.create_default_context(cafile=str(root / "tls" / pod.name / "ca.crt"))
    headers = {"X-Vault-Token": token} if token else {}
    return httpx.Client(base_url=pod.addr, verify=context, headers=headers, timeout=30.0)


def probe(pod: Pod, root: Path, container: dict[str, Any], name: str) -> int:
    with client(pod, root) as c:
        return c.get(container[name]["httpGet"]["path"]).status_code


def run_job(argv: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def check_service_registration(pods: list[Pod], loop: Loopback, objects: list[dict[str, Any]],
                               root: Path, leader_addr: str) -> None:
    """The rendered podlabel sidecars label exactly the leader strongbox.io/active=true."""
    spec = find(objects, "StatefulSet")["spec"]["template"]["spec"]
    sidecar = next(c for c in spec["containers"] if c["name"] == "podlabel")
    kube = FakeKube(root / "kube").start(CertificateAuthority.create(root / "kube-ca"))
    sidecars = []
    try:
        for pod in pods:
            env = {**os.environ, **kube.env(), "POD_NAME": pod.name}
            sidecars.append(subprocess.Popen(  # the rendered command and args
                [sys.executable, *sidecar["command"][1:], *loop.args(sidecar["args"], pod),
                 "--heartbeat", str(root / f"{pod.name}.alive")], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        leader = next(p.name for p in pods if p.addr == leader_addr)
        wanted = {p.name: {"strongbox.io/active": "true" if p.name == leader else "false"}
                  for p in pods}
        wait_for(lambda: kube.labels == wanted, f"labels {wanted}, have {kube.labels}")
        assert {c.content_type for c in kube.calls} == {"application/merge-patch+json"}
    finally:
        for proc in sidecars:
            proc.terminate()
            proc.wait(10)
        kube.stop()


def check_kubernetes_auth(pods: list[Pod], loop: Loopback, objects: list[dict[str, Any]],
                          root: Path, token: str) -> None:
    """The rendered configure Job, run twice, then a login through the configured role."""
    (root / "state").mkdir()
    (root / "state" / "state.json").write_text(
        find(objects, "ConfigMap", "strongbox-auth-kubernetes")["data"]["state.json"])
    (root / "kube-api-ca").mkdir()
    (root / "kube-api-ca" / "ca.crt").write_bytes((root / "tls" / "ca.crt").read_bytes())
    job = next(o for o in objects if o["kind"] == "Job"
               and o["metadata"]["name"].startswith("strongbox-configure-"))
    container = job["spec"]["template"]["spec"]["containers"][0]
    argv = ["-m", *container["command"][2:], *loop.args(container["args"])]
    changes = []
    for _ in range(2):
        run = run_job(argv)
        code, out, err = run.wait(120), *run.communicate()
        assert code == 0, err
        assert token not in err + out
        changes.append(json.loads(out)["changed"])
    assert len(changes[0]) == 4 and changes[1] == []
    jwt = SA_SIGNER.mint(projected_claims("shop", "web", issuer=SA_ISSUER))
    with client(pods[1], root) as c:
        login = c.post("/v1/auth/kubernetes/login", json={"role": "shop-web", "jwt": jwt})
        assert login.status_code == 200, login.text
        assert login.json()["auth"]["policies"] == ["default", "shop-web"]


def test_rendered_chart_forms_a_cluster_bootstraps_once_backs_up_and_restores(
        deployed: tuple[list[Pod], Loopback, list[dict[str, Any]]], tmp_path: Path) -> None:
    pods, loop, objects = deployed
    container = find(objects, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    for pod in pods:  # sealed and uninitialized: alive (liveness 2xx) but not Ready
        wait_for(lambda pod=pod: probe(pod, tmp_path, container, "livenessProbe") == 204,
                 f"{pod.name} to answer its liveness probe")
        assert probe(pod, tmp_path, container, "startupProbe") == 204
        assert probe(pod, tmp_path, container, "readinessProbe") == 503

    job = find(objects, "Job", "strongbox-bootstrap")["spec"]["template"]["spec"][
        "containers"][0]
    argv = ["-m", "strongbox.ops.bootstrap", *loop.args(job["args"]), "--output", "json"]
    racers = [run_job(argv), run_job(argv)]
    results = [(r.wait(180), *r.communicate()) for r in racers]
    assert [code for code, _, _ in results] == [0, 0], results
    printed = [out for _, out, _ in results if out.strip()]
    assert len(printed) == 1, results          # exactly one of the two initialized
    init = json.loads(printed[0])
    assert len(init["keys"]) == 3
    loser = next(err for _, out, err in results if not out.strip())
    assert "already initialized" in loser or "initialized the cluster first" in loser
    for _, _, err in results:                  # the shares never reach the log
        assert init["keys"][0] not in err and init["root_token"] not in err
    again = run_job(argv)
    code, out, err = again.wait(120), *again.communicate()
    assert (code, out) == (0, "") and "already initialized" in err

    for pod in pods:
        with client(pod, tmp_path) as c:
            wait_for(lambda c=c: c.get("/v1/sys/seal-status").json()["initialized"],
                     f"{pod.name} to replicate the init")
            for key in init["keys"][:2]:
                c.put("/v1/sys/unseal", json={"key": key}).raise_for_status()
        wait_for(lambda pod=pod: probe(pod, tmp_path, container, "readinessProbe") == 200,
                 f"{pod.name} to turn Ready once unsealed")
    root = init["root_token"]
    with client(pods[0], tmp_path, root) as c:
        wait_for(lambda: len(c.get("/v1/sys/storage/raft/configuration")
                             .json()["data"]["config"]["servers"]) == 3, "three voters")
        servers = c.get("/v1/sys/storage/raft/configuration").json()["data"]["config"]["servers"]
        assert sorted(s["node_id"] for s in servers) == [p.name for p in pods]
        assert all(s["voter"] for s in servers)
        assert sum(s["leader"] for s in servers) == 1

        first = c.post("/v1/secret/data/drill/first", json={"data": {"v": "kept"}})
        assert first.status_code == 200, first.text
        leader = c.get("/v1/sys/leader").json()["leader_address"]
    for pod in pods:  # every member names the leader by its advertised address
        with client(pod, tmp_path) as c:
            assert c.get("/v1/sys/leader").json()["leader_address"] == leader
    check_service_registration(pods, loop, objects, tmp_path, leader)

    (tmp_path / "token").mkdir()
    (tmp_path / "token" / "token").write_text(root)
    check_kubernetes_auth(pods, loop, objects, tmp_path, root)
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "README").write_text("not a snapshot: retention leaves it alone")
    cron = find(objects, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    save = ["-m", *cron["containers"][0]["command"][2:], *loop.args(cron["containers"][0]
                                                                    ["args"])]
    saved = []
    for _ in range(3):
        run = run_job(save)
        code, out, err = run.wait(120), *run.communicate()
        assert code == 0, err
        saved.append(Path(out.strip()))
        assert root not in err
    kept = sorted(backups.glob("strongbox-*.snap"))
    assert kept == saved[1:]                   # keep = 2: the oldest was pruned
    assert (backups / "README").exists()

    with client(pods[0], tmp_path, root) as c:
        later = c.post("/v1/secret/data/drill/later", json={"data": {"v": "gone"}})
        assert later.status_code == 200
    restore = ["-m", "strongbox.ops.backup", "restore", "--addr", pods[0].addr,
               "--ca-file", str(tmp_path / "tls" / "strongbox-0" / "ca.crt"),
               "--token-file", str(tmp_path / "token" / "token"), "--file", str(saved[-1])]
    run = run_job(restore)
    code, _, err = run.wait(120), *run.communicate()
    assert code == 0, err
    for pod in pods:
        with client(pod, tmp_path, root) as c:
            wait_for(lambda c=c: c.get("/v1/secret/data/drill/later").status_code == 404,
                     f"{pod.name} to apply the restore")
            assert c.get("/v1/secret/data/drill/first").json()["data"]["data"] == \
                {"v": "kept"}
