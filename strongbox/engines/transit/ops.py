"""`encrypt`, `decrypt`, `rewrap` and `datakey`: Vault's bodies and answers.

Every operation reads the key once per request (`keystore.load`, cached), then
runs the batch rules of `batch.py` over its items. Encryption counts each
version's use before encrypting (`usage.reserve`) and warns once a random-nonce
version nears its safe limit. `encrypt` to a key that does not exist creates it
(Vault's upsert): `type` (default aes256-gcm96), derived when a context is given,
`convergent_encryption` from the body.

Decryption failures of every kind (wrong key, context, associated data, a
truncated or altered ciphertext) answer the one message
"cipher: message authentication failed"; which one it was is never told.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from strongbox.backend.context import Context
from strongbox.backend.response import Response
from strongbox.engines.transit import batch, crypto, keystore, keytypes, usage
from strongbox.engines.transit import policy as policy_mod
from strongbox.engines.transit.keystore import storage
from strongbox.engines.transit.policy import NONCE_LIMIT, WARN_FRACTION, Policy
from strongbox.errors import BadRequest, NotFound

NAME = r"(?P<name>\w(?:[\w.-]*\w)?)"


def name_of(ctx: Context) -> str:
    assert ctx.match is not None
    return ctx.match["name"]


def optional_b64(item: dict[str, Any], field: str) -> bytes | None:
    value = item.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise BadRequest(f"field {field!r} must be a base64 string")
    return crypto.b64decode_field(value, field)


def required_b64(item: dict[str, Any], field: str, allow_empty: bool = True) -> bytes:
    value = item.get(field)
    if value is None or (value == "" and not allow_empty):
        raise BadRequest(f"missing required field {field!r}")
    if not isinstance(value, str):
        raise BadRequest(f"field {field!r} must be a base64 string")
    return crypto.b64decode_field(value, field) if value else b""


def key_version(item: dict[str, Any]) -> int:
    value = item.get("key_version", 0)
    if value in (None, ""):
        return 0
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest("field 'key_version' must be a positive integer")
    return int(value)


def text(item: dict[str, Any], field: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"missing required field {field!r}")
    return value


def loaded(ctx: Context) -> Policy:
    return keystore.existing(storage(ctx), name_of(ctx))


def check_encrypts(policy: Policy) -> None:
    if not policy.kind.encrypts:
        raise BadRequest(f"key type {policy.type!r} does not support encryption; use an "
                         "aes*-gcm96 or chacha20-poly1305 key")


async def _upsert(ctx: Context, body: dict[str, Any]) -> Policy:
    view = storage(ctx)
    name = name_of(ctx)
    found = keystore.load(view, name)
    if found is not None:
        return found
    first = (batch.items(body) or [body])[0]
    spec = {"type": body.get("type") or "aes256-gcm96",
            "derived": bool(first.get("context")),
            "convergent_encryption": body.get("convergent_encryption", False)}
    type_name, _ = policy_mod.check_creation(spec)
    made = await asyncio.to_thread(keytypes.generate, type_name, 1, _now(ctx))
    await keystore.create(view, policy_mod.create(name, spec, made))  # False: a concurrent
    # upsert made it first, and that one is used
    return keystore.existing(view, name)


def _now(ctx: Context) -> int:
    return ctx.now_ns() // 1_000_000_000


def _crypto_options(policy: Policy, item: dict[str, Any]) -> dict[str, Any]:
    return {"context": optional_b64(item, "context"), "derived": policy.derived,
            "convergent": policy.convergent_encryption,
            "associated_data": optional_b64(item, "associated_data")}


async def _encrypt_one(ctx: Context, policy: Policy, item: dict[str, Any],
                       warnings: list[str]) -> dict[str, Any]:
    plaintext = required_b64(item, "plaintext")
    kv = policy.for_encryption(key_version(item))
    options = _crypto_options(policy, item)
    nonce = optional_b64(item, "nonce")
    if nonce is not None and not policy.convergent_encryption:
        raise BadRequest("'nonce' may only be given for convergent encryption keys")
    done = await usage.reserve(ctx, policy.name, kv, 1)
    ciphertext = crypto.encrypt(policy.kind, kv, plaintext, **options)
    _count(ctx, "transit_encryptions")
    if _near_limit(policy, kv.version, done, warnings):
        _count(ctx, "transit_nonce_warnings")
    return {"ciphertext": ciphertext, "key_version": kv.version}


def _count(ctx: Context, name: str) -> None:
    for hook in ctx.core.on_engine_count:
        hook(name, 1)


def _near_limit(policy: Policy, version: int, done: int, warnings: list[str]) -> bool:
    """Add the warning when the version nears its random-nonce limit; True if added."""
    if policy.convergent_encryption or not policy.kind.symmetric:
        return False  # deterministic nonces repeat on purpose; RSA has no nonce
    if done < WARN_FRACTION * NONCE_LIMIT:
        return False
    warnings.append(f"key {policy.name!r} version {version} has done about {done} "
                    f"encryptions; random 96-bit nonces are safe for {NONCE_LIMIT}: "
                    "rotate the key")
    return True


async def encrypt(ctx: Context) -> Response:
    body = ctx.request.raw_json()
    policy = await _upsert(ctx, body)
    check_encrypts(policy)
    warnings: list[str] = []

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        return await _encrypt_one(ctx, policy, item, warnings)

    return await batch.run(ctx, body, one, warnings)


def _decrypt_one(policy: Policy, item: dict[str, Any]) -> bytes:
    # crypto.decrypt parses the ciphertext once and asks `for_decryption` for its
    # version, which refuses those below min_decryption_version
    return crypto.decrypt(policy.kind, policy.for_decryption, text(item, "ciphertext"),
                          **_crypto_options(policy, item))


async def decrypt(ctx: Context) -> Response:
    policy = loaded(ctx)
    check_encrypts(policy)

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        plaintext = _decrypt_one(policy, item)
        return {"plaintext": base64.b64encode(plaintext).decode()}

    return await batch.run(ctx, ctx.request.raw_json(), one)


async def rewrap(ctx: Context) -> Response:
    policy = loaded(ctx)
    check_encrypts(policy)
    warnings: list[str] = []

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        plaintext = _decrypt_one(policy, item)
        return await _encrypt_one(
            ctx, policy, {**item, "plaintext": base64.b64encode(plaintext).decode()},
            warnings)

    return await batch.run(ctx, ctx.request.raw_json(), one, warnings)


async def datakey(ctx: Context) -> Response:
    assert ctx.match is not None
    kind = ctx.match["kind"]
    if kind not in ("plaintext", "wrapped"):
        raise NotFound(f"datakey type must be 'plaintext' or 'wrapped', not {kind!r}")
    policy = loaded(ctx)
    check_encrypts(policy)
    body = ctx.request.raw_json()
    bits = body.get("bits", 256)
    if isinstance(bits, str) and bits.isdigit():
        bits = int(bits)
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise BadRequest("field 'bits' must be 128, 256 or 512")
    key = crypto.datakey(bits)
    warnings: list[str] = []
    item = {**body, "plaintext": base64.b64encode(key).decode()}
    data = await _encrypt_one(ctx, policy, item, warnings)
    if kind == "plaintext":
        data["plaintext"] = item["plaintext"]
    return batch.single(ctx, data, warnings)

