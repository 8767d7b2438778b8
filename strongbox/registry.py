"""Every backend StrongBox serves: one line each.

Importing this module registers the backends' apply handlers, unmount and expiry hooks
with the state machine, so it is imported by the API (and by tests that apply
commands) before any entry is applied. `secrets_engine(type, version)` and
`auth_method(type)` find a backend for `sys/mounts` / `sys/auth`; `for_mount`
finds the one serving a mount record.
"""

from __future__ import annotations

from strongbox.auth import approle, cert, jwt, kubernetes, userpass
from strongbox.backend.contract import Backend
from strongbox.engines.database import backend as database
from strongbox.engines.kv import backend as kv
from strongbox.engines.kv1 import backend as kv1
from strongbox.engines.transit import backend as transit
from strongbox.state import apply, apply_ns, apply_sweep

BACKENDS: tuple[Backend, ...] = (
    kv.BACKEND,
    kv1.BACKEND,
    transit.BACKEND,
    database.BACKEND,
    userpass.BACKEND,
    approle.BACKEND,
    kubernetes.BACKEND,
    jwt.BACKEND,
    cert.BACKEND,
)
# Vault's aliases of one type with a fixed version.
ALIASES = {"kv-v2": ("kv", "2"), "kv-v1": ("kv", "1")}


def _register() -> None:
    for backend in BACKENDS:
        apply.register(dict(backend.apply_handlers))
        prefix = "auth:" if backend.kind == "auth" else ""
        if backend.unmount is not None:
            apply_ns.UNMOUNT_HOOKS[prefix + backend.type] = backend.unmount
        if backend.expiry is not None:
            apply_sweep.EXPIRY[prefix + backend.type] = backend.expiry


_register()


def types(kind: str) -> list[str]:
    return sorted({b.type for b in BACKENDS if b.kind == kind})


def secrets_engine(type_: str, version: str = "") -> Backend | None:
    """The secrets engine of `type_` at `version` ("" = the type's default)."""
    type_, version = ALIASES.get(type_, (type_, version))
    candidates = [b for b in BACKENDS if b.kind == "secret" and b.type == type_]
    for backend in candidates:
        if (version and backend.version == version) or (not version and backend.default_version):
            return backend
    return None


def auth_method(type_: str) -> Backend | None:
    return next((b for b in BACKENDS if b.kind == "auth" and b.type == type_), None)


def for_mount(type_: str, options: dict[str, str], auth: bool) -> Backend | None:
    if auth:
        return auth_method(type_)
    return secrets_engine(type_, options.get("version", ""))
