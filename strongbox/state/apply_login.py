"""Apply handlers of auth methods: their records, logins and failed logins.

Called by `state.apply` only. The proposer computes auth-method records
(userpass users, AppRole roles, secret ids) and sends them as plain writes to
the mount's storage (`MountWrite`, `state.apply_mount`); apply only checks the
preconditions it was given. A `Login` spends a secret id use, forgets the
user's failed attempts and creates the token in one transaction, so a
single-use secret id logs in exactly once across the cluster. `LoginFailure`
counts consecutive failures and locks the user at the limit.
"""

from __future__ import annotations

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply_auth import create_token
from strongbox.state.apply_mount import GONE, mount_gone
from strongbox.state.lifetimes import lapsed
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult


def apply_login(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.login
    db = store.db["auth_entries"]
    if op.consume_secret_id:
        raw = txn_get(txn, op.consume_secret_id, db)
        if raw is None:
            return Result(code=Result.NOT_FOUND, message="invalid secret id")
        secret = rec.SecretIdRecord.FromString(raw)
        index = keys.secret_id_accessor_key(op.consume_secret_id, secret.accessor)
        if lapsed(secret, command.time_ns):
            txn.delete(op.consume_secret_id, db=db)
            txn.delete(index, db=db)
            return Result(code=Result.NOT_FOUND, message="invalid secret id")
        if secret.num_uses == 1:
            txn.delete(op.consume_secret_id, db=db)
            txn.delete(index, db=db)
        elif secret.num_uses > 1:
            secret.num_uses -= 1
            txn.put(op.consume_secret_id, secret.SerializeToString(), db=db)
    if op.reset_key:
        txn.delete(op.reset_key, db=db)
    if op.token.token_hash:
        return create_token(store, txn, op.token)
    return Result(code=Result.OK)  # batch tokens are not stored


def apply_login_failure(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    """Count a failure; `version` is the count; LOCKED when this failure locked the user."""
    op = command.login_failure
    db = store.db["auth_entries"]
    if mount_gone(store, txn, op.mount):
        return Result(code=Result.NOT_FOUND, message=GONE)
    raw = txn_get(txn, op.key, db)
    state = rec.LoginState.FromString(raw) if raw else rec.LoginState()
    now = command.time_ns
    if state.locked_until_ns and state.locked_until_ns <= now:
        state = rec.LoginState()  # the lock ran out: start counting again
    elif not state.locked_until_ns and op.reset_after_ns and \
            state.last_failure_ns + op.reset_after_ns <= now:
        state = rec.LoginState()  # the earlier failures are too old to count
    state.failures += 1
    state.last_failure_ns = command.time_ns
    code = Result.OK
    if state.failures >= op.max_failures > 0 and not state.locked_until_ns:
        state.locked_until_ns = command.time_ns + op.lock_ns
        code = Result.LOCKED
    txn.put(op.key, state.SerializeToString(), db=db)
    return Result(code=code, version=state.failures)
