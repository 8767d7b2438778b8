"""KV version 2 as a `Backend`: its paths, apply handlers, options and unmount cleanup."""

from __future__ import annotations

from strongbox.backend.contract import Backend
from strongbox.engines.kv import apply, http, retention, upgrade
from strongbox.errors import BadRequest


def options(raw: dict[str, str]) -> dict[str, str]:
    if raw.get("version", "2") != "2":
        raise BadRequest("a KV version 2 mount takes options.version \"2\"")
    return {**raw, "version": "2"}


BACKEND = Backend(kind="secret", type="kv", version="2", default_version=False,
                  description="key/value secret storage, versioned", paths=http.PATHS,
                  options=options, unmount=apply.unmount, upgrade=upgrade.upgrade,
                  apply_handlers={**apply.HANDLERS, "kv_upgrade": upgrade.apply_kv_upgrade},
                  serves_data=True, check_token_first=True, retire=retention.retire)
