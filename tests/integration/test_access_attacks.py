"""Access-control attacks against a real node: each test names the attack it tries.

Stolen, expired, revoked, forged and exhausted tokens; tokens used in the wrong
namespace; path tricks to escape a policy's prefix; password guessing; and the
static promise that secrets are never compared with `==`. The login lockout test
runs on a node of its own, so that no other login counts against the per-address
login throttle (10 attempts a minute).
"""

from __future__ import annotations

import ast
import inspect
import re
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from strongbox.api import wrapping
from strongbox.auth import approle as auth_approle
from strongbox.auth import passwords
from strongbox.barrier import keyring
from strongbox.core import Core
from strongbox.seal import unseal
from strongbox.testing import ServerProcess, TlsFiles
from tests.conftest import ReadyNode, create_token, ns, put_policy, ready_node

pytestmark = pytest.mark.integration

KV2: dict[str, Any] = {"type": "kv", "options": {"version": "2"}}
READ_ALL = 'path "secret/data/*" { capabilities = ["read"] }'
TOKEN_MAKER = '''
path "auth/token/create" { capabilities = ["update"] }
path "secret/data/*" { capabilities = ["read"] }
'''
EVERYTHING = 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'
SOURCE = Path(__file__).resolve().parents[2] / "strongbox"


def put_secret(node: ReadyNode, path: str, data: dict[str, str], namespace: str = "") -> None:
    with node.root as c:
        response = c.post(f"/v1/secret/data/{path}", json={"data": data},
                          headers=ns(namespace) if namespace else {})
    assert response.status_code == 200, response.text


def new_namespace(node: ReadyNode, name: str) -> None:
    with node.root as c:
        assert c.post(f"/v1/sys/namespaces/{name}").status_code == 200
        assert c.post("/v1/sys/mounts/secret", json=KV2, headers=ns(name)).status_code == 204


def status(node: ReadyNode, token: str, method: str, path: str, **kwargs: Any) -> int:
    with node.client(token) as c:
        return c.request(method, path, **kwargs).status_code


def raw_request(server: ServerProcess, method: str, path: str, headers: dict[str, str],
                body: bytes = b"", timeout: float = 10.0) -> tuple[int, bytes]:
    """One HTTP/1.1 request sent byte for byte (httpx would normalize the path)."""
    context = ssl.create_default_context(cafile=str(server.tls.ca_cert))
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if "Content-Length" not in headers:
        lines += f"Content-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\n{lines}Connection: close\r\n\r\n"
                     .encode() + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, payload = reply.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


# --- tokens in the wrong place or past their life ------------------------------------------


def test_token_of_another_namespace_is_refused(node: ReadyNode) -> None:
    """Attack: replay a tenant's token against a sibling tenant via X-Vault-Namespace."""
    for name in ("atk-ns-a", "atk-ns-b"):
        new_namespace(node, name)
        put_policy(node, "everything", EVERYTHING, name)
        put_secret(node, "db", {"password": f"pw-{name}"}, name)
    token = create_token(node, "atk-ns-a", policies=["everything"])["client_token"]
    with node.client(token) as a:
        home = a.get("/v1/secret/data/db", headers=ns("atk-ns-a"))
        assert home.status_code == 200
        assert home.json()["data"]["data"] == {"password": "pw-atk-ns-a"}
        for method, path in (("GET", "/v1/secret/data/db"), ("GET", "/v1/sys/policy/everything"),
                             ("GET", "/v1/auth/token/lookup-self"),
                             ("POST", "/v1/auth/token/create")):
            response = a.request(method, path, headers=ns("atk-ns-b"))
            assert response.status_code == 403, (path, response.text)
            assert "pw-atk-ns-b" not in response.text


def test_expired_token_is_refused_everywhere(node: ReadyNode) -> None:
    """Attack: keep using a token after its TTL ran out (read, look up, renew it back)."""
    put_policy(node, "atk-read", READ_ALL)
    put_secret(node, "atk/expired", {"k": "v"})
    auth = create_token(node, policies=["atk-read"], ttl="2s")
    token = auth["client_token"]
    assert auth["lease_duration"] <= 2
    assert status(node, token, "GET", "/v1/secret/data/atk/expired") == 200
    time.sleep(3)
    assert status(node, token, "GET", "/v1/secret/data/atk/expired") == 403
    assert status(node, token, "GET", "/v1/auth/token/lookup-self") == 403
    assert status(node, token, "POST", "/v1/auth/token/renew-self", json={"increment": "1h"}) == 403
    with node.client() as anon:  # the bearer form is no back door
        assert anon.get("/v1/auth/token/lookup-self",
                        headers={"Authorization": f"Bearer {token}"}).status_code == 403
    with node.root as c:
        assert c.post("/v1/auth/token/lookup-accessor",
                      json={"accessor": auth["accessor"]}).status_code == 400
        assert c.post("/v1/auth/token/renew-accessor",
                      json={"accessor": auth["accessor"]}).status_code == 400


