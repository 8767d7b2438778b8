"""Parsing policies: Vault's HCL and JSON forms, names, and errors with line and column."""

from __future__ import annotations

import json

import pytest

from strongbox.errors import BadRequest
from strongbox.policy import (
    ACL,
    Policy,
    PolicyParseError,
    Rule,
    check_deletable,
    normalize_policy_name,
    parse_policy,
)

VAULT_DOC_EXAMPLE = """\
# This section grants all access on "secret/*". Further restrictions can be
# applied to this broad policy, as shown below.
path "secret/*" {
  capabilities = ["create", "read", "update", "patch", "delete", "list"]
}

// Even though we allowed secret/*, this line explicitly denies
// secret/super-secret. This takes precedence.
path "secret/super-secret" {
  capabilities = ["deny"]
}

/* Segment wildcards,
   and a block on one line */
path "secret/+/teamb" { capabilities = ["read"] }
path "secret/+/+/teamb" {
  capabilities = [
    "read",
    "list",   # trailing comma and comments inside the list
  ]
}
path "/sys/leases/lookup" {
  capabilities = ["update", "sudo"]
}
"""

EXPECTED_RULES = (
    Rule("secret/*", frozenset({"create", "read", "update", "patch", "delete", "list"})),
    Rule("secret/super-secret", frozenset({"deny"})),
    Rule("secret/+/teamb", frozenset({"read"})),
    Rule("secret/+/+/teamb", frozenset({"read", "list"})),
    Rule("sys/leases/lookup", frozenset({"update", "sudo"})),  # leading '/' dropped
)

VAULT_DOC_EXAMPLE_JSON = json.dumps({"path": {
    "secret/*": {"capabilities": ["create", "read", "update", "patch", "delete", "list"]},
    "secret/super-secret": {"capabilities": ["deny"]},
    "secret/+/teamb": {"capabilities": ["read"]},
    "secret/+/+/teamb": {"capabilities": ["read", "list"]},
    "/sys/leases/lookup": {"capabilities": ["update", "sudo"]},
}}, indent=2)


def test_hcl_with_vault_documented_syntax() -> None:
    policy = parse_policy("dev", VAULT_DOC_EXAMPLE)
    assert policy == Policy("dev", EXPECTED_RULES)


def test_json_form() -> None:
    assert parse_policy("dev", VAULT_DOC_EXAMPLE_JSON) == Policy("dev", EXPECTED_RULES)


def test_json_and_hcl_forms_compile_to_equal_acls() -> None:
    hcl = ACL.from_policies([parse_policy("dev", VAULT_DOC_EXAMPLE)])
    from_json = ACL.from_policies([parse_policy("dev", VAULT_DOC_EXAMPLE_JSON)])
    assert hcl == from_json
    assert hcl.capabilities("secret/super-secret") == {"deny"}


def test_json_path_may_be_a_list_of_objects_and_keeps_repeated_keys() -> None:
    text = ('{"path": [{"a/*": {"capabilities": ["read"]}},\n'
            '          {"a/*": {"capabilities": ["deny"]}, "a/*": {"capabilities": ["list"]}}]}')
    policy = parse_policy("p", text)
    assert [r.path for r in policy.rules] == ["a/*", "a/*", "a/*"]
    assert ACL.from_policies([policy]).capabilities("a/x") == {"deny"}


def test_repeated_hcl_blocks_are_all_kept_so_a_deny_is_not_lost() -> None:
    text = 'path "a/*" { capabilities = ["deny"] }\npath "a/*" { capabilities = ["read"] }\n'
    assert ACL.from_policies([parse_policy("p", text)]).capabilities("a/b") == {"deny"}


def test_hcl_string_escapes_and_literal_dollar_brace() -> None:
    text = 'path "a/\\u0062/$${x}" {\n  capabilities = ["r\\u0065ad"]\n}'
    assert parse_policy("p", text).rules == (Rule("a/b/${x}", frozenset({"read"})),)


