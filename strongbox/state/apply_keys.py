"""Apply handlers of the key ceremonies: rekey and the generate-root attempt.

- `rekey_commit`: the cluster record gets the root key sealed under a new unseal key
  and the new share count and threshold, only if its sealed root key is still the one
  the proposer opened (a racing rekey or restore wins; the loser gets CONFLICT). The
  root key, hence every KEK and every stored value, is unchanged.
- `generate_root_start`: stores the attempt (meta/generate-root); CONFLICT if one is
  already running. With `cancel`, drops whatever attempt runs (Vault's DELETE).
- `generate_root_share`: adds a sealed share to the attempt with that nonce. INVALID
  for a wrong nonce or a share already given (keyed-hash fingerprint), CONFLICT once
  the threshold is reached. `ApplyResult.version` is the progress after the share.
- `generate_root_finish`: ends the attempt with that nonce and, unless `failed`,
  creates the new root token in the same entry (so exactly one token comes out).

Deterministic: the proposer made every random value and ciphertext. Nothing here is
secret in clear: shares and the OTP are barrier envelopes, the token a keyed hash.
"""

from __future__ import annotations

import hmac

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import apply_auth, keys
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult


def _attempt(store: Store, txn: lmdb.Transaction) -> rec.GenerateRootAttempt | None:
    raw = txn_get(txn, keys.GENERATE_ROOT, store.db["meta"])
    return rec.GenerateRootAttempt.FromString(raw) if raw is not None else None


def apply_rekey_commit(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.rekey_commit
    raw = txn_get(txn, keys.CLUSTER, store.db["meta"])
    if raw is None:
        return Result(code=Result.INVALID, message="StrongBox is not initialized")
    cluster = rec.ClusterRecord.FromString(raw)
    if not hmac.compare_digest(cluster.sealed_root_key, op.previous_sealed_root_key):
        return Result(code=Result.CONFLICT, message="the unseal key changed meanwhile "
                                                    "(another rekey or a restore); start again")
    if not 1 <= op.secret_threshold <= op.secret_shares <= 255 or not op.sealed_root_key:
        return Result(code=Result.INVALID, message="invalid rekey parameters")
    cluster.sealed_root_key = op.sealed_root_key
    cluster.secret_shares, cluster.secret_threshold = op.secret_shares, op.secret_threshold
    txn.put(keys.CLUSTER, cluster.SerializeToString(), db=store.db["meta"])
    return Result(code=Result.OK)


def apply_seal_migrate(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    """The cluster's seal changes; identity and init time must match (a restore or another
    migration meanwhile: CONFLICT, start again)."""
    new = command.seal_migrate.cluster
    raw = txn_get(txn, keys.CLUSTER, store.db["meta"])
    if raw is None:
        return Result(code=Result.INVALID, message="StrongBox is not initialized")
    cluster = rec.ClusterRecord.FromString(raw)
    if (cluster.cluster_id, cluster.init_time_ns) != (new.cluster_id, new.init_time_ns):
        return Result(code=Result.CONFLICT, message="the cluster changed meanwhile; start again")
    if not new.sealed_root_key or (new.seal_type and not new.wrapped_unseal_key):
        return Result(code=Result.INVALID, message="invalid seal migration")
    txn.put(keys.CLUSTER, new.SerializeToString(), db=store.db["meta"])
    return Result(code=Result.OK)


def apply_generate_root_start(store: Store, txn: lmdb.Transaction,
                              command: cmd_pb.Command) -> Result:
    op = command.generate_root_start
    if op.cancel:
        txn.delete(keys.GENERATE_ROOT, db=store.db["meta"])
        return Result(code=Result.OK)
    if _attempt(store, txn) is not None:
        return Result(code=Result.CONFLICT, message="a root generation is already in "
                                                    "progress; cancel it first")
    txn.put(keys.GENERATE_ROOT, op.attempt.SerializeToString(), db=store.db["meta"])
    return Result(code=Result.OK)


def apply_generate_root_share(store: Store, txn: lmdb.Transaction,
                              command: cmd_pb.Command) -> Result:
    op = command.generate_root_share
    attempt = _attempt(store, txn)
    if attempt is None:
        return Result(code=Result.NOT_FOUND, message="no root generation is in progress")
    if not hmac.compare_digest(attempt.nonce.encode(), op.nonce.encode()):
        return Result(code=Result.INVALID, message="the nonce does not match the root "
                                                   "generation in progress")
    if len(attempt.sealed_shares) >= attempt.required:
        return Result(code=Result.CONFLICT, version=len(attempt.sealed_shares),
                      message="the threshold was already reached")
    if any(hmac.compare_digest(op.fingerprint, seen) for seen in attempt.fingerprints):
        return Result(code=Result.INVALID, version=len(attempt.sealed_shares),
                      message="this key share was already given in this attempt")
    attempt.sealed_shares.append(op.sealed_share)
    attempt.fingerprints.append(op.fingerprint)
    txn.put(keys.GENERATE_ROOT, attempt.SerializeToString(), db=store.db["meta"])
    return Result(code=Result.OK, version=len(attempt.sealed_shares))


def apply_generate_root_finish(store: Store, txn: lmdb.Transaction,
                               command: cmd_pb.Command) -> Result:
    op = command.generate_root_finish
    attempt = _attempt(store, txn)
    if attempt is None or not hmac.compare_digest(attempt.nonce.encode(), op.nonce.encode()):
        return Result(code=Result.NOT_FOUND, message="the root generation is no longer "
                                                     "in progress")
    txn.delete(keys.GENERATE_ROOT, db=store.db["meta"])
    if op.failed:
        return Result(code=Result.OK)
    return apply_auth.create_token(store, txn, op.token)


HANDLERS = {
    "rekey_commit": apply_rekey_commit,
    "seal_migrate": apply_seal_migrate,
    "generate_root_start": apply_generate_root_start,
    "generate_root_share": apply_generate_root_share,
    "generate_root_finish": apply_generate_root_finish,
}
