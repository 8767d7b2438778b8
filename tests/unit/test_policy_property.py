"""Property tests: the compiled ACL against a brute-force reference model.

The reference is written from Vault's "Policies" page, not from `acl.py`: every
rule of every policy is matched with a regular expression (`+` = one segment,
trailing `*` = any suffix), rules with the same glob are merged (union, deny
absorbs), an exact match wins outright, and otherwise *all* matching globs are
sorted by the five documented priority rules and the last one wins. Only the
request flow around it (LIST trims one trailing `/`; `.`/`..` segments and
root) is restated from Vault's `AllowOperation`.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.policy import ACL, CAPABILITIES, GRANTS, ROOT_POLICY, Policy, Rule, parse_policy
from strongbox.policy.acl import glob_problem

# ------------------------------------------------------------------ reference


def is_glob(glob: str) -> bool:
    return glob.endswith("*") or "+" in glob.split("/")


def glob_regex(glob: str) -> re.Pattern[str]:
    body = glob[:-1] if glob.endswith("*") else glob
    pattern = "/".join("[^/]*" if seg == "+" else re.escape(seg) for seg in body.split("/"))
    return re.compile(pattern + (".*" if glob.endswith("*") else ""), re.S)


def documented_priority(glob: str) -> tuple[int, int, int, int, str]:
    """Larger is higher priority, rule by rule from the docs page."""
    first = min(i for i, c in enumerate(glob) if c in "+*")  # 1. first `+`/`*` later
    not_prefix = 0 if glob.endswith("*") else 1              # 2. not ending in `*`
    fewer_plus = -glob.split("/").count("+")                 # 3. fewer `+` segments
    return (first, not_prefix, fewer_plus, len(glob), glob)  # 4. longer, 5. greater


def merged_rules(policies: list[Policy]) -> dict[str, frozenset[str]]:
    merged: dict[str, frozenset[str]] = {}
    for policy in policies:
        for rule in policy.rules:
            caps = merged.get(rule.path, frozenset()) | rule.capabilities
            merged[rule.path] = frozenset({"deny"}) if "deny" in caps else caps
    return merged


def best(merged: dict[str, frozenset[str]], path: str, *, exact_only: bool = False
         ) -> frozenset[str] | None:
    if path in merged and not is_glob(path):
        return merged[path]
    if exact_only:
        return None
    matching = [g for g in merged if is_glob(g) and glob_regex(g).fullmatch(path)]
    if not matching:
        return None
    return merged[sorted(matching, key=documented_priority)[-1]]


def reference_lookup(policies: list[Policy], path: str, *, as_list: bool) -> frozenset[str]:
    merged = merged_rules(policies)
    steps: list[tuple[str, bool]] = [(path, True)]
    if as_list:
        trimmed = path.removesuffix("/")
        steps.append((trimmed, True))
        if trimmed != path:
            steps.append((trimmed, False))
    steps.append((path, False))
    for candidate, exact_only in steps:
        found = best(merged, candidate, exact_only=exact_only)
        if found is not None:
            return found
    return frozenset()


def traversal(path: str) -> bool:
    return bool({".", ".."} & set(path.split("/")))


def reference_capabilities(policies: list[Policy], path: str) -> frozenset[str]:
    path = path.lstrip("/")  # Vault's AllowOperation drops leading slashes
    if traversal(path):
        return frozenset({"deny"})
    if any(p.name == "root" for p in policies):
        return frozenset({"root"})
    found = reference_lookup(policies, path, as_list=True)
    return frozenset({"deny"}) if not found or "deny" in found else found


def reference_allows(policies: list[Policy], path: str, capability: str) -> bool:
    path = path.lstrip("/")
    if traversal(path):
        return False
    if any(p.name == "root" for p in policies):
        return True
    found = reference_lookup(policies, path, as_list=capability == "list")
    return capability in found and "deny" not in found


def test_the_reference_model_agrees_with_the_documented_examples() -> None:
    policy = [Policy("p", (Rule("secret/*", frozenset({"read"})),
                           Rule("secret/+/+/foo/*", frozenset({"update"}))))]
    assert reference_capabilities(policy, "secret/a/b/foo/x") == {"read"}
    assert glob_regex("secret/zip-*").fullmatch("secret/zip-zap/zong")
    assert not glob_regex("secret/+/teamb").fullmatch("secret/a/b/teamb")


# ------------------------------------------------------------------ strategies

# "(" sorts before "+": it makes the length rule (4) and the lexicographic rule (5) disagree.
SEGMENTS = ("a", "b", "ab", "(", "((", "+")
PATH_SEGMENTS = ("a", "b", "ab", "abc", "(", "((", "", "..", ".")


@st.composite
def globs(draw: st.DrawFn) -> str:
    segments = draw(st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=4))
    glob = "/".join(segments) + draw(st.sampled_from(("", "", "*", "/*", "/")))
    if draw(st.booleans()) and draw(st.booleans()):
        glob = draw(st.sampled_from(("*", "+", "+/*", "a*")))
    return glob


capability_sets = st.one_of(
    st.frozensets(st.sampled_from(sorted(GRANTS)), min_size=1, max_size=3),
    st.just(frozenset({"deny"})),
    st.frozensets(st.sampled_from(CAPABILITIES), min_size=1, max_size=3),
)
valid_rules = st.builds(Rule, globs().filter(lambda g: glob_problem(g) is None),
                        capability_sets)
policy_lists = st.lists(st.lists(valid_rules, max_size=6), min_size=0, max_size=3).map(
    lambda lists: [Policy(f"p{i}", tuple(rules)) for i, rules in enumerate(lists)])
request_paths = st.lists(st.sampled_from(PATH_SEGMENTS), min_size=1, max_size=5).map("/".join)


def near_paths(glob: str) -> st.SearchStrategy[str]:
    """Paths that match `glob`, or nearly do (a literal segment lengthened or shortened)."""
    body = glob[:-1] if glob.endswith("*") else glob
    parts = [st.sampled_from(PATH_SEGMENTS) if seg == "+"
             else st.sampled_from((seg, seg, seg + "b", seg[:-1])) for seg in body.split("/")]
    suffix = st.sampled_from(("", "b", "/a", "b/ab", "/")) if glob.endswith("*") else st.just("")
    return st.tuples(st.tuples(*parts).map("/".join), suffix).map("".join)


# ------------------------------------------------------------------ properties


@settings(max_examples=300, deadline=None)
@given(policies=policy_lists, data=st.data())
def test_capabilities_match_the_reference_model(policies: list[Policy],
                                                data: st.DataObject) -> None:
    acl = ACL.from_policies(policies)
    paths = data.draw(st.lists(request_paths, min_size=1, max_size=4))
    for rule in (r for p in policies for r in p.rules):
        paths.append(data.draw(near_paths(rule.path)))
    for path in paths:
        assert acl.capabilities(path) == reference_capabilities(policies, path), path
        for capability in sorted(GRANTS):
            assert acl.allows(path, capability) == reference_allows(policies, path,
                                                                    capability), (path,
                                                                                  capability)


@settings(max_examples=100, deadline=None)
@given(policies=policy_lists, path=request_paths)
def test_root_allows_everything_but_traversal(policies: list[Policy], path: str) -> None:
    acl = ACL.from_policies([*policies, ROOT_POLICY])
    assert acl.capabilities(path) == reference_capabilities([*policies, ROOT_POLICY], path)
    assert all(acl.allows(path, c) != traversal(path) for c in GRANTS)


@st.composite
def path_and_matching_policies(draw: st.DrawFn) -> tuple[str, list[Policy]]:
    """A request path and rules derived from it, so that most of them compete for it."""
    segments = draw(st.lists(st.sampled_from(("ab", "((", "(", "x")), min_size=2,
                             max_size=4))
    derived: list[Rule] = []
    for _ in range(draw(st.integers(2, 6))):
        parts = [("+" if draw(st.booleans()) else s) for s in segments]
        cut = draw(st.one_of(st.just(len(parts)), st.integers(0, len(parts))))
        glob = "/".join(parts)
        if cut < len(parts):  # make it a prefix glob ending inside or after segment `cut`
            keep = [*parts[:cut], segments[cut][:draw(st.integers(0, len(segments[cut])))]]
            glob = "/".join(keep) + "*"
        if glob_problem(glob) is None:
            derived.append(Rule(glob, draw(capability_sets)))
    split = draw(st.integers(0, len(derived)))
    policies = [Policy("one", tuple(derived[:split])), Policy("two", tuple(derived[split:]))]
    return "/".join(segments), policies


@settings(max_examples=600, deadline=None)
@given(case=path_and_matching_policies())
def test_competing_globs_pick_the_documented_winner(case: tuple[str, list[Policy]]) -> None:
    path, policies = case
    acl = ACL.from_policies(policies)
    for candidate in (path, path + "/"):
        assert acl.capabilities(candidate) == reference_capabilities(policies, candidate)
        for capability in sorted(GRANTS):
            assert acl.allows(candidate, capability) == reference_allows(policies, candidate,
                                                                         capability)


def derived_globs(path: str) -> list[str]:
    """Every valid glob that replaces some segments of `path` by `+`, optionally cut to `*`."""
    segments = path.split("/")
    found: set[str] = set()
    for mask in itertools.product((False, True), repeat=len(segments)):
        parts = ["+" if plus else s for plus, s in zip(mask, segments, strict=True)]
        found.add("/".join(parts))
        for cut, segment in enumerate(segments):
            for keep in range(len(segment) + 1):
                found.add("/".join([*parts[:cut], segment[:keep]]) + "*")
    return sorted(g for g in found if glob_problem(g) is None)


@pytest.mark.parametrize("path", ["x/ab/((", "((/x/ab/("])
def test_every_pair_of_competing_globs_is_ordered_as_documented(path: str) -> None:
    # Both orders are total orders, so agreeing on every pair means agreeing on every set.
    globs_here = derived_globs(path)
    assert len(globs_here) > 20
    for first, second in itertools.combinations(globs_here, 2):
        policies = [Policy("one", (Rule(first, frozenset({"read"})),)),
                    Policy("two", (Rule(second, frozenset({"update"})),))]
        assert (ACL.from_policies(policies).capabilities(path)
                == reference_capabilities(policies, path)), (first, second)


def as_hcl(policy: Policy) -> str:
    return "".join(f'# rule {i}\npath {json.dumps(r.path)} {{\n'
                   f'  capabilities = {json.dumps(sorted(r.capabilities))}\n}}\n'
                   for i, r in enumerate(policy.rules))


def as_json(policy: Policy) -> str:
    # Written by hand: a repeated glob must stay a repeated key, as in the HCL.
    body = ", ".join(f'{json.dumps(r.path)}: {{"capabilities": '
                     f'{json.dumps(sorted(r.capabilities))}}}' for r in policy.rules)
    return '{"path": {' + body + "}}"


@settings(max_examples=200, deadline=None)
@given(rules=st.lists(valid_rules, min_size=1, max_size=8))
def test_hcl_and_json_forms_parse_to_the_same_policy_and_acl(rules: list[Rule]) -> None:
    policy = Policy("p", tuple(rules))
    from_hcl, from_json = parse_policy("p", as_hcl(policy)), parse_policy("p", as_json(policy))
    assert from_hcl == from_json == policy
    assert ACL.from_policies([from_hcl]) == ACL.from_policies([from_json])
