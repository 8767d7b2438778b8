"""sys/audit (enable, list, disable file devices) and sys/audit-hash, as in Vault.

Device configuration is replicated; each node opens its own file (see
strongbox/audit_sync.py). Enabling first opens the file on the node handling
the request, so a path it cannot write is a 400 instead of a cluster that
fails closed on every request.
"""

from __future__ import annotations

import re
from typing import Any

from strongbox.audit import AuditError
from strongbox.audit_sync import open_device
from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest, InternalError
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec

ENABLE_SCHEMA = {"type": (str,), "description": (str, type(None)),
                 "options": (dict, type(None)), "local": (bool, type(None)),
                 "path": (str, type(None))}
OPTIONS = {"file_path", "mode", "hmac_accessor", "log_raw", "format", "prefix"}
# Vault's file device still reads the older `path` option when `file_path` is absent.
OPTION_ALIASES = {"path": "file_path"}
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+/$")


def _device_path(ctx: Context, prefix: str) -> str:
    name = ctx.request.path[len(prefix):].strip("/") + "/"
    if not NAME_RE.match(name):
        raise BadRequest("an audit device path is one segment of letters, digits, . _ or -, "
                         "e.g. sys/audit/file")
    return name


def _view(record: rec.AuditDeviceRecord) -> dict[str, Any]:
    return {"type": record.type, "description": record.description,
            "options": dict(record.options), "path": record.path, "local": False}


async def list_devices(ctx: Context) -> Response:
    return ok(ctx.request.request_id,
              {r.path: _view(r) for r in ctx.core.store.audit_devices()})


def _options(body: dict[str, Any]) -> dict[str, str]:
    options = dict(body.get("options") or {})
    for alias, name in OPTION_ALIASES.items():
        if alias in options:
            value = options.pop(alias)
            options.setdefault(name, value)
    unknown = set(options) - OPTIONS
    if unknown:
        raise BadRequest(f"unknown audit option {sorted(unknown)[0]!r}; accepted: "
                         f"{', '.join(sorted(OPTIONS))}")
    out = {key: str(value).lower() if isinstance(value, bool) else str(value)
           for key, value in options.items()}
    if not out.get("file_path"):
        raise BadRequest("options.file_path is required (a file, or \"stdout\")")
    if not re.fullmatch(r"0?[0-7]{3}", out.setdefault("mode", "0600")):
        raise BadRequest("options.mode must be an octal file mode such as \"0600\"")
    for flag in ("hmac_accessor", "log_raw"):
        if out.get(flag, "false") not in ("true", "false"):
            raise BadRequest(f"options.{flag} must be true or false")
    if out.get("format", "json") != "json":
        raise BadRequest("only the json audit format is supported")
    return out


async def enable_device(ctx: Context) -> Response:
    path = _device_path(ctx, "sys/audit/")
    body = ctx.request.json_body(ENABLE_SCHEMA, required=("type",))
    if body["type"] != "file":
        raise BadRequest("this audit device 'type' is not supported; use \"file\"")
    record = rec.AuditDeviceRecord(path=path, type="file",
                                   description=body.get("description") or "",
                                   options=_options(body), created_time_ns=ctx.now_ns())
    try:
        open_device(record, ctx.core.audit_sync.data_dir).close()
    except (AuditError, ValueError, OSError) as exc:
        raise BadRequest(f"cannot open the audit file on this node: {exc}") from None
    result = await ctx.submit(cmd_pb.Command(audit_enable=cmd_pb.AuditEnable(
        device=record)))
    if result.code == result.INVALID:
        raise BadRequest(result.message)
    if result.code != result.OK:
        raise InternalError("enabling the audit device failed")
    ctx.core.audit_sync.refresh()
    return no_content()


async def disable_device(ctx: Context) -> Response:
    path = _device_path(ctx, "sys/audit/")
    if not any(r.path == path for r in ctx.core.store.audit_devices()):
        return no_content()  # Vault: disabling what is not there succeeds, nothing written
    result = await ctx.submit(cmd_pb.Command(audit_disable=cmd_pb.AuditDisable(
        path=path)))
    if result.code not in (result.OK, result.NOT_FOUND):  # NOT_FOUND: a racing disable
        raise InternalError("disabling the audit device failed")
    ctx.core.audit_sync.refresh()
    return no_content()


async def audit_hash(ctx: Context) -> Response:
    path = _device_path(ctx, "sys/audit-hash/")
    body = ctx.request.json_body({"input": (str,)}, required=("input",))
    if ctx.core.audit.get(path) is None:  # Vault's status and text (clients match on it)
        raise BadRequest(f'unknown audit backend "{path}"')
    return ok(ctx.request.request_id, {"hash": ctx.core.audit.hash_value(body["input"])})


ROUTES: dict[str, Route] = {"sys/audit": Route({"GET": list_devices}, sudo=True)}
PREFIX_ROUTES: dict[str, Route] = {
    "sys/audit/": Route({"PUT": enable_device, "DELETE": disable_device}, sudo=True),
    "sys/audit-hash/": Route({"POST": audit_hash}),
}
