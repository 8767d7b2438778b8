"""One node's observability: metrics, tracing and the access log, wired to its parts.

`NodeObservability.build(config, core_status)` creates the Prometheus registry,
the tracer and the JSON logging of a node; `attach(core, raft_settings)` hooks
the counters into the core (write rejections, audit failures, token errors).
The API calls `observe(...)` once per request. Nothing here ever receives a
token, a secret value or a raw request path (routes are templates).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from strongbox.config import NodeConfig
from strongbox.obs import (
    Metrics,
    MetricsSnapshot,
    Tracing,
    configure_logging,
    route_template,
    setup_tracing,
)
from strongbox.obs.logs import AccessLog


@dataclass
class NodeObservability:
    metrics: Metrics
    tracing: Tracing
    access_log: AccessLog | None
    mount_paths: Callable[[], tuple[str, ...]]

    @classmethod
    def build(cls, config: NodeConfig, status_fn: Callable[[], MetricsSnapshot],
              mount_paths: Callable[[], tuple[str, ...]]) -> NodeObservability:
        configure_logging(config.log_level, config.node_id)
        obs = config.observability
        tracing = setup_tracing(obs.tracing_exporter, service_name="strongbox",
                                node_id=config.node_id,
                                otlp_endpoint=obs.otlp_endpoint or None)
        access = AccessLog(config.node_id, config.log_level) if obs.access_log else None
        return cls(Metrics(status_fn), tracing, access, mount_paths)

    def route(self, path: str, mount_paths: tuple[str, ...] | None = None) -> str:
        """The route template of a raw request path (never the path itself); a request in
        a namespace passes its namespace-relative path and that namespace's mounts."""
        return route_template(path, self.mount_paths() if mount_paths is None else mount_paths)

    def observe(self, *, request_id: str, method: str, route: str, status: int, role: str,
                started: float, token_id: str = "") -> None:
        """Metrics and the access line; `token_id` is the token's audit HMAC, never it."""
        seconds = time.perf_counter() - started
        self.metrics.observe_request(method=method, route=route, status=status,
                                     node_role=role, seconds=seconds)
        if self.access_log is not None:
            self.access_log.write(request_id=request_id, method=method, route=route,
                                  status=status, duration_ms=round(seconds * 1000, 3),
                                  token_id=token_id)
