"""Typed node configuration: TOML file, then STRONGBOX_* environment, then CLI flags.

`load_config(path, env, overrides)` returns a frozen `NodeConfig` or raises
`errors.ConfigError` naming the offending key (the CLI exits with code 2).
Unknown keys are errors: a typo must not silently fall back to a default.

Example node.toml:

    node_id = "node-1"
    data_dir = "/var/lib/strongbox"
    cluster_name = "prod"

    [listener]
    address = "0.0.0.0:8200"
    tls_cert_file = "/etc/strongbox/tls/server.crt"
    tls_key_file = "/etc/strongbox/tls/server.key"
    advertise_address = "https://sb-1.example.internal:8200"   # what clients should use
    # tls_disable = true   # plain HTTP, for local experiments only

    [limits]
    max_request_bytes = 1048576
    write_timeout_s = 10.0

    [storage]
    map_size_mb = 1024
"""

from __future__ import annotations

import dataclasses
import math
import os
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strongbox.errors import ConfigError

TLS_VERSIONS = {"tls12": ssl.TLSVersion.TLSv1_2, "tls13": ssl.TLSVersion.TLSv1_3}


MAX_WORKERS = 16


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    address: str = "127.0.0.1:8200"
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_disable: bool = False
    # "tls12" (default: older clients still connect) or "tls13"; Vault's option name
    tls_min_version: str = "tls12"
    # PEM bundle of CAs whose client certificates the listener asks for (optional for the
    # client, verified when sent): what the cert auth method logs in with. Vault's name.
    tls_client_ca_file: str = ""
    # The URL clients should use for this node, "https://host:port" (Vault's `api_addr`):
    # sys/leader's leader_address, and what peers learn in the cluster Hello. Default:
    # derived from `address`, which is useless to clients when it is 0.0.0.0.
    advertise_address: str = ""
    # Processes serving the API (strongbox/workers/): the main (Raft) process plus
    # `workers - 1` read workers sharing the listening socket and the LMDB store.
    # 0 = one per CPU this process may use (its affinity and cgroup quota: the
    # cores given to the pod), at most MAX_WORKERS.
    workers: int = 0

    @property
    def minimum_tls(self) -> ssl.TLSVersion:
        """The `ssl.TLSVersion` the API listener requires (validated at start-up)."""
        return TLS_VERSIONS[self.tls_min_version]

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    max_request_bytes: int = 1024 * 1024
    max_snapshot_bytes: int = 256 * 1024 * 1024  # snapshot restore uploads
    max_pending_writes: int = 1024    # writes waiting for Raft; beyond: 429 + Retry-After
    request_timeout_s: float = 30.0   # a request still running after this answers 503
    body_timeout_s: float = 10.0      # a client slower than this to send its body gets 408
    header_timeout_s: float = 10.0    # request line + headers must arrive within this (408)
    write_timeout_s: float = 10.0
    sweep_interval_s: float = 60.0    # how often the leader removes expired tokens and ids