def test_revoking_a_parent_kills_its_service_and_batch_children(node: ReadyNode) -> None:
    """Attack: keep a child token (service or batch) alive after the parent is revoked."""
    put_policy(node, "atk-maker", TOKEN_MAKER)
    put_secret(node, "atk/child", {"k": "v"})
    parent = create_token(node, policies=["atk-maker"])
    child = create_token(node, token=parent["client_token"], policies=["atk-maker"])
    batch = create_token(node, token=parent["client_token"], policies=["atk-maker"], type="batch")
    assert batch["client_token"].startswith("sbb.") and child["orphan"] is False
    for token in (child["client_token"], batch["client_token"]):
        assert status(node, token, "GET", "/v1/secret/data/atk/child") == 200
    with node.root as c:
        assert c.post("/v1/auth/token/revoke-accessor",
                      json={"accessor": parent["accessor"]}).status_code == 204
    for token in (parent["client_token"], child["client_token"], batch["client_token"]):
        assert status(node, token, "GET", "/v1/secret/data/atk/child") == 403
        assert status(node, token, "GET", "/v1/auth/token/lookup-self") == 403
    with node.root as c:
        assert c.post("/v1/auth/token/lookup-accessor",
                      json={"accessor": child["accessor"]}).status_code == 400


# --- forged and limited tokens ---------------------------------------------------------


def _flip(char: str) -> str:
    return "B" if char == "A" else "A"


def test_tampered_batch_tokens_are_refused(node: ReadyNode) -> None:
    """Attack: forge a batch token by editing a real one (its record is sealed, not signed
    by a lookup): flipped, dropped, appended characters, truncation, a swapped prefix."""
    put_policy(node, "atk-read", READ_ALL)
    put_secret(node, "atk/batch", {"k": "v"})
    token = create_token(node, policies=["atk-read"], type="batch", ttl="1h")["client_token"]
    assert token.startswith("sbb.")
    body = token[len("sbb."):]
    mid = len(token) // 2
    forged = [
        token[:mid] + _flip(token[mid]) + token[mid + 1:],  # one character flipped
        token[:mid] + token[mid + 1:],                       # one removed
        token[:-1],                                          # truncated by one
        token[:mid],                                         # truncated by half
        token + "A",                                         # one appended
        token + "AAAA",                                      # a whole base64 quantum
        "sbb.AAAA" + body,                                   # one prepended
        "sbs." + body,                                       # posing as a service token
        "sbb.",                                              # nothing
        "sbb." + "A" * 5000,                                 # oversized
    ]
    for fake in forged:
        assert fake != token
        assert status(node, fake, "GET", "/v1/secret/data/atk/batch") == 403, fake
        assert status(node, fake, "GET", "/v1/auth/token/lookup-self") == 403, fake
    assert status(node, token, "GET", "/v1/secret/data/atk/batch") == 200


def test_a_batch_token_is_accepted_in_its_one_canonical_spelling_only(node: ReadyNode) -> None:
    """Attack: re-spell a valid batch token (padding, the other base64 alphabet) so that it
    is the same credential under a string nobody has seen: audit correlation by token hash
    and any deny-list keyed by the token string no longer match it."""
    token = ""
    for _ in range(20):  # one with a '-' or '_' in it, so the alphabet swap changes it
        token = create_token(node, policies=["default"], type="batch", ttl="1h")["client_token"]
        if "-" in token[4:] or "_" in token[4:]:
            break
    respelled = [token + "=", token + "==",
                 "sbb." + token[4:].replace("-", "+").replace("_", "/")]
    for other in respelled:
        assert other != token
        assert status(node, other, "GET", "/v1/auth/token/lookup-self") == 403, other


