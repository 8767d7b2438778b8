"""Observability: Prometheus metrics, OpenTelemetry tracing, JSON-lines logging.

Contract: nothing here is a module-level singleton. Each node builds its own `Metrics`
(own `CollectorRegistry`) and its own `Tracing` (own `TracerProvider`, never the global
one), so several nodes can share one test process. `configure_logging` is the exception:
Python logging is process-global, so it configures the "strongbox" logger hierarchy once
per process (idempotently). Submodules state their own threading rules.

Dependency direction: `obs` imports nothing from the rest of `strongbox`; every layer may
import `obs`.
"""

from __future__ import annotations

from strongbox.obs.logs import configure_logging, log_request
from strongbox.obs.metrics import Metrics, MetricsSnapshot, route_template
from strongbox.obs.tracing import Tracing, extract_metadata, inject_metadata, setup_tracing

__all__ = [
    "Metrics",
    "MetricsSnapshot",
    "Tracing",
    "configure_logging",
    "extract_metadata",
    "inject_metadata",
    "log_request",
    "route_template",
    "setup_tracing",
]
