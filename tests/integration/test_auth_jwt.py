"""The jwt auth method against a real node: CI-shaped (GitHub Actions) JWTs, a real
JWKS and OIDC discovery document over HTTPS on loopback (tests/jwt_idp.py, test CA),
key rotation, forgeries, bound claims and bad config; expiry with moving time on the
in-process node (`api`, FixedClock).

Logins from raw httpx bind their own loopback source address (127.2.x.y) so the
per-address login throttle of one test never refuses another's.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import hvac
import hvac.exceptions
import pytest

from tests.conftest import ReadyNode
from tests.inprocess import START_NS, InProcessApi
from tests.jwt_idp import (
    IdentityProvider,
    SigningKey,
    error_text,
    github_claims,
    hs256_with_public_key,
    identity_provider,
    login_from,
    loopback_addresses,
    unsigned,
)

pytestmark = pytest.mark.integration
_addresses = loopback_addresses(2)
AUD = "https://github.com/acme"
POLICY = 'path "secret/data/ci/*" { capabilities = ["read"] }'


@dataclass
class Env:
    node: ReadyNode
    idp: IdentityProvider
    key: SigningKey
    mounts: Iterator[int]

    def mount(self) -> str:
        return f"jwt-{next(self.mounts)}"


@pytest.fixture(scope="module")
def env(node: ReadyNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with node.root as root:
        assert root.put("/v1/sys/policy/ci", json={"policy": POLICY}).status_code == 204
    with identity_provider(tmp_path_factory.mktemp("jwt-idp")) as idp:
        key = SigningKey.rsa("gh-1")
        idp.rotate(key)
        yield Env(node, idp, key, itertools.count(1))


def root_call(env: Env, method: str, path: str, body: Any = None) -> httpx.Response:
    with env.node.root as root:
        return root.request(method, f"/v1/{path}", json=body)


def jwks_config(env: Env) -> dict[str, Any]:
    return {"jwks_url": env.idp.url + "/jwks", "jwks_ca_pem": env.idp.ca_pem,
            "bound_issuer": env.idp.url}


def ci_role(**fields: Any) -> dict[str, Any]:
    return {"role_type": "jwt", "user_claim": "actor", "bound_audiences": [AUD],
            "bound_claims_type": "glob",
            "bound_claims": {"repository": "acme/*", "ref": ["refs/heads/main",
                                                             "refs/tags/v*"]},
            "claim_mappings": {"repository": "repository", "/ref": "ref"},
            "token_policies": ["ci"], "token_ttl": "5m", **fields}


def enable(env: Env, config: dict[str, Any], **role: Any) -> str:
    mount = env.mount()
    assert root_call(env, "POST", f"sys/auth/{mount}", {"type": "jwt"}).status_code == 204
    answer = root_call(env, "POST", f"auth/{mount}/config", config)
    assert answer.status_code == 204, answer.text
    answer = root_call(env, "POST", f"auth/{mount}/role/ci", ci_role(**role))
    assert answer.status_code == 204, answer.text
    return mount


def login(env: Env, mount: str, token: str, role: str | None = "ci") -> httpx.Response:
    body: dict[str, Any] = {"jwt": token} if role is None else {"role": role, "jwt": token}
    return login_from(env.node.server, next(_addresses), mount, body)


def ci_token(env: Env, key: SigningKey | None = None, **claims: Any) -> str:
    return (key or env.key).mint({**github_claims(env.idp.url), **claims})


# --- logins that pass ---------------------------------------------------------------------


def test_hvac_jwt_login_with_a_github_actions_token(env: Env) -> None:
    mount = enable(env, jwks_config(env))
    client = hvac.Client(url=env.node.server.addr, verify=str(env.node.server.tls.ca_cert))
    auth = client.auth.jwt.jwt_login("ci", ci_token(env), path=mount)["auth"]
    assert auth["policies"] == ["ci", "default"] and auth["lease_duration"] == 300
    assert auth["metadata"] == {"role": "ci", "repository": "acme/widgets",
                                "ref": "refs/heads/main"}
    assert client.auth.token.lookup_self()["data"]["display_name"] == "jwt-octocat"


def test_oidc_discovery_finds_the_keys_and_the_issuer(env: Env) -> None:
    mount = enable(env, {"oidc_discovery_url": env.idp.url,
                         "oidc_discovery_ca_pem": env.idp.ca_pem, "default_role": "ci"})
    assert login(env, mount, ci_token(env), role=None).status_code == 200  # default_role
    answer = login(env, mount, ci_token(env, iss="https://token.actions.example"))
    assert answer.status_code == 400 and "'iss'" in error_text(answer)


def test_static_ec_public_keys(env: Env) -> None:
    ec_key = SigningKey.ec("ec-ci")
    mount = enable(env, {"jwt_validation_pubkeys": [ec_key.public_pem()],
                         "jwt_supported_algs": ["ES256"]})
    assert login(env, mount, ci_token(env, ec_key)).status_code == 200
    answer = login(env, mount, ci_token(env))  # RS256: not an accepted algorithm here
    assert answer.status_code == 400 and "algorithm" in error_text(answer)


def test_keys_rotated_at_the_provider_are_picked_up(env: Env) -> None:
    mount = enable(env, jwks_config(env))
    assert login(env, mount, ci_token(env)).status_code == 200
    rotated = SigningKey.ec("gh-2")
    env.idp.rotate(rotated)  # the provider drops gh-1 and signs with gh-2
    try:
        answer = login(env, mount, ci_token(env, rotated))
        assert answer.status_code == 200, answer.text
        stranger = SigningKey.rsa("gh-unknown")
        before = env.idp.hits["/jwks"]
        answer = login(env, mount, ci_token(env, stranger))
        assert answer.status_code == 400 and "kid" in error_text(answer)
        assert env.idp.hits["/jwks"] - before <= 1  # one refresh, then refused
    finally:
        env.idp.rotate(env.key)


# --- refusals -----------------------------------------------------------------------------


def test_forgeries_are_refused(env: Env) -> None:
    mount = enable(env, jwks_config(env))
    claims = github_claims(env.idp.url)
    answers = [login(env, mount, t) for t in (
        unsigned(claims), hs256_with_public_key(env.key, claims),
        SigningKey.rsa("gh-1").mint(claims))]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert "none" in error_text(answers[0]) and "algorithm" in error_text(answers[1])
    assert "signature" in error_text(answers[2])


@pytest.mark.parametrize(("claims", "needle"), [
    ({"aud": "https://github.com/someone-else"}, "'aud'"),
    ({"repository": "evil/widgets"}, "'repository'"),
    ({"ref": "refs/heads/feature"}, "'ref'"),
    ({"iss": "https://evil.example"}, "'iss'"),
    ({"exp": None}, "'exp'"),
    ({"exp": 1_000_000_000}, "expired"),
    ({"nbf": 4_000_000_000}, "not valid yet"),
    ({"actor": None}, "user claim"),
])
def test_tokens_failing_a_check_are_refused_with_the_reason(env: Env, claims: dict[str, Any],
                                                            needle: str) -> None:
    mount = enable(env, jwks_config(env))
    body = {**github_claims(env.idp.url), **claims}
    answer = login(env, mount, env.key.mint({k: v for k, v in body.items() if v is not None}))
    assert answer.status_code == 400 and needle in error_text(answer), answer.text


def test_a_token_with_an_audience_needs_a_role_that_binds_one(env: Env) -> None:
    mount = enable(env, jwks_config(env), bound_audiences=[], bound_subject=(
        "repo:acme/widgets:ref:refs/heads/main"))
    answer = login(env, mount, ci_token(env))
    assert answer.status_code == 400 and "bound_audiences" in error_text(answer)


def test_bound_subject_and_string_claims(env: Env) -> None:
    mount = enable(env, jwks_config(env), bound_claims_type="string",
                   bound_claims={"repository": "acme/*"},
                   bound_subject="repo:acme/widgets:ref:refs/heads/main")
    assert "'repository'" in error_text(login(env, mount, ci_token(env)))  # "*" is literal here
    mount = enable(env, jwks_config(env), bound_claims_type="string",
                   bound_claims={"repository": "acme/widgets", "/environment": "production"},
                   bound_subject="repo:acme/widgets:ref:refs/heads/main")
    assert login(env, mount, ci_token(env)).status_code == 200
    assert "bound_subject" in error_text(login(env, mount, ci_token(env, sub="repo:acme/x")))


# --- configuration ------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "needle"), [
    ({"jwks_url": "http://127.0.0.1:1/jwks"}, "'jwks_url'"),
    ({"oidc_discovery_url": "https://a.example", "jwks_url": "https://b.example"},
     "exactly one"),
    ({}, "exactly one"),
    ({"jwt_validation_pubkeys": ["junk"]}, "jwt_validation_pubkeys"),
    ({"jwks_url": "https://a.example/jwks", "jwt_supported_algs": ["HS256"]}, "asymmetric"),
    ({"oidc_discovery_url": "https://a.example", "oidc_client_id": "x"}, "OIDC"),
    ({"jwks_url": "https://a.example/jwks", "jwks_ca_pem": "junk"}, "'jwks_ca_pem'"),
])
def test_bad_config_is_a_clear_400(env: Env, body: dict[str, Any], needle: str) -> None:
    mount = env.mount()
    root_call(env, "POST", f"sys/auth/{mount}", {"type": "jwt"})
    answer = root_call(env, "POST", f"auth/{mount}/config", body)
    assert answer.status_code == 400 and needle in error_text(answer), answer.text


def test_an_unreachable_or_untrusted_jwks_is_a_400_at_config_time(env: Env) -> None:
    mount = env.mount()
    root_call(env, "POST", f"sys/auth/{mount}", {"type": "jwt"})
    answer = root_call(env, "POST", f"auth/{mount}/config",
                       {"jwks_url": env.idp.url + "/jwks"})  # no CA: not trusted
    assert answer.status_code == 400 and "CA" in error_text(answer)
    assert env.idp.ca_pem not in answer.text


@pytest.mark.parametrize(("body", "needle"), [
    ({"role_type": "oidc", "bound_audiences": ["a"]}, "role_type"),
    ({"user_claim": "sub"}, "at least one"),
    ({"bound_audiences": ["a"], "bound_claims_type": "regex"}, "bound_claims_type"),
    ({"bound_audiences": ["a"], "bound_claims": {"a": {"nested": 1}}}, "bound_claims"),
    ({"bound_audiences": ["a"], "claim_mappings": {"a": 1}}, "claim_mappings"),
    ({"bound_audiences": ["a"], "expiration_leeway": "soon"}, "expiration_leeway"),
])
def test_bad_roles_are_a_clear_400(env: Env, body: dict[str, Any], needle: str) -> None:
    mount = enable(env, jwks_config(env))
    answer = root_call(env, "POST", f"auth/{mount}/role/bad", body)
    assert answer.status_code == 400 and needle in error_text(answer), answer.text


def test_hvac_configures_roles_lists_and_deletes(env: Env) -> None:
    mount = env.mount()
    client = hvac.Client(url=env.node.server.addr, token=env.node.root_token,
                         verify=str(env.node.server.tls.ca_cert))
    client.sys.enable_auth_method("jwt", path=mount)
    client.auth.jwt.configure(jwks_url=env.idp.url + "/jwks", jwks_ca_pem=env.idp.ca_pem,
                              bound_issuer=env.idp.url, path=mount)
    assert client.auth.jwt.read_config(path=mount)["data"]["jwks_url"].endswith("/jwks")
    client.auth.jwt.create_role("deploy", user_claim="actor", allowed_redirect_uris=[],
                                bound_audiences=[AUD], bound_claims={"repository": "acme/*"},
                                bound_claims_type="glob", token_policies=["ci"], path=mount)
    assert client.auth.jwt.list_roles(path=mount)["data"]["keys"] == ["deploy"]
    role = client.auth.jwt.read_role("deploy", path=mount)["data"]
    assert role["bound_claims"] == {"repository": "acme/*"} and role["expiration_leeway"] == 150
    assert client.auth.jwt.jwt_login("deploy", ci_token(env), path=mount, use_token=False)
    client.auth.jwt.delete_role("deploy", path=mount)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.auth.jwt.read_role("deploy", path=mount)


# --- time moves: the in-process node --------------------------------------------------------


def test_expiry_and_leeways_follow_the_nodes_clock(api: InProcessApi) -> None:
    key = SigningKey.ec("clock")
    assert api.request("POST", "sys/auth/jwt", json={"type": "jwt"}).status_code == 204
    assert api.request("POST", "auth/jwt/config", json={
        "jwt_validation_pubkeys": [key.public_pem()]}).status_code == 204
    for name, leeway in (("default", None), ("strict", -1)):
        role: dict[str, Any] = {"bound_audiences": [AUD], "user_claim": "sub"}
        if leeway is not None:
            role["expiration_leeway"] = leeway
        assert api.request("POST", f"auth/jwt/role/{name}", json=role).status_code == 204
    now = START_NS / 1e9
    token = key.mint(github_claims("https://token.actions.githubusercontent.com", now=now,
                                   ttl=300))

    def status(role: str) -> int:
        return api.request("POST", "auth/jwt/login", token="",
                           json={"role": role, "jwt": token}).status_code
    assert (status("default"), status("strict")) == (200, 200)
    api.clock.advance(300 + 60)  # a minute past exp: within the default 150 s leeway only
    assert (status("default"), status("strict")) == (200, 400)
    api.clock.advance(120)
    answer = api.request("POST", "auth/jwt/login", token="", json={"role": "default",
                                                                   "jwt": token})
    assert answer.status_code == 400 and "expired" in answer.json()["errors"][0]