@dataclass(frozen=True, slots=True)
class StorageConfig:
    map_size_mb: int = 1024
    # below this much free space on the data volume the node pauses Raft and answers
    # writes 507 until space returns (raft/diskguard.py); 0 turns the guard off
    min_free_mb: int = 64
    # fileperms: group/other-accessible files in data_dir are fixed with a warning (false)
    # or refused at start (true); see strongbox/ops/fileperms.py
    strict_permissions: bool = False


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Raft peers over mutual-TLS gRPC. No `address`: a cluster of one, no cluster port."""

    address: str = ""                 # cluster (gRPC) listen address, host:port
    advertise_address: str = ""       # what peers dial; defaults to `address`
    peers: tuple[str, ...] = ()       # the other members, "node-2=10.0.0.2:8201"
    tls_ca_file: str = ""
    tls_cert_file: str = ""           # its CN is this node's id: peers check it
    tls_key_file: str = ""
    snapshot_threshold: int = 10000   # compact the journal after this many entries
    max_staleness_s: float = 5.0      # default reads refused after this long without a leader
    index_wait_s: float = 2.0         # how long a read waits for X-Vault-Index before 412
    fault_injection: bool = False     # tests only: obey <data_dir>/faults.json

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def peer_map(self) -> dict[str, str]:
        return dict(peer.split("=", 1) for peer in self.peers)


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    tracing_exporter: str = "none"        # none | console | otlp | memory (tests)
    otlp_endpoint: str = ""               # e.g. http://otel-collector:4318
    metrics_listener: str = ""            # optional plain-HTTP /metrics, host:port
    metrics_unauthenticated: bool = False  # allow /v1/sys/metrics without a token
    access_log: bool = True               # one JSON line per request


SEAL_TYPES = ("shamir", "pkcs11", "transit", "static")


@dataclass(frozen=True, slots=True)
class SealConfig:
    """`[seal]` (and `[previous_seal]` while migrating): the seal's `type` and the
    options of that type, checked by `strongbox.seal.auto.build` (docs/seals.md)."""

    type: str = "shamir"
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeConfig:
    data_dir: str
    node_id: str = "node-1"
    cluster_name: str = "strongbox"
    log_level: str = "info"
    listener: ListenerConfig = field(default_factory=ListenerConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    observability: ObservabilityConfig = field(default_factory=ObservabilityConfig)
    seal: SealConfig = field(default_factory=SealConfig)
    previous_seal: SealConfig | None = None

    @property
    def api_addr(self) -> str:
        """The URL clients should use: `listener.advertise_address`, else the listen address."""
        if self.listener.advertise_address:
            return self.listener.advertise_address.rstrip("/")
        scheme = "http" if self.listener.tls_disable else "https"
        return f"{scheme}://{self.listener.address}"


SECTIONS: dict[str, type[Any]] = {
    "listener": ListenerConfig, "limits": LimitsConfig, "storage": StorageConfig,
    "cluster": ClusterConfig,
    "observability": ObservabilityConfig,
}
LOG_LEVELS = ("debug", "info", "warning", "error")


def _coerce(key: str, value: Any, kind: type[Any]) -> Any:
    """Convert env/CLI strings; check TOML values have the declared type."""
    if kind is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
            raise ConfigError(key, "expected a list of strings")
        return tuple(i.strip() for i in items if i.strip())
    if isinstance(value, str) and kind is not str:
        try:
            if kind is bool:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                return value.lower() in ("true", "1")
            return kind(value)
        except ValueError:
            raise ConfigError(key, f"expected {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(key, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _field_types(cls: type[Any]) -> dict[str, type[Any]]:
    names = {"str": str, "int": int, "bool": bool, "float": float, "tuple[str, ...]": tuple}
    return {f.name: names[str(f.type)] for f in dataclasses.fields(cls) if str(f.type) in names}


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if key in SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(key, "expected a table")
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def _known_keys() -> dict[str, type[Any]]:
    known = _field_types(NodeConfig)
    for section, cls in SECTIONS.items():
        known.update({f"{section}.{k}": t for k, t in _field_types(cls).items()})
    return known


def _from_env(env: Mapping[str, str], known: Mapping[str, type[Any]]) -> dict[str, Any]:
    # STRONGBOX_LISTENER__ADDRESS -> listener.address; STRONGBOX_DATA_DIR -> data_dir
    out = {}
    for key in known:
        name = "STRONGBOX_" + key.upper().replace(".", "__")
        if name in env:
            out[key] = env[name]
    return out


def load_config(path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> NodeConfig:
    known = _known_keys()
    values: dict[str, Any] = {}
    seals: dict[str, SealConfig] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                raw = tomllib.load(fh)
                seals = {name: _seal_config(name, raw.pop(name)) for name in
                         ("seal", "previous_seal") if name in raw}
                values.update(_flatten(raw))
        except FileNotFoundError:
            raise ConfigError("--config", f"file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None
    values.update(_from_env(os.environ if env is None else env, known))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for key in values:
        if key not in known:
            raise ConfigError(key, f"unknown setting; known settings: {', '.join(sorted(known))}")
    typed = {key: _coerce(key, value, known[key]) for key, value in values.items()}
    return _build(typed, seals)


def _seal_config(name: str, raw: Any) -> SealConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError(name, "expected a table, e.g. [seal] type = \"pkcs11\"")
    options = dict(raw)
    kind = options.pop("type", "shamir")
    if kind not in SEAL_TYPES:
        raise ConfigError(f"{name}.type", f"must be one of {', '.join(SEAL_TYPES)}, got "
                          f"{kind!r}")
    return SealConfig(type=kind, options=options)


def _build(typed: Mapping[str, Any], seals: Mapping[str, SealConfig] | None = None,
           ) -> NodeConfig:
    if not typed.get("data_dir"):
        raise ConfigError("data_dir", "required: the directory holding this node's store")
    sections = {
        name: cls(**{k.split(".", 1)[1]: v for k, v in typed.items() if k.startswith(name + ".")})
        for name, cls in SECTIONS.items()
    }
    top = {k: v for k, v in typed.items() if "." not in k}
    seals = seals or {}
    config = NodeConfig(**top, **sections, seal=seals.get("seal", SealConfig()),
                        previous_seal=seals.get("previous_seal"))
    _validate(config)
    return config


def _validate(config: NodeConfig) -> None:
    _validate_listener(config.listener)
    _validate_rest(config)


def _validate_listener(listener: ListenerConfig) -> None:
    host = listener.address.rsplit(":", 1)[0]
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ConfigError("listener.address", "write IPv6 addresses as [host]:port, e.g. "
                          f"[::1]:8200, got {listener.address!r}")
    try:
        port = listener.port
    except (IndexError, ValueError):
        raise ConfigError("listener.address", f"expected host:port, got {listener.address!r}") \
            from None
    if not 0 <= port <= 65535:
        raise ConfigError("listener.address", f"port {port} is out of range")
    if not 0 <= listener.workers <= MAX_WORKERS:
        raise ConfigError("listener.workers", f"must be 0 (one per CPU) to {MAX_WORKERS}, "
                          f"got {listener.workers}")
    if listener.tls_min_version not in TLS_VERSIONS:
        raise ConfigError("listener.tls_min_version", "must be \"tls12\" or \"tls13\", got "
                          f"{listener.tls_min_version!r}")
    if not listener.tls_disable:
        for key in ("tls_cert_file", "tls_key_file"):
            value = getattr(listener, key)
            if not value:
                raise ConfigError(f"listener.{key}",
                                  "required unless listener.tls_disable = true")
            if not Path(value).is_file():
                raise ConfigError(f"listener.{key}", f"file {value!r} does not exist")
    if listener.advertise_address:
        _validate_advertise_address(listener.advertise_address)
    if listener.tls_client_ca_file:
        if listener.tls_disable:
            raise ConfigError("listener.tls_client_ca_file", "client certificates need TLS: "
                              "unset it or listener.tls_disable")
        if not Path(listener.tls_client_ca_file).is_file():
            raise ConfigError("listener.tls_client_ca_file",
                              f"file {listener.tls_client_ca_file!r} does not exist")


def _validate_rest(config: NodeConfig) -> None:
    if config.limits.max_request_bytes < 1024:
        raise ConfigError("limits.max_request_bytes", "must be at least 1024")
    if not math.isfinite(config.limits.write_timeout_s) or config.limits.write_timeout_s <= 0:
        raise ConfigError("limits.write_timeout_s", "must be a positive number of seconds")
    if config.limits.max_pending_writes < 1:
        raise ConfigError("limits.max_pending_writes", "must be at least 1")
    for key in ("request_timeout_s", "body_timeout_s", "header_timeout_s", "sweep_interval_s"):
        value = getattr(config.limits, key)
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"limits.{key}", "must be a positive number of seconds")
    if config.storage.map_size_mb < 16:
        raise ConfigError("storage.map_size_mb", "must be at least 16")
    if config.storage.min_free_mb < 0:
        raise ConfigError("storage.min_free_mb", "must be 0 (off) or a number of MiB")
    if config.log_level not in LOG_LEVELS:
        raise ConfigError("log_level", f"must be one of {', '.join(LOG_LEVELS)}")
    if not config.node_id or not config.node_id.replace("-", "").replace("_", "").isalnum():
        raise ConfigError("node_id", "must be letters, digits, '-' or '_'")
    _validate_cluster(config)
    obs = config.observability
    if obs.tracing_exporter not in ("none", "console", "otlp", "memory"):
        raise ConfigError("observability.tracing_exporter",
                          "must be one of none, console, otlp, memory")
    if obs.tracing_exporter == "otlp" and not obs.otlp_endpoint:
        raise ConfigError("observability.otlp_endpoint", "required when tracing_exporter = otlp")
    if obs.metrics_listener and not obs.metrics_listener.rsplit(":", 1)[-1].isdigit():
        raise ConfigError("observability.metrics_listener", "expected host:port")


def _validate_advertise_address(value: str) -> None:
    """`listener.advertise_address` must be scheme://host:port and nothing more."""
    key = "listener.advertise_address"
    example = "e.g. https://strongbox-0.strongbox-internal.vault.svc:8200"
    try:
        url = urlsplit(value)
        port = url.port
    except ValueError:
        raise ConfigError(key, f"expected scheme://host:port ({example}), got {value!r}") \
            from None
    if url.scheme not in ("http", "https") or not url.hostname or port is None:
        raise ConfigError(key, f"expected http(s)://host:port ({example}), got {value!r}")
    if url.path not in ("", "/") or url.query or url.fragment or url.username or url.password:
        raise ConfigError(key, "must be only scheme://host:port (no path, query or "
                          "credentials)")


