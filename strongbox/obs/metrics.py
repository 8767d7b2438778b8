"""Prometheus metrics of one StrongBox node, and the route templates used as labels.

Contract:

- `Metrics` owns its own `CollectorRegistry`; nothing is registered in prometheus_client's
  global `REGISTRY`, so several nodes can live in one process (tests, the benchmark harness).
  `Metrics.render()` returns the text exposition and its content type for `/metrics` and
  `/v1/sys/metrics?format=prometheus`.
- Node status (raft term and indexes, leadership, seal state, KEK age, secret count) is not
  pushed by the rest of the code: a `status_fn` given to the constructor is called once per
  scrape by a custom collector, so the gauges are always fresh. If `status_fn` raises, the
  scrape still succeeds: the status gauges are left out of that scrape (an absent series is
  Prometheus' way to say "unknown"; a stale value would lie) and the error is logged.
  `status_fn` must therefore be cheap, must not block on Raft or the network, and must work
  while the node is sealed (report `sealed=True` rather than raising).
- Everything else (request latency, apply and fsync latency, counters) is updated by the code
  that observes it, through the small methods below or the metric attributes directly.
- Label values must come from small fixed sets: `route` is a template from
  `route_template()` (never a raw path: paths name secrets), `reason`/`device`/`cache` are
  code-chosen words, `node_role` is one of `leader`, `follower`, `standby`, `sealed`.
  Never put a token, secret, user name or path in a label.

Threading: prometheus_client metric objects are thread-safe (each child holds its own lock),
so any thread — the asyncio loop, the Raft tick thread, gRPC threads — may call the update
methods. `render()` may run on any thread; it calls `status_fn` on that thread.
`route_template` is a pure function.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector

_log = logging.getLogger("strongbox.obs.metrics")

# HTTP requests: a cached follower read is ~0.5 ms, a consistent write through Raft a few ms,
# a snapshot download or a slow forward several seconds.
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0)
# Apply (one LMDB write txn) and fsync are sub-millisecond on NVMe, tens of ms on slow disks.
DISK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                0.5, 1.0, 2.5)

NODE_ROLES = ("leader", "follower", "standby", "sealed")
# What engines count through `Core.on_engine_count`: name -> (metric name, help).
ENGINE_COUNTERS = {
    "transit_encryptions": ("strongbox_transit_encryptions_total",
                            "Transit encryptions done by this node (all keys)."),
    "transit_nonce_warnings": ("strongbox_transit_nonce_limit_warnings_total",
                               "Transit encryptions answered with the warning that the key "
                               "version nears its random-nonce limit."),
    "database_leases_revoked": ("strongbox_database_leases_revoked_total",
                                "Database leases revoked by this node's expiry worker."),
    "database_revocations_failed": ("strongbox_database_revocations_failed_total",
                                    "Database lease revocations PostgreSQL refused (each "
                                    "attempt)."),
}
# What engines report through `Core.on_engine_gauge`: name -> (metric name, help).
ENGINE_GAUGES = {
    "database_leases": ("strongbox_database_leases",
                        "Live Database leases (the leader's count, over every mount)."),
    "database_leases_irrevocable": ("strongbox_database_leases_irrevocable",
                                    "Database leases whose revocation kept failing: kept, "
                                    "out of the expiry queue, waiting for an operator."),
}


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """What `status_fn` reports at scrape time. `kek_install_time_s` is Unix seconds of the
    newest KEK's installation, 0 when unknown (sealed or uninitialized node)."""

    raft_term: int
    commit_index: int
    applied_index: int
    is_leader: bool
    sealed: bool
    initialized: bool
    kek_install_time_s: float = 0.0
    active_secrets: int = 0
    disk_low: bool = False


