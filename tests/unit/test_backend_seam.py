"""The backend seam without processes: MemoryStorage, kv1 folding, clocks, raise_for,
the registry, PathTable matching order and the apply-time clock clamp."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongbox import registry
from strongbox.backend.context import PathTable, Route
from strongbox.backend.results import raise_for
from strongbox.backend.storage import Batch, MemoryStorage
from strongbox.clock import FixedClock, SystemClock
from strongbox.engines.kv1 import backend as kv1
from strongbox.errors import (
    BadRequest,
    CasMismatch,
    IdempotencyMismatch,
    InternalError,
    NotFound,
    ServiceUnavailable,
    StrongBoxError,
)
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state.apply import apply
from strongbox.state.store import Store

R = rec.ApplyResult
SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND


def write(storage: MemoryStorage, batch: Batch, **kw: str) -> None:
    asyncio.run(storage.write(batch, **kw))


# --- MemoryStorage ------------------------------------------------------------------


def test_memory_storage_put_get_delete() -> None:
    storage = MemoryStorage()
    assert storage.get("kv", "a") is None
    write(storage, Batch().put(b"sealed", "kv", "a").put_plain(b"plain", "count", "a"))
    assert storage.get("kv", "a") == b"sealed"
    assert storage.get_plain("count", "a") == b"plain"
    write(storage, Batch().put(b"again", "kv", "a"))
    assert storage.get("kv", "a") == b"again"
    write(storage, Batch().delete("kv", "a").delete("kv", "never-there"))
    assert storage.get("kv", "a") is None
    assert storage.get_plain("count", "a") == b"plain"


def test_memory_storage_list_whole_parts_and_partial() -> None:
    storage = MemoryStorage()
    batch = Batch()
    for path in ("app/db", "app/web/tls", "apple", "b"):
        batch.put(b"x", "kv", path)
    batch.put(b"x", "kv", "two", "parts")
    batch.put(b"x", "other", "app/db")
    write(storage, batch)
    assert storage.list("kv") == [("app/db",), ("app/web/tls",), ("apple",), ("b",),
                                  ("two", "parts")]
    assert storage.list("kv", "two") == [("parts",)]
    assert storage.list("kv", "app") == []  # whole parts only: no key part is "app"
    assert storage.list("kv", "app/", partial=True) == [("db",), ("web/tls",)]
    assert storage.list("kv", "app", partial=True) == [("/db",), ("/web/tls",), ("le",)]
    assert storage.list("kv", "", partial=True) == [("app/db",), ("app/web/tls",), ("apple",),
                                                    ("b",), ("two", "parts")]
    assert storage.list("nothing") == []


def test_memory_storage_delete_prefixes() -> None:
    storage = MemoryStorage()
    write(storage, Batch().put(b"1", "role", "a", "x").put(b"2", "role", "a", "y")
          .put(b"3", "role", "b"))
    batch = Batch()
    batch.delete_prefixes.append(("role", "a"))
    write(storage, batch)
    assert storage.list("role") == [("b",)]


def test_memory_storage_expect_absent_conflict_raises_bad_request() -> None:
    storage = MemoryStorage()
    write(storage, Batch().put(b"old", "user", "eve"))
    batch = Batch().put(b"new", "user", "eve")
    batch.expect_absent.append(("user", "eve"))
    with pytest.raises(BadRequest, match="user exists"):
        write(storage, batch, conflict="user exists")
    assert storage.get("user", "eve") == b"old"  # nothing of the batch applied
    fresh = Batch().put(b"new", "user", "bob")
    fresh.expect_absent.append(("user", "bob"))
    write(storage, fresh)
    assert storage.get("user", "bob") == b"new"


def test_memory_storage_expect_present_raises_not_found() -> None:
    storage = MemoryStorage()
    batch = Batch().put(b"v", "user", "eve", "extra")
    batch.expect_present.append(("user", "eve"))
    with pytest.raises(NotFound):
        write(storage, batch)
    assert storage.data == {}
    write(storage, Batch().put(b"v", "user", "eve"))
    write(storage, batch)
    assert storage.get("user", "eve", "extra") == b"v"


def test_batch_rejects_empty_keys_and_nul() -> None:
    with pytest.raises(InternalError):
        Batch().put(b"x")
    with pytest.raises(InternalError):
        Batch().delete("kv", "a\0b")


# --- kv1.children ---------------------------------------------------------------------


def test_children_folds_rests_into_immediate_children() -> None:
    rests: list[tuple[str, ...]] = [("a",), ("b/c",), ("b/d/e",), ("c/",), ("d",), ("d/x",)]
    assert kv1.children(rests) == ["a", "b/", "c/", "d", "d/"]
    assert kv1.children([]) == []
    assert kv1.children([("x/1",), ("x/2",), ("x/3/4",)]) == ["x/"]


def test_children_from_memory_storage_listing() -> None:
    storage = MemoryStorage()
    batch = Batch()
    for path in ("app/db", "app/web/tls", "app/web/key", "app/zz", "apple"):
        batch.put(b"{}", kv1.SECRET, path)
    write(storage, batch)
    keys = kv1.children(storage.list(kv1.SECRET, "app/", partial=True))
    assert keys == ["db", "web/", "zz"]
    assert len(keys) == len(set(keys))
    assert kv1.children(storage.list(kv1.SECRET, "", partial=True)) == ["app/", "apple"]


# --- clocks ---------------------------------------------------------------------------


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock()
    assert clock.now_ns() == T0
    assert clock.now_ns() == T0
    clock.advance(1.5)
    assert clock.now_ns() == T0 + 1_500_000_000
    clock.advance(-0.5)
    assert clock.now_ns() == T0 + SECOND
    clock.set(42)
    assert clock.now_ns() == 42
    assert FixedClock(7).now_ns() == 7


def test_system_clock_is_the_wall_clock() -> None:
    before = time.time_ns()
    now = SystemClock().now_ns()
    after = time.time_ns()
    assert before <= now <= after


# --- raise_for ------------------------------------------------------------------------


def test_raise_for_passes_ok_through() -> None:
    result = R(code=R.OK, version=3)
    assert raise_for(result) is result


@pytest.mark.parametrize(("code", "error"), [
    (R.CAS_MISMATCH, CasMismatch),
    (R.NOT_FOUND, NotFound),
    (R.INVALID, BadRequest),
    (R.IDEMPOTENCY_MISMATCH, IdempotencyMismatch),
    (R.CONFLICT, ServiceUnavailable),
])
def test_raise_for_maps_codes_to_errors(code: Any, error: type[StrongBoxError]) -> None:
    with pytest.raises(error) as raised:
        raise_for(R(code=code, message="the message"))
    assert type(raised.value) is error
    assert "the message" in str(raised.value)


def test_raise_for_conflict_without_message_says_retry() -> None:
    with pytest.raises(ServiceUnavailable, match="retry"):
        raise_for(R(code=R.CONFLICT))


def test_raise_for_overrides_win() -> None:
    class Taken(BadRequest):
        pass

    with pytest.raises(Taken, match="taken: c"):
        raise_for(R(code=R.CONFLICT, message="c"), conflict=lambda m: Taken(f"taken: {m}"))
    with pytest.raises(BadRequest, match="gone") as raised:
        raise_for(R(code=R.NOT_FOUND), not_found=lambda m: BadRequest("gone"))
    assert type(raised.value) is BadRequest
    with pytest.raises(NotFound):
        raise_for(R(code=R.INVALID), invalid=lambda m: NotFound("no"))
    # an override for another code does not change this one
    with pytest.raises(CasMismatch):
        raise_for(R(code=R.CAS_MISMATCH), conflict=Taken)


# --- registry -------------------------------------------------------------------------


def test_registry_finds_kv_versions() -> None:
    from strongbox.engines.kv import backend as kv2

    assert registry.secrets_engine("kv") is kv1.BACKEND
    assert registry.secrets_engine("kv", "1") is kv1.BACKEND
    assert registry.secrets_engine("kv-v1") is kv1.BACKEND
    assert registry.secrets_engine("kv", "2") is kv2.BACKEND
    assert registry.secrets_engine("kv-v2") is kv2.BACKEND
    assert kv1.BACKEND.version == "1" and kv2.BACKEND.version == "2"
    assert registry.for_mount("kv", {"version": "2"}, auth=False) is kv2.BACKEND
    assert registry.for_mount("kv", {}, auth=False) is kv1.BACKEND


def test_registry_unknown_types_give_none() -> None:
    assert registry.secrets_engine("nosuch") is None
    assert registry.secrets_engine("kv", "3") is None
    assert registry.secrets_engine("pki") is None
    assert registry.secrets_engine("userpass") is None  # an auth method, not an engine
    assert registry.auth_method("nosuch") is None
    assert registry.auth_method("kv") is None
    assert registry.auth_method("userpass") is not None


# One path per backend that its table must serve.
SAMPLE_PATHS = ["app/db", "data/app/db", "config", "login/eve", "users/eve",
                "role/r1/role-id", "role/r1", "login", "encrypt/k", "creds/r1"]


def test_every_registered_backend_serves_some_path() -> None:
    assert registry.BACKENDS
    for backend in registry.BACKENDS:
        matched = [p for p in SAMPLE_PATHS if backend.paths.match(p) is not None]
        assert matched, f"{backend.kind}/{backend.type} v{backend.version} serves none of " \
                        f"{SAMPLE_PATHS}"
    assert sorted(registry.types("secret")) == registry.types("secret")
    assert "kv" in registry.types("secret") and "userpass" in registry.types("auth")


def test_kv1_options_accept_only_version_1() -> None:
    assert kv1.options({}) == {"version": "1"}
    assert kv1.options({"version": "1", "x": "y"}) == {"version": "1", "x": "y"}
    with pytest.raises(BadRequest):
        kv1.options({"version": "2"})


# --- PathTable ------------------------------------------------------------------------


async def _handler(ctx: object) -> object:  # never called: routes are compared by identity
    raise AssertionError


def _route() -> Route:
    return Route({"GET": _handler})  # type: ignore[dict-item]


def test_path_table_exact_before_prefix_before_pattern() -> None:
    exact, prefix, pattern = _route(), _route(), _route()
    table = PathTable(exact={"config": exact}, prefixes={"con": prefix},
                      patterns=[(r"(?P<name>.*)", pattern)])
    found = table.match("config")
    assert found is not None and found.route is exact and found.match is None
    found = table.match("config/")  # LIST keeps the trailing slash: still the exact path
    assert found is not None and found.route is exact
    found = table.match("configure")
    assert found is not None and found.route is prefix and found.match is None
    found = table.match("other")
    assert found is not None and found.route is pattern
    assert found.match is not None and found.match["name"] == "other"


def test_path_table_patterns_full_match_with_named_groups() -> None:
    role, secret_id = _route(), _route()
    table = PathTable(patterns=[(r"role/(?P<role>[^/]+)", role),
                                (r"role/(?P<role>[^/]+)/secret-id/(?P<id>[^/]+)", secret_id)])
    found = table.match("role/web")
    assert found is not None and found.route is role
    assert found.match is not None and found.match.groupdict() == {"role": "web"}
    found = table.match("role/web/secret-id/abc")
    assert found is not None and found.route is secret_id
    assert found.match is not None and found.match.groupdict() == {"role": "web", "id": "abc"}
    assert table.match("role/web/extra") is None  # fullmatch, not search
    assert table.match("xrole/web") is None
    assert "no handler" in str(table.not_found("auth/x/nowhere"))


def test_path_table_first_pattern_wins() -> None:
    first, second = _route(), _route()
    table = PathTable(patterns=[(r"a.*", first), (r".*", second)])
    found = table.match("abc")
    assert found is not None and found.route is first
    found = table.match("bcd")
    assert found is not None and found.route is second


# --- the apply-time clock clamp -------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path)
    yield s
    s.close()


def _noop(time_ns: int, request_id: str) -> bytes:
    return cmd_pb.Command(request_id=request_id, time_ns=time_ns,
                          noop=cmd_pb.Noop()).SerializeToString()


def test_apply_clamps_time_that_runs_backwards(store: Store) -> None:
    first = apply(store, 1, _noop(T0, "req-1"))
    assert (first.code, first.time_ns) == (R.OK, T0)
    earlier = apply(store, 2, _noop(T0 - 5 * SECOND, "req-2"))
    assert earlier.code == R.OK
    assert earlier.time_ns == T0  # clamped to the last applied time, not T0 - 5s
    later = apply(store, 3, _noop(T0 + SECOND, "req-3"))
    assert later.time_ns == T0 + SECOND
    again = apply(store, 4, _noop(T0, "req-4"))
    assert again.time_ns == T0 + SECOND
