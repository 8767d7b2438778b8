"""`strongbox policy|secrets|auth|audit|namespace ...`: the sys/ management commands.

Contract
--------
- ``policy write NAME FILE|-``, ``read NAME``, ``list``, ``delete NAME``, ``fmt FILE``
  (fmt rewrites FILE with normalized whitespace; it checks the HCL parses locally).
- ``secrets enable [-path=P] [-version=2] [-description=D] [-options=k=v] TYPE``, ``disable
  PATH``, ``list``, ``tune [-description=D] [-options=k=v] PATH``.
- ``auth enable [-path=P] TYPE``, ``disable PATH``, ``list``.
- ``audit enable [-path=P] file file_path=...``, ``disable PATH``, ``list``; ``audit
  verify FILE`` is `strongbox.audit.verify`, registered in the same group.
- ``namespace create NAME``, ``list``, ``delete NAME``.
Tables list mounts as Vault does (Path, Type, Accessor, Description). The parsers are
built in `sys_register`. Threading: none.
"""

from __future__ import annotations

import argparse
from typing import Any

from strongbox.cli.common import (
    CommandFailed,
    UsageError,
    column,
    emit,
    make_client,
    output_format,
    parse_pairs,
    read_stdin,
    success,
    table,
)
from strongbox.cli.kvpaths import LIST, body_data, call


def mounts_text(mounts: dict[str, Any], extra: tuple[str, ...] = ()) -> str:
    """Vault's mount table: Path, Type, Accessor, Description (+ `extra` option columns)."""
    header = ("Path", "Type", "Accessor", "Description", *extra)
    rows = [header] + [
        (path, str(m.get("type", "")), str(m.get("accessor", "")),
         str(m.get("description", "") or "n/a"),
         *(str((m.get("options") or {}).get(e, "") or "n/a") for e in extra))
        for path, m in sorted(mounts.items()) if isinstance(m, dict)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["    ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "    ".join(("-" * len(h)).ljust(widths[i])
                               for i, h in enumerate(header)).rstrip())
    return "\n".join(lines)


def _mounts(body: dict[str, Any] | None) -> dict[str, Any]:
    data = body_data(body) or dict(body or {})
    return {k: v for k, v in data.items() if isinstance(v, dict)}


# ----------------------------------------------------------------------------- policy

def _policy_text(source: str) -> str:
    if source == "-":
        return read_stdin()
    with open(source, encoding="utf-8") as handle:
        return handle.read()


def cmd_policy_write(args: argparse.Namespace) -> int:
    call(make_client(args), "PUT", f"sys/policies/acl/{args.name}",
         json={"policy": _policy_text(args.file)})
    return success(args, f"Uploaded policy: {args.name}")


def cmd_policy_read(args: argparse.Namespace) -> int:
    body = call(make_client(args), "GET", f"sys/policies/acl/{args.name}")
    data = body_data(body)
    return emit(args, body, text=str(data.get("policy", "")).rstrip("\n"), field_source=data)


def cmd_policy_list(args: argparse.Namespace) -> int:
    body = call(make_client(args), "GET", "sys/policies/acl", params=LIST)
    keys = body_data(body).get("keys") or []
    return emit(args, keys, text="\n".join(keys))


def cmd_policy_delete(args: argparse.Namespace) -> int:
    call(make_client(args), "DELETE", f"sys/policies/acl/{args.name}")
    return success(args, f"Deleted policy: {args.name}")


def format_policy(text: str) -> str:
    """`text` with trailing spaces removed, tabs as two spaces and one final newline."""
    lines = [line.rstrip().replace("\t", "  ") for line in text.strip("\n").splitlines()]
    collapsed: list[str] = []
    for line in lines:
        if line or (collapsed and collapsed[-1]):
            collapsed.append(line)
    return "\n".join(collapsed) + "\n"


