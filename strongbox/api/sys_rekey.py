"""sys/rekey/init|update|verify|backup (Vault): new unseal key shares from a threshold
of the old ones; the root key, and so every stored value, stays as it is.

Unauthenticated, as in Vault (the shares are the authority); needs an unsealed node.
The ceremony is per node and in memory (`seal/rekey.py`): give every share of one rekey
to the same node. The new sealed root key is committed through Raft (`RekeyCommit`),
so every node unseals with the new shares afterwards and refuses the old ones.
PGP-encrypted shares and their backup are not supported (400). Recovery keys of an
auto-unseal seal are rekeyed by `sys/rekey-recovery-key/*` (api/sys_rekey_recovery.py).
"""

from __future__ import annotations

import base64
import hmac
import uuid
from typing import Any

from strongbox.api.sys_generate_root import ceremony_cluster, no_idempotency_key
from strongbox.api.sys_seal import check_shares
from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, json_response, no_content
from strongbox.barrier.aead import DecryptError, cipher_for, new_key, seal
from strongbox.barrier.keyring import ROOT_KEY_AAD, open_root_key
from strongbox.errors import BadRequest, ServiceUnavailable
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.seal import unseal as unseal_mod
from strongbox.seal.rekey import PendingRekey, RekeyCeremony

INIT_SCHEMA = {"secret_shares": (int,), "secret_threshold": (int,),
               "pgp_keys": (list, type(None)), "backup": (bool, type(None)),
               "require_verification": (bool, type(None))}
UPDATE_SCHEMA = {"key": (str,), "nonce": (str,)}


def _status(ctx: Context) -> dict[str, Any]:
    ceremony, cluster = ctx.core.rekey, ceremony_cluster(ctx)
    return {"nonce": ceremony.nonce, "started": ceremony.started, "t": ceremony.secret_threshold,
            "n": ceremony.secret_shares, "progress": ceremony.progress.progress,
            "required": cluster.secret_threshold, "pgp_fingerprints": None, "backup": False,
            "verification_required": ceremony.require_verification}


async def read_init(ctx: Context) -> Response:
    return json_response(200, _status(ctx))


async def start(ctx: Context) -> Response:
    body = ctx.request.json_body(INIT_SCHEMA, required=("secret_shares", "secret_threshold"))
    if body.get("pgp_keys") or body.get("backup"):
        raise BadRequest("PGP-encrypted shares and their backup are not supported; omit "
                         "pgp_keys and backup")
    cluster = ceremony_cluster(ctx)
    if cluster.seal_type:
        raise BadRequest(f"this cluster uses the {cluster.seal_type} seal: it has recovery "
                         "keys, not unseal keys; rekey them with sys/rekey-recovery-key")
    check_shares(body["secret_shares"], body["secret_threshold"])
    ctx.core.rekey.start(body["secret_shares"], body["secret_threshold"],
                         bool(body.get("require_verification")))
    return json_response(200, _status(ctx))


async def cancel(ctx: Context) -> Response:
    ctx.core.rekey.cancel()
    return no_content()


def _old_root_key(ctx: Context, cluster: rec.ClusterRecord, key: str) -> bytearray | None:
    """Add an old share; the root key once the old threshold is in (None before)."""
    share = unseal_mod.decode_share(key, unseal_mod.share_length(cluster.secret_shares))
    unseal_key = ctx.core.rekey.progress.add(share, cluster.secret_threshold)
    if unseal_key is None:
        return None
    try:
        return open_root_key(unseal_key, cluster.sealed_root_key)
    except DecryptError:
        raise BadRequest("rekey failed: the submitted shares do not reconstruct this "
                         "cluster's unseal key; progress was reset, submit them again") from None
    finally:
        unseal_key[:] = b"\0" * len(unseal_key)


async def update(ctx: Context) -> Response:
    body = ctx.request.json_body(UPDATE_SCHEMA, required=("key", "nonce"))
    ceremony, cluster = ctx.core.rekey, ceremony_cluster(ctx)
    ceremony.check_nonce(body["nonce"], ceremony.nonce, "rekey")
    if ceremony.pending is not None:
        raise BadRequest("the new shares are waiting for verification: use sys/rekey/verify")
    root_key = _old_root_key(ctx, cluster, body["key"])
    if root_key is None:
        return json_response(200, _status(ctx))
    new_unseal = new_key()
    try:
        sealed_root = seal(cipher_for(new_unseal), bytes(root_key), ROOT_KEY_AAD)
    finally:
        root_key[:] = b"\0" * len(root_key)
    shares = unseal_mod.split_unseal_key(new_unseal, ceremony.secret_shares,
                                         ceremony.secret_threshold)
    answer: dict[str, Any] = {
        "nonce": ceremony.nonce, "complete": True, "keys": [s.hex() for s in shares],
        "keys_base64": [base64.b64encode(s).decode() for s in shares],
        "pgp_fingerprints": None, "backup": False,
        "verification_required": ceremony.require_verification, "verification_nonce": ""}
    if ceremony.require_verification:
        pending = PendingRekey(new_unseal, sealed_root, cluster.sealed_root_key,
                               verification_nonce=_new_nonce())
        ceremony.pending = pending
        answer["verification_nonce"] = pending.verification_nonce
        return json_response(200, answer)
    new_unseal[:] = b"\0" * len(new_unseal)
    await _commit(ctx, ceremony, cluster.sealed_root_key, sealed_root)
    return json_response(200, answer)


