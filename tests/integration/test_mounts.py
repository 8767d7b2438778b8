"""sys/mounts and sys/auth through hvac on a real node: mount, list, tune, unmount."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration


def client(node: ReadyNode) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=node.root_token,
                       verify=str(node.server.tls.ca_cert))


def test_a_kv_mount_is_created_tuned_and_removed_with_its_data(node: ReadyNode) -> None:
    root = client(node)
    root.sys.enable_secrets_engine("kv", path="team-kv", options={"version": "2"},
                                   description="team secrets")
    mounts = root.sys.list_mounted_secrets_engines()["data"]
    assert mounts["team-kv/"]["type"] == "kv" and mounts["team-kv/"]["options"]["version"] == "2"
    root.secrets.kv.v2.create_or_update_secret(path="a", secret={"k": "v"},
                                               mount_point="team-kv")
    root.sys.tune_mount_configuration(path="team-kv", description="renamed")
    assert root.sys.read_mount_configuration(path="team-kv")["data"]["description"] == "renamed"
    root.sys.disable_secrets_engine(path="team-kv")
    assert "team-kv/" not in root.sys.list_mounted_secrets_engines()["data"]
    root.sys.enable_secrets_engine("kv", path="team-kv", options={"version": "2"})
    with pytest.raises(hvac.exceptions.InvalidPath):  # the old data went with the mount
        root.secrets.kv.v2.read_secret_version(path="a", mount_point="team-kv",
                                               raise_on_deleted_version=True)


def test_mount_input_is_checked(node: ReadyNode) -> None:
    with node.root as raw:
        cases = [
            ("/v1/sys/mounts/secret", {"type": "kv"}, "already in use"),
            ("/v1/sys/mounts/secret/inner", {"type": "kv"}, "already in use"),
            ("/v1/sys/mounts/v3kv", {"type": "kv", "options": {"version": "3"}}, "no version"),
            ("/v1/sys/mounts/pki", {"type": "pki"}, "supported types: database, kv, transit"),
            ("/v1/sys/mounts/x", {"type": "nosuch"}, "not a secrets engine type"),
            ("/v1/sys/mounts/sys", {"type": "kv"}, "invalid mount path"),
            ("/v1/sys/mounts/x", {}, "missing required field"),
            ("/v1/sys/mounts/secret/tune", {"max_lease_ttl": "9999h"}, "cannot exceed"),
            ("/v1/sys/mounts/secret/tune", {"default_lease_ttl": "2h", "max_lease_ttl": "1h"},
             "cannot be greater"),
        ]
        for path, body, message in cases:
            answer = raw.post(path, json=body)
            assert answer.status_code == 400 and message in answer.text, (path, answer.text)
        assert raw.get("/v1/sys/mounts/nowhere/tune").status_code == 400


def test_auth_methods_are_listed_and_disabling_one_revokes_its_tokens(node: ReadyNode) -> None:
    root = client(node)
    root.sys.enable_auth_method("userpass", path="people", description="staff")
    methods = root.sys.list_auth_methods()["data"]
    assert methods["people/"]["type"] == "userpass" and methods["token/"]["type"] == "token"
    root.auth.userpass.create_or_update_user("eve", "pw-eve-123", policies=["default"],
                                             mount_point="people")
    login = hvac.Client(url=node.server.addr, verify=str(node.server.tls.ca_cert))
    token = login.auth.userpass.login("eve", "pw-eve-123", mount_point="people")["auth"][
        "client_token"]
    with node.client(token) as raw:
        assert raw.get("/v1/auth/token/lookup-self").status_code == 200
    root.sys.disable_auth_method(path="people")
    with node.client(token) as raw:
        assert raw.get("/v1/auth/token/lookup-self").status_code == 403
    assert "people/" not in root.sys.list_auth_methods()["data"]
