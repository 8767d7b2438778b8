"""Statement rendering, username templates and password policies of the Database engine
(strongbox/engines/database/templates.py), without PostgreSQL."""

from __future__ import annotations

import hashlib
import re
import string
from datetime import UTC, datetime, timedelta, timezone

import pytest

from strongbox.engines.database.templates import (
    DEFAULT_POLICY,
    CharsetRule,
    PasswordPolicy,
    generate_password,
    render,
    username_template,
    validate,
    validate_username_template,
)
from strongbox.errors import BadRequest

VAULT_CREATE = ("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
                "VALID UNTIL '{{expiration}}';")
VALUES = {"name": "v-tok-ro-1", "password": "pw", "expiration": "2026-12-03T10:00:00+00:00"}
NOW = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
VAULT_DEFAULT = ('{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) '
                 "(random 20) (unix_time) | truncate 63 }}")


def sqls(statement: str, values: dict[str, str] | None = None) -> list[str]:
    return [q.as_string(None) for q in render(statement, VALUES if values is None else values)]


# ----------------------------------------------------------------------------- statements

def test_vaults_documented_statement() -> None:
    assert sqls(VAULT_CREATE) == [
        "CREATE ROLE \"v-tok-ro-1\" WITH LOGIN PASSWORD 'pw' "
        "VALID UNTIL '2026-12-03T10:00:00+00:00'"]


def test_values_are_quoted_not_pasted() -> None:
    evil = {"name": 'a"; DROP TABLE t; --', "password": "p'; DROP TABLE t; --",
            "expiration": "x"}
    [query] = sqls(VAULT_CREATE, evil)
    assert query == ("CREATE ROLE \"a\"\"; DROP TABLE t; --\" WITH LOGIN PASSWORD "
                     "'p''; DROP TABLE t; --' VALID UNTIL 'x'")


def test_bare_placeholders_become_identifier_and_literals() -> None:
    assert sqls("ALTER ROLE {{username}} PASSWORD {{password}}") == [
        "ALTER ROLE \"v-tok-ro-1\" PASSWORD 'pw'"]


def test_placeholder_inside_a_longer_token() -> None:
    assert sqls("GRANT \"{{name}}_ro\" TO x; COMMENT ON ROLE x IS 'for {{name}}'") == [
        "GRANT \"v-tok-ro-1_ro\" TO x", " COMMENT ON ROLE x IS 'for v-tok-ro-1'"]


def test_semicolons_split_only_outside_quotes_comments_and_dollar_quotes() -> None:
    text = ("SELECT 'a;b', \"c;d\", E'e\\';f', $q$g;h$q$; -- i; j\n"
            "/* k; /* nested; */ l; */ SELECT 2;;  ; -- only a comment")
    assert sqls(text) == ["SELECT 'a;b', \"c;d\", E'e\\';f', $q$g;h$q$",
                          " -- i; j\n/* k; /* nested; */ l; */ SELECT 2"]


def test_dollar_quoted_body_is_rendered_and_retagged() -> None:
    values = {"name": "x$$; DROP TABLE t; $$", "password": "p"}
    [query] = sqls("DO $$ BEGIN EXECUTE 'CREATE ROLE \"{{name}}\" PASSWORD ''{{password}}''';"
                   " PERFORM 1 FROM pg_roles WHERE rolname = '{{name}}'; END $$", values)
    tag = re.match(r"DO (\$sb[0-9a-f]{12}\$) ", query)
    assert tag is not None and query.endswith(" END " + tag.group(1))
    assert "'CREATE ROLE \"x$$; DROP TABLE t; $$\" PASSWORD ''p'''" in query
    assert "rolname = 'x$$; DROP TABLE t; $$'" in query


def test_dynamic_sql_quotes_are_doubled() -> None:
    [query] = sqls("DO $$ BEGIN EXECUTE 'GRANT r TO \"{{name}}\"'; END $$",
                   {"name": 'a"b'})
    assert "'GRANT r TO \"a\"\"b\"'" in query


def test_dollar_body_without_placeholders_is_verbatim() -> None:
    assert sqls("CREATE FUNCTION f() RETURNS int AS $body$ SELECT '{' $body$ LANGUAGE sql") == [
        "CREATE FUNCTION f() RETURNS int AS $body$ SELECT '{' $body$ LANGUAGE sql"]


