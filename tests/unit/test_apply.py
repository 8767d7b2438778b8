"""Tests for strongbox.state.apply / apply_kv against a real LMDB store on disk."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from strongbox.errors import StoreFull
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state.apply import apply
from strongbox.state.store import Store

R = rec.ApplyResult
Action = cmd_pb.KvSetVersionState
T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000
MOUNT = "secret/"


# --- command builders ---------------------------------------------------------------

_ids = itertools.count(1)


def command(time_ns: int = T0, request_id: str | None = None, **op: object) -> bytes:
    rid = f"req-{next(_ids)}" if request_id is None else request_id
    return cmd_pb.Command(request_id=rid, time_ns=time_ns, **op).SerializeToString()


def init_cluster(cluster_id: str = "cluster-a", kv_config: rec.KvConfig | None = None,
                 **kw: object) -> bytes:
    key = rec.KeyRecord(term=1, install_time_ns=T0, sealed_key=b"sealed-" + cluster_id.encode())
    op = cmd_pb.InitCluster(
        cluster=rec.ClusterRecord(cluster_id=cluster_id, cluster_name="test", secret_shares=1,
                                  secret_threshold=1, sealed_root_key=b"root-" +
                                  cluster_id.encode(), init_time_ns=T0),
        keys=[cmd_pb.NamedKey(name=name, key=key)
              for name in ("kek/1", "token-hmac", "audit-hmac")],
        mounts=[rec.MountRecord(path=MOUNT, type="kv", accessor="kv_" + cluster_id,
                                kv_config=kv_config or rec.KvConfig())],
        root_token_hash=b"hash-" + cluster_id.encode(),
        root_token=rec.TokenRecord(accessor="acc-" + cluster_id, policies=["root"]),
    )
    return command(init_cluster=op, **kw)


def record(value: bytes) -> rec.KvVersionRecord:
    return rec.KvVersionRecord(value=rec.Envelope(kek_term=1, wrapped_dek=b"dek",
                                                  ciphertext=value))


def put(path: str, version: int, value: bytes = b"v", cas: int | None = None,
        mount: str = MOUNT, **kw: object) -> bytes:
    op = cmd_pb.KvPut(namespace="", mount=mount, path=path, version=version,
                      has_cas=cas is not None, cas=cas or 0, record=record(value))
    return command(kv_put=op, **kw)


def set_state(path: str, action: int, versions: tuple[int, ...] = (), latest: bool = False,
              **kw: object) -> bytes:
    return command(kv_set_version_state=Action(namespace="", mount=MOUNT, path=path,
                                               action=action, versions=versions,
                                               latest=latest), **kw)


def write_metadata(path: str, **fields: object) -> bytes:
    time_ns = fields.pop("time_ns", T0)
    op = cmd_pb.KvWriteMetadata(namespace="", mount=MOUNT, path=path, **fields)
    return command(kv_write_metadata=op, time_ns=time_ns)


def delete_metadata(path: str) -> bytes:
    return command(kv_delete_metadata=cmd_pb.KvDeleteMetadata(namespace="", mount=MOUNT,
                                                              path=path))


def write_config(cfg: rec.KvConfig) -> bytes:
    return command(kv_write_config=cmd_pb.KvWriteConfig(namespace="", mount=MOUNT, config=cfg))


class Node:
    """A store plus the next log index, so tests read like a log."""

    def __init__(self, path: Path, map_size_mb: int = 64) -> None:
        self.store = Store(path, map_size_mb=map_size_mb)
        self.index = 0

    def __call__(self, data: bytes) -> rec.ApplyResult:
        self.index += 1
        return apply(self.store, self.index, data)

    def meta(self, path: str) -> rec.KvMetadataRecord:
        meta = self.store.kv_metadata("", MOUNT, path)
        assert meta is not None
        return meta

    def data(self, path: str, version: int) -> bytes | None:
        version_record = self.store.kv_version("", MOUNT, path, version)
        return None if version_record is None else version_record.value.ciphertext


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(tmp_path)
    assert n(init_cluster()).code == R.OK
    yield n
    n.store.close()


# --- the apply contract -------------------------------------------------------------


def test_init_cluster_writes_cluster_keyring_mount_and_root_token(tmp_path: Path) -> None:
    n = Node(tmp_path)
    assert n.store.cluster() is None
    result = n(init_cluster(time_ns=T0 + 5))
    assert (result.code, result.index, result.time_ns) == (R.OK, 1, T0 + 5)
    cluster = n.store.cluster()
    assert cluster is not None and cluster.cluster_id == "cluster-a"
    assert n.store.latest_kek_term() == 1
    assert n.store.key_record("kek/1") is not None
    assert n.store.key_record("token-hmac") is not None
    assert n.store.mount("", MOUNT) is not None
    root = n.store.token(b"hash-cluster-a")
    assert root is not None and list(root.policies) == ["root"]
    assert n.store.applied_index() == 1


def test_init_cluster_twice_is_already_initialized_and_changes_nothing(node: Node) -> None:
    cluster_before = node.store.cluster()
    mount_before = node.store.mount("", MOUNT)
    key_before = node.store.key_record("kek/1")
    result = node(init_cluster("cluster-b", kv_config=rec.KvConfig(max_versions=2)))
    assert result.code == R.ALREADY_INITIALIZED
    assert node.store.cluster() == cluster_before
    assert node.store.mount("", MOUNT) == mount_before
    assert node.store.key_record("kek/1") == key_before
    assert node.store.token(b"hash-cluster-b") is None
    assert node.store.applied_index() == 2  # a domain failure still advances the index


def test_entries_at_or_below_the_applied_index_are_skipped(node: Node) -> None:
    node.index = 5
    assert node(put("app", 1, b"first")).code == R.OK  # index 6
    digest = node.store.digest()
    for index in (6, 3, 1):
        result = apply(node.store, index, put("app", 2, b"second"))
        assert result.code == R.OK
        assert result.index == 6
        assert node.store.digest() == digest
    assert node.meta("app").current_version == 1
    assert node.store.applied_index() == 6


def test_repeated_request_id_returns_first_result_without_applying_again(node: Node) -> None:
    first_bytes = put("app", 1, b"first", request_id="idem:client-retry-1", time_ns=T0 + 1)
    first = node(first_bytes)
    assert (first.code, first.version, first.index) == (R.OK, 1, 2)
    # Retry of the very same command, committed again at a higher index.
    replay = node(first_bytes)
    assert replay == first
    # A different command reusing the id is not applied either.
    other = node(put("app", 2, b"second", request_id="idem:client-retry-1", time_ns=T0 + 9))
    assert other == first
    meta = node.meta("app")
    assert meta.current_version == 1
    assert list(meta.versions) == [1]
    assert node.data("app", 2) is None
    assert node.store.applied_index() == 4
    stored = node.store.idempotent_result("idem:client-retry-1")
    assert stored == first


def test_empty_request_id_is_not_deduplicated(node: Node) -> None:
    assert node(put("app", 1, request_id="")).version == 1
    assert node(put("app", 2, request_id="")).version == 2
    assert node.meta("app").current_version == 2


@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x0a\x05ab"])
def test_undecodable_bytes_are_invalid_but_advance_the_applied_index(
        node: Node, data: bytes) -> None:
    before = node.store.kv_metadata("", MOUNT, "app")
    result = node(data)
    assert result.code == R.INVALID
    assert result.index == 2
    assert node.store.applied_index() == 2
    assert node.store.kv_metadata("", MOUNT, "app") == before


def test_command_without_an_op_is_invalid_and_advances_the_index(node: Node) -> None:
    result = node(cmd_pb.Command(request_id="x", time_ns=T0).SerializeToString())
    assert result.code == R.INVALID
    assert node.store.applied_index() == 2


def test_kv_command_on_an_unknown_mount_is_not_found(node: Node) -> None:
    result = node(put("app", 1, mount="nope/"))
    assert result.code == R.NOT_FOUND
    assert node.store.kv_metadata("", "nope/", "app") is None


def test_rotate_kek_accepts_only_the_next_term(node: Node) -> None:
    def rotate(term: int) -> rec.ApplyResult:
        kek = rec.KeyRecord(term=term, install_time_ns=T0, sealed_key=b"k%d" % term)
        return node(command(rotate_kek=cmd_pb.RotateKek(kek=kek)))

    assert rotate(3).code == R.CONFLICT
    assert node.store.latest_kek_term() == 1
    ok = rotate(2)
    assert (ok.code, ok.version) == (R.OK, 2)
    assert node.store.latest_kek_term() == 2
    stored = node.store.key_record("kek/2")
    assert stored is not None and stored.sealed_key == b"k2"
    assert rotate(2).code == R.CONFLICT


# --- kv_put -------------------------------------------------------------------------


def test_put_creates_version_one_with_metadata_and_data(node: Node) -> None:
    result = node(put("app", 1, b"cipher-1", time_ns=T0 + 7))
    assert (result.code, result.version) == (R.OK, 1)
    meta = node.meta("app")
    assert (meta.current_version, meta.oldest_version) == (1, 1)
    assert meta.created_time_ns == meta.updated_time_ns == T0 + 7
    assert meta.versions[1].created_time_ns == T0 + 7
    assert meta.versions[1].deletion_time_ns == 0
    assert node.data("app", 1) == b"cipher-1"


def test_put_cas_zero_succeeds_only_when_the_secret_is_absent(node: Node) -> None:
    assert node(put("app", 1, cas=0)).code == R.OK
    result = node(put("app", 2, cas=0))
    assert (result.code, result.version) == (R.CAS_MISMATCH, 1)
    assert result.message == "check-and-set parameter did not match the current version"
    assert node.meta("app").current_version == 1
    assert node.data("app", 2) is None


def test_put_cas_mismatch_reports_current_version_and_writes_nothing(node: Node) -> None:
    node(put("app", 1))
    node(put("app", 2))
    digest = node.store.kv_metadata("", MOUNT, "app")
    for cas in (1, 3):
        result = node(put("app", 3, cas=cas))
        assert (result.code, result.version) == (R.CAS_MISMATCH, 2)
    assert node.store.kv_metadata("", MOUNT, "app") == digest
    assert node(put("app", 3, cas=2)).code == R.OK
    assert node.meta("app").current_version == 3


def test_put_without_cas_is_invalid_when_metadata_requires_cas(node: Node) -> None:
    node(write_metadata("app", cas_required=True))
    result = node(put("app", 1))
    assert result.code == R.INVALID
    assert "check-and-set" in result.message
    assert node.meta("app").current_version == 0
    assert node(put("app", 1, cas=0)).code == R.OK


def test_put_without_cas_is_invalid_when_mount_config_requires_cas(node: Node) -> None:
    assert node(write_config(rec.KvConfig(cas_required=True))).code == R.OK
    mount = node.store.mount("", MOUNT)
    assert mount is not None and mount.kv_config.cas_required
    assert node(put("app", 1)).code == R.INVALID
    assert node.store.kv_metadata("", MOUNT, "app") is None
    assert node(put("app", 1, cas=0)).code == R.OK


@pytest.mark.parametrize("version", [0, 2, 5])
def test_put_version_other_than_current_plus_one_is_conflict(node: Node, version: int) -> None:
    result = node(put("app", version))
    assert (result.code, result.version) == (R.CONFLICT, 0)
    assert node.store.kv_metadata("", MOUNT, "app") is None
    assert node.data("app", version) is None


def test_put_racing_a_concurrent_put_is_conflict(node: Node) -> None:
    node(put("app", 1))
    assert node(put("app", 2, b"winner")).code == R.OK
    loser = node(put("app", 2, b"loser"))
    assert (loser.code, loser.version) == (R.CONFLICT, 2)
    assert node.data("app", 2) == b"winner"


def test_max_versions_on_metadata_trims_oldest_version_records(node: Node) -> None:
    node(write_metadata("app", max_versions=3))
    for v in range(1, 6):
        assert node(put("app", v, b"c%d" % v)).code == R.OK
    meta = node.meta("app")
    assert sorted(meta.versions) == [3, 4, 5]
    assert (meta.current_version, meta.oldest_version) == (5, 3)
    assert [node.data("app", v) for v in range(1, 6)] == [None, None, b"c3", b"c4", b"c5"]


def test_max_versions_on_mount_config_trims(node: Node) -> None:
    node(write_config(rec.KvConfig(max_versions=2)))
    for v in range(1, 5):
        node(put("app", v))
    assert sorted(node.meta("app").versions) == [3, 4]
    assert node.data("app", 2) is None


def test_default_max_versions_keeps_ten(node: Node) -> None:
    for v in range(1, 13):
        node(put("app", v))
    meta = node.meta("app")
    assert sorted(meta.versions) == list(range(3, 13))
    assert node.data("app", 2) is None
    assert node.data("app", 3) is not None


def test_lowering_max_versions_in_metadata_trims_immediately(node: Node) -> None:
    for v in range(1, 5):
        node(put("app", v))
    node(write_metadata("app", max_versions=1))
    meta = node.meta("app")
    assert sorted(meta.versions) == [4]
    assert meta.oldest_version == 4
    assert [node.data("app", v) is None for v in range(1, 5)] == [True, True, True, False]


# --- version states -----------------------------------------------------------------


def test_soft_delete_latest_sets_deletion_time_and_keeps_the_data(node: Node) -> None:
    node(put("app", 1))
    node(put("app", 2))
    assert node(set_state("app", Action.SOFT_DELETE, latest=True, time_ns=T0 + 3)).code == R.OK
    meta = node.meta("app")
    assert meta.versions[2].deletion_time_ns == T0 + 3
    assert meta.versions[1].deletion_time_ns == 0
    assert node.data("app", 2) is not None


def test_soft_delete_of_an_already_deleted_version_keeps_the_first_deletion_time(
        node: Node) -> None:
    node(put("app", 1))
    node(set_state("app", Action.SOFT_DELETE, (1,), time_ns=T0 + 3))
    node(set_state("app", Action.SOFT_DELETE, (1,), time_ns=T0 + 9))
    assert node.meta("app").versions[1].deletion_time_ns == T0 + 3


def test_soft_delete_of_listed_versions_ignores_unknown_ones(node: Node) -> None:
    for v in (1, 2, 3):
        node(put("app", v))
    result = node(set_state("app", Action.SOFT_DELETE, (1, 3, 42), time_ns=T0 + 3))
    assert result.code == R.OK
    meta = node.meta("app")
    assert [meta.versions[v].deletion_time_ns for v in (1, 2, 3)] == [T0 + 3, 0, T0 + 3]
    assert 42 not in meta.versions


def test_undelete_clears_deletion_time(node: Node) -> None:
    node(put("app", 1))
    node(set_state("app", Action.SOFT_DELETE, (1,), time_ns=T0 + 3))
    node(set_state("app", Action.UNDELETE, (1,)))
    assert node.meta("app").versions[1].deletion_time_ns == 0
    assert node.data("app", 1) is not None


def test_destroy_removes_the_data_record_and_marks_destroyed(node: Node) -> None:
    node(put("app", 1))
    node(put("app", 2))
    assert node(set_state("app", Action.DESTROY, (1,))).code == R.OK
    meta = node.meta("app")
    assert meta.versions[1].destroyed
    assert not meta.versions[2].destroyed
    assert node.data("app", 1) is None
    assert node.data("app", 2) is not None


def test_undelete_of_a_destroyed_version_does_nothing(node: Node) -> None:
    node(put("app", 1))
    node(set_state("app", Action.SOFT_DELETE, (1,), time_ns=T0 + 3))
    node(set_state("app", Action.DESTROY, (1,)))
    node(set_state("app", Action.UNDELETE, (1,)))
    state = node.meta("app").versions[1]
    assert state.destroyed
    assert state.deletion_time_ns == T0 + 3
    assert node.data("app", 1) is None


def test_set_version_state_on_a_missing_secret_succeeds_without_creating_it(node: Node) -> None:
    assert node(set_state("ghost", Action.SOFT_DELETE, latest=True)).code == R.OK
    assert node.store.kv_metadata("", MOUNT, "ghost") is None


def test_destroy_protection_refuses_destroy(node: Node) -> None:
    node(put("app", 1))
    node(write_metadata("app", destroy_protection=True))
    result = node(set_state("app", Action.DESTROY, (1,)))
    assert result.code == R.DESTROY_PROTECTED
    assert not node.meta("app").versions[1].destroyed
    assert node.data("app", 1) is not None
    # soft delete is still allowed
    assert node(set_state("app", Action.SOFT_DELETE, (1,), time_ns=T0 + 1)).code == R.OK


def test_destroy_protection_refuses_delete_metadata(node: Node) -> None:
    node(put("app", 1))
    node(write_metadata("app", destroy_protection=True))
    assert node(delete_metadata("app")).code == R.DESTROY_PROTECTED
    assert node.meta("app").current_version == 1
    assert node.data("app", 1) is not None
    node(write_metadata("app", destroy_protection=False))
    assert node(delete_metadata("app")).code == R.OK
    assert node.store.kv_metadata("", MOUNT, "app") is None


def test_delete_metadata_removes_every_version_and_the_path_restarts_at_one(node: Node) -> None:
    for v in (1, 2, 3):
        node(put("app", v))
    assert node(delete_metadata("app")).code == R.OK
    assert node.store.kv_metadata("", MOUNT, "app") is None
    assert all(node.data("app", v) is None for v in (1, 2, 3))
    assert node.store.kv_list("", MOUNT, "") == []
    assert node(put("app", 1, cas=0)).version == 1


def test_write_metadata_changes_only_the_fields_present(node: Node) -> None:
    node(write_metadata("app", max_versions=4, cas_required=True, time_ns=T0 + 1))
    node(write_metadata("app", destroy_protection=True, time_ns=T0 + 2))
    meta = node.meta("app")
    assert (meta.max_versions, meta.cas_required, meta.destroy_protection) == (4, True, True)
    assert (meta.created_time_ns, meta.updated_time_ns) == (T0 + 1, T0 + 2)


def test_delete_version_after_sets_deletion_time_to_time_plus_duration(node: Node) -> None:
    node(write_metadata("app", delete_version_after_ns=30 * SECOND))
    node(put("app", 1, time_ns=T0 + 100))
    assert node.meta("app").versions[1].deletion_time_ns == T0 + 100 + 30 * SECOND


def test_delete_version_after_from_mount_config(node: Node) -> None:
    node(write_config(rec.KvConfig(delete_version_after_ns=5 * SECOND)))
    node(put("app", 1, time_ns=T0 + 100))
    assert node.meta("app").versions[1].deletion_time_ns == T0 + 100 + 5 * SECOND


def test_soft_delete_before_a_scheduled_deletion_moves_it_earlier(node: Node) -> None:
    node(write_metadata("app", delete_version_after_ns=30 * SECOND))
    node(put("app", 1, time_ns=T0))
    node(set_state("app", Action.SOFT_DELETE, (1,), time_ns=T0 + SECOND))
    assert node.meta("app").versions[1].deletion_time_ns == T0 + SECOND


def test_kv_list_returns_immediate_children_with_folders(node: Node) -> None:
    for path in ("b", "a/x", "a/y/z", "a-b", "c/d"):
        node(put(path, 1))
    assert node.store.kv_list("", MOUNT, "") == ["a-b", "a/", "b", "c/"]
    assert node.store.kv_list("", MOUNT, "a/") == ["x", "y/"]
    assert node.store.kv_list("", MOUNT, "zzz/") == []


# --- determinism and failure ----------------------------------------------------------


def _sequence() -> list[bytes]:
    cmds = [init_cluster(request_id="init")]
    for v in range(1, 5):
        cmds.append(put("app", v, b"c%d" % v, request_id=f"p{v}", time_ns=T0 + v))
    cmds += [
        write_metadata("app", max_versions=2),
        put("app", 5, cas=4, request_id="idem:p5", time_ns=T0 + 10),
        put("app", 5, cas=1, request_id="p5-bad", time_ns=T0 + 11),
        set_state("app", Action.SOFT_DELETE, latest=True, request_id="d", time_ns=T0 + 12),
        set_state("app", Action.DESTROY, (4,), request_id="x", time_ns=T0 + 13),
        put("other/thing", 1, request_id="o1", time_ns=T0 + 14),
        b"\x00garbage",
        put("app", 5, cas=4, request_id="idem:p5", time_ns=T0 + 15),  # a retry
    ]
    return cmds


def test_two_stores_fed_the_same_commands_have_equal_digests(tmp_path: Path) -> None:
    one, two = Node(tmp_path / "one"), Node(tmp_path / "two")
    empty = one.store.digest()
    sequence = _sequence()
    results_one = [one(c) for c in sequence]
    results_two = [two(c) for c in sequence]
    assert results_one == results_two
    assert one.store.digest() == two.store.digest()
    assert one.store.digest() != empty
    # and the digest sees a divergence
    two(put("diverge", 1))
    assert one.store.digest() != two.store.digest()


def test_store_full_raises_and_does_not_advance_the_applied_index(tmp_path: Path) -> None:
    node = Node(tmp_path, map_size_mb=1)
    assert node(init_cluster()).code == R.OK
    assert node(put("app", 1, b"small")).code == R.OK
    digest = node.store.digest()
    with pytest.raises(StoreFull, match="map_size_mb"):
        apply(node.store, 3, put("app", 2, b"x" * (4 * 1024 * 1024)))
    assert node.store.applied_index() == 2
    assert node.store.digest() == digest
    assert node.meta("app").current_version == 1
    assert node.data("app", 1) == b"small"
    # Raft retries the entry at the same index; a command that fits applies.
    result = apply(node.store, 3, put("app", 2, b"fits"))
    assert (result.code, result.version, result.index) == (R.OK, 2, 3)
    assert node.store.applied_index() == 3
    node.store.close()


def test_applied_index_and_request_ids_survive_reopening_the_store(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node(init_cluster())
    first_bytes = put("app", 1, b"first", request_id="idem:retry-me")
    first = node(first_bytes)
    node.store.close()
    reopened = Node(tmp_path)
    assert reopened.store.applied_index() == 2
    digest = reopened.store.digest()
    # Log replay after a restart: entries 1..2 again are skipped.
    assert apply(reopened.store, 2, first_bytes).message == "already applied"
    assert reopened.store.digest() == digest
    # A client retry committed at a new index returns the first result.
    assert apply(reopened.store, 3, first_bytes) == first
    assert reopened.meta("app").current_version == 1
    reopened.store.close()


def test_only_client_keys_are_remembered_and_they_expire_after_a_day(node: Node) -> None:
    node(put("app", 1, request_id="internal-uuid", time_ns=T0 + 1))
    assert node.store.idempotent_result("internal-uuid") is None
    keyed = node(put("app", 2, request_id="idem:k", time_ns=T0 + 2))
    assert node.store.idempotent_result("idem:k") == keyed
    day = 24 * 3600 * 10**9
    node(put("app", 3, request_id="idem:later", time_ns=T0 + 2 + day - 1))
    assert node.store.idempotent_result("idem:k") is not None  # not yet 24 h old
    node(put("app", 4, request_id="", time_ns=T0 + 3 + day))
    assert node.store.idempotent_result("idem:k") is None
    assert node.store.idempotent_result("idem:later") is not None
