"""HTTP binding of a KV v2 mount: `/v1/<mount>/{data,metadata,delete,undelete,destroy,
subkeys,config}/...`, with Vault's bodies, status codes and validation rules."""

from __future__ import annotations

from typing import Any

from strongbox.backend.context import Context, Handler, PathTable, Route
from strongbox.backend.request import LIST, MAX_INT, query_int
from strongbox.backend.response import Response, json_response, no_content, ok
from strongbox.engines.kv.engine import Action, DeletedVersion, KvEngine, KvPath
from strongbox.errors import BadRequest, NotFound, UnsupportedMediaType
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.timefmt import parse_duration

MOUNT_TYPE = "kv"
MAX_VERSIONS = 1_000_000
MAX_DELETE_AFTER_NS = 100 * 365 * 86400 * 10**9
MAX_CUSTOM_KEYS, MAX_CUSTOM_KEY_LEN, MAX_CUSTOM_VALUE_LEN = 64, 128, 512


def _at(ctx: Context, mount: str, path: str, *, required: bool = True) -> KvPath:
    if required and not path:
        raise BadRequest("a secret path is required after the mount, e.g. secret/data/app")
    if path.endswith("/") and ctx.request.method != LIST:
        raise BadRequest("secret paths cannot end with '/'")
    return KvPath(ctx.request.namespace, mount, path)


def _options_cas(body: dict[str, Any]) -> int | None:
    options = body.get("options") or {}
    if not isinstance(options, dict):
        raise BadRequest("field 'options' must be a JSON object")
    unknown = set(options) - {"cas"}
    if unknown:
        raise BadRequest(f"unknown option {sorted(unknown)[0]!r}; accepted options: cas")
    cas = options.get("cas")
    if cas is not None and (isinstance(cas, bool) or not isinstance(cas, int)
                            or not 0 <= cas <= MAX_INT):
        raise BadRequest("option 'cas' must be a non-negative integer")
    return cas


def _versions(body: dict[str, Any]) -> list[int]:
    versions = body.get("versions")
    if not isinstance(versions, list) or not versions or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_INT
            for v in versions):
        raise BadRequest("field 'versions' must be a non-empty array of positive integers")
    return versions


DATA_SCHEMA = {"data": (dict,), "options": (dict, type(None))}


async def data(ctx: Context, engine: KvEngine, mount: str, path: str) -> Response:
    request, rid = ctx.request, ctx.request.request_id
    method = request.method
    if method in ("GET", "HEAD"):
        try:
            secret = engine.read(_at(ctx, mount, path), query_int(request, "version", 0))
        except DeletedVersion as exc:
            return json_response(404, {"request_id": rid, "data": exc.data, "errors": []})
        return ok(rid, secret, MOUNT_TYPE)
    if method in ("PUT", "POST"):
        body = request.json_body(DATA_SCHEMA, required=("data",))
        written = await engine.put(_at(ctx, mount, path), body["data"], _options_cas(body))
        return ok(rid, written, MOUNT_TYPE)
    if method == "PATCH":
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type != "application/merge-patch+json":
            raise UnsupportedMediaType("PATCH needs Content-Type: application/merge-patch+json")
        body = request.json_body(DATA_SCHEMA, required=("data",))
        written = await engine.patch(_at(ctx, mount, path), body["data"], _options_cas(body))
        return ok(rid, written, MOUNT_TYPE)
    await engine.set_version_state(_at(ctx, mount, path), Action.SOFT_DELETE, [], latest=True)
    return no_content()


def _version_action(action: cmd_pb.KvSetVersionState.Action) -> Any:
    async def handle(ctx: Context, engine: KvEngine, mount: str, path: str) -> Response:
        body = ctx.request.json_body({"versions": (list,)}, required=("versions",))
        await engine.set_version_state(_at(ctx, mount, path), action, _versions(body))
        return no_content()
    return handle


METADATA_SCHEMA = {"max_versions": (int,), "cas_required": (bool,),
                   "delete_version_after": (str, int), "custom_metadata": (dict, type(None)),
                   "destroy_protection": (bool,)}


def _metadata_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in body.items() if k != "delete_version_after"}
    if "max_versions" in fields and not 0 <= fields["max_versions"] <= MAX_VERSIONS:
        raise BadRequest(f"max_versions must be between 0 and {MAX_VERSIONS}")
    if "delete_version_after" in body:
        try:
            fields["delete_version_after_ns"] = parse_duration(body["delete_version_after"],
                                                               "delete_version_after")
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if fields["delete_version_after_ns"] > MAX_DELETE_AFTER_NS:
            raise BadRequest("delete_version_after must be at most 100 years (876000h)")
    custom = fields.get("custom_metadata")
    if "custom_metadata" in fields:
        fields["custom_metadata"] = _check_custom_metadata(custom or {})
    return fields