class _StatusCollector:
    """Custom collector: calls `status_fn` on every scrape; never lets it fail the scrape."""

    def __init__(self, status_fn: Callable[[], MetricsSnapshot],
                 clock: Callable[[], float]) -> None:
        self._status_fn = status_fn
        self._clock = clock

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        def gauge(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc)

        return {
            "term": gauge("strongbox_raft_term", "Current Raft term of this node."),
            "commit": gauge("strongbox_raft_commit_index",
                            "Highest Raft log index known to be committed."),
            "applied": gauge("strongbox_raft_applied_index",
                             "Highest Raft log index applied to the local state store."),
            "sealed": gauge("strongbox_seal_status", "1 if this node is sealed, 0 if unsealed."),
            "kek_age": gauge("strongbox_kek_rotation_age_seconds",
                             "Seconds since the newest KEK was installed (0 when unknown)."),
            "secrets": gauge("strongbox_active_secrets_total",
                             "Number of secrets currently stored (all mounts)."),
            "leader": gauge("strongbox_node_is_leader", "1 if this node is the Raft leader."),
            "disk_low": gauge("strongbox_disk_low",
                              "1 while this node is below storage.min_free_mb and refuses "
                              "writes (507)."),
        }

    def describe(self) -> Iterator[Metric]:
        # Lets the registry detect name clashes without calling status_fn at registration.
        yield from self._families().values()

    def collect(self) -> Iterator[Metric]:
        try:
            snap = self._status_fn()
            now = self._clock()
        except Exception:
            _log.warning("metrics status callback failed; status gauges omitted from this "
                         "scrape", exc_info=True)
            return
        families = self._families()
        kek_age = max(0.0, now - snap.kek_install_time_s) if snap.kek_install_time_s > 0 else 0.0
        families["term"].add_metric([], snap.raft_term)
        families["commit"].add_metric([], snap.commit_index)
        families["applied"].add_metric([], snap.applied_index)
        families["sealed"].add_metric([], 1 if snap.sealed else 0)
        families["kek_age"].add_metric([], kek_age)
        families["secrets"].add_metric([], snap.active_secrets)
        families["leader"].add_metric([], 1 if snap.is_leader else 0)
        families["disk_low"].add_metric([], 1 if snap.disk_low else 0)
        yield from families.values()


class Metrics:
    """All metrics of one node, in a registry of its own. See the module docstring."""

    def __init__(self, status_fn: Callable[[], MetricsSnapshot], *,
                 clock: Callable[[], float] = time.time,
                 process_metrics: bool = False) -> None:
        """`clock` gives Unix seconds (for the KEK age); `process_metrics` adds the standard
        `process_*` metrics (off by default: they describe the process, not the node)."""
        self.registry = CollectorRegistry(auto_describe=False)
        reg = self.registry
        self.request_duration = Histogram(
            "strongbox_request_duration_seconds", "HTTP request latency by route template.",
            ("method", "route", "status", "node_role"), registry=reg, buckets=REQUEST_BUCKETS)
        self.raft_leader_changes = Counter(
            "strongbox_raft_leader_changes_total", "Leader changes observed by this node.",
            registry=reg)
        self.raft_apply_duration = Histogram(
            "strongbox_raft_apply_duration_seconds",
            "Time to apply one committed command to the state store.", registry=reg,
            buckets=DISK_BUCKETS)
        self.journal_fsync_duration = Histogram(
            "strongbox_journal_fsync_duration_seconds",
            "Time of one Raft journal fsync (one per tick batch).", registry=reg,
            buckets=DISK_BUCKETS)
        self.token_validation_errors = Counter(
            "strongbox_token_validation_errors_total",
            "Rejected tokens by reason (missing, malformed, unknown, expired, revoked, ...).",
            ("reason",), registry=reg)
        self.audit_failures = Counter(
            "strongbox_audit_failures_total", "Audit device write failures by device path.",
            ("device",), registry=reg)
        self.lease_expiry = Counter(
            "strongbox_lease_expiry_total", "Leases revoked because they expired.",
            registry=reg)
        self.cache_hits = Counter(
            "strongbox_cache_hits_total", "Cache hits by cache name.", ("cache",),
            registry=reg)
        self.kv_versions_retired = Counter(
            "strongbox_kv_versions_retired_total",
            "KV v2 versions destroyed by the leader's sweeper past delete_version_after.",
            registry=reg)
        self.write_queue_rejections = Counter(
            "strongbox_write_queue_rejections_total",
            "Writes refused because the Raft submit queue was full.", registry=reg)
        self.engine_counters = {
            name: Counter(metric, text, registry=reg)
            for name, (metric, text) in ENGINE_COUNTERS.items()}
        self.engine_gauges = {name: Gauge(metric, text, registry=reg)
                              for name, (metric, text) in ENGINE_GAUGES.items()}
        reg.register(_StatusCollector(status_fn, clock))
        if process_metrics:
            ProcessCollector(registry=reg)

    # -- updates (any thread) -------------------------------------------------------------

    def observe_request(self, *, method: str, route: str, status: int | str, node_role: str,
                        seconds: float) -> None:
        """`route` must be a template (`route_template`), never the raw request path."""
        self.request_duration.labels(method, route, str(status), node_role).observe(seconds)

    def leader_changed(self) -> None:
        self.raft_leader_changes.inc()

    def observe_apply(self, seconds: float) -> None:
        self.raft_apply_duration.observe(seconds)

    def observe_fsync(self, seconds: float) -> None:
        self.journal_fsync_duration.observe(seconds)

    def token_validation_error(self, reason: str) -> None:
        self.token_validation_errors.labels(reason).inc()

    def audit_failure(self, device: str) -> None:
        self.audit_failures.labels(device).inc()

    def leases_expired(self, count: int = 1) -> None:
        self.lease_expiry.inc(count)

    def cache_hit(self, cache: str) -> None:
        self.cache_hits.labels(cache).inc()

    def write_queue_rejected(self) -> None:
        self.write_queue_rejections.inc()

    def engine_gauge(self, name: str, value: float) -> None:
        gauge = self.engine_gauges.get(name)
        if gauge is not None:
            gauge.set(value)

    def engine_count(self, name: str, amount: int) -> None:
        counter = self.engine_counters.get(name)
        if counter is not None:
            counter.inc(amount)

    # -- exposition -----------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """(body, content type) of the Prometheus text exposition of this node's registry."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# -- route templates ----------------------------------------------------------------------
