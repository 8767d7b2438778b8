"""The Database engine through the whole HTTP pipeline (in process: real app, Core,
LMDB, a FixedClock) against a **real PostgreSQL** (tests/pg.py): credentials that log
in and do what the statements grant, leases that renew up to max_ttl and expire,
revocation of users that own objects, token revocation, root and static rotation,
quotas, and irrevocable leases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from strongbox import sweeper
from strongbox.engines.database import leases as lease_mod
from tests.inprocess import InProcessApi
from tests.pg import PgServer, module_server

pytestmark = pytest.mark.integration
CREATE = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
          "VALID UNTIL '{{expiration}}';",
          "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"]


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    yield from module_server(tmp_path_factory, ["CREATE TABLE IF NOT EXISTS orders (id int)",
                                                "INSERT INTO orders VALUES (1), (2)"])


@pytest.fixture
def db(api: InProcessApi, pg: PgServer) -> InProcessApi:
    assert api.request("POST", "sys/mounts/database", json={"type": "database"}) \
        .status_code == 204
    r = api.request("POST", "database/config/pg", json={
        "plugin_name": "postgresql-database-plugin", "connection_url": pg.connection_url(),
        "username": pg.superuser, "password": pg.password, "allowed_roles": "*"})
    assert r.status_code == 204, r.text
    r = api.request("POST", "database/roles/app", json={
        "db_name": "pg", "creation_statements": CREATE, "default_ttl": "1h",
        "max_ttl": "2h"})
    assert r.status_code == 204, r.text
    return api


def login(pg: PgServer, user: str, password: str) -> psycopg.Connection[Any]:
    return psycopg.connect(pg.dsn(user=user, password=password), autocommit=True)


def role_exists(pg: PgServer, user: str) -> bool:
    with pg.connect() as c:
        return c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone() \
            is not None


def creds(api: InProcessApi, role: str = "app", token: str | None = None) -> dict[str, Any]:
    r = api.request("GET", f"database/creds/{role}", token)
    assert r.status_code == 200, r.text
    return dict(r.json())


def upkeep(api: InProcessApi) -> int:
    return api.loop.run_until_complete(sweeper.maintain_once(api.core, {"database"}))


def test_credentials_log_in_and_can_do_what_the_statements_grant(
        db: InProcessApi, pg: PgServer) -> None:
    out = creds(db)
    assert out["lease_id"].startswith("database/creds/app/") and out["renewable"]
    assert out["lease_duration"] == 3600
    user, password = out["data"]["username"], out["data"]["password"]
    assert user.startswith("v-root-app-")
    with login(pg, user, password) as c:
        assert c.execute("SELECT count(*) FROM orders").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO orders VALUES (3)")
    config = db.request("GET", "database/config/pg").json()["data"]
    assert pg.password not in str(config) and "password" not in config["connection_details"]


def test_renewal_extends_up_to_max_ttl_and_no_further(db: InProcessApi, pg: PgServer) -> None:
    lease_id = creds(db)["lease_id"]
    db.clock.advance(1800)
    r = db.request("PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": "1h"})
    assert r.status_code == 200, r.text
    assert r.json()["lease_id"] == lease_id and r.json()["lease_duration"] == 3600
    db.clock.advance(3000)
    r = db.request("PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": "1h"})
    assert r.json()["lease_duration"] == 7200 - 4800  # capped at issue + max_ttl
    looked = db.request("PUT", "sys/leases/lookup", json={"lease_id": lease_id}).json()["data"]
    assert looked["id"] == lease_id and looked["renewable"] is False
    assert looked["ttl"] == 2400


def test_expired_leases_are_revoked_and_the_user_is_gone(db: InProcessApi,
                                                         pg: PgServer) -> None:
    out = creds(db)
    user, password = out["data"]["username"], out["data"]["password"]
    assert upkeep(db) == 0 and role_exists(pg, user)
    db.clock.advance(3601)
    assert upkeep(db) == 1
    assert not role_exists(pg, user)
    with pytest.raises(psycopg.OperationalError):
        login(pg, user, password)
    r = db.request("PUT", "sys/leases/lookup", json={"lease_id": out["lease_id"]})
    assert r.status_code == 400


def test_revocation_of_a_user_that_owns_objects(db: InProcessApi, pg: PgServer) -> None:
    with pg.connect() as c:
        c.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    out = creds(db)
    user, password = out["data"]["username"], out["data"]["password"]
    with login(pg, user, password) as c:
        c.execute(f'CREATE TABLE "owned_by_{user}" (x int)')
        c.execute(f'CREATE SEQUENCE "seq_{user}"')
    r = db.request("PUT", "sys/leases/revoke", json={"lease_id": out["lease_id"]})
    assert r.status_code == 204, r.text
    assert not role_exists(pg, user)


def test_revoking_the_token_revokes_its_leases(db: InProcessApi, pg: PgServer) -> None:
    policy = 'path "database/creds/app" { capabilities = ["read"] }'
    assert db.request("PUT", "sys/policies/acl/dbapp", json={"policy": policy}) \
        .status_code == 204
    token = db.request("POST", "auth/token/create", json={"policies": ["dbapp"]}) \
        .json()["auth"]["client_token"]
    user = creds(db, token=token)["data"]["username"]
    assert db.request("POST", "auth/token/revoke", json={"token": token}).status_code == 204
    assert upkeep(db) == 1
    assert not role_exists(pg, user)


def test_lease_listing_prefix_revocation_and_quota(db: InProcessApi, pg: PgServer) -> None:
    users = [creds(db)["data"]["username"] for _ in range(3)]
    listed = db.request("LIST", "sys/leases/lookup/database/creds/app/").json()["data"]["keys"]
    assert len(listed) == 3
    assert db.request("PUT", "sys/leases/revoke-prefix/database/creds/app/").status_code == 204
    assert not any(role_exists(pg, u) for u in users)
    r = db.request("POST", "sys/mounts/database/tune", json={"options": {"max_leases": "2"}})
    assert r.status_code == 204, r.text
    creds(db)
    creds(db)
    r = db.request("GET", "database/creds/app")
    assert r.status_code == 429 and "max_leases" in r.text


def test_rotate_root_changes_the_password_and_keeps_working(db: InProcessApi,
                                                            pg: PgServer) -> None:
    with pg.connect() as c:
        c.execute("CREATE ROLE sb_admin WITH LOGIN CREATEROLE PASSWORD 'initial-pw'")
        c.execute("GRANT pg_signal_backend TO sb_admin")
        c.execute("GRANT SELECT ON orders TO sb_admin WITH GRANT OPTION")
    r = db.request("POST", "database/config/admin", json={
        "plugin_name": "postgresql-database-plugin", "connection_url": pg.connection_url(),
        "username": "sb_admin", "password": "initial-pw", "allowed_roles": ["viaadmin"]})
    assert r.status_code == 204, r.text
    db.request("POST", "database/roles/viaadmin", json={
        "db_name": "admin", "creation_statements": CREATE[:1]})
    assert db.request("POST", "database/rotate-root/admin").status_code == 204
    with pytest.raises(psycopg.OperationalError):
        login(pg, "sb_admin", "initial-pw")
    out = creds(db, "viaadmin")
    with login(pg, out["data"]["username"], out["data"]["password"]):
        pass
    assert "initial-pw" not in db.request("GET", "database/config/admin").text


def test_an_interrupted_root_rotation_keeps_the_password_that_works(
        db: InProcessApi, pg: PgServer) -> None:
    from strongbox.backend.storage import Batch, MountStorage
    from strongbox.engines.database import store

    with pg.connect() as c:
        c.execute("CREATE ROLE sb_half WITH LOGIN CREATEROLE PASSWORD 'old-pw'")
    db.request("POST", "database/config/half", json={
        "plugin_name": "postgresql-database-plugin", "connection_url": pg.connection_url(),
        "username": "sb_half", "password": "old-pw"})
    mount = next(m for m in db.core.store.mounts("") if m.path == "database/")
    view = MountStorage(db.core, "", mount, secrets_engine=True)
    conn = store.existing_connection(view, "half")
    # phase 1 and 2 done (the new password is set in PostgreSQL), phase 3 never ran
    conn.pending_password, conn.pending_since = "new-pw-0123456789", 0
    db.loop.run_until_complete(view.write(Batch().put(store.encode(conn), "conn", "half")))
    with pg.connect() as c:
        c.execute("ALTER ROLE sb_half PASSWORD 'new-pw-0123456789'")
    upkeep(db)
    healed = store.existing_connection(view, "half")
    assert healed.password == "new-pw-0123456789" and not healed.pending_password


def test_static_role_alternating_users_never_break_the_previous_password(
        db: InProcessApi, pg: PgServer) -> None:
    with pg.connect() as c:
        for user in ("svc_a", "svc_b"):
            c.execute(f"CREATE ROLE {user} WITH LOGIN PASSWORD 'unknown-{user}'")
    r = db.request("POST", "database/static-roles/svc", json={
        "db_name": "pg", "username": "svc_a", "alternate_username": "svc_b",
        "rotation_period": "1h"})
    assert r.status_code == 204, r.text
    first = db.request("GET", "database/static-creds/svc").json()["data"]
    assert first["username"] == "svc_a" and first["ttl"] == 3600
    login(pg, first["username"], first["password"]).close()
    assert db.request("POST", "database/rotate-role/svc").status_code == 204
    second = db.request("GET", "database/static-creds/svc").json()["data"]
    assert second["username"] == "svc_b"
    login(pg, "svc_a", first["password"]).close()  # the previous one still works
    login(pg, "svc_b", second["password"]).close()
    db.clock.advance(3601)
    assert upkeep(db) >= 1  # due: rotated by the leader's worker
    third = db.request("GET", "database/static-creds/svc").json()["data"]
    assert third["username"] == "svc_a" and third["password"] != first["password"]
    login(pg, "svc_b", second["password"]).close()
    with pytest.raises(psycopg.OperationalError):
        login(pg, "svc_a", first["password"])


def test_a_revocation_that_keeps_failing_becomes_irrevocable(db: InProcessApi,
                                                             pg: PgServer) -> None:
    db.request("POST", "database/roles/broken", json={
        "db_name": "pg", "creation_statements": CREATE[:1], "default_ttl": "60s",
        "revocation_statements": "SELECT 1/0;"})
    out = creds(db, "broken")
    r = db.request("PUT", "sys/leases/revoke", json={"lease_id": out["lease_id"]})
    assert r.status_code in (400, 502) and "division by zero" in r.text
    db.clock.advance(61)
    for _ in range(lease_mod.REVOKE_ATTEMPTS):
        upkeep(db)
        db.clock.advance(400)
    looked = db.request("PUT", "sys/leases/lookup", json={"lease_id": out["lease_id"]})
    data = looked.json()["data"]
    assert data["irrevocable"] is True and "division by zero" in data["revocation_error"]
    assert role_exists(pg, out["data"]["username"])
    r = db.request("PUT", "sys/leases/revoke-force/" + out["lease_id"])
    assert r.status_code == 204
    assert db.request("PUT", "sys/leases/lookup",
                      json={"lease_id": out["lease_id"]}).status_code == 400


def test_bad_input_is_a_clear_400(db: InProcessApi, pg: PgServer) -> None:
    cases = [
        ("database/config/x", {"plugin_name": "mysql-database-plugin",
                               "connection_url": "postgresql://h/db"}, "postgresql"),
        ("database/roles/y", {"db_name": "pg"}, "creation_statements"),
        ("database/roles/z", {"db_name": "pg", "creation_statements": "SELECT {{bogus}}"},
         "bogus"),
        ("database/roles/w", {"db_name": "pg", "creation_statements": CREATE,
                              "default_ttl": "2h", "max_ttl": "1h"}, "max_ttl"),
    ]
    for path, body, needle in cases:
        r = db.request("POST", path, json=body)
        assert r.status_code == 400 and needle in r.text, (path, r.text)
    r = db.request("POST", "database/config/down", json={
        "plugin_name": "postgresql-database-plugin",
        "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:1/postgres",
        "username": "u", "password": "the-secret-pw"})
    assert r.status_code == 502 and "the-secret-pw" not in r.text
    assert db.request("GET", "database/creds/nope").status_code == 400


def test_disabling_the_mount_revokes_its_leases(db: InProcessApi, pg: PgServer) -> None:
    user = creds(db)["data"]["username"]
    assert db.request("DELETE", "sys/mounts/database").status_code == 204
    assert not role_exists(pg, user)


def test_a_new_static_role_is_not_due_for_the_worker(db: InProcessApi, pg: PgServer) -> None:
    """Regression: a static role made with last_rotation 0 was 'due' at once, so the
    leader's worker rotated it concurrently with its creation."""
    with pg.connect() as c:
        c.execute("CREATE ROLE svc_new WITH LOGIN")
    assert db.request("POST", "database/static-roles/new", json={
        "db_name": "pg", "username": "svc_new", "rotation_period": "1h"}).status_code == 204
    before = db.request("GET", "database/static-creds/new").json()["data"]
    assert upkeep(db) == 0
    after = db.request("GET", "database/static-creds/new").json()["data"]
    assert after["password"] == before["password"]
    login(pg, "svc_new", after["password"]).close()
    r = db.request("POST", "database/static-roles/ghost", json={
        "db_name": "pg", "username": "no_such_user", "rotation_period": "1h"})
    assert r.status_code == 400 and "does not exist" in r.text
    assert db.request("GET", "database/static-roles/ghost").status_code == 404


