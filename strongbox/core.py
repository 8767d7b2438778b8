"""Core: one node's seal state, authentication and write submission.

The API layer talks to the node through `Core` only: it owns the store (reads),
the command log (writes), the unseal ceremony and the keyring of an unsealed
node. Engines receive a `Core` and build commands; `Core.submit` stamps the
request id and the proposer's clock and sends them through Raft.

Threading: every method is called from the asyncio loop. The keyring is read
by the apply thread only through the store (sealed records), never through
this object.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from strongbox.audit import AuditBroker
from strongbox.audit_sync import AuditSync
from strongbox.auth.throttle import Throttle
from strongbox.auth.tokens import (
    BATCH_PREFIX,
    expired,
    new_accessor,
    new_service_token,
    open_batch_token,
)
from strongbox.barrier.aead import DecryptError
from strongbox.barrier.keyring import (
    AUDIT_HMAC,
    TOKEN_HMAC,
    Keyring,
    generate_init_material,
    kek_name,
    open_root_key,
)
from strongbox.clock import SYSTEM, Clock
from strongbox.config import NodeConfig
from strongbox.errors import (
    BadRequest,
    InternalError,
    NoLeader,
    NotInitialized,
    PermissionDenied,
    RateLimited,
    Sealed,
    StoreFull,
    UnsealFailed,
)
from strongbox.obs import inject_metadata
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.policy import (
    ACL,
    DEFAULT_POLICY,
    DEFAULT_POLICY_NAME,
    ROOT_POLICY_NAME,
    parse_policy,
)
from strongbox.raft.log import CommandLog
from strongbox.seal import auto as seal_auto
from strongbox.seal import unseal as unseal_mod
from strongbox.seal.rekey import RekeyCeremony
from strongbox.state import snapshot
from strongbox.state.store import Store

MAX_ANCESTRY = 64  # parent links followed per request; deeper trees are cut by revocation


class WriteOrigin(Protocol):
    """The request a write is made for (`backend.request.Request` is one): its
    Idempotency-Key goes into every command, and the highest Raft index written comes
    back in `write_index` (the API turns it into X-Vault-Index). `writes` counts the
    commands submitted for it: the n-th carries the key's n-th request id, so a request
    made of several writes has each step remembered on its own (one id for all made
    every step after the first answer with the first's remembered result)."""

    idempotency: tuple[str, bytes] | None
    write_index: int
    writes: int


@dataclass(frozen=True, slots=True)
class InitResult:
    shares: list[bytes]
    root_token: str
    recovery_shares: list[bytes] = dataclasses.field(default_factory=list)


def _same_cluster(current: bytes, unsealed: bytes | None) -> bool:
    """Same cluster identity: a rekey changes the sealed root key and the share counts,
    never the root key; a forced restore of another cluster changes the identity."""
    if unsealed is None:
        return False
    now, then = rec.ClusterRecord.FromString(current), rec.ClusterRecord.FromString(unsealed)
    return (now.cluster_id, now.init_time_ns) == (then.cluster_id, then.init_time_ns)


MAP_FULL_AT = 0.9  # the LMDB map fraction above which new writes answer 507


class Core:
    def __init__(self, config: NodeConfig, store: Store, log: CommandLog,
                 clock: Clock = SYSTEM) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.log = log
        self.keyring: Keyring | None = None
        # The node's seal (None: Shamir) and, while migrating away from one, the old one
        self.auto_seal = seal_auto.build(config.seal)
        self.previous_seal = seal_auto.build(config.previous_seal) \
            if config.previous_seal is not None else None
        self.seal_error = ""  # why auto-unseal has not worked yet (sys/seal-status)
        self.operator_sealed = False  # sealed by sys/seal: no auto-unseal until restart
        self.unseal_progress = unseal_mod.UnsealProgress()
        self.rekey = RekeyCeremony()
        self._unsealed_cluster: bytes | None = None
        self._acls: dict[tuple[str, ...], ACL] = {}
        self._acl_generation = -1
        self.audit = AuditBroker(on_failure=self._audit_failed)
        self.on_audit_failure: list[Callable[[str], None]] = []
        self.audit_sync = AuditSync(store, self.audit, Path(config.data_dir))
        self.pending_writes = 0
        self.on_write_rejected: list[Callable[[], None]] = []
        self.on_token_error: list[Callable[[str], None]] = []
        self.login_throttle = Throttle(limit=10, window_s=60.0)
        self.login_network_throttle = Throttle(limit=60, window_s=60.0)
        self.metrics_render: Callable[[], tuple[bytes, str]] | None = None
        self.on_log_level: list[Callable[[str], None]] = []  # sys/loglevel changed it
        self.on_retention: list[Callable[[int], None]] = []  # KV versions the sweeper retired
        # (name, amount) of what engines count: names are fixed words of
        # `obs.metrics.ENGINE_COUNTERS` (never a key, path or value)
        self.on_engine_count: list[Callable[[str, int], None]] = []
        self.on_engine_gauge: list[Callable[[str, float], None]] = []  # ENGINE_GAUGES
        # unsealed (the root key; copy it, the caller wipes its own) or sealed (None):
        # the read workers' supervisor passes it on (strongbox/workers/)
        self.on_keyring: list[Callable[[bytearray | None], None]] = []

    def crash_point(self, name: str) -> None:
        """Tests only (`cluster.fault_injection`): end the process at once, as kill -9
        would, when <data_dir>/faults.json lists `name` in "crash_at", so a test can stop
        a multi-step operation exactly between two of its steps."""
        if not self.config.cluster.fault_injection:
            return
        try:
            faults = json.loads((Path(self.config.data_dir) / "faults.json").read_text())
        except (OSError, ValueError):
            return
        if isinstance(faults, dict) and name in faults.get("crash_at", []):
            os._exit(137)

    def _audit_failed(self, device: str) -> None:
        for hook in self.on_audit_failure:
            hook(device)

    # --- seal state ---------------------------------------------------------

    def cluster(self) -> rec.ClusterRecord | None:
        return self.store.cluster()

    # --- snapshots over the API (blocking: run them in a worker thread) ------

    def snapshot_bytes(self) -> tuple[bytes, int]:
        """An API snapshot of this node's store and the applied index it holds."""
        return snapshot.api_snapshot_bytes(self.store)

    def restore_chunks(self, body: bytes, chunk_bytes: int
                       ) -> tuple[list[list[cmd_pb.RestoreRecord]], bytes | None]:
        """An uploaded snapshot as restore commands' records (400 if it is not one)."""
        try:
            return snapshot.restore_chunks(body, chunk_bytes)
        except snapshot.SnapshotError as exc:
            raise BadRequest(f"not a valid StrongBox snapshot: {exc}") from None

    @property
    def sealed(self) -> bool:
        return self.keyring is None

    def require_keyring(self) -> Keyring:
        keyring = self.keyring
        if keyring is None:
            if self.store.cluster() is None:
                raise NotInitialized()
            raise Sealed()
        current = self.store.cluster_raw()
        if current is not None and current != self._unsealed_cluster:
            if _same_cluster(current, self._unsealed_cluster):
                # A rekey (new shares, same root key): the opened keyring stays valid.
                self._unsealed_cluster = current
                return keyring
            # A forced snapshot restore replaced the cluster's keys under us.
            self.seal()
            raise Sealed("StrongBox was sealed: a snapshot restore replaced the cluster's "
                         "keys; unseal with the restored cluster's shares")
        return keyring

    async def initialize(self, shares: int, threshold: int, root_token: str | None = None,
                         origin: WriteOrigin | None = None, recovery_shares: int = 0,
                         recovery_threshold: int = 0) -> InitResult:
        """`sys/init`; with an auto-unseal seal, `recovery_*` replace the unseal shares
        (autounseal.seal_cluster) and the node unseals itself afterwards."""
        from strongbox import autounseal  # noqa: PLC0415 (it builds on Core)

        if self.store.cluster() is not None:
            raise BadRequest("StrongBox is already initialized")
        now = self.clock.now_ns()
        material = generate_init_material(now)
        cluster = rec.ClusterRecord(
            cluster_id=str(uuid.uuid4()), cluster_name=self.config.cluster_name,
            secret_shares=shares, secret_threshold=threshold,
            sealed_root_key=material.sealed_root_key, init_time_ns=now)
        recovery: list[bytes] = []
        if self.auto_seal is not None:
            recovery = await autounseal.seal_cluster(self, cluster, bytes(material.unseal_key),
                                                     recovery_shares, recovery_threshold)
            cluster.secret_shares = cluster.secret_threshold = 0
        token = root_token or new_service_token()
        keyring = Keyring(material.root_key, material.keys.get, lambda: 1)
        token_hash = keyring.token_hash(token)
        keyring.wipe()
        op = cmd_pb.InitCluster(
            cluster=cluster,
            keys=[cmd_pb.NamedKey(name=name, key=key) for name, key in material.keys.items()],
            mounts=[rec.MountRecord(
                path="secret/", type="kv", accessor="kv_" + secrets.token_hex(4),
                uuid=str(uuid.uuid4()), description="key/value secret storage",
                options={"version": "2"}, created_time_ns=now)],
            root_token_hash=token_hash,
            root_token=rec.TokenRecord(accessor=new_accessor(), policies=["root"],
                                       display_name="root", creation_time_ns=now,
                                       type="service", auth_path="auth/token/root"),
            policies=[rec.PolicyRecord(name=DEFAULT_POLICY_NAME, text=DEFAULT_POLICY,
                                       created_time_ns=now, updated_time_ns=now)],
        )
        result = await self.submit(cmd_pb.Command(init_cluster=op), origin=origin)
        if result.code == rec.ApplyResult.ALREADY_INITIALIZED:
            raise BadRequest("StrongBox is already initialized")
        if result.code != rec.ApplyResult.OK:
            raise InternalError("init failed")
        if self.auto_seal is not None:
            material.unseal_key[:] = b"\0" * len(material.unseal_key)
            await autounseal.auto_unseal_once(self)
            return InitResult(shares=[], root_token=token, recovery_shares=recovery)
        split = unseal_mod.split_unseal_key(material.unseal_key, shares, threshold)
        material.unseal_key[:] = b"\0" * len(material.unseal_key)
        return InitResult(shares=split, root_token=token)

    def submit_share(self, key_text: str) -> None:
        cluster = self.store.cluster()
        if cluster is None:
            raise NotInitialized()
        if self.keyring is not None:
            return
        if cluster.seal_type:
            raise BadRequest(f"this cluster uses the {cluster.seal_type} seal: nodes unseal "
                             "themselves and recovery keys cannot unseal"
                             + ("; see seal-status for why this node has not"
                                if self.auto_seal is not None else
                                "; configure [seal] (or unseal with migrate=true to move the "
                                "cluster to Shamir)"))
        if self.auto_seal is not None:
            raise BadRequest(f"this node is configured for the {self.auto_seal.type} seal but "
                             "the cluster uses Shamir: unseal with migrate=true to migrate")
        share = unseal_mod.decode_share(key_text, unseal_mod.share_length(cluster.secret_shares))
        unseal_key = self.unseal_progress.add(share, cluster.secret_threshold)
        if unseal_key is None:
            return
        try:
            root_key = open_root_key(unseal_key, cluster.sealed_root_key)
        except DecryptError:
            raise UnsealFailed(
                "unseal failed: the submitted shares do not reconstruct this cluster's "
                "unseal key (a share is wrong or belongs to another cluster); progress "
                "was reset, submit the shares again") from None
        finally:
            unseal_key[:] = b"\0" * len(unseal_key)
        self.open_keyring(root_key)

    def open_keyring(self, root_key: bytearray) -> None:
        """Unseal with the opened root key (shares, an auto-unseal seal or a migration)."""
        passed_on = bytearray(root_key) if self.on_keyring else None  # Keyring wipes its own
        try:
            self.keyring = Keyring(root_key, self.store.key_record, self.store.latest_kek_term)
            self._unsealed_cluster = self.store.cluster_raw()
            self.audit.set_hmac(self.keyring.audit_hash)
            for hook in self.on_keyring:
                hook(passed_on)
        finally:
            if passed_on is not None:
                passed_on[:] = b"\0" * len(passed_on)

    def reset_unseal(self) -> None:
        self.unseal_progress.reset()

    def seal(self, by_operator: bool = False) -> None:
        """Drop the keyring. `by_operator` (sys/seal): an auto-unseal node stays sealed
        until it restarts (or is unsealed with migrate)."""
        self.operator_sealed = self.operator_sealed or by_operator
        self.audit.set_hmac(None)
        keyring, self.keyring = self.keyring, None
        if keyring is not None:
            keyring.wipe()
            for hook in self.on_keyring:
                hook(None)
        self.unseal_progress.reset()
        self.rekey.cancel()

    # --- tokens -------------------------------------------------------------

    def authenticate(self, token: str | None) -> rec.TokenRecord:
        keyring = self.require_keyring()
        if not token:
            self._token_error("missing")
            raise PermissionDenied("permission denied: no token was sent "
                                   "(use the X-Vault-Token header)")
        if token.startswith(BATCH_PREFIX):
            record = open_batch_token(keyring, token)
        else:
            record = self.store.token(keyring.token_hash(token))
        if record is None:
            self._token_error("unknown")
            raise PermissionDenied()
        now = self.clock.now_ns()
        if expired(record, now) or not self._ancestors_live(record, now) \
                or not self._method_live(record):
            self._token_error("expired")
            raise PermissionDenied()
        if record.namespace:
            namespace = self.store.namespace(record.namespace)
            if namespace is None or namespace.id != record.namespace_id:
                # a deleted namespace's (batch) tokens, also once the name is reused
                self._token_error("unknown")
                raise PermissionDenied()
        return record

    def _ancestors_live(self, record: rec.TokenRecord, now: int) -> bool:
        """A token dies with its parent, revoked or expired, without waiting for the
        sweeper to revoke the tree. Revocation deletes the whole tree in apply; expiry is
        checked here: free until the earliest ancestor expiry recorded at creation, then
        one lookup per ancestor (chains are short)."""
        if record.type != "batch" and now < record.ancestors_expire_ns:
            return True  # none can have expired yet, and a revocation would have taken it
        # (a batch token is stored nowhere, so only a lookup tells that its parent is gone)
        parent, depth = record.parent_accessor, 0
        while parent and depth < MAX_ANCESTRY:
            ancestor = self.store.token_by_accessor(parent)
            if ancestor is None or expired(ancestor, now):
                return False
            parent, depth = ancestor.parent_accessor, depth + 1
        return True

    def _method_live(self, record: rec.TokenRecord) -> bool:
        """Disabling an auth method revokes its service tokens in apply; its batch tokens
        (stored nowhere) are checked here against the method's uuid."""
        if record.type != "batch" or not record.mount_uuid:
            return True
        mount = self.store.auth_mount(record.namespace, record.mount_path)
        return mount is not None and mount.uuid == record.mount_uuid

    async def use_token(self, record: rec.TokenRecord,
                        origin: WriteOrigin | None = None) -> None:
        """Spend one use of a limited-use token (through Raft: every node agrees)."""
        if not record.num_uses or not record.accessor:  # batch tokens have no uses to spend
            return
        result = await self.submit(cmd_pb.Command(token_use=cmd_pb.TokenUse(
            accessor=record.accessor)), origin=origin)
        if result.code != rec.ApplyResult.OK:
            self._token_error("exhausted")
            raise PermissionDenied()

    def _token_error(self, reason: str) -> None:
        for hook in self.on_token_error:
            hook(reason)

    def authorize(self, token: rec.TokenRecord, capability: str, path: str) -> None:
        """The token's policies must grant `capability` on `path` (Vault's ACL rules).

        `path` is relative to the token's namespace. A write (`update`) is also
        allowed by `create`: Vault picks one of the two by whether the path exists,
        which we do not look up for the check.
        """
        if ROOT_POLICY_NAME in token.policies:
            return
        acl = self.acl_for(token.namespace, tuple(token.policies))
        if acl.allows(path, capability):
            return
        if capability == "update" and acl.allows(path, "create"):
            return
        raise PermissionDenied()

    def acl_for(self, namespace: str, policies: tuple[str, ...]) -> ACL:
        """The compiled ACL of a namespace's policy set, cached until any policy changes."""
        generation = self.store.policy_generation()
        if generation != self._acl_generation:
            self._acls.clear()
            self._acl_generation = generation
        names = tuple(sorted(set(policies)))
        key = (namespace, *names)
        acl = self._acls.get(key)
        if acl is None:
            parsed = []
            for name in names:
                record = self.store.policy(namespace, name)
                if record is not None:
                    parsed.append(parse_policy(name, record.text))
            acl = self._acls[key] = ACL.from_policies(parsed)
        return acl

    # --- writes -------------------------------------------------------------

    async def submit(self, command: cmd_pb.Command, request_id: str = "",
                     origin: WriteOrigin | None = None) -> rec.ApplyResult:
        if self.pending_writes >= self.config.limits.max_pending_writes:
            for hook in self.on_write_rejected:
                hook()
            raise RateLimited("too many writes are waiting for the cluster; retry after the "
                              "Retry-After delay", retry_after=1)
        if self.store.map_usage() > MAP_FULL_AT:
            # Refused before it is proposed: a committed entry that no longer fits the map
            # would stop every node that applies it (exit 70), not just this request.
            raise StoreFull(f"the store is over {MAP_FULL_AT:.0%} of storage.map_size_mb: "
                            "writes are refused until the map is made larger (raise "
                            "storage.map_size_mb on every node, one at a time, and restart)")
        key = origin.idempotency if origin is not None else None
        if not request_id and key is not None and origin is not None:
            # Every command of the request carries the key, numbered by its place in
            # the request: "idem:<key>", "idem:<key>#2", ... (apply remembers each), so a
            # retried request replays step by step. Retries inside one request
            # (CONFLICT) are not recorded by apply and just take the next number.
            step = origin.writes
            origin.writes = step + 1
            request_id = key[0] if step == 0 else f"{key[0]}#{step + 1}"
            command.request_hash = key[1]
        command.request_id = request_id or str(uuid.uuid4())
        command.time_ns = self.clock.now_ns()
        for name, value in inject_metadata():
            if name == "traceparent":
                command.traceparent = value
        self.pending_writes += 1
        try:
            result = await self.log.propose(command.SerializeToString(),
                                            self.config.limits.write_timeout_s)
        finally:
            self.pending_writes -= 1
        if origin is not None:
            origin.write_index = max(origin.write_index, result.index)
        return result

    async def confirm_applied(self, index: int) -> None:
        """Wait until a majority of the cluster has applied `index` (revocations).

        Raises NoLeader (503, Retry-After) when that takes longer than the write
        timeout: the command is committed and will take effect everywhere, but this
        node cannot confirm it yet.
        """
        if not await self.log.wait_applied_quorum(index, self.config.limits.write_timeout_s):
            raise NoLeader("the revocation is committed but a majority of nodes has not "
                           "applied it yet; it will take effect: retry to confirm")

    async def rotate(self, origin: WriteOrigin | None = None) -> rec.ApplyResult:
        keyring = self.require_keyring()
        for _ in range(5):
            term = self.store.latest_kek_term() + 1
            command = cmd_pb.Command(rotate_kek=cmd_pb.RotateKek(
                kek=keyring.new_kek_record(term, self.clock.now_ns())))
            result = await self.submit(command, origin=origin)
            if result.code != rec.ApplyResult.CONFLICT:
                return result
        raise InternalError("key rotation kept conflicting")

    def key_status(self) -> rec.KeyRecord:
        self.require_keyring()
        record = self.store.key_record(kek_name(self.store.latest_kek_term()))
        if record is None:
            raise InternalError("keyring is missing its active key")
        return record


__all__ = ["AUDIT_HMAC", "TOKEN_HMAC", "Core", "InitResult"]
