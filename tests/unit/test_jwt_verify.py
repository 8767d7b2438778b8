"""Pure JWT verification (strongbox/auth/jwt_verify.py) with real RSA and EC keys."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc.jwk import Key

from strongbox.auth.jwt_keys import parse_public_keys
from strongbox.auth.jwt_verify import (
    Expectations,
    JwtRefused,
    check_claims,
    header,
    unverified_claims,
    verify,
)
from tests.jwt_idp import SigningKey, hs256_with_public_key, projected_claims, unsigned

NOW = 1_800_000_000.0
ISS = "https://issuer.example"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


def public(*keys: SigningKey) -> list[Key]:
    return parse_public_keys([k.public_pem() for k in keys], "keys")


def claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISS, "sub": "someone", "aud": "vault", "iat": NOW - 10, "nbf": NOW - 10,
            "exp": NOW + 300, **extra}


def refusal(token: str, keys: list[Key], expect: Expectations, now: float = NOW) -> str:
    with pytest.raises(JwtRefused) as caught:
        verify(token, keys, expect, now)
    return caught.value.message


def test_rsa_and_ec_tokens_verify_and_return_their_claims(rsa_key: SigningKey,
                                                         ec_key: SigningKey) -> None:
    keys = public(rsa_key, ec_key)
    expect = Expectations(issuer=ISS, audiences=("vault",))
    for key in (rsa_key, ec_key):
        assert verify(key.mint(claims()), keys, expect, NOW)["sub"] == "someone"


def test_a_token_signed_by_another_key_is_refused(rsa_key: SigningKey) -> None:
    other = SigningKey.rsa("rsa-1")  # same kid, different key
    assert "signature" in refusal(other.mint(claims()), public(rsa_key), Expectations())


def test_no_candidate_key_is_an_unknown_kid(rsa_key: SigningKey) -> None:
    assert "kid" in refusal(rsa_key.mint(claims()), [], Expectations())


def test_alg_none_is_refused(rsa_key: SigningKey) -> None:
    assert "none" in refusal(unsigned(claims()), public(rsa_key), Expectations())
    with pytest.raises(JwtRefused):
        unverified_claims(unsigned(claims()))


def test_hs256_keyed_with_the_public_key_is_refused(rsa_key: SigningKey) -> None:
    forged = hs256_with_public_key(rsa_key, claims())
    message = refusal(forged, public(rsa_key), Expectations())
    assert "algorithm is not accepted" in message
    # Even an allow-list naming HS256 cannot make an asymmetric key verify it.
    assert refusal(forged, public(rsa_key), Expectations(algorithms=("HS256",)))


def test_an_algorithm_outside_the_allow_list_is_refused(ec_key: SigningKey) -> None:
    expect = Expectations(algorithms=("RS256",))
    assert "algorithm" in refusal(ec_key.mint(claims()), public(ec_key), expect)


def test_a_key_of_the_wrong_type_is_skipped(rsa_key: SigningKey, ec_key: SigningKey) -> None:
    assert verify(ec_key.mint(claims()), public(rsa_key, ec_key), Expectations(), NOW)
    assert refusal(ec_key.mint(claims()), public(rsa_key), Expectations())


def test_expiry_honours_the_leeway(rsa_key: SigningKey) -> None:
    token = rsa_key.mint(claims(exp=NOW - 100))
    assert "expired" in refusal(token, public(rsa_key), Expectations())
    assert verify(token, public(rsa_key), Expectations(exp_leeway_s=150), NOW)


def test_exp_is_required_unless_the_caller_says_otherwise(rsa_key: SigningKey) -> None:
    token = rsa_key.mint({k: v for k, v in claims().items() if k != "exp"})
    assert "'exp'" in refusal(token, public(rsa_key), Expectations())
    assert verify(token, public(rsa_key), Expectations(require_exp=False), NOW)


def test_not_before_and_issued_at_in_the_future_are_refused(rsa_key: SigningKey) -> None:
    assert "nbf" in refusal(rsa_key.mint(claims(nbf=NOW + 100)), public(rsa_key),
                            Expectations())
    assert verify(rsa_key.mint(claims(nbf=NOW + 100)), public(rsa_key),
                  Expectations(nbf_leeway_s=150), NOW)
    assert "iat" in refusal(rsa_key.mint(claims(iat=NOW + 100)), public(rsa_key),
                            Expectations(skew_s=60))


def test_issuer_must_match_when_set(rsa_key: SigningKey) -> None:
    token = rsa_key.mint(claims(iss="https://evil.example"))
    assert "iss" in refusal(token, public(rsa_key), Expectations(issuer=ISS))
    assert verify(token, public(rsa_key), Expectations(), NOW)


def test_audience_rules(rsa_key: SigningKey) -> None:
    keys = public(rsa_key)
    listed = rsa_key.mint(claims(aud=["other", "vault"]))
    assert verify(listed, keys, Expectations(audiences=("vault",)), NOW)
    assert "aud" in refusal(listed, keys, Expectations(audiences=("strongbox",)))
    no_aud = rsa_key.mint({k: v for k, v in claims().items() if k != "aud"})
    assert "aud" in refusal(no_aud, keys, Expectations(audiences=("vault",)))
    assert "bound_audiences" in refusal(listed, keys, Expectations(refuse_unbound_aud=True))
    assert verify(listed, keys, Expectations(), NOW)
    with pytest.raises(JwtRefused):
        check_claims({"aud": 7}, Expectations(), NOW)


def test_malformed_and_oversized_tokens_are_refused(rsa_key: SigningKey) -> None:
    for bad in ("", "a.b", "not-a-jwt", "a.b.c.d", "!!!.###.$$$"):
        with pytest.raises(JwtRefused):
            header(bad)
    huge = rsa_key.mint(claims(pad="x" * 20_000))
    assert "longer" in refusal(huge, public(rsa_key), Expectations())


def test_refusals_never_echo_the_token_or_claim_values(rsa_key: SigningKey) -> None:
    token = rsa_key.mint(claims(iss="https://secret-issuer.example", aud="secret-aud"))
    for expect in (Expectations(issuer=ISS), Expectations(audiences=("x",))):
        message = refusal(token, public(rsa_key), expect)
        assert token not in message and "secret-" not in message


def test_header_reads_the_kid_without_verifying(rsa_key: SigningKey) -> None:
    token = rsa_key.mint(projected_claims("ns", "sa", issuer=ISS, now=time.time()))
    assert header(token)["kid"] == "rsa-1"
    assert unverified_claims(token)["kubernetes.io"]["namespace"] == "ns"
