"""Apply of lease-count quotas (`sys/quotas/lease-count/:name`), kept in the meta table
under "quota\\0<name>". Writing a quota replaces it (its creation time is kept);
deleting a missing one succeeds, as in Vault."""

from __future__ import annotations

import lmdb

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state.store import QUOTA_PREFIX, Store, txn_get

Result = rec.ApplyResult


def _key(name: str) -> bytes:
    return QUOTA_PREFIX + name.encode()


def apply_quota_write(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    quota = command.quota_write.quota
    old = txn_get(txn, _key(quota.name), store.db["meta"])
    if old is not None:
        quota.created_time_ns = rec.LeaseQuota.FromString(old).created_time_ns
    else:
        quota.created_time_ns = command.time_ns
    txn.put(_key(quota.name), quota.SerializeToString(), db=store.db["meta"])
    return Result(code=Result.OK)


def apply_quota_delete(store: Store, txn: lmdb.Transaction, command: cmd_pb.Command) -> Result:
    txn.delete(_key(command.quota_delete.name), db=store.db["meta"])
    return Result(code=Result.OK)


HANDLERS = {"quota_write": apply_quota_write, "quota_delete": apply_quota_delete}