#
# A template is built only from the fixed words below and placeholders, never from the
# request path itself, so no label can carry a secret's name. `*` stands for one or more
# segments, `{name}` for exactly one.

UNMATCHED = "/v1/{unmatched}"

_SYS_ROUTES = """
sys/health sys/seal-status sys/unseal sys/init sys/seal sys/step-down sys/leader sys/metrics
sys/key-status sys/rotate sys/rotate/config sys/rekey/init sys/rekey/update sys/rekey/verify
sys/generate-root/attempt sys/generate-root/update
sys/storage/raft/configuration sys/storage/raft/join sys/storage/raft/remove-peer
sys/storage/raft/snapshot sys/storage/raft/snapshot-force sys/storage/raft/autopilot/state
sys/storage/raft/autopilot/configuration
sys/policies/acl sys/policies/acl/{name} sys/policy sys/policy/{name}
sys/capabilities sys/capabilities-self sys/capabilities-accessor
sys/mounts sys/mounts/*/tune sys/mounts/*
sys/auth sys/auth/*/tune sys/auth/*
sys/audit sys/audit/* sys/audit-hash/*
sys/namespaces sys/namespaces/*
sys/leases/lookup sys/leases/lookup/* sys/leases/renew sys/leases/revoke
sys/leases/revoke-prefix/* sys/leases/revoke-force/* sys/leases/tidy
sys/wrapping/wrap sys/wrapping/unwrap sys/wrapping/lookup sys/wrapping/rewrap
sys/internal/ui/mounts sys/internal/ui/mounts/*
auth/token/create auth/token/create/{role} auth/token/create-orphan
auth/token/lookup auth/token/lookup/* auth/token/lookup-self auth/token/lookup-accessor
auth/token/renew auth/token/renew/* auth/token/renew-self auth/token/renew-accessor
auth/token/revoke auth/token/revoke/* auth/token/revoke-self auth/token/revoke-accessor
auth/token/revoke-orphan auth/token/roles auth/token/roles/{role} auth/token/accessors
auth/token/tidy auth/token/*
auth/{mount}/login auth/{mount}/login/* auth/{mount}/users auth/{mount}/users/*
auth/{mount}/role auth/{mount}/role/* auth/{mount}/tidy/* auth/{mount}/*
"""

