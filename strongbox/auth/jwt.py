"""auth/<mount>/ of type jwt: Vault's JWT/OIDC auth method, JWT login only.

Paths as Vault's (hvac's `client.auth.jwt`, `hashicorp/vault-action` with `method:
jwt`): `config` (POST/GET), `role/:name` (POST/GET/DELETE), `LIST role`, `login`
(`role`, `jwt`; no token). The browser OIDC flow (`oidc/auth_url`, `oidc/callback`,
`oidc_client_id`, `role_type=oidc`) is refused with a 400 saying so.

Keys come from exactly one of `jwt_validation_pubkeys` (PEM), `jwks_url` (+
`jwks_ca_pem`) or `oidc_discovery_url` (+ `oidc_discovery_ca_pem`; the document's
issuer must equal the URL and tokens must carry it as `iss`). A config write fetches
the remote document once, so a wrong URL or CA is a 400 there and not at first login.

A login passes when the signature verifies (`jwt_supported_algs`, asymmetric only),
`exp` is present and not past (`expiration_leeway`), `nbf` (`not_before_leeway`) and
`iat` (`clock_skew_leeway`) hold, `iss` matches `bound_issuer` (or the discovered
issuer), `aud` holds one of `bound_audiences` (a token with an `aud` and a role
without audiences is refused, as in Vault), `sub` equals `bound_subject`, and every
`bound_claims` entry matches (`bound_claims_type` "string" or "glob"). The token's
metadata gets `role` and the `claim_mappings`. Refusals are 400s naming the check.
"""

from __future__ import annotations

import re
from typing import Any

from strongbox.auth import jwt_roles as roles
from strongbox.auth import jwt_verify
from strongbox.auth.jwt_keys import (
    KeyCache,
    KeySource,
    check_ca_pem,
    check_https_url,
    parse_public_keys,
)
from strongbox.backend.context import Context, PathTable, mount_routes
from strongbox.backend.contract import Backend
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest
from strongbox.pb import records_pb2 as rec
from strongbox.timefmt import parse_duration

OIDC_ONLY = ("oidc_client_id", "oidc_client_secret", "oidc_response_mode",
             "oidc_response_types", "provider_config")
CONFIG_SCHEMA: dict[str, tuple[type, ...]] = {
    "jwks_url": roles.OPT_STR, "jwks_ca_pem": roles.OPT_STR,
    "jwt_validation_pubkeys": roles.OPT_LIST, "oidc_discovery_url": roles.OPT_STR,
    "oidc_discovery_ca_pem": roles.OPT_STR, "bound_issuer": roles.OPT_STR,
    "jwt_supported_algs": roles.OPT_LIST, "default_role": roles.OPT_STR,
    "namespace_in_state": (bool, type(None)),
    **{name: (str, list, dict, type(None)) for name in OIDC_ONLY},
}
LEEWAYS = {"clock_skew_leeway": 60, "expiration_leeway": 150, "not_before_leeway": 150}
ROLE_SCHEMA: dict[str, tuple[type, ...]] = {
    **roles.TOKEN_SCHEMA, "name": roles.OPT_STR, "role_type": roles.OPT_STR,
    "bound_audiences": roles.OPT_LIST, "bound_subject": roles.OPT_STR,
    "bound_claims": (dict, type(None)), "bound_claims_type": roles.OPT_STR,
    "claim_mappings": (dict, type(None)), "user_claim": roles.OPT_STR,
    "user_claim_json_pointer": (bool, type(None)), "groups_claim": roles.OPT_STR,
    "allowed_redirect_uris": roles.OPT_LIST, "oidc_scopes": roles.OPT_LIST,
    "verbose_oidc_logging": (bool, type(None)),
    **{name: roles.OPT_DURATION for name in LEEWAYS},
}
KEYS = KeyCache()  # process-wide cache of public keys (strongbox/auth/jwt_keys.py)


# --- config -------------------------------------------------------------------------------


def _source(config: dict[str, Any]) -> KeySource:
    if config["jwt_validation_pubkeys"]:
        return KeySource(pem_keys=tuple(config["jwt_validation_pubkeys"]))
    if config["jwks_url"]:
        return KeySource(jwks_url=config["jwks_url"], ca_pem=config["jwks_ca_pem"])
    return KeySource(discovery_url=config["oidc_discovery_url"],
                     ca_pem=config["oidc_discovery_ca_pem"])


