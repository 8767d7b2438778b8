"""`strongbox read|write|list|delete PATH`: any API path, as Vault's generic commands.

Contract: `read` answers the body's ``data`` as a table (JSON/YAML: the whole body);
nothing there prints ``No value found at PATH`` and exits 2, as Vault. `write` takes
``key=value`` pairs (``@file``, ``-``) and prints the answer, or Success for a 204.
`list` prints the ``keys``. Threading: none.
"""

from __future__ import annotations

import argparse

from strongbox.cli.common import (
    CommandFailed,
    UsageError,
    column,
    emit,
    make_client,
    parse_pairs,
    success,
    table,
)
from strongbox.cli.kvpaths import LIST, body_data, call
from strongbox.client import errors


def _fields(body: dict[str, object]) -> dict[str, object]:
    data = body_data(body)
    auth = body.get("auth")
    lease: dict[str, object] = {}
    if body.get("lease_id"):  # dynamic credentials: Vault's CLI shows the lease first
        lease = {"lease_id": body["lease_id"], "lease_duration": body.get("lease_duration"),
                 "lease_renewable": body.get("renewable")}
    return {**lease, **(auth if isinstance(auth, dict) else {}), **(data or body)}


def cmd_read(args: argparse.Namespace) -> int:
    params = parse_pairs(args.params)
    try:
        body = call(make_client(args), "GET", args.path, params=params or None)
    except errors.NotFound:
        body = None
    if body is None:
        raise CommandFailed(f"No value found at {args.path}", code=2)
    fields = _fields(body)
    return emit(args, body, text=table(dict(sorted(fields.items()))), field_source=fields)


def cmd_write(args: argparse.Namespace) -> int:
    data = parse_pairs(args.pairs)
    if not data and not args.force:
        raise UsageError("nothing to write: give key=value pairs (or -force for none)")
    body = call(make_client(args), "PUT", args.path, json=data)
    if body is None:
        return success(args, f"Data written to: {args.path}")
    fields = _fields(body)
    return emit(args, body, text=table(dict(sorted(fields.items()))), field_source=fields)


def cmd_list(args: argparse.Namespace) -> int:
    try:
        body = call(make_client(args), "GET", args.path, params=LIST)
    except errors.NotFound:
        body = None
    keys = body_data(body).get("keys") or []
    if not keys:
        raise CommandFailed(f"No value found at {args.path}", code=2)
    return emit(args, body, text=column("Keys", keys), field_source=body_data(body))


def cmd_delete(args: argparse.Namespace) -> int:
    call(make_client(args), "DELETE", args.path)
    return success(args, f"Data deleted (if it existed) at: {args.path}")
