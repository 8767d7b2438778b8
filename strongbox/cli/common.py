"""What every client command shares: global flags, building the SDK client, output, errors.

Contract
--------
- `global_flags()` is the argparse parent every client command is built with: Vault-style
  single-dash flags (``-format=json``), also accepted with two dashes (``--format json``).
- `command(sub, name, ...)` adds one leaf command with those flags, an epilog of examples
  and a handler ``(args) -> exit code``; `main` dispatches through `guarded`.
- `make_client(args)` builds `strongbox.client.Client`; unset flags fall back to the
  environment (``STRONGBOX_ADDR``/``VAULT_ADDR``, ``STRONGBOX_TOKEN``/``VAULT_TOKEN``, ...),
  which the SDK reads.
- `emit(args, data)` writes data to stdout only, as a table, JSON or YAML; ``-field=NAME``
  prints that one value raw (a string never JSON-quoted, vault#17889).
- `guarded(handler, args)` turns every failure into one line on stderr,
  ``Error: <message> (<status>, request id <id>)``, and an exit code: 0 ok, 1 error,
  2 usage. Nothing secret is ever part of such a line: server messages never hold one and
  local messages name files and fields, never values.

Threading: none; a command runs on the main thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import yaml

from strongbox.client import Client, errors

Handler = Callable[[argparse.Namespace], int]
if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction
FORMATS = ("table", "json", "yaml")


class UsageError(Exception):
    """Bad usage found after parsing (a missing argument, a malformed key=value): exit 2."""


class CommandFailed(Exception):
    """A failure the command explains itself (message already safe to print): exit 1."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def flag(parser: argparse.ArgumentParser | argparse._ArgumentGroup, name: str,
         **kwargs: Any) -> None:
    """Add ``-name`` and ``--name`` (Vault spells flags with one dash, GNU with two)."""
    kwargs.setdefault("dest", name.replace("-", "_"))
    parser.add_argument(f"-{name}", f"--{name}", **kwargs)


def global_flags(output: bool = True) -> argparse.ArgumentParser:
    """The parent parser of client commands: connection flags, and output flags."""
    parent = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    group = parent.add_argument_group("global options")
    if output:
        flag(group, "format", choices=FORMATS, default=None,
             help="output format: table (default), json or yaml")
        flag(group, "field", metavar="NAME", help="print only this field, raw (no quotes)")
    flag(group, "address", metavar="URL",
         help="server address(es), comma separated (default $STRONGBOX_ADDR, $VAULT_ADDR)")
    flag(group, "namespace", metavar="NS", help="namespace (default $STRONGBOX_NAMESPACE)")
    flag(group, "ca-cert", metavar="FILE", help="CA certificate to verify the server with")
    flag(group, "tls-skip-verify", action="store_true",
         help="do not verify the server's certificate (insecure)")
    return parent


_PARENTS = {True: global_flags(True), False: global_flags(False)}


