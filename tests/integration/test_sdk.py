"""The client SDK against a real TLS node: helpers, idempotent writes, TLS failures,
token renewal and re-login with a short-TTL AppRole, singleflight seen by the server."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Iterator

import pytest

from strongbox.client import AppRoleLogin, Client, ReadCache, errors
from tests.conftest import ReadyNode

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("sdk_env")]
_names = itertools.count()
DEADLINE_S = 60.0


def fresh(prefix: str = "sdk") -> str:
    return f"{prefix}/p{next(_names)}-{time.monotonic_ns()}"


def sdk(node: ReadyNode, token: str | None = None, **kwargs: object) -> Client:
    return Client(address=node.server.addr, token=token or node.root_token,
                  cacert=str(node.server.tls.ca_cert), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def root(node: ReadyNode) -> Iterator[Client]:
    with sdk(node) as client:
        yield client


def test_kv_v2_helpers_round_trip(root: Client) -> None:
    path = fresh()
    assert root.kv.v2.write(path, {"user": "a"}, cas=0)["data"]["version"] == 1
    root.kv.v2.patch(path, {"pw": "x"})
    body = root.kv.v2.read(path)
    assert body is not None and body["data"]["data"] == {"user": "a", "pw": "x"}
    with pytest.raises(errors.BadRequest, match="check-and-set"):
        root.kv.v2.write(path, {"user": "b"}, cas=1)
    root.kv.v2.rollback(path, 1)
    assert root.kv.v2.read(path)["data"]["data"] == {"user": "a"}  # type: ignore[index]
    root.kv.v2.delete(path)
    assert root.kv.v2.read(path) is None
    root.kv.v2.undelete(path, [3])
    assert root.kv.v2.read(path) is not None
    root.kv.v2.destroy(path, [1])
    meta = root.kv.v2.read_metadata(path)
    assert meta is not None and meta["data"]["versions"]["1"]["destroyed"] is True
    root.kv.v2.write_metadata(path, max_versions=5)
    folder = path.rsplit("/", 1)[0]
    assert path.rsplit("/", 1)[1] in root.kv.v2.list(folder)["data"]["keys"]  # type: ignore[index]
    root.kv.v2.delete_metadata(path)
    assert root.kv.v2.read_metadata(path) is None


def test_sys_tokens_policies_wrapping_mounts_helpers(root: Client) -> None:
    name = f"sdk{next(_names)}"
    root.policies.write(name, 'path "secret/data/sdk/*" { capabilities = ["read"] }')
    assert name in root.policies.list()["data"]["keys"]  # type: ignore[index]
    child = root.tokens.create(policies=[name], ttl="1h")["auth"]  # type: ignore[index]
    assert root.token != child["client_token"]  # create does not switch tokens
    assert root.tokens.lookup(child["client_token"])["data"]["policies"] == \
        ["default", name]  # type: ignore[index]
    root.tokens.revoke(child["client_token"])
    wrapped = root.wrapping.wrap({"k": "v"}, ttl="1m")["wrap_info"]["token"]  # type: ignore[index]
    assert root.wrapping.unwrap(wrapped)["data"] == {"k": "v"}  # type: ignore[index]
    root.sys.mounts.enable(name, "kv")
    root.kv.v1.write("a/b", {"x": 1}, mount=name)
    assert root.kv.v1.read("a/b", mount=name)["data"] == {"x": 1}  # type: ignore[index]
    assert f"{name}/" in root.sys.mounts.list()["data"]  # type: ignore[index]
    root.sys.mounts.disable(name)
    assert root.sys.health()["sealed"] is False  # type: ignore[index]
    assert root.sys.leader()["is_self"] is True  # type: ignore[index]
    assert root.sys.key_status()["data"]["term"] >= 1  # type: ignore[index]
    root.policies.delete(name)
    assert root.policies.read(name) is None


def test_write_retried_with_the_same_idempotency_key_applies_once(root: Client) -> None:
    path = f"secret/data/{fresh()}"
    first = root.request("POST", path, json={"data": {"n": 1}}, idempotency_key="sdk-key-1")
    again = root.request("POST", path, json={"data": {"n": 1}}, idempotency_key="sdk-key-1")
    assert first.data["data"]["version"] == again.data["data"]["version"] == 1  # type: ignore[index]
    assert first.index == again.index
    with pytest.raises(errors.UnprocessableEntity):
        root.request("POST", path, json={"data": {"n": 2}}, idempotency_key="sdk-key-1")


def test_logins_carry_no_key_and_set_the_token(node: ReadyNode, root: Client) -> None:
    mount = f"ar{next(_names)}"
    root.sys.auth.enable(mount, "approle")
    root.write(f"auth/{mount}/role/app", token_policies=["default"])
    role_id = root.read(f"auth/{mount}/role/app/role-id")["data"]["role_id"]  # type: ignore[index]
    secret_id = root.write(f"auth/{mount}/role/app/secret-id")["data"]["secret_id"]  # type: ignore[index]
    with sdk(node, token="none") as app:
        app.auth.approle.login(role_id, secret_id, mount=mount)
        assert app.token and app.token.startswith("sbs.")
        assert app.tokens.lookup_self()["data"]["policies"] == ["default"]  # type: ignore[index]
    root.sys.auth.disable(mount)


def test_unverified_tls_is_one_clear_tls_error(node: ReadyNode) -> None:
    with Client(address=node.server.addr, token="x") as client, \
            pytest.raises(errors.TLSError) as info:  # system CAs only
        client.read("secret/data/x")
    text = str(info.value)
    assert "\n" not in text and "certificate verify failed" in text
    assert node.server.addr in text and "cacert" in text


def test_skip_verify_talks_to_the_node(node: ReadyNode) -> None:
    with Client(address=node.server.addr, tls_verify=False) as client:
        assert client.sys.seal_status()["sealed"] is False  # type: ignore[index]


def test_short_ttl_approle_token_is_renewed_then_replaced_by_a_login(
        node: ReadyNode, root: Client) -> None:
    mount, path = f"ttl{next(_names)}", fresh("sdkttl")
    root.sys.auth.enable(mount, "approle")
    root.policies.write(mount, f'path "secret/data/{path}" {{ capabilities = ["read"] }}')
    root.write(f"auth/{mount}/role/short", token_policies=[mount], token_ttl=3,
               token_max_ttl=7)
    role_id = root.read(f"auth/{mount}/role/short/role-id")["data"]["role_id"]  # type: ignore[index]
    secret_id = root.write(f"auth/{mount}/role/short/secret-id")["data"]["secret_id"]  # type: ignore[index]
    root.kv.v2.write(path, {"v": 1})
    failures: list[errors.ClientError] = []
    with sdk(node, token="unused") as app:
        manager = app.manage_token(AppRoleLogin(role_id, secret_id, mount=mount),
                                   on_error=failures.append)
        deadline = time.monotonic() + DEADLINE_S
        tokens = set()
        while (manager.lifecycle.renewals < 1 or manager.lifecycle.logins < 2) and \
                time.monotonic() < deadline:
            assert app.kv.v2.read(path)["data"]["data"] == {"v": 1}  # type: ignore[index]
            tokens.add(app.token)
            time.sleep(0.2)  # pacing of the reads, not a wait for a condition
        assert manager.lifecycle.renewals >= 1 and manager.lifecycle.logins >= 2
        assert len(tokens) >= 2 and not failures
    root.sys.auth.disable(mount)


def _data_reads(root: Client) -> float:
    text = root.request("GET", "sys/metrics", params={"format": "prometheus"}).text
    pattern = (r'^strongbox_request_duration_seconds_count\{method="GET",node_role="[a-z]+",'
               r'route="/v1/\{mount\}/data/\*",status="200"\} (\S+)$')
    return sum(float(m) for m in re.findall(pattern, text, re.M))


def test_concurrent_cached_reads_reach_the_server_once(node: ReadyNode, root: Client) -> None:
    path = fresh()
    root.kv.v2.write(path, {"v": "one"})
    before = _data_reads(root)
    readers = 16
    barrier = threading.Barrier(readers)
    results: list[object] = []
    with sdk(node, cache=ReadCache(ttl=60)) as cached:
        def read() -> None:
            barrier.wait(30)
            results.append(cached.kv.v2.read(path)["data"]["data"])  # type: ignore[index]
        threads = [threading.Thread(target=read) for _ in range(readers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE_S)
        assert results == [{"v": "one"}] * readers
        assert _data_reads(root) - before == 1
        cached.kv.v2.write(path, {"v": "two"})  # own write invalidates
        assert cached.kv.v2.read(path)["data"]["data"] == {"v": "two"}  # type: ignore[index]
    assert _data_reads(root) - before == 2
