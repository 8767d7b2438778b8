"""Apply handlers of access control (state.apply_auth / apply_login / apply_ns) on real LMDB.

These are the replicated halves of logins, limited-use tokens, namespaces and mounts:
every node runs them, so each rule here holds cluster-wide.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state import keys
from strongbox.state.apply import apply
from strongbox.state.store import Store
from strongbox.sweeper import collect
from tests.unit.test_apply import SECOND, T0, command, init_cluster

R = rec.ApplyResult


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "store", map_size_mb=64)
    yield s
    s.close()


class Log:
    """Applies commands in order, as the Raft apply thread would."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.index = itertools.count(1)
        self.run(init_cluster())

    def run(self, data: bytes) -> rec.ApplyResult:
        return apply(self.store, next(self.index), data)


@pytest.fixture
def log(store: Store) -> Log:
    return Log(store)


def token(accessor: str, namespace: str = "", parent: str = "", uses: int = 0,
          auth_path: str = "auth/token/create") -> cmd_pb.TokenCreate:
    return cmd_pb.TokenCreate(token_hash=b"h-" + accessor.encode(), token=rec.TokenRecord(
        accessor=accessor, policies=["default"], namespace=namespace, parent_accessor=parent,
        num_uses=uses, type="service", auth_path=auth_path, creation_time_ns=T0))


def test_a_limited_use_token_is_spent_through_the_log_and_vanishes_at_zero(log: Log) -> None:
    assert log.run(command(token_create=token("t1", uses=2))).code == R.OK
    log.run(command(token_create=token("child", parent="t1")))
    first = log.run(command(token_use=cmd_pb.TokenUse(accessor="t1")))
    assert (first.code, first.version) == (R.OK, 1)
    assert log.store.token_by_accessor("t1").num_uses == 1
    last = log.run(command(token_use=cmd_pb.TokenUse(accessor="t1")))
    assert (last.code, last.version) == (R.OK, 0)
    assert log.store.token_by_accessor("t1") is None
    assert log.store.token_by_accessor("child") is None  # its tree goes with it
    assert log.run(command(token_use=cmd_pb.TokenUse(accessor="t1"))).code == R.NOT_FOUND


def secret_key(role: str = "web", digest: str = "abc") -> bytes:
    return keys.auth_entry_key("", "approle/", "secret", role, digest)


def write_secret(log: Log, uses: int, ttl_ns: int = 0) -> None:
    record = rec.SecretIdRecord(accessor="sa", creation_time_ns=T0, ttl_ns=ttl_ns,
                                num_uses=uses)
    op = cmd_pb.MountWrite(puts=[cmd_pb.MountWrite.Put(
        key=secret_key(), value=record.SerializeToString())])
    assert log.run(command(mount_write=op)).code == R.OK


def login(accessor: str, consume: bytes = b"", reset: bytes = b"",
          time_ns: int = T0) -> bytes:
    return command(time_ns=time_ns, login=cmd_pb.Login(token=token(accessor),
                                                       consume_secret_id=consume,
                                                       reset_key=reset))


def test_a_single_use_secret_id_logs_in_exactly_once(log: Log) -> None:
    write_secret(log, uses=1)
    assert log.run(login("a", consume=secret_key())).code == R.OK
    second = log.run(login("b", consume=secret_key()))
    assert second.code == R.NOT_FOUND
    assert log.store.token_by_accessor("a") is not None
    assert log.store.token_by_accessor("b") is None  # no token without the use


def test_a_multi_use_secret_id_counts_down(log: Log) -> None:
    write_secret(log, uses=3)
    for n, accessor in enumerate(("a", "b", "c")):
        assert log.run(login(accessor, consume=secret_key())).code == R.OK
        left = log.store.auth_entry(secret_key())
        assert (rec.SecretIdRecord.FromString(left).num_uses if left else 0) == 2 - n
    assert log.run(login("d", consume=secret_key())).code == R.NOT_FOUND


