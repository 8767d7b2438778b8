"""The PostgreSQL plugin of the Database engine ("postgresql-database-plugin").

`PostgresPlugin` is asynchronous (psycopg 3 `AsyncConnection`s): the engine awaits
its methods on the event loop, no thread pool needed. It keeps a small pool of its
own, opened lazily and bounded by `max_open_connections` (counting connections to
other databases made during a revocation and the login checks), with Vault's
`max_idle_connections` and `max_connection_lifetime` semantics.

Statements are Vault-style templates rendered by `templates.render` (identifiers
and literals, never pasted text). Creation, renewal, rotation, rollback and custom
revocation statements each run in one transaction.

Errors (docs: strongbox/errors.py), messages never holding a password:

- `DatabaseError` (BadGateway, 502): PostgreSQL cannot be reached, refuses the login
  or fails on its side (SQLSTATE classes 08, 28, 40, 53, 55, 57, 58, XX). The message
  names host:port/database, the user and the server's text.
- `DatabaseStatementError` (BadRequest, 400): PostgreSQL rejected a statement (syntax,
  missing privilege, role exists, objects still depend on a role...): names which
  statement, the server's text and SQLSTATE.
- `DatabaseBusy` (ServiceUnavailable, 503): every pooled connection stayed busy for
  `ACQUIRE_TIMEOUT_S`, or the plugin is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus

from strongbox.engines.database import templates
from strongbox.engines.database.pgerrors import (
    TRANSIENT_TRIES,
    DatabaseBusy,
    Transient,
    backoff,
    transient,
    translate,
)
from strongbox.errors import BadRequest

CONNECT_TIMEOUT_S = 10
ACQUIRE_TIMEOUT_S = 30.0
PING_AFTER_S = 1.0
LOCK_TIMEOUT = "10s"
APPLICATION_NAME = "strongbox"
DEFAULT_RENEW = "ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';"
DEFAULT_SET_PASSWORD = "ALTER ROLE \"{{name}}\" WITH PASSWORD '{{password}}';"  # noqa: S105
PASSWORD_AUTHENTICATIONS = ("password", "scram-sha-256")
SCRAM = PASSWORD_AUTHENTICATIONS[1]
_USER_MARK, _PASS_MARK = "SBUSERMARKX9", "SBPASSMARKX9"


@dataclass(frozen=True)
class PgConfig:
    """A connection's configuration (Vault's names). `connection_url` is a
    postgresql:// URL or a libpq key=value string, with `{{username}}`/`{{password}}`
    replaced by `username`/`password` (any characters: they are set after parsing,
    never pasted into the URL). `max_idle_connections` 0 means max_open, negative
    means none; `max_connection_lifetime_s` 0 means unlimited. With
    `password_authentication="scram-sha-256"` passwords are hashed here
    (PQencryptPasswordConn) so statements and server logs never hold them in clear."""

    connection_url: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    max_open_connections: int = 4
    max_idle_connections: int = 0
    max_connection_lifetime_s: int = 0
    password_authentication: str = PASSWORD_AUTHENTICATIONS[0]

    def __post_init__(self) -> None:
        if self.max_open_connections < 1:
            raise BadRequest("max_open_connections must be at least 1")
        if self.max_connection_lifetime_s < 0:
            raise BadRequest("max_connection_lifetime must be 0 (unlimited) or more seconds")
        if self.password_authentication not in PASSWORD_AUTHENTICATIONS:
            raise BadRequest("password_authentication must be one of "
                             + ", ".join(PASSWORD_AUTHENTICATIONS))

    @property
    def max_idle(self) -> int:
        """Idle connections kept, as Vault computes it."""
        if self.max_idle_connections == 0:
            return self.max_open_connections
        return max(0, min(self.max_idle_connections, self.max_open_connections))


def connection_params(config: PgConfig) -> dict[str, str]:
    """libpq parameters from `config` (BadRequest when the URL does not parse or has
    an unknown placeholder). Adds connect_timeout and application_name when unset,
    and the user/password fields when the URL names none."""
    url = config.connection_url.replace("{{username}}", _USER_MARK).replace(
        "{{password}}", _PASS_MARK)
    if "{{" in url:
        raise BadRequest("connection_url: only the {{username}} and {{password}} "
                         "placeholders are supported")
    try:
        parsed = conninfo_to_dict(url)
    except psycopg.Error:
        raise BadRequest("connection_url is neither a postgresql://user:pass@host:port/db "
                         "URL nor a libpq key=value string") from None
    params = {k: str(v).replace(_USER_MARK, config.username).replace(_PASS_MARK, config.password)
              for k, v in parsed.items() if v is not None}
    if config.username and "user" not in params:
        params["user"] = config.username
    if config.password and "password" not in params:
        params["password"] = config.password
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    params.setdefault("application_name", APPLICATION_NAME)
    return params


def describe(params: dict[str, str]) -> str:
    """host:port/database of `params`, for messages (never the password)."""
    return (f"{params.get('host') or params.get('hostaddr') or 'localhost'}:"
            f"{params.get('port') or 5432}/{params.get('dbname') or params.get('user', '')}")


Conn = psycopg.AsyncConnection[Any]
T = TypeVar("T")


class _Pool:
    """At most `max_open_connections` connections at any time: pooled ones (in use
    or idle) plus dedicated ones (other databases, other users), each on a slot."""

    def __init__(self, config: PgConfig, params: dict[str, str]) -> None:
        self._config, self._params = config, params
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cond = asyncio.Condition()
        self._idle: list[tuple[Conn, float, float]] = []  # (connection, opened, idle since)
        self._open = 0  # slots taken: connections open or being opened
        self._closed = False

    def _here(self) -> asyncio.Condition:
        """The pool's condition, on the running loop. Used on one loop at a time: moved
        to another (tests running a loop each), it starts over, closing its idle
        connections without their old loop."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            for conn, _opened, _since in self._idle:
                conn.pgconn.finish()
            self._loop, self._cond, self._idle, self._open = loop, asyncio.Condition(), [], 0
        return self._cond

    async def _reserve(self) -> tuple[Conn, float, float] | None:
        """Wait for an idle connection (returned) or a free slot (None: the caller
        opens a connection on it)."""
        limit = self._config.max_open_connections
        async with self._here():
            try:
                await asyncio.wait_for(self._cond.wait_for(
                    lambda: self._closed or bool(self._idle) or self._open < limit),
                    ACQUIRE_TIMEOUT_S)
            except TimeoutError:
                raise DatabaseBusy(
                    f"all {limit} connections to PostgreSQL at {describe(self._params)} "
                    f"stayed busy for {ACQUIRE_TIMEOUT_S:.0f}s: retry, or raise "
                    "max_open_connections") from None
            if self._closed:
                raise DatabaseBusy("this PostgreSQL connection is closed (its configuration "
                                   "changed or the mount was disabled): retry")
            if self._idle:
                return self._idle.pop()
            self._open += 1
            return None

    async def _drop(self, conn: Conn | None) -> None:
        """Close `conn` (if any) and free its slot."""
        try:
            if conn is not None:
                await conn.close()
        finally:
            async with self._cond:
                self._open -= 1
                self._cond.notify()

    async def _connect(self, params: dict[str, str]) -> Conn:
        try:
            return await psycopg.AsyncConnection.connect(
                make_conninfo(**params), autocommit=True, prepare_threshold=None)
        except psycopg.Error as exc:
            raise translate(exc, f"to log in as user {params.get('user', '')!r}",
                            describe(params),
                            [params.get("password", ""), self._params.get("password", "")],
                            ) from None

    @contextlib.asynccontextmanager
    async def connection(self, **overrides: str) -> AsyncIterator[Conn]:
        """A connection for the block: a pooled one, or with `overrides` (dbname,
        user, password) a dedicated one, closed afterwards."""
        idle = await self._reserve()
        lifetime = self._config.max_connection_lifetime_s
        if idle is not None and (overrides or not await _alive(*idle, lifetime)):
            await idle[0].close()  # its slot goes to the new connection
            idle = None
        if idle is None:
            try:
                conn = await self._connect({**self._params, **overrides})
            except BaseException:
                await self._drop(None)
                raise
            opened = time.monotonic()
        else:
            conn, opened, _since = idle
        try:
            yield conn
        finally:
            await self._release(conn, opened, keep=not overrides)

    async def _release(self, conn: Conn, opened: float, *, keep: bool) -> None:
        lifetime = self._config.max_connection_lifetime_s
        now = time.monotonic()
        healthy = (not conn.closed and not conn.broken
                   and conn.info.transaction_status == TransactionStatus.IDLE)
        if keep and healthy and (lifetime == 0 or now - opened < lifetime):
            async with self._cond:
                if not self._closed and len(self._idle) < self._config.max_idle:
                    self._idle.append((conn, opened, now))
                    self._cond.notify()
                    return
        await self._drop(conn)

    async def close(self) -> None:
        """Close idle connections now and in-use ones when they are released."""
        async with self._here():
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for conn, _opened, _since in idle:
            await self._drop(conn)


