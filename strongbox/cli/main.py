"""`strongbox` — run a node (`server`, `dev`, `cluster`) and operate it with Vault's client
commands (`status`, `operator`, `login`, `kv`, `token`, `policy`, `secrets`, `auth`,
`audit`, `namespace`, `read`/`write`/`list`/`delete`) plus `run`; see docs/cli.md.

The client commands talk to servers only through `strongbox.client`. Exit codes: 0
success, 1 runtime failure, 2 bad usage or bad configuration (and, as in Vault, "no value
found" and `status` of a sealed node).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from strongbox import __version__
from strongbox.audit import verify as audit_verify
from strongbox.cli import cluster as cluster_cli
from strongbox.cli import kv, kvio, leases, login, operator, raft, sys_register, tokens
from strongbox.cli import run as run_cli
from strongbox.cli.common import describe, guarded
from strongbox.client.errors import ClientError
from strongbox.errors import ConfigError, StrongBoxError

if TYPE_CHECKING:
    from strongbox.config import NodeConfig

DEV_KEY_FILE = "dev-unseal-key"
EPILOG = """environment:
  every setting can be overridden as STRONGBOX_<KEY>, sections with a double
  underscore: STRONGBOX_DATA_DIR, STRONGBOX_LISTENER__ADDRESS,
  STRONGBOX_LISTENER__TLS_DISABLE=true, STRONGBOX_LIMITS__MAX_REQUEST_BYTES.

client commands (Vault's, e.g. `strongbox kv get secret/app`; `strongbox kv --help`):
  STRONGBOX_ADDR (comma-separated ok) or VAULT_ADDR, STRONGBOX_TOKEN or VAULT_TOKEN (else
  ~/.strongbox-token from `strongbox login`), STRONGBOX_CACERT, STRONGBOX_NAMESPACE.

examples:
  strongbox dev                                  # unsealed node on 127.0.0.1:8200
  strongbox dev --dev-root-token-id=root         # ... with a known root token
  strongbox server --config /etc/strongbox/node.toml
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strongbox", description="StrongBox: a Raft-replicated, Vault-compatible "
        "secrets store.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"strongbox {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    server = sub.add_parser("server", help="run a node from a TOML config file",
                            description="Run a StrongBox node. It starts sealed (and, the "
                            "first time, uninitialized): initialize it with PUT /v1/sys/init "
                            "and unseal it with PUT /v1/sys/unseal.",
                            epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    server.add_argument("--config", "-c", help="path to node.toml")
    server.add_argument("--data-dir", help="override data_dir")
    server.add_argument("--listen", metavar="HOST:PORT", help="override listener.address")
    server.add_argument("--node-id", help="override node_id")

    dev = sub.add_parser("dev", help="run an initialized, unsealed node for development",
                         description="Run a single development node: initialized with one "
                         "unseal key, unsealed, KV v2 at secret/, plain HTTP. Its data lives "
                         "in a temporary directory unless --data-dir is given. Never use it "
                         "in production: the unseal key is printed (and kept in the data "
                         "directory).")
    dev.add_argument("--dev-root-token-id", default=os.environ.get("STRONGBOX_DEV_ROOT_TOKEN_ID"),
                     help="use this root token instead of a random one")
    dev.add_argument("--dev-listen-address", default="127.0.0.1:8200", metavar="HOST:PORT",
                     help="HTTP listen address (default 127.0.0.1:8200)")
    dev.add_argument("--data-dir", help="keep data here (default: a new temporary directory)")
    cluster_cli.add_parser(sub)
    audit_verify.add_parser(sub)
    sub.add_parser("version", help="print the version")
    _client_commands(sub)
    return parser


def _client_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Vault's client command set (each leaf sets `handler`, run through `guarded`)."""
    operator_table = operator.register(sub)
    raft.register(operator_table)
    login.register(sub)
    kvio.register(kv.register(sub))
    tokens.register(sub)
    leases.register(sub)
    sys_register.register(sub, sys_register.audit_table(sub.choices["audit"]))
    run_cli.register(sub)


def run_server(args: argparse.Namespace) -> int:
    # Server modules are imported here, not at the top: client commands start faster.
    from strongbox.config import load_config  # noqa: PLC0415
    from strongbox.server import Node  # noqa: PLC0415

    config = load_config(args.config, overrides={
        "data_dir": args.data_dir, "listener.address": args.listen, "node_id": args.node_id})
    worker_args: list[str] = []
    for flag, value in (("--config", args.config), ("--data-dir", args.data_dir),
                        ("--listen", args.listen), ("--node-id", args.node_id)):
        if value:
            worker_args += [flag, str(value)]
    node = Node(config, worker_args=tuple(worker_args))
    node.start()
    print(f"==> StrongBox server started on {config.api_addr} (node {config.node_id}, "
          f"data in {config.data_dir})", flush=True)
    cluster = node.core.cluster()
    print("    state: " + ("sealed; unseal with PUT /v1/sys/unseal" if cluster
                           else "not initialized; initialize with PUT /v1/sys/init"), flush=True)
    node.serve()
    return 0


def _dev_config(args: argparse.Namespace) -> NodeConfig:
    from strongbox.config import load_config  # noqa: PLC0415

    data_dir = args.data_dir or tempfile.mkdtemp(prefix="strongbox-dev-")
    return load_config(None, overrides={
        "data_dir": data_dir, "listener.address": args.dev_listen_address,
        "listener.tls_disable": True, "cluster_name": "strongbox-dev",
        "listener.workers": 1})  # a dev node is one process


def run_dev(args: argparse.Namespace) -> int:
    from strongbox.server import Node  # noqa: PLC0415

    config = _dev_config(args)
    node = Node(config)
    node.start()
    key_file = Path(config.data_dir) / DEV_KEY_FILE
    root_token = args.dev_root_token_id
    if node.core.cluster() is None:
        result = asyncio.run(node.core.initialize(1, 1, root_token))
        unseal_key, root_token = result.shares[0].hex(), result.root_token
        key_file.write_text(unseal_key)
        key_file.chmod(0o600)
    elif key_file.is_file():
        unseal_key = key_file.read_text().strip()
    else:
        print(f"error: {config.data_dir} holds a store that was not created by "
              "`strongbox dev`; run `strongbox server` on it instead", file=sys.stderr)
        return 2
    node.core.submit_share(unseal_key)
    print(f"""==> StrongBox dev server started. Do NOT use it in production.

    Api Address: {config.api_addr}
    Data Dir:    {config.data_dir}
    Unseal Key:  {unseal_key}
    Root Token:  {root_token or '(unchanged: the token created when this data dir was new)'}

  export VAULT_ADDR='{config.api_addr}' STRONGBOX_ADDR='{config.api_addr}'
""", flush=True)
    node.serve()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    handler = getattr(args, "handler", None)
    if handler is not None:
        return guarded(handler, args)
    try:
        if args.command == "server":
            return run_server(args)
        if args.command == "dev":
            return run_dev(args)
        if args.command == "cluster":
            return cluster_cli.run(args)
        if args.command == "audit":
            return audit_verify.run(args)
        if args.command == "version":
            print(f"strongbox {__version__}")
            return 0
        parser.print_help()
        return 2
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (StrongBoxError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ClientError as exc:  # `cluster up` initializes and unseals through the SDK
        print(f"error: {describe(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