def command(sub: SubParsers, name: str, handler: Handler, summary: str,
            examples: str = "", description: str = "", *,
            output: bool = True) -> argparse.ArgumentParser:
    """Add leaf command `name` with the global flags; `examples` becomes its epilog.

    `output=False` leaves out -format/-field (for commands whose -format means a file's).
    """
    parser = sub.add_parser(
        name, help=summary, description=description or summary, parents=[_PARENTS[output]],
        epilog=f"examples:\n{examples}" if examples else None, allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(handler=handler)
    return parser


def group(sub: SubParsers, name: str, summary: str) -> SubParsers:
    """Add a command group (``kv``, ``operator`` ...) and return its sub-command table."""
    parser = sub.add_parser(name, help=summary, description=summary, allow_abbrev=False)
    return parser.add_subparsers(dest=f"{name.replace('-', '_')}_action",
                                 metavar="ACTION", required=True)


def make_client(args: argparse.Namespace, token: str | None = None) -> Client:
    """The SDK client for the flags in `args` (None fields: the SDK reads the environment)."""
    return Client(address=getattr(args, "address", None), token=token,
                  namespace=getattr(args, "namespace", None),
                  cacert=getattr(args, "ca_cert", None),
                  tls_verify=False if getattr(args, "tls_skip_verify", False) else None)


# ----------------------------------------------------------------------------- output

def output_format(args: argparse.Namespace) -> str:
    """The -format flag, or $STRONGBOX_FORMAT / $VAULT_FORMAT, or table."""
    chosen = getattr(args, "format", None) or os.environ.get("STRONGBOX_FORMAT") \
        or os.environ.get("VAULT_FORMAT") or "table"
    if chosen not in FORMATS:
        raise UsageError(f"unknown output format {chosen!r}; use one of {', '.join(FORMATS)}")
    return chosen


def raw(value: Any) -> str:
    """A value as -field prints it: strings as they are, scalars lowercase, others JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, sort_keys=True)


def find_field(data: Mapping[str, Any], name: str,
               sections: Iterable[str] = ("data", "auth", "metadata")) -> Any:
    """`name` from `data` or one of its nested `sections`; CommandFailed if absent."""
    if name in data:
        return data[name]
    for section in sections:
        inner = data.get(section)
        if isinstance(inner, Mapping):
            try:
                return find_field(inner, name, sections)
            except CommandFailed:
                continue
    raise CommandFailed(f'field "{name}" not present in the response')


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str)


def to_yaml(data: Any) -> str:
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                               allow_unicode=True)
    return text.rstrip("\n")


def table(rows: Mapping[str, Any], headers: tuple[str, str] = ("Key", "Value")) -> str:
    """Vault's two-column table: a header, a rule of dashes, then `key  value` lines."""
    keys = [headers[0], *rows.keys()]
    width = max(len(str(k)) for k in keys)
    lines = [f"{headers[0]:<{width}}    {headers[1]}",
             f"{'-' * len(headers[0]):<{width}}    {'-' * len(headers[1])}"]
    for key, value in rows.items():
        shown = "n/a" if value is None or value == "" else raw(value)
        lines.append(f"{key!s:<{width}}    {shown}")
    return "\n".join(lines)


def column(title: str, values: Iterable[Any]) -> str:
    """A one-column list (``Keys`` / ``----`` / one value a line), as `vault list` prints."""
    return "\n".join([title, "-" * len(title), *(raw(v) for v in values)])


def emit(args: argparse.Namespace, data: Any, *, text: str | None = None,
         field_source: Mapping[str, Any] | None = None) -> int:
    """Print `data` in the chosen format (`text` is the table form when given); 0.

    With -field the value is looked up in `field_source` (default `data`) and printed raw.
    """
    name = getattr(args, "field", None)
    if name:
        source = field_source if field_source is not None else data
        if not isinstance(source, Mapping):
            raise CommandFailed("-field needs a response with fields")
        print(raw(find_field(source, name)))
        return 0
    chosen = output_format(args)
    if chosen == "json":
        print(to_json(data))
    elif chosen == "yaml":
        print(to_yaml(data))
    elif text is not None:
        if text:
            print(text)
    elif isinstance(data, Mapping):
        print(table(data))
    elif isinstance(data, list):
        print(column("Keys", data))
    else:
        print(raw(data))
    return 0


def success(args: argparse.Namespace, message: str) -> int:
    """A confirmation line (`Success! ...`), on stdout as Vault prints it; 0."""
    if output_format(args) == "table":
        print(f"Success! {message}")
    return 0


def warn(message: str) -> None:
    """One line of progress or warning on stderr (never data)."""
    print(message, file=sys.stderr, flush=True)


def read_stdin() -> str:
    """All of stdin (a value given as ``-``)."""
    return sys.stdin.read()


def parse_pairs(items: Iterable[str]) -> dict[str, Any]:
    """Vault's ``key=value`` arguments: ``key=@file`` reads a file, ``key=-`` stdin.

    A lone ``-`` (or ``@file``) is a whole JSON object, read from stdin (or the file).
    UsageError names the malformed argument (never its value).
    """
    data: dict[str, Any] = {}
    for item in items:
        if item == "-" or (item.startswith("@") and "=" not in item):
            text = read_stdin() if item == "-" else _read_file(item[1:])
            data.update(_json_object(text, "stdin" if item == "-" else item[1:]))
            continue
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"expected key=value, got an argument without '=' "
                             f"(argument {len(data) + 1}: {key[:40]!r})")
        if value == "-":
            value = read_stdin().removesuffix("\n")
        elif value.startswith("@"):
            value = _read_file(value[1:])
        data[key] = value
    return data


def _read_file(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _json_object(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not valid JSON (line {getattr(exc, 'lineno', '?')})") \
            from None
    if not isinstance(value, dict):
        raise UsageError(f"{source} must hold a JSON object")
    return value


# ----------------------------------------------------------------------------- errors

def describe(exc: errors.ClientError) -> str:
    """``<message> (<status>, request id <id>)`` of an SDK error; no secret in it."""
    message = str(getattr(exc, "message", "") or exc) or type(exc).__name__
    details = []
    status = getattr(exc, "status", None)
    if status:
        details.append(str(status))
    request_id = getattr(exc, "request_id", None)
    if request_id:
        details.append(f"request id {request_id}")
    node = getattr(exc, "node", None)
    if node and not status and str(node) not in message:
        details.append(str(node))
    return f"{message} ({', '.join(details)})" if details else message


def guarded(handler: Handler, args: argparse.Namespace) -> int:
    """Run `handler`; every failure becomes one ``Error: ...`` line on stderr and a code."""
    try:
        return handler(args)
    except UsageError as exc:
        warn(f"Error: {exc}")
        return 2
    except CommandFailed as exc:
        warn(f"Error: {exc}")
        return exc.code
    except errors.ClientError as exc:
        warn(f"Error: {describe(exc)}")
        return 1
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        warn(f"Error: {exc.strerror or type(exc).__name__}{where}")
        return 1
    except KeyboardInterrupt:
        warn("Error: interrupted")
        return 130
    except Exception as exc:  # a bug here must still be one line, with no value in it
        if os.environ.get("STRONGBOX_CLI_DEBUG"):
            raise
        warn(f"Error: unexpected {type(exc).__name__} in the CLI (set STRONGBOX_CLI_DEBUG=1 "
             "for the traceback)")
        return 1
