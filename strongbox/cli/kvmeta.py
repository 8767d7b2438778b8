"""`strongbox kv metadata get|put|delete`: a KV v2 secret's metadata, as in Vault.

Contract: `put` sends only the flags given (``-max-versions``, ``-cas-required``,
``-delete-version-after``, ``-custom-metadata=k=v`` repeatable, ``-destroy-protection``);
`delete` removes every version and the metadata (refused while destroy_protection is
set). Threading: none.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from strongbox.cli.common import (
    CommandFailed,
    SubParsers,
    UsageError,
    emit,
    flag,
    make_client,
    success,
    table,
)
from strongbox.cli.kvpaths import KvTarget, body_data, call, resolve
from strongbox.client import errors

PathCommand = Callable[..., argparse.ArgumentParser]


def _target(args: argparse.Namespace) -> tuple[Any, KvTarget]:
    client = make_client(args)
    target = resolve(client, args.path, args.mount)
    target.require_v2("kv metadata")
    return client, target


def metadata_text(data: dict[str, Any]) -> str:
    """Vault's layout: the metadata table, then one table per version."""
    versions = data.get("versions") or {}
    top = {k: v for k, v in sorted(data.items()) if k != "versions"}
    parts = [f"======= Metadata =======\n{table(top)}"]
    for number in sorted(versions, key=int):
        parts.append(f"====== Version {number} ======\n{table(versions[number])}")
    return "\n\n".join(parts)


def cmd_get(args: argparse.Namespace) -> int:
    client, target = _target(args)
    try:
        body = call(client, "GET", target.api("metadata"))
    except errors.NotFound:
        raise CommandFailed(f"No value found at {target.api('metadata')}", code=2) from None
    data = body_data(body)
    return emit(args, body, text=metadata_text(data), field_source=data)


def _bool(text: str | None, name: str) -> bool | None:
    if text is None:
        return None
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise UsageError(f"-{name} must be true or false")


def metadata_body(args: argparse.Namespace) -> dict[str, Any]:
    """The metadata write of the flags that were given; UsageError if none was."""
    body: dict[str, Any] = {}
    if args.max_versions is not None:
        body["max_versions"] = args.max_versions
    if (cas := _bool(args.cas_required, "cas-required")) is not None:
        body["cas_required"] = cas
    if args.delete_version_after:
        body["delete_version_after"] = args.delete_version_after
    if (protect := _bool(args.destroy_protection, "destroy-protection")) is not None:
        body["destroy_protection"] = protect
    if args.custom_metadata:
        pairs = {}
        for item in args.custom_metadata:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError("-custom-metadata takes key=value")
            pairs[key] = value
        body["custom_metadata"] = pairs
    if not body:
        raise UsageError("nothing to change: give -max-versions, -cas-required, "
                         "-delete-version-after, -custom-metadata or -destroy-protection")
    return body


def cmd_put(args: argparse.Namespace) -> int:
    body = metadata_body(args)
    client, target = _target(args)
    call(client, "POST", target.api("metadata"), json=body)
    return success(args, f"Data written to: {target.api('metadata')}")


def cmd_delete(args: argparse.Namespace) -> int:
    client, target = _target(args)
    call(client, "DELETE", target.api("metadata"))
    return success(args, f"Data deleted (if it existed) at: {target.api('metadata')}")


def register(actions: SubParsers, path_command: PathCommand) -> None:
    """Add ``kv metadata get|put|delete`` to the `kv` table (`path_command` adds -mount)."""
    meta = actions.add_parser("metadata", help="read and write a v2 secret's metadata",
                              description=__doc__)
    table_ = meta.add_subparsers(dest="kv_metadata_action", metavar="ACTION", required=True)
    get = path_command(table_, "get", cmd_get, "show the metadata and every version")
    put = path_command(table_, "put", cmd_put, "change max_versions, cas_required, ...")
    delete = path_command(table_, "delete", cmd_delete, "delete every version and the metadata")
    for parser in (get, put, delete):
        parser.add_argument("path", metavar="PATH")
        parser.epilog = ("examples:\n  strongbox kv metadata get secret/app/db\n"
                         "  strongbox kv metadata put -max-versions=5 "
                         "-custom-metadata=owner=ops secret/app/db\n"
                         "  strongbox kv metadata put -destroy-protection=true secret/app/db\n"
                         "  strongbox kv metadata delete secret/app/db\n")
    flag(put, "max-versions", type=int, help="versions to keep (0: the mount's default)")
    flag(put, "cas-required", metavar="BOOL", help="require -cas on every write")
    flag(put, "delete-version-after", metavar="DURATION", help="e.g. 720h; 0s: never")
    flag(put, "custom-metadata", action="append", metavar="KEY=VALUE", help="repeatable")
    flag(put, "destroy-protection", metavar="BOOL",
         help="refuse destroy and metadata delete while true")
