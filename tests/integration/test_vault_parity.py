"""Vault's answers where its own clients look (issue 14): hvac calls, the request shapes
of the `vault` CLI (`kv` preflight, `operator raft join`) and of Terraform's provider
(reading a mount back), each checked for Vault's status and body shape."""

from __future__ import annotations

import base64
import io
import json
import ssl
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from strongbox.config import load_config
from strongbox.errors import BadRequest, ConfigError
from strongbox.obs.logs import AccessLog
from strongbox.testing import ServerProcess
from tests.conftest import ReadyNode, create_token, put_policy
from tests.inprocess import InProcessApi

pytestmark = pytest.mark.integration
IGNORED = "Endpoint ignored these unrecognized parameters: [{}]"


def hv(node: ReadyNode, token: str | None = None) -> hvac.Client:
    return hvac.Client(url=node.server.addr, token=token or node.root_token,
                       verify=str(node.server.tls.ca_cert))


# --- sys/ -----------------------------------------------------------------------------

def test_version_is_the_vault_api_level_with_ours_as_build_metadata(node: ReadyNode) -> None:
    with node.client() as raw:
        health = raw.get("/v1/sys/health").json()["version"]
        status = raw.get("/v1/sys/seal-status").json()["version"]
    assert health == status and health.startswith("1.16.0+strongbox.")


def test_security_headers_include_x_frame_options(node: ReadyNode) -> None:
    with node.client() as raw:
        assert raw.get("/v1/sys/health").headers["x-frame-options"] == "DENY"


def test_unknown_fields_are_ignored_with_a_warning_as_vault(node: ReadyNode) -> None:
    client = hv(node)
    written = client.secrets.kv.v2.create_or_update_secret(path="parity/warn",
                                                           secret={"a": "b"})
    assert written["warnings"] is None
    with node.root as raw:
        answer = raw.post("/v1/secret/data/parity/warn",
                          json={"data": {"a": "c"}, "zeta": 1, "alpha": 2})
        assert answer.status_code == 200
        assert answer.json()["warnings"] == [IGNORED.format("alpha zeta")]
        typed = raw.post("/v1/secret/data/parity/warn", json={"data": "not an object"})
        assert typed.status_code == 400  # known fields stay strictly typed
        no_body = raw.post("/v1/sys/policies/acl/parity-w",  # a 204 stays a 204 (Vault)
                           json={"policy": 'path "x" { capabilities = ["read"] }', "x": 1})
        assert no_body.status_code == 204


def test_terraform_reads_a_mount_and_an_auth_method_back(node: ReadyNode) -> None:
    with node.root as raw:  # the provider's vault_mount / vault_auth_backend read
        assert raw.post("/v1/sys/mounts/tf-kv", json={
            "type": "kv-v2", "description": "tf", "config": {}}).status_code == 204
        mount = raw.get("/v1/sys/mounts/tf-kv")
        assert mount.status_code == 200
        data = mount.json()["data"]
        assert (data["type"], data["options"], data["description"]) == \
            ("kv", {"version": "2"}, "tf")
        assert {"default_lease_ttl", "max_lease_ttl"} <= set(data["config"])
        assert raw.post("/v1/sys/auth/tf-up", json={"type": "userpass"}).status_code == 204
        assert raw.get("/v1/sys/auth/tf-up").json()["data"]["type"] == "userpass"
        missing = raw.get("/v1/sys/mounts/tf-nowhere")
        assert missing.status_code == 400 and "No secret engine mount" in missing.text


def test_mount_and_auth_tune_store_lease_ttls_and_logins_honour_them(node: ReadyNode) -> None:
    client = hv(node)
    client.sys.enable_auth_method("userpass", path="ttl-up")
    client.sys.tune_auth_method("ttl-up", default_lease_ttl="1h", max_lease_ttl="2h")
    tuned = client.sys.read_auth_method_tuning("ttl-up")["data"]
    assert (tuned["default_lease_ttl"], tuned["max_lease_ttl"]) == (3600, 7200)
    client.auth.userpass.create_or_update_user("tia", "pw-tia-1234", mount_point="ttl-up")
    login = hv(node).auth.userpass.login("tia", "pw-tia-1234", mount_point="ttl-up")
    assert login["auth"]["lease_duration"] == 3600
    client.sys.tune_mount_configuration("secret", default_lease_ttl="30m")
    assert client.sys.read_mount_configuration("secret")["data"]["default_lease_ttl"] == 1800


