"""Regenerate cluster/kubernetes/strongbox.yaml: the chart rendered with default values
(release "strongbox", namespace "strongbox"), for people who apply plain manifests.

    python -m tests.chart.render_manifests      # from the repository root

tests/chart/test_chart_files.py fails when the committed file differs from a fresh render.
"""

from __future__ import annotations

from tests.chart.conftest import ROOT, render_files

MANIFESTS = ROOT / "cluster" / "kubernetes" / "strongbox.yaml"
HEADER = ("# GENERATED from charts/strongbox with default values (release and namespace\n"
          "# \"strongbox\"): do not edit; run `python -m tests.chart.render_manifests`.\n"
          "# Needs cert-manager and an Issuer named strongbox-ca (see docs/kubernetes.md).\n")


def manifests() -> str:
    files = render_files(name="strongbox", namespace="strongbox")
    parts = [text.strip() for path, text in sorted(files.items())
             if path.endswith(".yaml") and text.strip()]
    body = "\n".join(part if part.startswith("---") else f"---\n{part}" for part in parts)
    return HEADER + body + "\n"


if __name__ == "__main__":
    MANIFESTS.write_text(manifests())
    print(f"wrote {MANIFESTS}")