def _validate_cluster(config: NodeConfig) -> None:
    cluster = config.cluster
    if cluster.snapshot_threshold < 2:
        raise ConfigError("cluster.snapshot_threshold", "must be at least 2")
    if not cluster.enabled:
        if cluster.peers:
            raise ConfigError("cluster.peers", "needs cluster.address (this node's cluster port)")
        return
    for key in ("address", "advertise_address"):
        value = getattr(cluster, key)
        if value and (":" not in value or not value.rsplit(":", 1)[1].isdigit()):
            raise ConfigError(f"cluster.{key}", f"expected host:port, got {value!r}")
    for peer in cluster.peers:
        name, _, addr = peer.partition("=")
        if not name or ":" not in addr or not addr.rsplit(":", 1)[1].isdigit():
            raise ConfigError("cluster.peers", f"expected \"node-id=host:port\", got {peer!r}")
        if name == config.node_id:
            raise ConfigError("cluster.peers", f"lists this node ({name}); list only the others")
    for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        value = getattr(cluster, key)
        if not value:
            raise ConfigError(f"cluster.{key}", "required: cluster traffic is mutual TLS")
        if not Path(value).is_file():
            raise ConfigError(f"cluster.{key}", f"file {value!r} does not exist")
    for key in ("max_staleness_s", "index_wait_s"):
        value = getattr(cluster, key)
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(f"cluster.{key}", "must be a positive number of seconds")
