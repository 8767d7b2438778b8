"""`strongbox kv ...`: Vault's kv commands on KV v1 and v2 mounts, plus copy and move.

Contract
--------
Paths are given as in Vault (``secret/app/db``; the ``data/`` segment is added for v2) or
relative to ``-mount=secret``. The mount's version is detected (`kvpaths.resolve`).
Reads that find nothing print ``No value found at ...`` and exit 2, as Vault does.
``kv copy SRC DST`` writes SRC's data as a new version of DST; ``kv move`` is a copy
followed by a soft delete of SRC's latest version (v2: undelete brings it back; v1: the
data is gone). ``SRC@N`` copies version N. Export, import and diff live in `kvio`.

Threading: none.
"""

from __future__ import annotations

import argparse
from typing import Any

from strongbox.cli import kvmeta
from strongbox.cli.common import (
    CommandFailed,
    SubParsers,
    UsageError,
    column,
    command,
    emit,
    flag,
    group,
    make_client,
    parse_pairs,
    success,
    table,
)
from strongbox.cli.kvpaths import (
    MERGE_PATCH,
    KvTarget,
    body_data,
    call,
    current_version,
    list_keys,
    read_secret,
    require_values,
    resolve,
    walk,
    write_secret,
)
from strongbox.client import Client


def split_version(spec: str) -> tuple[str, int | None]:
    """``path@N`` → (path, N); a path without ``@N`` → (path, None)."""
    path, sep, version = spec.rpartition("@")
    if sep and version.isdigit():
        return path, int(version)
    return spec, None


def parse_versions(text: str | None, required: bool = False) -> list[int]:
    """``-versions=1,2,3`` as ints; UsageError when required and missing or malformed."""
    if not text:
        if required:
            raise UsageError("missing -versions (a comma-separated list, e.g. -versions=1,2)")
        return []
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"-versions must be comma-separated numbers, got {text!r}") from None


def _target(args: argparse.Namespace, client: Client, path: str | None = None) -> KvTarget:
    return resolve(client, path if path is not None else args.path, args.mount)


def _secret_tables(target: KvTarget, body: dict[str, Any]) -> str:
    data = body_data(body)
    if target.version == 1:
        return table(data)
    parts = [f"== Secret Path ==\n{target.api()}"]
    metadata = data.get("metadata") or (data if "version" in data else None)
    if metadata:
        parts.append(f"======= Metadata =======\n{table(metadata)}")
    if isinstance(data.get("data"), dict):
        parts.append(f"====== Data ======\n{table(data['data'])}")
    return "\n\n".join(parts)


def cmd_get(args: argparse.Namespace) -> int:
    client = make_client(args)
    target = _target(args, client)
    body = read_secret(client, target, args.version)
    if body is None:
        raise CommandFailed(f"No value found at {target.api()}", code=2)
    data = body_data(body)
    fields = {**(data.get("metadata") or {}), **(data.get("data") or {})} \
        if target.version == 2 else data
    return emit(args, body, text=_secret_tables(target, body), field_source=fields)


def _written(args: argparse.Namespace, target: KvTarget, body: dict[str, Any] | None) -> int:
    if target.version == 1 or body is None:
        return success(args, f"Data written to: {target.api()}")
    return emit(args, body, text=_secret_tables(target, body), field_source=body_data(body))


def _pairs_and_target(args: argparse.Namespace) -> tuple[dict[str, Any], Client, KvTarget]:
    """The key=value pairs (UsageError if none), the client and the target of put/patch."""
    values = parse_pairs(args.pairs)
    if not values:
        raise UsageError("nothing to write: give key=value pairs (or - for a JSON object)")
    client = make_client(args)
    return values, client, _target(args, client)


def cmd_put(args: argparse.Namespace) -> int:
    values, client, target = _pairs_and_target(args)
    return _written(args, target, write_secret(client, target, values, args.cas))


def cmd_patch(args: argparse.Namespace) -> int:
    values, client, target = _pairs_and_target(args)
    target.require_v2("kv patch")
    body: dict[str, Any] = {"data": values}
    if args.cas is not None:
        body["options"] = {"cas": args.cas}
    return _written(args, target, call(client, "PATCH", target.api(), json=body,
                                       headers=MERGE_PATCH))


def cmd_list(args: argparse.Namespace) -> int:
    client = make_client(args)
    target = _target(args, client)
    if args.recursive:
        prefix = f"{target.path}/" if target.path else ""
        keys = [t.path[len(prefix):] for t in walk(client, target)]
    else:
        keys = list_keys(client, target)
    if not keys:
        raise CommandFailed(f"No value found at {target.api('metadata')}/", code=2)
    return emit(args, keys, text=column("Keys", keys))


def cmd_delete(args: argparse.Namespace) -> int:
    client = make_client(args)
    target = _target(args, client)
    versions = parse_versions(args.versions)
    if versions:
        target.require_v2("kv delete -versions")
        call(client, "POST", target.api("delete"), json={"versions": versions})
    else:
        call(client, "DELETE", target.api())
    return success(args, f"Data deleted (if it existed) at: {target.api()}")


def _versions_action(args: argparse.Namespace, section: str, verb: str) -> int:
    versions = parse_versions(args.versions, required=True)
    client = make_client(args)
    target = _target(args, client)
    target.require_v2(f"kv {section}")
    call(client, "POST", target.api(section), json={"versions": versions})
    return success(args, f"Versions {','.join(map(str, versions))} {verb} at: {target.api()}")


def cmd_undelete(args: argparse.Namespace) -> int:
    return _versions_action(args, "undelete", "undeleted")