def test_an_expired_secret_id_is_refused_by_the_proposers_clock(log: Log) -> None:
    write_secret(log, uses=0, ttl_ns=10 * SECOND)
    assert log.run(login("a", consume=secret_key(), time_ns=T0 + 9 * SECOND)).code == R.OK
    late = log.run(login("b", consume=secret_key(), time_ns=T0 + 10 * SECOND))
    assert late.code == R.NOT_FOUND
    assert log.store.auth_entry(secret_key()) is None  # cleaned up on the way


def test_five_failures_lock_a_user_and_the_lock_runs_out(log: Log) -> None:
    key = keys.auth_entry_key("", "userpass/", "lock", "ann")

    def fail(at: int) -> rec.ApplyResult:
        return log.run(command(time_ns=at, login_failure=cmd_pb.LoginFailure(
            key=key, max_failures=5, lock_ns=300 * SECOND)))

    def lock_end() -> int:
        raw = log.store.auth_entry(key)
        return rec.LoginState.FromString(raw).locked_until_ns if raw else 0

    results = [fail(T0 + n * SECOND) for n in range(5)]
    assert [r.version for r in results] == [1, 2, 3, 4, 5]
    assert [r.code for r in results] == [R.OK] * 4 + [R.LOCKED]
    assert lock_end() == T0 + 4 * SECOND + 300 * SECOND
    during = fail(T0 + 100 * SECOND)
    assert during.code == R.OK and lock_end() == T0 + 304 * SECOND  # not extended
    after = fail(T0 + 400 * SECOND)
    assert (after.code, after.version, lock_end()) == (R.OK, 1, 0)  # counting starts over


def test_a_login_resets_the_failure_count(log: Log) -> None:
    key = keys.auth_entry_key("", "userpass/", "lock", "ann")
    for _ in range(4):
        log.run(command(login_failure=cmd_pb.LoginFailure(key=key, max_failures=5,
                                                          lock_ns=SECOND)))
    assert log.run(login("a", reset=key)).code == R.OK
    assert log.store.auth_entry(key) is None


def test_auth_entry_preconditions(log: Log) -> None:
    key = keys.auth_entry_key("", "approle/", "role_id", "rid")
    put_op = cmd_pb.MountWrite(puts=[cmd_pb.MountWrite.Put(key=key, value=b"web")],
                                   expect_absent=[key])
    assert log.run(command(mount_write=put_op)).code == R.OK
    assert log.run(command(mount_write=put_op)).code == R.CONFLICT
    missing = cmd_pb.MountWrite(expect_present=[b"nope"], deletes=[key])
    assert log.run(command(mount_write=missing)).code == R.NOT_FOUND
    assert log.store.auth_entry(key) == b"web"  # a failed precondition changes nothing


def namespace(path: str) -> bytes:
    return command(namespace_create=cmd_pb.NamespaceCreate(
        namespace=rec.NamespaceRecord(path=path, id=path),
        default_policy=rec.PolicyRecord(name="default", text="")))


def test_namespaces_need_their_parent_and_are_created_once(log: Log) -> None:
    assert log.run(namespace("a/b")).code == R.NOT_FOUND
    assert log.run(namespace("a")).code == R.OK
    assert log.run(namespace("a")).code == R.CONFLICT
    assert log.run(namespace("a/b")).code == R.OK
    assert [n.path for n in log.store.namespaces("")] == ["a"]
    assert [n.path for n in log.store.namespaces("a")] == ["a/b"]
    assert log.store.policy("a", "default") is not None


def mount(ns: str, path: str, auth: bool = False, kind: str = "kv") -> bytes:
    return command(mount_enable=cmd_pb.MountEnable(
        namespace=ns, auth=auth, mount=rec.MountRecord(path=path, type=kind,
                                                       uuid="uuid-" + path)))