# Operation words right below a secrets-engine mount (kv v2, transit, database).
ENGINE_WORDS = frozenset((
    "data", "metadata", "delete", "undelete", "destroy", "subkeys", "config",  # kv v2
    "keys", "encrypt", "decrypt", "rewrap", "datakey", "sign", "verify", "hmac", "hash",
    "random", "export", "backup", "restore", "cache-config",  # transit
    "creds", "roles", "static-roles", "static-creds", "rotate-root", "rotate-role", "reset",
))


def _compile(table: str) -> dict[str, list[tuple[str, ...]]]:
    """Patterns grouped by their first two segments (area and sub-area) for fast lookup."""
    by_area: dict[str, list[tuple[str, ...]]] = {}
    for pattern in table.split():
        parts = tuple(pattern.split("/"))
        by_area.setdefault("/".join(parts[:2]), []).append(parts)
    return by_area


_PATTERNS = _compile(_SYS_ROUTES)
_AUTH_GENERIC = _PATTERNS.pop("auth/{mount}")

TEMPLATE_WORDS = frozenset(
    {"v1", "metrics", "*", "{unmatched}", "{mount}"} | ENGINE_WORDS
    | {part for patterns in [*_PATTERNS.values(), _AUTH_GENERIC] for p in patterns
       for part in p})
"""Every word a template may contain; anything else in a template would be a leak."""


def _matches(pattern: tuple[str, ...], segments: list[str]) -> bool:
    if not pattern:
        return not segments
    if not segments:
        return False
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return any(_matches(rest, segments[k:]) for k in range(1, len(segments) + 1))
    if head.startswith("{") or head == segments[0]:
        return _matches(rest, segments[1:])
    return False


def _first_match(patterns: Iterable[tuple[str, ...]], segments: list[str]) -> str | None:
    for pattern in patterns:
        if _matches(pattern, segments):
            return "/v1/" + "/".join(pattern)
    return None


def _mount_template(segments: list[str], mount_paths: Iterable[str]) -> str | None:
    best = 0
    for mount in mount_paths:
        parts = [p for p in mount.split("/") if p]
        if best < len(parts) <= len(segments) and segments[:len(parts)] == parts:
            best = len(parts)
    if not best:
        return None
    rest = segments[best:]
    if not rest:
        return "/v1/{mount}"
    if rest[0] in ENGINE_WORDS:
        return "/v1/{mount}/" + rest[0] + ("/*" if len(rest) > 1 else "")
    return "/v1/{mount}/*"


def route_template(path: str, mount_paths: Iterable[str]) -> str:
    """The label-safe template of a request path.

    `path` is the request path as received, namespace prefix already removed
    (`/v1/secret/data/app/db`, query string allowed); `mount_paths` are the secrets-engine
    mount paths of that namespace (`"secret/"` or `"secret"`). Examples:
    `/v1/secret/data/app/db` -> `/v1/{mount}/data/*`, `/v1/sys/health` -> `/v1/sys/health`,
    `/v1/sys/policies/acl/dev` -> `/v1/sys/policies/acl/{name}`, anything else
    -> `/v1/{unmatched}`. The result contains only words of `TEMPLATE_WORDS`.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    if path in ("/metrics", "/metrics/"):
        return "/metrics"
    if not path.startswith("/v1/"):
        return UNMATCHED
    segments = path[len("/v1/"):].rstrip("/").split("/")
    if not segments[0] or "" in segments:
        return UNMATCHED
    if segments[0] in ("sys", "auth"):
        found = _first_match(_PATTERNS.get("/".join(segments[:2]), ()), segments)
        if found is None and segments[0] == "auth":
            found = _first_match(_AUTH_GENERIC, segments)
        return found or UNMATCHED
    return _mount_template(segments, mount_paths) or UNMATCHED
