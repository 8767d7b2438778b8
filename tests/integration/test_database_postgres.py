"""The PostgreSQL plugin of the Database engine against a real PostgreSQL (tests/pg.py).

One server for the module; every test uses role names of its own. The plugin is
async: each test runs its coroutine with asyncio.run and makes its plugin inside it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg import sql

from strongbox.engines.database import templates
from strongbox.engines.database.pgerrors import (
    DatabaseBusy,
    DatabaseError,
    DatabaseStatementError,
)
from strongbox.engines.database.postgres import PgConfig, PostgresPlugin
from strongbox.errors import BadRequest
from tests.pg import PgServer, module_server

pytestmark = pytest.mark.integration

CREATE = ("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
          "VALID UNTIL '{{expiration}}';")


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    yield from module_server(tmp_path_factory, ["CREATE TABLE IF NOT EXISTS canary (id int)",
                                                "CREATE TABLE IF NOT EXISTS things (id int)",
                                                "INSERT INTO things VALUES (42)"])


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def config(pg: PgServer, query: str = "", **kw: Any) -> PgConfig:
    return PgConfig(connection_url=pg.connection_url(query=query), username=pg.superuser,
                    password=pg.password, **kw)


def name(prefix: str = "v") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def later(hours: int = 1) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)


def login(pg: PgServer, user: str, password: str, db: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(pg.dsn(db=db, user=user, password=password), autocommit=True)


def one(pg: PgServer, query: str, *params: Any, db: str = "postgres") -> Any:
    with pg.connect(db) as conn:
        row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]


def role_exists(pg: PgServer, role: str) -> bool:
    return bool(one(pg, "SELECT count(*) FROM pg_roles WHERE rolname = %s", role))


async def create(pg: PgServer, statements: list[str], user: str, password: str,
                 **kw: Any) -> None:
    plugin = PostgresPlugin(config(pg, **kw))
    try:
        await plugin.create_user(statements, user, password, later())
    finally:
        await plugin.close()


async def revoke(pg: PgServer, user: str, **kw: Any) -> None:
    plugin = PostgresPlugin(config(pg))
    try:
        await plugin.revoke_user([], user, **kw)
    finally:
        await plugin.close()


def test_verify_succeeds(pg: PgServer) -> None:
    async def body() -> None:
        plugin = PostgresPlugin(config(pg))
        await plugin.verify()
        await plugin.close()

    run(body())


def test_create_user_with_vaults_statement_logs_in_and_selects(pg: PgServer) -> None:
    user, password, expires = name(), templates.generate_password(), later(2)

    async def body() -> None:
        plugin = PostgresPlugin(config(pg))
        await plugin.create_user([CREATE, 'GRANT SELECT ON things TO "{{name}}";'],
                                 user, password, expires)
        await plugin.close()

    run(body())
    with login(pg, user, password) as conn:
        assert conn.execute("SELECT id FROM things").fetchall() == [(42,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM canary")
    assert one(pg, "SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", user) == expires
    run(revoke(pg, user))


def test_statements_in_one_string_and_one_transaction(pg: PgServer) -> None:
    user = name()
    statements = [CREATE + " GRANT SELECT ON things TO \"{{name}}\"; SELECT 1/0;"]
    with pytest.raises(DatabaseStatementError, match=r"statement 3 of 3.*division by zero"):
        run(create(pg, statements, user, "pw-123456"))
    assert not role_exists(pg, user)  # the CREATE ROLE was rolled back


def test_renew_changes_valid_until(pg: PgServer) -> None:
    user = name()
    run(create(pg, [CREATE], user, "pw-123456"))
    new = later(48)

    async def body() -> None:
        plugin = PostgresPlugin(config(pg))
        await plugin.renew_user([], user, new)
        await plugin.close()

    run(body())
    assert one(pg, "SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", user) == new
    run(revoke(pg, user))


def test_renew_statement_with_password_is_rejected(pg: PgServer) -> None:
    async def body() -> None:
        plugin = PostgresPlugin(config(pg))
        try:
            await plugin.renew_user(["ALTER ROLE {{name}} PASSWORD {{password}}"], "x", later())
        finally:
            await plugin.close()

    with pytest.raises(BadRequest, match=r"\{\{password\}\}"):
        run(body())


def test_revoke_ends_login_and_role_and_is_idempotent(pg: PgServer) -> None:
    user, password = name(), "pw-abcdef-1"
    run(create(pg, [CREATE], user, password))
    session = login(pg, user, password)
    run(revoke(pg, user))
    assert not role_exists(pg, user)
    with pytest.raises(psycopg.OperationalError):
        login(pg, user, password)
    with pytest.raises(psycopg.OperationalError):  # its open session was terminated
        session.execute("SELECT 1")
    session.close()
    run(revoke(pg, user))  # again: nothing to do, success
    run(revoke(pg, name("never-existed")))


def _user_with_objects(pg: PgServer, user: str, password: str, db: str = "postgres") -> None:
    with pg.connect(db) as conn:
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(
            sql.Identifier(user)))
    with login(pg, user, password, db) as conn:
        table = sql.Identifier(f"t_{user}")
        conn.execute(sql.SQL("CREATE TABLE {} (id serial PRIMARY KEY, v text)").format(table))
        conn.execute(sql.SQL("CREATE SEQUENCE {}").format(sql.Identifier(f"s_{user}")))
        conn.execute(sql.SQL("CREATE FUNCTION {}() RETURNS int LANGUAGE sql AS 'SELECT 1'").format(
            sql.Identifier(f"f_{user}")))


def _owner(pg: PgServer, relation: str, db: str = "postgres") -> str | None:
    query = ("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = %s")
    owner: str | None = one(pg, query, relation, db=db)
    return owner


def test_revoke_user_owning_tables_and_sequences(pg: PgServer) -> None:
    user, password = name(), "pw-owner-1"
    run(create(pg, [CREATE], user, password))
    _user_with_objects(pg, user, password)
    run(revoke(pg, user))
    assert not role_exists(pg, user)
    assert _owner(pg, f"t_{user}") == pg.superuser
    assert _owner(pg, f"s_{user}") == pg.superuser
    assert _owner(pg, f"t_{user}_id_seq") == pg.superuser


def test_revoke_reassigns_to_the_given_role_in_every_database(pg: PgServer) -> None:
    user, password, heir, other = name(), "pw-owner-2", name("heir"), name("db")
    with pg.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(heir)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(other)))
    run(create(pg, [CREATE, 'GRANT CONNECT ON DATABASE postgres TO "{{name}}"'], user, password))
    _user_with_objects(pg, user, password)
    _user_with_objects(pg, user, password, db=other)
    run(revoke(pg, user, reassign_to=heir))
    assert not role_exists(pg, user)
    assert _owner(pg, f"t_{user}") == heir
    assert _owner(pg, f"s_{user}", db=other) == heir
    with pg.connect(other) as conn:  # the heir can use what it got
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(heir)))
        conn.execute(sql.SQL("INSERT INTO {} (v) VALUES ('x')").format(
            sql.Identifier(f"t_{user}")))


def test_revoke_without_drop_owned_fails_clearly_when_privileges_remain(pg: PgServer) -> None:
    user, password = name(), "pw-owner-3"
    run(create(pg, [CREATE, 'GRANT CONNECT ON DATABASE postgres TO "{{name}}"'], user, password))
    with pg.connect() as conn:
        conn.execute(sql.SQL("CREATE TYPE {} AS (a int)").format(sql.Identifier(f"ty_{user}")))
        conn.execute(sql.SQL("GRANT USAGE ON TYPE {} TO {}").format(
            sql.Identifier(f"ty_{user}"), sql.Identifier(user)))
    with pytest.raises(DatabaseStatementError, match="cannot be dropped") as caught:
        run(revoke(pg, user, drop_owned=False))
    assert pg.password not in caught.value.message
    run(revoke(pg, user))  # the default (DROP OWNED) gets it done
    assert not role_exists(pg, user)


def test_injection_in_username_and_password_is_harmless(pg: PgServer) -> None:
    user = f'x"; DROP TABLE canary; --{secrets.token_hex(2)}'
    password = "p'; DROP TABLE canary; --\"$$"
    do_block = ("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{{name}}') "
                "THEN RAISE EXCEPTION 'missing'; END IF; "
                "EXECUTE 'COMMENT ON ROLE \"{{name}}\" IS ''ok'''; END $$;")
    run(create(pg, [CREATE, do_block], user, password))
    assert role_exists(pg, user)
    assert one(pg, "SELECT count(*) FROM canary") == 0  # the table is still there
    with login(pg, user, password) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (user,)
    run(revoke(pg, user))
    assert not role_exists(pg, user)


def test_unknown_placeholder_is_rejected(pg: PgServer) -> None:
    with pytest.raises(BadRequest, match="nmae"):
        run(create(pg, ['CREATE ROLE "{{nmae}}"'], name(), "pw-1234"))
    with pytest.raises(BadRequest, match="nmae"):
        templates.validate('CREATE ROLE "{{nmae}}"')


def test_statement_errors_never_show_the_password(pg: PgServer) -> None:
    password = "Sekrit-" + secrets.token_hex(6)
    bad = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' ,"
    with pytest.raises(DatabaseStatementError, match="syntax error") as caught:
        run(create(pg, [bad], name(), password))
    assert password not in caught.value.message
    assert password not in repr(caught.value.__cause__) and caught.value.__suppress_context__


def test_scram_hashes_the_password_before_the_server_sees_it(pg: PgServer) -> None:
    user, password = name(), "Clear-" + secrets.token_hex(6)
    log_all = "options=-c%20log_statement%3Dall"  # the server logs every statement it gets
    run(create(pg, [CREATE], user, password, query=log_all,
               password_authentication="scram-sha-256"))
    assert one(pg, "SELECT rolpassword FROM pg_authid WHERE rolname = %s",
               user).startswith("SCRAM-SHA-256$")
    login(pg, user, password).close()
    log = (pg.data_dir.parent / "postgres.log").read_text()
    assert f'CREATE ROLE "{user}" WITH LOGIN PASSWORD \'SCRAM-SHA-256$' in log
    assert password not in log
    run(revoke(pg, user))


def test_set_password_and_login_check(pg: PgServer) -> None:
    user, old, new = name(), "Old-pw-" + secrets.token_hex(4), "New-pw-" + secrets.token_hex(4)
    run(create(pg, [CREATE], user, old))

    async def body() -> None:
        plugin = PostgresPlugin(config(pg))
        await plugin.set_password(user, new)
        await plugin.login_check(user, new)
        with pytest.raises(DatabaseError, match="password authentication failed") as caught:
            await plugin.login_check(user, old)
        assert old not in caught.value.message and new not in caught.value.message
        assert f"127.0.0.1:{pg.port}/postgres" in caught.value.message
        await plugin.revoke_user([], user)
        await plugin.close()

    run(body())


def test_root_password_with_url_breaking_characters(pg: PgServer) -> None:
    admin, password = name("admin"), "p@ss:w/rd?#%&= '\"x"
    with pg.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
            sql.Identifier(admin), sql.Literal(password)))

    async def body() -> None:
        plugin = PostgresPlugin(PgConfig(connection_url=pg.connection_url(), username=admin,
                                         password=password))
        await plugin.verify()
        await plugin.close()

    run(body())


def test_verify_against_a_closed_port_is_clear_and_hides_the_password(pg: PgServer) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        password = "Hidden-" + secrets.token_hex(6)
        url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/appdb"

        async def body() -> None:
            plugin = PostgresPlugin(PgConfig(connection_url=url, username="root",
                                             password=password))
            await plugin.verify()

        with pytest.raises(DatabaseError) as caught:
            run(body())
    message = caught.value.message
    assert f"127.0.0.1:{port}/appdb" in message and "refused" in message.lower()
    assert password not in message and caught.value.status == 502


def test_pool_never_opens_more_than_max_open_connections(pg: PgServer) -> None:
    app = name("pool").replace("-", "_")
    users = [name() for _ in range(8)]

    async def count() -> int:
        async with await psycopg.AsyncConnection.connect(pg.dsn(), autocommit=True) as conn:
            cur = await conn.execute("SELECT count(*) FROM pg_stat_activity "
                                     "WHERE application_name = %s", [app])
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    async def body() -> tuple[int, int, int]:
        plugin = PostgresPlugin(config(pg, f"application_name={app}", max_open_connections=2,
                                       max_idle_connections=1))
        seen = 0
        work = asyncio.gather(*(plugin.create_user([CREATE, "SELECT pg_sleep(0.2)"], u,
                                                   "pw-1234", later()) for u in users))
        while not work.done():
            seen = max(seen, await count())
            await asyncio.sleep(0.02)
        await work
        idle = await count()
        await plugin.close()
        return seen, idle, await count()

    seen, idle, after_close = run(body())
    assert seen == 2 and idle == 1 and after_close == 0
    assert all(role_exists(pg, u) for u in users)
    for user in users:
        run(revoke(pg, user))


def test_no_idle_connections_when_max_idle_is_negative(pg: PgServer) -> None:
    app = name("noidle").replace("-", "_")

    async def body() -> None:
        plugin = PostgresPlugin(config(pg, f"application_name={app}", max_idle_connections=-1))
        await plugin.verify()
        await plugin.close()

    run(body())
    assert one(pg, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
               app) == 0


def test_rollback_drops_the_user_and_closed_plugin_refuses(pg: PgServer) -> None:
    user = name()
    run(create(pg, [CREATE], user, "pw-1234"))

    async def body() -> None:
        plugin = PostgresPlugin(config(pg))
        await plugin.rollback_user([], user)
        await plugin.close()
        with pytest.raises(DatabaseBusy):
            await plugin.verify()

    run(body())
    assert not role_exists(pg, user)


def _backends(pg: PgServer, app: str) -> set[int]:
    with pg.connect() as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s",
                            [app]).fetchall()
    return {int(r[0]) for r in rows}


def test_a_dead_idle_connection_is_replaced(pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from strongbox.engines.database import postgres

    monkeypatch.setattr(postgres, "PING_AFTER_S", 0.0)
    app = name("dead").replace("-", "_")

    async def body() -> None:
        plugin = PostgresPlugin(config(pg, f"application_name={app}", max_open_connections=1))
        await plugin.verify()
        [pid] = _backends(pg, app)
        one(pg, "SELECT pg_terminate_backend(%s)", pid)  # e.g. the server restarted
        await plugin.verify()  # the ping finds it dead: a new connection is used
        assert _backends(pg, app) - {pid}
        await plugin.close()

    run(body())


def test_connections_past_their_lifetime_are_replaced(pg: PgServer) -> None:
    app = name("life").replace("-", "_")

    async def body() -> None:
        plugin = PostgresPlugin(config(pg, f"application_name={app}",
                                       max_connection_lifetime_s=1))
        await plugin.verify()
        first = _backends(pg, app)
        await plugin.verify()
        assert _backends(pg, app) == first  # reused while young
        await asyncio.sleep(1.1)  # let the lifetime pass
        await plugin.verify()
        assert _backends(pg, app).isdisjoint(first)
        await plugin.close()

    run(body())


def test_a_full_pool_answers_busy(pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from strongbox.engines.database import postgres

    monkeypatch.setattr(postgres, "ACQUIRE_TIMEOUT_S", 0.2)
    user = name()

    async def body() -> None:
        plugin = PostgresPlugin(config(pg, max_open_connections=1))
        slow = asyncio.ensure_future(plugin.create_user([CREATE, "SELECT pg_sleep(1)"], user,
                                                        "pw-1234", later()))
        await asyncio.sleep(0.1)  # let it take the only connection
        with pytest.raises(DatabaseBusy, match=r"1 connections .* busy"):
            await plugin.verify()
        await slow
        await plugin.revoke_user([], user)
        await plugin.close()

    run(body())


def test_a_plugin_survives_moving_to_another_event_loop(pg: PgServer) -> None:
    plugin = PostgresPlugin(config(pg))
    run(plugin.verify())  # leaves an idle connection made on that loop
    run(plugin.verify())  # a new loop: starts over
    run(plugin.close())


def test_set_password_with_scram(pg: PgServer) -> None:
    user, new = name(), "Scram-pw-" + secrets.token_hex(4)
    run(create(pg, [CREATE], user, "pw-1234"))

    async def body() -> None:
        plugin = PostgresPlugin(config(pg, password_authentication="scram-sha-256"))
        await plugin.set_password(user, new, ["ALTER ROLE {{username}} PASSWORD {{password}}"])
        await plugin.login_check(user, new)
        await plugin.revoke_user([], user)
        await plugin.close()

    run(body())
