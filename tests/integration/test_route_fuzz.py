"""Property-based fuzzing of the HTTP API on a real node with a file audit device.

Paths come from the route tables (the node's own sys/ and auth/token/ table and every
mounted backend's paths) with random names and extra segments; methods, JSON bodies
(deep, weird floats, lone surrogates, huge integers) and headers are random. Whatever
arrives: never a 5xx, never a hang (the client's timeout), never the planted value in an
error message; the audit log stays writable, chained and free of the planted value, and
so does the server's log.

Deterministic (derandomize) and bounded (max_examples) so it never flakes and stays well
under a minute. Routes that would end the run rather than test input (seal, step-down,
raft membership, snapshot restore, rekey / generate-root ceremonies, disabling the audit
device, revoking the root token) and the ones that call out to other systems (the
Database engine, Kubernetes and JWT logins) are left out.
"""

from __future__ import annotations

import json
import re
import string
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongbox import registry
from strongbox.api.app import STATIC
from strongbox.audit.verify import verify_file
from strongbox.testing import TlsFiles
from tests.conftest import ReadyNode, ready_node

pytestmark = pytest.mark.integration

CANARY = "fzcanary" + uuid.uuid4().hex + "x" * 8  # 48 characters: never a name or option
MOUNTS = {"secret/": "kv", "kv1/": "kv1", "transit/": "transit", "auth/userpass/": "userpass",
          "auth/approle/": "approle", "auth/cert/": "cert"}
EXCLUDED = ("sys/seal", "sys/step-down", "sys/raft", "sys/storage", "sys/rekey",
            "sys/generate-root", "sys/init", "sys/unseal", "sys/audit", "sys/rotate",
            "auth/token/revoke", "sys/leases/revoke", "sys/mounts/secret",
            "sys/auth/userpass", "sys/decode-token")
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
FUZZ_MORE = settings(FUZZ, max_examples=400)


def _templates(pattern: str) -> str | None:
    """A route pattern as a path template ("{name}", "{path}"), or None if it is not
    one a template can stand for."""
    text = re.sub(r"\(\?:/\(\?P<\w+>\.\*\)\)\?", "/{path}", pattern)
    text = re.sub(r"\(\?P<\w+>(?:[^()]|\([^()]*\))*\)", "{name}", text)
    text = text.replace("/?", "/").replace(".*", "{path}")
    return None if re.search(r"[\\()\[\]*?+|^$]", text) else text


def route_templates() -> list[str]:
    out = [*STATIC.exact, *(prefix + "{name}" for prefix in STATIC.prefixes)]
    for mount, kind in MOUNTS.items():
        auth = mount.startswith("auth/")
        backend = registry.auth_method(kind) if auth else registry.secrets_engine(
            "kv", "1") if kind == "kv1" else registry.secrets_engine(kind)
        assert backend is not None, kind
        table = backend.paths
        out += [mount + path for path in (*table.exact, *table.prefixes)]
        out += [mount + t for t in (_templates(p.pattern) for p, _ in table.patterns) if t]
    return sorted({t for t in out if not t.startswith(EXCLUDED)})


TEMPLATES = route_templates()
FIELDS = ["ttl", "data", "options", "password", "policies", "type", "config", "max_versions",
          "cas", "versions", "plaintext", "ciphertext", "key", "token", "policy", "description",
          "default_lease_ttl", "max_lease_ttl", "token_ttl", "token_max_ttl", "token_policies",
          "custom_metadata", "delete_version_after", "num_uses", "period", "explicit_max_ttl",
          "renewable", "no_parent", "input", "increment", "lease_id", "prefix", "name", "bits",
          "context", "nonce", "batch_input", "hash_algorithm", "signature", "exportable",
          "derived", "convergent_encryption", "auto_rotate_period", "deletion_allowed",
          "min_decryption_version", "certificate", "allowed_names", "token_bound_cidrs",
          "secret_id", "role_id", "secret_id_ttl", "bind_secret_id", "secret_id_num_uses",
          "cas_required", "max_leases", "path", "accessor", "display_name", "meta", "level",
          "version", "listing_visibility", "audit_non_hmac_request_keys", "local", "seal_wrap",
          "key_type", "format", "algorithm", "marshaling_algorithm", "input_base64"]
