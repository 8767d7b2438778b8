"""sys/ endpoints of the seal, init, health, leader and key group.

Unauthenticated (work while sealed): init, seal-status, unseal, health, leader.
The rest need a token with sudo. Shares and root tokens appear only in the
one response that hands them out, never in a log line or an error.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from strongbox import __version__, autounseal
from strongbox.backend.context import Context, Route
from strongbox.backend.request import query_int
from strongbox.backend.response import Response, json_response, no_content, ok
from strongbox.errors import BadRequest, InternalError, NotInitialized
from strongbox.raft.log import RaftStatus
from strongbox.seal.migrate import share_rule
from strongbox.timefmt import rfc3339

BUILD_DATE = "2026-11-27T00:00:00Z"
# Clients (Terraform's provider, hvac helpers) gate features on `version`. StrongBox
# reports the Vault API level it implements, with its own version as semver build
# metadata, which semver comparisons ignore: "1.16.0+strongbox.0.1.0" (docs/api.md).
VAULT_API_LEVEL = "1.16.0"
REPORTED_VERSION = f"{VAULT_API_LEVEL}+strongbox.{__version__}"


def check_shares(shares: int, threshold: int) -> None:
    """The share rules of sys/init (and of sys/rekey, which makes new shares)."""
    if not 1 <= shares <= 255:
        raise BadRequest("secret_shares must be between 1 and 255")
    if not 1 <= threshold <= shares:
        raise BadRequest("secret_threshold must be between 1 and secret_shares")
    if threshold == 1 and shares > 1:
        raise BadRequest("secret_threshold must be at least 2 when secret_shares is more "
                         "than 1 (a threshold of 1 would make every share the whole key)")


def seal_status_data(ctx: Context) -> dict[str, Any]:
    core = ctx.core
    cluster = core.cluster()
    migrating = autounseal.migrating(core)
    shares, threshold = share_rule(cluster) if cluster else (0, 0)
    data = {
        "type": autounseal.configured_type(core), "initialized": cluster is not None,
        "sealed": core.sealed, "t": threshold, "n": shares,
        "progress": core.unseal_progress.progress, "nonce": core.unseal_progress.nonce,
        "version": REPORTED_VERSION, "build_date": BUILD_DATE, "migration": migrating,
        "cluster_name": cluster.cluster_name if cluster and not core.sealed else "",
        "cluster_id": cluster.cluster_id if cluster and not core.sealed else "",
        "recovery_seal": bool(cluster and cluster.seal_type) or core.auto_seal is not None,
        "storage_type": "raft",
    }
    if core.sealed and core.seal_error:
        data["seal_error"] = core.seal_error  # ours: why auto-unseal has not worked
    return data


async def get_init(ctx: Context) -> Response:
    return json_response(200, {"initialized": ctx.core.cluster() is not None})


INIT_SCHEMA = {
    "secret_shares": (int,), "secret_threshold": (int,),
    # Fields hvac and the Vault CLI send; PGP and HSM options are not supported.
    "pgp_keys": (list, type(None)), "root_token_pgp_key": (str, type(None)),
    "stored_shares": (int, type(None)), "recovery_shares": (int, type(None)),
    "recovery_threshold": (int, type(None)), "recovery_pgp_keys": (list, type(None)),
}


async def put_init(ctx: Context) -> Response:
    body = ctx.request.json_body(INIT_SCHEMA)
    if body.get("pgp_keys") or body.get("root_token_pgp_key") or body.get("recovery_pgp_keys"):
        raise BadRequest("PGP-encrypted shares are not supported; omit pgp_keys and "
                         "root_token_pgp_key")
    if body.get("stored_shares") not in (None, 0, 1):
        raise BadRequest("stored_shares is not supported; with an auto-unseal seal the "
                         "unseal key is stored wrapped by the seal")
    auto = ctx.core.auto_seal is not None
    if auto:
        # Vault's defaults for recovery keys; secret_* do not apply to auto-unseal
        shares, threshold = body.get("recovery_shares") or 5, body.get("recovery_threshold") or 3
        result = await ctx.core.initialize(0, 0, origin=ctx.request, recovery_shares=shares,
                                           recovery_threshold=threshold)
    else:
        if body.get("recovery_shares") or body.get("recovery_threshold"):
            raise BadRequest("recovery keys apply to auto-unseal seals; this node uses "
                             "Shamir: use secret_shares and secret_threshold (docs/seals.md)")
        if body.get("secret_shares") is None or body.get("secret_threshold") is None:
            raise BadRequest("missing required field 'secret_shares' or 'secret_threshold'")
        shares, threshold = body["secret_shares"], body["secret_threshold"]
        check_shares(shares, threshold)
        result = await ctx.core.initialize(shares, threshold, origin=ctx.request)
    return json_response(200, {
        "keys": [share.hex() for share in result.shares],
        "keys_base64": [base64.b64encode(share).decode() for share in result.shares],
        "recovery_keys": [share.hex() for share in result.recovery_shares],
        "recovery_keys_base64": [base64.b64encode(s).decode() for s in result.recovery_shares],
        "root_token": result.root_token,
    })


async def get_seal_status(ctx: Context) -> Response:
    return json_response(200, seal_status_data(ctx))


UNSEAL_SCHEMA = {"key": (str, type(None)), "reset": (bool, type(None)),
                 "migrate": (bool, type(None))}


async def put_unseal(ctx: Context) -> Response:
    body = ctx.request.json_body(UNSEAL_SCHEMA)
    if ctx.core.cluster() is None:
        raise NotInitialized()
    if body.get("reset"):
        ctx.core.reset_unseal()
    elif body.get("key") is None:
        raise BadRequest("missing required field 'key' (an unseal key share), "
                         "or send {\"reset\": true}")
    elif body.get("migrate"):
        await autounseal.migrate_share(ctx.core, body["key"])
    else:
        ctx.core.submit_share(body["key"])
    return json_response(200, seal_status_data(ctx))


async def put_seal(ctx: Context) -> Response:
    ctx.core.seal(by_operator=True)
    return no_content()


HEALTH_CODES = {"activecode": 200, "standbycode": 429, "performancestandbycode": 473,
                "sealedcode": 503, "uninitcode": 501}
# A follower whose applied index trails the commit index it knows by more than this many
# entries is catching up (a restart replaying its journal, a snapshot install), not serving
# current data. A healthy follower trails by the few entries in flight.
MAX_APPLY_LAG = 256


def replication_lagging(status: RaftStatus, applied_index: int, max_staleness_s: float) -> bool:
    """True for a standby that is not caught up (StrongBox extension, docs/api.md).

    Caught up means: it heard from a leader within `max_staleness_s` (the bound past which
    default reads are refused, `cluster.max_staleness_s`) and its applied index is within
    `MAX_APPLY_LAG` of the commit index it knows. The leader is never lagging.
    """
    if status.is_leader:
        return False
    contact = status.last_leader_contact_ms
    if contact < 0 or contact > max_staleness_s * 1000:
        return True
    return status.commit_index - applied_index > MAX_APPLY_LAG


def _health_status(ctx: Context, active: bool, initialized: bool, lagging: bool) -> int:
    request = ctx.request
    codes = {name: query_int(request, name, default, maximum=599)
             for name, default in HEALTH_CODES.items()}
    # `laggingcode` (StrongBox's): absent, a lagging standby answers as any standby does.
    lagging_code = query_int(request, "laggingcode", 0, maximum=599)
    if any(code < 100 for code in codes.values()) or 0 < lagging_code < 100:
        raise BadRequest("health status code parameters must be between 100 and 599")
    if not initialized:
        return codes["uninitcode"]
    if ctx.core.sealed:
        return codes["sealedcode"]
    if active:
        return codes["activecode"]
    if lagging and lagging_code:
        return lagging_code
    if request.query.get("perfstandbyok", "").lower() == "true" or \
            request.query.get("standbyok", "").lower() == "true":
        return 200
    return codes["performancestandbycode"]


async def get_health(ctx: Context) -> Response:
    core = ctx.core
    cluster = core.cluster()
    status = core.log.status()
    applied = core.store.applied_index()
    lagging = replication_lagging(status, applied, core.config.cluster.max_staleness_s)
    code = _health_status(ctx, status.is_leader, cluster is not None, lagging)
    body = {
        "initialized": cluster is not None, "sealed": core.sealed,
        "standby": not status.is_leader, "performance_standby": not status.is_leader,
        "replication_performance_mode": "disabled", "replication_dr_mode": "disabled",
        "server_time_utc": int(time.time()), "version": REPORTED_VERSION,
        "cluster_name": cluster.cluster_name if cluster else "",
        "cluster_id": cluster.cluster_id if cluster else "",
        "raft_applied_index": applied,
        "raft_commit_index": status.commit_index,
        "last_leader_contact_ms": status.last_leader_contact_ms,
        "replication_lagging": lagging,
    }
    response = json_response(code, body)
    if ctx.request.method == "HEAD":
        response.body = b""
    return response


async def get_leader(ctx: Context) -> Response:
    status = ctx.core.log.status()
    addr = ctx.core.config.api_addr
    cluster_addr = status.address if status.is_leader else status.leader_address
    return json_response(200, {
        "ha_enabled": True, "is_self": status.is_leader,
        "active_time": rfc3339(0) or "0001-01-01T00:00:00Z",
        "leader_address": addr if status.is_leader else (status.leader_api_addr or ""),
        "leader_cluster_address": f"https://{cluster_addr}" if cluster_addr else "",
        "performance_standby": not status.is_leader,
        "performance_standby_last_remote_wal": 0,
        "raft_committed_index": status.commit_index,
        "raft_applied_index": ctx.core.store.applied_index(),
    })


async def put_rotate(ctx: Context) -> Response:
    ctx.request.json_body({})
    result = await ctx.core.rotate(origin=ctx.request)
    if result.code != result.OK:
        raise InternalError("key rotation failed")
    return no_content()


async def get_key_status(ctx: Context) -> Response:
    record = ctx.core.key_status()
    return ok(ctx.request.request_id, {
        "term": record.term, "install_time": rfc3339(record.install_time_ns),
        "encryptions": 0})


ROUTES: dict[str, Route] = {
    "sys/init": Route({"GET": get_init, "PUT": put_init}, auth=False, unsealed=False),
    "sys/seal-status": Route({"GET": get_seal_status}, auth=False, unsealed=False),
    "sys/unseal": Route({"PUT": put_unseal}, auth=False, unsealed=False),
    "sys/health": Route({"GET": get_health, "HEAD": get_health}, auth=False, unsealed=False),
    "sys/leader": Route({"GET": get_leader}, auth=False, unsealed=False),
    "sys/seal": Route({"PUT": put_seal}, sudo=True),
    "sys/rotate": Route({"PUT": put_rotate}, sudo=True),
    "sys/key-status": Route({"GET": get_key_status}),
}