def test_deleting_a_namespace_removes_its_records_and_revokes_its_tokens(log: Log) -> None:
    for ns in ("a", "ab"):
        log.run(namespace(ns))
        assert log.run(mount(ns, "kv/")).code == R.OK
        kv = cmd_pb.KvPut(namespace=ns, mount="kv/", path="x", version=1,
                          record=rec.KvVersionRecord(value=rec.Envelope(ciphertext=b"c")))
        assert log.run(command(kv_put=kv)).code == R.OK
        log.run(command(token_create=token(f"tok-{ns}", namespace=ns)))
    log.run(command(token_create=token("root-child", parent="tok-a")))
    log.run(namespace("a/sub"))
    refused = log.run(command(namespace_delete=cmd_pb.NamespaceDelete(path="a")))
    assert refused.code == R.INVALID and "child" in refused.message
    log.run(command(namespace_delete=cmd_pb.NamespaceDelete(path="a/sub")))
    done = log.run(command(namespace_delete=cmd_pb.NamespaceDelete(path="a")))
    assert done.code == R.OK
    assert log.store.namespace("a") is None
    assert log.store.mounts("a") == [] and log.store.kv_metadata("a", "kv/", "x") is None
    assert log.store.policy("a", "default") is None
    assert log.store.token_by_accessor("tok-a") is None
    assert log.store.token_by_accessor("root-child") is None  # its children too
    # the namespace whose name merely starts the same is untouched
    assert log.store.kv_metadata("ab", "kv/", "x") is not None
    assert log.store.token_by_accessor("tok-ab") is not None
    # a token can no longer be created in the deleted namespace
    assert log.run(command(token_create=token("late", namespace="a"))).code == R.NOT_FOUND


def test_mounts_cannot_overlap_and_disabling_deletes_their_data(log: Log) -> None:
    assert log.run(mount("", "secret/")).code == R.CONFLICT  # init mounted it
    assert log.run(mount("", "secret/inner/")).code == R.CONFLICT
    assert log.run(mount("", "kv/")).code == R.OK
    assert log.run(mount("", "userpass/", auth=True, kind="userpass")).code == R.OK
    kv = cmd_pb.KvPut(namespace="", mount="kv/", path="x", version=1,
                      record=rec.KvVersionRecord(value=rec.Envelope(ciphertext=b"c")))
    assert log.run(command(kv_put=kv)).code == R.OK
    log.run(command(mount_disable=cmd_pb.MountDisable(namespace="", path="kv/")))
    assert log.store.mount("", "kv/") is None
    assert log.store.kv_metadata("", "kv/", "x") is None
    user_key = keys.auth_entry_key("", "uuid-userpass/", "user", "ann")
    log.run(command(mount_write=cmd_pb.MountWrite(
        puts=[cmd_pb.MountWrite.Put(key=user_key, value=b"u")])))
    log.run(command(token_create=token("by-userpass", auth_path="auth/userpass/login/ann")))
    log.run(command(token_create=token("by-token")))
    log.run(command(mount_disable=cmd_pb.MountDisable(namespace="", path="userpass/",
                                                      auth=True)))
    assert log.store.auth_entry(user_key) is None
    assert log.store.token_by_accessor("by-userpass") is None
    assert log.store.token_by_accessor("by-token") is not None


def test_the_sweep_removes_only_what_expired_by_its_own_time(log: Log) -> None:
    def timed(accessor: str, ttl_s: int, parent: str = "") -> bytes:
        op = token(accessor, parent=parent)
        op.token.ttl_ns = ttl_s * SECOND
        return command(token_create=op)

    log.run(timed("old", 10))
    log.run(timed("old-child", 1000, parent="old"))
    log.run(timed("young", 100))
    log.run(command(token_create=token("forever")))
    wrap = rec.WrappedRecord(accessor="w", creation_time_ns=T0, ttl_ns=10 * SECOND)
    log.run(command(wrap_store=cmd_pb.WrapStore(token_hash=b"wh", record=wrap)))
    key = secret_key()
    record = rec.SecretIdRecord(accessor="sa", creation_time_ns=T0, ttl_ns=10 * SECOND)
    index_key = keys.auth_entry_key("", "approle/", "secret_acc", "web", "sa")
    log.run(command(mount_write=cmd_pb.MountWrite(puts=[
        cmd_pb.MountWrite.Put(key=key, value=record.SerializeToString()),
        cmd_pb.MountWrite.Put(key=index_key, value=key)])))
    sweep = cmd_pb.Sweep(token_accessors=["old", "young", "forever"], wrapped_hashes=[b"wh"],
                         secret_id_keys=[key])
    early = log.run(command(time_ns=T0 + 5 * SECOND, sweep=sweep))
    assert early.version == 0  # nothing had expired by the sweep's time: all kept
    late = log.run(command(time_ns=T0 + 50 * SECOND, sweep=sweep))
    assert late.version == 4  # old + its child, the wrapped response, the secret id
    assert log.store.token_by_accessor("old") is None
    assert log.store.token_by_accessor("old-child") is None
    assert log.store.token_by_accessor("young") is not None
    assert log.store.token_by_accessor("forever") is not None
    assert log.store.wrapped(b"wh") is None
    assert log.store.auth_entry(key) is None and log.store.auth_entry(index_key) is None


