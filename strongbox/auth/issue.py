"""Issue tokens: the one way the token store and the login methods mint a token.

`issue(ctx, record)` fills in the token's id, accessor and creation time,
replicates it (service tokens: through Raft, as a keyed hash; batch tokens:
nothing to store, the token is its own sealed record) and returns the Vault
`auth` block. A login passes `consume` (an AppRole secret id whose use it spends)
or `reset` (a user's failed-login counter to clear): those, and the token, are
applied in one Raft entry, so a single-use secret id yields exactly one token.
"""

from __future__ import annotations

from typing import Any

from strongbox.auth.tokens import (
    SYSTEM_MAX_TTL_NS,
    expires_at,
    new_accessor,
    new_service_token,
    seal_batch_token,
)
from strongbox.backend.context import Context
from strongbox.errors import BadRequest
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.policy import DEFAULT_POLICY_NAME, ROOT_POLICY_NAME

Result = rec.ApplyResult


def auth_block(token_id: str, token: rec.TokenRecord, now_ns: int | None = None) -> dict[str, Any]:
    lease = 0
    if token.ttl_ns:
        lease = max(0, (expires_at(token) - (now_ns or token.creation_time_ns)) // 10**9)
    policies = list(token.policies)
    return {"client_token": token_id, "accessor": token.accessor, "policies": policies,
            "token_policies": policies, "identity_policies": None,
            "metadata": dict(token.meta) or None, "lease_duration": lease,
            "renewable": token.renewable, "entity_id": "", "token_type": token.type,
            "orphan": not token.parent_accessor, "mfa_requirement": None,
            "num_uses": token.num_uses}


def with_default(policies: list[str], no_default: bool = False) -> list[str]:
    out = set(policies)
    if not no_default and ROOT_POLICY_NAME not in out:
        out.add(DEFAULT_POLICY_NAME)
    return sorted(out)


def _apply_mount_ttls(ctx: Context, token: rec.TokenRecord) -> None:
    """An auth method's tuned lease TTLs (`sys/auth/:path/tune`), as Vault applies them:
    a token that got the system default (768h: no TTL asked by the role or user) gets the
    mount's `default_lease_ttl`; every non-periodic token is capped by `max_lease_ttl`."""
    mount = ctx.mount
    if mount is None or ctx.secrets_engine or token.period_ns or not token.ttl_ns:
        return
    if mount.default_lease_ttl_ns and token.ttl_ns == SYSTEM_MAX_TTL_NS:
        token.ttl_ns = mount.default_lease_ttl_ns
    if mount.max_lease_ttl_ns:
        token.ttl_ns = min(token.ttl_ns, mount.max_lease_ttl_ns)
        if not token.explicit_max_ttl_ns or token.explicit_max_ttl_ns > mount.max_lease_ttl_ns:
            token.explicit_max_ttl_ns = mount.max_lease_ttl_ns  # renewals stay under it too


async def issue(ctx: Context, token: rec.TokenRecord, consume: bytes = b"",
                reset: bytes = b"") -> dict[str, Any]:
    """Mint `token` (policies, TTLs, namespace, type... already set); the auth block."""
    keyring = ctx.core.require_keyring()
    if ctx.request.idempotency is not None:
        # A retry would mint another token that apply (returning the first result) never
        # stores: refuse rather than hand out a dead token.
        raise BadRequest("Idempotency-Key is not supported on requests that issue tokens: "
                         "send the request without it (a retry issues a new token)")
    if ROOT_POLICY_NAME in token.policies and not token.auth_path.startswith("auth/token/"):
        raise BadRequest("auth methods cannot create root tokens: remove \"root\" from the "
                         "user's or role's token_policies")
    if token.namespace:
        namespace = ctx.core.store.namespace(token.namespace)
        if namespace is None:
            raise BadRequest(f"namespace {token.namespace!r} does not exist")
        token.namespace_id = namespace.id
    _apply_mount_ttls(ctx, token)
    token.creation_time_ns = ctx.now_ns()
    token.issued_ttl_ns = token.ttl_ns
    login = cmd_pb.Login(consume_secret_id=consume, reset_key=reset)
    if token.type == "batch":
        if token.num_uses or token.period_ns:
            raise BadRequest("batch tokens cannot be periodic or limited-use: use "
                             "token_type \"service\" for token_num_uses or token_period")
        token.accessor, token.renewable = "", False
        token_id = seal_batch_token(keyring, token)
    else:
        token.type, token.accessor, token_id = "service", new_accessor(), new_service_token()
        login.token.token_hash = keyring.token_hash(token_id)
        login.token.token.CopyFrom(token)
    if consume or reset:
        result = await ctx.submit(cmd_pb.Command(login=login))
    elif token.type == "service":
        result = await ctx.submit(cmd_pb.Command(token_create=login.token))
    else:
        result = Result(code=Result.OK)
    if result.code == Result.NOT_FOUND and consume:
        raise BadRequest("invalid role or secret ID")  # raced away or expired meanwhile
    if result.code != Result.OK:
        raise BadRequest(result.message or "the token could not be created")
    return auth_block(token_id, token)