def test_batch_tokens_cannot_be_renewed_revoked_or_create_tokens(node: ReadyNode) -> None:
    """Attack: use a batch token as a service token (extend its life, mint children)."""
    put_policy(node, "atk-maker", TOKEN_MAKER)
    batch = create_token(node, policies=["atk-maker"], type="batch", ttl="1h")["client_token"]
    with node.client(batch) as b:
        renewed = b.post("/v1/auth/token/renew-self", json={"increment": "24h"})
        assert renewed.status_code == 400 and "batch" in renewed.text
        assert b.post("/v1/auth/token/revoke-self").status_code == 400
        minted = b.post("/v1/auth/token/create", json={"policies": ["atk-maker"]})
        assert minted.status_code == 400 and "batch" in minted.text
        assert b.post("/v1/auth/token/create", json={"type": "batch"}).status_code == 400
        me = b.get("/v1/auth/token/lookup-self")
        assert me.status_code == 200 and me.json()["data"]["ttl"] <= 3600
    with node.root as c:
        assert c.post("/v1/auth/token/revoke", json={"token": batch}).status_code == 400
        assert c.post("/v1/auth/token/renew", json={"token": batch}).status_code == 400
        assert c.post("/v1/auth/token/create", json={"type": "batch", "period": "1h"}
                      ).status_code == 400
        assert c.post("/v1/auth/token/create", json={"type": "batch", "num_uses": 2}
                      ).status_code == 400
    assert status(node, batch, "GET", "/v1/auth/token/lookup-self") == 200  # still alive


def test_a_limited_use_token_dies_on_its_last_use(node: ReadyNode) -> None:
    """Attack: use a num_uses=3 token a fourth time."""
    put_policy(node, "atk-read", READ_ALL)
    put_secret(node, "atk/uses", {"k": "v"})
    auth = create_token(node, policies=["atk-read"], num_uses=3)
    token, accessor = auth["client_token"], auth["accessor"]
    with node.root as c:
        looked = c.post("/v1/auth/token/lookup-accessor", json={"accessor": accessor})
        assert looked.json()["data"]["num_uses"] == 3
    with node.client(token) as t:
        assert t.get("/v1/secret/data/atk/uses").status_code == 200
        with node.root as c:
            looked = c.post("/v1/auth/token/lookup-accessor", json={"accessor": accessor})
            assert looked.json()["data"]["num_uses"] == 2
        assert t.get("/v1/secret/data/atk/uses").status_code == 200
        assert t.get("/v1/secret/data/atk/uses").status_code == 200
        assert t.get("/v1/secret/data/atk/uses").status_code == 403
        assert t.get("/v1/auth/token/lookup-self").status_code == 403
    with node.root as c:
        assert c.post("/v1/auth/token/lookup-accessor",
                      json={"accessor": accessor}).status_code == 400


def test_a_periodic_token_lives_one_period_at_a_time(node: ReadyNode) -> None:
    """Attack: outlive a periodic token's period without renewing, or get a period
    without sudo (a token that can live forever)."""
    auth = create_token(node, period="2s")
    token = auth["client_token"]
    assert 0 < auth["lease_duration"] <= 2
    with node.client(token) as t:
        renewed = t.post("/v1/auth/token/renew-self", json={"increment": "1h"})
        assert renewed.status_code == 200, renewed.text
        assert 0 < renewed.json()["auth"]["lease_duration"] <= 2
        me = t.get("/v1/auth/token/lookup-self").json()["data"]
        assert me["period"] == 2 and me["ttl"] <= 2
    time.sleep(3)
    assert status(node, token, "GET", "/v1/auth/token/lookup-self") == 403
    put_policy(node, "atk-maker", TOKEN_MAKER)
    plain = create_token(node, policies=["atk-maker"])["client_token"]
    with node.client(plain) as p:
        refused = p.post("/v1/auth/token/create", json={"period": "1h"})
        assert refused.status_code == 403, refused.text