def test_the_sweeper_finds_core_records_and_asks_each_backend_hook_of_every_mount(
        log: Log) -> None:
    op = token("old")
    op.token.ttl_ns = 10 * SECOND
    log.run(command(token_create=op))
    log.run(command(token_create=token("forever")))
    log.run(namespace("team"))
    found_keys = {}
    for ns in ("", "team"):
        assert log.run(mount(ns, "approle/", auth=True, kind="approle")).code == R.OK
        record = rec.SecretIdRecord(accessor="sa", creation_time_ns=T0, ttl_ns=10 * SECOND)
        key = keys.auth_entry_key(ns, "uuid-approle/", "secret", "web", "abc")
        found_keys[ns] = key
        log.run(command(mount_write=cmd_pb.MountWrite(puts=[
            cmd_pb.MountWrite.Put(key=key, value=record.SerializeToString()),
            cmd_pb.MountWrite.Put(key=keys.auth_entry_key(ns, "uuid-approle/", "role", "web"),
                                  value=rec.AppRoleRole().SerializeToString())])))
    early = collect(log.store, T0 + SECOND)
    assert (list(early.token_accessors), list(early.wrapped_hashes), list(early.mounts)) == (
        [], [], [])
    late = collect(log.store, T0 + 20 * SECOND)
    assert list(late.token_accessors) == ["old"]
    assert sorted((m.mount.key, list(m.keys)) for m in late.mounts) == sorted(
        (keys.mount_key(ns, "approle/"), [key]) for ns, key in found_keys.items())
    assert log.run(command(time_ns=T0 + 20 * SECOND, sweep=late)).version == 3
    assert all(log.store.auth_entry(key) is None for key in found_keys.values())
    assert not collect(log.store, T0 + 20 * SECOND).mounts


def test_a_swept_key_of_a_mount_replaced_meanwhile_is_kept(log: Log) -> None:
    """The sweep names the mount's uuid: a mount disabled and re-created at the same path
    (a new uuid) keeps its records, and keys outside the named mount are never touched."""
    log.run(mount("", "approle/", auth=True, kind="approle"))
    record = rec.SecretIdRecord(accessor="sa", creation_time_ns=T0, ttl_ns=SECOND)
    key = keys.auth_entry_key("", "uuid-approle/", "secret", "web", "abc")
    other = keys.auth_entry_key("", "uuid-other/", "secret", "web", "abc")
    log.run(command(mount_write=cmd_pb.MountWrite(puts=[
        cmd_pb.MountWrite.Put(key=k, value=record.SerializeToString()) for k in (key, other)])))
    sweep = collect(log.store, T0 + 5 * SECOND)
    sweep.mounts[0].keys.append(other)  # not this mount's: ignored
    stale = cmd_pb.Sweep()
    stale.CopyFrom(sweep)
    stale.mounts[0].mount.uuid = "uuid-before"
    assert log.run(command(time_ns=T0 + 5 * SECOND, sweep=stale)).version == 0
    assert log.store.auth_entry(key) is not None
    assert log.run(command(time_ns=T0 + 5 * SECOND, sweep=sweep)).version == 1
    assert log.store.auth_entry(key) is None and log.store.auth_entry(other) is not None