SEGMENT = st.one_of(st.sampled_from(["a", "x.y", "root", "default", "p_1", "-", "+", "..",
                                     ".", "", "a" * 300, "%2F", "LIST", "data", "keys"]),
                    st.text(alphabet=string.ascii_letters + string.digits + "_.+-",
                            min_size=1, max_size=12))
BIG_INT, DEEP = "@@bigint@@", "@@deep@@"
LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=16),
    st.sampled_from(["30m", "1h", "-5s", "768h", "1e400", "", "root", "true", "0", "-1",
                     "999999999999999999999999h", "\ud800", "a\udfffb", BIG_INT, DEEP,
                     "sbs.AAAA", "hvs.x", "aGVsbG8=", "vault:v1:AAAA", "*", "../x"]),
    st.just(CANARY), st.builds(lambda a, b: a + CANARY + b, st.text(max_size=4),
                               st.text(max_size=4)))
JSON = st.recursive(LEAVES, lambda children: st.one_of(
    st.lists(children, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), children,
                    max_size=4)), max_leaves=12)
BODIES = st.one_of(st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=5), JSON)
HEADER_VALUE = st.one_of(
    st.text(alphabet=string.ascii_letters + string.digits + " -_.,:;/=+*", max_size=40),
    st.sampled_from(["", "root", "active-node", "forward-active-node", "consistent", "60s",
                     "0", "1000000h", "application/json", "text/plain"])).map(str.strip)
HEADERS = st.lists(st.tuples(st.sampled_from(
    ["X-Vault-Wrap-TTL", "X-Vault-Index", "X-Vault-Namespace", "Idempotency-Key",
     "X-Vault-Forward", "X-Vault-Inconsistent", "X-Strongbox-Consistency", "Content-Type",
     "X-Vault-Request", "X-Forwarded-For", "Authorization", "X-Vault-Token"]),
    HEADER_VALUE), max_size=3)
CANARY_HEADERS = st.lists(st.tuples(st.sampled_from(
    ["X-Vault-Wrap-TTL", "X-Vault-Index", "Idempotency-Key", "X-Vault-Forward",
     "X-Vault-Inconsistent", "X-Strongbox-Consistency"]), st.just(CANARY)), max_size=1)
METHODS = st.sampled_from(["GET", "PUT", "POST", "DELETE", "LIST", "PATCH"])
WRITES = st.sampled_from(["POST", "PUT", "POST", "PUT", "PATCH", "GET", "LIST", "DELETE"])


@st.composite
def paths(draw: st.DrawFn) -> str:
    template = draw(st.sampled_from(TEMPLATES))
    path = template.replace("{name}", draw(SEGMENT), 1).replace("{name}", draw(SEGMENT))
    path = path.replace("{path}", "/".join(draw(st.lists(SEGMENT, min_size=1, max_size=3))))
    extra = draw(st.lists(SEGMENT, max_size=2)) if draw(st.integers(0, 4)) == 0 else []
    return "/v1/" + "/".join([path.rstrip("/"), *extra]) + draw(st.sampled_from(["", "/"]))


def encode(body: Any) -> bytes:
    text = json.dumps(body, allow_nan=True)  # NaN, Infinity; lone surrogates as \ud800
    text = text.replace(json.dumps(BIG_INT), "7" * 5000)
    return text.replace(json.dumps(DEEP), "[" * 200 + "]" * 200).encode()


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[
        tuple[ReadyNode, Path]]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    with ready_node(data, tls) as node:
        with node.root as c:
            assert c.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": "audit.log"}}).status_code == 204
            for mount, kind in MOUNTS.items():
                if mount == "secret/":
                    continue
                where = "/v1/sys/" + ("auth/" + mount[5:] if mount.startswith("auth/")
                                      else "mounts/" + mount)
                body = {"type": "kv", "options": {"version": "1"}} if kind == "kv1" \
                    else {"type": kind}
                assert c.post(where.rstrip("/"), json=body).status_code == 204, where
            c.post("/v1/secret/data/a", json={"data": {"k": "v"}})
            c.post("/v1/transit/keys/a")
            c.post("/v1/auth/userpass/users/a", json={"password": "fuzz-pass"})
            c.post("/v1/auth/approle/role/a", json={"token_ttl": "1h"})
        yield node, data / "audit.log"


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url,
                                        response.status_code, response.text[:500])
    if response.status_code >= 400 and response.content:
        assert CANARY not in response.text, (response.request.url, response.text[:500])
        errors = response.json()["errors"]
        assert all(isinstance(e, str) for e in errors)