def test_explicit_max_ttl_caps_every_renewal(node: ReadyNode) -> None:
    """Attack: renew a token past its explicit max TTL."""
    auth = create_token(node, ttl="1h", explicit_max_ttl="3s")
    token = auth["client_token"]
    assert auth["lease_duration"] <= 3
    with node.client(token) as t:
        me = t.get("/v1/auth/token/lookup-self").json()["data"]
        assert me["ttl"] <= 3 and me["explicit_max_ttl"] == 3
        renewed = t.post("/v1/auth/token/renew-self", json={"increment": "1h"})
        assert renewed.status_code == 200, renewed.text
        assert renewed.json()["auth"]["lease_duration"] <= 3
        assert t.get("/v1/auth/token/lookup-self").json()["data"]["ttl"] <= 3
    with node.root as c:
        by_accessor = c.post("/v1/auth/token/renew-accessor",
                             json={"accessor": auth["accessor"], "increment": "24h"})
        assert by_accessor.json()["auth"]["lease_duration"] <= 3
    time.sleep(4)
    assert status(node, token, "GET", "/v1/auth/token/lookup-self") == 403


# --- policy escapes ----------------------------------------------------------------------


def test_path_tricks_cannot_escape_a_policy_prefix(node: ReadyNode) -> None:
    """Attack: dot segments, encoded dots and slashes, double slashes and empty segments to
    reach secret/data/trav/other with a token allowed only secret/data/trav/app/*."""
    put_policy(node, "atk-app-only", 'path "secret/data/trav/app/*" { capabilities = ["read"] }')
    put_secret(node, "trav/app/x", {"mine": "ok"})
    put_secret(node, "trav/other", {"loot": "TRAVERSAL-LOOT"})
    token = create_token(node, policies=["atk-app-only"])["client_token"]
    auth = {"X-Vault-Token": token}
    code, body = raw_request(node.server, "GET", "/v1/secret/data/trav/app/x", auth)
    assert code == 200 and b'"mine"' in body
    code, body = raw_request(node.server, "GET", "/v1/secret/data/trav/other", auth)
    assert code == 403
    tricks = [
        "/v1/secret/data/trav/app/../other",
        "/v1/secret/data/trav/app/%2e%2e/other",
        "/v1/secret/data/trav/app/%2E%2E/other",
        "/v1/secret/data/trav/app/.%2e/other",
        "/v1/secret/data/trav/app/./x",
        "/v1/secret/data/trav/app//../other",
        "/v1/secret/data/trav/app/x/../../other",
        "/v1/secret/data/trav/app%2F..%2Fother",
        "/v1/secret/data/trav/app/..%2fother",
        "/v1/secret/data/trav/app/%252e%252e/other",
        "/v1/secret/data/trav/app/..\\other",
        "/v1/secret/data/../sys/policy/atk-app-only",
        "/v1/secret/data/trav/app/../../../sys/seal-status",
    ]
    for trick in tricks:
        code, body = raw_request(node.server, "GET", trick, auth)
        assert code == 400, (trick, code, body[:200])
        assert b"TRAVERSAL-LOOT" not in body
    # the same tricks with the root token: refused as paths, not merely as permissions
    for trick in tricks[:4]:
        code, _ = raw_request(node.server, "GET", trick, {"X-Vault-Token": node.root_token})
        assert code == 400, trick
    for header in ("..", "../", "/..", "root/.."):
        code, body = raw_request(node.server, "GET", "/v1/secret/data/trav/other",
                                 {**auth, "X-Vault-Namespace": header})
        assert code in (400, 403, 404) and b"TRAVERSAL-LOOT" not in body, header


# --- password guessing -------------------------------------------------------------------


@pytest.fixture(scope="module")
def lockout_node(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles,
                 ) -> Iterator[ReadyNode]:
    """A node of its own: only the lockout test's logins count against its throttle."""
    with ready_node(tmp_path_factory.mktemp("lockout") / "data", tls) as ready:
        yield ready


def test_password_guessing_locks_the_user(lockout_node: ReadyNode) -> None:
    """Attack: brute-force a userpass password. Five wrong guesses in a row lock the user;
    then even the right password is refused, saying so. (7 login attempts in all.)"""
    node = lockout_node
    with node.root as c:
        assert c.post("/v1/sys/auth/bf-userpass", json={"type": "userpass"}).status_code == 204
        assert c.post("/v1/auth/bf-userpass/users/victim",
                      json={"password": "correct horse battery"}).status_code == 204
    with node.client() as anon:
        first = anon.post("/v1/auth/bf-userpass/login/victim",
                          json={"password": "correct horse battery"})
        assert first.status_code == 200, first.text
        answers = [anon.post("/v1/auth/bf-userpass/login/victim",
                             json={"password": f"guess-{i}"}) for i in range(5)]
        assert [a.status_code for a in answers[:4]] == [400] * 4
        assert all("invalid username or password" in a.text for a in answers[:4])
        assert answers[4].status_code == 403 and "locked" in answers[4].text
        locked = anon.post("/v1/auth/bf-userpass/login/victim",
                           json={"password": "correct horse battery"})
        assert locked.status_code == 403, locked.text
        assert "locked" in locked.json()["errors"][0]
        assert "auth" not in locked.json() or not locked.json().get("auth")
    with node.root as c:
        listed = c.get("/v1/sys/locked-users").json()["data"]
        assert listed["total"] == 1
        users = listed["by_namespace"][0]["mount_accessors"][0]["locked_users"]
        assert [u["alias_identifier"] for u in users] == ["victim"]


