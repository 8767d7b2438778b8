"""Apply handlers of ACL policies and tokens (called by `state.apply` only).

Tokens live under their keyed hash (`tokens`), with an accessor index
(`token_accessors`: accessor -> hash) and a parent -> child index
(`token_children`: "parent\\0child" -> ""). Revoking a token revokes its whole
tree in the same transaction, so a revoked parent's children stop working on
every node as soon as the entry is applied there.
"""

from __future__ import annotations

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.lifetimes import lapsed
from strongbox.state.store import Store, txn_get

Result = rec.ApplyResult
MAX_TREE = 100_000  # a bound on one revocation; beyond it the tree is cut at this size


def bump_policies(store: Store, txn: lmdb.Transaction) -> None:
    raw = txn_get(txn, keys.POLICY_GENERATION, store.db["meta"])
    txn.put(keys.POLICY_GENERATION, keys.u64((keys.from_u64(raw) if raw else 0) + 1),
            db=store.db["meta"])


def put_policy(store: Store, txn: lmdb.Transaction, namespace: str,
               policy: rec.PolicyRecord) -> None:
    txn.put(keys.policy_key(namespace, policy.name), policy.SerializeToString(),
            db=store.db["policies"])
    bump_policies(store, txn)


def apply_policy_write(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.policy_write
    if op.namespace and txn_get(txn, op.namespace.encode(), store.db["namespaces"]) is None:
        return Result(code=Result.NOT_FOUND, message=f"namespace {op.namespace!r} was deleted")
    old = txn_get(txn, keys.policy_key(op.namespace, op.policy.name), store.db["policies"])
    if old is not None:
        op.policy.created_time_ns = rec.PolicyRecord.FromString(old).created_time_ns
    put_policy(store, txn, op.namespace, op.policy)
    return Result(code=Result.OK)


def apply_policy_delete(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    name = keys.policy_key(command.policy_delete.namespace, command.policy_delete.name)
    if txn_get(txn, name, store.db["policies"]) is not None:
        txn.delete(name, db=store.db["policies"])
        bump_policies(store, txn)
    return Result(code=Result.OK)  # deleting a missing policy succeeds, as in Vault


def put_token(store: Store, txn: lmdb.Transaction, token_hash: bytes,
              token: rec.TokenRecord) -> None:
    token.token_hash = token_hash
    txn.put(token_hash, token.SerializeToString(), db=store.db["tokens"])
    txn.put(token.accessor.encode(), token_hash, db=store.db["token_accessors"])
    if token.parent_accessor:
        txn.put(keys.child_key(token.parent_accessor, token.accessor), b"",
                db=store.db["token_children"])


def create_token(store: Store, txn: lmdb.Transaction, op: cmd_pb.TokenCreate) -> Result:
    parent = op.token.parent_accessor
    if parent and txn_get(txn, parent.encode(), store.db["token_accessors"]) is None:
        return Result(code=Result.INVALID, message="the parent token was revoked")
    namespace = op.token.namespace
    if namespace and txn_get(txn, namespace.encode(), store.db["namespaces"]) is None:
        return Result(code=Result.NOT_FOUND, message=f"namespace {namespace!r} was deleted")
    put_token(store, txn, op.token_hash, op.token)
    return Result(code=Result.OK)


def apply_token_create(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    return create_token(store, txn, command.token_create)


def _children(store: Store, txn: lmdb.Transaction, accessor: str) -> list[str]:
    prefix = f"{accessor}\0".encode()
    cursor = txn.cursor(db=store.db["token_children"])
    out: list[str] = []
    if cursor.set_range(prefix):
        for raw in cursor.iternext(keys=True, values=False):
            key = bytes(raw)
            if not key.startswith(prefix):
                break
            out.append(key[len(prefix):].decode())
    return out


def delete_token(store: Store, txn: lmdb.Transaction, accessor: str) -> rec.TokenRecord | None:
    token_hash = txn_get(txn, accessor.encode(), store.db["token_accessors"])
    if token_hash is None:
        return None
    raw = txn_get(txn, token_hash, store.db["tokens"])
    txn.delete(accessor.encode(), db=store.db["token_accessors"])
    txn.delete(token_hash, db=store.db["tokens"])
    if raw is None:
        return None
    token = rec.TokenRecord.FromString(raw)
    if token.parent_accessor:
        txn.delete(keys.child_key(token.parent_accessor, accessor),
                   db=store.db["token_children"])
    return token


def apply_token_revoke(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.token_revoke
    if txn_get(txn, op.accessor.encode(), store.db["token_accessors"]) is None:
        return Result(code=Result.OK)  # already gone: revocation is idempotent
    if op.orphan_children:
        for child in _children(store, txn, op.accessor):
            _orphan(store, txn, op.accessor, child)
        delete_token(store, txn, op.accessor)
        return Result(code=Result.OK)
    return Result(code=Result.OK, version=revoke_tree(store, txn, op.accessor))


def revoke_tree(store: Store, txn: lmdb.Transaction, accessor: str) -> int:
    pending, revoked = [accessor], 0
    while pending and revoked < MAX_TREE:
        current = pending.pop()
        pending.extend(_children(store, txn, current))
        delete_token(store, txn, current)
        revoked += 1
    return revoked


def token_at(store: Store, txn: lmdb.Transaction,
              accessor: str) -> tuple[bytes, rec.TokenRecord] | None:
    """(hash it is stored under, record) of the token with this accessor, if it exists."""
    token_hash = txn_get(txn, accessor.encode(), store.db["token_accessors"])
    raw = txn_get(txn, token_hash, store.db["tokens"]) if token_hash else None
    if token_hash is None or raw is None:
        return None
    return token_hash, rec.TokenRecord.FromString(raw)


def _orphan(store: Store, txn: lmdb.Transaction, parent: str, child: str) -> None:
    txn.delete(keys.child_key(parent, child), db=store.db["token_children"])
    found = token_at(store, txn, child)
    if found is None:
        return
    token_hash, token = found
    token.parent_accessor = ""
    txn.put(token_hash, token.SerializeToString(), db=store.db["tokens"])


def apply_wrap_store(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.wrap_store
    txn.put(op.token_hash, op.record.SerializeToString(), db=store.db["wrapped"])
    return Result(code=Result.OK)


def apply_wrap_consume(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    token_hash = command.wrap_consume.token_hash
    raw = txn_get(txn, token_hash, store.db["wrapped"])
    if raw is None:
        return Result(code=Result.NOT_FOUND, message="wrapping token is not valid or does "
                                                     "not exist (it may have been unwrapped)")
    txn.delete(token_hash, db=store.db["wrapped"])
    if lapsed(rec.WrappedRecord.FromString(raw), command.time_ns):
        return Result(code=Result.NOT_FOUND, message="wrapping token has expired")
    return Result(code=Result.OK)


def apply_token_renew(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    op = command.token_renew
    found = token_at(store, txn, op.accessor)
    if found is None:
        return Result(code=Result.NOT_FOUND, message="the token was revoked")
    token_hash, token = found
    if lapsed(token, command.time_ns):
        return Result(code=Result.NOT_FOUND, message="the token has expired")
    token.ttl_ns = op.ttl_ns
    txn.put(token_hash, token.SerializeToString(), db=store.db["tokens"])
    return Result(code=Result.OK)


def apply_token_use(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    """Spend one use: OK with the uses left (0 = that was the last, the token is gone)."""
    accessor = command.token_use.accessor
    found = token_at(store, txn, accessor)
    if found is None:
        return Result(code=Result.NOT_FOUND, message="the token has no uses left or was revoked")
    token_hash, token = found
    if token.num_uses <= 1:
        revoke_tree(store, txn, accessor)
        return Result(code=Result.OK, version=0)
    token.num_uses -= 1
    txn.put(token_hash, token.SerializeToString(), db=store.db["tokens"])
    return Result(code=Result.OK, version=token.num_uses)