def cmd_policy_fmt(args: argparse.Namespace) -> int:
    import hcl2  # noqa: PLC0415 - a parse check only this command needs

    text = _policy_text(args.file)
    try:
        hcl2.loads(text)
    except Exception as exc:
        line = getattr(exc, "line", None)
        raise CommandFailed(f"{args.file}: not valid HCL"
                            + (f" (line {line})" if line else "")) from None
    formatted = format_policy(text)
    if args.file == "-":
        print(formatted, end="")
    else:
        with open(args.file, "w", encoding="utf-8") as handle:
            handle.write(formatted)
        print(f"Success! Formatted policy: {args.file}")
    return 0


# ---------------------------------------------------------------------------- secrets

def cmd_secrets_enable(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"type": args.type}
    options = parse_pairs(args.options or [])
    if args.version:
        options["version"] = str(args.version)
    if options:
        body["options"] = options
    if args.description:
        body["description"] = args.description
    path = (args.path or args.type).strip("/")
    call(make_client(args), "POST", f"sys/mounts/{path}", json=body)
    return success(args, f"Enabled the {args.type} secrets engine at: {path}/")


def cmd_secrets_disable(args: argparse.Namespace) -> int:
    path = args.path.strip("/")
    call(make_client(args), "DELETE", f"sys/mounts/{path}")
    return success(args, f"Disabled the secrets engine (if it existed) at: {path}/")


def cmd_secrets_list(args: argparse.Namespace) -> int:
    body = call(make_client(args), "GET", "sys/mounts")
    mounts = _mounts(body)
    return emit(args, mounts, text=mounts_text(mounts, ("version",) if args.detailed else ()))


def cmd_secrets_tune(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {}
    if args.description is not None:
        body["description"] = args.description
    if args.options:
        body["options"] = parse_pairs(args.options)
    if not body:
        raise UsageError("nothing to tune: give -description or -options=key=value")
    path = args.path.strip("/")
    call(make_client(args), "POST", f"sys/mounts/{path}/tune", json=body)
    return success(args, f"Tuned the secrets engine at: {path}/")


# ----------------------------------------------------------------------- auth, audit

def enable_handler(kind: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        path = (args.path or args.type).strip("/")
        body: dict[str, Any] = {"type": args.type}
        if args.description:
            body["description"] = args.description
        options = parse_pairs(args.options or [])
        if kind == "audit":
            options.update(parse_pairs(args.extra))
        if options:
            body["options"] = options
        method = "PUT" if kind == "audit" else "POST"
        call(make_client(args), method, f"sys/{kind}/{path}", json=body)
        noun = "audit device" if kind == "audit" else "auth method"
        return success(args, f"Enabled the {args.type} {noun} at: {path}/")
    return handler


def disable_handler(kind: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        path = args.path.strip("/")
        call(make_client(args), "DELETE", f"sys/{kind}/{path}")
        return success(args, f"Disabled {'audit device' if kind == 'audit' else 'auth method'}"
                       f" (if it existed) at: {path}/")
    return handler


def list_handler(kind: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        mounts = _mounts(call(make_client(args), "GET", f"sys/{kind}"))
        if kind == "audit" and not mounts and not args.field \
                and output_format(args) == "table":
            print("No audit devices are enabled.")
            return 0
        extra = ("file_path",) if kind == "audit" else ()
        return emit(args, mounts, text=mounts_text(mounts, extra))
    return handler


# ------------------------------------------------------------------------- namespace

def cmd_namespace(args: argparse.Namespace) -> int:
    client = make_client(args)
    action = args.namespace_action
    if action == "list":
        body = call(client, "GET", "sys/namespaces", params=LIST)
        keys = body_data(body).get("keys") or []
        return emit(args, keys, text=column("Keys", keys) if keys else "")
    path = f"sys/namespaces/{args.name.strip('/')}"
    if action == "create":
        body = call(client, "POST", path, json={})
        return emit(args, body, text=table(body_data(body)), field_source=body_data(body))
    call(client, "DELETE", path)
    return success(args, f"Namespace deleted: {args.name}")

