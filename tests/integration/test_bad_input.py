"""Bad input gets a clear 4xx, never a 500, and never changes stored state."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration
PATH = "bad/input/target"


@pytest.fixture(scope="module")
def seeded(node: ReadyNode) -> Iterator[ReadyNode]:
    with node.root as c:
        c.post(f"/v1/secret/data/{PATH}", json={"data": {"keep": "me"}})
    yield node


def snapshot(c: httpx.Client) -> tuple[object, object]:
    return (c.get(f"/v1/secret/metadata/{PATH}").json()["data"],
            c.get(f"/v1/secret/data/{PATH}").json()["data"])


BAD_REQUESTS = [
    # (method, path, content, json, headers, status, message fragment)
    ("POST", f"/v1/secret/data/{PATH}", b"{not json", None, {}, 400, "malformed JSON"),
    ("POST", f"/v1/secret/data/{PATH}", b"[1, 2]", None, {}, 400, "JSON object"),
    ("POST", f"/v1/secret/data/{PATH}", None, {"data": "text"}, {}, 400,
     "'data' must be a JSON object"),
    ("POST", f"/v1/secret/data/{PATH}", None, {"data": [1]}, {}, 400, "JSON object"),
    ("POST", f"/v1/secret/data/{PATH}", None, {}, {}, 400, "missing required field 'data'"),
    ("POST", f"/v1/secret/data/{PATH}", None, {"data": {"a": 1}, "options": {"cas": "1"}}, {},
     400, "'cas'"),
    ("POST", f"/v1/secret/data/{PATH}", None, {"data": {"a": 1}, "options": {"cas": 0}}, {},
     400, "did not match"),
    ("POST", f"/v1/secret/data/{PATH}", None, {"data": {"a": 1}, "options": {"cax": 1}}, {},
     400, "unknown option"),
    ("POST", f"/v1/secret/metadata/{PATH}", None, {"max_versions": True}, {}, 400,
     "'max_versions' must be an integer"),
    ("POST", f"/v1/secret/metadata/{PATH}", None, {"delete_version_after": "soon"}, {}, 400,
     "duration"),
    ("POST", f"/v1/secret/metadata/{PATH}", None, {"custom_metadata": {"k": 1}}, {}, 400,
     "must be a string"),
    ("POST", f"/v1/secret/delete/{PATH}", None, {"versions": ["1"]}, {}, 400, "versions"),
    ("POST", f"/v1/secret/destroy/{PATH}", None, {}, {}, 400, "versions"),
    ("GET", f"/v1/secret/data/{PATH}?version=abc", None, None, {}, 400, "version"),
    ("POST", "/v1/secret/data/a/%2E%2E/b", None, {"data": {}}, {}, 400, ".."),
    ("POST", "/v1/secret/data/a%00b", None, {"data": {}}, {}, 400, "path"),
    ("POST", "/v1/secret/data/" + "x" * 600, None, {"data": {}}, {}, 400, "448"),
    ("POST", "/v1/secret/data/sp ace", None, {"data": {}}, {}, 400, "path"),
    ("GET", "/v1/nothing/mounted/here", None, None, {}, 404, "nothing is mounted"),
    ("GET", "/v1/sys/not-an-endpoint", None, None, {}, 404, "no handler"),
    ("GET", "/v2/secret/data/x", None, None, {}, 404, "/v1/"),
    ("GET", "/v1/secret/bogus/x", None, None, {}, 404, "KV v2 paths"),
    ("DELETE", "/v1/sys/seal-status", None, None, {}, 405, "supported: GET"),
    ("PATCH", f"/v1/secret/destroy/{PATH}", None, {}, {}, 405, "supported"),
    ("GET", f"/v1/secret/delete/{PATH}", None, None, {}, 405, "supported"),
    ("PUT", "/v1/sys/unseal", None, {"key": 7}, {}, 400, "'key'"),
]


@pytest.mark.parametrize(("method", "path", "content", "body", "headers", "status", "fragment"),
                         BAD_REQUESTS, ids=[f"{r[0]} {r[1][:40]} {r[5]}" for r in BAD_REQUESTS])
def test_bad_request_is_rejected_without_changing_state(
        seeded: ReadyNode, method: str, path: str, content: bytes | None,
        body: dict[str, object] | None, headers: dict[str, str], status: int,
        fragment: str) -> None:
    with seeded.root as c:
        before = snapshot(c)
        response = c.request(method, path, content=content, json=body, headers=headers)
        assert response.status_code == status, response.text
        assert fragment in response.json()["errors"][0]
        assert snapshot(c) == before


def test_body_over_one_mib_is_413(seeded: ReadyNode) -> None:
    with seeded.root as c:
        before = snapshot(c)
        big = b'{"data": {"blob": "' + b"x" * (1024 * 1024) + b'"}}'
        response = c.post(f"/v1/secret/data/{PATH}", content=big)
        assert response.status_code == 413
        assert "larger than" in response.json()["errors"][0]
        assert snapshot(c) == before


def test_chunked_body_over_limit_is_413(seeded: ReadyNode) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"data": {"blob": "'
        for _ in range(80):
            yield b"y" * 16384
        yield b'"}}'

    with seeded.root as c:
        response = c.post(f"/v1/secret/data/{PATH}", content=chunks())
        assert response.status_code == 413


def test_unknown_http_method_is_405(seeded: ReadyNode) -> None:
    with seeded.root as c:
        assert c.request("OPTIONS", f"/v1/secret/data/{PATH}").status_code == 405


def test_raw_dot_dot_path_on_the_wire_is_400(seeded: ReadyNode) -> None:
    # httpx normalizes "a/../b" away; send the bytes ourselves.
    context = ssl.create_default_context(cafile=str(seeded.server.tls.ca_cert))
    with socket.create_connection(("127.0.0.1", seeded.server.port)) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(b"GET /v1/secret/data/a/../sys/seal HTTP/1.1\r\nHost: x\r\n"
                     b"X-Vault-Token: " + seeded.root_token.encode() + b"\r\n"
                     b"Connection: close\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