async def _alive(conn: Conn, opened: float, idle_since: float, lifetime: int) -> bool:
    """Whether an idle connection may be used: within its lifetime and working
    (pinged when idle over PING_AFTER_S: the server may have restarted meanwhile)."""
    now = time.monotonic()
    if conn.closed or conn.broken or (lifetime and now - opened >= lifetime):
        return False
    if now - idle_since < PING_AFTER_S:
        return True
    try:
        await conn.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


_OTHER_DATABASES = """SELECT DISTINCT d.datname FROM pg_catalog.pg_shdepend s
JOIN pg_catalog.pg_database d ON d.oid = s.dbid
WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.refobjid = %s
  AND d.datallowconn AND d.datname <> pg_catalog.current_database() ORDER BY 1"""
_TERMINATE = """SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity
WHERE usename = %s AND pid <> pg_catalog.pg_backend_pid()"""
_SCHEMAS = """SELECT nspname FROM pg_catalog.pg_namespace
WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%' ORDER BY 1"""


class PostgresPlugin:
    """One configured PostgreSQL connection of a Database mount. Every method is a
    coroutine; none keeps a password after returning; `close()` when the connection
    is reconfigured or the mount goes away."""

    type_name = "postgresql-database-plugin"

    def __init__(self, config: PgConfig) -> None:
        """Parse the configuration (BadRequest when it is wrong); connects lazily."""
        self._config = config
        self._params = connection_params(config)
        self._where = describe(self._params)
        self._pool = _Pool(config, self._params)
        self._lock: asyncio.Lock | None = None  # default revocations, one at a time
        self._last_try = True

    async def verify(self) -> None:
        """Connect (as the configured user) and run SELECT 1: DatabaseError naming
        host:port/database, the user and the server's text when that fails."""
        async with self._pool.connection() as conn:
            try:
                await conn.execute("SELECT 1")
            except psycopg.Error as exc:
                raise translate(exc, "the connection check", self._where, self._secrets()) from None

    async def create_user(self, statements: list[str], username: str, password: str,
                          expiration: datetime) -> None:
        """Run the creation statements ({{name}}, {{password}}, {{expiration}}) in one
        transaction. BadRequest when there are none."""
        if not statements:
            raise BadRequest("a role needs creation_statements to create users")
        values = {"name": username, "password": password, "expiration": _expiration(expiration)}
        await self._transaction(statements, values, "creation", hash_password=True)

    async def renew_user(self, statements: list[str], username: str,
                         expiration: datetime) -> None:
        """Run the renewal statements ({{name}}, {{expiration}}); default:
        ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'."""
        values = {"name": username, "expiration": _expiration(expiration)}
        await self._transaction(statements or [DEFAULT_RENEW], values, "renewal")

    async def revoke_user(self, statements: list[str], username: str, *,
                          reassign_to: str | None = None, drop_owned: bool = True) -> None:
        """Run the revocation statements ({{name}}) in one transaction, or by default:
        ALTER ROLE NOLOGIN, terminate its sessions (best effort: needs superuser or
        pg_signal_backend), then in every database it has objects or privileges in
        (the connected one last): REASSIGN OWNED to `reassign_to` (default: the
        connection's user), REVOKE ALL on every schema and its tables, sequences and
        routines, DROP OWNED (if `drop_owned`; without it DROP ROLE fails when other
        privileges remain), and DROP ROLE IF EXISTS. A missing role is success."""
        if statements:
            await self._transaction(statements, {"name": username}, "revocation")
            return
        # One default revocation at a time per connection: parallel REVOKEs on the same
        # tables collide in the catalog ("tuple concurrently updated"), and each one is
        # about a millisecond. Collisions with other clients are retried (_retrying).
        async with self._revoke_lock():
            for attempt in range(TRANSIENT_TRIES):
                try:
                    await self._default_revoke(username, reassign_to, drop_owned)
                    return
                except Transient:
                    await backoff(attempt)
            await self._default_revoke(username, reassign_to, drop_owned, last=True)

    def _revoke_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def _default_revoke(self, username: str, reassign_to: str | None, drop_owned: bool,
                              last: bool = False) -> None:
        self._last_try = last
        async with self._pool.connection() as conn:
            found = await self._guard(self._revoke_prepare(conn, username), "the revocation")
        if found is None:
            return
        me, others = found
        target = reassign_to or me
        for dbname in others:
            async with self._pool.connection(dbname=dbname) as conn:
                await self._guard(self._clean(conn, username, target, drop_owned, False),
                                  f"the revocation of role {username!r}", dbname)
        async with self._pool.connection() as conn:
            await self._guard(self._clean(conn, username, target, drop_owned, True),
                              f"the revocation of role {username!r}")

    async def rollback_user(self, statements: list[str], username: str) -> None:
        """Undo a creation: the rollback statements ({{name}}) in one transaction, or
        by default the default revocation."""
        if statements:
            await self._transaction(statements, {"name": username}, "rollback")
        else:
            await self.revoke_user([], username)

    async def set_password(self, username: str, password: str,
                           statements: list[str] | None = None) -> None:
        """Set a role's password (static roles, root rotation) with the statements
        ({{name}}, {{password}}); default ALTER ROLE "{{name}}" WITH PASSWORD '...'."""
        await self._transaction(statements or [DEFAULT_SET_PASSWORD],
                                {"name": username, "password": password}, "password change",
                                hash_password=True)

    async def login_check(self, username: str, password: str) -> None:
        """Log in as `username` on a new connection (not a pooled one) and SELECT 1;
        DatabaseError (without the password) when that fails."""
        async with self._pool.connection(user=username, password=password) as conn:
            try:
                await conn.execute("SELECT 1")
            except psycopg.Error as exc:
                raise translate(exc, "the login check", self._where,
                                self._secrets(password)) from None

    async def close(self) -> None:
        """Close the pool; later calls raise DatabaseBusy."""
        await self._pool.close()

    def _secrets(self, *extra: str) -> list[str]:
        return [self._config.password, self._params.get("password", ""), *extra]

    async def _guard(self, work: Awaitable[T], action: str, dbname: str | None = None) -> T:
        """Await `work`, translating psycopg errors (the password never in them); a
        transient catalog conflict raises `Transient` unless this is the last try."""
        try:
            return await work
        except psycopg.Error as exc:
            if transient(exc) and not self._last_try:
                raise Transient from None
            where = describe({**self._params, "dbname": dbname}) if dbname else self._where
            raise translate(exc, action, where, self._secrets()) from None

    async def _transaction(self, statements: Sequence[str], values: dict[str, str], what: str,
                           *, hash_password: bool = False) -> None:
        """Render and run `statements` in one transaction on a pooled connection."""
        queries = [q for s in statements for q in templates.render(s, values)]
        if not queries:
            raise BadRequest(f"the {what} statements hold no SQL")
        secrets = self._secrets(values.get("password", ""))
        async with self._pool.connection() as conn:
            if hash_password and self._config.password_authentication == SCRAM:
                values = {**values, "password": _scram(conn, values["name"], values["password"])}
                secrets.append(values["password"])
                queries = [q for s in statements for q in templates.render(s, values)]
            for attempt in range(TRANSIENT_TRIES + 1):
                step = f"the {what} statements"
                try:
                    async with conn.transaction():
                        for number, query in enumerate(queries, 1):
                            step = f"{what} statement {number} of {len(queries)}"
                            await conn.execute(query)
                    return
                except psycopg.Error as exc:
                    if transient(exc) and attempt < TRANSIENT_TRIES:
                        await backoff(attempt)  # a concurrent GRANT/REVOKE: run it again
                        continue
                    raise translate(exc, step, self._where, secrets) from None

    async def _revoke_prepare(self, conn: Conn, username: str) -> tuple[str, list[str]] | None:
        """None when the role does not exist; else lock it out, end its sessions and
        return (the connection's user, the other databases it has objects in)."""
        cur = await conn.execute("SELECT oid, current_user FROM pg_catalog.pg_roles "
                                 "WHERE rolname = %s", [username])
        row = await cur.fetchone()
        if row is None:
            return None
        oid, me = row
        if username == me:
            raise BadRequest(f"refusing to revoke {username!r}: it is the connection's own user")
        await conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(username)))
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            await conn.execute(_TERMINATE, [username])
        cur = await conn.execute(_OTHER_DATABASES, [oid])
        return str(me), [str(r[0]) for r in await cur.fetchall()]

    async def _clean(self, conn: Conn, username: str, target: str, drop_owned: bool,
                     drop_role: bool) -> None:
        """The default revocation's work in `conn`'s database, in one transaction."""
        role = sql.Identifier(username)
        async with conn.transaction():
            await conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                sql.Literal(LOCK_TIMEOUT)))
            rows = await (await conn.execute(_SCHEMAS)).fetchall()
            schemas = [sql.Identifier(r[0]) for r in rows]
            steps = [sql.SQL("REASSIGN OWNED BY {} TO {}").format(role, sql.Identifier(target))]
            if schemas:
                listed = sql.SQL(", ").join(schemas)
                steps += [sql.SQL("REVOKE ALL PRIVILEGES ON ALL {} IN SCHEMA {} FROM {}").format(
                    sql.SQL(kind), listed, role) for kind in ("TABLES", "SEQUENCES", "ROUTINES")]
                steps.append(sql.SQL("REVOKE ALL PRIVILEGES ON SCHEMA {} FROM {}").format(
                    listed, role))
            if drop_owned:
                steps.append(sql.SQL("DROP OWNED BY {}").format(role))
            if drop_role:
                databases = await (await conn.execute(
                    "SELECT datname FROM pg_catalog.pg_database ORDER BY 1")).fetchall()
                steps.append(sql.SQL("REVOKE ALL PRIVILEGES ON DATABASE {} FROM {}").format(
                    sql.SQL(", ").join(sql.Identifier(r[0]) for r in databases), role))
                steps.append(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
            for step in steps:
                await conn.execute(step)


def _expiration(when: datetime) -> str:
    """RFC 3339 in UTC, what VALID UNTIL takes. `when` must be timezone-aware."""
    if when.tzinfo is None:
        raise ValueError("expiration must be a timezone-aware datetime")
    return when.astimezone(UTC).isoformat(timespec="seconds")


def _scram(conn: Conn, username: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier of `password`, computed by libpq on this side."""
    return conn.pgconn.encrypt_password(password.encode(), username.encode(),
                                        b"scram-sha-256").decode("ascii")
