"""The userpass auth method against real nodes: hvac, lockout, throttle, audit, bad input.

The login throttle counts 10 attempts a minute per client address. Every test here
runs on loopback, so tests that log in through raw httpx bind their own source
address (127.0.x.y: Linux routes all of 127.0.0.0/8 to lo) and do not eat into
each other's budget. The throttle itself, and the audit/log checks, run on a
dedicated node (`guarded`) with a file audit device.
"""

from __future__ import annotations

import itertools
import json
import secrets
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest

from strongbox.testing import ServerProcess, TlsFiles
from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration

INVALID = "invalid username or password"
APP_POLICY = '''
path "secret/data/up/app/*" {
  capabilities = ["read"]
}
'''
_hosts = itertools.count(1)


def new_address() -> str:
    """A loopback source address no other test in this process uses."""
    n = next(_hosts)
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


def password() -> str:
    return "pw-" + secrets.token_urlsafe(18)


def hv(node: ReadyNode, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token, verify=str(node.server.tls.ca_cert))


def client_from(server: ServerProcess, address: str, token: str | None = None) -> httpx.Client:
    """An httpx client whose connections come from `address` (a loopback IP)."""
    context = ssl.create_default_context(cafile=str(server.tls.ca_cert))
    headers = {"X-Vault-Token": token} if token else {}
    return httpx.Client(base_url=server.addr, headers=headers, timeout=15.0,
                        transport=httpx.HTTPTransport(verify=context, local_address=address))


def login(server: ServerProcess, mount: str, user: str, secret: str,
          address: str) -> httpx.Response:
    with client_from(server, address) as client:
        return client.post(f"/v1/auth/{mount}/login/{user}", json={"password": secret})


def enable(node: ReadyNode, mount: str) -> str:
    """Enable userpass at `mount`; its accessor as GET sys/auth reports it."""
    with node.root as root:
        assert root.post(f"/v1/sys/auth/{mount}", json={"type": "userpass"}).status_code == 204
        return str(root.get("/v1/sys/auth").json()["data"][f"{mount}/"]["accessor"])


def create_user(node: ReadyNode, mount: str, user: str, secret: str,
                policies: list[str] | None = None) -> None:
    with node.root as root:
        response = root.post(f"/v1/auth/{mount}/users/{user}",
                             json={"password": secret, "token_policies": policies or []})
        assert response.status_code == 204, response.text


def errors(response: httpx.Response) -> list[str]:
    body: dict[str, Any] = response.json()
    return list(body["errors"])


def locked_names(node: ReadyNode, accessor: str) -> list[str]:
    with node.root as root:
        response = root.get("/v1/sys/locked-users")
    assert response.status_code == 200, response.text
    names: list[str] = []
    for namespace in response.json()["data"]["by_namespace"]:
        for mount in namespace["mount_accessors"]:
            if mount["mount_accessor"] == accessor:
                names += [user["alias_identifier"] for user in mount["locked_users"]]
    return names


# --- the shared node ------------------------------------------------------------------