def test_a_policy_of_only_comments_grants_nothing() -> None:
    policy = parse_policy("p", "# nothing yet\n")
    assert policy.rules == ()
    assert ACL.from_policies([policy]).capabilities("a") == {"deny"}
    assert parse_policy("p", "{}").rules == ()


def test_crlf_line_endings() -> None:
    text = 'path "a" {\r\n  capabilities = ["read"]\r\n}\r\n'
    assert parse_policy("p", text).rules == (Rule("a", frozenset({"read"})),)


# --------------------------------------------------------------- errors


def error_of(text: str, name: str = "dev") -> PolicyParseError:
    with pytest.raises(PolicyParseError) as info:
        parse_policy(name, text)
    return info.value


def test_the_briefs_example_error() -> None:
    error = error_of('# dev team\npath "secret/data/dev/*" {\n capabilities ["read"]\n}\n')
    assert (error.line, error.column) == (3, 15)
    assert str(error) == ("policy 'dev': line 3, column 15: expected '=' after capabilities, "
                          "found '['")
    assert isinstance(error, BadRequest)
    assert error.status == 400


A_OK = 'path "ok" {\n  capabilities = ["read"]\n}\n'


@pytest.mark.parametrize(("text", "line", "column", "needle"), [
    # syntax
    (A_OK + 'path "a" {\n  capabilities = ["read"\n}\n', 6, 1, "expected ',' or ']'"),
    (A_OK + 'path "a" {\n  capabilities = ["read"]\n', 6, 1, "end of the text; expected '}'"),
    ('path "a" {\n  capabilities = [\'read\']\n}\n', 2, 19, "double quotes"),
    ('path "a" {\n  capabilities = ["read" "list"]\n}\n', 2, 26, "expected ','"),
    ('path "a" {\n  capabilities = ["read"]\n}}\n', 3, 2, "unexpected '}'"),
    ('path "a" {\n  capabilities = ["r\\qead"]\n}\n', 2, 19, "invalid escape"),
    ('path "a/${var}" {\n  capabilities = ["read"]\n}\n', 1, 6, "interpolation"),
    # structure
    ('name = "dev"\n' + A_OK, 1, 1, "unexpected top-level key 'name'"),
    (A_OK + 'paths "a" {\n  capabilities = ["read"]\n}\n', 4, 1, "unknown block 'paths'"),
    ('path a {\n  capabilities = ["read"]\n}\n', 1, 1, "exactly one quoted path"),
    ('path "a" "b" {\n  capabilities = ["read"]\n}\n', 1, 1, "exactly one quoted path"),
    # keys
    (A_OK + 'path "a" {\n  capabilities = ["read"]\n  allowed_parameters = {\n'
     '    "foo" = []\n  }\n}\n', 6, 3, 'path "a": "allowed_parameters": parameter constraints'),
    ('path "a" {\n  capabilities = ["read"]\n  denied_parameters = {}\n}\n', 3, 3,
     "not supported"),
    ('path "a" {\n  capabilities = ["read"]\n  required_parameters = ["x"]\n}\n', 3, 3,
     "not supported"),
    ('path "a" {\n  capabilities = ["read"]\n  min_wrapping_ttl = "1h"\n}\n', 3, 3,
     "wrapping TTL"),
    ('path "a" {\n  capabilities = ["read"]\n  max_wrapping_ttl = 300\n}\n', 3, 3,
     "wrapping TTL"),
    ('path "a" {\n  policy = "admin"\n}\n', 2, 12, "legacy policy must be one of"),
    ('path "a" {\n  capabilities = ["read"]\n  colour = "blue"\n}\n', 3, 3,
     'unknown key "colour"'),
    ('path "a" {\n  capabilities = ["read"]\n  allowed_parameters {\n  }\n}\n', 3, 3,
     "not supported"),
    ('path "a" {\n  capabilities = ["read"]\n  capabilities = ["list"]\n}\n', 3, 3,
     "given twice"),
    # capabilities
    ('path "a" {\n  capabilities = ["read", "raed"]\n}\n', 2, 27,
     'path "a": unknown capability "raed"; valid: create, read'),
    ('path "a" {\n  capabilities = ["root"]\n}\n', 2, 19, 'unknown capability "root"'),
    ('path "a" {\n  capabilities = []\n}\n', 2, 18, "capabilities is empty"),
    ('path "a" {\n}\n', 1, 6, 'path "a": missing capabilities'),
    ('path "a" {\n  capabilities = "read"\n}\n', 2, 18, 'write ["read"]'),
    ('path "a" {\n  capabilities = [read]\n}\n', 2, 19, "a bare word"),
    ('path "a" {\n  capabilities = ["read", ["list"]]\n}\n', 2, 27, "not a list"),
    ('path "a" {\n  capabilities = 1 + 2\n}\n', 2, 18, "not an expression"),
    # globs
    ('path "secret/*/x" {\n  capabilities = ["read"]\n}\n', 1, 6, "last character"),
    ('path "secret/a+/x" {\n  capabilities = ["read"]\n}\n', 1, 6, "whole path segment"),
    ('path "secret/+*" {\n  capabilities = ["read"]\n}\n', 1, 6, "'+*' is not allowed"),
    ('path "secret/../sys/*" {\n  capabilities = ["read"]\n}\n', 1, 6, "'..'"),
    ('path "secret//x" {\n  capabilities = ["read"]\n}\n', 1, 6, "empty segment"),
    ('path "" {\n  capabilities = ["read"]\n}\n', 1, 6, "empty"),
    ('path "secret/{{identity.entity.id}}/*" {\n  capabilities = ["read"]\n}\n', 1, 6,
     "templated"),
])
def test_hcl_errors_name_line_and_column(text: str, line: int, column: int,
                                         needle: str) -> None:
    error = error_of(text)
    assert (error.line, error.column) == (line, column), str(error)
    assert str(error).startswith(f"policy 'dev': line {line}, column {column}: ")
    assert needle in str(error)


