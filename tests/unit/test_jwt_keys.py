"""Key sources of the JWT auth methods: PEM parsing, URL/CA validation, the JWKS cache
(fetched over real HTTPS from a loopback server with a test CA) and TokenReview."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import dsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from strongbox.auth import k8s_review
from strongbox.auth.jwt_keys import (
    BURST,
    MAX_AGE_S,
    REFILL_S,
    KeyCache,
    KeyFetchError,
    KeySource,
    check_ca_pem,
    check_https_url,
    fetch_json,
    parse_public_keys,
)
from strongbox.errors import BadRequest
from tests.jwt_idp import (
    REVIEWER_TOKEN,
    IdentityProvider,
    SigningKey,
    identity_provider,
    projected_claims,
)


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    with identity_provider(tmp_path_factory.mktemp("idp")) as provider:
        provider.rotate(SigningKey.rsa("k1"))
        yield provider


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_public_keys_and_certificates_parse(tmp_path: Path) -> None:
    rsa, ec = SigningKey.rsa("a"), SigningKey.ec("b")
    from strongbox.testing import CertificateAuthority
    cert = CertificateAuthority.create(tmp_path).cert_file.read_text()
    keys = parse_public_keys([rsa.public_pem(), ec.public_pem(), cert], "pem_keys")
    assert [k.key_type for k in keys] == ["RSA", "EC", "EC"]


def test_bad_pem_keys_are_a_400_naming_the_field() -> None:
    private = SigningKey.rsa("a").key.as_pem(private=True).decode()
    dsa_pem = dsa.generate_private_key(2048).public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    for bad in ("not a pem", private, dsa_pem):
        with pytest.raises(BadRequest, match="'pem_keys'"):
            parse_public_keys([bad], "pem_keys")


def test_urls_must_be_https_with_a_host_and_no_credentials() -> None:
    assert check_https_url("https://idp.example/x", "u")
    for bad in ("http://idp.example", "https://", "ftp://x", "https://u:p@idp.example",
                "idp.example", "file:///etc/passwd"):
        with pytest.raises(BadRequest, match="'u'"):
            check_https_url(bad, "u")


def test_ca_bundles_must_be_pem_certificates(idp: IdentityProvider) -> None:
    assert check_ca_pem(idp.ca_pem, "ca") and check_ca_pem("", "ca") == ""
    with pytest.raises(BadRequest, match="'ca'"):
        check_ca_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "ca")


def test_fetch_uses_the_configured_ca_and_refuses_others(idp: IdentityProvider) -> None:
    assert run(fetch_json(idp.url + "/jwks", idp.ca_pem))["keys"]
    with pytest.raises(KeyFetchError, match="CA"):
        run(fetch_json(idp.url + "/jwks", ""))  # the system store does not know the test CA


def test_fetch_refuses_oversized_documents_and_http_errors(idp: IdentityProvider) -> None:
    with pytest.raises(KeyFetchError, match="more than"):
        run(fetch_json(idp.url + "/huge", idp.ca_pem))
    with pytest.raises(KeyFetchError, match="404"):
        run(fetch_json(idp.url + "/nothing", idp.ca_pem))


def test_cache_fetches_once_then_refreshes_on_an_unknown_kid(idp: IdentityProvider) -> None:
    async def scenario() -> None:
        cache = KeyCache(Clock())
        source = KeySource(jwks_url=idp.url + "/jwks", ca_pem=idp.ca_pem)
        idp.rotate(SigningKey.rsa("k1"))
        assert [k.kid for k in (await cache.keys(source, "k1"))[0]] == ["k1"]
        await cache.keys(source, "k1")
        assert cache.fetches == 1
        idp.rotate(SigningKey.rsa("k1"), SigningKey.ec("k2"))
        assert [k.kid for k in (await cache.keys(source, "k2"))[0]] == ["k2"]
        assert cache.fetches == 2
        assert (await cache.keys(source, "unknown"))[0] == []
        assert cache.fetches == 3
    run(scenario())


def test_unknown_kid_refreshes_are_rate_limited(idp: IdentityProvider) -> None:
    async def scenario() -> None:
        clock = Clock()
        cache = KeyCache(clock)
        source = KeySource(jwks_url=idp.url + "/jwks", ca_pem=idp.ca_pem)
        await cache.keys(source, None)
        for i in range(50):  # an attacker's made-up key ids
            await cache.keys(source, f"made-up-{i}")
        assert cache.fetches == 1 + BURST
        clock.now += REFILL_S
        await cache.keys(source, "again")
        assert cache.fetches == 2 + BURST
    run(scenario())


def test_discovery_finds_the_jwks_and_checks_the_issuer(idp: IdentityProvider) -> None:
    async def scenario() -> tuple[list[Any], str]:
        return await KeyCache(Clock()).keys(KeySource(discovery_url=idp.url,
                                                      ca_pem=idp.ca_pem), None)
    keys, issuer = run(scenario())
    assert keys and issuer == idp.url
    idp.discovery_issuer = "https://someone-else.example"
    try:
        with pytest.raises(KeyFetchError, match="issuer"):
            run(scenario())
    finally:
        idp.discovery_issuer = ""


def test_token_review_answers_are_cached_briefly(idp: IdentityProvider,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    claims = projected_claims("ns", "sa", issuer=idp.url)
    token = idp.register(SigningKey.rsa("k1").mint(claims), claims)
    monkeypatch.setattr(k8s_review, "POD_DIR", Path("/nonexistent"))

    async def scenario() -> None:
        clock = Clock()
        reviewer = k8s_review.TokenReviewer(clock)
        first = await reviewer.review(idp.url, idp.ca_pem, REVIEWER_TOKEN, token, [])
        assert first.authenticated and first.username == claims["sub"]
        idp.revoked.add(token)
        assert (await reviewer.review(idp.url, idp.ca_pem, REVIEWER_TOKEN, token, []))\
            .authenticated
        assert reviewer.calls == 1
        clock.now += k8s_review.CACHE_S + 0.1
        assert not (await reviewer.review(idp.url, idp.ca_pem, REVIEWER_TOKEN, token, []))\
            .authenticated
        with pytest.raises(KeyFetchError, match="401"):
            await reviewer.review(idp.url, idp.ca_pem, "wrong-reviewer", token + "x", [])
    run(scenario())


def test_token_review_reports_the_pod_name_from_the_api_servers_extra() -> None:
    answer = {"status": {"authenticated": True, "user": {
        "username": "system:serviceaccount:a:b", "uid": "u",
        "extra": {"authentication.kubernetes.io/pod-name": ["web-1"]}}}}
    assert k8s_review._review(answer) == k8s_review.Review(True, "system:serviceaccount:a:b",
                                                            "u", "web-1")
    assert k8s_review._review({"status": "junk"}) == k8s_review.Review(False)


def test_a_failing_provider_is_not_fetched_on_every_login() -> None:
    calls: list[str] = []

    async def failing(url: str, ca_pem: str) -> dict[str, Any]:
        calls.append(url)
        raise KeyFetchError("down")

    async def scenario() -> list[int]:
        cache = KeyCache(Clock(), fetch=failing)
        source = KeySource(jwks_url="https://idp.invalid/jwks")
        outcomes = []
        for _ in range(20):  # -1: the fetch failed; n >= 0: keys found without a fetch
            try:
                outcomes.append(len((await cache.keys(source, "k"))[0]))
            except KeyFetchError:
                outcomes.append(-1)
        return outcomes
    outcomes = run(scenario())
    assert len(calls) == 1 + BURST
    assert outcomes[:1 + BURST] == [-1] * (1 + BURST) and set(outcomes[1 + BURST:]) == {0}


def test_stale_keys_keep_serving_while_the_provider_is_down() -> None:
    key = SigningKey.rsa("k1")
    up = [True]

    async def flaky(url: str, ca_pem: str) -> dict[str, Any]:
        if not up[0]:
            raise KeyFetchError("down")
        return {"keys": [key.public_jwk()]}

    async def scenario() -> None:
        clock = Clock()
        cache = KeyCache(clock, fetch=flaky)
        source = KeySource(jwks_url="https://idp.invalid/jwks")
        assert (await cache.keys(source, "k1"))[0]
        up[0] = False
        clock.now += MAX_AGE_S + 1
        assert [k.kid for k in (await cache.keys(source, "k1"))[0]] == ["k1"]
        assert (await cache.keys(source, "k2"))[0] == []
    run(scenario())
