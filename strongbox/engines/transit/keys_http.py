"""Managing Transit keys: `keys/...`, `export/...`, `backup`, `restore`, `wrapping_key`.

- `POST keys/:name` creates (200 with the key's description; an existing key is
  left as it is, with a warning), `GET` describes it (never key material),
  `DELETE` removes it only when `deletion_allowed`, `LIST keys` names them.
- `POST keys/:name/config` changes settings, `keys/:name/rotate` adds a version,
  `keys/:name/trim` removes versions below `min_available_version`.
- `GET export/:type/:name[/:version]` only for `exportable` keys; `GET backup/:name`
  only with `allow_plaintext_backup`; `POST restore[/:name]` takes such a backup.
- `GET wrapping_key` gives the mount's RSA-4096 public key; `POST keys/:name/import`
  and `keys/:name/import_version` take key material wrapped with it (Vault's BYOK).

Key generation (an RSA-4096 key takes a second) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Any

from strongbox.backend.context import Context
from strongbox.backend.response import Response, envelope, json_response, no_content, ok
from strongbox.engines.transit import byok, keystore, keytypes, usage
from strongbox.engines.transit import policy as policy_mod
from strongbox.engines.transit.batch import MOUNT_TYPE
from strongbox.engines.transit.keystore import storage
from strongbox.engines.transit.ops import name_of
from strongbox.engines.transit.policy import Policy
from strongbox.errors import BadRequest, NotFound

BACKUP_FORMAT = "strongbox-transit-backup-v1"
EXPORT_TYPES = ("encryption-key", "signing-key", "hmac-key", "public-key")


def _now(ctx: Context) -> int:
    return ctx.now_ns() // 1_000_000_000


def describe(ctx: Context, policy: Policy) -> dict[str, Any]:
    return policy.describe(usage.counts(storage(ctx), policy.name))


def _answer(ctx: Context, policy: Policy, warnings: list[str] | None = None) -> Response:
    payload = envelope(ctx.request.request_id, describe(ctx, policy), MOUNT_TYPE,
                       warnings=warnings)
    return json_response(200, payload)


async def create_key(ctx: Context) -> Response:
    name, view = name_of(ctx), storage(ctx)
    body = ctx.request.raw_json()
    found = keystore.load(view, name)
    if found is not None:
        return _answer(ctx, found, [f"key {name} already existed"])
    type_name, key_size = policy_mod.check_creation(body)
    made = await asyncio.to_thread(keytypes.generate, type_name, 1, _now(ctx), 32, key_size)
    created = await keystore.create(view, policy_mod.create(name, body, made))
    stored = keystore.existing(view, name)
    return _answer(ctx, stored, None if created else [f"key {name} already existed"])


async def read_key(ctx: Context) -> Response:
    return _answer(ctx, keystore.existing(storage(ctx), name_of(ctx)))


async def delete_key(ctx: Context) -> Response:
    name, view = name_of(ctx), storage(ctx)
    policy = keystore.existing(view, name)
    if not policy.deletion_allowed:
        raise BadRequest(f"deletion is not allowed for key {name!r}: set "
                         "deletion_allowed=true with keys/:name/config first")
    await keystore.delete(view, name)
    return no_content()


async def list_keys(ctx: Context) -> Response:
    names = keystore.names(storage(ctx))
    if not names:
        raise NotFound("")
    return ok(ctx.request.request_id, {"keys": names}, MOUNT_TYPE)


async def configure(ctx: Context) -> Response:
    body = ctx.request.raw_json()
    policy = await keystore.update(storage(ctx), name_of(ctx), lambda p: p.configure(body))
    return _answer(ctx, policy)


async def rotate(ctx: Context) -> Response:
    name, view = name_of(ctx), storage(ctx)
    current = keystore.existing(view, name)
    current.check_rotatable()
    made = await asyncio.to_thread(keytypes.generate, current.type, 0, _now(ctx), 32,
                                   current.key_size())
    policy = await keystore.update(view, name, lambda p: p.add_version(made))
    return _answer(ctx, policy)


async def trim(ctx: Context) -> Response:
    body = ctx.request.raw_json()
    value = body.get("min_available_version")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest("'min_available_version' is required: a positive integer")
    policy = await keystore.update(storage(ctx), name_of(ctx), lambda p: p.trim(value))
    return _answer(ctx, policy)


def _export_versions(policy: Policy, raw: str) -> list[int]:
    if raw in ("", "latest"):
        return sorted(policy.versions) if raw == "" else [policy.latest_version]
    if not raw.isdigit():
        raise BadRequest("the version must be a number or 'latest'")
    policy.version(int(raw))
    return [int(raw)]


async def export(ctx: Context) -> Response:
    assert ctx.match is not None
    kind_name = ctx.match["kind"]
    if kind_name not in EXPORT_TYPES:
        raise BadRequest(f"invalid export type {kind_name!r}; one of: "
                         f"{', '.join(EXPORT_TYPES)}")
    policy = keystore.existing(storage(ctx), name_of(ctx))
    if kind_name != "public-key" and not policy.exportable:
        raise BadRequest(f"key {policy.name!r} is not exportable")
    if kind_name not in policy.kind.exports:
        raise BadRequest(f"export type {kind_name!r} is not supported for key type "
                         f"{policy.type!r}")
    versions = _export_versions(policy, ctx.match["version"] or "")
    keys = {str(n): byok.export(policy.kind, policy.versions[n], kind_name)
            for n in versions}
    return ok(ctx.request.request_id, {"name": policy.name, "type": policy.type,
                                       "keys": keys}, MOUNT_TYPE)


async def backup(ctx: Context) -> Response:
    policy = keystore.existing(storage(ctx), name_of(ctx))
    if not policy.allow_plaintext_backup:
        raise BadRequest(f"plaintext backup is not allowed for key {policy.name!r}: set "
                         "allow_plaintext_backup=true (and exportable) with keys/:name/config")
    record = {"format": BACKUP_FORMAT, "policy": policy.to_dict()}
    encoded = base64.b64encode(json.dumps(record).encode()).decode()
    return ok(ctx.request.request_id, {"backup": encoded}, MOUNT_TYPE)


def _parse_backup(raw: Any) -> Policy:
    if not isinstance(raw, str) or not raw:
        raise BadRequest("'backup' is required: the value a backup/:name read returned")
    try:
        record = json.loads(base64.b64decode(raw, validate=True))
        if record.get("format") != BACKUP_FORMAT:
            raise ValueError
        return Policy.from_dict(record["policy"])
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise BadRequest("'backup' is not a Transit key backup of this server") from None


async def restore(ctx: Context) -> Response:
    body = ctx.request.raw_json()
    policy = _parse_backup(body.get("backup"))
    groups = ctx.match.groupdict() if ctx.match is not None else {}
    if groups.get("name"):
        policy.name = groups["name"]
    force = policy_mod.flag(body, "force")
    await keystore.replace(storage(ctx), policy, force)
    return no_content()


async def wrapping_key(ctx: Context) -> Response:
    private = await keystore.wrapping_key(storage(ctx))
    return ok(ctx.request.request_id, {"public_key": byok.wrapping_public_pem(private)},
              MOUNT_TYPE)


async def _unwrapped(ctx: Context, body: dict[str, Any]) -> bytes:
    ciphertext = body.get("ciphertext")
    if not isinstance(ciphertext, str) or not ciphertext:
        raise BadRequest("'ciphertext' is required: the key material wrapped with the "
                         "mount's wrapping_key")
    hash_function = body.get("hash_function") or "SHA256"
    if not isinstance(hash_function, str):
        raise BadRequest("field 'hash_function' must be a string")
    private = await keystore.wrapping_key(storage(ctx))
    return await asyncio.to_thread(byok.unwrap, private, ciphertext, hash_function)


async def import_key(ctx: Context) -> Response:
    name, view = name_of(ctx), storage(ctx)
    body = ctx.request.raw_json()
    if keystore.load(view, name) is not None:
        raise BadRequest(f"key {name!r} already exists: use keys/:name/import_version to add "
                         "a version to an imported key")
    type_name, _ = policy_mod.check_creation(body)
    material = await _unwrapped(ctx, body)
    made = keytypes.from_import(type_name, 1, _now(ctx), material)
    if not await keystore.create(view, policy_mod.create(name, body, made, imported=True)):
        raise BadRequest(f"key {name!r} already exists")
    return no_content()


async def import_version(ctx: Context) -> Response:
    name, view = name_of(ctx), storage(ctx)
    current = keystore.existing(view, name)
    if not current.imported:
        raise BadRequest(f"key {name!r} was not imported: import_version only adds versions "
                         "to imported keys")
    material = await _unwrapped(ctx, ctx.request.raw_json())
    made = keytypes.from_import(current.type, 0, _now(ctx), material)
    await keystore.update(view, name, lambda p: p.add_version(made))
    return no_content()
