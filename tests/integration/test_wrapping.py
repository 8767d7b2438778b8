"""Response wrapping: a secret shared through a token that works once and expires."""

from __future__ import annotations

import time

import hvac
import hvac.exceptions
import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration


def test_a_wrapped_read_unwraps_exactly_once(node: ReadyNode) -> None:
    with node.root as client:
        client.post("/v1/secret/data/wrap/db", json={"data": {"password": "once"}})
        wrapped = client.get("/v1/secret/data/wrap/db", headers={"X-Vault-Wrap-TTL": "5m"})
        assert wrapped.status_code == 200
        body = wrapped.json()
        assert body["data"] is None and "once" not in wrapped.text
        info = body["wrap_info"]
        assert info["ttl"] == 300 and info["creation_path"] == "secret/data/wrap/db"
    with node.client() as anonymous:  # the wrapping token is the only credential needed
        looked = anonymous.post("/v1/sys/wrapping/lookup", json={"token": info["token"]})
        assert looked.json()["data"]["creation_path"] == "secret/data/wrap/db"
        first = anonymous.post("/v1/sys/wrapping/unwrap", json={"token": info["token"]})
        assert first.status_code == 200
        assert first.json()["data"]["data"] == {"password": "once"}
        second = anonymous.post("/v1/sys/wrapping/unwrap", json={"token": info["token"]})
        assert second.status_code == 400 and "not valid" in second.json()["errors"][0]


def test_hvac_unwrap_and_wrap_arbitrary_data(node: ReadyNode) -> None:
    root = hvac.Client(url=node.server.addr, token=node.root_token,
                       verify=str(node.server.tls.ca_cert))
    with node.root as client:
        token = client.post("/v1/sys/wrapping/wrap", json={"api_key": "k-123"},
                            headers={"X-Vault-Wrap-TTL": "60s"}).json()["wrap_info"]["token"]
    unwrapped = root.sys.unwrap(token=token)
    assert unwrapped["data"] == {"api_key": "k-123"}
    with pytest.raises(hvac.exceptions.InvalidRequest):
        root.sys.unwrap(token=token)


def test_expired_and_bad_wrap_ttls(node: ReadyNode) -> None:
    with node.root as client:
        client.post("/v1/secret/data/wrap/short", json={"data": {"v": 1}})
        info = client.get("/v1/secret/data/wrap/short",
                          headers={"X-Vault-Wrap-TTL": "1s"}).json()["wrap_info"]
        assert client.get("/v1/secret/data/wrap/short",
                          headers={"X-Vault-Wrap-TTL": "soon"}).status_code == 400
        assert client.get("/v1/secret/data/wrap/short",
                          headers={"X-Vault-Wrap-TTL": "9999h"}).status_code == 400
        time.sleep(1.2)
        expired = client.post("/v1/sys/wrapping/unwrap", json={"token": info["token"]})
        assert expired.status_code == 400