@pytest.mark.parametrize(("text", "line", "column", "needle"), [
    ('{"path": {"a": {"capabilities": ["read"]}}', 1, 43, "end of the text"),
    ("{'path': {}}", 1, 2, "double quotes"),
    ('{"path": {"a": {"capabilities": ["read"],}}}', 1, 42, "unexpected '}'"),
    ('{\n  "path": {"a": {"capabilities": ["read"]}},\n  "name": "x"\n}', 3, 3,
     "unexpected top-level key 'name'"),
    ('{\n  "path": {\n    "a": {"capabilities": ["read", "reed"]}\n  }\n}', 3, 36,
     'path "a": unknown capability "reed"'),
    ('{"path": {"a": {"capabilities": ["read"], "capabilities": ["deny"]}}}', 1, 43,
     "given twice"),
    ('{"path": {"a": {"capabilities": true}}}', 1, 33, "not true"),
    ('{"path": {"a": {"capabilities": [1]}}}', 1, 34, "not a number"),
    ('{"path": {"a": {"capabilities": []}}}', 1, 33, "empty"),
    ('{"path": {"a": {}}}', 1, 11, "missing capabilities"),
    ('{"path": {"a": {"allowed_parameters": {}, "capabilities": ["read"]}}}', 1, 17,
     "not supported"),
    ('{"path": {"a*b": {"capabilities": ["read"]}}}', 1, 11, "last character"),
    ('{"path": "secret/*"}', 1, 10, 'the value of "path" must be a JSON object'),
    ('{"path": {"a": ["read"]}}', 1, 16, 'path "a" must be a JSON object'),
])
def test_json_errors_name_line_and_column(text: str, line: int, column: int,
                                          needle: str) -> None:
    error = error_of(text)
    assert (error.line, error.column) == (line, column), str(error)
    assert needle in str(error)


