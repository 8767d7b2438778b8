"""The ACL matcher against Vault's documented and tested precedence rules.

Cases come from Vault's "Policies" concept page and from the scenarios of
`vault/acl_test.go` (TestACL_Single, TestACL_Layered,
TestACL_SegmentWildcardPriority), rewritten with `capabilities` where Vault's
tests use the legacy `policy = "..."` key (read = read+list, write =
create+read+update+delete+list, sudo = write+sudo).
"""

from __future__ import annotations

import pytest

from strongbox.policy import (
    ACL,
    DEFAULT_POLICY,
    GRANTS,
    ROOT_POLICY,
    Policy,
    Rule,
    default_policy,
    parse_policy,
)

WRITE = ("create", "read", "update", "delete", "list")
SUDO = (*WRITE, "sudo")
READ = ("read", "list")


def rules(*pairs: tuple[str, tuple[str, ...] | str]) -> tuple[Rule, ...]:
    out = []
    for path, caps in pairs:
        out.append(Rule(path, frozenset([caps] if isinstance(caps, str) else caps)))
    return tuple(out)


def acl_of(*policies: tuple[Rule, ...]) -> ACL:
    return ACL.from_policies(Policy(f"p{i}", r) for i, r in enumerate(policies))


# --------------------------------------------------------------- the docs page


DOC_POLICY = rules(
    ("secret/foo", "read"),
    ("secret/bar/*", "read"),
    ("secret/zip-*", "read"),
    ("secret/+/teamb", "read"),
    ("secret/+/+/teamb", "read"),
)


@pytest.mark.parametrize(("path", "allowed"), [
    ("secret/foo", True),
    ("secret/food", False),
    ("secret/foo/bar", False),
    ("secret/bar/zip", True),
    ("secret/bar/zip/zap", True),
    ("secret/bars/zip", False),
    ("secret/zip-zap", True),
    ("secret/zip-zap/zong", True),
    ("secret/zip/zap", False),
    ("secret/foo/teamb", True),
    ("secret/foo/bar/teamb", True),
    ("secret/bar/foo/teamb", True),
    ("secret/teamb", False),
    ("secret/a/b/c/teamb", False),
])
def test_documented_path_matching(path: str, allowed: bool) -> None:
    assert acl_of(DOC_POLICY).allows(path, "read") is allowed


def test_documented_explicit_deny_on_a_more_specific_path_takes_precedence() -> None:
    acl = acl_of(rules(("secret/*", ("create", "read", "update", "patch", "delete", "list")),
                       ("secret/super-secret", "deny")))
    assert acl.capabilities("secret/super-secret") == {"deny"}
    assert not acl.allows("secret/super-secret", "read")
    assert acl.allows("secret/other", "patch")


@pytest.mark.parametrize(("path", "expected"), [
    ("secret/foo", {"read"}),          # exact beats every glob
    ("secret/foobar", {"update"}),     # `secret/foo*` is a longer prefix than `secret/*`
    ("secret/foo/x", {"update"}),
    ("secret/fo", {"list"}),
    ("secret/", {"list"}),
])
def test_exact_beats_glob_and_longest_prefix_wins(path: str, expected: set[str]) -> None:
    acl = acl_of(rules(("secret/*", "list"), ("secret/foo", "read"), ("secret/foo*", "update")))
    assert acl.capabilities(path) == expected


def test_documented_rule_3_more_plus_segments_lose_to_a_shorter_glob() -> None:
    # Docs: "secret/*" vs "secret/+/+/foo/*": same first wildcard position, both end in
    # `*`, the latter has two `+` segments, so it has the *lower* priority.
    acl = acl_of(rules(("secret/*", "read"), ("secret/+/+/foo/*", "update")))
    assert acl.capabilities("secret/a/b/foo/bar") == {"read"}


