"""`strongbox status` and `strongbox operator init|unseal|seal|step-down|rotate|key-status`.

Contract
--------
- ``status``: the seal status of the first address; exit 0 unsealed, 2 sealed, 1 error
  (Vault's convention).
- ``operator init``: initializes the cluster on its leader (found through ``sys/leader``;
  else the first address). Shares and the root token go to stdout, or with ``-holder-dir
  DIR`` to ``DIR/holder-N.key`` (one per key holder) and ``DIR/root-token``, each created
  mode 0600 (refusing to overwrite); stdout then lists only the file names.
- ``operator unseal [KEY|-]``: KEY, ``-`` (one line of stdin) or a hidden prompt. The
  share goes to the first address, or with ``-all`` to every address in turn: a node that
  is down or refuses the share is reported on stderr and the others still get it; exit 1
  if any node failed. ``-reset`` discards the progress instead.
- ``seal``, ``step-down``, ``rotate``, ``key-status``: the sys endpoints of the same name.
A share is never printed by any command except ``operator init``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path
from typing import Any

from strongbox.cli.common import (
    CommandFailed,
    SubParsers,
    UsageError,
    command,
    describe,
    emit,
    flag,
    group,
    make_client,
    output_format,
    success,
    table,
    warn,
)
from strongbox.cli.kvpaths import body_data, call
from strongbox.client import Client, errors

STATUS_FIELDS = (("Seal Type", "type"), ("Initialized", "initialized"), ("Sealed", "sealed"),
                 ("Total Shares", "n"), ("Threshold", "t"), ("Unseal Progress", "progress"),
                 ("Unseal Nonce", "nonce"), ("Version", "version"),
                 ("Build Date", "build_date"), ("Storage Type", "storage_type"),
                 ("Cluster Name", "cluster_name"), ("Cluster ID", "cluster_id"))


def status_rows(status: dict[str, Any]) -> dict[str, Any]:
    """The `vault status` table rows of a seal-status body."""
    rows = {label: status.get(key) for label, key in STATUS_FIELDS if key in status}
    if status.get("sealed"):
        rows["Unseal Progress"] = f"{status.get('progress', 0)}/{status.get('t', 0)}"
    else:
        rows.pop("Unseal Progress", None)
        rows.pop("Unseal Nonce", None)
    return rows


def _first(client: Client) -> Client:
    return client.on_node(client.addresses[0])


def cmd_status(args: argparse.Namespace) -> int:
    client = _first(make_client(args))
    status = call(client, "GET", "sys/seal-status") or {}
    if not status.get("sealed"):
        try:
            leader = call(client, "GET", "sys/leader") or {}
            status["ha_mode"] = "active" if leader.get("is_self") else "standby"
            status["leader_address"] = leader.get("leader_address")
        except errors.ClientError:
            pass
    rows = status_rows(status)
    if "ha_mode" in status:
        rows.update({"HA Enabled": True, "HA Mode": status["ha_mode"],
                     "Active Node Address": status["leader_address"]})
    emit(args, status, text=table(rows), field_source=status)
    return 2 if status.get("sealed") else 0


def _leader(client: Client) -> Client:
    for address in client.addresses:
        node = client.on_node(address)
        try:
            if (call(node, "GET", "sys/leader") or {}).get("is_self"):
                return node
        except errors.ClientError:
            continue
    return _first(client)


def _write_secret_file(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")


def write_holder_files(directory: Path, keys: list[str], root_token: str) -> list[Path]:
    """``holder-N.key`` per share and ``root-token``, mode 0600; the paths written."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [directory / f"holder-{n}.key" for n in range(1, len(keys) + 1)]
    paths.append(directory / "root-token")
    existing = [p.name for p in paths if p.exists()]
    if existing:
        raise CommandFailed(f"{directory} already holds {', '.join(existing)}; "
                            "refusing to overwrite key material")
    for path, secret in zip(paths, [*keys, root_token], strict=True):
        _write_secret_file(path, secret)
    return paths