# --- how secrets are compared ------------------------------------------------------------

SECRET_NAME = re.compile(r"(?:^|_)(token|secret|secret_id|password|passwd|hash|hmac|mac|"
                         r"digest|signature|nonce|share|root_key|unseal_key)$", re.IGNORECASE)
# Comparisons whose operands are named like secrets but hold public values, each checked.
NOT_SECRET = {
    ("api/sys_raft.py", "current.sealed_root_key != snapshot_cluster.sealed_root_key"):
        "the root key sealed under the unseal key: ciphertext stored in every snapshot",
    ("audit/verify.py", "claimed == prev_hash"):
        "the audit log's hash chain: public hashes written in the log itself",
    ("state/apply.py", "first.request_hash != command.request_hash"):
        "SHA-256 of an idempotent request's own body, known to its sender",
    ("state/snapshot.py", "f.read(DIGEST_SIZE + 1) != digest.digest()"):
        "the snapshot file's checksum, computed over bytes the caller supplied",
    ("engines/transit/sign_ops.py", "has_signature == has_hmac"):
        "two booleans: whether the request carries a signature and whether an HMAC",
    ("engines/transit/signing.py", "opts.salt_length == SALT_HASH"):
        "the caller's salt_length option against the word 'hash'",
    ("seal/pkcs11_seal.py", "self.rsa_oaep_hash not in OAEP_HASHES"):
        "a configured hash algorithm name against the list of names",
}


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Call | ast.Subscript):
        return _name(node.func if isinstance(node, ast.Call) else node.value)
    return ""


def test_secrets_are_never_compared_with_equality_operators() -> None:
    """Attack: a timing side channel in comparing a presented secret with a stored one.

    What this proves (statically, over strongbox/): no `==`, `!=`, `in` or `not in`
    compares an operand named like a secret (token, secret, password, hash, hmac, mac,
    digest, signature, nonce, share, root/unseal key) against anything but a literal,
    except the listed comparisons of public values. And the places that do check a
    presented secret use constant-time or lookup-by-keyed-hash mechanisms: tokens (service
    and wrapping) and AppRole secret ids are found by their HMAC under a cluster key, never
    compared; passwords go through argon2's verify; unseal shares use compare_digest; batch
    tokens are opened with AES-GCM, whose tag check is constant-time. It does not prove
    that a secret held in a variable with an innocent name is never compared with `==`.
    """
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        rel = path.relative_to(SOURCE).as_posix()
        if rel.startswith("pb/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=rel)):
            if not isinstance(node, ast.Compare) or not any(
                    isinstance(op, ast.Eq | ast.NotEq | ast.In | ast.NotIn) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) for o in operands):
                continue
            if any(SECRET_NAME.search(_name(o)) for o in operands):
                found.append((rel, ast.unparse(node), node.lineno))
    unexplained = [f"strongbox/{rel}:{line}: {text}" for rel, text, line in found
                   if (rel, text) not in NOT_SECRET]
    assert not unexplained, "secret-like values compared with ==/in (use " \
                            "hmac.compare_digest or a keyed-hash lookup):\n" + \
                            "\n".join(unexplained)
    assert {(rel, text) for rel, text, _ in found} == set(NOT_SECRET), \
        "an allowed comparison is gone: update NOT_SECRET"
    token_hash = inspect.getsource(keyring.Keyring.token_hash)
    assert "hmac.new(self._token_hmac" in token_hash
    authenticate = inspect.getsource(Core.authenticate)
    assert "self.store.token(keyring.token_hash(token))" in authenticate
    assert "open_batch_token(keyring, token)" in authenticate
    assert "token_hash(" in inspect.getsource(wrapping)
    assert 'token_hash("approle-secret-id|"' in inspect.getsource(auth_approle)
    assert isinstance(passwords._hasher, PasswordHasher)
    assert "_hasher.verify(stored, password)" in inspect.getsource(passwords.verify_password)
    assert "hmac.compare_digest" in inspect.getsource(unseal)