def test_vault_kv_cli_preflight_learns_the_kv_version(node: ReadyNode) -> None:
    # vault/command/kv_helpers.go kvPreflightVersionRequest: GET sys/internal/ui/mounts/<p>
    put_policy(node, "parity-kv", 'path "secret/data/app/*" { capabilities = ["read"] }')
    token = create_token(node, policies=["parity-kv"])["client_token"]
    with node.client(token) as c:
        answer = c.get("/v1/sys/internal/ui/mounts/secret/app/db")
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert (data["type"], data["options"]["version"], data["path"]) == \
            ("kv", "2", "secret/")
        listed = c.get("/v1/sys/internal/ui/mounts").json()["data"]
        assert "secret/" in listed["secret"]
    with node.client() as anonymous:
        assert anonymous.get("/v1/sys/internal/ui/mounts").json()["data"]["secret"] == {}
        assert anonymous.get("/v1/sys/internal/ui/mounts/secret/x").status_code == 403


def test_unsupported_vault_auth_types_are_refused_clearly(node: ReadyNode) -> None:
    with node.root as raw:
        for kind in ("github", "ldap", "okta", "radius", "aws", "gcp", "azure"):
            answer = raw.post(f"/v1/sys/auth/no-{kind}", json={"type": kind})
            assert answer.status_code == 400 and kind in answer.text, (kind, answer.text)


def test_loglevel_reads_and_changes_this_nodes_level(node: ReadyNode) -> None:
    with node.root as raw:
        assert raw.get("/v1/sys/loglevel").json()["data"]["level"] == "info"
        assert raw.put("/v1/sys/loglevel", json={"level": "debug"}).status_code == 204
        assert raw.get("/v1/sys/loglevel").json()["data"]["level"] == "debug"
        assert raw.put("/v1/sys/loglevel", json={"level": "loud"}).status_code == 400
        assert raw.put("/v1/sys/loglevel", json={"level": "info"}).status_code == 204
    token = create_token(node, policies=["default"])["client_token"]
    with node.client(token) as c:
        assert c.put("/v1/sys/loglevel", json={"level": "debug"}).status_code == 403


def test_raft_join_accepts_the_vault_cli_request_shape(fresh_server: ServerProcess) -> None:
    # vault/command/operator_raft_join.go sends api.RaftJoinRequest, with no token.
    body = {"auto_join": "", "auto_join_scheme": "", "auto_join_port": 0,
            "leader_api_addr": "https://10.0.0.1:8200", "leader_ca_cert": "",
            "leader_client_cert": "", "leader_client_key": "", "retry": False,
            "non_voter": False}
    with fresh_server.client() as raw:
        answer = raw.post("/v1/sys/storage/raft/join", json=body)
        assert answer.status_code == 400 and "cluster.peers" in answer.text  # not a 403
        auto = raw.post("/v1/sys/storage/raft/join", json={**body, "auto_join": "provider=aws"})
        assert auto.status_code == 400 and "auto_join" in auto.text


# --- policies, audit, wrapping ----------------------------------------------------------

def test_legacy_policy_list_has_top_level_keys(node: ReadyNode) -> None:
    listed = hv(node).sys.list_policies()
    assert "default" in listed["keys"] and listed["policies"] == listed["data"]["policies"]


def test_legacy_policy_line_is_accepted_and_mapped(node: ReadyNode) -> None:
    client = hv(node)
    client.sys.create_or_update_policy("parity-legacy", 'path "secret/data/old/*" {\n'
                                                        '  policy = "write"\n}\n')
    token = create_token(node, policies=["parity-legacy"])["client_token"]
    with node.client(token) as c:
        got = c.post("/v1/sys/capabilities-self", json={"paths": ["secret/data/old/x"]})
    assert sorted(got.json()["data"]["capabilities"]) == \
        ["create", "delete", "list", "read", "update"]


def test_deleting_a_policy_name_we_never_store_is_a_204(node: ReadyNode) -> None:
    with node.root as raw:
        assert raw.delete("/v1/sys/policy/Weird+Name").status_code == 204
        assert raw.delete("/v1/sys/policies/acl/never-there").status_code == 204
        assert raw.delete("/v1/sys/policy/default").status_code == 400


def test_audit_path_option_missing_disable_and_missing_hash(node: ReadyNode) -> None:
    client = hv(node)
    log = node.server.data_dir / "parity-audit.log"
    client.sys.enable_audit_device("file", path="parity", options={"path": str(log)})
    devices = client.sys.list_enabled_audit_devices()["data"]
    assert devices["parity/"]["options"]["file_path"] == str(log)
    client.sys.disable_audit_device("parity")
    with node.root as raw:
        assert raw.delete("/v1/sys/audit/parity").status_code == 204
        missing = raw.post("/v1/sys/audit-hash/nowhere", json={"input": "x"})
        assert missing.status_code == 400
        assert missing.json()["errors"] == ['unknown audit backend "nowhere/"']


def test_wrapping_an_empty_object_and_a_wrapped_token_accessor(node: ReadyNode) -> None:
    with node.root as raw:
        empty = raw.post("/v1/sys/wrapping/wrap", json={}, headers={"X-Vault-Wrap-TTL": "60"})
        assert empty.status_code == 200 and empty.json()["wrap_info"]["token"]
    wrapped = hv(node).auth.token.create(policies=["default"], wrap_ttl="60s")
    info = wrapped["wrap_info"]
    assert info["wrapped_accessor"]
    unwrapped = hv(node).sys.unwrap(info["token"])
    assert unwrapped["auth"]["accessor"] == info["wrapped_accessor"]


# --- tokens -----------------------------------------------------------------------------

def test_lookup_of_an_unknown_or_revoked_token_is_a_403(node: ReadyNode) -> None:
    token = create_token(node, policies=["default"])["client_token"]
    client = hv(node)
    client.auth.token.revoke(token)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup(token)
    with pytest.raises(hvac.exceptions.Forbidden):
        client.auth.token.lookup("sbs.never-issued-token-value")


def test_token_roles_shape_the_tokens_created_through_them(node: ReadyNode) -> None:
    put_policy(node, "parity-role-a", 'path "secret/data/a" { capabilities = ["read"] }')
    put_policy(node, "parity-role-b", 'path "secret/data/b" { capabilities = ["read"] }')
    client = hv(node)
    client.auth.token.create_or_update_role(
        "parity-role", allowed_policies=["parity-role-a", "parity-role-b"],
        disallowed_policies=["parity-role-b"], orphan=True, renewable=False,
        path_suffix="ci", token_explicit_max_ttl="1h")
    role = client.auth.token.read_role("parity-role")["data"]
    assert role["orphan"] is True and role["token_explicit_max_ttl"] == 3600
    assert role["token_type"] == "default-service" and role["path_suffix"] == "ci"
    assert "parity-role" in client.auth.token.list_roles()["data"]["keys"]
    made = client.auth.token.create(role_name="parity-role", policies=["parity-role-a"])
    auth = made["auth"]
    assert auth["orphan"] is True and auth["renewable"] is False
    assert sorted(auth["policies"]) == ["default", "parity-role-a"]
    assert auth["lease_duration"] <= 3600
    looked = client.auth.token.lookup(auth["client_token"])["data"]
    assert looked["path"] == "auth/token/create/parity-role/ci"
    with pytest.raises(hvac.exceptions.InvalidRequest):  # disallowed wins over allowed
        client.auth.token.create(role_name="parity-role", policies=["parity-role-b"])
    client.auth.token.delete_role("parity-role")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.auth.token.read_role("parity-role")


def test_a_role_gives_policies_the_parent_lacks_only_if_allowed(node: ReadyNode) -> None:
    put_policy(node, "parity-parent", 'path "auth/token/create/*" { capabilities = ["update"] }')
    put_policy(node, "parity-extra", 'path "secret/data/x" { capabilities = ["read"] }')
    hv(node).auth.token.create_or_update_role("parity-lift", allowed_policies=["parity-extra"])
    parent = create_token(node, policies=["parity-parent"])["client_token"]
    child = hv(node, parent).auth.token.create(role_name="parity-lift")["auth"]
    assert sorted(child["policies"]) == ["default", "parity-extra"]


# --- auth methods -----------------------------------------------------------------------

def test_userpass_token_fields_vault_clients_send(node: ReadyNode) -> None:
    client = hv(node)
    client.sys.enable_auth_method("userpass", path="parity-up")
    with node.root as raw:
        written = raw.post("/v1/auth/parity-up/users/ula", json={
            "password": "pw-ula-12345", "token_type": "default", "token_period": "1h",
            "token_bound_cidrs": ["127.0.0.1/32"]})
        assert written.status_code == 204, written.text
        user = raw.get("/v1/auth/parity-up/users/ula").json()["data"]
        assert (user["token_type"], user["token_period"], user["token_bound_cidrs"]) == \
            ("default", 3600, ["127.0.0.1/32"])
    login = hv(node, None).auth.userpass.login("ula", "pw-ula-12345", mount_point="parity-up")
    assert login["auth"]["lease_duration"] == 3600  # periodic
    with node.client(login["auth"]["client_token"]) as c:  # from 127.0.0.1: admitted
        assert c.get("/v1/auth/token/lookup-self").status_code == 200
    with node.root as raw:
        raw.post("/v1/auth/parity-up/users/ula", json={"token_bound_cidrs": ["10.9.9.0/24"]})
    fenced = hv(node, None).auth.userpass.login("ula", "pw-ula-12345", mount_point="parity-up")
    with node.client(fenced["auth"]["client_token"]) as c:
        assert c.get("/v1/auth/token/lookup-self").status_code == 403


def test_approle_parity(node: ReadyNode) -> None:
    client = hv(node)
    client.sys.enable_auth_method("approle", path="parity-ar")
    with node.root as raw:
        made = raw.post("/v1/auth/parity-ar/role/web", json={
            "token_policies": ["default"], "role_id": "my-fixed-role-id"})
        assert made.status_code == 204, made.text
    role = client.auth.approle.read_role("web", mount_point="parity-ar")["data"]
    assert role["token_type"] == "default"
    assert client.auth.approle.read_role_id("web", mount_point="parity-ar")[
        "data"]["role_id"] == "my-fixed-role-id"
    custom = client.auth.approle.create_custom_secret_id(
        "web", secret_id="my-own-secret-id-1", metadata={"team": "blue"},
        mount_point="parity-ar")
    assert custom["data"]["secret_id"] == "my-own-secret-id-1"
    with pytest.raises(hvac.exceptions.InvalidRequest):  # already registered
        client.auth.approle.create_custom_secret_id("web", secret_id="my-own-secret-id-1",
                                                    mount_point="parity-ar")
    login = hv(node, None).auth.approle.login("my-fixed-role-id", "my-own-secret-id-1",
                                              mount_point="parity-ar")
    assert login["auth"]["metadata"] == {"team": "blue", "role_name": "web"}
    client.auth.approle.destroy_secret_id("web", "my-own-secret-id-1", mount_point="parity-ar")
    with node.root as raw:
        gone = raw.post("/v1/auth/parity-ar/role/web/secret-id/lookup",
                        json={"secret_id": "my-own-secret-id-1"})
        assert (gone.status_code, gone.content) == (204, b"")


def test_kv_v2_cas_mismatch_text_is_vaults(node: ReadyNode) -> None:
    kv = hv(node).secrets.kv.v2
    kv.create_or_update_secret(path="parity/cas", secret={"a": "1"})
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        kv.create_or_update_secret(path="parity/cas", secret={"a": "2"}, cas=0)
    assert refused.value.errors == ["check-and-set parameter did not match the current version"]


