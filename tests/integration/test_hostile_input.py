"""Hostile input on a real node with a file audit device: every case is a clear 4xx with a
message a person can act on, the audit log stays writable and chained, and the requests
after it still succeed (docs/api.md, "Input limits")."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strongbox.audit.verify import verify_file
from strongbox.testing import TlsFiles
from tests.conftest import ReadyNode, ready_node

pytestmark = pytest.mark.integration
HEADER_TIMEOUT = 1.0
APPROLE: dict[str, str] = {}  # the fixture's AppRole credentials (logins not throttled)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[
        tuple[ReadyNode, Path]]:
    data = tmp_path_factory.mktemp("hostile") / "data"
    with ready_node(data, tls, extra_config=(
            f"[limits]\nheader_timeout_s = {HEADER_TIMEOUT}\n")) as node:
        with node.root as c:
            assert c.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": "audit.log"}}).status_code == 204
            assert c.post("/v1/sys/auth/userpass", json={"type": "userpass"}).status_code \
                == 204
            assert c.post("/v1/auth/userpass/users/alice",
                          json={"password": "alice-password-1"}).status_code == 204
            assert c.post("/v1/sys/auth/approle", json={"type": "approle"}).status_code == 204
            assert c.post("/v1/auth/approle/role/web", json={"token_ttl": "1h"}).status_code \
                == 204
            role_id = c.get("/v1/auth/approle/role/web/role-id").json()["data"]["role_id"]
            secret_id = c.post("/v1/auth/approle/role/web/secret-id").json()["data"][
                "secret_id"]
            APPROLE.update(role_id=role_id, secret_id=secret_id)
            assert c.post("/v1/sys/namespaces/hostile-ns").status_code == 200
            assert c.post("/v1/secret/data/hostile/folder/a",
                          json={"data": {"k": "v"}}).status_code == 200
        yield node, data / "audit.log"


def assert_still_serving(node: ReadyNode, audit_log: Path) -> None:
    """A later write, read and login succeed and reach the audit log, whose chain holds."""
    marker = uuid.uuid4().hex
    with node.root as c:
        assert c.post("/v1/secret/data/hostile/after",
                      json={"data": {"marker": marker}}).status_code == 200
        read = c.get("/v1/secret/data/hostile/after")
        assert read.status_code == 200 and read.json()["data"]["data"]["marker"] == marker
        assert c.get("/v1/sys/health").status_code == 200
    with node.client() as anonymous:
        login = anonymous.post("/v1/auth/approle/login", json=APPROLE)
        assert login.status_code == 200, login.text
    request_ids = {read.headers["x-request-id"], login.headers["x-request-id"]}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logged = {json.loads(line)["request"]["id"]
                  for line in audit_log.read_text().splitlines()}
        if request_ids <= logged:
            break
        time.sleep(0.02)
    assert request_ids <= logged, "the requests after the hostile one were not audited"
    result = verify_file(audit_log)
    assert result.ok, result.reason


def error(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    errors = response.json()["errors"]
    assert errors and isinstance(errors[0], str)
    return str(errors[0])


# -- 1. paths: empty segments, overlong paths, namespaces ------------------------------

EMPTY_SEGMENT_PATHS = ["/v1//sys/health", "/v1/secret//data/x", "/v1/secret/data//x",
                       "/v1/secret/data/x//", "/v1//", "/v1///sys/seal-status",
                       "/v1/auth//token/lookup-self", "/v1//auth/approle/login"]


@pytest.mark.parametrize("path", EMPTY_SEGMENT_PATHS)
@pytest.mark.parametrize("method", ["GET", "POST", "LIST", "DELETE"])
@pytest.mark.parametrize("with_token", [True, False])
def test_an_empty_path_segment_is_400_naming_the_clean_path(
        hostile: tuple[ReadyNode, Path], path: str, method: str, with_token: bool) -> None:
    node, _ = hostile
    with (node.root if with_token else node.client()) as c:
        response = c.request(method, path, json={"data": {"a": 1}})
    message = error(response)
    assert response.status_code == 400
    assert "empty segment" in message
    clean = "/v1/" + "/".join(part for part in path[4:].split("/") if part)
    assert clean in message


def test_one_trailing_slash_is_still_allowed(hostile: tuple[ReadyNode, Path]) -> None:
    node, _ = hostile
    with node.root as c:
        assert c.get("/v1/sys/health/").status_code == 200
        listed = c.request("LIST", "/v1/secret/metadata/hostile/")
        assert listed.status_code == 200 and "folder/" in listed.json()["data"]["keys"]


@pytest.mark.parametrize("path", [
    "/v1/secret/data/" + "a" * 440,                      # 452 after /v1/
    "/v1/secret/data/a/" + "b" * 300 + "/" + "c" * 200,  # long segments
    "/v1/sys/policy/" + "p" * 510,
    "/v1/" + "n" * 5000,
    "/v1/auth/userpass/users/" + "u" * 600,
])
def test_an_overlong_path_is_400(hostile: tuple[ReadyNode, Path], path: str) -> None:
    node, audit_log = hostile
    with node.root as c:
        for method in ("GET", "POST", "DELETE", "LIST"):
            response = c.request(method, path, json={"data": {"a": 1}, "password": "x"})
            assert response.status_code == 400
            assert "longer than 448 characters" in error(response)
    assert_still_serving(node, audit_log)


def test_the_longest_path_fits_storage_and_one_more_with_a_namespace_does_not(
        hostile: tuple[ReadyNode, Path]) -> None:
    node, audit_log = hostile
    longest = "/v1/secret/data/" + "a" * (448 - len("secret/data/"))
    with node.root as c:
        assert c.post(longest, json={"data": {"k": "v"}}).status_code == 200, "written"
        assert c.get(longest).json()["data"]["data"] == {"k": "v"}
        assert c.delete(longest).status_code == 204
        # the same path inside a namespace: its storage key would be longer
        inside = c.get(longest, headers={"X-Vault-Namespace": "hostile-ns"})
        assert inside.status_code == 400 and "with its namespace" in error(inside)
    assert_still_serving(node, audit_log)


@pytest.mark.parametrize("namespace", ["a//b", "n" * 600, "a/" * 20 + "a", "sp ace",
                                       "../x", "x" * 65])
def test_a_malformed_namespace_header_is_400(hostile: tuple[ReadyNode, Path],
                                             namespace: str) -> None:
    node, _ = hostile
    with node.root as c:
        response = c.get("/v1/secret/data/x", headers={"X-Vault-Namespace": namespace})
    assert response.status_code == 400
    assert "X-Vault-Namespace must be a namespace path" in error(response)


def test_a_namespace_whose_path_would_be_too_long_is_refused(
        hostile: tuple[ReadyNode, Path]) -> None:
    node, audit_log = hostile
    parent = ""
    with node.root as c:
        for depth in range(4):  # paths of 63, 127, 191 and 255 characters
            headers = {"X-Vault-Namespace": parent} if parent else {}
            name = "d" * 62 + str(depth)
            created = c.post(f"/v1/sys/namespaces/{name}", headers=headers)
            assert created.status_code == 200, created.text
            parent = f"{parent}/{name}" if parent else name
        too_long = c.post(f"/v1/sys/namespaces/{'e' * 64}",
                          headers={"X-Vault-Namespace": parent})
        assert too_long.status_code == 400 and "at most 256 characters" in error(too_long)
    assert_still_serving(node, audit_log)


# -- 2. JSON bodies -----------------------------------------------------------------------

BAD_BODIES = [
    (b'{"data": {"a": NaN}}', "NaN"),
    (b'{"data": {"a": Infinity}}', "Infinity"),
    (b'{"data": {"a": -Infinity}}', "-Infinity"),
    (b'{"data": {"a": 1e400}}', "overflow"),
    (b'{"data": {"a": -1e400}}', "overflow"),
    (b'{"data": {"a": "\\ud800"}}', "surrogate"),
    (b'{"data": {"\\udfff": "key"}}', "surrogate"),
    (b'{"password": "x\\udc00y"}', "surrogate"),
    (b'{"data": {"a": "\xed\xa0\x80"}}', "UTF-8"),
    (b'{"data": {"a": "\xff"}}', "UTF-8"),
    (b'{"data": ' + b"[" * 900 + b"]" * 900 + b"}", "at most 64 levels"),
    (b'{"data": {"a": ' + b'{"b": ' * 70 + b"1" + b"}" * 70 + b"}}", "at most 64 levels"),
    (b"[" * 100_000 + b"]" * 100_000, "at most 64 levels"),
    (b'{"data": {"a": ' + b"7" * 5000 + b"}}", "4300 digits"),
    (b'{"password": ' + b"9" * 5000 + b"}", "4300 digits"),
]


@pytest.mark.parametrize(("body", "fragment"), BAD_BODIES,
                         ids=[f"{fragment}-{i}" for i, (_, fragment) in enumerate(BAD_BODIES)])
def test_a_hostile_json_body_is_400_and_the_audit_log_stays_writable(
        hostile: tuple[ReadyNode, Path], body: bytes, fragment: str) -> None:
    node, audit_log = hostile
    with node.root as c:
        write = c.post("/v1/secret/data/hostile/json", content=body,
                       headers={"Content-Type": "application/json"})
    assert write.status_code == 400 and fragment in error(write)
    with node.client() as anonymous:  # a login without a token: audited too
        login = anonymous.post("/v1/auth/approle/login", content=body)
    assert login.status_code == 400 and fragment in error(login)
    assert_still_serving(node, audit_log)


def test_nesting_up_to_the_limit_and_escaped_pairs_are_accepted(
        hostile: tuple[ReadyNode, Path]) -> None:
    node, _ = hostile
    nested: object = 1
    for _ in range(62):  # {"data": {"a": <62 levels>}} is 64 levels deep
        nested = [nested]
    body = {"data": {"a": nested, "emoji": "\U0001f600", "big": 10**100, "f": 1.5e300}}
    with node.root as c:
        written = c.post("/v1/secret/data/hostile/deep", content=json.dumps(body))
        assert written.status_code == 200, written.text
        read = c.get("/v1/secret/data/hostile/deep").json()["data"]["data"]
    assert read == body["data"]


# -- 5. repeated headers -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["X-Vault-Token", "Authorization", "X-Vault-Namespace",
                                  "X-Vault-Wrap-TTL", "Idempotency-Key"])
def test_a_repeated_single_valued_header_is_400(hostile: tuple[ReadyNode, Path],
                                                name: str) -> None:
    node, audit_log = hostile
    values = {"X-Vault-Token": ["not-a-token", node.root_token],
              "Authorization": [f"Bearer {node.root_token}", "Bearer not-a-token"],
              "X-Vault-Namespace": ["hostile-ns", ""], "X-Vault-Wrap-TTL": ["60s", "120s"],
              "Idempotency-Key": ["one", "two"]}[name]
    headers = [(name, value) for value in values]
    if name != "X-Vault-Token":
        headers.append(("X-Vault-Token", node.root_token))
    with node.client() as c:
        for path in ("/v1/sys/health", "/v1/secret/data/hostile/folder/a",
                     "/v1/auth/token/lookup-self"):
            response = c.get(path, headers=headers)
            assert response.status_code == 400
            assert f"the {name} header was sent more than once" in error(response)
    assert_still_serving(node, audit_log)


def test_token_header_precedence_is_the_same_everywhere(hostile: tuple[ReadyNode, Path],
                                                        ) -> None:
    """X-Vault-Token wins over Authorization wherever the token is read."""
    node, _ = hostile
    with node.client() as c:
        response = c.get("/v1/auth/token/lookup-self", headers=[
            ("Authorization", "Bearer not-a-token"), ("X-Vault-Token", node.root_token)])
    assert response.status_code == 200, response.text


def test_x_vault_index_may_repeat(hostile: tuple[ReadyNode, Path]) -> None:
    node, _ = hostile
    with node.root as c:
        first = c.post("/v1/secret/data/hostile/index", json={"data": {"n": 1}})
        second = c.post("/v1/secret/data/hostile/index", json={"data": {"n": 2}})
        read = c.get("/v1/secret/data/hostile/index", headers=[
            ("X-Vault-Index", first.headers["x-vault-index"]),
            ("X-Vault-Index", second.headers["x-vault-index"])])
    assert read.status_code == 200 and read.json()["data"]["data"] == {"n": 2}


# -- 6. no value echoed -------------------------------------------------------------------

SECRET_VALUE = "MYSECRET-" + uuid.uuid4().hex


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/auth/token/create", {"ttl": SECRET_VALUE}),
    ("/v1/auth/token/create", {"explicit_max_ttl": SECRET_VALUE}),
    ("/v1/secret/metadata/hostile/echo", {"delete_version_after": SECRET_VALUE}),
    ("/v1/sys/mounts/echo", {"type": SECRET_VALUE}),
    ("/v1/sys/auth/echo", {"type": SECRET_VALUE}),
    ("/v1/sys/audit/echo", {"type": SECRET_VALUE}),
    ("/v1/sys/mounts/secret/tune", {"default_lease_ttl": SECRET_VALUE}),
    ("/v1/auth/userpass/users/bob", {"password": "p", "token_ttl": SECRET_VALUE}),
])
def test_an_error_never_repeats_the_value_sent(hostile: tuple[ReadyNode, Path], path: str,
                                               body: dict[str, object]) -> None:
    node, audit_log = hostile
    with node.root as c:
        response = c.post(path, json=body)
    message = error(response)
    assert response.status_code == 400
    assert SECRET_VALUE not in response.text
    assert re.search(r"'\w+'", message), "the message names the field"
    assert_still_serving(node, audit_log)
    assert SECRET_VALUE not in audit_log.read_text()


def test_a_duration_error_says_what_a_duration_looks_like(
        hostile: tuple[ReadyNode, Path]) -> None:
    node, _ = hostile
    with node.root as c:
        message = error(c.post("/v1/auth/token/create", json={"ttl": "MYSECRET"}))
    assert "MYSECRET" not in message
    assert "'ttl' must be a duration like \"30m\"" in message and "number of seconds" in message


# -- 3 and 4. the connection: pipelining with LIST, the header timeout ---------------------

class Raw:
    """One TLS connection to the node, read with deadlines."""

    def __init__(self, node: ReadyNode) -> None:
        context = ssl.create_default_context(cafile=str(node.server.tls.ca_cert))
        self.sock = context.wrap_socket(
            socket.create_connection(("127.0.0.1", node.server.port), timeout=10),
            server_hostname="127.0.0.1")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_until_closed(self, deadline_s: float) -> bytes:
        """Everything until the server closes the connection (fails at the deadline)."""
        out, deadline = b"", time.monotonic() + deadline_s
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"the server did not close the connection; got {out!r}"
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                return out
            if not chunk:
                return out
            out += chunk

    def close(self) -> None:
        self.sock.close()


def responses(raw: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each HTTP/1.1 response in `raw` (content-length framed)."""
    out = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
        out.append((status, rest[:length]))
        raw = rest[length:]
    return out


