"""Auto-unseal from the chart, run for real: `strongbox server` processes started with the
ConfigMap rendered for `seal.type: static` (the seal every machine can run), the seal key
where the rendered StatefulSet mounts the Secret, and the rendered bootstrap Job's command:
it reads the seal type, initializes with recovery keys, prints them as recovery keys, and
`--unseal` only waits until every node has unsealed itself. A restarted pod unseals itself.

As in tests/cluster/test_chart_cluster.py, only what Kubernetes provides is rewritten:
pod DNS names become 127.0.0.1 ports, and mount points become directories under tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from strongbox.testing import CertificateAuthority, free_port
from tests.chart.conftest import find, render
from tests.chart.fake_kube import FakeKube
from tests.cluster.test_chart_cluster import Pod  # the same pod as the cluster test

pytestmark = pytest.mark.integration
SEAL = {"type": "static", "static": {"keySecret": {"name": "strongbox-static-seal"}}}
MOUNTS = (("/etc/strongbox/config", "config"), ("/etc/strongbox/tls", "tls"),
          ("/etc/strongbox/seal", "seal"), ("/etc/strongbox/previous-seal", "previous-seal"),
          ("/var/lib/strongbox", "data"))
DEADLINE_S = 60.0


class Deployment:
    """The rendered chart's pods as local processes."""

    def __init__(self, root: Path, values: dict[str, Any], secrets: dict[str, str]) -> None:
        self.root, self.secrets = root, secrets
        replicas = int(values.get("server", {}).get("replicas", 3))
        self.pods = [Pod(f"strongbox-{n}", free_port(), free_port()) for n in range(replicas)]
        ca = CertificateAuthority.create(self.root / "ca")
        for pod in self.pods:
            files = ca.issue(self.root / "issued", pod.name)
            directory = self.root / "tls" / pod.name
            directory.mkdir(parents=True)
            (directory / "tls.crt").write_bytes(files.cert.read_bytes())
            (directory / "tls.key").write_bytes(files.key.read_bytes())
            (directory / "ca.crt").write_bytes(ca.cert_file.read_bytes())
            (self.root / "data" / pod.name).mkdir(parents=True)
        (self.root / "tls" / "ca.crt").write_bytes(ca.cert_file.read_bytes())  # the Job's
        self.configure(values)

    def text(self, text: str, pod: Pod | None = None) -> str:
        for other in self.pods:
            text = text.replace(f"{other.name}.strongbox-internal.vault.svc:8201",
                                f"127.0.0.1:{other.cluster_port}")
            text = text.replace(f"https://{other.name}.strongbox-internal.vault.svc:8200",
                                other.addr)
        if pod is not None:
            text = text.replace("0.0.0.0:8200", f"127.0.0.1:{pod.api_port}")
            text = text.replace("0.0.0.0:8201", f"127.0.0.1:{pod.cluster_port}")
            text = text.replace("https://127.0.0.1:8200", pod.addr)
            text = text.replace("$(POD_NAME)", pod.name)
        for mount, local in MOUNTS:
            text = re.sub(re.escape(mount) + r"(?=/|\"|$)", str(self.root / local), text)
        if pod is not None:
            text = text.replace(str(self.root / "data"), str(self.root / "data" / pod.name))
        return text

    def configure(self, values: dict[str, Any]) -> None:
        """`helm upgrade` with these values: the config files and seal volumes a pod
        (re)started from now on sees."""
        self.objects = render(values)
        spec = find(self.objects, "StatefulSet")["spec"]["template"]["spec"]
        self.container = next(c for c in spec["containers"] if c["name"] == "strongbox")
        (self.root / "config").mkdir(exist_ok=True)
        for name, text in find(self.objects, "ConfigMap", "strongbox-config")["data"].items():
            pod = next(p for p in self.pods if name == f"{p.name}.toml")
            (self.root / "config" / name).write_text(self.text(text, pod))
        # what the kubelet puts in each seal volume: the Secrets' keys at the items' paths
        mounts = {m["name"]: m["mountPath"] for m in self.container["volumeMounts"]}
        for volume in spec["volumes"]:
            if volume["name"] not in ("seal", "previous-seal"):
                continue
            directory = Path(self.text(mounts[volume["name"]]))
            directory.mkdir(parents=True, exist_ok=True)
            for source in volume["projected"]["sources"]:
                for item in source["secret"]["items"]:
                    (directory / item["path"]).write_text(self.secrets[source["secret"]["name"]])

    def start(self, pod: Pod) -> None:
        env = {e["name"]: self.text(e["value"], pod) for e in self.container["env"]
               if "value" in e}
        env["POD_NAME"] = pod.name
        log = (self.root / f"{pod.name}.log").open("ab")
        pod.proc = subprocess.Popen(  # the image's ENTRYPOINT is `strongbox`
            [sys.executable, "-m", "strongbox.cli.main",
             *[self.text(a, pod) for a in self.container["args"]]],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
        log.close()

    def stop(self, pod: Pod) -> None:
        if pod.proc is None:
            return
        if pod.proc.poll() is None:
            pod.proc.terminate()
        try:
            pod.proc.wait(30)
        except subprocess.TimeoutExpired:
            pod.proc.kill()
            pod.proc.wait()
        pod.proc = None

    def bootstrap_argv(self) -> list[str]:
        job = find(self.objects, "Job", "strongbox-bootstrap")["spec"]["template"]["spec"]
        container = job["containers"][0]
        assert container["command"] == ["python", "-m", "strongbox.ops.bootstrap"]
        return ["-m", "strongbox.ops.bootstrap", *[self.text(a) for a in container["args"]]]

    def status(self, pod: Pod) -> dict[str, Any]:
        context = ssl.create_default_context(cafile=str(self.root / "tls" / "ca.crt"))
        with httpx.Client(base_url=pod.addr, verify=context, timeout=10.0) as c:
            return dict(c.get("/v1/sys/seal-status").json())

    def wait_unsealed(self, pod: Pod) -> dict[str, Any]:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                current = self.status(pod)
                if current["initialized"] and not current["sealed"]:
                    return current
            except (httpx.HTTPError, ValueError):
                current = {}
            if time.monotonic() > deadline:
                raise AssertionError(f"{pod.name} still sealed: {current}")
            time.sleep(0.2)


@pytest.fixture
def deployment(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    values = {"seal": SEAL, "bootstrap": {"enabled": True, "shares": 3, "threshold": 2},
              **getattr(request, "param", {})}
    deployed = Deployment(tmp_path, values, {"strongbox-static-seal": os.urandom(32).hex()})
    try:
        for pod in deployed.pods:
            deployed.start(pod)
        yield deployed
    finally:
        for pod in deployed.pods:
            deployed.stop(pod)


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          timeout=180, env={**os.environ, **(env or {})}, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_bootstrap_initializes_an_auto_unseal_cluster_with_recovery_keys(
        deployment: Deployment) -> None:
    for pod in deployment.pods:  # before init: sealed, uninitialized, the seal configured
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                before = deployment.status(pod)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"{pod.name} never answered"
                time.sleep(0.2)
        assert before["type"] == "static" and before["initialized"] is False
    argv = [*deployment.bootstrap_argv(), "--unseal"]
    code, out, err = run(argv)
    assert code == 0, err
    assert "recovery key shares, any 2" in out and "Unseal key" not in out
    recovery = [line.split(": ", 1)[1] for line in out.splitlines()
                if line.startswith("Recovery key ")]
    assert len(recovery) == 3
    root = next(line.split(": ", 1)[1] for line in out.splitlines()
                if line.startswith("Initial root token: "))
    assert "seal static" in err and recovery[0] not in err and root not in err
    for pod in deployment.pods:  # --unseal returned: every node unsealed itself
        current = deployment.status(pod)
        assert current["sealed"] is False and current["recovery_seal"] is True
        assert (current["t"], current["n"]) == (2, 3)

    again = run(deployment.bootstrap_argv())  # a re-run changes nothing
    assert again[0] == 0 and again[1] == "" and "already initialized" in again[2]

    context = ssl.create_default_context(cafile=str(deployment.root / "tls" / "ca.crt"))

    def client(pod: Pod) -> httpx.Client:
        return httpx.Client(base_url=pod.addr, verify=context, timeout=30.0,
                            headers={"X-Vault-Token": root})

    def is_self_leader(pod: Pod) -> bool:
        with client(pod) as c:
            return bool(c.get("/v1/sys/leader").json().get("is_self"))

    # what a pod does at restart: nobody brings a share (a follower: the leader's own
    # restart would add an election to the test, which is not what it is about)
    restarted = next(p for p in deployment.pods if not is_self_leader(p))
    deployment.stop(restarted)
    deployment.start(restarted)
    assert deployment.wait_unsealed(restarted)["type"] == "static"
    ready = deployment.container["readinessProbe"]["httpGet"]["path"]
    deadline = time.monotonic() + DEADLINE_S
    with client(restarted) as c:
        while c.get(ready).status_code != 200:          # the rendered readiness probe
            assert time.monotonic() < deadline, "the restarted pod never turned Ready"
            time.sleep(0.2)
        # a write right after a restart may meet a busy cluster: 503 says "retry with the
        # same Idempotency-Key", which is what a client does (within the deadline)
        key = {"Idempotency-Key": "after-restart-1"}
        while True:
            written = c.post("/v1/secret/data/after-restart", json={"data": {"v": "1"}},
                             headers=key)
            if written.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert written.status_code == 200, written.text


@pytest.mark.parametrize("deployment", [{"server": {"replicas": 1}, "bootstrap": {
    "enabled": True, "shares": 3, "threshold": 2, "insecureDev": True}}], indirect=True,
    ids=["one-pod-dev"])
def test_insecure_dev_bootstrap_stores_recovery_keys_and_json_output(
        deployment: Deployment, tmp_path: Path) -> None:
    kube = FakeKube(tmp_path / "sa").start(CertificateAuthority.create(tmp_path / "kube-ca"))
    try:
        argv = deployment.bootstrap_argv()
        assert "--unseal" in argv and "--insecure-dev-secrets" in argv
        code, out, err = run(argv, kube.env())
        assert code == 0, err
        assert "recovery keys and root token stored in Secrets" in out
        assert sorted(kube.secrets) == ["strongbox-dev-recovery-key-1",
                                        "strongbox-dev-recovery-key-2",
                                        "strongbox-dev-recovery-key-3",
                                        "strongbox-dev-root-token"]
        assert deployment.status(deployment.pods[0])["sealed"] is False
    finally:
        kube.stop()
    code, out, err = run([*deployment.bootstrap_argv(), "--output", "json"], kube.env())
    assert (code, out) == (0, "") and "already initialized" in err


def unseal(deployment: Deployment, pod: Pod, keys: list[str], migrate: bool = False) -> None:
    context = ssl.create_default_context(cafile=str(deployment.root / "tls" / "ca.crt"))
    with httpx.Client(base_url=pod.addr, verify=context, timeout=30.0) as c:
        for key in keys:
            answer = c.put("/v1/sys/unseal", json={"key": key, "migrate": migrate})
            assert answer.status_code == 200, answer.text


def wait_answering(deployment: Deployment, pod: Pod) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return deployment.status(pod)
        except httpx.HTTPError:
            assert time.monotonic() < deadline, f"{pod.name} never answered"
            time.sleep(0.2)


@pytest.mark.parametrize("deployment", [{"seal": {"type": "shamir"},
                                         "server": {"replicas": 1}}],
                         indirect=True, ids=["one-pod-shamir"])
def test_migration_through_values_shamir_to_static_and_back(deployment: Deployment) -> None:
    """docs/kubernetes.md "Auto-unseal", migration: `seal` for shamir -> auto, then
    `previousSeal` (with `seal` back to shamir) for auto -> shamir; pods restarted by hand."""
    [pod] = deployment.pods
    code, out, err = run([*deployment.bootstrap_argv(), "--unseal", "--output", "json"])
    assert code == 0, err
    shares = json.loads(out)["keys"]
    assert len(shares) == 3 and deployment.status(pod)["type"] == "shamir"

    deployment.configure({"seal": SEAL, "server": {"replicas": 1}})   # helm upgrade
    deployment.stop(pod)
    deployment.start(pod)                                            # kubectl delete pod
    assert wait_answering(deployment, pod)["migration"] is True
    unseal(deployment, pod, shares[:2], migrate=True)
    assert deployment.wait_unsealed(pod)["type"] == "static"
    deployment.stop(pod)
    deployment.start(pod)
    assert deployment.wait_unsealed(pod)["recovery_seal"] is True   # nobody brought a share

    deployment.configure({"previousSeal": SEAL, "server": {"replicas": 1}})
    deployment.stop(pod)
    deployment.start(pod)
    current = wait_answering(deployment, pod)
    assert current["sealed"] is True and current["migration"] is True
    unseal(deployment, pod, shares[1:3], migrate=True)              # the recovery keys
    assert deployment.wait_unsealed(pod)["type"] == "shamir"

    deployment.configure({"server": {"replicas": 1}})               # previousSeal removed
    deployment.stop(pod)
    deployment.start(pod)
    assert wait_answering(deployment, pod)["sealed"] is True
    unseal(deployment, pod, shares[:2])
    assert deployment.wait_unsealed(pod)["type"] == "shamir"
