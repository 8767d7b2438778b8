"""hvac, unchanged, against a real node: the compatibility promise of docs/api.md."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from strongbox.testing import ServerProcess
from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration


def client_for(server: ServerProcess, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=server.addr, token=token, verify=str(server.tls.ca_cert))


def test_hvac_initialize_unseal_and_seal_status(fresh_server: ServerProcess) -> None:
    client = client_for(fresh_server)
    assert client.sys.is_initialized() is False
    result = client.sys.initialize(secret_shares=3, secret_threshold=2)
    assert len(result["keys"]) == 3 and result["root_token"]
    assert client.sys.is_initialized() is True
    assert client.sys.is_sealed() is True
    status = client.sys.submit_unseal_keys(result["keys"][:2])
    assert status["sealed"] is False
    seal_status = client.sys.read_seal_status()
    assert seal_status["t"] == 2 and seal_status["n"] == 3 and seal_status["type"] == "shamir"
    health = client.sys.read_health_status(method="GET")
    assert health["initialized"] is True and health["sealed"] is False
    client.token = result["root_token"]
    assert client.is_authenticated() is True


def test_hvac_health_head_uses_status_codes(fresh_server: ServerProcess) -> None:
    client = client_for(fresh_server)
    assert client.sys.read_health_status(method="HEAD").status_code == 501
    keys = client.sys.initialize(secret_shares=1, secret_threshold=1)["keys"]
    assert client.sys.read_health_status(method="HEAD").status_code == 503
    client.sys.submit_unseal_key(keys[0])
    assert client.sys.read_health_status(method="HEAD").status_code == 200


def test_hvac_kv_v2_round_trip(node: ReadyNode) -> None:
    client = client_for(node.server, node.root_token)
    kv = client.secrets.kv.v2
    written = kv.create_or_update_secret(path="hvac/app", secret={"password": "s3cr3t"})
    assert written["data"]["version"] == 1
    kv.create_or_update_secret(path="hvac/app", secret={"password": "n3w"}, cas=1)
    with pytest.raises(hvac.exceptions.InvalidRequest):
        kv.create_or_update_secret(path="hvac/app", secret={"password": "x"}, cas=1)
    read = kv.read_secret_version(path="hvac/app", raise_on_deleted_version=True)
    assert read["data"]["data"] == {"password": "n3w"}
    assert kv.read_secret_version(path="hvac/app", version=1,
                                  raise_on_deleted_version=True)["data"]["data"] == \
        {"password": "s3cr3t"}
    kv.patch(path="hvac/app", secret={"user": "svc"})
    assert kv.read_secret_version(path="hvac/app", raise_on_deleted_version=True)[
        "data"]["data"] == {"password": "n3w", "user": "svc"}
    kv.create_or_update_secret(path="hvac/other", secret={"a": "b"})
    assert kv.list_secrets(path="hvac")["data"]["keys"] == ["app", "other"]
    metadata = kv.read_secret_metadata(path="hvac/app")["data"]
    assert metadata["current_version"] == 3
    kv.update_metadata(path="hvac/app", max_versions=5, custom_metadata={"team": "x"})
    assert kv.read_secret_metadata(path="hvac/app")["data"]["custom_metadata"] == {"team": "x"}
    kv.delete_latest_version_of_secret(path="hvac/app")
    assert kv.read_secret_version(path="hvac/app", raise_on_deleted_version=False)[
        "data"]["metadata"]["deletion_time"] != ""
    kv.undelete_secret_versions(path="hvac/app", versions=[3])
    kv.destroy_secret_versions(path="hvac/app", versions=[1])
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path="hvac/app", version=1, raise_on_deleted_version=True)
    kv.delete_metadata_and_all_versions(path="hvac/app")
    with pytest.raises(hvac.exceptions.InvalidPath):
        kv.read_secret_version(path="hvac/app", raise_on_deleted_version=True)
    kv.configure(max_versions=9)
    assert kv.read_configuration()["data"]["max_versions"] == 9
    kv.configure(max_versions=0)


def test_hvac_errors_map_to_its_exceptions(node: ReadyNode) -> None:
    with pytest.raises(hvac.exceptions.Forbidden):
        client_for(node.server, "sbs.not-a-token").secrets.kv.v2.read_secret_version(
            path="x", raise_on_deleted_version=True)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client_for(node.server, node.root_token).secrets.kv.v2.read_secret_version(
            path="hvac/never", raise_on_deleted_version=True)


def test_hvac_sys_key_status_rotate_and_mounts(node: ReadyNode) -> None:
    client = client_for(node.server, node.root_token)
    term = client.sys.get_encryption_key_status()["data"]["term"]
    client.sys.rotate_encryption_key()
    assert client.sys.get_encryption_key_status()["data"]["term"] == term + 1
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert mounts["secret/"]["type"] == "kv" and mounts["secret/"]["options"] == {"version": "2"}
    leader = client.sys.read_leader_status()
    assert leader["ha_enabled"] is True and leader["is_self"] is True