# --- headers -----------------------------------------------------------------------------


def test_x_vault_token_wins_over_an_authorization_header(node: ReadyNode) -> None:
    """Attack: smuggle a second token in Authorization: Bearer hoping the server authorizes
    one and acts as the other. X-Vault-Token is the one used, whatever the header order."""
    first = create_token(node, display_name="first")
    second = create_token(node, display_name="second")
    with node.client() as anon:
        for headers in ([("X-Vault-Token", first["client_token"]),
                         ("Authorization", f"Bearer {second['client_token']}")],
                        [("Authorization", f"Bearer {second['client_token']}"),
                         ("X-Vault-Token", first["client_token"])]):
            me = anon.get("/v1/auth/token/lookup-self", headers=headers)
            assert me.status_code == 200, me.text
            assert me.json()["data"]["accessor"] == first["accessor"]
            assert me.json()["data"]["display_name"] == "token-first"
        bearer_only = anon.get("/v1/auth/token/lookup-self",
                               headers={"Authorization": f"Bearer {second['client_token']}"})
        assert bearer_only.json()["data"]["accessor"] == second["accessor"]
        forged_first = anon.get("/v1/auth/token/lookup-self", headers=[
            ("X-Vault-Token", "sbs.not-a-token"),
            ("Authorization", f"Bearer {second['client_token']}")])
        assert forged_first.status_code == 403


# --- privilege escalation across namespaces ----------------------------------------------


def test_a_sudo_token_cannot_mint_a_root_token_in_its_namespace(node: ReadyNode) -> None:
    """Attack: a non-root token with sudo on auth/token/create asks for policies=["root"]."""
    put_policy(node, "atk-sudo-maker",
               'path "auth/token/create" { capabilities = ["update", "sudo"] }')
    maker = create_token(node, policies=["atk-sudo-maker"])["client_token"]
    with node.client(maker) as m:
        refused = m.post("/v1/auth/token/create", json={"policies": ["root"]})
        assert refused.status_code in (400, 403), refused.text
        assert refused.json().get("auth") is None


def test_a_tenant_admin_cannot_manage_tokens_of_other_namespaces(node: ReadyNode) -> None:
    """Attack: a namespace admin (every capability, sudo, on "*" in its namespace) looks up,
    renews or revokes tokens of the root namespace or of a sibling by value or accessor."""
    for name in ("atk-adm-a", "atk-adm-b"):
        new_namespace(node, name)
        put_policy(node, "everything", EVERYTHING, name)
    admin = create_token(node, "atk-adm-a", policies=["everything"])["client_token"]
    victims = [(create_token(node, policies=["default"]), ""),
               (create_token(node, "atk-adm-b", policies=["everything"]), "atk-adm-b")]
    h = ns("atk-adm-a")
    with node.client(admin) as a:
        for victim, _ in victims:
            by_token = {"token": victim["client_token"]}
            by_accessor = {"accessor": victim["accessor"]}
            for path, body in (("lookup", by_token), ("lookup-accessor", by_accessor),
                               ("renew", by_token), ("renew-accessor", by_accessor),
                               ("revoke", by_token), ("revoke-accessor", by_accessor),
                               ("revoke-orphan", by_token)):
                response = a.post(f"/v1/auth/token/{path}", json=body, headers=h)
                assert response.status_code in (400, 403), (path, response.text)
                assert victim["accessor"] not in response.text
        listed = a.request("LIST", "/v1/auth/token/accessors", headers=h)
        assert listed.status_code == 200, listed.text
        assert not {v["accessor"] for v, _ in victims} & set(listed.json()["data"]["keys"])
    for victim, namespace in victims:
        assert status(node, victim["client_token"], "GET", "/v1/auth/token/lookup-self",
                      headers=ns(namespace) if namespace else {}) == 200