# Vault's TestACL_SegmentWildcardPriority: each pair has a read rule and an
# update rule, and the update rule must win.
@pytest.mark.parametrize(("loser", "winner", "path"), [
    ("+/*", "*", "foo/bar/bar/baz"),                       # first wildcard position 0 vs 0..
    ("+/*", "foo/+/*", "foo/bar/bar/baz"),                 # first wildcard later
    ("foo/+/+/*", "foo/+/bar/baz", "foo/bar/bar/baz"),     # not a prefix
    ("foo/+/+/baz", "foo/+/bar/baz", "foo/bar/bar/baz"),   # fewer `+` segments
    ("foo/+/(ar/baz", "foo/(ar/+/baz", "foo/(ar/(ar/baz"),  # first wildcard later
    ("foo/bar/+/baz*", "foo/bar/+/baz", "foo/bar/bar/baz"),  # not ending in `*`
    ("foo/bar/+/b*", "foo/bar/+/ba*", "foo/bar/bar/baz"),    # longer
    ("a/+/+/(", "a/+/((/+", "a/q/((/("),                     # longer, though lexically less
    ("a/+/+/xb", "a/+/xb/+", "a/q/xb/xb"),                   # lexicographically greater
])
def test_vault_segment_wildcard_priority(loser: str, winner: str, path: str) -> None:
    for order in ((loser, winner), (winner, loser)):
        acl = acl_of(rules((order[0], "read" if order[0] == loser else "update"),
                           (order[1], "read" if order[1] == loser else "update")))
        assert acl.allows(path, "update"), (order, path)
        assert not acl.allows(path, "read"), (order, path)


# Vault's aclPolicy (TestACL_Single), with legacy `policy` keys as capabilities.
SINGLE = rules(
    ("dev/*", SUDO),
    ("stage/*", WRITE),
    ("stage/aws/*", (*READ, "update", "sudo")),
    ("stage/aws/policy/*", SUDO),
    ("prod/*", READ),
    ("prod/aws/*", "deny"),
    ("sys/*", "deny"),
    ("foo/bar", ("read", "create", "sudo")),
    ("baz/quux", ("read", "create", "patch")),
    ("test/+/segment", "read"),
    ("+/segment/at/front", "read"),
    ("test/segment/at/end/+", "read"),
    ("test/segment/at/end/v2/+/", "read"),
    ("test/+/wildcard/+/*", "read"),
    ("test/+/wildcardglob/+/end*", "read"),
    ("1/2/*", "create"),
    ("1/2/+", "read"),
    ("1/2/+/+", "update"),
)
# Vault's aclPolicy2 (TestACL_Layered).
LAYERED = rules(
    ("dev/hide/*", "deny"),
    ("stage/aws/policy/*", ("deny", "read", "update", "sudo")),
    ("prod/*", WRITE),
    ("sys/seal", SUDO),
    ("foo/bar", "deny"),
    ("baz/quux", "deny"),
)


@pytest.mark.parametrize(("capability", "path", "allowed", "sudo"), [
    ("read", "root", False, False),
    ("read", "dev/foo", True, True),
    ("update", "dev/foo", True, True),
    ("delete", "stage/foo", True, False),
    ("list", "stage/aws/foo", True, True),
    ("update", "stage/aws/foo", True, True),
    ("update", "stage/aws/policy/foo", True, True),
    ("delete", "prod/foo", False, False),
    ("update", "prod/foo", False, False),
    ("read", "prod/foo", True, False),
    ("list", "prod/foo", True, False),
    ("read", "prod/aws/foo", False, False),
    ("read", "foo/bar", True, True),
    ("list", "foo/bar", False, True),
    ("update", "foo/bar", False, True),
    ("create", "foo/bar", True, True),
    ("read", "baz/quux", True, False),
    ("create", "baz/quux", True, False),
    ("patch", "baz/quux", True, False),
    ("list", "baz/quux", False, False),
    ("update", "baz/quux", False, False),
    ("read", "test/foo/bar/segment", False, False),
    ("read", "test/foo/segment", True, False),
    ("read", "test/bar/segment", True, False),
    ("read", "test/segment/at/frond", False, False),
    ("read", "test/segment/at/front", True, False),
    ("read", "test/segment/at/end/foo", True, False),
    ("read", "test/segment/at/end/foo/", False, False),
    ("read", "test/segment/at/end/v2/foo/", True, False),
    ("read", "test/segment/wildcard/at/foo/", True, False),
    ("read", "test/segment/wildcard/at/end", True, False),
    ("read", "test/segment/wildcard/at/end/", True, False),
    ("read", "1/2/3/4", False, False),
    ("read", "1/2/3", True, False),
    ("update", "1/2/3", False, False),
    ("update", "1/2/3/4", True, False),
    ("create", "1/2/3/4/5", True, False),
])
def test_vault_single_policy_cases(capability: str, path: str, allowed: bool,
                                   sudo: bool) -> None:
    acl = acl_of(SINGLE)
    assert acl.allows(path, capability) is allowed
    assert acl.allows(path, "sudo") is sudo


