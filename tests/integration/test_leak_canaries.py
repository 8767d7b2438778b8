"""Canary secrets planted through ordinary requests never appear in the clear anywhere the
node writes: its log (JSON logs, access log, and the OpenTelemetry spans of the console
exporter, which go to the same stdout), /v1/sys/metrics in Prometheus format, or the
audit log, where each one appears only as its HMAC."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strongbox.audit.verify import verify_file
from strongbox.testing import ServerProcess, TlsFiles

pytestmark = pytest.mark.integration


def canary(kind: str) -> str:
    return f"canary-{kind}-{uuid.uuid4().hex}"


@pytest.fixture
def traced_node(tmp_path: Path, tls: TlsFiles) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "data", tls, extra_config=(
        '[observability]\ntracing_exporter = "console"\n'))
    try:
        yield server.start()
    finally:
        server.stop()


def ok(response: httpx.Response, status: int = 200) -> httpx.Response:
    assert response.status_code == status, (response.request.url, response.text)
    return response


def test_planted_secrets_appear_nowhere_in_the_clear(traced_node: ServerProcess,
                                                      tmp_path: Path) -> None:
    server = traced_node
    shares, root = server.init_and_unseal(shares=3, threshold=2)
    audit_log = tmp_path / "data" / "audit.log"
    kv_value, password, wrong_password = canary("kv"), canary("pw"), canary("wrong-pw")
    transit_plain, bad_field = canary("transit"), canary("field")
    planted = [kv_value, password, wrong_password, transit_plain, bad_field, root, *shares]
    hashed = [kv_value, password]  # values that must show up in the audit log as HMACs

    with server.client(root) as c:
        ok(c.put("/v1/sys/audit/file", json={"type": "file",
                                             "options": {"file_path": "audit.log"}}), 204)
        # a KV value: written, read, read wrapped, and in a refused write
        ok(c.post("/v1/secret/data/leak/db", json={"data": {"password": kv_value}}))
        assert ok(c.get("/v1/secret/data/leak/db")).json()["data"]["data"] == {
            "password": kv_value}
        wrapped = ok(c.get("/v1/secret/data/leak/db", headers={"X-Vault-Wrap-TTL": "60s"}))
        wrapping_token = wrapped.json()["wrap_info"]["token"]
        planted.append(wrapping_token)
        with server.client(wrapping_token) as unwrapper:
            unwrapped = ok(unwrapper.post("/v1/sys/wrapping/unwrap"))
        assert unwrapped.json()["data"]["data"]["password"] == kv_value
        assert c.post("/v1/secret/data/leak/db", content=(
            f'{{"data": {{"password": "{kv_value}", "x": NaN}}}}')).status_code == 400
        assert c.post("/v1/auth/token/create", json={"ttl": bad_field}).status_code == 400
        # a userpass password: user created, a login, a failed login
        ok(c.post("/v1/sys/auth/userpass", json={"type": "userpass"}), 204)
        ok(c.post("/v1/auth/userpass/users/carol", json={"password": password}), 204)
        # a token: created, then used
        token = ok(c.post("/v1/auth/token/create", json={"policies": ["default"]})) \
            .json()["auth"]["client_token"]
        planted.append(token)
        # an AppRole secret id
        ok(c.post("/v1/sys/auth/approle", json={"type": "approle"}), 204)
        ok(c.post("/v1/auth/approle/role/app", json={"token_ttl": "1h"}), 204)
        role_id = ok(c.get("/v1/auth/approle/role/app/role-id")).json()["data"]["role_id"]
        secret_id = ok(c.post("/v1/auth/approle/role/app/secret-id")).json()["data"][
            "secret_id"]
        planted.append(secret_id)
        # Transit plaintext
        ok(c.post("/v1/sys/mounts/transit", json={"type": "transit"}), 204)
        ok(c.post("/v1/transit/keys/leak"))
        encoded = base64.b64encode(transit_plain.encode()).decode()
        planted.append(encoded)
        ciphertext = ok(c.post("/v1/transit/encrypt/leak", json={"plaintext": encoded})) \
            .json()["data"]["ciphertext"]
        assert ok(c.post("/v1/transit/decrypt/leak", json={"ciphertext": ciphertext})) \
            .json()["data"]["plaintext"] == encoded
        # the unseal shares, sent again: a seal and a new unseal
        ok(c.put("/v1/sys/seal"), 204)
    server.unseal(shares[:2])
    with server.client() as anonymous:
        login = ok(anonymous.post("/v1/auth/userpass/login/carol", json={"password": password}))
        planted.append(login.json()["auth"]["client_token"])
        assert anonymous.post("/v1/auth/userpass/login/carol",
                              json={"password": wrong_password}).status_code in (400, 403)
        approle = ok(anonymous.post("/v1/auth/approle/login",
                                    json={"role_id": role_id, "secret_id": secret_id}))
        planted.append(approle.json()["auth"]["client_token"])
    with server.client(token) as c:
        ok(c.get("/v1/auth/token/lookup-self"))
    made_up = "sbs." + canary("token")  # a token that does not exist, sent anyway
    planted.append(made_up)
    with server.client(made_up) as c:
        assert c.get("/v1/auth/token/lookup-self").status_code == 403
        assert c.get("/v1/secret/data/leak/db").status_code == 403
    with server.client(root) as c:
        metrics = ok(c.get("/v1/sys/metrics", params={"format": "prometheus"})).text
        assert "strongbox_" in metrics or "http_" in metrics, metrics[:300]
        hmacs = [ok(c.post("/v1/sys/audit-hash/file", json={"input": value})).json()["data"][
            "hash"] for value in hashed]
        marker = ok(c.get("/v1/auth/token/lookup-self")).headers["x-request-id"]

    deadline = time.monotonic() + 10
    while marker not in audit_log.read_text():
        assert time.monotonic() < deadline, "the audit log stopped recording"
        time.sleep(0.02)
    server.stop()  # flushes the batched spans to the log
    log, audit = server.log_path.read_text(), audit_log.read_text()
    assert "strongbox.request_id" in log, "no spans were exported: the check proves nothing"
    assert verify_file(audit_log).ok
    for value in planted:
        assert value not in metrics, "a planted secret is in /v1/sys/metrics"
        assert value not in log, "a planted secret is in the server's log or spans"
        assert value not in audit, "a planted secret is in the audit log unhashed"
    for value, digest in zip(hashed, hmacs, strict=True):
        assert digest.startswith("hmac-sha256:") and digest in audit, value
