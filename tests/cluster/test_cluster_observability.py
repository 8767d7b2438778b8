"""Traces cross the cluster link; every node audits the requests it serves."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from strongbox.testing import LocalCluster, ServerProcess
from tests.cluster.conftest import FAST, LIMITS

pytestmark = pytest.mark.cluster


def spans(node: ServerProcess) -> list[dict[str, object]]:
    """The console exporter's JSON span objects in a node's log."""
    text = node.log_path.read_text()
    return [json.loads(block) for block in re.findall(r"^\{\n.*?^\}$", text, re.S | re.M)]


def test_forwarded_requests_are_one_trace_and_each_node_audits_its_own(tmp_path: Path) -> None:
    console = '\n[observability]\ntracing_exporter = "console"\n'
    cluster = LocalCluster(tmp_path / "c", 3, extra_cluster_config=FAST,
                           extra_config=LIMITS + console)
    try:
        cluster.start()
        cluster.init_and_unseal()
        leader = cluster.wait_leader()
        follower = cluster.followers()[0]
        with leader.client(cluster.root_token) as client:
            enabled = client.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": "audit.log"}})
            assert enabled.status_code == 204
        # read-your-writes: the follower has applied the audit device before it serves
        # (on a busy machine it could otherwise answer first, unaudited)
        index = {"X-Vault-Index": enabled.headers["x-vault-index"]}
        with follower.client(cluster.root_token) as client:
            written = client.post("/v1/secret/data/trace/w", json={"data": {"v": 1}},
                                  headers=index)
            assert written.status_code == 200
            forwarded = client.get("/v1/sys/key-status",
                                   headers={"X-Vault-Forward": "active-node"})
            assert forwarded.status_code == 200
            time.sleep(0.3)
    finally:
        cluster.stop()  # flushes the span exporters
    follower_spans, leader_spans = spans(follower), spans(leader)
    write = next(s for s in follower_spans if s["name"] == "POST /v1/{mount}/data/*")
    trace_id = write["context"]["trace_id"]  # type: ignore[index]
    assert any(s["name"] == "raft.apply" and s["context"]["trace_id"] == trace_id  # type: ignore[index]
               for s in leader_spans), "the leader's apply is not in the follower's trace"
    read = next(s for s in follower_spans if s["name"] == "GET /v1/sys/key-status")
    remote = [s for s in leader_spans if s["name"] == "Cluster/Forward"]
    assert any(s["context"]["trace_id"] == read["context"]["trace_id"] for s in remote)  # type: ignore[index]
    follower_audit = (follower.data_dir / "audit.log").read_text()
    leader_audit = (leader.data_dir / "audit.log").read_text()
    assert "secret/data/trace/w" in follower_audit and "secret/data/trace/w" not in leader_audit
    assert "sys/key-status" in leader_audit  # the forwarded request ran on the leader
