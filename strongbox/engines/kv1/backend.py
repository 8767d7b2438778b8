"""KV version 1: one unversioned JSON object per path, as Vault's `kv` without options.

`GET <mount>/<path>` reads (404 when absent), `PUT`/`POST` replaces the whole
object (204), `DELETE` removes it (204, also when absent), `LIST <mount>/<folder>/`
lists the folder's children (folders end in "/"; 404 when empty). Values are
sealed in the mount's storage view (`ctx.storage`) under ("kv", <path>), so this
engine has no command, no database and no apply code of its own. A mount being
upgraded to version 2 (`options.upgrading`) answers 503 until the upgrade is done.
"""

from __future__ import annotations

import json
from typing import Any

from strongbox.backend.context import Context, PathTable, Route
from strongbox.backend.contract import Backend
from strongbox.backend.response import Response, json_response, no_content, ok
from strongbox.backend.storage import Batch
from strongbox.errors import BadRequest, NotFound, ServiceUnavailable

MOUNT_TYPE = "kv"
SECRET = "kv"  # noqa: S105 (a key part, not a password); first part of every storage key: ("kv", <path>)
LEASE_S = 2764800  # Vault answers KV v1 reads with the system default lease (768h)
UPGRADING = "upgrading"


def _storage(ctx: Context) -> Any:
    assert ctx.storage is not None and ctx.mount is not None
    if ctx.mount.options.get(UPGRADING):
        raise ServiceUnavailable("this KV mount is being upgraded to version 2; retry shortly")
    return ctx.storage


def _path(ctx: Context) -> str:
    path = ctx.path
    if not path:
        raise BadRequest(f"a secret path is required after the mount, e.g. "
                         f"{ctx.mount.path if ctx.mount else ''}app/db")
    return path


async def read(ctx: Context) -> Response:
    raw = _storage(ctx).get(SECRET, _path(ctx))
    if raw is None:
        raise NotFound("")
    body = {"request_id": ctx.request.request_id, "lease_id": "", "renewable": False,
            "lease_duration": LEASE_S, "data": json.loads(raw), "wrap_info": None,
            "warnings": None, "auth": None, "mount_type": MOUNT_TYPE}
    return json_response(200, body)


async def write(ctx: Context) -> Response:
    storage = _storage(ctx)
    data = ctx.request.raw_json()
    if not data:
        raise BadRequest("the request body must be a non-empty JSON object: the secret's "
                         "keys and values")
    plaintext = json.dumps(data, separators=(",", ":")).encode()
    await storage.write(Batch().put(plaintext, SECRET, _path(ctx)))
    return no_content()


async def delete(ctx: Context) -> Response:
    await _storage(ctx).write(Batch().delete(SECRET, _path(ctx)))
    return no_content()


def children(rests: list[tuple[str, ...]]) -> list[str]:
    """Immediate children of a folder from the key rests below it; folders end in "/"."""
    out: list[str] = []
    for rest in rests:
        head, slash, _ = rest[0].partition("/")
        child = head + slash
        if child and (not out or out[-1] != child):
            out.append(child)
    return out


async def list_keys(ctx: Context) -> Response:
    folder = ctx.path
    if folder and not folder.endswith("/"):
        folder += "/"
    keys = children(_storage(ctx).list(SECRET, folder, partial=True))
    if not keys:
        raise NotFound("")
    return ok(ctx.request.request_id, {"keys": keys}, MOUNT_TYPE)


def options(raw: dict[str, str]) -> dict[str, str]:
    if raw.get("version", "1") != "1":
        raise BadRequest("a KV version 1 mount takes options.version \"1\"")
    return {**raw, "version": "1"}


ROUTE = Route({"GET": read, "HEAD": read, "LIST": list_keys, "POST": write,
               "PUT": write, "DELETE": delete})
BACKEND = Backend(kind="secret", type="kv", version="1", default_version=True,
                  description="key/value secret storage, unversioned",
                  paths=PathTable(patterns=[(r".*", ROUTE)]), options=options,
                  serves_data=True, check_token_first=True)
