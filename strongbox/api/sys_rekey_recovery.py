"""sys/rekey-recovery-key/init|update (Vault): new recovery key shares from a threshold of
the old ones, for a cluster with an auto-unseal seal (docs/seals.md).

Unauthenticated, as in Vault (the shares are the authority); needs an unsealed node.
The ceremony is per node and in memory (the node's `RekeyCeremony`, which sys/rekey
cannot use on such a cluster): give every share of one rekey to the same node. The
old shares are checked against the cluster's `recovery_check`; a fresh recovery key is
split and its check committed through Raft (`SealMigrate` with the same seal and
unseal key), so the old recovery shares stop working everywhere at once.
`require_verification` and PGP are not served (400).
"""

from __future__ import annotations

import base64
from typing import Any

from strongbox.api.sys_generate_root import ceremony_cluster
from strongbox.autounseal import check_recovery
from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, json_response, no_content
from strongbox.barrier.aead import new_key
from strongbox.errors import BadRequest, ServiceUnavailable
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.seal import unseal as unseal_mod
from strongbox.seal.auto import recovery_check, recovery_matches

INIT_SCHEMA = {"secret_shares": (int,), "secret_threshold": (int,),
               "pgp_keys": (list, type(None)), "backup": (bool, type(None)),
               "require_verification": (bool, type(None))}


def _cluster(ctx: Context) -> rec.ClusterRecord:
    cluster = ceremony_cluster(ctx)
    if not cluster.seal_type:
        raise BadRequest("this cluster uses Shamir: it has unseal keys, not recovery keys; "
                         "rekey them with sys/rekey")
    return cluster


def _status(ctx: Context) -> dict[str, Any]:
    ceremony, cluster = ctx.core.rekey, _cluster(ctx)
    return {"nonce": ceremony.nonce, "started": ceremony.started, "t": ceremony.secret_threshold,
            "n": ceremony.secret_shares, "progress": ceremony.progress.progress,
            "required": cluster.recovery_threshold, "pgp_fingerprints": None, "backup": False,
            "verification_required": False}


async def read_init(ctx: Context) -> Response:
    return json_response(200, _status(ctx))


async def start(ctx: Context) -> Response:
    body = ctx.request.json_body(INIT_SCHEMA, required=("secret_shares", "secret_threshold"))
    if body.get("pgp_keys") or body.get("backup") or body.get("require_verification"):
        raise BadRequest("PGP-encrypted shares, backup and require_verification are not "
                         "served for recovery keys; omit them")
    _cluster(ctx)
    check_recovery(body["secret_shares"], body["secret_threshold"])
    ctx.core.rekey.start(body["secret_shares"], body["secret_threshold"], False)
    return json_response(200, _status(ctx))


async def cancel(ctx: Context) -> Response:
    ctx.core.rekey.cancel()
    return no_content()


async def update(ctx: Context) -> Response:
    body = ctx.request.json_body({"key": (str,), "nonce": (str,)}, required=("key", "nonce"))
    ceremony, cluster = ctx.core.rekey, _cluster(ctx)
    ceremony.check_nonce(body["nonce"], ceremony.nonce, "recovery key rekey")
    share = unseal_mod.decode_share(body["key"],
                                    unseal_mod.share_length(cluster.recovery_shares))
    old = ceremony.progress.add(share, cluster.recovery_threshold)
    if old is None:
        return json_response(200, _status(ctx))
    try:
        if not recovery_matches(old, cluster.recovery_check):
            raise BadRequest("rekey failed: the submitted shares do not reconstruct this "
                             "cluster's recovery key; progress was reset, submit them again")
    finally:
        old[:] = b"\0" * len(old)
    shares_n, threshold = ceremony.secret_shares, ceremony.secret_threshold
    fresh = new_key()
    try:
        shares = unseal_mod.split_unseal_key(fresh, shares_n, threshold)
        new = rec.ClusterRecord()
        new.CopyFrom(cluster)
        new.recovery_shares, new.recovery_threshold = shares_n, threshold
        new.recovery_check = recovery_check(fresh)
    finally:
        fresh[:] = b"\0" * len(fresh)
    nonce = ceremony.nonce
    ceremony.cancel()
    result = await ctx.submit(cmd_pb.Command(seal_migrate=cmd_pb.SealMigrate(cluster=new)))
    if result.code != result.OK:
        raise ServiceUnavailable("the new recovery keys could not be committed; the old ones "
                                 "still work: start again")
    return json_response(200, {
        "nonce": nonce, "complete": True, "keys": [s.hex() for s in shares],
        "keys_base64": [base64.b64encode(s).decode() for s in shares],
        "pgp_fingerprints": None, "backup": False, "verification_required": False,
        "verification_nonce": ""})


ROUTES: dict[str, Route] = {
    "sys/rekey-recovery-key/init": Route({"GET": read_init, "PUT": start, "DELETE": cancel},
                                         auth=False),
    "sys/rekey-recovery-key/update": Route({"PUT": update}, auth=False),
}
