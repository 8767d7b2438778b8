"""The AppRole auth method against a real node: hvac, secret id limits, CIDRs, tokens."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest

from strongbox.testing import ServerProcess, TlsFiles
from tests.conftest import ReadyNode, ready_node

pytestmark = pytest.mark.integration

INVALID = "invalid role or secret ID"
APP_POLICY = '''
path "secret/data/ar/app/*" {
  capabilities = ["read"]
}
'''


def hv(node: ReadyNode, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token, verify=str(node.server.tls.ca_cert))


def client_from(server: ServerProcess, address: str) -> httpx.Client:
    """An httpx client whose connections come from `address` (a loopback IP)."""
    context = ssl.create_default_context(cafile=str(server.tls.ca_cert))
    return httpx.Client(base_url=server.addr, timeout=15.0,
                        transport=httpx.HTTPTransport(verify=context, local_address=address))


def raw_login(node: ReadyNode, mount: str, role_id: str, secret_id: str | None,
              address: str = "127.0.0.1") -> httpx.Response:
    body: dict[str, Any] = {"role_id": role_id}
    if secret_id is not None:
        body["secret_id"] = secret_id
    with client_from(node.server, address) as client:
        return client.post(f"/v1/auth/{mount}/login", json=body)


def refused(response: httpx.Response) -> bool:
    """The one answer every failed AppRole login must get."""
    return response.status_code == 400 and response.json() == {"errors": [INVALID]}


def enable(node: ReadyNode, mount: str) -> hvac.Client:
    root = hv(node, node.root_token)
    root.sys.enable_auth_method("approle", path=mount)
    return root


def make_role(root: hvac.Client, mount: str, name: str, **fields: Any) -> str:
    """Create role `name`; its role id."""
    root.auth.approle.create_or_update_approle(name, mount_point=mount, **fields)
    return str(root.auth.approle.read_role_id(name, mount_point=mount)["data"]["role_id"])


def new_secret(root: hvac.Client, mount: str, name: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = root.auth.approle.generate_secret_id(
        name, mount_point=mount, **fields)["data"]
    return data


def accessors(node: ReadyNode, mount: str, name: str) -> list[str]:
    with node.root as root:
        listed = root.request("LIST", f"/v1/auth/{mount}/role/{name}/secret-id")
    if listed.status_code == 404:
        return []
    assert listed.status_code == 200, listed.text
    return sorted(listed.json()["data"]["keys"])


def test_hvac_role_secret_id_login_and_the_token_has_the_roles_policies(
        node: ReadyNode) -> None:
    root = hv(node, node.root_token)
    root.sys.enable_auth_method("approle")
    assert root.sys.list_auth_methods()["data"]["approle/"]["type"] == "approle"
    root.sys.create_or_update_policy(name="ar-app", policy=APP_POLICY)
    root.secrets.kv.v2.create_or_update_secret(path="ar/app/db", secret={"password": "s3"})
    root.secrets.kv.v2.create_or_update_secret(path="ar/other/db", secret={"password": "no"})
    root.auth.approle.create_or_update_approle("web", token_policies=["ar-app"],
                                               token_ttl="1h", token_max_ttl="4h")
    role = root.auth.approle.read_role("web")["data"]
    assert role["token_policies"] == ["ar-app"]
    assert (role["token_ttl"], role["token_max_ttl"]) == (3600, 14400)
    assert role["bind_secret_id"] is True
    assert "web" in root.auth.approle.list_roles()["data"]["keys"]
    role_id = root.auth.approle.read_role_id("web")["data"]["role_id"]
    issued = root.auth.approle.generate_secret_id("web", metadata={"host": "ci-1"})["data"]
    assert issued["secret_id"] and issued["secret_id_accessor"]
    assert issued["secret_id"] != issued["secret_id_accessor"]

    app = hv(node)
    auth = app.auth.approle.login(role_id=role_id, secret_id=issued["secret_id"])["auth"]
    assert auth["client_token"].startswith("sbs.") and app.token == auth["client_token"]
    assert sorted(auth["policies"]) == ["ar-app", "default"]
    assert 3500 <= auth["lease_duration"] <= 3600
    # Vault: the secret id's metadata is in auth.metadata, with role_name
    assert auth["token_type"] == "service" and \
        auth["metadata"] == {"host": "ci-1", "role_name": "web"}
    me = app.lookup_token()["data"]
    assert sorted(me["policies"]) == ["ar-app", "default"] and me["ttl"] > 3500
    assert app.secrets.kv.v2.read_secret_version(
        path="ar/app/db", raise_on_deleted_version=True)["data"]["data"] == {"password": "s3"}
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.read_secret_version(path="ar/other/db", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        app.auth.approle.read_role_id("web")
    # the secret id (no use limit) logs in again, and the secret id's metadata round-trips
    again = hv(node).auth.approle.login(role_id=role_id, secret_id=issued["secret_id"])
    assert again["auth"]["client_token"] != auth["client_token"]
    looked = root.auth.approle.read_secret_id("web", issued["secret_id"])["data"]
    assert looked["metadata"] == {"host": "ci-1"}
    assert looked["secret_id_accessor"] == issued["secret_id_accessor"]


def test_a_single_use_secret_id_logs_in_once(node: ReadyNode) -> None:
    root = enable(node, "ar-once")
    role_id = make_role(root, "ar-once", "once", secret_id_num_uses=1,
                        token_policies=["default"])
    secret = new_secret(root, "ar-once", "once")
    assert secret["secret_id_num_uses"] == 1
    first = raw_login(node, "ar-once", role_id, secret["secret_id"])
    assert first.status_code == 200, first.text
    assert refused(raw_login(node, "ar-once", role_id, secret["secret_id"]))
    # the spent secret id is gone for lookups too: Vault's 204 with no body
    with node.root as raw:
        gone = raw.post("/v1/auth/ar-once/role/once/secret-id/lookup",
                        json={"secret_id": secret["secret_id"]})
        assert (gone.status_code, gone.content) == (204, b"")


def test_two_concurrent_logins_with_one_single_use_secret_id_yield_one_token(
        node: ReadyNode) -> None:
    root = enable(node, "ar-race")
    role_id = make_role(root, "ar-race", "race", secret_id_num_uses=1,
                        token_policies=["default"])
    for _ in range(3):
        secret_id = new_secret(root, "ar-race", "race")["secret_id"]
        answers = _race(node, "ar-race", role_id, secret_id, 2)
        winners = [a for a in answers if a.status_code == 200]
        assert len(winners) == 1, [(a.status_code, a.text) for a in answers]
        loser = next(a for a in answers if a.status_code != 200)
        assert refused(loser), (loser.status_code, loser.text)
        with node.client(winners[0].json()["auth"]["client_token"]) as token:
            assert token.get("/v1/auth/token/lookup-self").status_code == 200


def _race(node: ReadyNode, mount: str, role_id: str, secret_id: str,
          n: int) -> list[httpx.Response]:
    """`n` logins with the same credentials, released at once from `n` threads."""
    clients = [node.client() for _ in range(n)]
    for client in clients:  # connect (TLS) first, so the requests themselves race
        client.get("/v1/sys/health")
    barrier = threading.Barrier(n)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt(client: httpx.Client) -> None:
        barrier.wait()
        answer = client.post(f"/v1/auth/{mount}/login",
                             json={"role_id": role_id, "secret_id": secret_id})
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=attempt, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for client in clients:
        client.close()
    assert len(answers) == n
    return answers


def test_every_loser_of_a_single_use_race_gets_the_same_answer_as_a_later_reuse(
        node: ReadyNode) -> None:
    root = enable(node, "ar-race2")
    role_id = make_role(root, "ar-race2", "race", secret_id_num_uses=1,
                        token_policies=["default"])
    losers: list[httpx.Response] = []
    for _ in range(3):
        secret_id = new_secret(root, "ar-race2", "race")["secret_id"]
        answers = _race(node, "ar-race2", role_id, secret_id, 12)
        assert [a.status_code for a in answers].count(200) == 1
        losers += [a for a in answers if a.status_code != 200]
        losers.append(raw_login(node, "ar-race2", role_id, secret_id))  # a later reuse
    assert {(a.status_code, a.text) for a in losers} == {(400, '{"errors":["' + INVALID
                                                          + '"]}')}


def test_an_expired_secret_id_no_longer_logs_in(node: ReadyNode) -> None:
    root = enable(node, "ar-ttl")
    role_id = make_role(root, "ar-ttl", "brief", secret_id_ttl="2s",
                        token_policies=["default"])
    assert root.auth.approle.read_role("brief", mount_point="ar-ttl")["data"][
        "secret_id_ttl"] == 2
    secret = new_secret(root, "ar-ttl", "brief")
    assert secret["secret_id_ttl"] == 2
    assert raw_login(node, "ar-ttl", role_id, secret["secret_id"]).status_code == 200
    time.sleep(3)
    assert refused(raw_login(node, "ar-ttl", role_id, secret["secret_id"]))
    fresh = new_secret(root, "ar-ttl", "brief")  # the role still issues working ones
    assert raw_login(node, "ar-ttl", role_id, fresh["secret_id"]).status_code == 200


def test_a_secret_id_bound_to_cidrs_logs_in_only_from_them(node: ReadyNode) -> None:
    root = enable(node, "ar-cidr")
    role_id = make_role(root, "ar-cidr", "bound", token_policies=["default"])
    elsewhere = new_secret(root, "ar-cidr", "bound", cidr_list=["10.0.0.0/8"])
    assert refused(raw_login(node, "ar-cidr", role_id, elsewhere["secret_id"]))
    loopback = new_secret(root, "ar-cidr", "bound", cidr_list=["127.0.0.0/8"])
    assert raw_login(node, "ar-cidr", role_id, loopback["secret_id"]).status_code == 200
    # one loopback address only: the server sees the client's source address
    single = new_secret(root, "ar-cidr", "bound", cidr_list=["127.0.3.7/32"])
    assert refused(raw_login(node, "ar-cidr", role_id, single["secret_id"], "127.0.0.1"))
    ok = raw_login(node, "ar-cidr", role_id, single["secret_id"], "127.0.3.7")
    assert ok.status_code == 200, ok.text
    looked = root.auth.approle.read_secret_id("bound", single["secret_id"],
                                              mount_point="ar-cidr")["data"]
    assert looked["cidr_list"] == ["127.0.3.7/32"]
    # a role-wide binding applies to the role's secret ids
    plain = new_secret(root, "ar-cidr", "bound")
    assert raw_login(node, "ar-cidr", role_id, plain["secret_id"]).status_code == 200
    root.auth.approle.create_or_update_approle("bound", secret_id_bound_cidrs=["10.0.0.0/8"],
                                               mount_point="ar-cidr")
    assert refused(raw_login(node, "ar-cidr", role_id, plain["secret_id"]))
    root.auth.approle.create_or_update_approle("bound", secret_id_bound_cidrs=["127.0.0.1/32"],
                                               mount_point="ar-cidr")
    assert raw_login(node, "ar-cidr", role_id, plain["secret_id"]).status_code == 200
    assert refused(raw_login(node, "ar-cidr", role_id, plain["secret_id"], "127.0.3.8"))
    with node.root as raw:
        assert raw.post("/v1/auth/ar-cidr/role/bound/secret-id",
                        json={"cidr_list": ["not-a-cidr"]}).status_code == 400


def test_a_secret_id_cidr_list_cannot_escape_the_roles_binding(node: ReadyNode) -> None:
    root = enable(node, "ar-cidr2")
    role_id = make_role(root, "ar-cidr2", "fenced", secret_id_bound_cidrs=["10.0.0.0/8"],
                        token_policies=["default"])
    with node.root as raw:
        issued = raw.post("/v1/auth/ar-cidr2/role/fenced/secret-id",
                          json={"cidr_list": ["0.0.0.0/0"]})
    if issued.status_code == 400:  # refused as outside the role's binding (Vault): fine
        return
    assert issued.status_code == 200, issued.text
    # else the login from 127.0.0.1, outside the role's 10.0.0.0/8, must fail
    assert refused(raw_login(node, "ar-cidr2", role_id, issued.json()["data"]["secret_id"]))


def test_a_wrong_secret_id_and_a_wrong_role_id_get_the_same_answer(node: ReadyNode) -> None:
    root = enable(node, "ar-wrong")
    role_a = make_role(root, "ar-wrong", "alpha", token_policies=["default"])
    role_b = make_role(root, "ar-wrong", "beta", token_policies=["default"])
    secret_a = new_secret(root, "ar-wrong", "alpha")["secret_id"]
    assert refused(raw_login(node, "ar-wrong", role_a, secret_a[:-4] + "0000"))
    assert refused(raw_login(node, "ar-wrong", "no-such-role-id", secret_a))
    assert refused(raw_login(node, "ar-wrong", role_b, secret_a))  # another role's secret id
    assert refused(raw_login(node, "ar-wrong", role_a, None))
    assert refused(raw_login(node, "ar-wrong", role_a, secret_a[:-4] + "0000", "127.0.4.4"))
    assert raw_login(node, "ar-wrong", role_a, secret_a).status_code == 200
    with node.client() as anon:
        assert anon.post("/v1/auth/ar-wrong/login", json={"secret_id": secret_a}) \
            .status_code == 400
        assert anon.post("/v1/auth/ar-wrong/login",
                         json={"role_id": role_a, "secret_id": 7}).status_code == 400


def test_a_custom_role_id_replaces_the_generated_one_and_cannot_be_taken_twice(
        node: ReadyNode) -> None:
    root = enable(node, "ar-custom")
    generated = make_role(root, "ar-custom", "gamma", token_policies=["default"])
    other = make_role(root, "ar-custom", "delta", token_policies=["default"])
    secret_id = new_secret(root, "ar-custom", "gamma")["secret_id"]
    with node.root as raw:
        set_id = raw.post("/v1/auth/ar-custom/role/gamma/role-id",
                          json={"role_id": "gamma-chosen-id"})
        assert set_id.status_code in (200, 204), set_id.text
    assert root.auth.approle.read_role_id("gamma", mount_point="ar-custom")["data"][
        "role_id"] == "gamma-chosen-id"
    assert raw_login(node, "ar-custom", "gamma-chosen-id", secret_id).status_code == 200
    assert refused(raw_login(node, "ar-custom", generated, secret_id))
    with pytest.raises(hvac.exceptions.InvalidRequest):  # delta's role id is taken
        root.auth.approle.update_role_id("gamma", other, mount_point="ar-custom")
    with node.root as raw:
        taken = raw.post("/v1/auth/ar-custom/role/delta/role-id",
                         json={"role_id": "gamma-chosen-id"})
        assert taken.status_code == 400, taken.text
        assert raw.post("/v1/auth/ar-custom/role/delta/role-id",
                        json={"role_id": ""}).status_code == 400
    assert root.auth.approle.read_role_id("gamma", mount_point="ar-custom")["data"][
        "role_id"] == "gamma-chosen-id"
    assert root.auth.approle.read_role_id("delta", mount_point="ar-custom")["data"][
        "role_id"] == other
    assert raw_login(node, "ar-custom", "gamma-chosen-id", secret_id).status_code == 200


def test_secret_id_accessors_list_look_up_and_destroy_and_a_deleted_role_takes_them_along(
        node: ReadyNode) -> None:
    root = enable(node, "ar-acc")
    role_id = make_role(root, "ar-acc", "eps", token_policies=["default"])
    one = new_secret(root, "ar-acc", "eps", metadata={"n": "1"})
    two = new_secret(root, "ar-acc", "eps", metadata={"n": "2"})
    three = new_secret(root, "ar-acc", "eps")
    assert accessors(node, "ar-acc", "eps") == sorted(
        s["secret_id_accessor"] for s in (one, two, three))
    looked = root.auth.approle.read_secret_id_accessor(
        "eps", one["secret_id_accessor"], mount_point="ar-acc")["data"]
    assert looked["metadata"] == {"n": "1"} and looked["secret_id_accessor"] == \
        one["secret_id_accessor"]
    assert "secret_id" not in looked

    root.auth.approle.destroy_secret_id_accessor("eps", one["secret_id_accessor"],
                                                 mount_point="ar-acc")
    assert refused(raw_login(node, "ar-acc", role_id, one["secret_id"]))
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.auth.approle.read_secret_id_accessor("eps", one["secret_id_accessor"],
                                                  mount_point="ar-acc")
    root.auth.approle.destroy_secret_id("eps", two["secret_id"], mount_point="ar-acc")
    assert refused(raw_login(node, "ar-acc", role_id, two["secret_id"]))
    assert accessors(node, "ar-acc", "eps") == [three["secret_id_accessor"]]
    assert raw_login(node, "ar-acc", role_id, three["secret_id"]).status_code == 200

    root.auth.approle.delete_role("eps", mount_point="ar-acc")
    assert refused(raw_login(node, "ar-acc", role_id, three["secret_id"]))
    with pytest.raises(hvac.exceptions.InvalidPath):
        root.auth.approle.read_role("eps", mount_point="ar-acc")
    # a new role of the same name does not inherit the old secret ids
    new_role_id = make_role(root, "ar-acc", "eps", token_policies=["default"])
    assert new_role_id != role_id
    assert accessors(node, "ar-acc", "eps") == []
    assert refused(raw_login(node, "ar-acc", new_role_id, three["secret_id"]))


def test_a_spent_single_use_secret_id_is_no_longer_listed(node: ReadyNode) -> None:
    root = enable(node, "ar-spent")
    role_id = make_role(root, "ar-spent", "zeta", secret_id_num_uses=1,
                        token_policies=["default"])
    kept = new_secret(root, "ar-spent", "zeta")
    spent = new_secret(root, "ar-spent", "zeta")
    assert raw_login(node, "ar-spent", role_id, spent["secret_id"]).status_code == 200
    with node.root as raw:  # the record is gone...
        assert raw.post("/v1/auth/ar-spent/role/zeta/secret-id-accessor/lookup",
                        json={"secret_id_accessor": spent["secret_id_accessor"]}) \
            .status_code == 404
    # ...so its accessor must not be listed either
    assert accessors(node, "ar-spent", "zeta") == [kept["secret_id_accessor"]]


def test_a_roles_token_num_uses_limits_the_issued_token(node: ReadyNode) -> None:
    root = enable(node, "ar-uses")
    root.sys.create_or_update_policy(name="ar-app", policy=APP_POLICY)
    root.secrets.kv.v2.create_or_update_secret(path="ar/app/uses", secret={"v": "1"})
    role_id = make_role(root, "ar-uses", "eta", token_num_uses=2, token_policies=["ar-app"])
    assert root.auth.approle.read_role("eta", mount_point="ar-uses")["data"][
        "token_num_uses"] == 2
    answer = raw_login(node, "ar-uses", role_id, new_secret(root, "ar-uses", "eta")["secret_id"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["auth"]["num_uses"] == 2
    with node.client(answer.json()["auth"]["client_token"]) as token:
        statuses = [token.get("/v1/secret/data/ar/app/uses").status_code for _ in range(3)]
    assert statuses == [200, 200, 403]


def test_a_batch_token_role_issues_batch_tokens_that_read_but_do_not_renew(
        node: ReadyNode) -> None:
    root = enable(node, "ar-batch")
    root.sys.create_or_update_policy(name="ar-app", policy=APP_POLICY)
    root.secrets.kv.v2.create_or_update_secret(path="ar/app/batch", secret={"v": "b"})
    role_id = make_role(root, "ar-batch", "theta", token_type="batch",
                        token_policies=["ar-app"], token_ttl="10m")
    assert root.auth.approle.read_role("theta", mount_point="ar-batch")["data"][
        "token_type"] == "batch"
    secret_id = new_secret(root, "ar-batch", "theta")["secret_id"]
    app = hv(node)
    auth = app.auth.approle.login(role_id=role_id, secret_id=secret_id,
                                  mount_point="ar-batch")["auth"]
    assert auth["client_token"].startswith("sbb.")
    assert auth["token_type"] == "batch" and auth["renewable"] is False
    assert 500 <= auth["lease_duration"] <= 600
    assert app.secrets.kv.v2.read_secret_version(
        path="ar/app/batch", raise_on_deleted_version=True)["data"]["data"] == {"v": "b"}
    with pytest.raises(hvac.exceptions.Forbidden):
        app.secrets.kv.v2.read_secret_version(path="ar/other/db", raise_on_deleted_version=True)
    with node.client(auth["client_token"]) as token:
        renew = token.post("/v1/auth/token/renew-self", json={})
        assert renew.status_code == 400, renew.text
        assert token.get("/v1/auth/token/lookup-self").json()["data"]["type"] == "batch"


def test_managing_roles_needs_a_policy_on_the_role_path(node: ReadyNode) -> None:
    root = enable(node, "ar-acl")
    root.sys.create_or_update_policy(name="ar-app", policy=APP_POLICY)
    root.sys.create_or_update_policy(
        name="ar-admin",
        policy='path "auth/ar-acl/role/*" { capabilities = ["create", "update", "read"] }')
    reader = root.auth.token.create(policies=["ar-app"])["auth"]["client_token"]
    admin = root.auth.token.create(policies=["ar-admin"])["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.Forbidden):
        hv(node, reader).auth.approle.create_or_update_approle(
            "iota", token_policies=["root"], mount_point="ar-acl")
    with pytest.raises(hvac.exceptions.InvalidPath):  # the refused write did nothing
        root.auth.approle.read_role("iota", mount_point="ar-acl")
    with node.client() as anon:
        assert anon.post("/v1/auth/ar-acl/role/iota", json={}).status_code == 403
    hv(node, admin).auth.approle.create_or_update_approle(
        "iota", token_policies=["ar-app"], mount_point="ar-acl")
    assert root.auth.approle.read_role("iota", mount_point="ar-acl")["data"][
        "token_policies"] == ["ar-app"]
    with pytest.raises(hvac.exceptions.Forbidden):  # no delete capability
        hv(node, admin).auth.approle.delete_role("iota", mount_point="ar-acl")
    enable(node, "ar-acl2")
    with pytest.raises(hvac.exceptions.Forbidden):  # another mount is another path
        hv(node, admin).auth.approle.create_or_update_approle("iota", mount_point="ar-acl2")


def test_bad_role_definitions_are_refused(node: ReadyNode) -> None:
    enable(node, "ar-badrole")
    with node.root as raw:
        for body in ({"token_type": "bulk"}, {"secret_id_num_uses": -1},
                     {"bind_secret_id": False}, {"token_ttl": "soon"},
                     {"secret_id_bound_cidrs": ["300.1.2.3/8"]}, {"token_num_uses": "many"}):
            answer = raw.post("/v1/auth/ar-badrole/role/kappa", json=body)
            assert answer.status_code == 400, (body, answer.text)
        assert raw.get("/v1/auth/ar-badrole/role/kappa").status_code == 404
        assert raw.post("/v1/auth/ar-badrole/role/missing/secret-id").status_code == 404


@pytest.fixture
def own_node(tmp_path: Path, tls: TlsFiles) -> Iterator[ReadyNode]:
    """A node for one test (the test may leave it unable to commit writes)."""
    with ready_node(tmp_path / "data", tls) as ready:
        yield ready


def test_a_limited_use_batch_role_is_refused_or_its_tokens_work(own_node: ReadyNode) -> None:
    root = enable(own_node, "approle")
    with own_node.root as raw:
        role = raw.post("/v1/auth/approle/role/lambda", json={
            "token_type": "batch", "token_num_uses": 2, "token_policies": ["default"]})
        if role.status_code == 400:  # refused like auth/token/create refuses it: fine
            return
        assert role.status_code == 204, role.text
    role_id = root.auth.approle.read_role_id("lambda")["data"]["role_id"]
    answer = raw_login(own_node, "approle", role_id,
                       new_secret(root, "approle", "lambda")["secret_id"])
    if answer.status_code == 200:
        with own_node.client(answer.json()["auth"]["client_token"]) as token:
            used = token.get("/v1/auth/token/lookup-self")
            assert used.status_code == 200, used.text
    else:
        assert answer.status_code == 400, answer.text
    with own_node.root as raw:  # and the node still commits writes
        write = raw.post("/v1/secret/data/after", json={"data": {"ok": True}})
        assert write.status_code == 200, write.text
