"""Regressions for bugs found in review: each once wiped, froze or crashed a node."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration


def test_a_huge_delete_version_after_is_refused_and_writes_keep_working(
        node: ReadyNode) -> None:
    with node.root as client:
        for body in ({"delete_version_after": 9_000_000_000}, {"delete_version_after": "1000000h"}):
            assert client.post("/v1/secret/metadata/review/huge", json=body).status_code == 400
            assert client.post("/v1/secret/config", json=body).status_code == 400
        client.post("/v1/secret/metadata/review/huge", json={"delete_version_after": "876000h"})
        assert client.post("/v1/secret/data/review/huge", json={"data": {"v": 1}}) \
            .status_code == 200
        assert client.post("/v1/secret/data/review/other", json={"data": {"v": 1}}) \
            .status_code == 200


@pytest.mark.parametrize("path", [
    "/v1/sys/health?activecode=%C2%B2", "/v1/sys/health?activecode=9999",
    "/v1/sys/health?sealedcode=12", "/v1/secret/data/review/x?version=%C2%B2",
    "/v1/secret/data/review/x?version=" + "9" * 30])
def test_odd_query_numbers_are_400_not_500(node: ReadyNode, path: str) -> None:
    with node.root as client:
        assert client.get(path).status_code == 400


@pytest.mark.parametrize("body", [
    {"data": {"a": 1}, "options": {"cas": 2**70}},
])
def test_out_of_range_numbers_in_bodies_are_400(node: ReadyNode, body: dict[str, object]) -> None:
    with node.root as client:
        assert client.post("/v1/secret/data/review/n", json=body).status_code == 400
        assert client.post("/v1/secret/delete/review/n", json={"versions": [2**70]}) \
            .status_code == 400
        assert client.post("/v1/secret/metadata/review/n", json={"max_versions": 2**40}) \
            .status_code == 400
        deep = b'{"data":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        assert client.post("/v1/secret/data/review/n", content=deep).status_code in (400, 413)


def test_patch_with_an_idempotency_key_survives_concurrent_writes(node: ReadyNode) -> None:
    with node.root as client:
        client.post("/v1/secret/data/review/race", json={"data": {"n": 0}})

    async def race() -> list[httpx.Response]:
        context = ssl.create_default_context(cafile=str(node.server.tls.ca_cert))
        async with httpx.AsyncClient(base_url=node.server.addr, verify=context, timeout=30,
                                     headers={"X-Vault-Token": node.root_token}) as client:
            patches = [client.patch("/v1/secret/data/review/race",
                                    json={"data": {f"k{i}": i}},
                                    headers={"Content-Type": "application/merge-patch+json",
                                             "Idempotency-Key": f"patch-{i}"})
                       for i in range(20)]
            writes = [client.post("/v1/secret/data/review/race", json={"data": {"w": i}})
                      for i in range(10)]
            return await asyncio.gather(*patches, *writes)

    responses = asyncio.run(race())
    assert {r.status_code for r in responses} <= {200, 503}
    # Under this much contention a patch may give up (503 "retry"); retrying with the
    # same key must then work, not replay a recorded failure forever.
    with node.root as client:
        for i, response in enumerate(responses[:20]):
            if response.status_code == 503:
                retry = client.patch("/v1/secret/data/review/race", json={"data": {f"k{i}": i}},
                                     headers={"Content-Type": "application/merge-patch+json",
                                              "Idempotency-Key": f"patch-{i}"})
                assert retry.status_code == 200, retry.text
        final = client.get("/v1/secret/data/review/race").json()["data"]["data"]
    assert all(final.get(f"k{i}") == i for i in range(20) if f"k{i}" in final)


def test_a_restore_with_an_idempotency_key_is_refused(node: ReadyNode) -> None:
    with node.root as client:
        snapshot = client.get("/v1/sys/storage/raft/snapshot").content
        refused = client.post("/v1/sys/storage/raft/snapshot", content=snapshot,
                              headers={"Idempotency-Key": "r1"})
        assert refused.status_code == 400
        assert client.get("/v1/sys/init").json() == {"initialized": True}
        assert client.get("/v1/sys/key-status").status_code == 200


def test_snapshot_uploads_need_a_token_before_the_body_is_read(node: ReadyNode) -> None:
    with node.client() as client:
        response = client.post("/v1/sys/storage/raft/snapshot", content=b"x" * 1024)
        assert response.status_code == 403