@pytest.mark.parametrize(("capability", "path", "allowed", "sudo"), [
    ("read", "dev/foo", True, True),
    ("update", "dev/foo", True, True),
    ("read", "dev/hide/foo", False, False),
    ("update", "dev/hide/foo", False, False),
    ("delete", "stage/foo", True, False),
    ("list", "stage/aws/foo", True, True),
    ("update", "stage/aws/foo", True, True),
    ("update", "stage/aws/policy/foo", False, False),
    ("delete", "prod/foo", True, False),
    ("update", "prod/foo", True, False),
    ("read", "prod/foo", True, False),
    ("list", "prod/foo", True, False),
    ("read", "prod/aws/foo", False, False),
    ("read", "sys/status", False, False),
    ("update", "sys/seal", True, True),
    ("read", "foo/bar", False, False),
    ("create", "foo/bar", False, False),
    ("read", "baz/quux", False, False),
    ("patch", "baz/quux", False, False),
])
def test_vault_layered_policy_cases(capability: str, path: str, allowed: bool,
                                    sudo: bool) -> None:
    acl = acl_of(SINGLE, LAYERED)
    assert acl.allows(path, capability) is allowed
    assert acl.allows(path, "sudo") is sudo


def test_vault_capabilities_cases() -> None:
    acl = acl_of(SINGLE)
    assert acl.capabilities("dev") == {"deny"}
    assert acl.capabilities("dev/") == set(SUDO)
    assert acl.capabilities("stage/aws/test") == {"sudo", "read", "list", "update"}


# --------------------------------------------------------------- merging


def test_same_glob_in_several_policies_unions_capabilities() -> None:
    acl = acl_of(rules(("secret/foo", "read")), rules(("secret/foo", "update")))
    assert acl.capabilities("secret/foo") == {"read", "update"}


def test_deny_on_the_same_glob_in_any_policy_overrides_everything() -> None:
    for order in ((SUDO, "deny"), ("deny", SUDO)):
        acl = acl_of(rules(("secret/*", order[0])), rules(("secret/*", order[1])))
        assert acl.capabilities("secret/x") == {"deny"}
        for capability in GRANTS:
            assert not acl.allows("secret/x", capability)


def test_deny_with_other_capabilities_in_one_block_is_deny_only() -> None:
    assert Rule("a", frozenset({"deny", "read"})).capabilities == {"deny"}


def test_deny_on_a_less_specific_glob_does_not_override_a_more_specific_grant() -> None:
    # Vault takes only the most specific matching path; a broad deny is not a veto.
    acl = acl_of(rules(("secret/foo", "read")), rules(("secret/*", "deny")))
    assert acl.allows("secret/foo", "read")
    assert not acl.allows("secret/bar", "read")


def test_exact_and_prefix_of_the_same_text_are_different_rules() -> None:
    acl = acl_of(rules(("secret/foo", "read")), rules(("secret/foo*", "deny")))
    assert acl.capabilities("secret/foo") == {"read"}
    assert acl.capabilities("secret/foox") == {"deny"}


def test_policy_order_does_not_matter_and_names_are_not_compared() -> None:
    a, b = rules(("x/*", "read"), ("x/+", "deny")), rules(("x/*", "list"), ("y", "sudo"))
    assert acl_of(a, b) == acl_of(b, a)
    assert hash(acl_of(a, b)) == hash(acl_of(b, a))
    assert ACL.from_policies([Policy("one", a)]) == ACL.from_policies([Policy("two", a)])
    assert acl_of(a) != acl_of(b)


# --------------------------------------------------------------- list, root, default


def test_list_checks_the_path_without_its_trailing_slash_like_vault() -> None:
    acl = acl_of(rules(("secret/metadata/app", ("read", "list"))))
    assert acl.allows("secret/metadata/app/", "list")
    assert not acl.allows("secret/metadata/app/", "read")  # only LIST trims, as in Vault
    assert acl.capabilities("secret/metadata/app/") == {"read", "list"}


def test_list_prefers_globs_matching_the_trimmed_path() -> None:
    acl = acl_of(rules(("secret/app*", "list"), ("secret/app/*", "deny")))
    assert acl.allows("secret/app/", "list")
    assert not acl.allows("secret/app/x", "list")