def request(method: str, path: str, token: str, close: bool = False) -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Vault-Token: {token}\r\n"
            f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n").encode()


@pytest.mark.parametrize("order", [("GET", "LIST", "GET"), ("LIST", "GET", "LIST"),
                                   ("LIST", "LIST", "LIST"), ("GET", "GET", "LIST")])
def test_pipelined_requests_with_list_in_one_packet_are_all_answered_in_order(
        hostile: tuple[ReadyNode, Path], order: tuple[str, ...]) -> None:
    node, _ = hostile
    paths = {"GET": "/v1/secret/data/hostile/folder/a", "LIST": "/v1/secret/metadata/hostile"}
    packet = b"".join(request(method, paths[method], node.root_token, close=i == len(order) - 1)
                      for i, method in enumerate(order))
    raw = Raw(node)
    try:
        raw.send(packet)
        answers = responses(raw.read_until_closed(10))
    finally:
        raw.close()
    assert [status for status, _ in answers] == [200] * len(order)
    for method, (_, body) in zip(order, answers, strict=True):
        data = json.loads(body)["data"]
        assert ("keys" in data) == (method == "LIST"), (method, data)


def test_list_split_across_packets_and_after_a_body_is_answered(
        hostile: tuple[ReadyNode, Path]) -> None:
    node, _ = hostile
    body = json.dumps({"data": {"note": "LIST /v1/not/a/request"}}).encode()
    post = (f"POST /v1/secret/data/hostile/folder/b HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"X-Vault-Token: {node.root_token}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
    listing = request("LIST", "/v1/secret/metadata/hostile/folder", node.root_token, close=True)
    raw = Raw(node)
    try:
        raw.send(post + listing[:2])  # "LI" ends the first packet
        raw.send(listing[2:])
        answers = responses(raw.read_until_closed(10))
    finally:
        raw.close()
    assert [status for status, _ in answers] == [200, 200]
    assert sorted(json.loads(answers[1][1])["data"]["keys"]) == ["a", "b"]


def test_a_request_head_that_never_finishes_gets_408_and_the_connection_closes(
        hostile: tuple[ReadyNode, Path]) -> None:
    node, audit_log = hostile
    raw = Raw(node)
    started = time.monotonic()
    try:
        raw.send(b"GET /v1/sys/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        answer = raw.read_until_closed(HEADER_TIMEOUT + 10)
    finally:
        raw.close()
    assert time.monotonic() - started >= HEADER_TIMEOUT * 0.9
    [(status, body)] = responses(answer)
    assert status == 408
    assert "did not arrive within 1s" in json.loads(body)["errors"][0]
    assert_still_serving(node, audit_log)


def test_a_slow_trickle_of_header_bytes_does_not_keep_the_connection(
        hostile: tuple[ReadyNode, Path]) -> None:
    """The timeout runs from the first byte of the head, not from the last one."""
    node, _ = hostile
    raw = Raw(node)
    started, answer = time.monotonic(), b""
    try:
        raw.send(b"GET /v1/sys/health HTTP/1.1\r\n")
        while not answer:  # a header line every quarter of the timeout
            assert time.monotonic() - started < HEADER_TIMEOUT + 10, "never timed out"
            try:
                raw.send(b"X-Trickle: b\r\n")
            except (ConnectionError, ssl.SSLError):
                break
            raw.sock.settimeout(HEADER_TIMEOUT / 4)
            try:
                answer = raw.sock.recv(65536) or b"closed"
            except TimeoutError:
                continue
            except (ConnectionError, ssl.SSLError):
                break
    finally:
        raw.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < HEADER_TIMEOUT * 3


def test_a_connection_that_sends_nothing_is_closed(hostile: tuple[ReadyNode, Path]) -> None:
    node, _ = hostile
    raw = Raw(node)
    try:
        assert raw.read_until_closed(HEADER_TIMEOUT + 10) == b""
    finally:
        raw.close()


def test_keep_alive_requests_each_get_a_fresh_header_timeout(
        hostile: tuple[ReadyNode, Path]) -> None:
    """A keep-alive connection idle for longer than the header timeout is still served:
    the header timer starts at a request's first byte (idle is timeout_keep_alive)."""
    node, _ = hostile
    raw = Raw(node)
    try:
        raw.send(request("GET", "/v1/sys/health", node.root_token))
        raw.sock.settimeout(10)
        first = raw.sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        idle_until = time.monotonic() + HEADER_TIMEOUT * 1.5
        while time.monotonic() < idle_until:  # idle longer than the header timeout
            raw.sock.settimeout(max(0.01, idle_until - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                assert raw.sock.recv(65536) != b"", "closed while idle"
        raw.send(request("GET", "/v1/sys/health", node.root_token, close=True))
        [(status, _)] = responses(raw.read_until_closed(10))
    finally:
        raw.close()
    assert status == 200
