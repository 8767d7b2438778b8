"""`sign`, `verify`, `hmac`, `random` and `hash`: Vault's bodies and answers.

`sign/:name[/:hash_algorithm]` and `verify/:name[/:hash_algorithm]` take `input`
(base64), `key_version`, `hash_algorithm`, `prehashed`, `signature_algorithm`
(RSA: pss, pkcs1v15), `marshaling_algorithm` (ECDSA: asn1, jws), `salt_length`
(RSA PSS) and `context` (derived keys), or a `batch_input` of such items.
`hmac/:name[/:algorithm]` answers `vault:vN:` HMACs with the version's HMAC key;
`verify` with `hmac` instead of `signature` checks one in constant time. A
signature or HMAC that does not match answers `valid: false`; one that cannot be
parsed, or of a version below `min_decryption_version`, is a 400.
`random[/:source][/:bytes]` and `hash[/:algorithm]` need no key.
"""

from __future__ import annotations

from typing import Any

from strongbox.backend.context import Context
from strongbox.backend.response import Response
from strongbox.engines.transit import batch, crypto, signing
from strongbox.engines.transit.ops import key_version, loaded, optional_b64, required_b64, text
from strongbox.engines.transit.policy import Policy
from strongbox.errors import BadRequest

SIGN_FIELDS = ("hash_algorithm", "prehashed", "signature_algorithm", "marshaling_algorithm",
               "salt_length")
DEFAULTS = {"hash_algorithm": "sha2-256", "prehashed": False, "signature_algorithm": "",
            "marshaling_algorithm": "asn1", "salt_length": "auto"}
MAX_RANDOM = 128 * 1024  # Vault's APIMaxBytes


def _path_param(ctx: Context, name: str) -> str:
    if ctx.match is None:
        return ""
    groups = ctx.match.groupdict()
    return groups.get(name) or ""


def _options(ctx: Context, body: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    """Signing options: the item's, else the request's, else the URL's hash, else Vault's
    defaults."""
    out: dict[str, Any] = {}
    for field in SIGN_FIELDS:
        value = item.get(field, body.get(field))
        if field == "hash_algorithm" and value in (None, ""):
            value = _path_param(ctx, "algorithm")
        out[field] = DEFAULTS[field] if value in (None, "") else value
    if not isinstance(out["prehashed"], bool):
        raise BadRequest("field 'prehashed' must be a boolean")
    out["salt_length"] = str(out["salt_length"])
    for field in ("hash_algorithm", "signature_algorithm", "marshaling_algorithm"):
        if not isinstance(out[field], str):
            raise BadRequest(f"field {field!r} must be a string")
    return out


def _check_signs(policy: Policy) -> None:
    if not policy.kind.signs:
        raise BadRequest(f"key type {policy.type!r} does not support signing; use an "
                         "ed25519, ecdsa-* or rsa-* key")


async def sign(ctx: Context) -> Response:
    policy = loaded(ctx)
    _check_signs(policy)
    body = ctx.request.raw_json()

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        data = required_b64(item, "input")
        kv = policy.for_encryption(key_version(item) or key_version(body))
        context = optional_b64(item, "context")
        signature = signing.sign(policy.kind, kv, data, **_options(ctx, body, item),
                                 context=context, derived=policy.derived)
        out: dict[str, Any] = {"signature": signature, "key_version": kv.version}
        if policy.derived:  # Vault answers the context's public key with the signature
            out["public_key"] = signing.derived_public_key(policy.kind, kv, context)
        return out

    return await batch.run(ctx, body, one)


def _verify_signature(ctx: Context, policy: Policy, body: dict[str, Any],
                      item: dict[str, Any]) -> bool:
    _check_signs(policy)
    data = required_b64(item, "input")
    signature = text(item, "signature")
    version, _ = crypto.parse_value(signature, "signature")
    kv = policy.for_decryption(version)
    return signing.verify(policy.kind, kv, data, signature, **_options(ctx, body, item),
                          context=optional_b64(item, "context"), derived=policy.derived)


def _hmac_algorithm(ctx: Context, body: dict[str, Any], item: dict[str, Any]) -> str:
    value = item.get("algorithm") or body.get("algorithm") or _path_param(ctx, "algorithm") \
        or item.get("hash_algorithm") or body.get("hash_algorithm") or "sha2-256"
    if not isinstance(value, str):
        raise BadRequest("field 'algorithm' must be a string")
    return value


def _verify_hmac(ctx: Context, policy: Policy, body: dict[str, Any],
                 item: dict[str, Any]) -> bool:
    data = required_b64(item, "input")
    given = text(item, "hmac")
    version, _ = crypto.parse_value(given, "hmac")
    kv = policy.for_decryption(version)
    return crypto.hmac_verify(kv, policy.kind, data, given,
                              _hmac_algorithm(ctx, body, item))


async def verify(ctx: Context) -> Response:
    policy = loaded(ctx)
    body = ctx.request.raw_json()

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        has_signature, has_hmac = bool(item.get("signature")), bool(item.get("hmac"))
        if has_signature == has_hmac:
            raise BadRequest("give exactly one of 'signature' and 'hmac'")
        if has_hmac:
            return {"valid": _verify_hmac(ctx, policy, body, item)}
        return {"valid": _verify_signature(ctx, policy, body, item)}

    return await batch.run(ctx, body, one)


async def hmac(ctx: Context) -> Response:
    policy = loaded(ctx)
    body = ctx.request.raw_json()

    async def one(item: dict[str, Any]) -> dict[str, Any]:
        data = required_b64(item, "input")
        kv = policy.for_encryption(key_version(item) or key_version(body))
        value = crypto.hmac_value(kv, policy.kind, data, _hmac_algorithm(ctx, body, item))
        return {"hmac": value}

    return await batch.run(ctx, body, one)


def _count(ctx: Context, body: dict[str, Any]) -> int:
    raw: Any = _path_param(ctx, "bytes") or body.get("bytes", 32)
    if isinstance(raw, str) and raw.isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_RANDOM:
        raise BadRequest(f"'bytes' must be an integer from 1 to {MAX_RANDOM}")
    return int(raw)


async def random(ctx: Context) -> Response:
    body = ctx.request.raw_json()
    source = _path_param(ctx, "source") or body.get("source") or "platform"
    if source not in ("platform", "seal", "all"):
        raise BadRequest("'source' must be platform, seal or all")
    fmt = body.get("format") or "base64"
    if not isinstance(fmt, str):
        raise BadRequest("field 'format' must be hex or base64")
    value = crypto.random_bytes(_count(ctx, body), fmt)
    return batch.single(ctx, {"random_bytes": value})


async def hash_input(ctx: Context) -> Response:
    body = ctx.request.raw_json()
    data = required_b64(body, "input")
    algorithm = _path_param(ctx, "algorithm") or body.get("algorithm") or "sha2-256"
    fmt = body.get("format") or "hex"
    if not isinstance(algorithm, str) or not isinstance(fmt, str):
        raise BadRequest("fields 'algorithm' and 'format' must be strings")
    return batch.single(ctx, {"sum": crypto.hash_value(data, algorithm, fmt)})

