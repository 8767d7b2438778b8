"""A real, throw-away PostgreSQL server for tests (no mocks, no Docker).

`postgres_server(tmp)` runs `initdb` and `postgres` from the local installation
(`pg_bin()`), listening on a free TCP port of 127.0.0.1 (scram-sha-256 password
auth) and on a unix socket inside its own directory, with fsync off. It yields a
`PgServer` once a password login succeeds and stops the server (`pg_ctl stop -m
fast`, then a kill if needed) when the block ends.

PostgreSQL refuses to run as root. When the tests run as root (as here and in
CI) every PostgreSQL program runs as the unprivileged `postgres` user (created by
Debian's `postgresql` package; override with STRONGBOX_PG_USER) through
`subprocess`'s `user=`/`group=`, and the server's directory is owned by that user.
If `tmp` is not reachable by that user (pytest's /tmp/pytest-of-root is 0700) the
server lives in a fresh directory under the system temp dir instead, removed
afterwards but for its log, copied to `tmp/postgres.log`. The log is
`PgServer.data_dir.parent / "postgres.log"` while the server runs.

`pg_bin()` finds the binaries: $STRONGBOX_PG_BIN, then the newest
/usr/lib/postgresql/<ver>/bin (Debian/Ubuntu), /usr/pgsql-<ver>/bin (RHEL),
then `initdb` on PATH. None means "not installed": tests skip. CI installs
PostgreSQL, so such a skip in CI means the CI setup is broken.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from strongbox.testing import free_port

SUPERUSER = "strongbox_root"
START_TIMEOUT_S = 60.0
SKIP_REASON = ("PostgreSQL binaries (initdb, postgres, pg_ctl) not found: install Debian's "
               "`postgresql` package or set STRONGBOX_PG_BIN. CI installs PostgreSQL, so this "
               "skip in CI means the CI setup is broken")
_PROGRAMS = ("initdb", "postgres", "pg_ctl")


def pg_bin() -> Path | None:
    """The directory holding initdb, postgres and pg_ctl, or None when none is found."""
    candidates: list[Path] = []
    if os.environ.get("STRONGBOX_PG_BIN"):
        candidates.append(Path(os.environ["STRONGBOX_PG_BIN"]))
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"):
        found = [Path(p) for p in glob.glob(pattern)]
        candidates += sorted(found, key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if all(os.access(directory / name, os.X_OK) for name in _PROGRAMS):
            return directory
    return None


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", str(path))) or (0,)


@dataclass(frozen=True)
class PgServer:
    """A running server: TCP on host:port, the superuser and its password."""

    host: str
    port: int
    superuser: str
    password: str = field(repr=False)
    socket_dir: Path
    data_dir: Path

    def dsn(self, db: str = "postgres", user: str | None = None,
            password: str | None = None) -> str:
        """A libpq key=value DSN over TCP (the superuser's credentials unless given)."""
        return make_conninfo(host=self.host, port=str(self.port), dbname=db,
                             user=user or self.superuser,
                             password=self.password if password is None else password,
                             connect_timeout="10")

    def connection_url(self, db: str = "postgres", query: str = "") -> str:
        """Vault's connection_url, with the {{username}}/{{password}} placeholders."""
        url = f"postgresql://{{{{username}}}}:{{{{password}}}}@{self.host}:{self.port}/{db}"
        return url + (f"?{query}" if query else "")

    def connect(self, db: str = "postgres", **kw: Any) -> psycopg.Connection[Any]:
        """A superuser connection in autocommit mode."""
        return psycopg.connect(self.dsn(db), autocommit=True, **kw)


@dataclass
class _Runner:
    """Runs PostgreSQL programs, as the unprivileged owner when we are root."""

    bin: Path
    owner: pwd.struct_passwd | None
    cwd: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        if self.owner is not None:
            env.update(HOME=self.owner.pw_dir, USER=self.owner.pw_name,
                       LOGNAME=self.owner.pw_name)
        return env

    def _as_owner(self) -> dict[str, Any]:
        if self.owner is None:
            return {}
        return {"user": self.owner.pw_uid, "group": self.owner.pw_gid, "extra_groups": []}

    def run(self, program: str, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run([str(self.bin / program), *args], cwd=self.cwd, env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False,
                              **self._as_owner())
        if proc.returncode != 0:
            raise RuntimeError(f"{program} failed (rc {proc.returncode}): "
                               f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen([str(self.bin / "postgres"), *args], cwd=self.cwd,
                                    env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True,
                                    **self._as_owner())

    def chown(self, path: Path) -> None:
        if self.owner is not None:
            os.chown(path, self.owner.pw_uid, self.owner.pw_gid)


def _owner() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("STRONGBOX_PG_USER", "postgres")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"tests run as root but there is no user {name!r} to run PostgreSQL "
                           "as (PostgreSQL refuses root): create it (Debian's postgresql "
                           "package does) or set STRONGBOX_PG_USER") from None


def _reachable(path: Path, owner: pwd.struct_passwd) -> bool:
    """Whether `owner` may traverse every directory down to `path`."""
    for directory in [path, *path.parents]:
        st = directory.stat()
        if st.st_uid == owner.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid == owner.pw_gid:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _free_port() -> int:
    return free_port()  # outside the ephemeral range, a slice per xdist worker


@contextlib.contextmanager
def postgres_server(tmp: Path) -> Iterator[PgServer]:
    """Start a fresh PostgreSQL under `tmp` (or a private temp dir, see the module
    docstring); yield it when a password login works; stop it afterwards."""
    binary = pg_bin()
    if binary is None:
        raise RuntimeError(SKIP_REASON)
    owner = _owner()
    tmp.mkdir(parents=True, exist_ok=True)
    private = owner is not None and not _reachable(tmp.resolve(), owner)
    base = Path(tempfile.mkdtemp(prefix="sbpg-")) if private else Path(tempfile.mkdtemp(
        prefix="pg-", dir=tmp))
    if len(str(base)) > 80:  # unix socket paths are limited to ~107 bytes
        shutil.rmtree(base)
        base, private = Path(tempfile.mkdtemp(prefix="sbpg-")), True
    runner = _Runner(binary, owner, base)
    password = secrets.token_urlsafe(18)
    try:
        data, sock = _init_cluster(runner, base, password)
        with _running(runner, data, sock, password) as server:
            yield server
    finally:
        if private:  # keep the server's log with the test's files, drop the rest
            with contextlib.suppress(OSError):
                shutil.copyfile(base / "postgres.log", tmp / "postgres.log")
            shutil.rmtree(base, ignore_errors=True)


def _init_cluster(runner: _Runner, base: Path, password: str) -> tuple[Path, Path]:
    """initdb with the superuser and its password; pg_hba for password auth only."""
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    pwfile = base / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    for path in (base, sock, pwfile):
        runner.chown(path)
    runner.run("initdb", "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}",
               "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
    pwfile.unlink()
    (data / "pg_hba.conf").write_text("local all all scram-sha-256\n"
                                      "host all all 127.0.0.1/32 scram-sha-256\n")
    return data, sock


@contextlib.contextmanager
def _running(runner: _Runner, data: Path, sock: Path, password: str) -> Iterator[PgServer]:
    """Run `postgres` on a free port (a few tries: the port may be taken meanwhile)."""
    log = data.parent / "postgres.log"
    for _attempt in range(3):
        port = _free_port()
        proc = runner.start("-D", str(data), "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                            "-c", f"unix_socket_directories={sock}", "-c", "fsync=off",
                            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                            "-c", "max_connections=60", "-c", "password_encryption=scram-sha-256",
                            log=log)
        server = PgServer("127.0.0.1", port, SUPERUSER, password, sock, data)
        try:
            if _wait_ready(server, proc, log):
                yield server
                return
        finally:
            _stop(runner, data, proc)
    raise RuntimeError(f"postgres did not start; log:\n{log.read_text()[-3000:]}")


def _wait_ready(server: PgServer, proc: subprocess.Popen[bytes], log: Path) -> bool:
    """Poll a password login until it works (True), the server exits (False: e.g. the
    port was taken) or the deadline passes (RuntimeError with the log's tail)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with psycopg.connect(server.dsn(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            time.sleep(0.05)  # polling interval, not a wait for readiness
    raise RuntimeError(f"postgres not ready after {START_TIMEOUT_S:.0f}s; "
                       f"log:\n{log.read_text()[-3000:]}")


def _stop(runner: _Runner, data: Path, proc: subprocess.Popen[bytes]) -> None:
    """pg_ctl stop -m fast; kill the process if it is still there after that."""
    if proc.poll() is None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            runner.run("pg_ctl", "stop", "-D", str(data), "-m", "fast", "-w", "-t", "30",
                       timeout=40)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def require_pg() -> None:
    """Skip the calling test when PostgreSQL is not installed; fail instead when
    STRONGBOX_REQUIRE_PG is set (`.ci/run` sets it: CI installs PostgreSQL, so a missing
    server there is a broken setup, not a reason to skip)."""
    import pytest

    if pg_bin() is not None:
        return
    if os.environ.get("STRONGBOX_REQUIRE_PG"):
        pytest.fail(SKIP_REASON)
    pytest.skip(SKIP_REASON)


def module_server(factory: Any, setup: Sequence[str] = ()) -> Iterator[PgServer]:
    """The body of a test module's `pg` fixture: a server of the module's own (skipped or
    failed per `require_pg`), with `setup` statements run once as the superuser."""
    require_pg()
    with postgres_server(factory.mktemp("pg")) as server:
        if setup:
            with server.connect() as conn:
                for statement in setup:
                    conn.execute(statement)
        yield server
