"""Response wrapping (Vault): share a secret through a link that works once and expires.

`X-Vault-Wrap-TTL: 5m` on a request replaces its answer with a single-use wrapping
token; the real answer is sealed (envelope encryption, AAD bound to the token's
accessor) and replicated. `sys/wrapping/unwrap` returns it exactly once, on any node:
the first consume committed through Raft wins, later ones get 400. `lookup` tells
when a token was made, for what path and for how long, without consuming it.
`wrap` wraps any JSON object the caller sends.
"""

from __future__ import annotations

import json
from typing import Any

from strongbox.auth.tokens import expired, new_accessor, new_service_token
from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, envelope, json_response, ok
from strongbox.barrier import envelope as sealing
from strongbox.errors import BadRequest, PermissionDenied
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.timefmt import parse_duration, rfc3339

MIN_TTL_NS = 10**9
MAX_TTL_NS = 30 * 86400 * 10**9
DEFAULT_TTL_NS = 300 * 10**9
UNWRAPPABLE = ("sys/wrapping/",)


def _aad(accessor: str) -> bytes:
    return f"wrapping|{accessor}".encode()


def wrap_ttl(ctx: Context) -> int | None:
    raw = ctx.request.headers.get("x-vault-wrap-ttl")
    if not raw:
        return None
    try:
        ttl = parse_duration(raw, "X-Vault-Wrap-TTL")
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not MIN_TTL_NS <= ttl <= MAX_TTL_NS:
        raise BadRequest("X-Vault-Wrap-TTL must be between 1s and 720h")
    return ttl


def _wrapped_accessor(body: bytes) -> str:
    """The accessor of a token the wrapped answer carries (auth/token/create, logins), as
    Vault reports it in wrap_info.wrapped_accessor; "" for any other answer."""
    try:
        payload = json.loads(body)
    except ValueError:
        return ""
    auth = payload.get("auth") if isinstance(payload, dict) else None
    accessor = auth.get("accessor") if isinstance(auth, dict) else None
    return accessor if isinstance(accessor, str) else ""


async def wrap(ctx: Context, body: bytes, ttl_ns: int) -> Response:
    """Seal `body` (a JSON response) under a new single-use token; answer with wrap_info."""
    keyring = ctx.core.require_keyring()
    token, accessor, now = new_service_token(), new_accessor(), ctx.now_ns()
    record = rec.WrappedRecord(accessor=accessor, creation_time_ns=now, ttl_ns=ttl_ns,
                               creation_path=ctx.request.path,
                               response=sealing.encrypt(keyring, body, _aad(accessor)))
    await ctx.submit(cmd_pb.Command(wrap_store=cmd_pb.WrapStore(
        token_hash=keyring.token_hash(token), record=record)))
    info = {"token": token, "accessor": accessor, "ttl": ttl_ns // 10**9,
            "creation_time": rfc3339(now), "creation_path": ctx.request.path,
            "wrapped_accessor": _wrapped_accessor(body)}
    payload = envelope(ctx.request.request_id, None)
    payload["wrap_info"] = info
    return json_response(200, payload)


async def maybe_wrap(ctx: Context, response: Response) -> Response:
    ttl = wrap_ttl(ctx)
    if ttl is None or response.status != 200 or ctx.request.path.startswith(UNWRAPPABLE):
        return response
    return await wrap(ctx, response.body, ttl)


def _wrapping_token(ctx: Context) -> str:
    body = ctx.request.json_body({"token": (str,)})
    token = body.get("token") or ctx.request.token
    if not token:
        raise BadRequest("send the wrapping token as 'token' in the body or as X-Vault-Token")
    return token


def _record(ctx: Context, token: str) -> tuple[bytes, rec.WrappedRecord]:
    token_hash = ctx.core.require_keyring().token_hash(token)
    record = ctx.core.store.wrapped(token_hash)
    if record is None or expired(record, ctx.now_ns()):
        raise BadRequest("wrapping token is not valid or does not exist (it may have been "
                         "unwrapped already, or expired)")
    return token_hash, record


async def unwrap(ctx: Context) -> Response:
    token_hash, record = _record(ctx, _wrapping_token(ctx))
    result = await ctx.submit(cmd_pb.Command(wrap_consume=cmd_pb.WrapConsume(
        token_hash=token_hash)))
    if result.code != result.OK:
        raise BadRequest(result.message)
    original = json.loads(sealing.decrypt(ctx.core.require_keyring(), record.response,
                                          _aad(record.accessor)))
    if isinstance(original, dict):
        original["request_id"] = ctx.request.request_id
    return json_response(200, original)


async def lookup(ctx: Context) -> Response:
    _, record = _record(ctx, _wrapping_token(ctx))
    return ok(ctx.request.request_id, {
        "creation_path": record.creation_path,
        "creation_time": rfc3339(record.creation_time_ns),
        "creation_ttl": record.ttl_ns // 10**9})


async def wrap_data(ctx: Context) -> Response:
    if ctx.token is None:
        raise PermissionDenied()
    data: Any = ctx.request.raw_json()  # {} is wrapped too, as Vault does
    body = json.dumps(envelope(ctx.request.request_id, data)).encode()
    return await wrap(ctx, body, wrap_ttl(ctx) or DEFAULT_TTL_NS)


ROUTES: dict[str, Route] = {
    # The wrapping token itself is the credential for unwrap and lookup (as in Vault).
    "sys/wrapping/unwrap": Route({"PUT": unwrap}, auth=False),
    "sys/wrapping/lookup": Route({"PUT": lookup}, auth=False),
    "sys/wrapping/wrap": Route({"PUT": wrap_data}),
}