def test_an_empty_key_in_a_command_is_invalid_and_never_wedges_the_log(log: Log) -> None:
    """Regression: TokenUse(accessor="") raised lmdb.BadValsizeError, which apply treated as
    an environment error and retried forever: every later write on every node stalled."""
    assert log.run(command(token_use=cmd_pb.TokenUse(accessor=""))).code == R.NOT_FOUND
    bad = cmd_pb.TokenCreate(token_hash=b"", token=rec.TokenRecord(accessor="x"))
    assert log.run(command(token_create=bad)).code == R.INVALID
    assert log.run(command(token_create=token("after"))).code == R.OK  # the log moves on
    assert log.store.token_by_accessor("after") is not None


def test_idle_failure_counters_are_swept_and_old_failures_stop_counting(log: Log) -> None:
    log.run(mount("", "userpass/", auth=True, kind="userpass"))
    key = keys.auth_entry_key("", "uuid-userpass/", "lock", "ann")

    def fail(at: int) -> rec.ApplyResult:
        return log.run(command(time_ns=at, login_failure=cmd_pb.LoginFailure(
            key=key, max_failures=5, lock_ns=300 * SECOND, reset_after_ns=900 * SECOND)))

    for n in range(4):
        fail(T0 + n * SECOND)
    later = fail(T0 + 2000 * SECOND)  # the four are too old to be "in a row" with it
    assert (later.code, later.version) == (R.OK, 1)
    assert not collect(log.store, T0 + 2001 * SECOND).mounts
    idle_at = T0 + 2000 * SECOND + 900 * SECOND
    sweep = collect(log.store, idle_at)
    assert [list(m.keys) for m in sweep.mounts] == [[key]]
    assert log.run(command(time_ns=idle_at - SECOND, sweep=sweep)).version == 0
    assert log.run(command(time_ns=idle_at, sweep=sweep)).version == 1
    assert log.store.auth_entry(key) is None


def test_a_sweep_proposed_by_an_older_node_still_removes_counters(log: Log) -> None:
    """Journals written before the expiry hooks carry `login_state_keys`; replay honours them."""
    key = keys.auth_entry_key("", "uuid-userpass/", "lock", "ann")
    log.run(command(time_ns=T0, login_failure=cmd_pb.LoginFailure(
        key=key, max_failures=5, lock_ns=300 * SECOND, reset_after_ns=900 * SECOND)))
    sweep = cmd_pb.Sweep(login_state_keys=[key], login_state_idle_ns=900 * SECOND)
    assert log.run(command(time_ns=T0 + 899 * SECOND, sweep=sweep)).version == 0
    assert log.run(command(time_ns=T0 + 900 * SECOND, sweep=sweep)).version == 1
    assert log.store.auth_entry(key) is None


def test_auth_writes_for_a_removed_method_are_refused(log: Log) -> None:
    """Regression: a user written while its method was disabled came back in a method
    re-created at the same path. Writes name the mount's uuid; apply checks it."""
    log.run(mount("", "people/", auth=True, kind="userpass"))
    uuid_key = keys.mount_key("", "people/")
    ref = cmd_pb.MountRef(key=uuid_key, uuid="uuid-people/")
    user = keys.auth_entry_key("", "uuid-people/", "user", "mallory")
    write = cmd_pb.MountWrite(puts=[cmd_pb.MountWrite.Put(key=user, value=b"u")],
                                  mount=ref)
    log.run(command(mount_disable=cmd_pb.MountDisable(namespace="", path="people/", auth=True)))
    log.run(command(mount_enable=cmd_pb.MountEnable(namespace="", auth=True, mount=rec.MountRecord(
        path="people/", type="userpass", uuid="new-uuid"))))
    assert log.run(command(mount_write=write)).code == R.NOT_FOUND
    assert log.store.auth_entry(user) is None
    failure = cmd_pb.LoginFailure(key=user, max_failures=5, lock_ns=SECOND, mount=ref)
    assert log.run(command(login_failure=failure)).code == R.NOT_FOUND