def test_root_policy_allows_everything_including_sudo() -> None:
    acl = ACL.from_policies([ROOT_POLICY])
    assert acl.is_root
    assert acl.capabilities("sys/audit/file") == {"root"}
    for capability in GRANTS:
        assert acl.allows("any/path", capability)


def test_root_with_other_policies_is_still_root() -> None:
    acl = ACL.from_policies([default_policy(), ROOT_POLICY])
    assert acl.is_root
    assert acl.policy_names == ("default", "root")


def test_no_policies_deny_everything() -> None:
    acl = ACL.from_policies([])
    assert acl.capabilities("secret/x") == {"deny"}
    assert not acl.allows("cubbyhole/x", "read")


@pytest.mark.parametrize(("path", "capability"), [
    ("auth/token/lookup-self", "read"),
    ("auth/token/renew-self", "update"),
    ("auth/token/revoke-self", "update"),
    ("sys/capabilities-self", "update"),
    ("sys/leases/renew", "update"),
    ("sys/leases/lookup", "update"),
    ("sys/wrapping/wrap", "update"),
    ("sys/wrapping/lookup", "update"),
    ("sys/wrapping/unwrap", "update"),
    ("cubbyhole/anything", "create"),
    ("cubbyhole/anything", "read"),
    ("cubbyhole/a/b", "update"),
    ("cubbyhole/a", "delete"),
    ("cubbyhole/", "list"),
])
def test_default_policy_grants(path: str, capability: str) -> None:
    assert ACL.from_policies([default_policy()]).allows(path, capability)


@pytest.mark.parametrize(("path", "capability"), [
    ("auth/token/lookup-self", "update"),
    ("auth/token/create", "update"),
    ("sys/leases/revoke", "update"),
    ("cubbyhole/x", "patch"),
    ("cubbyhole/x", "sudo"),
    ("secret/data/x", "read"),
    ("sys/policies/acl/default", "update"),
])
def test_default_policy_grants_nothing_else(path: str, capability: str) -> None:
    assert not ACL.from_policies([default_policy()]).allows(path, capability)


def test_default_policy_text_is_the_parsed_default_policy() -> None:
    assert default_policy() == parse_policy("default", DEFAULT_POLICY)
    assert len(default_policy().rules) == 10


# --------------------------------------------------------------- traversal


@pytest.mark.parametrize("path", [
    "secret/data/../sys/seal",
    "secret/data/..",
    "../secret/data/x",
    "secret/./data/x",
    "secret/data/../../sys/policies/acl/root",
])
def test_a_path_with_dot_segments_is_always_denied(path: str) -> None:
    grants = acl_of(rules(("secret/*", SUDO), ("+/*", SUDO), ("*", SUDO), ("sys/*", SUDO)))
    for acl in (grants, ACL.from_policies([ROOT_POLICY])):
        assert acl.capabilities(path) == {"deny"}
        for capability in GRANTS:
            assert not acl.allows(path, capability)


def test_dots_inside_a_segment_are_not_traversal() -> None:
    acl = acl_of(rules(("secret/*", "read")))
    assert acl.allows("secret/data/..hidden", "read")
    assert acl.allows("secret/data/v1.2", "read")


def test_a_leading_slash_on_the_request_path_is_ignored() -> None:
    assert acl_of(rules(("secret/foo", "read"))).allows("/secret/foo", "read")


def test_allows_rejects_a_capability_that_is_not_grantable() -> None:
    acl = acl_of(rules(("a", "read")))
    for bad in ("deny", "root", "write", ""):
        with pytest.raises(ValueError, match="capability"):
            acl.allows("a", bad)


@pytest.mark.parametrize("glob", ["", "a*b", "a/b+/c", "a/+*", "a/../b", "a//b", "/a",
                                  "a/{{identity.entity.id}}", "a/\x00"])
def test_rule_refuses_invalid_globs(glob: str) -> None:
    with pytest.raises(ValueError, match="invalid policy path"):
        Rule(glob, frozenset({"read"}))


@pytest.mark.parametrize("glob", ["*", "+", "+/*", "a/", "a/+/", "a/+/b*", "a/*", "a*"])
def test_rule_accepts_valid_globs(glob: str) -> None:
    assert Rule(glob, frozenset({"read"})).path == glob