def test_placeholders_in_comments_are_left_alone() -> None:
    assert sqls("SELECT 1 -- for {{name}}\n") == ["SELECT 1 -- for {{name}}\n"]


def test_name_and_username_are_aliases() -> None:
    assert sqls('DROP ROLE "{{username}}"', {"name": "n"}) == ['DROP ROLE "n"']
    assert sqls('DROP ROLE "{{name}}"', {"username": "u"}) == ['DROP ROLE "u"']


@pytest.mark.parametrize("statement, words", [
    ('CREATE ROLE "{{nmae}}"', "nmae"),
    ("CREATE ROLE {{.Name}}", ".Name"),
    ("SELECT 'x", "unterminated"),
    ('SELECT "x', "unterminated"),
    ("SELECT $a$ x", "unterminated dollar quote $a$"),
    ("SELECT /* x", "unterminated /*"),
    ("SELECT E'{{password}}'", "E'...'"),
    ('SELECT U&"{{name}}"', "U&"),
])
def test_validate_rejects(statement: str, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate(statement)
    assert words in caught.value.message


def test_missing_value_is_named() -> None:
    with pytest.raises(BadRequest, match=r"\{\{password\}\}"):
        render("ALTER ROLE {{name}} PASSWORD '{{password}}'", {"name": "n"})


def test_validate_accepts_vaults_statements() -> None:
    validate(VAULT_CREATE)
    validate('GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";')
    validate("")


# ----------------------------------------------------------------------------- usernames

def test_vaults_default_postgres_template() -> None:
    name = username_template(VAULT_DEFAULT, "userpass-alice", "readonly-role", NOW)
    assert re.fullmatch(r"v-userpass-readonly-[A-Za-z0-9]{20}-1796292000", name)


def test_default_template_stays_within_63_bytes_with_multibyte_names() -> None:
    name = username_template(VAULT_DEFAULT, "é" * 40, "日本" * 30, NOW)
    assert len(name.encode()) <= 63
    assert name.startswith("v-éééé-日本-")  # 8 bytes each, no character split


def test_the_briefs_template_form() -> None:
    template = ("v-{{.DisplayName | truncate 8}}-{{.RoleName | truncate 8}}-{{random 20}}"
                "-{{unix_time}}")
    name = username_template(template, "token", "role", NOW)
    assert re.fullmatch(r"v-token-role-[A-Za-z0-9]{20}-1796292000", name)


@pytest.mark.parametrize("template, expected", [
    ("{{.RoleName | uppercase}}", "MY-ROLE.NAME"),
    ("{{.RoleName | lowercase}}", "my-role.name"),
    ('{{.RoleName | replace "-" "_" | replace "." "_"}}', "My_Role_name"),
    ("{{.RoleName | truncate 4}}", "My-R"),
    ("{{unix_time_millis}}", "1796292000123"),
    ('{{timestamp "2006-01-02T15:04:05.000Z07:00"}}', "2026-12-03T10:00:00.123Z"),
    ('{{timestamp "20060102"}}-x', "20261203-x"),
    ("{{.DisplayName | sha256 | truncate 8}}", hashlib.sha256(b"tok").hexdigest()[:8]),
    ("{{.DisplayName | base64}}", "dG9r"),
    ('{{printf "%s_%d%%" .DisplayName 7}}', "tok_7%"),
    ("{{ (.RoleName | lowercase) | truncate 2 }}", "my"),
    ("a-{{`raw`}}-b", "a-raw-b"),
])
def test_functions(template: str, expected: str) -> None:
    assert username_template(template, "tok", "My-Role.name", NOW) == expected


def test_truncate_sha256_is_vaults() -> None:
    role = "a-very-long-role-name-indeed"
    expected = role[:12] + hashlib.sha256(role[12:].encode()).hexdigest()[:8]
    assert username_template("{{.RoleName | truncate_sha256 20}}", "t", role, NOW) == expected
    assert username_template("{{.RoleName | truncate_sha256 40}}", "t", role, NOW) == role


def test_uuid_and_timezone() -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", username_template("{{uuid}}", "t", "r", NOW))
    plus2 = NOW.astimezone(timezone(timedelta(hours=2)))
    assert username_template('{{timestamp "15:04 -07:00"}}', "t", "r", plus2) == "12:00 +02:00"


@pytest.mark.parametrize("template, words", [
    ("{{.Secret}}", ".Secret"),
    ("{{env \"HOME\"}}", "'env'"),
    ("{{.RoleName | truncate 0}}", "truncate"),
    ('{{.RoleName | truncate "8"}}', "number"),
    ("{{.RoleName | truncate_sha256 8}}", "truncate_sha256"),
    ('{{printf "%x" .RoleName}}', "printf"),
    ('{{printf "%s-%s" .RoleName}}', "printf"),
    ("{{random 20", "unterminated"),
    ("{{ .RoleName .RoleName }}", "only a function"),
    ("{{ (.RoleName }}", ")"),
    ("{{ .RoleName | }}", "without a command"),
    ("{{ random 300 }}", "random"),
    ("{{ range .RoleName }}", "'range'"),
    ("{{}}", "without a command"),
])
def test_unsupported_templates_are_named(template: str, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_username_template(template)
    assert words in caught.value.message


def test_usernames_over_63_bytes_are_refused() -> None:
    with pytest.raises(BadRequest, match="truncate 63"):
        username_template("{{.RoleName}}-{{random 60}}", "t", "role", NOW)
    validate_username_template(VAULT_DEFAULT)


# ----------------------------------------------------------------------------- passwords

def test_default_password_is_vaults() -> None:
    for _ in range(200):
        password = generate_password()
        assert len(password) == 20
        assert set(password) <= set(string.ascii_letters + string.digits + "-")
        for charset in (string.ascii_lowercase, string.ascii_uppercase, string.digits, "-"):
            assert set(password) & set(charset)
    assert generate_password() != generate_password()
    assert generate_password(None) and DEFAULT_POLICY.length == 20


def test_policy_from_vault_hcl() -> None:
    policy = PasswordPolicy.parse('''
length = 12
rule "charset" {
  charset = "abc"
  min-chars = 2
}
rule "charset" {
  charset = "!@"
  min_chars = 3
}
''')
    assert policy == PasswordPolicy(12, (CharsetRule("abc", 2), CharsetRule("!@", 3)))
    for _ in range(100):
        password = generate_password(policy)
        assert len(password) == 12 and set(password) <= set("abc!@")
        assert sum(c in "!@" for c in password) >= 3 and sum(c in "abc" for c in password) >= 2


def test_policy_from_dicts() -> None:
    expected = PasswordPolicy(8, (CharsetRule("xy", 1),))
    hcl_shape = {"length": 8, "rule": [{"charset": {"charset": "xyx", "min-chars": 1}}]}
    json_shape = {"length": 8, "rule": {"charset": [{"charset": "xy", "min-chars": 1}]}}
    assert PasswordPolicy.parse(hcl_shape) == expected == PasswordPolicy.parse(json_shape)


@pytest.mark.parametrize("source, words", [
    ('length = 3\nrule "charset" {\n charset = "a"\n}\n', "length must be"),
    ('length = 101\nrule "charset" {\n charset = "a"\n}\n', "length must be"),
    ("length = 10\n", "at least one rule"),
    ('length = 4\nrule "charset" {\n charset = "a"\n min-chars = 5\n}\n', "add up"),
    ('length = 8\nrule "charset" {\n charset = ""\n}\n', "charset"),
    ('length = 8\nrule "charset" {\n charset = "a"\n max = 1\n}\n', "max"),
    ('length = 8\nrule "regex" {\n pattern = "a"\n}\n', "'regex'"),
    ('length = 8\nsize = 1\nrule "charset" {\n charset = "a"\n}\n', "size"),
    ('length = "8"\nrule "charset" {\n charset = "a"\n}\n', "integer"),
    ("length = = 8", "not valid HCL"),
    ({"length": 8, "rule": ["charset"]}, "unsupported rule"),
])
def test_bad_policies_are_named(source: object, words: str) -> None:
    with pytest.raises(BadRequest) as caught:
        PasswordPolicy.parse(source)  # type: ignore[arg-type]
    assert words in caught.value.message