def cmd_destroy(args: argparse.Namespace) -> int:
    return _versions_action(args, "destroy", "destroyed")


def cmd_rollback(args: argparse.Namespace) -> int:
    if args.version is None:
        raise UsageError("missing -version (the version to roll back to)")
    client = make_client(args)
    target = _target(args, client)
    target.require_v2("kv rollback")
    current = current_version(client, target)
    values = require_values(client, target, args.version)
    # cas = the version we looked at, so a concurrent write makes this fail, not vanish.
    return _written(args, target, write_secret(client, target, values, cas=current))


def copy_secret(client: Client, source: str, destination: str,
                mount: str | None) -> tuple[KvTarget, KvTarget, dict[str, Any] | None]:
    """Copy `source` (``path@N`` ok) to `destination` as a new version; both targets."""
    path, version = split_version(source)
    src = resolve(client, path, mount)
    dst = resolve(client, destination, mount)
    values = require_values(client, src, version)
    return src, dst, write_secret(client, dst, values)


def cmd_copy(args: argparse.Namespace) -> int:
    client = make_client(args)
    _, dst, body = copy_secret(client, args.source, args.destination, args.mount)
    return _written(args, dst, body)


def cmd_move(args: argparse.Namespace) -> int:
    client = make_client(args)
    src, dst, body = copy_secret(client, args.source, args.destination, args.mount)
    call(client, "DELETE", src.api())
    if body is not None and dst.version == 2:
        return _written(args, dst, body)
    return success(args, f"Data moved from {src.api()} to {dst.api()}")


KV_EXAMPLES = {
    "get": "  strongbox kv get secret/app/db\n  strongbox kv get -field=password secret/app/db\n"
           "  strongbox kv get -version=2 -format=json secret/app/db\n"
           "  strongbox kv get -mount=secret app/db\n",
    "put": "  strongbox kv put secret/app/db user=app password=s3cr3t\n"
           "  strongbox kv put secret/app/tls cert=@cert.pem      # value from a file\n"
           "  echo -n s3cr3t | strongbox kv put secret/app/db password=-   # from stdin\n"
           "  strongbox kv put secret/app/db - < data.json          # a JSON object\n"
           "  strongbox kv put -cas=0 secret/app/new k=v            # only if absent\n",
    "patch": "  strongbox kv patch secret/app/db password=n3w\n",
    "list": "  strongbox kv list secret/app\n  strongbox kv list -recursive secret/\n",
    "delete": "  strongbox kv delete secret/app/db\n"
              "  strongbox kv delete -versions=1,2 secret/app/db\n",
    "undelete": "  strongbox kv undelete -versions=3 secret/app/db\n",
    "destroy": "  strongbox kv destroy -versions=1 secret/app/db\n",
    "rollback": "  strongbox kv rollback -version=2 secret/app/db\n",
    "copy": "  strongbox kv copy secret/app/db secret/app/db-backup\n"
            "  strongbox kv copy secret/app/db@3 secret/app/db-v3\n",
    "move": "  strongbox kv move secret/app/old secret/app/new\n",
}


def _path_command(actions: SubParsers, name: str, handler: Any, summary: str,
                  description: str = "") -> argparse.ArgumentParser:
    parser = command(actions, name, handler, summary, KV_EXAMPLES.get(name, ""), description)
    flag(parser, "mount", metavar="MOUNT",
         help="the KV mount; PATH is then relative to it (default: detected from PATH)")
    return parser


def register(sub: SubParsers) -> SubParsers:
    """Add `kv` and its sub-commands; the sub-command table (kvio and kvmeta add more)."""
    actions = group(sub, "kv", "read and write KV secrets (versions 1 and 2)")
    get = _path_command(actions, "get", cmd_get, "read a secret")
    get.add_argument("path", metavar="PATH")
    flag(get, "version", type=int, help="read this version (v2)")
    for name, handler, summary in (("put", cmd_put, "write a secret (a new version on v2)"),
                                   ("patch", cmd_patch, "update some keys of a v2 secret")):
        parser = _path_command(actions, name, handler, summary)
        parser.add_argument("path", metavar="PATH")
        parser.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
        flag(parser, "cas", type=int, help="check-and-set: the current version (0: absent)")
    listing = _path_command(actions, "list", cmd_list, "list the keys under a folder")
    listing.add_argument("path", metavar="PATH")
    flag(listing, "recursive", action="store_true", help="list every secret below PATH")
    for name, handler, summary in (
            ("delete", cmd_delete, "soft-delete the latest version (or -versions)"),
            ("undelete", cmd_undelete, "undelete versions of a v2 secret"),
            ("destroy", cmd_destroy, "destroy versions of a v2 secret permanently")):
        parser = _path_command(actions, name, handler, summary)
        parser.add_argument("path", metavar="PATH")
        flag(parser, "versions", metavar="N,N", help="comma-separated versions")
    rollback = _path_command(actions, "rollback", cmd_rollback,
                             "write an old version again as the newest")
    rollback.add_argument("path", metavar="PATH")
    flag(rollback, "version", type=int, help="the version to restore")
    for name, handler, summary in (
            ("copy", cmd_copy, "copy a secret to another path (a new version there)"),
            ("move", cmd_move, "copy, then soft-delete the source's latest version")):
        parser = _path_command(actions, name, handler, summary, __doc__ or "")
        parser.add_argument("source", metavar="SRC[@VERSION]")
        parser.add_argument("destination", metavar="DST")
    kvmeta.register(actions, _path_command)
    return actions
