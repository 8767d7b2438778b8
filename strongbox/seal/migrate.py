"""Opening the root key with each seal, and seal migration (docs/seals.md §migration).

`auto_open(cluster, seal)` is auto-unseal: the seal unwraps the stored unseal key,
which opens the root key. `migrate(cluster, key, target, previous)` is `sys/unseal`
with `migrate=true`, once the key holders' shares have been combined into `key`:

- shamir → auto (`target` set, the cluster stores shamir): `key` is the unseal key;
  it is wrapped by `target` and stored, and the key holders' shares become the
  recovery keys (same shares, same threshold). The unseal key does not change, so a
  node still configured for Shamir keeps unsealing with those shares until it is
  reconfigured: no moment where nothing can unseal.
- auto → shamir (`target` None): `key` is the recovery key (checked against
  `recovery_check`); the root key is opened with the stored unseal key, unwrapped by
  `previous` (the old seal, `[previous_seal]`), or directly when the recovery key is
  the unseal key (a cluster that came from Shamir); then the root key is sealed under
  the recovery key, which becomes the unseal key, and the recovery shares become the
  unseal shares.
- auto → another auto: `key` is the recovery key; the unseal key is unwrapped with
  `previous` and wrapped with `target`; recovery keys stay.

Each returns the opened root key and the new cluster record (propose it as one
`SealMigrate`; the root key and every other record stay as they are). Calls block on
the key managers: run them in a worker thread.
"""

from __future__ import annotations

from strongbox.barrier.aead import DecryptError, cipher_for, seal
from strongbox.barrier.keyring import ROOT_KEY_AAD, open_root_key
from strongbox.errors import BadRequest, SealUnavailable, UnsealFailed
from strongbox.pb import records_pb2 as rec
from strongbox.seal.auto import AutoSeal, recovery_check, recovery_matches

WRONG = ("unseal failed: the submitted shares do not reconstruct this cluster's {what} "
         "(a share is wrong or belongs to another cluster); progress was reset, submit the "
         "shares again")


def stored_type(cluster: rec.ClusterRecord) -> str:
    return cluster.seal_type or "shamir"


def share_rule(cluster: rec.ClusterRecord) -> tuple[int, int]:
    """(shares, threshold) of the shares a migration takes: unseal shares of a Shamir
    cluster, recovery shares of an auto-unseal one."""
    if cluster.seal_type:
        return cluster.recovery_shares, cluster.recovery_threshold
    return cluster.secret_shares, cluster.secret_threshold


def auto_open(cluster: rec.ClusterRecord, seal_: AutoSeal) -> bytearray:
    """The root key, through the seal (SealUnavailable when it cannot)."""
    unseal_key = bytearray(seal_.unwrap(cluster.wrapped_unseal_key))
    try:
        return open_root_key(unseal_key, cluster.sealed_root_key)
    except DecryptError:
        raise SealUnavailable(f"the {seal_.type} seal unwrapped a key that does not open this "
                              "cluster's root key: the seal's key belongs to another "
                              "cluster") from None
    finally:
        unseal_key[:] = b"\0" * len(unseal_key)


def _open_with_recovery(cluster: rec.ClusterRecord, key: bytearray,
                        previous: AutoSeal | None) -> bytearray:
    if not recovery_matches(key, cluster.recovery_check):
        raise UnsealFailed(WRONG.format(what="recovery key"))
    try:
        return open_root_key(key, cluster.sealed_root_key)  # recovery key == unseal key
    except DecryptError:
        pass
    if previous is None or previous.type != cluster.seal_type:
        raise BadRequest(f"this migration needs the cluster's current {cluster.seal_type} "
                         "seal to unwrap the unseal key: configure it as [previous_seal]")
    return auto_open(cluster, previous)


def migrate(cluster: rec.ClusterRecord, key: bytearray, target: AutoSeal | None,
            previous: AutoSeal | None) -> tuple[bytearray, rec.ClusterRecord]:
    new = rec.ClusterRecord()
    new.CopyFrom(cluster)
    if not cluster.seal_type:
        if target is None:
            raise BadRequest("nothing to migrate: the cluster and this node both use Shamir")
        try:
            root = open_root_key(key, cluster.sealed_root_key)
        except DecryptError:
            raise UnsealFailed(WRONG.format(what="unseal key")) from None
        new.seal_type, new.wrapped_unseal_key = target.type, target.wrap(bytes(key), True)
        new.recovery_shares, new.recovery_threshold = (cluster.secret_shares,
                                                       cluster.secret_threshold)
        new.recovery_check = recovery_check(key)
        return root, new
    root = _open_with_recovery(cluster, key, previous)
    if target is None:
        new.sealed_root_key = seal(cipher_for(key), bytes(root), ROOT_KEY_AAD)
        new.secret_shares, new.secret_threshold = (cluster.recovery_shares,
                                                   cluster.recovery_threshold)
        new.seal_type, new.wrapped_unseal_key, new.recovery_check = "", b"", b""
        new.recovery_shares = new.recovery_threshold = 0
        return root, new
    if target.type == cluster.seal_type:
        raise BadRequest(f"nothing to migrate: the cluster already uses the {target.type} seal")
    if previous is None or previous.type != cluster.seal_type:
        raise BadRequest(f"this migration needs the cluster's current {cluster.seal_type} "
                         "seal to unwrap the unseal key: configure it as [previous_seal]")
    unseal_key = bytearray(previous.unwrap(cluster.wrapped_unseal_key))
    try:
        new.seal_type, new.wrapped_unseal_key = target.type, target.wrap(bytes(unseal_key), True)
    finally:
        unseal_key[:] = b"\0" * len(unseal_key)
    return root, new
