"""Smoke test of benchmarks/side_by_side.py (StrongBox vs etcd): the harness runs end to end.

Runs ``side_by_side.py --smoke --out <tmp>`` as a subprocess (about a second per phase,
no warm-up, one round, a few hundred keys, open-loop rates x 0.2: ~35-45 s
on the 2-core machine) and checks that it
exited 0, wrote side_by_side.json and side_by_side.md with every phase of sbs/phases.py for
both systems, and that every measurement had requests and no errors. It also checks that
the bench token never appears in the output. Skipped when etcd or wrk is not installed,
unless STRONGBOX_REQUIRE_BENCH is set (CI sets it and installs them: there a missing tool
is a broken setup, not a reason to skip). Numbers are not checked: the machine is shared.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "side_by_side.py"
MISSING_REASON = ("etcd and wrk are needed for the side-by-side benchmark: "
                  "apt-get install etcd-server etcd-client wrk")


def require_tools() -> None:
    if all(shutil.which(tool) for tool in ("etcd", "wrk")):
        return
    if os.environ.get("STRONGBOX_REQUIRE_BENCH"):
        pytest.fail(MISSING_REASON)
    pytest.skip(MISSING_REASON)


def phase_names() -> list[str]:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from sbs.phases import PHASES
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return [p.name for p in PHASES]


def test_smoke_run_writes_every_phase_without_errors(tmp_path: Path) -> None:
    require_tools()
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    report = json.loads((out / "side_by_side.json").read_text())
    markdown = (out / "side_by_side.md").read_text()
    expected = phase_names()
    assert [row["phase"] for row in report["summary"]] == expected
    seen = {(r["phase"], r["system"]) for r in report["runs"]}
    assert seen == {(p, s) for p in expected for s in ("strongbox", "etcd")}
    for run in report["runs"]:
        assert run["requests"] > 0, run
        assert run["errors"] == 0, run
        assert run["target_rss_mib"] > 0, run
    for name in expected:
        assert f"| {name} |" in markdown
    for row in report["summary"]:
        assert row["strongbox"]["rounds"] == row["etcd"]["rounds"] == 1, row
    # no StrongBox service token (sbs. + 32 urlsafe characters) is printed or written
    everything = done.stdout + done.stderr + markdown + json.dumps(report)
    assert not re.search(r"sbs\.[A-Za-z0-9_-]{32}", everything)


def test_missing_tool_exits_2(tmp_path: Path) -> None:
    """Without etcd/wrk on PATH the harness says how to install them and exits 2."""
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert done.returncode == 2
    assert "apt-get install etcd-server etcd-client wrk" in done.stderr