def _init_recovery(args: argparse.Namespace, client: Client) -> int:
    """`init` of a node with an auto-unseal seal: recovery keys, no unseal step."""
    body = call(client, "PUT", "sys/init", json={
        "recovery_shares": args.recovery_shares, "recovery_threshold": args.recovery_threshold})
    if not body or "recovery_keys" not in body:
        raise CommandFailed("the server did not answer with recovery keys")
    keys, root = list(body.get("recovery_keys") or []), str(body["root_token"])
    if output_format(args) != "table":
        return emit(args, {"recovery_keys_hex": keys,
                           "recovery_keys_b64": body.get("recovery_keys_base64"),
                           "recovery_keys_shares": len(keys),
                           "recovery_keys_threshold": args.recovery_threshold,
                           "root_token": root})
    lines = [f"Recovery Key {n}: {key}" for n, key in enumerate(keys, start=1)]
    print("\n".join([*lines, "", f"Initial Root Token: {root}", "",
                     f"StrongBox initialized with {len(keys)} recovery key shares and a "
                     f"threshold of {args.recovery_threshold}. Every node unseals itself; "
                     "recovery keys cannot unseal: they authorize generate-root and "
                     "rekey-recovery-key."]))
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    client = _leader(make_client(args))
    seal = call(client, "GET", "sys/seal-status") or {}
    if seal.get("type", "shamir") != "shamir":
        return _init_recovery(args, client)
    body = call(client, "PUT", "sys/init", json={"secret_shares": args.key_shares,
                                                 "secret_threshold": args.key_threshold})
    if not body or "keys" not in body:
        raise CommandFailed("the server did not answer with unseal keys")
    keys, root = list(body["keys"]), str(body["root_token"])
    if args.holder_dir:
        paths = write_holder_files(Path(args.holder_dir), keys, root)
        print("\n".join(str(p) for p in paths))
        warn(f"initialized: {len(keys)} shares (threshold {args.key_threshold}) and the root "
             f"token written to {args.holder_dir}; hand one holder-N.key to each key holder")
        return 0
    if output_format(args) != "table":
        return emit(args, {"unseal_keys_hex": keys, "unseal_keys_b64": body.get("keys_base64"),
                           "unseal_shares": len(keys), "unseal_threshold": args.key_threshold,
                           "root_token": root})
    lines = [f"Unseal Key {n}: {key}" for n, key in enumerate(keys, start=1)]
    print("\n".join([*lines, "", f"Initial Root Token: {root}", "",
                     f"StrongBox initialized with {len(keys)} key shares and a key threshold "
                     f"of {args.key_threshold}. Unseal every node with "
                     f"`strongbox operator unseal -all` ({args.key_threshold} holders)."]))
    return 0


def read_share(given: str | None) -> str:
    """The share from the argument, stdin (``-``) or a hidden prompt; UsageError if empty."""
    if given == "-":
        share = sys.stdin.readline().strip()
    elif given:
        share = given.strip()
    else:
        share = getpass.getpass("Unseal Key (will be hidden): ").strip()
    if not share:
        raise UsageError("no unseal key given")
    return share


def _unseal_one(node: Client, body: dict[str, Any], wait: float = 15.0) -> dict[str, Any]:
    """Submit to `node`, first waiting (up to `wait` s) for it to have replicated the init:
    right after `operator init` a follower may not know yet that the cluster exists."""
    deadline = time.monotonic() + wait
    while not (call(node, "GET", "sys/seal-status") or {}).get("initialized"):
        if time.monotonic() > deadline:
            raise CommandFailed("the node is not initialized; run `strongbox operator init`")
        time.sleep(0.2)
    return call(node, "PUT", "sys/unseal", json=body) or {}