def _new_nonce() -> str:
    return str(uuid.uuid4())


async def _commit(ctx: Context, ceremony: RekeyCeremony, previous: bytes, sealed: bytes) -> None:
    shares, threshold = ceremony.secret_shares, ceremony.secret_threshold
    ceremony.cancel()  # whatever the outcome: the ceremony is over on this node
    result = await ctx.submit(cmd_pb.Command(rekey_commit=cmd_pb.RekeyCommit(
        previous_sealed_root_key=previous, sealed_root_key=sealed, secret_shares=shares,
        secret_threshold=threshold)))
    if result.code == result.CONFLICT:
        raise BadRequest(f"rekey failed: {result.message}")
    if result.code != result.OK:
        raise ServiceUnavailable("the rekey could not be committed; the old shares still "
                                 "unseal the cluster: start again")


def _verify_status(ctx: Context) -> dict[str, Any]:
    ceremony = ctx.core.rekey
    pending = ceremony.pending
    return {"nonce": pending.verification_nonce if pending else "", "started": pending is not None,
            "t": ceremony.secret_threshold, "n": ceremony.secret_shares,
            "progress": pending.verify.progress if pending else 0}


async def read_verify(ctx: Context) -> Response:
    return json_response(200, _verify_status(ctx))


async def restart_verify(ctx: Context) -> Response:
    """DELETE sys/rekey/verify: forget the verification shares given so far (Vault)."""
    pending = ctx.core.rekey.pending
    if pending is not None:
        pending.verify.reset()
        pending.verification_nonce = _new_nonce()
    return json_response(200, _verify_status(ctx))


async def verify(ctx: Context) -> Response:
    no_idempotency_key(ctx)
    body = ctx.request.json_body(UPDATE_SCHEMA, required=("key", "nonce"))
    ceremony = ctx.core.rekey
    pending = ceremony.pending
    ceremony.check_nonce(body["nonce"], pending.verification_nonce if pending else "",
                         "rekey verification")
    assert pending is not None
    share = unseal_mod.decode_share(body["key"], unseal_mod.share_length(ceremony.secret_shares))
    combined = pending.verify.add(share, ceremony.secret_threshold)
    if combined is None:
        return json_response(200, _verify_status(ctx))
    try:
        matches = hmac.compare_digest(bytes(combined), bytes(pending.unseal_key))
    finally:
        combined[:] = b"\0" * len(combined)
    if not matches:
        raise BadRequest("verification failed: the shares do not reconstruct the new unseal "
                         "key; progress was reset, submit the new shares again")
    nonce = pending.verification_nonce
    await _commit(ctx, ceremony, pending.previous_sealed_root_key, pending.sealed_root_key)
    return json_response(200, {"nonce": nonce, "complete": True})


async def backup(ctx: Context) -> Response:
    raise BadRequest("no rekey backup exists: StrongBox does not support PGP-encrypted "
                     "shares, so backup=true is refused at sys/rekey/init")


async def recovery(ctx: Context) -> Response:
    raise BadRequest("sys/rekey-recovery-key serves init and update only (no verify or "
                     "backup): see docs/seals.md")


ROUTES: dict[str, Route] = {
    "sys/rekey/init": Route({"GET": read_init, "PUT": start, "DELETE": cancel}, auth=False),
    "sys/rekey/update": Route({"PUT": update}, auth=False),
    "sys/rekey/verify": Route({"GET": read_verify, "PUT": verify, "DELETE": restart_verify},
                              auth=False),
    "sys/rekey/backup": Route({"GET": backup, "DELETE": backup}, sudo=True),
}
PREFIX_ROUTES: dict[str, Route] = {
    "sys/rekey-recovery-key/": Route({"GET": recovery, "PUT": recovery, "DELETE": recovery},
                                     auth=False),
}
