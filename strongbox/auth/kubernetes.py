"""auth/<mount>/ of type kubernetes: Vault's Kubernetes auth method (service-account JWTs).

Paths (as Vault's, so hvac, external-secrets and Vault Agent work unchanged): `config`
(POST/GET), `role/:name` (POST/GET/DELETE), `LIST role`, `login` (`role`, `jwt`; no
token). Records are sealed in the mount's storage view; `token_reviewer_jwt` is never
returned (a read shows `token_reviewer_jwt_set`).

A login is checked in two independent ways, each on when configured
(docs/auth-kubernetes.md says what each guarantees):

- **local**: the JWT's signature against `pem_keys`, or against the JWKS the `issuer`
  publishes (OIDC discovery, `kubernetes_ca_cert` as CA, cached, refreshed on an unknown
  `kid`); then `exp`/`nbf` (projected tokens must carry `exp`), `iss` (when `issuer`
  is set and `disable_iss_validation` is not) and the role's `audience`;
- **TokenReview** (when `kubernetes_host` is set): the API server confirms the token
  is still valid (the only way to see a deleted pod, service account or secret), and
  that it names the same service account (username and uid).

Then the role's `bound_service_account_names` and `..._namespaces` (globs) must admit
the account. Every refusal is a 400/403 naming the failed check, and, like every
request, audited (the `jwt` field is HMAC'd there as all request data is).
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
from strongbox.auth.k8s_review import (
    ServiceAccount,
    TokenReviewer,
    local_reviewer_files,
    service_account,
)
from strongbox.backend.context import Context, PathTable, mount_routes
from strongbox.backend.contract import Backend
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest, PermissionDenied
from strongbox.pb import records_pb2 as rec

ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
LEGACY_ISSUER = "kubernetes/serviceaccount"
MAX_SECRET_BYTES = 16 * 1024
PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)
CONFIG_SCHEMA: dict[str, tuple[type, ...]] = {
    "kubernetes_host": roles.OPT_STR, "kubernetes_ca_cert": roles.OPT_STR,
    "token_reviewer_jwt": roles.OPT_STR, "pem_keys": roles.OPT_LIST,
    "issuer": roles.OPT_STR, "disable_iss_validation": (bool, type(None)),
    "disable_local_ca_jwt": (bool, type(None)),
    "use_annotations_as_alias_metadata": (bool, type(None)),
}
ROLE_SCHEMA: dict[str, tuple[type, ...]] = {
    **roles.TOKEN_SCHEMA, "name": roles.OPT_STR,
    "bound_service_account_names": roles.OPT_LIST,
    "bound_service_account_namespaces": roles.OPT_LIST,
    "bound_service_account_namespace_selector": roles.OPT_STR,
    "audience": roles.OPT_STR, "alias_name_source": roles.OPT_STR,
}
# Process-wide caches of public keys and TokenReview answers (see their modules).
KEYS = KeyCache()
REVIEWS = TokenReviewer()


# --- config -------------------------------------------------------------------------------


def _pem_blocks(raw: Any) -> list[str]:
    """`pem_keys` as one PEM block per item (a string may hold several blocks)."""
    items = [raw] if isinstance(raw, str) else raw or []
    if not all(isinstance(item, str) for item in items):
        raise BadRequest("'pem_keys' must be a list of PEM public keys or certificates")
    blocks = [b for item in items for b in PEM_BLOCK.findall(item)]
    if len(blocks) < sum(1 for item in items if item.strip()):
        raise BadRequest("'pem_keys' must be a list of PEM public keys or certificates")
    return blocks


def _validate_config(config: dict[str, Any]) -> None:
    if config["kubernetes_host"]:
        check_https_url(config["kubernetes_host"], "kubernetes_host")
    check_ca_pem(config["kubernetes_ca_cert"], "kubernetes_ca_cert")
    parse_public_keys(config["pem_keys"], "pem_keys")
    if len(config["token_reviewer_jwt"].encode()) > MAX_SECRET_BYTES:
        raise BadRequest(f"'token_reviewer_jwt' must be at most {MAX_SECRET_BYTES} bytes")
    if not (config["kubernetes_host"] or config["pem_keys"]
            or config["issuer"].startswith("https://")):
        raise BadRequest("set 'kubernetes_host' (TokenReview), 'pem_keys', or an https "
                         "'issuer' whose JWKS verifies tokens: nothing could verify a login")


async def write_config(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    body = ctx.request.json_body(CONFIG_SCHEMA)
    if body.get("use_annotations_as_alias_metadata"):
        raise BadRequest("'use_annotations_as_alias_metadata' is not supported: it needs "
                         "reading service accounts from the Kubernetes API")
    old = roles.read_record(ctx, mount, "config") or {}
    config = {name: body.get(name) or "" for name in
              ("kubernetes_host", "kubernetes_ca_cert", "issuer")}
    config["pem_keys"] = _pem_blocks(body.get("pem_keys"))
    reviewer = body.get("token_reviewer_jwt")
    config["token_reviewer_jwt"] = old.get("token_reviewer_jwt", "") if reviewer is None \
        else reviewer
    config["disable_local_ca_jwt"] = bool(body.get("disable_local_ca_jwt"))
    config["disable_iss_validation"] = bool(body.get("disable_iss_validation"))
    _validate_config(config)
    await roles.write_record(ctx, mount, config, "config")
    return no_content()


async def read_config(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    config = roles.config(ctx, mount)
    shown = {k: v for k, v in config.items() if k != "token_reviewer_jwt"}
    return ok(ctx.request.request_id, {**shown, "token_reviewer_jwt_set":
                                       bool(config.get("token_reviewer_jwt"))})


# --- roles --------------------------------------------------------------------------------


def _role_fields(body: dict[str, Any], role: dict[str, Any]) -> None:
    if body.get("bound_service_account_namespace_selector"):
        raise BadRequest("'bound_service_account_namespace_selector' is not supported: it "
                         "needs reading namespace labels from the Kubernetes API; list the "
                         "namespaces (globs allowed) in bound_service_account_namespaces")
    for name in ("bound_service_account_names", "bound_service_account_namespaces"):
        values = roles.string_list(body, name)
        if values is not None:
            role[name] = values
        if not role.get(name):
            raise BadRequest(f"{name!r} must list at least one name (\"*\" for any)")
    for name in ("audience", "alias_name_source"):
        if body.get(name) is not None:
            role[name] = body[name]
    if role.get("alias_name_source", "serviceaccount_uid") not in (
            "serviceaccount_uid", "serviceaccount_name"):
        raise BadRequest("'alias_name_source' must be \"serviceaccount_uid\" or "
                         "\"serviceaccount_name\"")
    roles.token_settings(body, role)


write_role = roles.role_writer(ROLE_SCHEMA, _role_fields, {})


async def read_role(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    role = roles.existing_role(ctx, mount, match["name"])
    return ok(ctx.request.request_id, {
        "bound_service_account_names": role["bound_service_account_names"],
        "bound_service_account_namespaces": role["bound_service_account_namespaces"],
        "bound_service_account_namespace_selector": "",
        "audience": role.get("audience", ""),
        "alias_name_source": role.get("alias_name_source", "serviceaccount_uid"),
        **roles.token_view(role)})


# --- login --------------------------------------------------------------------------------


def _expectations(config: dict[str, Any], role: dict[str, Any]) -> jwt_verify.Expectations:
    check_iss = config["issuer"] and not config["disable_iss_validation"]
    return jwt_verify.Expectations(
        algorithms=ALGORITHMS, issuer=config["issuer"] if check_iss else "",
        audiences=(role["audience"],) if role.get("audience") else (), require_exp=False)


async def _local_claims(config: dict[str, Any], role: dict[str, Any], token: str,
                        now_s: float) -> dict[str, Any]:
    """Claims verified with the configured keys (pem_keys, else the issuer's JWKS)."""
    if config["pem_keys"]:
        source = KeySource(pem_keys=tuple(config["pem_keys"]))
    else:
        source = KeySource(discovery_url=config["issuer"], ca_pem=config["kubernetes_ca_cert"])
    parsed = jwt_verify.parse(token)
    kid = jwt_verify.header(parsed).get("kid")
    keys, _ = await KEYS.keys(source, kid if isinstance(kid, str) else None)
    return jwt_verify.verify(parsed, keys, _expectations(config, role), now_s)


async def _token_review(config: dict[str, Any], role: dict[str, Any], token: str,
                        account: ServiceAccount) -> None:
    """403 unless the API server says the token is valid and names `account`."""
    bearer, ca_pem = config["token_reviewer_jwt"], config["kubernetes_ca_cert"]
    if not config["disable_local_ca_jwt"]:
        pod_token, pod_ca = local_reviewer_files()
        bearer, ca_pem = bearer or pod_token, ca_pem or pod_ca
    audiences = [role["audience"]] if role.get("audience") else []
    review = await REVIEWS.review(config["kubernetes_host"], ca_pem, bearer or token, token,
                                  audiences)
    if not review.authenticated:
        raise PermissionDenied("the Kubernetes API server does not accept this token "
                               "(TokenReview: not authenticated): it was revoked, its pod "
                               "or service account is gone, or it expired")
    if review.username != account.username or (review.uid and review.uid != account.uid) \
            or (review.pod_name and account.pod_name and review.pod_name != account.pod_name):
        raise PermissionDenied("the Kubernetes API server names another service account "
                               "or pod for this token (TokenReview username, uid or pod "
                               "name differ)")


def _check_bindings(role: dict[str, Any], account: ServiceAccount) -> None:
    if not any(roles.glob_match(p, account.name) for p in role["bound_service_account_names"]):
        raise PermissionDenied("service account name not authorized by this role")
    if not any(roles.glob_match(p, account.namespace)
               for p in role["bound_service_account_namespaces"]):
        raise PermissionDenied("namespace not authorized by this role")


async def login(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    body = ctx.request.json_body({"role": (str,), "jwt": (str,)}, required=("role", "jwt"))
    name, token = roles.login_role_name(body["role"]), body["jwt"]
    roles.throttle(ctx, mount, name)
    role = roles.read_record(ctx, mount, "role", name)
    if role is None:
        raise BadRequest(f"invalid role name {name!r}")
    config = roles.config(ctx, mount)
    local = bool(config["pem_keys"] or config["issuer"].startswith("https://"))
    now_s = ctx.now_ns() / 1e9
    if local:
        claims = await _local_claims(config, role, token, now_s)
    else:  # TokenReview-only: the API server vouches; the claims are compared with it
        claims = jwt_verify.unverified_claims(token)
        jwt_verify.check_claims(claims, _expectations(config, role), now_s)
    account = service_account(claims)
    if not account.legacy and "exp" not in claims:
        raise PermissionDenied("projected service account tokens must carry 'exp'")
    _check_bindings(role, account)
    if config["kubernetes_host"]:
        await _token_review(config, role, token, account)
    return await roles.issue_login(ctx, mount, name, role,
                                   f"{account.namespace}-{account.name}", account.metadata())


BACKEND = Backend(kind="auth", type="kubernetes",
                  description="Kubernetes service account tokens",
                  paths=PathTable(patterns=mount_routes(roles.method_routes(
                      write_config, read_config, write_role, read_role, login))))
