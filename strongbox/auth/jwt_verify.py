"""Verify a JWT: signature with joserfc, then the registered time, issuer and audience claims.

Contract
--------
`verify(token, keys, expect, now_s)` returns the token's claims (a dict) when

1. it is a JWS compact serialisation of at most `MAX_TOKEN_BYTES` whose protected
   header's `alg` is one of `expect.algorithms` (never `none`, never an HMAC
   algorithm: the allow-lists are asymmetric only, so a token "signed" with HS256
   using a public key as the secret cannot pass: key confusion);
2. one of `keys` of the right type for that `alg` verifies the signature;
3. the payload is a JSON object and its claims hold at `now_s`:
   `exp` (required when `expect.require_exp`) not more than `exp_leeway_s` in the
   past; `nbf` not more than `nbf_leeway_s` in the future; `iat` not more than
   `skew_s` in the future; `iss` equal to `expect.issuer` when that is set; `aud` (a
   string or a list) holding one of `expect.audiences` when those are set, and absent
   when they are not and `expect.refuse_unbound_aud` (Vault's jwt rule).

Otherwise it raises `JwtRefused` (a 400) whose message says which check failed and
names claims, never their values or the token. `header(token)` reads the protected
header without verifying anything (to find the `kid`); it applies the same size and
format checks. No JWT is parsed by hand: joserfc splits, decodes and verifies.

Pure functions; safe on any thread.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import Key

from strongbox.errors import BadRequest

MAX_TOKEN_BYTES = 16 * 1024
ASYMMETRIC_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                   "ES256", "ES384", "ES512", "EdDSA")


class JwtRefused(BadRequest):
    """The JWT failed a check; the message names the check, never the token."""


@dataclass(frozen=True, slots=True)
class Expectations:
    """What a token must satisfy besides its signature (see the module contract)."""

    algorithms: tuple[str, ...] = ASYMMETRIC_ALGS
    issuer: str = ""
    audiences: tuple[str, ...] = ()
    refuse_unbound_aud: bool = False
    require_exp: bool = True
    exp_leeway_s: int = 0
    nbf_leeway_s: int = 0
    skew_s: int = 0


@functools.lru_cache(maxsize=64)
def _registry(algorithms: tuple[str, ...]) -> jws.JWSRegistry:
    return jws.JWSRegistry(algorithms=list(algorithms))


def _extract(token: str) -> jws.CompactSignature:
    if len(token) > MAX_TOKEN_BYTES:
        raise JwtRefused(f"the JWT is longer than {MAX_TOKEN_BYTES} bytes")
    try:
        return jws.extract_compact(token.encode())
    except (JoseError, ValueError, TypeError):
        raise JwtRefused("the JWT is malformed: expected a signed JWT in compact form "
                         "(three base64url parts)") from None


def parse(token: str) -> jws.CompactSignature:
    """Split and decode `token` (size and format checks only, nothing verified)."""
    return _extract(token)


def header(token: str | jws.CompactSignature) -> dict[str, Any]:
    """The protected header, unverified (to choose a key by `kid`)."""
    obj = _extract(token) if isinstance(token, str) else token
    return dict(obj.headers())


def _check_alg(alg: Any, algorithms: tuple[str, ...]) -> str:
    if not isinstance(alg, str) or alg.lower() == "none":
        raise JwtRefused("unsigned JWTs (alg \"none\") are refused")
    if alg not in algorithms or alg not in ASYMMETRIC_ALGS:
        raise JwtRefused(f"the JWT's signing algorithm is not accepted here; accepted: "
                         f"{', '.join(algorithms)}")
    return alg


def _signature_ok(obj: jws.CompactSignature, keys: list[Key], alg: str) -> bool:
    registry = _registry((alg,))
    model = registry.get_alg(alg)
    for key in keys:
        try:
            model.check_key(key)
        except JoseError:
            continue  # a key of another type (an EC key for an RS256 token)
        try:
            if jws.validate_compact(obj, key, registry=registry):
                return True
        except JoseError:
            continue
    return False


def _payload(obj: jws.CompactSignature) -> dict[str, Any]:
    try:
        claims = json.loads(obj.payload)
    except ValueError:
        raise JwtRefused("the JWT's payload is not JSON") from None
    if not isinstance(claims, dict):
        raise JwtRefused("the JWT's payload is not a JSON object")
    return claims


def verify(token: str | jws.CompactSignature, keys: list[Key], expect: Expectations,
           now_s: float) -> dict[str, Any]:
    """The verified claims of `token` (a string or what `parse` made of it; see the module
    contract) or `JwtRefused`."""
    obj = _extract(token) if isinstance(token, str) else token
    alg = _check_alg(obj.headers().get("alg"), expect.algorithms)
    if not keys:
        raise JwtRefused("no key is known for the JWT's key id (kid), even after "
                         "refreshing the key set")
    if not _signature_ok(obj, keys, alg):
        raise JwtRefused("the JWT's signature does not verify with any configured key")
    claims = _payload(obj)
    check_claims(claims, expect, now_s)
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JwtRefused(f"the JWT's {name!r} claim must be a number of seconds")
    return float(value)


def check_claims(claims: dict[str, Any], expect: Expectations, now_s: float) -> None:
    """The time, issuer and audience checks of the module contract."""
    exp, nbf, iat = (_number(claims, n) for n in ("exp", "nbf", "iat"))
    if exp is None and expect.require_exp:
        raise JwtRefused("the JWT has no 'exp' claim; tokens without an expiry are refused")
    if exp is not None and now_s > exp + expect.exp_leeway_s:
        raise JwtRefused("the JWT has expired ('exp' is in the past)")
    if nbf is not None and now_s + expect.nbf_leeway_s < nbf:
        raise JwtRefused("the JWT is not valid yet ('nbf' is in the future)")
    if iat is not None and now_s + expect.skew_s < iat:
        raise JwtRefused("the JWT was issued in the future ('iat'); check the clocks")
    if expect.issuer and claims.get("iss") != expect.issuer:
        raise JwtRefused("the JWT's 'iss' claim does not match the configured issuer")
    audiences = audience_claim(claims)
    if expect.audiences:
        if not set(audiences) & set(expect.audiences):
            raise JwtRefused("the JWT's 'aud' claim holds none of the role's audiences")
    elif audiences and expect.refuse_unbound_aud:
        raise JwtRefused("the JWT has an 'aud' claim but the role binds no audiences: "
                         "set bound_audiences on the role")


def audience_claim(claims: dict[str, Any]) -> list[str]:
    """`aud` as a list (RFC 7519 allows a string or a list of strings)."""
    aud = claims.get("aud")
    if aud is None:
        return []
    if isinstance(aud, str):
        return [aud]
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return list(aud)
    raise JwtRefused("the JWT's 'aud' claim must be a string or a list of strings")


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload's claims **without** checking the signature.

    Only for the kubernetes method's TokenReview-only mode, where the API server
    vouches for the token and the claims are then compared with its answer.
    """
    obj = _extract(token)
    _check_alg(obj.headers().get("alg"), ASYMMETRIC_ALGS)
    return _payload(obj)
