"""hvac's `client.secrets.database` and `client.sys` lease calls against a real node and
a real PostgreSQL; and a client that keeps reconnecting through alternating static-role
rotations without one failed login."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import hvac.exceptions
import psycopg
import pytest

from tests.conftest import ReadyNode
from tests.pg import PgServer, module_server

pytestmark = pytest.mark.integration
CREATE = ["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
          "VALID UNTIL '{{expiration}}';"]


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    yield from module_server(tmp_path_factory)


@pytest.fixture(scope="module")
def client(node: ReadyNode, pg: PgServer) -> hvac.Client:
    c = hvac.Client(url=node.server.addr, token=node.root_token,
                    verify=str(node.server.tls.ca_cert))
    c.sys.enable_secrets_engine("database", path="database")
    c.secrets.database.configure(
        "pg", "postgresql-database-plugin", allowed_roles=["app", "svc", "alt"],
        connection_url=pg.connection_url(), username=pg.superuser, password=pg.password)
    return c


def test_dynamic_roles_credentials_and_leases(client: hvac.Client, pg: PgServer) -> None:
    db = client.secrets.database
    db.create_role("app", db_name="pg", creation_statements=CREATE, default_ttl="1h",
                   max_ttl="24h")
    assert db.read_role("app")["data"]["db_name"] == "pg"
    assert "app" in db.list_roles()["data"]["keys"]
    assert db.read_connection("pg")["data"]["plugin_name"] == "postgresql-database-plugin"
    assert "pg" in db.list_connections()["data"]["keys"]
    creds = db.generate_credentials("app")
    user, password = creds["data"]["username"], creds["data"]["password"]
    psycopg.connect(pg.dsn(user=user, password=password)).close()
    lease = client.sys.read_lease(creds["lease_id"])["data"]
    assert lease["id"] == creds["lease_id"] and lease["renewable"]
    renewed = client.sys.renew_lease(creds["lease_id"], increment=7200)
    assert renewed["lease_duration"] == 7200
    listed = client.sys.list_leases("database/creds/app/")["data"]["keys"]
    assert creds["lease_id"].rsplit("/", 1)[1] in listed
    client.sys.revoke_lease(creds["lease_id"])
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn(user=user, password=password))
    db.delete_role("app")
    with pytest.raises(hvac.exceptions.InvalidPath):
        db.read_role("app")


def test_static_role_through_hvac(client: hvac.Client, pg: PgServer) -> None:
    with pg.connect() as c:
        c.execute("CREATE ROLE svc_hvac WITH LOGIN PASSWORD 'unknown'")
    db = client.secrets.database
    db.create_static_role("svc", db_name="pg", username="svc_hvac", rotation_statements=[],
                          rotation_period=3600)
    first = db.get_static_credentials("svc")["data"]
    assert first["username"] == "svc_hvac" and 0 < first["ttl"] <= 3600
    db.rotate_static_role_credentials("svc")
    second = db.get_static_credentials("svc")["data"]
    assert second["password"] != first["password"]
    psycopg.connect(pg.dsn(user="svc_hvac", password=second["password"])).close()
    assert db.read_static_role("svc")["data"]["username"] == "svc_hvac"
    db.delete_static_role("svc")


def test_a_reconnecting_client_never_fails_through_alternating_rotations(
        node: ReadyNode, client: hvac.Client, pg: PgServer) -> None:
    with pg.connect() as c:
        for user in ("alt_a", "alt_b"):
            c.execute(f"CREATE ROLE {user} WITH LOGIN PASSWORD 'unknown'")
    client.write_data("database/static-roles/alt", data={
        "db_name": "pg", "username": "alt_a", "alternate_username": "alt_b",
        "rotation_period": "1h"})
    app = hvac.Client(url=node.server.addr, token=node.root_token,
                      verify=str(node.server.tls.ca_cert))
    stop, failures, logins = threading.Event(), [], [0]
    last_read = [0.0]  # when the read of the newest completed login began

    def reconnecting_client() -> None:
        while not stop.is_set():
            began = time.monotonic()
            creds = app.read("database/static-creds/alt")["data"]
            try:
                psycopg.connect(pg.dsn(user=creds["username"],
                                       password=creds["password"])).close()
                logins[0] += 1
                last_read[0] = began
            except psycopg.OperationalError as exc:
                failures.append(str(exc))

    worker = threading.Thread(target=reconnecting_client)
    worker.start()
    try:
        for _ in range(10):
            client.write_data("database/rotate-role/alt", data={})
            rotated = time.monotonic()
            # rotations are a rotation_period apart in real life: before the next one, the
            # client has logged in with credentials it read after this one (the one-period
            # promise of alternating users), with a deadline
            deadline = rotated + 20
            while last_read[0] <= rotated and not failures and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        stop.set()
        worker.join(timeout=30)
    assert failures == [] and logins[0] > 0


def test_the_lease_cli_looks_up_renews_and_revokes(node: ReadyNode, client: hvac.Client,
                                                   pg: PgServer, tmp_path: Path) -> None:
    from tests.integration.test_cli import CLI, cli_env

    client.secrets.database.create_role("app", db_name="pg", creation_statements=CREATE,
                                        default_ttl="1h", max_ttl="3h")
    env = cli_env(node, tmp_path, node.root_token)

    def sb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                              check=False, env=env)

    issued = sb("read", "-format=json", "database/creds/app")
    assert issued.returncode == 0, issued.stderr
    lease_id = json.loads(issued.stdout)["lease_id"]
    shown = sb("read", "database/creds/app")
    assert "lease_id" in shown.stdout and "lease_renewable" in shown.stdout
    looked = sb("lease", "lookup", "-format=json", lease_id)
    assert json.loads(looked.stdout)["data"]["id"] == lease_id
    renewed = sb("lease", "renew", "-increment=2h", "-field=lease_duration", lease_id)
    assert renewed.stdout.strip() == "7200", renewed.stderr
    assert sb("lease", "revoke", lease_id).returncode == 0
    gone = sb("lease", "lookup", lease_id)
    assert gone.returncode == 1 and gone.stderr.startswith("Error: invalid lease")
    assert sb("lease", "revoke", "-prefix", "database/creds/app").returncode == 0
    assert sb("lease", "revoke", "-force", lease_id).returncode == 2
