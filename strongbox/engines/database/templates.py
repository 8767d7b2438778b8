"""Templating for the Database engine: SQL statements, usernames, passwords.

Statements (`render`, `validate`): Vault-style strings with `{{name}}` (alias
`{{username}}`), `{{password}}`, `{{expiration}}`, scanned as PostgreSQL's lexer does
(quotes with `""`/`''` doubling, `E'...'`, dollar quotes, comments). No value is
pasted into SQL: a quoted identifier holding a placeholder (`"{{name}}"`) becomes a
`psycopg.sql.Identifier`, a string literal (`'{{password}}'`) a `psycopg.sql.Literal`,
a bare `{{name}}` an Identifier and a bare `{{password}}`/`{{expiration}}` a Literal.
A dollar-quoted body with placeholders (`DO $$ ... $$`) is scanned likewise and
re-quoted with a tag no value contains; inside a literal (dynamic SQL for EXECUTE)
`"{{name}}"` and `''{{password}}''` get their quotes doubled. `;` outside quotes
separates statements. BadRequest for unknown placeholders, unterminated quotes and
placeholders in `E'...'`/`U&'...'`/`U&"..."`; placeholders in comments are left alone.

Usernames (`username_template`): the subset of Vault's Go templates its plugins use:
`.DisplayName`, `.RoleName`, pipes, parentheses, string/number literals, printf (%s
%d %v %%), random, truncate, truncate_sha256, uppercase, lowercase, replace, sha256,
base64, unix_time, unix_time_millis, timestamp, uuid.

Passwords (`generate_password`) follow a Vault password policy (`PasswordPolicy`).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import re
import secrets
import string
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import hcl2
from hcl2.utils import SerializationOptions
from psycopg import sql

from strongbox.errors import BadRequest

PLACEHOLDERS = ("name", "username", "password", "expiration")
_IDENTIFIERS = ("name", "username")
_PH = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_DOLLAR = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_WORD = re.compile(r"[A-Za-z0-9_$\x80-\uffff]")

# A scanned piece: ("sql", text) | ("ph", name) | ("ident", content) | ("lit", content)
# | ("dollar", [pieces]); `content` is unescaped and still holds its placeholders.
Piece = tuple[str, Any]


def validate(statement: str) -> None:
    """BadRequest when `statement` has an unknown placeholder, an unterminated quote,
    comment or dollar quote, or a placeholder where it cannot be rendered safely."""
    _split(statement)


def render(statement: str, values: Mapping[str, str]) -> list[sql.Composed]:
    """The statements of `statement` with placeholders rendered from `values`
    ("name" and "username" stand for each other). Statements of only blanks and
    comments are dropped. BadRequest when a placeholder used has no value."""
    full = dict(values)
    if "name" in full or "username" in full:
        full.setdefault("name", full.get("username", ""))
        full.setdefault("username", full["name"])
    return [sql.Composed([_compose(p, full) for p in pieces]) for pieces in _split(statement)]


def _split(text: str) -> list[list[Piece]]:
    for match in _PH.finditer(text):
        if match.group(1) not in PLACEHOLDERS:
            raise BadRequest(f"unknown placeholder {match.group(0)!r} in a statement; known: "
                             + ", ".join(f"{{{{{n}}}}}" for n in PLACEHOLDERS))
    statements: list[list[Piece]] = []
    pos = 0
    while pos < len(text):
        pieces, code, pos = _scan(text, pos, split=True)
        if code:
            statements.append(pieces)
    return statements


def _scan(text: str, pos: int, *, split: bool) -> tuple[list[Piece], bool, int]:
    """Scan from `pos` to the next top-level `;` (if `split`) or the end: the pieces,
    whether anything but blanks and comments was seen, and where to go on."""
    pieces: list[Piece] = []
    raw: list[str] = []
    code = False
    while pos < len(text):
        ch, two = text[pos], text[pos: pos + 2]
        if ch == ";" and split:
            pos += 1
            break
        if two in ("--", "/*"):
            end = _comment_end(text, pos) if two == "/*" else text.find("\n", pos) + 1
            end = end or len(text)
        else:
            code = code or not ch.isspace()
            token = _quoted(text, pos) if ch in "'\"$" else None
            match = _PH.match(text, pos) if ch == "{" else None
            piece = token[:2] if token and token[0] else ("ph", match.group(1)) if match else None
            end = token[2] if token else match.end() if match else pos + 1
            if piece is not None:
                pieces.append(("sql", "".join(raw)))
                pieces.append(piece)
                raw.clear()
                pos = end
                continue
        raw.append(text[pos:end])
        pos = end
    pieces.append(("sql", "".join(raw)))
    return [p for p in pieces if p != ("sql", "")], code, pos


def _comment_end(text: str, pos: int) -> int:
    """Where the (nesting) block comment starting at `pos` ends."""
    depth, i = 0, pos
    while i < len(text) - 1:
        pair = text[i: i + 2]
        depth += {"/*": 1, "*/": -1}.get(pair, 0)
        i += 2 if pair in ("/*", "*/") else 1
        if depth == 0:
            return i
    raise BadRequest("a statement has an unterminated /* comment")


def _quoted(text: str, pos: int) -> tuple[str, Any, int] | None:
    """The quoted token at `pos` as (kind, content, end); kind "" when it holds no
    placeholder (kept verbatim). None when this `$` starts no dollar quote."""
    ch, before = text[pos], text[max(0, pos - 2): pos]
    if ch == "$":
        match = _DOLLAR.match(text, pos)
        if match is None or (pos > 0 and _WORD.match(text[pos - 1])):
            return None
        tag = match.group(0)
        end = text.find(tag, match.end())
        if end < 0:
            raise BadRequest(f"a statement has an unterminated dollar quote {tag}")
        body = text[match.end(): end]
        if not _PH.search(body):
            return "", None, end + len(tag)
        return "dollar", _scan(body, 0, split=False)[0], end + len(tag)
    escaped = ch == "'" and before[-1:] in ("e", "E") and not _WORD.match(before[-2:-1] or " ")
    i = pos + 1
    while i < len(text) and (text[i] != ch or text[i + 1: i + 2] == ch):
        i += 2 if (escaped and text[i] == "\\") or text[i] == ch else 1
    if i >= len(text):
        raise BadRequest(f"a statement has an unterminated {ch}...{ch} quote")
    content = text[pos + 1: i]
    if not _PH.search(content):
        return "", None, i + 1
    if escaped or before.upper() == "U&":
        raise BadRequest("a placeholder inside an E'...' or U&'...' string is not supported: "
                         "use a plain '...' string or \"...\" identifier")
    return ("ident" if ch == '"' else "lit"), content.replace(ch * 2, ch), i + 1


def _value(name: str, values: Mapping[str, str]) -> str:
    if name in values:
        return values[name]
    raise BadRequest(f"placeholder {{{{{name}}}}} has no value in these statements "
                     "({{password}} exists only where a password is set)")


def _fill(content: str, values: Mapping[str, str]) -> str:
    """`content` with its placeholders replaced; a `"{{x}}"` or `'{{x}}'` inside it
    gets its quotes doubled (dynamic SQL)."""

    def sub(match: re.Match[str]) -> str:
        value, quote = _value(match.group(2), values), match.group(1)
        return quote + value.replace(quote, quote * 2) + quote if quote else value

    return re.sub(r"""(["']?)\{\{\s*([^{}]*?)\s*\}\}\1""", sub, content)


def _compose(piece: Piece, values: Mapping[str, str]) -> sql.Composable:
    kind, content = piece
    if kind == "sql":
        return sql.SQL(content)
    if kind == "ph":
        value = _value(content, values)
        return sql.Identifier(value) if content in _IDENTIFIERS else sql.Literal(value)
    if kind in ("ident", "lit"):
        filled = _fill(content, values)
        return sql.Identifier(filled) if kind == "ident" else sql.Literal(filled)
    tag = f"$sb{secrets.token_hex(6)}$"  # random: the statement's author cannot know it
    while any(tag in v for v in values.values()):
        tag = f"$sb{secrets.token_hex(6)}$"
    return sql.Composed([sql.SQL(tag), *(_compose(p, values) for p in content), sql.SQL(tag)])


# --------------------------------------------------------------------------- usernames

_TOKEN = re.compile(r"""\s*(?:(\.[A-Za-z_]\w*)|("(?:[^"\\]|\\.)*"|`[^`]*`)|(-?\d+)"""
                    r"""|([A-Za-z_]\w*)|(\|)|(\()|(\)))""")
_KINDS = ("field", "string", "number", "ident", "pipe", "open", "close")
MAX_USERNAME_BYTES = 63
Tokens = list[tuple[str, str]]


@dataclass(frozen=True)
class _Env:
    fields: Mapping[str, str]  # .DisplayName, .RoleName
    now: datetime


def username_template(template: str, display_name: str, role_name: str, now: datetime,
                      *, max_bytes: int = MAX_USERNAME_BYTES) -> str:
    """Evaluate a Vault username template. BadRequest when the template is not
    supported, or the username is empty, holds NUL or is over `max_bytes` UTF-8
    bytes (PostgreSQL would silently truncate a longer role name)."""
    env = _Env({"DisplayName": display_name, "RoleName": role_name}, now)
    out: list[str] = []
    for text, action in _actions(template):
        out.append(text)
        if action is not None:
            tokens = _tokens(action)
            value, pos = _pipeline(tokens, 0, env)
            if pos != len(tokens):
                raise BadRequest(f"username_template: unexpected {tokens[pos][1]!r} in "
                                 f"{{{{{action}}}}}")
            out.append(str(value))
    name = "".join(out)
    size = len(name.encode())
    if not name or "\x00" in name or size > max_bytes:
        raise BadRequest(f"username_template gives a {size}-byte username; it must be 1 to "
                         f"{max_bytes} bytes without NUL: add `| truncate {max_bytes}`")
    return name


def validate_username_template(template: str) -> None:
    """BadRequest unless `template` evaluates for a typical display and role name."""
    username_template(template, "token", "role", datetime.now().astimezone())


def _actions(template: str) -> list[tuple[str, str | None]]:
    """(text, action) pairs; the last action is None."""
    parts: list[tuple[str, str | None]] = []
    pos = 0
    while (start := template.find("{{", pos)) >= 0:
        end = template.find("}}", start)
        if end < 0:
            raise BadRequest("username_template has an unterminated {{")
        parts.append((template[pos:start], template[start + 2: end]))
        pos = end + 2
    return [*parts, (template[pos:], None)]


def _tokens(action: str) -> Tokens:
    out: Tokens = []
    pos = 0
    while action[pos:].strip():
        match = _TOKEN.match(action, pos)
        if match is None or match.lastindex is None:
            raise BadRequest(f"username_template: unsupported syntax {action[pos:].strip()!r}")
        out.append((_KINDS[match.lastindex - 1], match.group(match.lastindex)))
        pos = match.end()
    return out


def _pipeline(tokens: Tokens, pos: int, env: _Env) -> tuple[Any, int]:
    value, pos = _command(tokens, pos, env, None)
    while pos < len(tokens) and tokens[pos][0] == "pipe":
        value, pos = _command(tokens, pos + 1, env, [value])
    return value, pos


def _command(tokens: Tokens, pos: int, env: _Env, piped: list[Any] | None) -> tuple[Any, int]:
    """One command: a function call (its arguments, then the piped value) or an operand."""
    if pos >= len(tokens):
        raise BadRequest("username_template: a pipeline ends without a command")
    kind, text = tokens[pos]
    if kind == "ident":
        args: list[Any] = []
        pos += 1
        while pos < len(tokens) and tokens[pos][0] not in ("pipe", "close"):
            arg, pos = _operand(tokens, pos, env)
            args.append(arg)
        return _call(text, args + (piped or []), env), pos
    value, pos = _operand(tokens, pos, env)
    if piped is not None or (pos < len(tokens) and tokens[pos][0] not in ("pipe", "close")):
        raise BadRequest("username_template: only a function can take arguments or a piped value")
    return value, pos


def _operand(tokens: Tokens, pos: int, env: _Env) -> tuple[Any, int]:
    kind, text = tokens[pos]
    if kind == "field":
        if text[1:] not in env.fields:
            raise BadRequest(f"username_template: unknown field {text} (supported: "
                             ".DisplayName, .RoleName)")
        return env.fields[text[1:]], pos + 1
    if kind == "string":
        try:
            return (text[1:-1] if text[0] == "`" else str(ast.literal_eval(text))), pos + 1
        except (ValueError, SyntaxError):
            raise BadRequest(f"username_template: bad string literal {text}") from None
    if kind in ("number", "ident"):
        return (int(text) if kind == "number" else _call(text, [], env)), pos + 1
    if kind == "open":
        value, pos = _pipeline(tokens, pos + 1, env)
        if pos >= len(tokens) or tokens[pos][0] != "close":
            raise BadRequest("username_template: missing )")
        return value, pos + 1
    raise BadRequest(f"username_template: unexpected {text!r}")


def _truncate_bytes(value: str, size: int) -> str:
    """At most `size` UTF-8 bytes of `value` (Go counts bytes), no character split."""
    return value.encode()[:size].decode("utf-8", "ignore")


def _length(func: str, n: int, low: int, high: int = 1 << 16) -> int:
    if low <= n <= high:
        return n
    raise BadRequest(f"username_template: {func} needs a length {low}..{high}, not {n}")


def _trunc_sha(env: _Env, n: int, s: str) -> str:
    """Vault's truncate_sha256: over `n` bytes, keep n-8 and append 8 hex digits of
    the SHA-256 of the rest."""
    if len(s.encode()) <= _length("truncate_sha256", n, 9):
        return s
    head = _truncate_bytes(s, n - 8)  # the hash covers the rest, as Vault's
    return head + hashlib.sha256(s.encode()[len(head.encode()):]).hexdigest()[:8]


def _printf(env: _Env, fmt: str, *args: Any) -> str:
    """Go's printf with the verbs %s, %d, %v and %%."""
    verbs = re.findall(r"%.?", fmt)
    if any(v not in ("%s", "%d", "%v", "%%") for v in verbs) or len(args) != sum(
            v != "%%" for v in verbs):
        raise BadRequest(f"username_template: printf {fmt!r} needs one argument per %s, %d "
                         "or %v, the only verbs besides %%")
    return re.sub(r"%[dv]", "%s", fmt) % tuple(str(a) for a in args)


_GO_LAYOUT = {"2006": "%Y", "January": "%B", "Jan": "%b", "Monday": "%A", "Mon": "%a",
              "MST": "%Z", "Z07:00": "Z:", "Z0700": "Z", "-07:00": ":z", "-0700": "%z",
              ".000000000": ".ns", ".000000": ".%f", ".000": ".ms", "01": "%m", "02": "%d",
              "15": "%H", "03": "%I", "04": "%M", "05": "%S", "06": "%y", "PM": "%p"}
_GO_TOKEN = re.compile("|".join(re.escape(go) for go in _GO_LAYOUT))


def _timestamp(env: _Env, layout: str) -> str:
    """`env.now` in a Go reference-time layout (its common tokens; other text kept)."""
    now, offset = env.now, env.now.strftime("%z")
    colon = f"{offset[:3]}:{offset[3:]}" if offset else ""
    utc = offset in ("", "+0000")
    special = {"Z:": "Z" if utc else colon, "Z": "Z" if utc else offset, ":z": colon,
               ".ns": f".{now.microsecond * 1000:09d}", ".ms": f".{now.microsecond // 1000:03d}"}

    def one(match: re.Match[str]) -> str:
        py = _GO_LAYOUT[match.group(0)]
        return special[py] if py in special else now.strftime(py)

    return _GO_TOKEN.sub(one, layout)


_FUNCS: dict[str, tuple[tuple[type, ...], Callable[..., str]]] = {
    "printf": ((str,), _printf),
    "random": ((int,), lambda env, n: "".join(secrets.choice(string.ascii_letters + string.digits)
                                              for _ in range(_length("random", n, 1, 256)))),
    "truncate": ((int, str), lambda env, n, s: _truncate_bytes(s, _length("truncate", n, 1))),
    "truncate_sha256": ((int, str), _trunc_sha),
    "uppercase": ((str,), lambda env, s: s.upper()),
    "lowercase": ((str,), lambda env, s: s.lower()),
    "replace": ((str, str, str), lambda env, find, new, s: s.replace(find, new)),
    "sha256": ((str,), lambda env, s: hashlib.sha256(s.encode()).hexdigest()),
    "base64": ((str,), lambda env, s: base64.b64encode(s.encode()).decode()),
    "unix_time": ((), lambda env: str(int(env.now.timestamp()))),
    "unix_time_millis": ((), lambda env: str(int(env.now.timestamp() * 1000))),
    "timestamp": ((str,), _timestamp),
    "uuid": ((), lambda env: str(uuid.uuid4())),
}


def _call(name: str, args: list[Any], env: _Env) -> str:
    """Call template function `name`: numbers where it takes a length, strings
    elsewhere (Go converts nothing either: "8" is not a length)."""
    if name not in _FUNCS:
        raise BadRequest(f"username_template: unsupported function {name!r} (supported: "
                         + ", ".join(sorted(_FUNCS)) + ")")
    types, fn = _FUNCS[name]
    if len(args) < len(types) or (name != "printf" and len(args) > len(types)):
        raise BadRequest(f"username_template: {name} takes {len(types)} argument(s), "
                         f"got {len(args)}")
    for arg, kind in zip(args, types, strict=False):
        if not isinstance(arg, kind) or isinstance(arg, bool):
            raise BadRequest(f"username_template: {name} needs a "
                             f"{'number' if kind is int else 'string'} argument")
    return fn(env, *args)


# --------------------------------------------------------------------------- passwords

MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 4, 100


@dataclass(frozen=True)
class CharsetRule:
    """At least `min_chars` characters of the password come from `charset`."""

    charset: str
    min_chars: int = 0


@dataclass(frozen=True)
class PasswordPolicy:
    """A Vault password policy: `length` characters from the union of the rules'
    charsets, every rule's minimum met."""

    length: int
    rules: tuple[CharsetRule, ...]

    @classmethod
    def parse(cls, source: str | Mapping[str, Any]) -> PasswordPolicy:
        """From Vault's HCL (`length = 20` and `rule "charset" { charset = "..."
        min-chars = 1 }`; `min_chars` accepted too) or the same as a dict (HCL-to-dict
        or JSON shape). BadRequest naming what is wrong."""
        data = _policy_dict(source) if isinstance(source, str) else dict(source)
        unknown = sorted(set(data) - {"length", "rule"})
        if unknown:
            raise BadRequest(f"password policy: unknown key(s) {', '.join(unknown)}")
        length = data.get("length")
        if not isinstance(length, int) or isinstance(length, bool):
            raise BadRequest("password policy: length must be an integer")
        policy = cls(length, _rules(data.get("rule", [])))
        policy.check()
        return policy

    def check(self) -> None:
        """BadRequest unless the policy can generate a password."""
        if not MIN_PASSWORD_LENGTH <= self.length <= MAX_PASSWORD_LENGTH:
            raise BadRequest(f"password policy: length must be {MIN_PASSWORD_LENGTH} to "
                             f"{MAX_PASSWORD_LENGTH}, not {self.length}")
        if not self.rules:
            raise BadRequest('password policy: at least one rule "charset" is required')
        if sum(r.min_chars for r in self.rules) > self.length:
            raise BadRequest("password policy: the rules' min-chars add up to more than length")

    def generate(self) -> str:
        """A fresh password (from `secrets`) meeting every rule."""
        alphabet = "".join(dict.fromkeys("".join(r.charset for r in self.rules)))
        chars = [secrets.choice(r.charset) for r in self.rules for _ in range(r.min_chars)]
        chars += [secrets.choice(alphabet) for _ in range(self.length - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        return "".join(chars)


def _policy_dict(text: str) -> dict[str, Any]:
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    try:
        return dict(hcl2.loads(text.rstrip("\n") + "\n", serialization_options=options))
    except Exception as exc:  # python-hcl2 raises lark's errors, some with a line
        line = getattr(exc, "line", None)
        raise BadRequest(f"password policy is not valid HCL{f' (line {line})' * bool(line)}"
                         ) from None


def _rules(rules: Any) -> tuple[CharsetRule, ...]:
    """The `rule "charset"` blocks: [{"charset": {...}}] (HCL) or {"charset": [...]}."""
    bodies: list[Any] = []
    for item in rules if isinstance(rules, list) else [rules]:
        for kind, body in item.items() if isinstance(item, dict) else [("", None)]:
            if kind != "charset":
                raise BadRequest(f"password policy: unsupported rule {kind!r}: only "
                                 'rule "charset" { charset = "..." min-chars = N }')
            bodies += body if isinstance(body, list) else [body]
    return tuple(_rule(body) for body in bodies)


def _rule(body: Any) -> CharsetRule:
    body = body if isinstance(body, dict) else {"": None}
    unknown = sorted(set(body) - {"charset", "min-chars", "min_chars"})
    if unknown:
        raise BadRequest(f'password policy: unknown key(s) {unknown} in rule "charset"')
    charset, minimum = body.get("charset"), body.get("min-chars", body.get("min_chars", 0))
    if not isinstance(charset, str) or not charset or not charset.isprintable():
        raise BadRequest('password policy: rule "charset" needs a charset of printable '
                         "characters")
    if not isinstance(minimum, int) or isinstance(minimum, bool) or minimum < 0:
        raise BadRequest("password policy: min-chars must be an integer >= 0")
    return CharsetRule("".join(dict.fromkeys(charset)), minimum)


DEFAULT_POLICY = PasswordPolicy(20, (
    CharsetRule(string.ascii_lowercase, 1), CharsetRule(string.ascii_uppercase, 1),
    CharsetRule(string.digits, 1), CharsetRule("-", 1)))


def generate_password(policy: PasswordPolicy | None = None) -> str:
    """A password from `policy`, or Vault's default: 20 characters of [a-zA-Z0-9-]
    with at least one lowercase, uppercase, digit and "-" (safe in connection URLs)."""
    return (policy or DEFAULT_POLICY).generate()
