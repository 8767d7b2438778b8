"""Audit devices on a real node: Vault-shaped HMAC'd lines, hash chain, fail closed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from strongbox.audit import verify_file
from strongbox.testing import ServerProcess, TlsFiles

pytestmark = pytest.mark.integration
SECRET = "correct-horse-battery-staple"


@pytest.fixture
def audited(tmp_path: Path, tls: TlsFiles) -> Iterator[tuple[ServerProcess, str, Path]]:
    server = ServerProcess(tmp_path / "data", tls)
    with server:
        keys, root = server.init_and_unseal()
        server.keys = keys  # type: ignore[attr-defined]
        client = hvac.Client(url=server.addr, token=root, verify=str(tls.ca_cert))
        client.sys.enable_audit_device("file", path="file",
                                       options={"file_path": "logs/audit.log"})
        client.adapter.close()
        yield server, root, tmp_path / "data" / "logs" / "audit.log"


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_requests_are_audited_hmacd_and_chained(
        audited: tuple[ServerProcess, str, Path]) -> None:
    server, root, path = audited
    with server.client(root) as client:
        client.post("/v1/secret/data/audit/db", json={"data": {"password": SECRET}})
        assert client.get("/v1/secret/data/audit/db").json()["data"]["data"]["password"] == \
            SECRET
        hashed_token = client.post("/v1/sys/audit-hash/file", json={"input": root}) \
            .json()["data"]["hash"]
        listed = client.get("/v1/sys/audit").json()["data"]
    assert listed["file/"]["type"] == "file"
    raw = path.read_text()
    assert SECRET not in raw and root not in raw
    entries = lines(path)
    reads = [e for e in entries if e["request"]["path"] == "secret/data/audit/db"]  # type: ignore[index]
    assert [e["type"] for e in reads] == ["request", "response", "request", "response"]
    response = reads[3]
    assert response["auth"]["client_token"] == hashed_token  # type: ignore[index]
    assert response["response"]["data"]["data"]["password"].startswith("hmac-sha256:")  # type: ignore[index]
    assert response["request"]["id"] == reads[2]["request"]["id"]  # type: ignore[index]
    assert verify_file(path).ok


def test_verify_cli_reports_the_first_tampered_line(
        audited: tuple[ServerProcess, str, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    server, root, path = audited
    with server.client(root) as client:
        for i in range(3):
            client.post(f"/v1/secret/data/audit/{i}", json={"data": {"i": i}})
    copy = tmp_path / "copy.log"
    shutil.copy(path, copy)
    ok = subprocess.run([sys.executable, "-m", "strongbox.cli.main", "audit", "verify",
                         str(copy)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "chain intact" in ok.stdout
    text = copy.read_text().splitlines()
    text[2] = text[2].replace('"update"', '"read"')
    copy.write_text("\n".join(text) + "\n")
    broken = subprocess.run([sys.executable, "-m", "strongbox.cli.main", "audit", "verify",
                             str(copy)], capture_output=True, text=True, check=False)
    assert broken.returncode == 1 and "line 4" in broken.stdout


def test_an_unwritable_audit_file_fails_requests_closed_until_fixed(
        audited: tuple[ServerProcess, str, Path]) -> None:
    server, root, path = audited
    logs = path.parent
    with server.client(root) as client:
        assert client.post("/v1/secret/data/audit/before", json={"data": {"v": 1}}) \
            .status_code == 200
        # Take the directory away and put a plain file in its place, then rotate (SIGHUP):
        # the device can no longer open logs/audit.log.
        shutil.move(logs, logs.with_name("logs.old"))
        logs.write_text("not a directory")
        os.kill(server.proc.pid, signal.SIGHUP)  # type: ignore[union-attr]
        time.sleep(0.5)
        refused = client.get("/v1/secret/data/audit/before")
        assert refused.status_code == 500
        assert SECRET not in refused.text and "data" not in refused.json()
        assert client.post("/v1/secret/data/audit/during", json={"data": {"v": 2}}) \
            .status_code == 500
        logs.unlink()
        logs.mkdir()
        os.kill(server.proc.pid, signal.SIGHUP)  # type: ignore[union-attr]
        time.sleep(0.5)
        assert client.get("/v1/secret/data/audit/before").status_code == 200
    assert verify_file(path).ok  # a new file, a new chain


def test_seal_unseal_and_disable_with_a_device_enabled(
        audited: tuple[ServerProcess, str, Path]) -> None:
    server, root, path = audited
    with server.client(root) as client:
        assert client.put("/v1/sys/seal").status_code == 204  # audited, not blocked
        server.unseal(server.keys)  # type: ignore[attr-defined]
        assert client.delete("/v1/sys/audit/file").status_code == 204
        before = path.read_text()
        client.get("/v1/sys/key-status")
        assert path.read_text() == before
        # Vault: disabling a device that is not there succeeds (it was a 404)
        assert client.delete("/v1/sys/audit/file").status_code == 204
        bad = client.put("/v1/sys/audit/other", json={"type": "syslog"})
        assert bad.status_code == 400
        unknown = client.put("/v1/sys/audit/other", json={
            "type": "file", "options": {"file_path": "x.log", "colour": "red"}})
        assert unknown.status_code == 400 and "colour" in unknown.text


def test_refused_requests_are_audited_without_the_token(
        audited: tuple[ServerProcess, str, Path]) -> None:
    server, _, path = audited
    with server.client("sbs.guessed-token-value") as client:
        assert client.get("/v1/secret/data/audit/probe").status_code == 403
    entries = [e for e in lines(path) if e["request"]["path"] == "secret/data/audit/probe"]  # type: ignore[index]
    assert [e["type"] for e in entries] == ["request", "response"]
    assert entries[1]["error"] == "permission denied"
    assert "sbs.guessed-token-value" not in path.read_text()
    assert entries[0]["request"]["client_token"].startswith("hmac-sha256:")  # type: ignore[index]
