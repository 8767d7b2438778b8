"""JSON shapes of KV v2 responses, exactly as Vault prints them."""

from __future__ import annotations

import json
from typing import Any

from strongbox.barrier import envelope
from strongbox.barrier.keyring import Keyring
from strongbox.pb import records_pb2 as rec
from strongbox.timefmt import format_duration, rfc3339


def custom_metadata_aad(namespace: str, mount: str, path: str) -> bytes:
    return envelope.value_aad(namespace, mount, path, "custom_metadata")


def custom_metadata(keyring: Keyring, namespace: str, mount: str, path: str,
                    meta: rec.KvMetadataRecord) -> dict[str, str] | None:
    if not meta.HasField("custom_metadata"):
        return None
    raw = envelope.decrypt(keyring, meta.custom_metadata,
                           custom_metadata_aad(namespace, mount, path))
    value: dict[str, str] = json.loads(raw)
    return value


def version_state(state: rec.KvVersionMeta) -> dict[str, Any]:
    return {"created_time": rfc3339(state.created_time_ns),
            "deletion_time": rfc3339(state.deletion_time_ns),
            "destroyed": state.destroyed}


def version_metadata(state: rec.KvVersionMeta, version: int,
                     custom: dict[str, str] | None) -> dict[str, Any]:
    return {**version_state(state), "custom_metadata": custom, "version": version}


def metadata(meta: rec.KvMetadataRecord, custom: dict[str, str] | None) -> dict[str, Any]:
    return {
        "cas_required": meta.cas_required,
        "created_time": rfc3339(meta.created_time_ns),
        "current_version": meta.current_version,
        "custom_metadata": custom,
        "delete_version_after": format_duration(meta.delete_version_after_ns),
        "max_versions": meta.max_versions,
        "oldest_version": meta.oldest_version,
        "updated_time": rfc3339(meta.updated_time_ns),
        "versions": {str(v): version_state(meta.versions[v]) for v in sorted(meta.versions)},
        "destroy_protection": meta.destroy_protection,
    }


def config(cfg: rec.KvConfig) -> dict[str, Any]:
    return {"cas_required": cfg.cas_required, "max_versions": cfg.max_versions,
            "delete_version_after": format_duration(cfg.delete_version_after_ns)}


def subkeys(value: Any, depth: int, level: int = 1) -> Any:
    """Vault's subkeys: the structure with every leaf replaced by null."""
    if not isinstance(value, dict) or (depth and level > depth):
        return None
    return {k: subkeys(v, depth, level + 1) for k, v in value.items()}
