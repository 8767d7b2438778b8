"""Shared role/claims logic of the JWT auth methods: globs, claims, service accounts."""

from __future__ import annotations

from typing import Any

import pytest

from strongbox.auth.jwt_roles import (
    claim_value,
    glob_match,
    scalar_text,
    string_list,
    token_settings,
)
from strongbox.auth.k8s_review import service_account
from strongbox.errors import BadRequest, PermissionDenied
from tests.jwt_idp import legacy_claims, projected_claims


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("*", "anything", True), ("*", "", True), ("dev-*", "dev-team", True),
    ("dev-*", "prod-team", False), ("*-web", "shop-web", True), ("a*c", "abc", True),
    ("a*c", "abd", False), ("exact", "exact", True), ("exact", "exactly", False),
    ("a.b", "axb", False), ("[ab]", "a", False), ("repo:acme/*:ref:refs/heads/*",
                                                   "repo:acme/w:ref:refs/heads/main", True),
])
def test_glob_match_treats_only_star_as_special(pattern: str, value: str,
                                                expected: bool) -> None:
    assert glob_match(pattern, value) is expected


def test_claim_value_reads_top_level_and_json_pointer_claims() -> None:
    claims: dict[str, Any] = {"a": {"b/c": {"d": 1}}, "list": ["x", "y"], "top": "t"}
    assert claim_value(claims, "top") == "t"
    assert claim_value(claims, "/a/b~1c/d") == 1
    assert claim_value(claims, "/list/1") == "y"
    assert claim_value(claims, "/a/missing") is None
    assert claim_value(claims, "/list/9") is None


def test_scalar_text_matches_vaults_string_forms() -> None:
    assert [scalar_text(v) for v in (True, False, 3, "s")] == ["true", "false", "3", "s"]
    assert scalar_text({"a": 1}) is None and scalar_text([1]) is None


def test_string_list_accepts_lists_and_comma_strings() -> None:
    assert string_list({"f": "a, b,,c"}, "f") == ["a", "b", "c"]
    assert string_list({"f": ["a"]}, "f") == ["a"]
    assert string_list({}, "f") is None
    with pytest.raises(BadRequest, match="'f'"):
        string_list({"f": [1]}, "f")


def test_token_settings_reads_vault_fields_and_refuses_unsupported_ones() -> None:
    role: dict[str, Any] = {}
    token_settings({"policies": "a,b", "ttl": "1h", "token_max_ttl": 7200,
                    "token_type": "default-batch"}, role)
    assert role == {"token_policies": ["a", "b"], "token_ttl": 3600 * 10**9,
                    "token_max_ttl": 7200 * 10**9, "token_type": "batch"}
    for bad in ({"token_bound_cidrs": ["10.0.0.0/8"]}, {"token_no_default_policy": True},
                {"token_policies": ["root"]}, {"token_ttl": "soon"},
                {"token_type": "weird"}, {"token_num_uses": -1}):
        with pytest.raises(BadRequest):
            token_settings(bad, {})
    with pytest.raises(BadRequest, match="batch"):
        token_settings({"token_type": "batch", "token_period": "1h"}, {})


def test_service_account_of_a_projected_token() -> None:
    account = service_account(projected_claims("shop", "web", issuer="x", pod="web-1"))
    assert (account.namespace, account.name, account.pod_name, account.legacy) == \
        ("shop", "web", "web-1", False)
    meta = account.metadata()
    assert meta["service_account_name"] == "web" and meta["pod_name"] == "web-1"
    assert set(meta) >= {"service_account_namespace", "service_account_uid", "pod_uid"}


def test_service_account_of_a_legacy_token() -> None:
    account = service_account(legacy_claims("shop", "batch"))
    assert account.legacy and account.secret_name == "batch-token-abcde"
    assert account.metadata()["service_account_secret_name"] == "batch-token-abcde"
    assert "pod_name" not in account.metadata()


def test_tokens_that_name_no_service_account_are_refused() -> None:
    for claims in ({"sub": "user"}, {"kubernetes.io": {"namespace": "a"}},
                   {"kubernetes.io": "x"}):
        with pytest.raises(PermissionDenied, match="service account"):
            service_account(claims)
    mismatched = projected_claims("a", "b", issuer="x")
    mismatched["sub"] = "system:serviceaccount:other:b"
    with pytest.raises(PermissionDenied, match="sub"):
        service_account(mismatched)


def test_login_role_names_are_validated_before_any_storage_lookup() -> None:
    from strongbox.auth.jwt_roles import login_role_name
    assert login_role_name("Deploy-1") == "deploy-1"
    for bad in ("", "a/b", "a\0b", "-x", "x" * 200):
        with pytest.raises(BadRequest, match="role"):
            login_role_name(bad)
