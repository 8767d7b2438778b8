"""Vault-shaped audit entries for a request and its response, and the audited call.

`audited(ctx, handler)` records the request before the handler runs and the
response before it is returned; if no enabled audit device can record either,
the request fails with 500 and nothing else is returned (Vault's rule: fail
closed). Redaction (HMAC of tokens and every data value) happens in the broker.
Health and status probes are not audited (they carry no identity and no data).
"""

from __future__ import annotations

import json
from typing import Any

from strongbox.backend.context import Context, Handler
from strongbox.backend.response import Response, error_response
from strongbox.errors import StrongBoxError

UNAUDITED = frozenset({"sys/health", "sys/seal-status", "sys/leader", "sys/metrics"})
# Key shares, OTPs and encoded root tokens: not even HMAC'd, never in a log_raw device.
UNRECORDED_BODIES = frozenset({"sys/unseal", "sys/init", "sys/rekey/update", "sys/rekey/verify",
                               "sys/generate-root/attempt", "sys/generate-root/update",
                               "sys/decode-token"})
UNRECORDED_RESPONSES = UNRECORDED_BODIES
OPERATIONS = {"GET": "read", "HEAD": "read", "LIST": "list", "POST": "update",
              "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def _auth(ctx: Context) -> dict[str, Any]:
    token = ctx.token
    if token is None:
        return {}
    return {"client_token": ctx.request.token or "", "accessor": token.accessor,
            "display_name": token.display_name, "policies": list(token.policies),
            "token_policies": list(token.policies), "metadata": dict(token.meta) or None,
            "entity_id": "", "token_type": token.type or "service"}


def _request(ctx: Context, mount_type: str) -> dict[str, Any]:
    request = ctx.request
    try:
        data: Any = request.raw_json() if request.body else None
    except StrongBoxError:
        data = None
    if request.path in UNRECORDED_BODIES:
        data = None  # key shares: not even HMAC'd, and never in a log_raw device
    return {"id": request.request_id, "operation": OPERATIONS.get(request.method, "update"),
            "mount_type": mount_type, "client_token": request.token or "",
            "client_token_accessor": ctx.token.accessor if ctx.token else "",
            "namespace": {"id": request.namespace or "root",
                          "path": request.namespace + "/" if request.namespace else ""},
            "path": request.path,
            "data": data, "remote_address": request.remote_addr}


def _response_body(response: Response) -> dict[str, Any]:
    if not response.body:
        return {}
    known, value = response.json_value()
    if known:
        return value if isinstance(value, dict) else {}
    try:
        body = json.loads(response.body)
    except ValueError:
        return {}  # binary (snapshots): not recorded
    return body if isinstance(body, dict) else {}


def _response(response: Response, mount_type: str, path: str = "") -> dict[str, Any]:
    body = {} if path in UNRECORDED_RESPONSES else _response_body(response)
    out = {"mount_type": mount_type, "status": response.status,
           "data": body.get("data", body or None)}
    if body.get("auth"):  # logins and token creation: the broker HMACs the token
        out["auth"] = body["auth"]
    return out


async def audited(ctx: Context, handler: Handler, mount_type: str = "") -> Response:
    broker = ctx.core.audit
    if ctx.request.path in UNAUDITED or not broker.names():
        return await handler(ctx)
    if ctx.core.sealed:
        # Devices hash with the audit key, which only an unsealed node holds (Vault
        # likewise audits nothing while sealed). The request that completes an unseal
        # is recorded once the key is there.
        response = await handler(ctx)
        if not ctx.core.sealed:
            _log_response(ctx, _auth(ctx), _request(ctx, mount_type), mount_type, response, "")
        return response
    auth, request = _auth(ctx), _request(ctx, mount_type)
    broker.log_request({"type": "request", "auth": auth, "request": request, "error": ""})
    error = ""
    try:
        response = await handler(ctx)
    except StrongBoxError as exc:
        response, error = error_response(exc), exc.message
    if not ctx.core.sealed:  # sys/seal drops the audit key: its request line stands alone
        _log_response(ctx, auth, request, mount_type, response, error)
    return response


def _log_response(ctx: Context, auth: dict[str, Any], request: dict[str, Any],
                  mount_type: str, response: Response, error: str) -> None:
    ctx.core.audit.log_response({
        "type": "response", "auth": auth, "request": request,
        "response": _response(response, mount_type, ctx.request.path),
        "error": error})


def audit_refusal(ctx: Context, error: StrongBoxError) -> None:
    """Record a request refused before its handler (bad token, policy): Vault audits these.

    Fails closed like any audit write: if no device can record it, AuditError replaces
    the refusal.
    """
    broker = ctx.core.audit
    if ctx.request.path in UNAUDITED or not broker.names() or ctx.core.sealed:
        return
    request = _request(ctx, "")
    broker.log_request({"type": "request", "auth": {}, "request": request,
                        "error": error.message})
    broker.log_response({"type": "response", "auth": {}, "request": request,
                         "response": {"mount_type": "", "status": error.status, "data": None},
                         "error": error.message})
