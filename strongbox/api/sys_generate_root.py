"""sys/generate-root/attempt|update and sys/decode-token (Vault): a break-glass root
token from a threshold of unseal key shares, handed out encoded with a one-time pad.

Unauthenticated, as in Vault (the shares are the authority); needs an unsealed node.
The attempt is replicated (`GenerateRootAttempt` in the store, `state/apply_keys.py`):
shares may be given to different nodes, each one sealed by the barrier before it is
proposed (never in clear in the log) and fingerprinted with a keyed hash so a share is
counted once. The node that receives the last share opens them all, checks them by
opening the root key, and creates the token and ends the attempt in one Raft entry.

Encoding (Vault 1.10+): without an `otp` in the body the node makes one (base62, as
long as a token) and returns it once in `otp`; the token comes back as
`encoded_token` = base64 (no padding) of token XOR otp; `sys/decode-token` or
`vault operator generate-root -decode` reverses it. PGP keys are refused.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from strongbox.auth.tokens import new_accessor, new_service_token
from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, json_response, no_content, ok
from strongbox.barrier import envelope
from strongbox.barrier.aead import DecryptError
from strongbox.barrier.keyring import open_root_key
from strongbox.errors import BadRequest, NotInitialized, ServiceUnavailable
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.seal import shamir
from strongbox.seal import unseal as unseal_mod
from strongbox.seal.auto import recovery_matches
from strongbox.seal.migrate import share_rule
from strongbox.seal.rekey import decode_root_token, encode_root_token, new_otp

OTP_LENGTH = len(new_service_token())  # the OTP must be exactly as long as the token


def _aad(nonce: str, what: str) -> bytes:
    return f"generate-root|{nonce}|{what}".encode()


def no_idempotency_key(ctx: Context) -> None:
    """A retry would replay the first command's result, not mint the token it reports:
    refuse keys here, as on every token-issuing request."""
    if ctx.request.idempotency is not None:
        raise BadRequest("Idempotency-Key is not supported on key ceremonies: send the "
                         "request without it")


def ceremony_cluster(ctx: Context) -> rec.ClusterRecord:
    """The cluster record a key ceremony (generate-root, rekey) works on: no
    Idempotency-Key, and 503 (not initialized) before the first sys/init."""
    no_idempotency_key(ctx)
    cluster = ctx.core.cluster()
    if cluster is None:
        raise NotInitialized()
    return cluster


def _status(ctx: Context, attempt: rec.GenerateRootAttempt | None) -> dict[str, Any]:
    cluster = ceremony_cluster(ctx)
    return {"nonce": attempt.nonce if attempt else "", "started": attempt is not None,
            "progress": len(attempt.sealed_shares) if attempt else 0,
            "required": attempt.required if attempt else share_rule(cluster)[1],
            "complete": False, "encoded_token": "", "encoded_root_token": "",
            "pgp_fingerprint": "", "otp": "", "otp_length": OTP_LENGTH}


async def read_attempt(ctx: Context) -> Response:
    return json_response(200, _status(ctx, ctx.core.store.generate_root_attempt()))


async def start(ctx: Context) -> Response:
    body = ctx.request.json_body({"otp": (str, type(None)), "pgp_key": (str, type(None))})
    if body.get("pgp_key"):
        raise BadRequest("PGP-encrypted root tokens are not supported; send no body (the "
                         "node makes an OTP) or an 'otp'")
    cluster, keyring = ceremony_cluster(ctx), ctx.core.require_keyring()
    otp = body.get("otp") or new_otp(OTP_LENGTH)
    if len(otp) != OTP_LENGTH:
        raise BadRequest(f"OTP string is wrong length: it must be {OTP_LENGTH} characters")
    nonce = str(uuid.uuid4())
    attempt = rec.GenerateRootAttempt(
        nonce=nonce, required=share_rule(cluster)[1], started_time_ns=ctx.now_ns(),
        otp_length=OTP_LENGTH, sealed_otp=envelope.encrypt(
            keyring, otp.encode(), _aad(nonce, "otp")).SerializeToString())
    result = await ctx.submit(cmd_pb.Command(generate_root_start=cmd_pb.GenerateRootStart(
        attempt=attempt)))
    if result.code == result.CONFLICT:
        raise BadRequest("root generation already in progress: cancel it with DELETE "
                         "sys/generate-root/attempt first")
    status = _status(ctx, attempt)
    if not body.get("otp"):
        status["otp"] = otp  # shown once, as Vault does
    return json_response(200, status)


async def cancel(ctx: Context) -> Response:
    await ctx.submit(cmd_pb.Command(generate_root_start=cmd_pb.GenerateRootStart(
        cancel=True)))
    return no_content()


def _attempt_for(ctx: Context, nonce: object) -> rec.GenerateRootAttempt:
    attempt = ctx.core.store.generate_root_attempt()
    if attempt is None:
        raise BadRequest("no root generation in progress: start one with PUT "
                         "sys/generate-root/attempt")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(),
                                                             attempt.nonce.encode()):
        raise BadRequest("'nonce' does not match the root generation in progress")
    return attempt


async def update(ctx: Context) -> Response:
    body = ctx.request.json_body({"key": (str,), "nonce": (str,)}, required=("key", "nonce"))
    cluster, keyring = ceremony_cluster(ctx), ctx.core.require_keyring()
    attempt = _attempt_for(ctx, body["nonce"])
    # unseal shares, or the recovery shares of a cluster with an auto-unseal seal
    share = unseal_mod.decode_share(body["key"], unseal_mod.share_length(share_rule(cluster)[0]))
    try:
        fingerprint = keyring.token_hash(f"generate-root\0{attempt.nonce}\0{share.hex()}")
        sealed = envelope.encrypt(keyring, bytes(share), _aad(attempt.nonce, "share"))
    finally:
        share[:] = b"\0" * len(share)
    result = await ctx.submit(cmd_pb.Command(generate_root_share=cmd_pb.GenerateRootShare(
        nonce=attempt.nonce, sealed_share=sealed.SerializeToString(), fingerprint=fingerprint)))
    if result.code != result.OK:
        raise BadRequest(result.message)
    current = ctx.core.store.generate_root_attempt()
    if result.version < attempt.required or current is None:
        return json_response(200, _status(ctx, current))
    return await _finish(ctx, cluster, current)


def _unseal_key(ctx: Context, attempt: rec.GenerateRootAttempt) -> bytearray:
    keyring = ctx.core.require_keyring()
    shares = [envelope.decrypt(keyring, rec.Envelope.FromString(raw), _aad(attempt.nonce,
                                                                          "share"))
              for raw in attempt.sealed_shares]
    if len(shares) == 1:
        return bytearray(shares[0])
    return bytearray(shamir.combine(shares))


async def _finish(ctx: Context, cluster: rec.ClusterRecord,
                  attempt: rec.GenerateRootAttempt) -> Response:
    """The threshold is in: check the shares, then mint the token and end the attempt."""
    try:
        unseal_key = _unseal_key(ctx, attempt)
        try:
            if cluster.seal_type:
                if not recovery_matches(unseal_key, cluster.recovery_check):
                    raise DecryptError("wrong recovery key")
            else:
                open_root_key(unseal_key, cluster.sealed_root_key)[:] = b"\0" * 32
        finally:
            unseal_key[:] = b"\0" * len(unseal_key)
    except (DecryptError, shamir.ShamirError):
        await ctx.submit(cmd_pb.Command(generate_root_finish=cmd_pb.GenerateRootFinish(
            nonce=attempt.nonce, failed=True)))
        what = "recovery key" if cluster.seal_type else "unseal key"
        raise BadRequest("root generation failed: the shares do not reconstruct this "
                         f"cluster's {what}; the attempt was cancelled, start again") from None
    keyring = ctx.core.require_keyring()
    otp = envelope.decrypt(keyring, rec.Envelope.FromString(attempt.sealed_otp),
                           _aad(attempt.nonce, "otp")).decode()
    token, now = new_service_token(), ctx.now_ns()
    record = rec.TokenRecord(accessor=new_accessor(), policies=["root"], display_name="root",
                             creation_time_ns=now, type="service", auth_path="auth/token/root")
    result = await ctx.submit(cmd_pb.Command(generate_root_finish=cmd_pb.GenerateRootFinish(
        nonce=attempt.nonce, token=cmd_pb.TokenCreate(token_hash=keyring.token_hash(token),
                                                      token=record))))
    if result.code != result.OK:
        raise ServiceUnavailable("the root token could not be created (the attempt ended "
                                 "meanwhile); start again")
    encoded = encode_root_token(token, otp)
    status = _status(ctx, attempt)
    status.update(started=False, complete=True, encoded_token=encoded,
                  encoded_root_token=encoded)
    return json_response(200, status)


async def decode_token(ctx: Context) -> Response:
    body = ctx.request.json_body({"encoded_token": (str,), "otp": (str,)},
                                 required=("encoded_token", "otp"))
    return ok(ctx.request.request_id,
              {"token": decode_root_token(body["encoded_token"], body["otp"])})


ROUTES: dict[str, Route] = {
    "sys/generate-root/attempt": Route({"GET": read_attempt, "PUT": start, "DELETE": cancel},
                                       auth=False),
    "sys/generate-root/update": Route({"PUT": update}, auth=False),
    "sys/decode-token": Route({"PUT": decode_token}, auth=False),
}