def test_a_user_manager_cannot_log_in_as_root(node: ReadyNode) -> None:
    """Attack: a token allowed only to manage userpass users creates a user whose
    token_policies include "root", then logs in as that user: root from a user-admin."""
    with node.root as c:
        assert c.post("/v1/sys/auth/atk-up", json={"type": "userpass"}).status_code == 204
    put_policy(node, "atk-user-admin",
               'path "auth/atk-up/users/*" { capabilities = ["create", "update"] }')
    admin = create_token(node, policies=["atk-user-admin"])["client_token"]
    with node.client(admin) as a:
        assert a.post("/v1/sys/policy/x", json={"policy": READ_ALL}).status_code == 403
        written = a.post("/v1/auth/atk-up/users/mallory",
                         json={"password": "mallory-pw-1", "token_policies": ["root"]})
    with node.client() as anon:
        login = anon.post("/v1/auth/atk-up/login/mallory", json={"password": "mallory-pw-1"})
    assert written.status_code == 400 or login.status_code == 400, login.text
    assert "root" not in ((login.json().get("auth") or {}).get("policies") or [])


def test_a_role_manager_cannot_log_in_as_root(node: ReadyNode) -> None:
    """Attack: a token allowed only to manage AppRole roles gives a role token_policies
    ["root"], fetches its role id and a secret id, and logs in: root from a role-admin."""
    with node.root as c:
        assert c.post("/v1/sys/auth/atk-ar", json={"type": "approle"}).status_code == 204
    put_policy(node, "atk-role-admin", 'path "auth/atk-ar/role/*" '
                                       '{ capabilities = ["create", "read", "update"] }')
    admin = create_token(node, policies=["atk-role-admin"])["client_token"]
    with node.client(admin) as a:
        written = a.post("/v1/auth/atk-ar/role/evil", json={"token_policies": ["root"]})
        if written.status_code == 400:
            return  # refused at the source: nothing to log in with
        assert written.status_code == 204, written.text
        role_id = a.get("/v1/auth/atk-ar/role/evil/role-id").json()["data"]["role_id"]
        secret_id = a.post("/v1/auth/atk-ar/role/evil/secret-id").json()["data"]["secret_id"]
    with node.client() as anon:
        login = anon.post("/v1/auth/atk-ar/login",
                          json={"role_id": role_id, "secret_id": secret_id})
    assert login.status_code == 400, login.text
    assert "root" not in ((login.json().get("auth") or {}).get("policies") or [])


def test_a_sudo_token_cannot_mint_a_root_token_in_a_child_namespace(node: ReadyNode) -> None:
    """Attack: a root-namespace token delegated to make tokens in team namespace atk-mint
    asks for policies=["root"] there, and gets the run of the whole tenant."""
    new_namespace(node, "atk-mint")
    put_secret(node, "crown", {"jewels": "atk-mint"}, "atk-mint")
    put_policy(node, "atk-mint-maker",
               'path "atk-mint/auth/token/create" { capabilities = ["update", "sudo"] }')
    maker = create_token(node, policies=["atk-mint-maker"])["client_token"]
    with node.client(maker) as m:
        minted = m.post("/v1/auth/token/create", json={"policies": ["root"]},
                        headers=ns("atk-mint"))
    assert minted.status_code in (400, 403), minted.text


def test_a_tenant_admin_cannot_make_the_node_buffer_a_snapshot_upload(node: ReadyNode) -> None:
    """Attack: a namespace admin (sudo on "*" inside its namespace) announces a 200 MiB
    snapshot restore. Only a root-namespace sudo token may send such a body; anyone else
    must be refused before the node reads (and buffers) it."""
    new_namespace(node, "atk-snap")
    put_policy(node, "everything", EVERYTHING, "atk-snap")
    tenant = create_token(node, "atk-snap", policies=["everything"])["client_token"]
    nobody = create_token(node, policies=["default"])["client_token"]
    huge = {"Content-Length": str(200 * 1024 * 1024), "Content-Type": "application/octet-stream"}
    code, _ = raw_request(node.server, "POST", "/v1/sys/storage/raft/snapshot",
                          {"X-Vault-Token": nobody, **huge}, timeout=3)
    assert code == 403  # refused at once: nothing of the body was sent
    for extra in ({}, ns("atk-snap")):
        try:
            code, _ = raw_request(node.server, "POST", "/v1/sys/storage/raft/snapshot",
                                  {"X-Vault-Token": tenant, **huge, **extra}, timeout=3)
        except TimeoutError:
            pytest.fail("the node waited for the tenant's 200 MiB body instead of refusing it")
        assert code in (400, 403)