def _parse_config(body: dict[str, Any]) -> dict[str, Any]:
    if any(body.get(name) for name in OIDC_ONLY):
        raise BadRequest("the OIDC browser login is not supported (JWT login only): remove "
                         + ", ".join(n for n in OIDC_ONLY if body.get(n)))
    config: dict[str, Any] = {name: body.get(name) or "" for name in (
        "jwks_url", "jwks_ca_pem", "oidc_discovery_url", "oidc_discovery_ca_pem",
        "bound_issuer", "default_role")}
    config["jwt_validation_pubkeys"] = roles.string_list(body, "jwt_validation_pubkeys") or []
    chosen = [n for n in ("jwks_url", "jwt_validation_pubkeys", "oidc_discovery_url")
              if config[n]]
    if len(chosen) != 1:
        raise BadRequest("set exactly one of 'jwks_url', 'jwt_validation_pubkeys' and "
                         "'oidc_discovery_url'")
    for url, ca in (("jwks_url", "jwks_ca_pem"), ("oidc_discovery_url",
                                                  "oidc_discovery_ca_pem")):
        if config[url]:
            check_https_url(config[url], url)
        check_ca_pem(config[ca], ca)
    parse_public_keys(config["jwt_validation_pubkeys"], "jwt_validation_pubkeys")
    algs = roles.string_list(body, "jwt_supported_algs") or list(jwt_verify.ASYMMETRIC_ALGS)
    if not set(algs) <= set(jwt_verify.ASYMMETRIC_ALGS):
        raise BadRequest("'jwt_supported_algs' may hold only asymmetric algorithms: "
                         + ", ".join(jwt_verify.ASYMMETRIC_ALGS))
    config["jwt_supported_algs"] = algs
    return config