def _check_custom_metadata(custom: dict[str, Any]) -> dict[str, str]:
    if len(custom) > MAX_CUSTOM_KEYS:
        raise BadRequest(f"custom_metadata can hold at most {MAX_CUSTOM_KEYS} keys")
    for key, value in custom.items():
        if not isinstance(value, str):
            raise BadRequest(f"custom_metadata value of key {key[:MAX_CUSTOM_KEY_LEN]!r} "
                             "must be a string")
        if not key or len(key) > MAX_CUSTOM_KEY_LEN or len(value) > MAX_CUSTOM_VALUE_LEN:
            raise BadRequest(f"custom_metadata keys must be 1-{MAX_CUSTOM_KEY_LEN} characters "
                             f"and values at most {MAX_CUSTOM_VALUE_LEN}")
    return custom


async def metadata(ctx: Context, engine: KvEngine, mount: str, path: str) -> Response:
    request, rid = ctx.request, ctx.request.request_id
    if request.method == LIST:
        keys = engine.list_keys(_at(ctx, mount, path, required=False))
        return ok(rid, {"keys": keys}, MOUNT_TYPE)
    at = _at(ctx, mount, path)
    if request.method in ("GET", "HEAD"):
        return ok(rid, engine.read_metadata(at), MOUNT_TYPE)
    if request.method == "DELETE":
        await engine.delete_metadata(at)
        return no_content()
    fields = _metadata_fields(request.json_body(METADATA_SCHEMA))
    if request.method == "PATCH":
        if engine.core.store.kv_metadata(at.namespace, at.mount, at.path) is None:
            raise NotFound("")
        if "custom_metadata" in fields:
            current = engine.read_metadata(at)["custom_metadata"] or {}
            merged = {**current, **fields["custom_metadata"]}
            fields["custom_metadata"] = {k: v for k, v in merged.items() if v is not None}
    await engine.write_metadata(at, fields)
    return no_content()


async def subkeys(ctx: Context, engine: KvEngine, mount: str, path: str) -> Response:
    request = ctx.request
    try:
        result = engine.subkeys(_at(ctx, mount, path), query_int(request, "version", 0),
                                query_int(request, "depth", 0))
    except DeletedVersion as exc:
        return json_response(404, {"request_id": request.request_id, "data": exc.data,
                                   "errors": []})
    return ok(request.request_id, result, MOUNT_TYPE)


CONFIG_SCHEMA = {"max_versions": (int,), "cas_required": (bool,),
                 "delete_version_after": (str, int)}


async def config(ctx: Context, engine: KvEngine, mount: str, path: str) -> Response:
    request = ctx.request
    if path:
        raise NotFound(f"no handler for route {mount}config/{path}")
    if request.method in ("GET", "HEAD"):
        return ok(request.request_id, engine.read_config(request.namespace, mount), MOUNT_TYPE)
    fields = _metadata_fields(request.json_body(CONFIG_SCHEMA))
    current = engine.core.store.mount(request.namespace, mount)
    cfg = rec.KvConfig()
    if current is not None:
        cfg.CopyFrom(current.kv_config)
    for name in ("max_versions", "cas_required", "delete_version_after_ns"):
        if name in fields:
            setattr(cfg, name, fields[name])
    await engine.write_config(request.namespace, mount, cfg)
    return no_content()


SUBROUTES: dict[str, tuple[tuple[str, ...], Any]] = {
    "data": (("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"), data),
    "metadata": (("GET", "HEAD", "LIST", "PUT", "POST", "PATCH", "DELETE"), metadata),
    "delete": (("PUT", "POST"), _version_action(Action.SOFT_DELETE)),
    "undelete": (("PUT", "POST"), _version_action(Action.UNDELETE)),
    "destroy": (("PUT", "POST"), _version_action(Action.DESTROY)),
    "subkeys": (("GET", "HEAD"), subkeys),
    "config": (("GET", "HEAD", "PUT", "POST"), config),
}


def _bind(handler: Any) -> Handler:
    async def call(ctx: Context) -> Response:
        assert ctx.mount is not None and ctx.match is not None
        response: Response = await handler(ctx, engine=KvEngine(ctx.core, ctx.request),
                                           mount=ctx.mount.path, path=ctx.match["path"] or "")
        return response
    return call


def _hint(mount: str) -> str:
    return f": KV v2 paths are {mount}{{{','.join(SUBROUTES)}}}/<path>"


PATHS = PathTable(patterns=[
    (f"{head}(?:/(?P<path>.*))?", Route({method: _bind(handler) for method in methods}))
    for head, (methods, handler) in SUBROUTES.items()], not_found=_hint)
