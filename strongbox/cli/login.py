"""`strongbox login`: get a token and keep it in ``~/.strongbox-token`` (mode 0600).

Contract
--------
- ``login [TOKEN|-]``: checks TOKEN (prompted, hidden, when absent; ``-`` reads stdin)
  with ``auth/token/lookup-self`` and stores it.
- ``login -method=userpass username=NAME [password=P]``: prompts for the password when it
  is not given. ``-path`` picks the mount (default: the method's name).
- ``login -method=approle role_id=R secret_id=S``.
The token is written to ``$HOME/.strongbox-token`` (created 0600, replaced atomically)
unless ``-no-store``; it is printed only in the table of the login's auth block, as Vault
does (``-field=token`` for scripts). Threading: none.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from strongbox.cli.common import (
    CommandFailed,
    SubParsers,
    UsageError,
    command,
    flag,
    make_client,
    parse_pairs,
    warn,
)
from strongbox.cli.kvpaths import call
from strongbox.cli.tokens import emit_auth

TOKEN_FILE = ".strongbox-token"  # noqa: S105 - a file name, not a secret


def token_file() -> Path:
    return Path(os.environ.get("HOME") or Path.home()) / TOKEN_FILE


def store_token(token: str, path: Path | None = None) -> Path:
    """Write `token` to `path` (default ~/.strongbox-token) with mode 0600, atomically."""
    path = path or token_file()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token)
    os.replace(tmp, path)
    return path


def _ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        raise UsageError(f"{prompt.rstrip(': ')} is missing and stdin is not a terminal")
    return getpass.getpass(prompt)


def login_request(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    """(path, body) of the login the arguments ask for; UsageError on bad arguments."""
    method = args.method
    mount = (args.path or method).strip("/")
    pairs = parse_pairs(args.values)
    if method == "token":
        return "", None
    if method == "userpass":
        user = pairs.pop("username", None)
        if not user:
            raise UsageError("userpass login needs username=NAME")
        password = pairs.pop("password", None) or _ask("Password (will be hidden): ")
        return f"auth/{mount}/login/{user}", {"password": password, **pairs}
    if method == "approle":
        if not pairs.get("role_id"):
            raise UsageError("approle login needs role_id=... and secret_id=...")
        return f"auth/{mount}/login", pairs
    raise UsageError(f"unknown -method {method!r}; use token, userpass or approle")


def _token_login(args: argparse.Namespace) -> tuple[str, dict[str, Any] | None]:
    values = list(args.values)
    given = values[0] if values else None
    if given == "-":
        token = sys.stdin.readline().strip()
    else:
        token = given or _ask("Token (will be hidden): ").strip()
    if not token:
        raise UsageError("no token given")
    client = make_client(args, token=token)
    looked = call(client, "GET", "auth/token/lookup-self") or {}
    data = looked.get("data") or {}
    auth = {"client_token": token, "accessor": data.get("accessor"),
            "lease_duration": data.get("ttl"), "renewable": data.get("renewable"),
            "token_policies": data.get("policies"), "policies": data.get("policies"),
            "token_type": data.get("type"), "orphan": data.get("orphan"),
            "metadata": data.get("meta") or {}}
    return token, {"request_id": looked.get("request_id"), "auth": auth}


def cmd_login(args: argparse.Namespace) -> int:
    if args.method == "token":
        token, body = _token_login(args)
    else:
        path, request = login_request(args)
        body = call(make_client(args), "POST", path, json=request)
        token = str(((body or {}).get("auth") or {}).get("client_token") or "")
        if not token:
            raise CommandFailed("the login answered without a token")
    if not args.no_store:
        where = store_token(token)
        warn(f"Success! You are now authenticated. The token is stored in {where} "
             "and used by later commands.")
    return emit_auth(args, body)


def register(sub: SubParsers) -> None:
    parser = command(sub, "login", cmd_login, "authenticate and store the token",
                     "  strongbox login                         # prompts for a token\n"
                     "  strongbox login sbs.XXXX\n"
                     "  strongbox login -method=userpass username=alice\n"
                     "  strongbox login -method=approle role_id=... secret_id=...\n"
                     "  strongbox login -no-store -field=token -method=userpass "
                     "username=ci password=-\n", __doc__ or "")
    parser.add_argument("values", nargs="*", metavar="TOKEN|KEY=VALUE")
    flag(parser, "method", default="token", help="token (default), userpass or approle")
    flag(parser, "path", metavar="MOUNT", help="the auth mount (default: the method's name)")
    flag(parser, "no-store", action="store_true", help="do not save the token")
