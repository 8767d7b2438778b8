"""The operator docs stay true to the code: every metric they name exists."""

from __future__ import annotations

import json
import re
from pathlib import Path

from strongbox.obs import Metrics, MetricsSnapshot

ROOT = Path(__file__).resolve().parents[2]


def exported_metric_names() -> set[str]:
    metrics = Metrics(lambda: MetricsSnapshot(1, 1, 1, True, False, True, 1.0, 1))
    text = metrics.render()[0].decode()
    names = set(re.findall(r"^# TYPE (\S+)", text, re.M))
    return names | {n + suffix for n in names for suffix in ("_total", "_bucket", "_count")}


def test_alerts_and_dashboard_name_only_real_metrics() -> None:
    known = exported_metric_names()
    docs = (ROOT / "docs" / "operations.md").read_text()
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"\bstrongbox_[a-z_]+", docs + " ".join(exprs)))
    assert used, "no metrics found in the docs"
    assert used <= known, f"documented but not exported: {sorted(used - known)}"
