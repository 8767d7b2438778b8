"""Metrics, traces and logs of a real node, and the promise that none of them leak secrets."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from strongbox.testing import ServerProcess, TlsFiles, free_port

pytestmark = pytest.mark.integration
SECRET = "s3cr3t-value-that-must-not-leak"


@pytest.fixture
def observed(tmp_path: Path, tls: TlsFiles) -> Iterator[tuple[ServerProcess, str, int]]:
    metrics_port = free_port()
    server = ServerProcess(tmp_path / "data", tls, extra_config=(
        f'[observability]\ntracing_exporter = "console"\n'
        f'metrics_listener = "127.0.0.1:{metrics_port}"\n'))
    with server:
        _, root = server.init_and_unseal()
        yield server, root, metrics_port


def test_prometheus_metrics_need_a_token_and_report_the_node(
        observed: tuple[ServerProcess, str, int]) -> None:
    server, root, metrics_port = observed
    with server.client(root) as client:
        client.post("/v1/secret/data/obs/a", json={"data": {"v": SECRET}})
        client.get("/v1/secret/data/obs/a")
        client.get("/v1/secret/data/obs/a", headers={"X-Vault-Token": "sbs.nope"})
        text = client.get("/v1/sys/metrics?format=prometheus").text
    with server.client() as anonymous:
        assert anonymous.get("/v1/sys/metrics?format=prometheus").status_code == 403
    for name in ("strongbox_request_duration_seconds_bucket", "strongbox_raft_term",
                 "strongbox_raft_commit_index", "strongbox_raft_applied_index",
                 "strongbox_raft_leader_changes_total", "strongbox_raft_apply_duration_seconds",
                 "strongbox_journal_fsync_duration_seconds", "strongbox_seal_status",
                 "strongbox_kek_rotation_age_seconds", "strongbox_active_secrets_total",
                 "strongbox_token_validation_errors_total"):
        assert name in text, name
    assert 'route="/v1/{mount}/data/*"' in text and "obs/a" not in text
    assert re.search(r'strongbox_token_validation_errors_total\{reason="unknown"\} [1-9]', text)
    assert re.search(r"^strongbox_seal_status 0", text, re.M)
    assert re.search(r"^strongbox_active_secrets_total [1-9]", text, re.M)
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
        assert b"strongbox_raft_term" in r.read()


def test_logs_are_json_lines_with_request_fields(
        observed: tuple[ServerProcess, str, int]) -> None:
    server, root, _ = observed
    with server.client(root) as client:
        request_id = client.get("/v1/sys/key-status").headers["x-request-id"]
    access = [json.loads(line) for line in server.log_path.read_text().splitlines()
              if line.startswith("{") and '"strongbox.access"' in line]
    mine = [e for e in access if e["request_id"] == request_id]
    assert len(mine) == 1
    line = mine[0]
    assert {"ts", "level", "node_id", "request_id", "method", "route", "status",
            "duration_ms"} <= set(line)
    assert line["route"] == "/v1/sys/key-status" and line["status"] == 200


def test_requests_produce_spans(observed: tuple[ServerProcess, str, int]) -> None:
    server, root, _ = observed
    with server.client(root) as client:
        client.post("/v1/secret/data/obs/span", json={"data": {"v": 1}})
    server.stop()  # flushes the batch span processor
    text = server.log_path.read_text()
    assert '"name": "POST /v1/{mount}/data/*"' in text
    assert '"name": "raft.apply"' in text


def test_nothing_secret_reaches_logs_metrics_or_traces(
        tmp_path: Path, tls: TlsFiles) -> None:
    server = ServerProcess(tmp_path / "data", tls, extra_config=(
        '[observability]\ntracing_exporter = "console"\n'))
    with server:
        keys, root = server.init_and_unseal(shares=3, threshold=2)
        with server.client(root) as client:
            client.post("/v1/secret/data/leak/db", json={"data": {"password": SECRET}})
            client.get("/v1/secret/data/leak/db")
            client.get("/v1/secret/data/leak/db", headers={"X-Vault-Token": SECRET})
            client.put("/v1/sys/audit/file", json={"type": "file",
                                                   "options": {"file_path": "audit.log"}})
            client.patch("/v1/secret/data/leak/db", json={"data": {"other": SECRET}},
                         headers={"Content-Type": "application/merge-patch+json"})
            client.post("/v1/secret/data/leak/bad", content=b'{"data": "' + SECRET.encode())
            metrics = client.get("/v1/sys/metrics?format=prometheus").text
        server.stop()
        server.start()
        server.unseal(keys[:2])
        with server.client() as client:
            client.put("/v1/sys/unseal", json={"key": keys[0][:-2] + "zz"})
    produced = [server.log_path.read_text(), metrics,
                (tmp_path / "data" / "audit.log").read_text()]
    for needle in [SECRET, root, *keys]:
        for blob in produced:
            assert needle not in blob
