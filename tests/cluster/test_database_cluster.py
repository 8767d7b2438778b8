"""The Database engine on a real three-node cluster with a real PostgreSQL: leases
outlive their leader (a kill -9 of the leader still gets them revoked on time by the
next one), a rotate-root killed between its phases is finished by the next leader,
and any node hands out credentials (followers forward to the leader)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from strongbox.engines.database import worker
from strongbox.testing import LocalCluster, ServerProcess
from tests.cluster.conftest import make_cluster
from tests.pg import PgServer, module_server

CREATE = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
          "VALID UNTIL '{{expiration}}';"]


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    yield from module_server(tmp_path_factory)


@pytest.fixture
def db_cluster(tmp_path: Any, pg: PgServer) -> Iterator[LocalCluster]:
    cluster = make_cluster(tmp_path / "cluster")
    try:
        leader, root = cluster.wait_leader(), cluster.root_token
        assert call(leader, root, "POST", "sys/mounts/database",
                    {"type": "database"}).status_code == 204
        r = call(leader, root, "POST", "database/config/pg", {
            "plugin_name": "postgresql-database-plugin", "connection_url": pg.connection_url(),
            "username": pg.superuser, "password": pg.password, "allowed_roles": "*"})
        assert r.status_code == 204, r.text
        r = call(leader, root, "POST", "database/roles/short", {
            "db_name": "pg", "creation_statements": CREATE, "default_ttl": "6s"})
        assert r.status_code == 204, r.text
        yield cluster
    finally:
        cluster.stop()


def call(node: ServerProcess, token: str, method: str, path: str,
         body: dict[str, Any] | None = None) -> httpx.Response:
    with node.client(token) as c:
        return c.request(method, "/v1/" + path, json=body, timeout=30)


def present(pg: PgServer, users: list[str]) -> set[str]:
    with pg.connect() as c:
        rows = c.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                         (users,)).fetchall()
    return {r[0] for r in rows}


def wait_until(check: Any, deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")


def test_leases_are_revoked_on_time_after_the_leader_is_killed(
        db_cluster: LocalCluster, pg: PgServer) -> None:
    root = db_cluster.root_token
    users: list[str] = []
    issued = time.monotonic()
    for node in db_cluster.nodes:  # followers forward creds to the leader
        for _ in range(3):
            r = call(node, root, "GET", "database/creds/short")
            assert r.status_code == 200, r.text
            users.append(r.json()["data"]["username"])
    assert present(pg, users) == set(users)
    db_cluster.wait_leader().kill()
    db_cluster.wait_leader(timeout=20)
    # every lease expires 6 s after it was issued; the new leader's worker checks every
    # second: allow the election and a round or two on a busy machine
    wait_until(lambda: not present(pg, users), 6 + 20, "the new leader to revoke the leases")
    assert time.monotonic() - issued < 6 + 20


def test_rotate_root_killed_between_its_phases_is_finished_by_the_next_leader(
        db_cluster: LocalCluster, pg: PgServer) -> None:
    root = db_cluster.root_token
    with pg.connect() as c:
        c.execute("CREATE ROLE sb_cluster_admin WITH LOGIN CREATEROLE PASSWORD 'before'")
    leader = db_cluster.wait_leader()
    r = call(leader, root, "POST", "database/config/admin", {
        "plugin_name": "postgresql-database-plugin", "connection_url": pg.connection_url(),
        "username": "sb_cluster_admin", "password": "before", "allowed_roles": "viaadmin"})
    assert r.status_code == 204, r.text
    call(leader, root, "POST", "database/roles/viaadmin",
         {"db_name": "admin", "creation_statements": CREATE})
    (leader.data_dir / "faults.json").write_text(
        json.dumps({"crash_at": ["database.rotate_root.after_set"]}))
    with pytest.raises(httpx.HTTPError):  # the leader dies after phase 2, before phase 3
        call(leader, root, "POST", "database/rotate-root/admin")
    leader.proc.wait(timeout=20)  # type: ignore[union-attr]
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn(user="sb_cluster_admin", password="before"))
    new_leader = db_cluster.wait_leader(timeout=20)

    def engine_works() -> bool:
        r = call(new_leader, root, "GET", "database/creds/viaadmin")
        return r.status_code == 200
    # the next leader commits the password PostgreSQL has, once the interrupted
    # rotation is RECOVER_AFTER_S old; until then creds use the old one and fail
    wait_until(engine_works, worker.RECOVER_AFTER_S + 25, "the rotation to be finished")
    assert "before" not in call(new_leader, root, "GET", "database/config/admin").text
