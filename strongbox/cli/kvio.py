"""`strongbox kv export|import|diff`: secrets to and from files, and comparing secrets.

Contract
--------
- ``kv export PATH [-format=dotenv|json|yaml] [-o FILE]``: one secret's pairs. With
  ``-recursive`` PATH is a folder and the document is ``{"secrets": {"rel/path": {...}}}``
  (json or yaml only). The file is created mode 0600. Default format: dotenv.
- ``kv import PATH FILE|-``: a dotenv, JSON or YAML document (format from ``-format`` or
  the file's extension). A ``{"secrets": {...}}`` document writes every entry below PATH,
  reporting ``[i/n] ok|FAILED path`` on stderr and carrying on after a failure; the exit
  status is 1 if any entry failed. Any other mapping is one secret written at PATH.
- ``kv diff A B``: A and B are ``path``, ``path@N`` or a local file (dotenv/json/yaml);
  ``-version-a``/``-version-b`` pick versions when A and B are one path. Values are shown
  as ``****`` unless ``-reveal``. Exit 0 whether or not they differ (1 only on errors).

Threading: none.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from strongbox.cli.common import (
    SubParsers,
    UsageError,
    command,
    describe,
    emit,
    flag,
    make_client,
    output_format,
    raw,
    read_stdin,
    warn,
)
from strongbox.cli.dotenv import format_dotenv, parse_dotenv
from strongbox.cli.kv import split_version
from strongbox.cli.kvpaths import (
    KvTarget,
    read_secret,
    require_values,
    resolve,
    secret_values,
    walk,
    write_secret,
)
from strongbox.client import Client, errors

FILE_FORMATS = ("dotenv", "json", "yaml")
MASK = "****"


def render(document: Any, fmt: str) -> str:
    """`document` as dotenv, json or yaml text."""
    if fmt == "dotenv":
        if "secrets" in document and len(document) == 1:
            raise UsageError("a -recursive export cannot be dotenv; use -format=json or yaml")
        try:
            return format_dotenv(document)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if fmt == "yaml":
        text: str = yaml.safe_dump(document, sort_keys=True, allow_unicode=True)
        return text
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def parse_document(text: str, fmt: str, source: str) -> dict[str, Any]:
    """A dotenv/json/yaml document as a mapping; UsageError names the source, not content."""
    try:
        if fmt == "dotenv":
            return dict(parse_dotenv(text))
        value = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not valid json (line {exc.lineno})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{source}: not valid yaml{where}") from None
    except ValueError as exc:  # parse_dotenv: the message names the line, not its text
        raise UsageError(f"{source}: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{source}: the document must be a mapping of keys to values")
    return value


def file_format(path: str, chosen: str | None) -> str:
    """The explicit -format, else the format of `path`'s extension (default dotenv)."""
    if chosen:
        return chosen
    suffix = Path(path).suffix.lower()
    return {".json": "json", ".yaml": "yaml", ".yml": "yaml"}.get(suffix, "dotenv")


def _export_document(client: Client, args: argparse.Namespace) -> Any:
    target = resolve(client, args.path, args.mount)
    if not args.recursive:
        return require_values(client, target)
    prefix = f"{target.path}/" if target.path else ""
    secrets = {}
    for child in walk(client, target):
        body = read_secret(client, child)
        if body is None:  # its latest version is deleted or destroyed: nothing to export
            warn(f"skipped {child.full}: its latest version is deleted")
            continue
        secrets[child.path[len(prefix):]] = secret_values(body, child)
    return {"secrets": secrets}


