"""values.schema.json makes typos and wrong types fail at install, and `helm lint` is clean."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest
from helm_python.errors import HelmValuesError

from tests.chart.conftest import ALL_OPTIONS, CHART_DIR, render


@pytest.mark.parametrize(("values", "complaint"), [
    ({"replica": 3}, "additional properties 'replica' not allowed"),
    ({"server": {"replica": 3}}, "additional properties 'replica' not allowed"),
    ({"tls": {"certmanager": {}}}, "additional properties 'certmanager' not allowed"),
    ({"snapshot": {"retention": 3}}, "additional properties 'retention' not allowed"),
    ({"server": {"replicas": 4}}, "value must be one of 1, 3, 5, 7"),
    ({"server": {"replicas": 2}}, "value must be one of 1, 3, 5, 7"),
    ({"server": {"replicas": 9}}, "value must be one of 1, 3, 5, 7"),
    ({"server": {"replicas": "3"}}, "got string, want integer"),
    ({"pdb": {"maxUnavailable": 2}}, "maximum"),
    ({"server": {"antiAffinity": "soft"}}, "value must be one of"),
    ({"dataStorage": {"size": "ten gigs"}}, "does not match pattern"),
    ({"image": {"digest": "latest"}}, "does not match pattern"),
])
def test_schema_rejects(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(HelmValuesError, match=complaint):
        render(values)


@pytest.mark.parametrize("replicas", [1, 3, 5, 7])
def test_schema_accepts_odd_sizes(replicas: int) -> None:
    assert render({"server": {"replicas": replicas}})


@pytest.mark.parametrize("values", [{}, ALL_OPTIONS], ids=["defaults", "all-options"])
def test_helm_lint_finds_no_warning_or_error(values: dict[str, Any]) -> None:
    report = helm_python.lint(CHART_DIR, values, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []
