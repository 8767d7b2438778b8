"""Handler tests on the in-process node (tests/inprocess.py): the real pipeline, no process.

Time is a `FixedClock`, so expiry is tested by moving the clock, never by sleeping.
"""

from __future__ import annotations

from tests.inprocess import InProcessApi


def test_a_kv_write_goes_through_the_whole_pipeline_and_reads_back(api: InProcessApi) -> None:
    written = api.request("POST", "secret/data/app/db", json={"data": {"password": "s3"}})
    assert written.status_code == 200, written.text
    assert written.headers["x-vault-index"]
    assert written.json()["data"]["version"] == 1
    read = api.request("GET", "secret/data/app/db")
    assert read.json()["data"]["data"] == {"password": "s3"}
    assert read.headers["x-request-id"] == read.json()["request_id"]


def test_a_token_expires_when_the_clock_passes_its_ttl(api: InProcessApi) -> None:
    created = api.request("POST", "auth/token/create", json={"ttl": "60s", "policies": ["default"]})
    token = created.json()["auth"]["client_token"]
    assert api.request("GET", "auth/token/lookup-self", token).status_code == 200
    api.clock.advance(59)
    assert api.request("GET", "auth/token/lookup-self", token).status_code == 200
    api.clock.advance(1)
    refused = api.request("GET", "auth/token/lookup-self", token)
    assert refused.status_code == 403
    assert refused.json()["errors"]


def test_a_wrapped_response_expires_with_the_clock(api: InProcessApi) -> None:
    wrapped = api.request("POST", "sys/wrapping/wrap", json={"k": "v"},
                          headers={"X-Vault-Wrap-TTL": "30s"})
    wrap_token = wrapped.json()["wrap_info"]["token"]
    api.clock.advance(29)
    assert api.request("POST", "sys/wrapping/lookup", json={"token": wrap_token}).is_success
    api.clock.advance(2)
    late = api.request("POST", "sys/wrapping/unwrap", wrap_token)
    assert late.status_code == 400  # Vault's answer to an unknown or expired wrapping token
    assert "expired" in late.json()["errors"][0]


def test_kv_version_1_serves_put_get_list_delete(api: InProcessApi) -> None:
    assert api.request("POST", "sys/mounts/old", json={"type": "kv"}).status_code == 204
    assert api.request("PUT", "old/team/a", json={"k": "1"}).status_code == 204
    assert api.request("PUT", "old/team/b/c", json={"k": "2"}).status_code == 204
    assert api.request("GET", "old/team/a").json()["data"] == {"k": "1"}
    assert api.request("LIST", "old/team").json()["data"]["keys"] == ["a", "b/"]
    assert api.request("DELETE", "old/team/a").status_code == 204
    assert api.request("GET", "old/team/a").status_code == 404


def test_an_unknown_field_is_ignored_with_vaults_warning(api: InProcessApi) -> None:
    answer = api.request("POST", "secret/data/x", json={"data": {"a": "1"}, "colour": "red"})
    assert answer.status_code == 200  # Vault ignores it and says so; it was a 400 before
    assert answer.json()["warnings"] == [
        "Endpoint ignored these unrecognized parameters: [colour]"]


def test_a_mistyped_known_field_is_still_a_400_that_names_it(api: InProcessApi) -> None:
    answer = api.request("POST", "secret/data/x", json={"data": "text"})
    assert answer.status_code == 400
    assert any("'data'" in e for e in answer.json()["errors"])


def test_no_token_is_a_403_and_a_sealed_node_a_503(api: InProcessApi) -> None:
    assert api.request("GET", "secret/data/x", "").status_code == 403
    assert api.request("PUT", "sys/seal").status_code == 204
    sealed = api.request("GET", "secret/data/x")
    assert sealed.status_code == 503
    assert api.request("GET", "sys/seal-status", "").json()["sealed"] is True


def test_a_kv_upgrade_sent_with_an_idempotency_key_finishes_and_its_retry_is_a_no_op(
        api: InProcessApi) -> None:
    """Regression: the tune's many commands all carried the request's key, so each answered
    with the first one's cached result and the upgrade stalled as `upgrading` (503)."""
    assert api.request("POST", "sys/mounts/legacy", json={"type": "kv"}).status_code == 204
    for n in range(3):
        assert api.request("PUT", f"legacy/app/k{n}", json={"v": str(n)}).status_code == 204
    tune = {"options": {"version": "2"}}
    key = {"Idempotency-Key": "upgrade-legacy-1"}
    first = api.request("POST", "sys/mounts/legacy/tune", json=tune, headers=key)
    assert first.status_code == 204, first.text
    assert api.request("GET", "sys/mounts").json()["data"]["legacy/"]["options"] == {
        "version": "2"}
    assert api.request("GET", "legacy/data/app/k1").json()["data"]["data"] == {"v": "1"}
    again = api.request("POST", "sys/mounts/legacy/tune", json=tune, headers=key)
    assert again.status_code == 204, again.text
    assert api.request("GET", "legacy/metadata/app/k1").json()["data"]["current_version"] == 1
