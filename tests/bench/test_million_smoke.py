"""Smoke test of benchmarks/million.py: a tiny run as a subprocess writes complete results.

It starts a real three-node cluster (like tests/cluster), fills it to 2,000 secrets with
marks every 1,000, runs the snapshot / restore / wiped-follower round at 1,000 and the
load phases for half a second each, then checks the exit code and that million.json has
every field the README documents and million.md the summary tables. About 30 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.cluster

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "million.py"
SECRETS = 2000

TOP = {"benchmark", "machine", "settings", "phases", "ratios", "memory",
       "data_dir_per_100k", "fill", "leaders", "errors"}
SETTINGS = {"nodes", "secrets", "value_bytes", "baseline_keys", "sample", "duration_s",
            "read_connections", "write_connections", "fill_connections", "fill_via",
            "mark_every", "snapshot_at", "catch_up", "snapshot_threshold", "map_size_mb",
            "max_snapshot_mb", "seed"}
RATIOS = {f"{name}_{q}_ratio" for name in ("kv_read", "kv_write", "health")
          for q in ("p50", "p99")} | {"limit", "pass"}
PHASE = {"name", "connections", "requests", "errors", "rps", "p50_ms", "p90_ms", "p99_ms",
         "ratio_to_health", "target", "node_id", "server_cpu_pct", "others_cpu_pct"}
FILL = {"secrets", "leader", "wall_s", "fill_s", "rate", "errors", "retried",
        "still_failed", "status_counts", "progress", "marks", "snapshot", "catch_up"}
MARK = {"secrets", "elapsed_s", "segment", "memory", "data_dir"}
SEGMENT = {"from", "to", "fill_s", "converge_s", "rate", "write_p50_ms", "write_p99_ms",
           "errors", "retried", "still_failed"}
MEMORY = {"rss_mib", "anon_mib", "file_mib", "peak_mib", "lmdb_mib"}
USAGE = {"lmdb", "journal", "snapshot", "other", "total"}
SNAPSHOT = {"secrets", "save_status", "save_s", "bytes", "index", "memory_after_save",
            "restore_status", "restore_s", "restore_applied_s", "read_back_errors",
            "memory_after_restore", "errors"}
CATCH_UP = {"node_id", "leader_had_raft_snapshot", "start_s", "unsealed_s", "caught_up_s",
            "memory_after", "data_dir_after"}


def missing(expected: set[str], got: dict[str, Any]) -> set[str]:
    return expected - set(got)


def test_million_tiny_run_writes_every_field(tmp_path: Path) -> None:
    out = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--secrets", str(SECRETS), "--sample", "500",
         "--baseline-keys", "500", "--mark-every", "1000", "--snapshot-at", "1000",
         "--duration", "0.5", "--fill-connections", "16", "--progress-every", "1",
         "--out", str(out), "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((out / "million.json").read_text())
    assert not missing(TOP, report)
    assert not missing(SETTINGS, report["settings"])
    assert not missing(RATIOS, report["ratios"])
    assert [p["name"] for p in report["phases"]] == [
        "health@2k", "kv_read@2k", "kv_write@2k", "health@N", "kv_read@N", "kv_write@N"]
    for phase in report["phases"]:
        assert not missing(PHASE, phase) and phase["requests"] > 0 and phase["errors"] == 0
    fill = report["fill"]
    assert not missing(FILL, fill) and fill["errors"] == 0 and fill["rate"] > 0
    assert [m["secrets"] for m in fill["marks"]] == [1000, 2000]
    for mark in fill["marks"]:
        assert not missing(MARK, mark) and not missing(SEGMENT, mark["segment"])
        assert len(mark["memory"]) == len(mark["data_dir"]) == 3
        for node in mark["memory"].values():
            assert not missing(MEMORY, node) and node["rss_mib"] > 0
        for usage in mark["data_dir"].values():
            assert not missing(USAGE, usage) and usage["lmdb"] > 0
    assert not missing(SNAPSHOT, fill["snapshot"]) and fill["snapshot"]["errors"] == 0
    assert fill["snapshot"]["save_status"] == 200 and fill["snapshot"]["bytes"] > 0
    assert fill["snapshot"]["restore_status"] == 204
    assert not missing(CATCH_UP, fill["catch_up"]) and fill["catch_up"]["caught_up_s"] > 0
    for node, row in report["data_dir_per_100k"].items():
        assert node.startswith("node-") and row["at_end_mib"]["total"] > 0
    assert not missing({"baseline", "at_n", "elections_after_the_first"}, report["leaders"])
    for node in ("node-1", "node-2", "node-3"):
        assert not missing({"max_rss_mib", "max_anon_mib", "max_lmdb_mib",
                            "max_rss_without_lmdb_mib", "peak_mib"}, report["memory"][node])
    assert report["memory"]["limit_mib"] == 300 and report["errors"]["total"] == 0
    markdown = (out / "million.md").read_text()
    assert "| kv_read p99 ratio N / 2k |" in markdown and "| 2,000 |" in markdown
