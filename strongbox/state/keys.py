"""Byte keys of the LMDB databases (docs/design.md §6).

Composite keys join namespace, mount and path with NUL, which validated paths
can never contain, so every key decodes unambiguously and a prefix scan over
`kv_meta_prefix(ns, mount, prefix)` lists exactly one folder's subtree.
"""

from __future__ import annotations

APPLIED_INDEX = b"applied_index"
CLUSTER = b"cluster"
KEK_TERM = b"kek_term"
RESTORE = b"restore"  # id of a snapshot restore in progress
AUDIT_GENERATION = b"audit_gen"  # bumped by every audit device change
POLICY_GENERATION = b"policy_gen"  # bumped by every policy change (ACL caches key on it)
MOUNT_GENERATION = b"mount_gen"  # bumped by every mount-table change (the router caches on it)
GENERATE_ROOT = b"generate-root"  # the GenerateRootAttempt in progress, if any
LAST_APPLIED_TIME = b"last_time"  # the latest Command.time_ns applied (apply clamps to it)


def child_key(parent_accessor: str, child_accessor: str) -> bytes:
    return f"{parent_accessor}\0{child_accessor}".encode()


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def from_u64(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def mount_key(namespace: str, mount: str) -> bytes:
    return f"{namespace}\0{mount}".encode()


def kv_meta_key(namespace: str, mount: str, path: str) -> bytes:
    return f"{namespace}\0{mount}\0{path}".encode()


def kv_data_key(namespace: str, mount: str, path: str, version: int) -> bytes:
    return kv_meta_key(namespace, mount, path) + b"\0" + u64(version)


def kv_data_prefix(namespace: str, mount: str, path: str) -> bytes:
    return kv_meta_key(namespace, mount, path) + b"\0"


def policy_key(namespace: str, name: str) -> bytes:
    return f"{namespace}\0{name}".encode()


def namespace_within(namespace: str, ancestor: str) -> bool:
    """Is `namespace` `ancestor` itself or below it ("" is the root, above all)?"""
    return not ancestor or namespace == ancestor or namespace.startswith(ancestor + "/")


def ns_prefix(namespace: str) -> bytes:
    """The prefix of every mounts/kv/policies/auth_entries key of one namespace."""
    return f"{namespace}\0".encode()


def auth_entry_key(namespace: str, mount: str, kind: str, *parts: str) -> bytes:
    """auth_entries keys: "<ns>\0<mount>\0<kind>\0<part>[\0<part>...]"."""
    return "\0".join((namespace, mount, kind, *parts)).encode()


def secret_id_accessor_key(secret_key: bytes, accessor: str) -> bytes:
    """The accessor index entry of an AppRole secret id stored under `secret_key`
    ("<ns>\0<mount>\0secret\0<role>\0<hash>" -> "...\0secret_acc\0<role>\0<accessor>")."""
    role_key = secret_key.rsplit(b"\0", 1)[0]
    return role_key.replace(b"\0secret\0", b"\0secret_acc\0", 1) + b"\0" + accessor.encode()