def assert_audit_and_log_clean(node: ReadyNode, audit_log: Path) -> None:
    with node.root as c:
        marker = c.get("/v1/auth/token/lookup-self")
    assert marker.status_code == 200
    deadline = time.monotonic() + 10
    while marker.headers["x-request-id"] not in audit_log.read_text():
        assert time.monotonic() < deadline, "the audit log stopped recording requests"
        time.sleep(0.02)
    result = verify_file(audit_log)
    assert result.ok, result.reason
    assert CANARY not in audit_log.read_text(), "a planted value reached the audit log unhashed"
    assert CANARY not in node.server.log_path.read_text(), "a planted value reached the log"


def test_structured_requests_never_5xx_nor_echo_values(fuzz_node: tuple[ReadyNode, Path],
                                                       ) -> None:
    node, audit_log = fuzz_node

    with node.root as c:
        @FUZZ_MORE
        @given(method=WRITES, path=paths(), body=st.one_of(BODIES, st.none()),
               headers=st.one_of(st.just([]), HEADERS, CANARY_HEADERS))
        def run(method: str, path: str, body: Any, headers: list[tuple[str, str]]) -> None:
            content = None if body is None else encode(body)
            check(c.request(method, path, content=content, headers=headers, timeout=10))

        run()
    assert_audit_and_log_clean(node, audit_log)


def test_anonymous_and_raw_requests_never_5xx(fuzz_node: tuple[ReadyNode, Path]) -> None:
    """No token (logins, the unauthenticated sys/ endpoints), raw body bytes."""
    node, audit_log = fuzz_node
    raw_bodies = st.one_of(st.binary(max_size=64), st.sampled_from([
        b"{", b"[]", b"null", b"\xef\xbb\xbf{}", b'{"a":NaN}', b'{"password":"\\ud800"}',
        b'{"password":' + b"[" * 1000 + b"]" * 1000 + b"}", b"\xff\xfe{\x00}\x00",
        b'{"password": 1e999}', b'{"role_id": "' + CANARY.encode() + b'", "x": Infinity}']))

    with node.client() as c:
        @FUZZ
        @given(method=METHODS, path=paths(), body=st.one_of(raw_bodies, BODIES.map(encode)),
               headers=HEADERS)
        def run(method: str, path: str, body: bytes, headers: list[tuple[str, str]]) -> None:
            check(c.request(method, path, content=body, headers=headers, timeout=10))

        run()
    assert_audit_and_log_clean(node, audit_log)


def test_random_paths_and_query_strings_never_5xx(fuzz_node: tuple[ReadyNode, Path]) -> None:
    node, audit_log = fuzz_node
    printable = st.characters(min_codepoint=0x21, max_codepoint=0x7E) | st.sampled_from("é€ß")
    segment = st.one_of(SEGMENT, st.text(alphabet=printable, max_size=8), st.sampled_from(
        ["", "sys", "auth", "token", "secret", "data", "metadata", "v1", "%00", "%2e%2e",
         "é", "~", " "]))
    query = st.dictionaries(st.sampled_from(["list", "version", "versions", "format", "help",
                                             "standbyok", "warning", "depth", "x"]),
                            st.one_of(HEADER_VALUE, st.just(CANARY)), max_size=2)

    with node.root as c:
        @FUZZ
        @given(method=METHODS, segments=st.lists(segment, max_size=6), params=query,
               prefix=st.sampled_from(["/v1/", "/v1", "/", "/v2/", "/v1/sys/", "/v1/secret/"]))
        def run(method: str, segments: list[str], params: dict[str, str], prefix: str) -> None:
            url = prefix + "/".join(segments)
            check(c.request(method, url, params=params, timeout=10))

        run()
    assert_audit_and_log_clean(node, audit_log)