def cmd_export(args: argparse.Namespace) -> int:
    client = make_client(args)
    text = render(_export_document(client, args), args.file_format or "dotenv")
    if args.output and args.output != "-":
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        warn(f"exported to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _import_tree(client: Client, base: KvTarget, secrets: Mapping[str, Any]) -> int:
    failed, total = 0, len(secrets)
    for index, (rel, values) in enumerate(sorted(secrets.items()), start=1):
        child = base.child(str(rel).strip("/"))
        try:
            if not isinstance(values, Mapping):
                raise UsageError("the entry is not a mapping of keys to values")
            write_secret(client, child, values)
            warn(f"[{index}/{total}] ok {child.full}")
        except (errors.ClientError, UsageError) as exc:
            failed += 1
            reason = describe(exc) if isinstance(exc, errors.ClientError) else str(exc)
            warn(f"[{index}/{total}] FAILED {child.full}: {reason}")
    warn(f"imported {total - failed} of {total} secrets" + (f"; {failed} failed" if failed
                                                            else ""))
    return 1 if failed else 0


def cmd_import(args: argparse.Namespace) -> int:
    if args.file == "-":
        text, source = read_stdin(), "stdin"
    else:
        text, source = Path(args.file).read_text(encoding="utf-8"), args.file
    document = parse_document(text, file_format(args.file, args.file_format), source)
    client = make_client(args)
    target = resolve(client, args.path, args.mount)
    secrets = document.get("secrets")
    if len(document) == 1 and isinstance(secrets, Mapping):
        return _import_tree(client, target, secrets)
    if not document:
        raise UsageError(f"{source}: nothing to import")
    write_secret(client, target, document)
    warn(f"imported {len(document)} keys to {target.full}")
    return 0


@dataclass(frozen=True, slots=True)
class Difference:
    """How two key/value sets differ: keys only in A, only in B, and in both but unequal."""

    removed: dict[str, Any]
    added: dict[str, Any]
    changed: dict[str, tuple[Any, Any]]

    @classmethod
    def of(cls, a: Mapping[str, Any], b: Mapping[str, Any]) -> Difference:
        return cls({k: a[k] for k in a if k not in b}, {k: b[k] for k in b if k not in a},
                   {k: (a[k], b[k]) for k in a if k in b and a[k] != b[k]})

    def lines(self, reveal: bool) -> list[str]:
        """``- key = v`` / ``+ key = v`` / ``~ key: a -> b``, sorted; values masked."""
        def shown(value: Any) -> str:
            return raw(value) if reveal else MASK
        out = [f"- {k} = {shown(v)}" for k, v in sorted(self.removed.items())]
        out += [f"+ {k} = {shown(v)}" for k, v in sorted(self.added.items())]
        out += [f"~ {k}: {shown(a)} -> {shown(b)}" for k, (a, b) in sorted(self.changed.items())]
        return out

    def document(self, reveal: bool) -> dict[str, Any]:
        if reveal:
            return {"removed": self.removed, "added": self.added,
                    "changed": {k: {"a": a, "b": b} for k, (a, b) in self.changed.items()}}
        return {"removed": sorted(self.removed), "added": sorted(self.added),
                "changed": sorted(self.changed)}


def _side(client: Client, spec: str, version: int | None,
          mount: str | None) -> dict[str, Any]:
    local = Path(spec)
    if local.is_file():
        return parse_document(local.read_text(encoding="utf-8"), file_format(spec, None), spec)
    path, at = split_version(spec)
    return require_values(client, resolve(client, path, mount), at or version)


def cmd_diff(args: argparse.Namespace) -> int:
    b_spec = args.b or args.a
    if b_spec == args.a and not (args.version_a or args.version_b) and "@" not in args.a:
        raise UsageError("give two paths, path@N path@M, or -version-a/-version-b")
    client = make_client(args)
    diff = Difference.of(_side(client, args.a, args.version_a, args.mount),
                         _side(client, b_spec, args.version_b, args.mount))
    if output_format(args) != "table":
        return emit(args, diff.document(args.reveal))
    lines = diff.lines(args.reveal)
    print("\n".join(lines) if lines else "no differences")
    return 0


def register(actions: SubParsers) -> None:
    """Add ``kv export|import|diff`` to the `kv` table."""
    export = command(actions, "export", cmd_export, "write a secret (or a tree) to a file",
                     output=False, examples=
                     "  strongbox kv export secret/app/prod > prod.env\n"
                     "  strongbox kv export -format=json -recursive secret/app -o app.json\n",
                     description=__doc__ or "")
    export.add_argument("path", metavar="PATH")
    flag(export, "recursive", action="store_true", help="every secret below PATH")
    export.add_argument("-o", "-output", "--output", dest="output", metavar="FILE",
                        help="write here (mode 0600) instead of stdout")
    imp = command(actions, "import", cmd_import, "write secrets from a file",
                  output=False, examples=
                  "  strongbox kv import secret/app/prod prod.env\n"
                  "  strongbox kv import -format=json secret/app - < app.json\n",
                  description=__doc__ or "")
    imp.add_argument("path", metavar="PATH")
    imp.add_argument("file", metavar="FILE|-")
    diff = command(actions, "diff", cmd_diff, "compare two secrets, versions or a .env file",
                   "  strongbox kv diff secret/app/staging secret/app/prod\n"
                   "  strongbox kv diff secret/app/db@1 secret/app/db@2\n"
                   "  strongbox kv diff -version-a=1 -version-b=3 secret/app/db\n"
                   "  strongbox kv diff -reveal secret/app/prod local.env\n", __doc__ or "")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B", nargs="?")
    flag(diff, "version-a", type=int, help="version of A (v2)")
    flag(diff, "version-b", type=int, help="version of B (v2)")
    flag(diff, "reveal", action="store_true", help="show the values (default ****)")
    for parser in (export, imp, diff):
        flag(parser, "mount", metavar="MOUNT", help="the KV mount (default: detected)")
    for parser in (export, imp):
        flag(parser, "format", dest="file_format", choices=FILE_FORMATS,
             help="file format: dotenv, json or yaml (default: from the file name, "
             "else dotenv)")