async def write_config(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    config = _parse_config(ctx.request.json_body(CONFIG_SCHEMA))
    await KEYS.keys(_source(config), None)  # a wrong URL or CA is a 400 now, not at login
    await roles.write_record(ctx, mount, config, "config")
    return no_content()


async def read_config(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    return ok(ctx.request.request_id, {**roles.config(ctx, mount), "oidc_client_id": "",
                                       "provider_config": {}, "namespace_in_state": False})


# --- roles --------------------------------------------------------------------------------


def _leeway(body: dict[str, Any], name: str) -> int:
    """Seconds; Vault's rule: 0 or absent = the default, -1 = none."""
    value = body.get(name)
    if value in (None, "", 0, "0"):
        return LEEWAYS[name]
    if value in (-1, "-1"):
        return 0
    try:
        return parse_duration(value, name) // 10**9
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _claim_value_ok(value: Any, lists: bool) -> bool:
    if isinstance(value, str):
        return True
    if not lists:
        return False
    items = value if isinstance(value, list) else [value]
    return all(isinstance(i, str | int | bool) for i in items)


def _string_map(raw: Any, name: str, lists: bool) -> dict[str, Any]:
    if not isinstance(raw, dict) or not all(_claim_value_ok(v, lists) for v in raw.values()):
        raise BadRequest(f"{name!r} must be an object of claim names to "
                         + ("values or lists of values" if lists else "metadata keys"))
    return dict(raw)


def _role_fields(body: dict[str, Any], role: dict[str, Any]) -> None:
    if body.get("role_type", "jwt") not in ("jwt", None):
        raise BadRequest("'role_type' must be \"jwt\": the OIDC browser login is not supported")
    for name in ("bound_audiences", "allowed_redirect_uris", "oidc_scopes"):
        values = roles.string_list(body, name)
        if values is not None:
            role[name] = values
    for name in ("bound_subject", "user_claim", "groups_claim"):
        if body.get(name) is not None:
            role[name] = body[name]
    if body.get("bound_claims") is not None:
        role["bound_claims"] = _string_map(body["bound_claims"], "bound_claims", True)
    if body.get("claim_mappings") is not None:
        role["claim_mappings"] = _string_map(body["claim_mappings"], "claim_mappings", False)
    if body.get("bound_claims_type") is not None:
        if body["bound_claims_type"] not in ("string", "glob"):
            raise BadRequest("'bound_claims_type' must be \"string\" or \"glob\"")
        role["bound_claims_type"] = body["bound_claims_type"]
    for name in LEEWAYS:
        if name in body or name not in role:
            role[name] = _leeway(body, name)
    roles.token_settings(body, role)
    if not (role.get("bound_audiences") or role.get("bound_subject")
            or role.get("bound_claims")):
        raise BadRequest("a role must bind at least one of 'bound_audiences', "
                         "'bound_subject' and 'bound_claims'")


write_role = roles.role_writer(ROLE_SCHEMA, _role_fields, {"user_claim": "sub"})


async def read_role(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    role = roles.existing_role(ctx, mount, match["name"])
    shown = {"role_type": "jwt", "bound_audiences": [], "bound_subject": "",
             "bound_claims": None, "bound_claims_type": "string", "claim_mappings": None,
             "groups_claim": "", "allowed_redirect_uris": [], "oidc_scopes": [], **role}
    return ok(ctx.request.request_id, {**shown, **roles.token_view(role)})


# --- login --------------------------------------------------------------------------------


def _claim_matches(value: Any, wanted: list[Any], glob: bool) -> bool:
    have = [roles.scalar_text(v) for v in (value if isinstance(value, list) else [value])]
    want = [roles.scalar_text(w) for w in wanted]
    return any(h is not None and w is not None and
               (roles.glob_match(w, h) if glob else h == w) for h in have for w in want)


def _check_bindings(role: dict[str, Any], claims: dict[str, Any]) -> None:
    if role.get("bound_subject") and claims.get("sub") != role["bound_subject"]:
        raise jwt_verify.JwtRefused("the JWT's 'sub' claim does not match the role's "
                                    "bound_subject")
    glob = role.get("bound_claims_type") == "glob"
    for claim, wanted in (role.get("bound_claims") or {}).items():
        wanted_list = wanted if isinstance(wanted, list) else [wanted]
        if not _claim_matches(roles.claim_value(claims, claim), wanted_list, glob):
            raise jwt_verify.JwtRefused(f"the JWT's claim {claim!r} does not match the "
                                        "role's bound_claims")


def _metadata(role: dict[str, Any], claims: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(the user claim's value, the token metadata of claim_mappings)."""
    user = roles.scalar_text(roles.claim_value(claims, role.get("user_claim") or "sub"))
    if not user:
        raise jwt_verify.JwtRefused(f"the JWT has no usable user claim "
                                    f"{role.get('user_claim') or 'sub'!r}")
    meta: dict[str, str] = {}
    for claim, key in (role.get("claim_mappings") or {}).items():
        value = roles.scalar_text(roles.claim_value(claims, claim))
        if value is not None:
            meta[key] = value
    return user, meta


async def login(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    body = ctx.request.json_body({"role": roles.OPT_STR, "jwt": (str,)}, required=("jwt",))
    config = roles.config(ctx, mount)
    if not (body.get("role") or config["default_role"]):
        raise BadRequest("missing required field 'role' (and the mount has no default_role)")
    name = roles.login_role_name(body.get("role") or config["default_role"])
    roles.throttle(ctx, mount, name)
    role = roles.read_record(ctx, mount, "role", name)
    if role is None:
        raise BadRequest(f"role {name!r} could not be found")
    token = jwt_verify.parse(body["jwt"])
    kid = jwt_verify.header(token).get("kid")
    keys, discovered = await KEYS.keys(_source(config), kid if isinstance(kid, str) else None)
    expect = jwt_verify.Expectations(
        algorithms=tuple(config["jwt_supported_algs"]),
        issuer=config["bound_issuer"] or discovered,
        audiences=tuple(role.get("bound_audiences", [])), refuse_unbound_aud=True,
        require_exp=True, exp_leeway_s=role["expiration_leeway"],
        nbf_leeway_s=role["not_before_leeway"], skew_s=role["clock_skew_leeway"])
    claims = jwt_verify.verify(token, keys, expect, ctx.now_ns() / 1e9)
    _check_bindings(role, claims)
    user, meta = _metadata(role, claims)
    return await roles.issue_login(ctx, mount, name, role, user, meta)


BACKEND = Backend(kind="auth", type="jwt", description="JWTs signed by an identity provider",
                  paths=PathTable(patterns=mount_routes(roles.method_routes(
                      write_config, read_config, write_role, read_role, login))))
