"""Token kinds and lifetimes through hvac on a real node: batch, periodic, explicit max TTL,
num_uses, expiry of a parent, and the leader's sweeper (run every 0.5 s here)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import hvac
import hvac.exceptions
import pytest

from strongbox.testing import TlsFiles
from tests.conftest import ReadyNode, ready_node

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, tls: TlsFiles) -> Iterator[ReadyNode]:
    with ready_node(tmp_path_factory.mktemp("swept") / "data", tls,
                    extra_config="[limits]\nsweep_interval_s = 0.5\n") as ready:
        yield ready


def client(node: ReadyNode, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token,
                       verify=str(node.server.tls.ca_cert))


def status(node: ReadyNode, token: str, path: str = "/v1/auth/token/lookup-self") -> int:
    with node.client(token) as raw:
        return raw.get(path).status_code


def test_batch_tokens_work_are_not_stored_and_are_read_only_in_lifecycle(
        swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    root.sys.create_or_update_policy(
        name="maker", policy='path "auth/token/create" { capabilities = ["update"] }')
    created = root.auth.token.create(type="batch", policies=["maker"], ttl="1h")["auth"]
    token = created["client_token"]
    assert token.startswith("sbb.") and created["token_type"] == "batch"
    assert created["accessor"] == "" and created["renewable"] is False
    me = client(swept, token).auth.token.lookup_self()["data"]
    assert me["type"] == "batch" and 3500 <= me["ttl"] <= 3600
    with swept.client(token) as raw:
        assert raw.post("/v1/auth/token/renew-self").status_code == 400
        refused = raw.post("/v1/auth/token/create", json={})  # allowed by policy, but batch
        assert refused.status_code == 400 and "batch" in refused.text
    with swept.root as raw:
        assert raw.post("/v1/auth/token/revoke", json={"token": token}).status_code == 400


def test_num_uses_counts_every_request_and_the_last_use_revokes(swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    created = root.auth.token.create(num_uses=2, policies=["default"])["auth"]
    assert created["num_uses"] == 2
    token = created["client_token"]
    assert status(swept, token) == 200
    assert status(swept, token) == 200
    assert status(swept, token) == 403
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.auth.token.lookup_accessor(created["accessor"])


def test_periodic_tokens_renew_by_their_period(swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    created = root.auth.token.create(period="30s", ttl="1h", policies=["default"])["auth"]
    assert created["lease_duration"] == 30  # the period wins over the ttl
    app = client(swept, created["client_token"])
    renewed = app.auth.token.renew_self(increment="10h")["auth"]
    assert 28 <= renewed["lease_duration"] <= 30  # by the period, whatever was asked
    assert app.auth.token.lookup_self()["data"]["period"] == 30


def test_only_sudo_can_make_periodic_tokens(swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    root.sys.create_or_update_policy(
        name="maker", policy='path "auth/token/create" { capabilities = ["update"] }')
    maker = root.auth.token.create(policies=["maker"])["auth"]["client_token"]
    with pytest.raises(hvac.exceptions.Forbidden) as refused:
        client(swept, maker).auth.token.create(period="1h", policies=["maker"])
    assert "sudo" in str(refused.value)


def test_explicit_max_ttl_caps_creation_and_renewal(swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    created = root.auth.token.create(ttl="1h", explicit_max_ttl="60s",
                                     policies=["default"])["auth"]
    assert created["lease_duration"] == 60
    app = client(swept, created["client_token"])
    renewed = app.auth.token.renew_self(increment="2h")
    assert renewed["auth"]["lease_duration"] <= 60
    assert renewed["warnings"] and "explicit max" in renewed["warnings"][0]
    assert app.auth.token.lookup_self()["data"]["explicit_max_ttl"] == 60


def test_a_child_dies_when_its_parent_expires_and_the_sweeper_revokes_the_tree(
        swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    root.sys.create_or_update_policy(
        name="maker", policy='path "auth/token/create" { capabilities = ["update"] }')
    parent = root.auth.token.create(ttl="2s", policies=["maker"])["auth"]
    child = client(swept, parent["client_token"]).auth.token.create(
        ttl="1h", policies=["maker"])["auth"]
    assert status(swept, child["client_token"]) == 200
    time.sleep(2.5)
    assert status(swept, parent["client_token"]) == 403  # expired: checked on use
    assert status(swept, child["client_token"]) == 403  # its parent expired: so does it
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the sweeper removes the whole tree
        with swept.root as raw:
            found = raw.post("/v1/auth/token/lookup-accessor",
                             json={"accessor": child["accessor"]})
        if found.status_code == 400:
            break
        time.sleep(0.25)
    assert found.status_code == 400


def test_expired_wrapping_tokens_and_secret_ids_are_swept(swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    root.sys.enable_auth_method("approle", path="sweep-approle")
    root.auth.approle.create_or_update_approle("r", token_policies=["default"],
                                               secret_id_ttl="1s",
                                               mount_point="sweep-approle")
    generated = root.auth.approle.generate_secret_id("r", mount_point="sweep-approle")["data"]
    with swept.root as raw:
        url = "/v1/auth/sweep-approle/role/r/secret-id"
        assert raw.request("LIST", url).json()["data"]["keys"] == [
            generated["secret_id_accessor"]]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and raw.request("LIST", url).status_code == 200:
            time.sleep(0.25)
        assert raw.request("LIST", url).status_code == 404  # the accessor index went too


def test_accessors_are_the_listable_handle_and_need_sudo(swept: ReadyNode) -> None:
    root = client(swept, swept.root_token)
    created = root.auth.token.create(policies=["default"], ttl="1h")["auth"]
    listed = root.auth.token.list_accessors()["data"]["keys"]
    assert created["accessor"] in listed
    assert created["client_token"] not in str(listed)
    with swept.client(created["client_token"]) as raw:
        assert raw.request("LIST", "/v1/auth/token/accessors").status_code == 403