@pytest.mark.parametrize("text", ["[" * 50_000, '{"path": ' + "[" * 50_000 + "]" * 50_000 + "}",
                                  'path "a" { capabilities = ' + "[" * 50_000 + "]" * 50_000
                                  + " }"])
def test_hostile_nesting_is_a_parse_error_not_a_crash(text: str) -> None:
    with pytest.raises(PolicyParseError):
        parse_policy("p", text)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_an_empty_text_is_refused(text: str) -> None:
    with pytest.raises(BadRequest, match="policy 'p': the policy text is empty"):
        parse_policy("p", text)


# --------------------------------------------------------------- names


@pytest.mark.parametrize(("name", "normalized"), [
    ("dev", "dev"), ("Dev-Team_1.x", "dev-team_1.x"), (" ops ", "ops"), ("a" * 128, "a" * 128),
    ("default", "default"), ("root", "root"), ("...", "..."),
])
def test_valid_policy_names_are_normalized_like_vault(name: str, normalized: str) -> None:
    assert normalize_policy_name(name) == normalized


@pytest.mark.parametrize("name", ["", " ", "a" * 129, "dev team", "dev/x", "dév", "a:b",
                                  ".", "..", "a\x00"])
def test_invalid_policy_names(name: str) -> None:
    with pytest.raises(BadRequest, match="invalid policy name"):
        normalize_policy_name(name)
    with pytest.raises(BadRequest, match="invalid policy name"):
        parse_policy(name, A_OK)


def test_parse_uses_the_normalized_name() -> None:
    assert parse_policy("DevOps", A_OK).name == "devops"


@pytest.mark.parametrize("name", ["root", "ROOT", " root"])
def test_root_cannot_be_created_or_updated(name: str) -> None:
    with pytest.raises(BadRequest, match="'root' policy is built in"):
        parse_policy(name, A_OK)


def test_default_can_be_updated_but_not_deleted() -> None:
    assert parse_policy("default", A_OK).name == "default"
    for name in ("default", "root", "Default"):
        with pytest.raises(BadRequest, match="cannot be deleted"):
            check_deletable(name)
    assert check_deletable("Dev") == "dev"


def test_long_bad_names_are_truncated_in_the_message() -> None:
    with pytest.raises(BadRequest) as info:
        normalize_policy_name("x" * 5000 + " ")
    assert len(str(info.value)) < 250


def test_long_paths_and_capabilities_are_truncated_in_the_message() -> None:
    error = error_of('path "' + "a*" * 5000 + '" { capabilities = ["read"] }')
    assert len(str(error)) < 300
    error = error_of('path "a" { capabilities = ["' + "r" * 5000 + '"] }')
    assert len(str(error)) < 300


@pytest.mark.parametrize(("legacy", "expected"), [
    ("read", {"read", "list"}),
    ("write", {"create", "read", "update", "delete", "list"}),
    ("sudo", {"create", "read", "update", "delete", "list", "sudo"}),
    ("deny", {"deny"}),
])
def test_the_legacy_policy_line_maps_to_capabilities_as_vault(legacy: str,
                                                               expected: set[str]) -> None:
    policy = parse_policy("old", f'path "secret/*" {{\n  policy = "{legacy}"\n}}\n')
    assert set(policy.rules[0].capabilities) == expected


def test_a_legacy_policy_adds_to_capabilities_and_deny_wins() -> None:
    both = parse_policy("old", 'path "a" {\n  policy = "read"\n  capabilities = ["sudo"]\n}\n')
    assert set(both.rules[0].capabilities) == {"read", "list", "sudo"}
    denied = parse_policy("old", 'path "a" {\n  policy = "deny"\n  capabilities = ["read"]\n}\n')
    assert set(denied.rules[0].capabilities) == {"deny"}
