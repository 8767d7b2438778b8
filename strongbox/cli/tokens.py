"""`strongbox token create|lookup|renew|revoke`: auth/token, as Vault's CLI drives it.

Contract
--------
- ``create``: ``-policy`` (repeatable), ``-ttl``, ``-explicit-max-ttl``, ``-period``,
  ``-orphan``, ``-no-default-policy``, ``-use-limit``, ``-renewable``, ``-type``,
  ``-display-name``, ``-metadata k=v``, ``-id``; prints the auth block (Vault's table).
- ``lookup [TOKEN]`` / ``renew [TOKEN]`` / ``revoke [TOKEN]``: without TOKEN, the caller's
  own token (``-self`` for revoke); ``-accessor`` treats the argument as an accessor;
  ``revoke -mode=orphan`` keeps the children.
Only ``create`` prints a token (the one it was asked to make).
"""

from __future__ import annotations

import argparse
from typing import Any

from strongbox.cli.common import (
    SubParsers,
    UsageError,
    command,
    emit,
    flag,
    group,
    make_client,
    success,
    table,
)
from strongbox.cli.kvpaths import body_data, call

AUTH_ROWS = (("token", "client_token"), ("token_accessor", "accessor"),
             ("token_duration", "lease_duration"), ("token_renewable", "renewable"),
             ("token_policies", "token_policies"), ("identity_policies", "identity_policies"),
             ("policies", "policies"), ("token_type", "token_type"), ("orphan", "orphan"))


def auth_rows(auth: dict[str, Any]) -> dict[str, Any]:
    """Vault's table of an auth block (token, accessor, duration, policies ...)."""
    rows = {label: auth.get(key) for label, key in AUTH_ROWS if key in auth}
    for key, value in (auth.get("metadata") or {}).items():
        rows[f"token_meta_{key}"] = value
    return rows


def auth_fields(body: dict[str, Any] | None) -> dict[str, Any]:
    """The auth block plus Vault's -field aliases (``token``, ``token_accessor`` ...)."""
    auth = dict((body or {}).get("auth") or {})
    return {**auth, **auth_rows(auth)}


def emit_auth(args: argparse.Namespace, body: dict[str, Any] | None) -> int:
    auth = (body or {}).get("auth") or {}
    return emit(args, body, text=table(auth_rows(auth)), field_source=auth_fields(body))


def create_body(args: argparse.Namespace) -> dict[str, Any]:
    """The auth/token/create body of the flags that were given."""
    body: dict[str, Any] = {}
    for key in ("ttl", "explicit_max_ttl", "period", "display_name", "type", "id"):
        if getattr(args, key, None):
            body[key] = getattr(args, key)
    if args.policy:
        body["policies"] = [p for item in args.policy for p in item.split(",") if p]
    if args.no_default_policy:
        body["no_default_policy"] = True
    if args.use_limit:
        body["num_uses"] = args.use_limit
    if args.renewable is not None:
        body["renewable"] = args.renewable == "true"
    if args.metadata:
        meta = dict(item.partition("=")[::2] for item in args.metadata)
        if "" in meta:
            raise UsageError("-metadata takes key=value")
        body["meta"] = meta
    return body


def cmd_create(args: argparse.Namespace) -> int:
    path = "auth/token/create-orphan" if args.orphan else "auth/token/create"
    if args.role:
        path = f"auth/token/create/{args.role}"
    return emit_auth(args, call(make_client(args), "POST", path, json=create_body(args)))


def _by(args: argparse.Namespace, verb: str) -> tuple[str, dict[str, Any]]:
    if args.accessor:
        if not args.token:
            raise UsageError("-accessor needs the accessor as the argument")
        return f"auth/token/{verb}-accessor", {"accessor": args.token}
    if args.token:
        return f"auth/token/{verb}", {"token": args.token}
    return f"auth/token/{verb}-self", {}


def cmd_lookup(args: argparse.Namespace) -> int:
    path, body = _by(args, "lookup")
    client = make_client(args)
    answer = call(client, "POST" if body else "GET", path, json=body or None)
    data = body_data(answer)
    return emit(args, answer, text=table(dict(sorted(data.items()))), field_source=data)


def cmd_renew(args: argparse.Namespace) -> int:
    path, body = _by(args, "renew")
    if args.increment:
        body["increment"] = args.increment
    return emit_auth(args, call(make_client(args), "POST", path, json=body))


def cmd_revoke(args: argparse.Namespace) -> int:
    if not args.token and not args.self:
        raise UsageError("give the token to revoke, or -self for your own")
    path, body = _by(args, "revoke")
    if args.mode == "orphan":
        if args.accessor or not args.token:
            raise UsageError("-mode=orphan takes a token (not -accessor or -self)")
        path = "auth/token/revoke-orphan"
    call(make_client(args), "POST", path, json=body)
    return success(args, "Revoked token (if it existed)")


def register(sub: SubParsers) -> None:
    actions = group(sub, "token", "create, look up, renew and revoke tokens")
    create = command(actions, "create", cmd_create, "create a token",
                     "  strongbox token create -policy=app-read -ttl=1h\n"
                     "  strongbox token create -policy=a -policy=b -field=token\n"
                     "  strongbox token create -orphan -period=24h -metadata=team=ops\n",
                     __doc__ or "")
    flag(create, "policy", action="append", metavar="NAME", help="repeatable")
    for name, helptext in (("ttl", "e.g. 1h"), ("explicit-max-ttl", "hard limit"),
                           ("period", "periodic token renewal period"),
                           ("display-name", "shown in audit logs"),
                           ("type", "service (default) or batch"),
                           ("id", "the token's value (root only)"),
                           ("role", "create against auth/token/roles/ROLE")):
        flag(create, name, help=helptext)
    flag(create, "orphan", action="store_true", help="no parent")
    flag(create, "no-default-policy", action="store_true", help="leave out `default`")
    flag(create, "use-limit", type=int, default=0, help="number of uses (0: unlimited)")
    flag(create, "renewable", choices=("true", "false"), help="default true")
    flag(create, "metadata", action="append", metavar="KEY=VALUE", help="repeatable")
    for name, handler, summary, example in (
            ("lookup", cmd_lookup, "show a token's properties",
             "  strongbox token lookup\n  strongbox token lookup -accessor ACCESSOR\n"),
            ("renew", cmd_renew, "renew a token's lease",
             "  strongbox token renew\n  strongbox token renew -increment=1h TOKEN\n"),
            ("revoke", cmd_revoke, "revoke a token and its children",
             "  strongbox token revoke TOKEN\n  strongbox token revoke -self\n"
             "  strongbox token revoke -accessor ACCESSOR\n")):
        parser = command(actions, name, handler, summary, example, __doc__ or "")
        parser.add_argument("token", nargs="?", metavar="TOKEN|ACCESSOR",
                            help="default: your own token")
        flag(parser, "accessor", action="store_true", help="the argument is an accessor")
        if name == "renew":
            flag(parser, "increment", metavar="DURATION", help="e.g. 1h")
        if name == "revoke":
            flag(parser, "self", action="store_true", help="revoke your own token")
            flag(parser, "mode", choices=("orphan",), help="orphan: keep the children")