def test_hvac_user_crud_login_and_the_token_carries_exactly_the_users_policies(
        node: ReadyNode) -> None:
    root = hv(node, node.root_token)
    root.sys.enable_auth_method("userpass", path="up-hvac")
    assert root.sys.list_auth_methods()["data"]["up-hvac/"]["type"] == "userpass"
    root.sys.create_or_update_policy(name="up-app", policy=APP_POLICY)
    root.secrets.kv.v2.create_or_update_secret(path="up/app/db", secret={"password": "s3"})
    root.secrets.kv.v2.create_or_update_secret(path="up/other/db", secret={"password": "no"})
    secret = password()
    root.auth.userpass.create_or_update_user("alice", secret, policies=["up-app"],
                                             mount_point="up-hvac", token_ttl="30m")
    user = root.auth.userpass.read_user("alice", mount_point="up-hvac")["data"]
    assert user["token_policies"] == ["up-app"] and user["token_ttl"] == 1800
    assert "password" not in user and "password_hash" not in json.dumps(user)
    root.auth.userpass.create_or_update_user("bob", password(), mount_point="up-hvac")
    assert sorted(root.auth.userpass.list_user(mount_point="up-hvac")["data"]["keys"]) == \
        ["alice", "bob"]

    app = hv(node)
    auth = app.auth.userpass.login("alice", secret, mount_point="up-hvac")["auth"]
    assert auth["client_token"].startswith("sbs.")
    assert sorted(auth["policies"]) == ["default", "up-app"]
    assert 1700 <= auth["lease_duration"] <= 1800
    assert auth["metadata"] == {"username": "alice"}
    assert app.token == auth["client_token"]  # hvac adopted the token
    me = app.lookup_token()["data"]
    assert sorted(me["policies"]) == ["default", "up-app"]
    assert me["display_name"].endswith("alice")
    read = app.secrets.kv.v2.read_secret_version(path="up/app/db",
                                                 raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": "s3"}
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.read_secret_version(path="up/other/db", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.create_or_update_secret(path="up/app/db", secret={"password": "x"})
    with pytest.raises(hvac.exceptions.Forbidden):  # the user cannot manage users
        app.auth.userpass.create_or_update_user("mallory", password(), mount_point="up-hvac")
    assert secret not in node.server.log_path.read_text(errors="replace")


def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(node: ReadyNode) -> None:
    enable(node, "up-enum")
    secret = password()
    create_user(node, "up-enum", "carol", secret)
    address = new_address()
    wrong = login(node.server, "up-enum", "carol", secret + "x", address)
    unknown = login(node.server, "up-enum", "nobody-here", secret, address)
    assert (wrong.status_code, errors(wrong)) == (400, [INVALID])
    assert (unknown.status_code, errors(unknown)) == (400, [INVALID])
    assert login(node.server, "up-enum", "carol", secret, address).status_code == 200


def test_user_names_are_case_insensitive(node: ReadyNode) -> None:
    enable(node, "up-case")
    secret = password()
    create_user(node, "up-case", "DaveUser", secret, ["default"])
    with node.root as root:
        assert root.get("/v1/auth/up-case/users/daveuser").status_code == 200
        assert root.get("/v1/auth/up-case/users/DAVEUSER").status_code == 200
        listed = root.request("LIST", "/v1/auth/up-case/users").json()["data"]["keys"]
        assert listed == ["daveuser"]
        # writing the same name in another case updates the one user
        assert root.post("/v1/auth/up-case/users/DAVEUSER",
                         json={"token_policies": ["up-x"]}).status_code == 204
        assert root.request("LIST", "/v1/auth/up-case/users").json()["data"]["keys"] == \
            ["daveuser"]
        assert root.get("/v1/auth/up-case/users/daveuser").json()["data"]["token_policies"] \
            == ["up-x"]
    address = new_address()
    upper = login(node.server, "up-case", "DAVEUSER", secret, address)
    assert upper.status_code == 200, upper.text
    assert upper.json()["auth"]["metadata"] == {"username": "daveuser"}
    assert sorted(upper.json()["auth"]["policies"]) == ["default", "up-x"]
    assert login(node.server, "up-case", "daveuser", secret, address).status_code == 200


def test_a_new_password_replaces_the_old_and_a_deleted_user_cannot_log_in(
        node: ReadyNode) -> None:
    root = hv(node, node.root_token)
    root.sys.enable_auth_method("userpass", path="up-pw")
    old, new = password(), password()
    root.auth.userpass.create_or_update_user("erin", old, policies=["default"],
                                             mount_point="up-pw")
    root.auth.userpass.update_password_on_user("erin", new, mount_point="up-pw")
    address = new_address()
    refused = login(node.server, "up-pw", "erin", old, address)
    assert (refused.status_code, errors(refused)) == (400, [INVALID])
    assert login(node.server, "up-pw", "erin", new, address).status_code == 200
    # a policies-only update keeps the password
    root.auth.userpass.create_or_update_user("erin", policies=["up-app"], mount_point="up-pw")
    kept = login(node.server, "up-pw", "erin", new, address)
    assert kept.status_code == 200 and "up-app" in kept.json()["auth"]["policies"]
    root.auth.userpass.delete_user("erin", mount_point="up-pw")
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.auth.userpass.read_user("erin", mount_point="up-pw")
    gone = login(node.server, "up-pw", "erin", new, address)
    assert (gone.status_code, errors(gone)) == (400, [INVALID])
    with node.root as raw:  # updating the password of a user that does not exist
        assert raw.post("/v1/auth/up-pw/users/erin/password",
                        json={"password": password()}).status_code == 404


def test_five_failures_lock_the_user_until_an_operator_unlocks_it(node: ReadyNode) -> None:
    accessor = enable(node, "up-lock")
    secret = password()
    create_user(node, "up-lock", "frank", secret)
    address = new_address()
    for _ in range(4):
        early = login(node.server, "up-lock", "frank", "wrong-" + secret, address)
        assert (early.status_code, errors(early)) == (400, [INVALID])
    fifth = login(node.server, "up-lock", "frank", "wrong-" + secret, address)
    if fifth.status_code == 400:  # the contract allows locking on the next attempt
        fifth = login(node.server, "up-lock", "frank", "wrong-" + secret, address)
    assert fifth.status_code == 403, fifth.text
    assert "locked" in errors(fifth)[0]
    refused = login(node.server, "up-lock", "frank", secret, address)
    assert refused.status_code == 403 and "locked" in errors(refused)[0]
    assert locked_names(node, accessor) == ["frank"]

    with node.root as root:
        unlocked = root.post(f"/v1/sys/locked-users/{accessor}/unlock/frank")
        assert unlocked.status_code in (200, 204), unlocked.text
        assert root.post("/v1/sys/locked-users/auth_userpass_nope/unlock/frank") \
            .status_code == 404
    assert locked_names(node, accessor) == []
    again = login(node.server, "up-lock", "frank", secret, address)
    assert again.status_code == 200, again.text
    with node.client(again.json()["auth"]["client_token"]) as frank:
        assert frank.get("/v1/auth/token/lookup-self").status_code == 200
        # unlocking is an operator's (sudo) job
        assert frank.get("/v1/sys/locked-users").status_code == 403
        assert frank.post(f"/v1/sys/locked-users/{accessor}/unlock/frank").status_code == 403


def test_a_successful_login_resets_the_failure_count(node: ReadyNode) -> None:
    accessor = enable(node, "up-reset")
    secret = password()
    create_user(node, "up-reset", "grace", secret)
    address = new_address()
    for _round in range(2):
        for _ in range(4):
            failed = login(node.server, "up-reset", "grace", "wrong-" + secret, address)
            assert (failed.status_code, errors(failed)) == (400, [INVALID])
        ok = login(node.server, "up-reset", "grace", secret, address)
        assert ok.status_code == 200, ok.text
    assert locked_names(node, accessor) == []


def test_bad_input_is_refused(node: ReadyNode) -> None:
    root = hv(node, node.root_token)
    root.sys.enable_auth_method("userpass", path="up-bad")
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.enable_auth_method("ldap", path="up-ldap")
    with pytest.raises(hvac.exceptions.InvalidRequest):  # the path is taken
        root.sys.enable_auth_method("approle", path="up-bad")
    methods = root.sys.list_auth_methods()["data"]
    assert "up-ldap/" not in methods and methods["up-bad/"]["type"] == "userpass"
    with node.root as raw:
        assert raw.post("/v1/auth/up-bad/users/henry", json={}).status_code == 400
        assert raw.post("/v1/auth/up-bad/users/henry",
                        json={"token_policies": ["default"]}).status_code == 400
        assert raw.post("/v1/auth/up-bad/users/henry",
                        json={"password": "pw", "token_period": "soon"}).status_code == 400
        assert raw.post("/v1/auth/up-bad/users/henry",
                        json={"password": "x" * 1025}).status_code == 400
        assert raw.post("/v1/auth/up-bad/users/henry", json={"password": 12345}) \
            .status_code == 400
        assert raw.get("/v1/auth/up-bad/users/henry").status_code == 404  # none was created
        assert raw.post("/v1/auth/up-bad/users/henry",
                        json={"password": "henry-pw"}).status_code == 204
    address = new_address()
    with client_from(node.server, address) as anon:
        missing = anon.post("/v1/auth/up-bad/login/henry", json={})
        assert missing.status_code == 400 and "password" in errors(missing)[0]
        extra = anon.post("/v1/auth/up-bad/login/henry",  # Vault: ignored, with a warning
                          json={"password": "henry-pw", "otp": "123456"})
        assert extra.status_code == 200 and "[otp]" in extra.json()["warnings"][0]
        assert anon.post("/v1/auth/up-bad/login/henry", content=b"{not json").status_code \
            == 400
        nowhere = anon.get("/v1/auth/nope/login/x")
        assert nowhere.status_code == 404
        assert anon.post("/v1/auth/nope/login/x", json={"password": "p"}).status_code == 404
        # managing users needs a token
        assert anon.post("/v1/auth/up-bad/users/ivan", json={"password": "p"}) \
            .status_code == 403
        assert anon.post("/v1/auth/up-bad/login/henry",
                         json={"password": "henry-pw"}).status_code == 200


# --- a dedicated node: throttle, audit, logs ----------------------------------------


@dataclass
class Guarded:
    node: ReadyNode
    audit_log: Path
    mount: str = "guard"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[Guarded]:
    """A node of its own, with a file audit device and userpass at auth/guard/."""
    base = tmp_path_factory.mktemp("guarded")
    server = ServerProcess(base / "data", tls).start()
    try:
        keys, root = server.init_and_unseal()
        audit_log = base / "audit" / "audit.log"
        audit_log.parent.mkdir()
        with server.client(root) as client:
            enabled = client.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": str(audit_log)}})
            assert enabled.status_code == 204, enabled.text
            assert client.post("/v1/sys/auth/guard", json={"type": "userpass"}) \
                .status_code == 204
        yield Guarded(ReadyNode(server, keys, root), audit_log)
    finally:
        server.stop()


def test_more_than_ten_attempts_a_minute_from_one_address_get_429(guarded: Guarded) -> None:
    server = guarded.node.server
    address = new_address()
    for i in range(10):  # unknown users: nothing gets locked, only the address counts
        answer = login(server, guarded.mount, f"nobody-{i}", "pw", address)
        assert answer.status_code == 400, (i, answer.text)
    throttled = login(server, guarded.mount, "nobody-10", "pw", address)
    assert throttled.status_code == 429, throttled.text
    retry_after = throttled.headers.get("Retry-After", "")
    assert retry_after.isdigit() and 0 < int(retry_after) <= 60, retry_after
    assert "too many" in errors(throttled)[0]
    audited = _audit_responses(guarded.audit_log, f"auth/{guarded.mount}/login/nobody-10")
    assert [e["response"]["status"] for e in audited] == [429]
    assert "too many" in audited[0]["error"]
    # another address is not throttled
    assert login(server, guarded.mount, "nobody-11", "pw", new_address()).status_code == 400


def test_more_than_ten_attempts_a_minute_for_one_user_get_429(guarded: Guarded) -> None:
    server = guarded.node.server
    secret = password()
    create_user(guarded.node, guarded.mount, "busy", secret)
    for i in range(10):  # each from its own address: only the user name counts; successes
        answer = login(server, guarded.mount, "busy", secret, new_address())  # so no lock
        assert answer.status_code == 200, (i, answer.text)
    throttled = login(server, guarded.mount, "BUSY", secret, new_address())
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["Retry-After"]) > 0


def _audit_responses(path: Path, request_path: str) -> list[dict[str, Any]]:
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [e for e in entries
            if e["type"] == "response" and e["request"]["path"] == request_path]


def test_failed_logins_and_the_lockout_are_audited_and_no_password_is_written(
        guarded: Guarded) -> None:
    node, mount = guarded.node, guarded.mount
    secret, wrong = password(), password()
    create_user(node, mount, "judy", secret)
    address = new_address()
    answers = [login(node.server, mount, "judy", wrong, address) for _ in range(5)]
    if answers[-1].status_code == 400:
        answers.append(login(node.server, mount, "judy", wrong, address))
    assert [a.status_code for a in answers[:4]] == [400] * 4
    assert answers[-1].status_code == 403 and "locked" in errors(answers[-1])[0]

    deadline = time.monotonic() + 5
    while True:
        audited = _audit_responses(guarded.audit_log, f"auth/{mount}/login/judy")
        if len(audited) >= len(answers) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    failures = [e for e in audited if e["error"] == INVALID]
    lockouts = [e for e in audited if "locked" in e["error"]]
    assert len(failures) == 4 and all(e["response"]["status"] == 400 for e in failures)
    assert len(lockouts) == 1 and lockouts[0]["response"]["status"] == 403
    assert all(e["request"]["remote_address"] == address for e in failures + lockouts)
    raw_audit = guarded.audit_log.read_text()
    assert secret not in raw_audit and wrong not in raw_audit
    # the user's creation is on the record too, with its password HMAC'd
    created = _audit_responses(guarded.audit_log, f"auth/{mount}/users/judy")
    assert created and str(created[-1]["request"]["data"]["password"]).startswith("hmac-")

    log = node.server.log_path.read_text(errors="replace")
    assert secret not in log and wrong not in log
    assert "locked" in log  # lockouts are logged...
    lock_lines = [line for line in log.splitlines() if "locked after" in line]
    assert lock_lines and not any("judy" in line for line in lock_lines)  # ...without the name
    assert any(lockouts[0]["request"]["id"] in line for line in lock_lines)
