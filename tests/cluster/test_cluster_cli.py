"""`strongbox cluster up/down`: the documented way to run a local cluster."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.cluster


def strongbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "strongbox.cli.main", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cluster_up_serves_writes_and_down_stops_it(tmp_path: Path) -> None:
    directory = tmp_path / "local"
    up = strongbox("cluster", "up", "--dir", str(directory), "--api-port", "0",
                   "--cluster-port", "0")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "is up, initialized and unsealed" in up.stdout
        state = json.loads((directory / "cluster.json").read_text())
        secrets = json.loads((directory / "init.json").read_text())
        assert oct((directory / "init.json").stat().st_mode & 0o777) == "0o600"
        assert secrets["root_token"] in up.stdout and len(secrets["unseal_keys_hex"]) == 3
        context = ssl.create_default_context(cafile=state["ca_cert"])
        for node in state["nodes"]:
            with httpx.Client(base_url=node["api_addr"], verify=context,
                              headers={"X-Vault-Token": secrets["root_token"]}) as client:
                written = client.post(f"/v1/secret/data/cli/{node['node_id']}",
                                      json={"data": {"ok": True}})
                assert written.status_code == 200, written.text
        again = strongbox("cluster", "up", "--dir", str(directory))
        assert again.returncode == 2 and "already holds a cluster" in again.stderr
    finally:
        down = strongbox("cluster", "down", "--dir", str(directory))
    assert down.returncode == 0, down.stderr
    deadline = time.monotonic() + 10
    for node in state["nodes"]:
        while time.monotonic() < deadline:
            try:
                os.kill(node["pid"], 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{node['node_id']} still running")
