"""Reading and writing ``.env`` files, and the environment-variable name rules of `run`.

Contract
--------
`format_dotenv(values)` writes one ``KEY="value"`` line per key, sorted; inside the double
quotes ``\\``, ``"``, ``$``, newline, carriage return and tab are escaped, so any string
survives `parse_dotenv(format_dotenv(v)) == v`. Non-string values are written as JSON.
`parse_dotenv(text)` accepts what people write by hand too: ``export KEY=v``, ``#``
comments, blank lines, single quotes (literal), double quotes (escapes), unquoted values
(trimmed; `` #`` starts a comment). A malformed line raises ValueError naming its line
number, never its content.
`check_env_name(name, allowed)` refuses names that are not ``^[A-Za-z_][A-Za-z0-9_]*$``
and the names that change how a program is loaded (``PATH``, ``LD_*``, ``DYLD_*``,
``PYTHONPATH``...) unless listed in `allowed`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DANGEROUS = frozenset({"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "PATH", "PYTHONPATH",
                       "PYTHONHOME", "PYTHONSTARTUP", "NODE_OPTIONS", "PERL5LIB", "RUBYOPT",
                       "BASH_ENV", "ENV", "IFS"})
DANGEROUS_PREFIXES = ("DYLD_", "LD_")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNESCAPES = {"\\": "\\", '"': '"', "$": "$", "n": "\n", "r": "\r", "t": "\t", "'": "'"}
_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*)")


def check_env_name(name: str, allowed: Iterable[str] = ()) -> str | None:
    """None if `name` may be set in a child's environment, else the reason it may not."""
    if not ENV_NAME.fullmatch(name):
        return (f"{name!r} is not a valid environment variable name "
                "(letters, digits and _, not starting with a digit)")
    if name in set(allowed):
        return None
    if name in DANGEROUS or name.startswith(DANGEROUS_PREFIXES):
        return (f"{name} changes how programs are loaded and is refused; "
                f"pass --allow-env {name} to set it anyway")
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def quote(value: str) -> str:
    """`value` in double quotes with the characters a shell or a parser would change escaped."""
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in value) + '"'


def format_dotenv(values: Mapping[str, Any]) -> str:
    """A ``.env`` text of `values` (sorted keys; ValueError on a key no shell could use)."""
    lines = []
    for key in sorted(values):
        if not ENV_NAME.fullmatch(key):
            raise ValueError(f"key {key!r} cannot be a .env variable name; "
                             "export as json or yaml instead")
        lines.append(f"{key}={quote(_text(values[key]))}")
    return "\n".join(lines) + ("\n" if lines else "")


def _unquote_double(body: str, number: int) -> tuple[str, str]:
    """(value, rest after the closing quote) of a double-quoted value."""
    out, index = [], 0
    while index < len(body):
        ch = body[index]
        if ch == "\\" and index + 1 < len(body):
            nxt = body[index + 1]
            out.append(_UNESCAPES.get(nxt, "\\" + nxt))
            index += 2
            continue
        if ch == '"':
            return "".join(out), body[index + 1:]
        out.append(ch)
        index += 1
    raise ValueError(f"line {number}: unterminated double quote")


def _value(raw: str, number: int) -> str:
    if raw.startswith('"'):
        value, rest = _unquote_double(raw[1:], number)
    elif raw.startswith("'"):
        end = raw.find("'", 1)
        if end < 0:
            raise ValueError(f"line {number}: unterminated single quote")
        value, rest = raw[1:end], raw[end + 1:]
    else:
        return re.split(r"\s+#", raw, maxsplit=1)[0].strip()
    if rest.strip() and not rest.strip().startswith("#"):
        raise ValueError(f"line {number}: unexpected text after the closing quote")
    return value


def parse_dotenv(text: str) -> dict[str, str]:
    """The variables of a ``.env`` text (later lines win); ValueError names a bad line."""
    values: dict[str, str] = {}
    # Only \n ends a line: str.splitlines would also split on \x1e, \x85, \u2028 ...
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ValueError(f"line {number}: expected KEY=value")
        values[match.group(1)] = _value(match.group(2), number)
    return values