def test_lease_count_quota_of_a_namespace_covers_its_mounts(api: InProcessApi,
                                                            pg: PgServer) -> None:
    assert api.request("POST", "sys/namespaces/team").status_code in (200, 204)
    team = {"X-Vault-Namespace": "team"}
    for mount in ("db1", "db2"):
        assert api.request("POST", f"sys/mounts/{mount}", headers=team,
                           json={"type": "database"}).status_code == 204
        assert api.request("POST", f"{mount}/config/pg", headers=team, json={
            "plugin_name": "postgresql-database-plugin",
            "connection_url": pg.connection_url(), "username": pg.superuser,
            "password": pg.password, "allowed_roles": "*"}).status_code == 204
        assert api.request("POST", f"{mount}/roles/app", headers=team, json={
            "db_name": "pg", "creation_statements": CREATE[:1]}).status_code == 204
    r = api.request("POST", "sys/quotas/lease-count/team-cap",
                    json={"path": "team/", "max_leases": 3})
    assert r.status_code == 204, r.text
    got = [api.request("GET", f"{m}/creds/app", headers=team).status_code
           for m in ("db1", "db2", "db1")]
    assert got == [200, 200, 200]
    refused = api.request("GET", "db2/creds/app", headers=team)
    assert refused.status_code == 429 and "team-cap" in refused.text
    assert refused.headers["retry-after"] == "5"
    quota = api.request("GET", "sys/quotas/lease-count/team-cap").json()["data"]
    assert quota == {"name": "team-cap", "path": "team/", "type": "lease-count",
                     "max_leases": 3, "inheritable": True, "role": ""}
    assert api.request("LIST", "sys/quotas/lease-count").json()["data"]["keys"] == ["team-cap"]
    assert api.request("DELETE", "sys/quotas/lease-count/team-cap").status_code == 204
    assert api.request("GET", "db2/creds/app", headers=team).status_code == 200
    r = api.request("POST", "sys/quotas/lease-count/bad", json={"path": "team/"})
    assert r.status_code == 400 and "max_leases" in r.text