def cmd_unseal(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"reset": True} if args.reset else {"key": read_share(args.key)}
    if args.migrate:
        body["migrate"] = True
    client = make_client(args)
    addresses = client.addresses if args.all else client.addresses[:1]
    results: dict[str, Any] = {}
    failed = 0
    for address in addresses:
        try:
            results[address] = _unseal_one(client.on_node(address), body)
        except errors.ClientError as exc:
            failed += 1
            warn(f"Error: {address}: {describe(exc)}")
        except CommandFailed as exc:
            failed += 1
            warn(f"Error: {address}: {exc}")
    if output_format(args) != "table" or args.field:
        emit(args, results if args.all else next(iter(results.values()), {}))
    else:
        for address, status in results.items():
            progress = f"{status.get('progress', 0)}/{status.get('t', 0)}"
            state = "sealed, progress " + progress if status.get("sealed") else "unsealed"
            print(f"{address}: {state}" if args.all else table(status_rows(status)))
    return 1 if failed else 0


def _sys_put(path: str, message: str) -> Any:
    def handler(args: argparse.Namespace) -> int:
        client = make_client(args)
        call(_first(client) if path == "sys/seal" else client, "PUT", path)
        return success(args, message)
    return handler


def cmd_key_status(args: argparse.Namespace) -> int:
    body = call(make_client(args), "GET", "sys/key-status")
    data = body_data(body) or dict(body or {})
    return emit(args, body, text=table({"Key Term": data.get("term"),
                                        "Install Time": data.get("install_time")}),
                field_source=data)


def register(sub: SubParsers) -> SubParsers:
    """Add `status` and `operator` (raft commands are added by `raft.register`)."""
    command(sub, "status", cmd_status, "show the seal status of a node",
            "  strongbox status\n  strongbox status -format=json\n"
            "  strongbox status -address=https://10.0.0.2:8200\n", __doc__ or "")
    ops = group(sub, "operator", "cluster operations: init, unseal, seal, raft ...")
    init = command(ops, "init", cmd_init, "initialize a new cluster",
                   "  strongbox operator init -key-shares=5 -key-threshold=3\n"
                   "  strongbox operator init -key-shares 5 -key-threshold 3 "
                   "-holder-dir ./holders\n", __doc__ or "")
    flag(init, "key-shares", type=int, default=5, help="number of shares (default 5)")
    flag(init, "key-threshold", type=int, default=3, help="shares needed (default 3)")
    flag(init, "holder-dir", metavar="DIR", help="write one 0600 file per key holder here")
    flag(init, "recovery-shares", type=int, default=5,
         help="with an auto-unseal seal: recovery key shares (default 5)")
    flag(init, "recovery-threshold", type=int, default=3,
         help="with an auto-unseal seal: recovery shares needed (default 3)")
    unseal = command(ops, "unseal", cmd_unseal, "submit an unseal key share",
                     "  strongbox operator unseal                 # prompts, hidden\n"
                     "  strongbox operator unseal -all            # every node in $STRONGBOX_ADDR\n"
                     "  strongbox operator unseal -all - < holder-1.key\n"
                     "  strongbox operator unseal -reset\n", __doc__ or "")
    unseal.add_argument("key", nargs="?", metavar="KEY|-",
                        help="the share, or - to read it from stdin (default: prompt)")
    flag(unseal, "all", action="store_true", help="submit to every node in the address list")
    flag(unseal, "reset", action="store_true", help="discard the unseal progress")
    flag(unseal, "migrate", action="store_true",
         help="seal migration: the node's [seal] differs from the cluster's (docs/seals.md)")
    for name, path, summary, message in (
            ("seal", "sys/seal", "seal this node", "StrongBox is sealed."),
            ("step-down", "sys/step-down", "make the leader hand leadership to a follower",
             "Stepped down the active node."),
            ("rotate", "sys/rotate", "start a new encryption key term",
             "Rotated key.")):
        command(ops, name, _sys_put(path, message), summary, f"  strongbox operator {name}\n")
    command(ops, "key-status", cmd_key_status, "show the active encryption key term",
            "  strongbox operator key-status\n")
    return ops