# --- without a node: the pieces behind the endpoints ----------------------------------

def test_root_token_encoding_is_vaults_otp_scheme() -> None:
    from strongbox.seal.rekey import decode_root_token, encode_root_token, new_otp
    token, otp = "sbs." + "x" * 32, new_otp(36)
    encoded = encode_root_token(token, otp)
    assert "=" not in encoded  # base64 without padding (Go's RawStdEncoding)
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    assert bytes(a ^ b for a, b in zip(raw, otp.encode(), strict=True)).decode() == token
    assert decode_root_token(encoded, otp) == token
    with pytest.raises(BadRequest):
        decode_root_token(encoded, otp[:-1])


def test_the_access_line_carries_the_token_hmac_and_never_other_text() -> None:
    stream = io.StringIO()
    access = AccessLog("node-1", "info", stream)
    digest = "hmac-sha256:" + "ab" * 32
    access.write(request_id="r", method="GET", route="/v1/x", status=200, duration_ms=1.0,
                 token_id=digest)
    access.write(request_id="r", method="GET", route="/v1/x", status=200, duration_ms=1.0,
                 token_id="sbs.a-real-token")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["token_id"] == digest and second["token_id"] == ""
    access.set_level("warning")
    access.write(request_id="r", method="GET", route="/v1/x", status=200, duration_ms=1.0)
    assert len(stream.getvalue().splitlines()) == 2


def test_tls_min_version_is_validated(tmp_path: Path) -> None:
    base = {"data_dir": str(tmp_path), "listener.tls_disable": True}
    assert load_config(None, env={}, overrides={**base, "listener.tls_min_version": "tls13"}) \
        .listener.minimum_tls == ssl.TLSVersion.TLSv1_3
    assert load_config(None, env={}, overrides=base).listener.minimum_tls == \
        ssl.TLSVersion.TLSv1_2
    with pytest.raises(ConfigError, match=r"listener\.tls_min_version"):
        load_config(None, env={}, overrides={**base, "listener.tls_min_version": "ssl3"})


def test_generate_root_apply_counts_each_share_once_and_ends_in_one_entry(
        api: InProcessApi) -> None:
    started = api.request("PUT", "sys/generate-root/attempt", "", json={}).json()
    assert started["started"] is True and started["otp"]
    again = api.request("PUT", "sys/generate-root/attempt", "", json={})
    assert again.status_code == 400
    attempt = api.core.store.generate_root_attempt()
    assert attempt is not None and attempt.required == started["required"]
    assert started["otp"].encode() not in attempt.SerializeToString()  # sealed, not clear
    assert api.request("DELETE", "sys/generate-root/attempt", "").status_code == 204
    assert api.core.store.generate_root_attempt() is None


def test_retention_destroys_versions_past_delete_version_after(api: InProcessApi) -> None:
    from strongbox.sweeper import retire_once
    retired: list[int] = []
    api.core.on_retention.append(retired.append)
    assert api.request("POST", "secret/metadata/ret/a",
                       json={"delete_version_after": "1h"}).status_code == 204
    assert api.request("POST", "secret/data/ret/a", json={"data": {"v": "1"}}).status_code == 200
    assert api.request("POST", "secret/metadata/ret/kept", json={
        "delete_version_after": "1h", "destroy_protection": True}).status_code == 204
    assert api.request("POST", "secret/data/ret/kept", json={"data": {"v": "1"}}) \
        .status_code == 200
    assert api.loop.run_until_complete(retire_once(api.core)) == 0  # not due yet
    api.clock.advance(3601)
    assert api.loop.run_until_complete(retire_once(api.core)) == 1
    versions = api.request("GET", "secret/metadata/ret/a").json()["data"]["versions"]
    assert versions["1"]["destroyed"] is True and retired == [1]
    kept = api.request("GET", "secret/metadata/ret/kept").json()["data"]["versions"]
    assert kept["1"]["destroyed"] is False  # destroy protection wins
    assert api.loop.run_until_complete(retire_once(api.core)) == 0  # nothing left to do