def test_static_role_on_a_cron_schedule(db: InProcessApi, pg: PgServer) -> None:
    with pg.connect() as c:
        c.execute("CREATE ROLE svc_cron WITH LOGIN")
    r = db.request("POST", "database/static-roles/cron", json={
        "db_name": "pg", "username": "svc_cron", "rotation_schedule": "0 3 * * *"})
    assert r.status_code == 204, r.text
    first = db.request("GET", "database/static-creds/cron").json()["data"]
    assert first["rotation_schedule"] == "0 3 * * *"
    assert 0 < first["ttl"] <= 86400  # the fixed clock is 08:00 UTC: 19 h to 03:00
    assert first["ttl"] == 19 * 3600
    db.clock.advance(19 * 3600 - 10)
    assert upkeep(db) == 0
    db.clock.advance(10)
    assert upkeep(db) == 1
    second = db.request("GET", "database/static-creds/cron").json()["data"]
    assert second["password"] != first["password"] and second["ttl"] == 86400
    r = db.request("POST", "database/static-roles/both", json={
        "db_name": "pg", "username": "svc_cron", "rotation_schedule": "0 3 * * *",
        "rotation_period": "1h"})
    assert r.status_code == 400 and "not both" in r.text


def test_a_request_of_several_writes_with_an_idempotency_key(db: InProcessApi,
                                                            pg: PgServer) -> None:
    """Regression: with one request id on every command of a request, the second and
    third writes of a static role's creation answered with the first's remembered
    result, so the role was stored without credentials (the CLI and SDK send keys)."""
    with pg.connect() as c:
        c.execute("CREATE ROLE svc_idem WITH LOGIN")
    body = {"db_name": "pg", "username": "svc_idem", "rotation_period": "1h"}
    key = {"Idempotency-Key": "create-svc-idem-1"}
    assert db.request("POST", "database/static-roles/idem", json=body,
                      headers=key).status_code == 204
    first = db.request("GET", "database/static-creds/idem").json()["data"]
    login(pg, "svc_idem", first["password"]).close()
    assert db.request("POST", "database/static-roles/idem", json=body,
                      headers=key).status_code == 204  # a retry: nothing new happens
    again = db.request("GET", "database/static-creds/idem").json()["data"]
    assert again["password"] == first["password"]
    login(pg, "svc_idem", again["password"]).close()


def test_many_leases_expiring_at_once_are_all_revoked_in_one_round(
        db: InProcessApi, pg: PgServer) -> None:
    """Regression: parallel default revocations on one database collided in PostgreSQL's
    catalog ("tuple concurrently updated"), so most expired leases needed retries and
    some became irrevocable."""
    users = [creds(db)["data"]["username"] for _ in range(30)]  # CREATE has a GRANT
    db.clock.advance(3601)
    assert upkeep(db) == 30
    assert not any(role_exists(pg, u) for u in users)
    looked = db.request("LIST", "sys/leases/lookup/database/creds/app/")
    assert looked.status_code == 404
