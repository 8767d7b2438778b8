"""`strongbox cluster up|down|status`: a local three-node cluster on loopback.

`up` generates a CA and per-node certificates, writes one node.toml per node,
starts the nodes as background processes, initializes the cluster, unseals
every node and prints the addresses, the root token and where the shares are.
State lives in one directory (default ./strongbox-cluster):

    tls/                 CA and node certificates
    node-N/, node-N.toml node data and config, node-N.log its log
    cluster.json         addresses and process ids (used by `down`)
    init.json            unseal shares and root token — keep it safe

Every file in it is written 0600 and every directory 0700 (keys, configs, logs,
init.json; the nodes' data by the servers themselves). If a node cannot start (its
port is taken, it exits, it does not answer) or initializing fails, every node
started so far is stopped, the error names the node and its ports, and `up` exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from strongbox.cli.common import describe
from strongbox.client import Client, errors
from strongbox.devcluster import LocalCluster, ServerProcess, write_private

DEFAULT_DIR = "strongbox-cluster"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cluster = sub.add_parser("cluster", help="run a local 3-node cluster on loopback",
                             description=__doc__,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = cluster.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start, initialize and unseal a local cluster")
    up.add_argument("--dir", default=DEFAULT_DIR, help=f"state directory (default {DEFAULT_DIR})")
    up.add_argument("--nodes", type=int, default=3, help="cluster size (default 3)")
    up.add_argument("--api-port", type=int, default=8201,
                    help="API port of node-1; node-N gets api-port+N-1 (default 8201; "
                    "0 picks free ports)")
    up.add_argument("--cluster-port", type=int, default=8301,
                    help="cluster port of node-1 (default 8301; 0 picks free ports)")
    up.add_argument("--shares", type=int, default=3, help="unseal key shares (default 3)")
    up.add_argument("--threshold", type=int, default=2, help="shares needed (default 2)")
    down = actions.add_parser("down", help="stop the cluster started by `up`")
    down.add_argument("--dir", default=DEFAULT_DIR)
    status = actions.add_parser("status", help="show each node's state")
    status.add_argument("--dir", default=DEFAULT_DIR)


def run(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    if args.action == "up":
        return _up(directory, args)
    if args.action == "down":
        return _down(directory)
    return _status(directory)


def _up(directory: Path, args: argparse.Namespace) -> int:
    if (directory / "cluster.json").exists():
        print(f"error: {directory} already holds a cluster; run `strongbox cluster down "
              f"--dir {args.dir}` or choose another --dir", file=sys.stderr)
        return 2
    if not 1 <= args.nodes <= 9:
        print("error: --nodes must be between 1 and 9", file=sys.stderr)
        return 2
    n = args.nodes
    cluster = LocalCluster(
        directory, n,
        api_ports=[args.api_port + i for i in range(n)] if args.api_port else None,
        cluster_ports=[args.cluster_port + i for i in range(n)] if args.cluster_port else None)
    step = ""  # the errors of ServerProcess.start name the node and its ports themselves
    try:
        for node in cluster.nodes:
            print(f"starting {node.node_id} ...", flush=True)
            node.start()
            print(f"    {node.node_id} is running (pid {node.pid})", flush=True)
        step = "initializing and unsealing the cluster failed: "
        print("waiting for a leader ...", flush=True)
        keys, root = init_and_unseal(cluster, args.shares, args.threshold)
        init_file = directory / "init.json"
        write_private(init_file, json.dumps({"unseal_keys_hex": keys, "root_token": root},
                                            indent=2))
        nodes = [{"node_id": n.node_id, "api_addr": n.addr, "pid": n.pid,
                  "log": str(n.log_path)} for n in cluster.nodes]
        write_private(directory / "cluster.json", json.dumps(
            {"ca_cert": str(cluster.ca.cert_file), "nodes": nodes}, indent=2))
        leader = cluster.wait_leader()
    except BaseException as exc:
        _abort(directory, cluster.nodes, step, exc)
        return 130 if isinstance(exc, KeyboardInterrupt) else 1
    for node in cluster.nodes:
        node.detach()  # they outlive this command; `down` stops them by pid
    print(f"\n==> StrongBox cluster of {n} is up, initialized and unsealed.\n")
    for node in cluster.nodes:
        role = "leader" if node is leader else "follower"
        print(f"    {node.node_id}: {node.addr}  ({role}, log {node.log_path})")
    print(f"""
    Root token:  {root}
    Shares:      {init_file}  (keep it safe: {args.threshold} of {args.shares} unseal a node)
    CA cert:     {cluster.ca.cert_file}

  export VAULT_ADDR={leader.addr} VAULT_CACERT={cluster.ca.cert_file} VAULT_TOKEN={root}
  export STRONGBOX_ADDR={",".join(node.addr for node in cluster.nodes)} \\
         STRONGBOX_CACERT={cluster.ca.cert_file} STRONGBOX_TOKEN={root}
  strongbox cluster down --dir {args.dir}
""")
    return 0


def _abort(directory: Path, nodes: list[ServerProcess], step: str,
           exc: BaseException) -> None:
    """`up` failed at `step`: say why, stop every node it started (the one being started
    too, after a Ctrl-C), leave no cluster.json (so `up` can be run again once the cause
    is fixed)."""
    reason = describe(exc) if isinstance(exc, errors.ClientError) else str(exc)
    print(f"error: {step}{reason or type(exc).__name__}", file=sys.stderr, flush=True)
    if "in use" in reason:
        print("free the port, or choose other ports with --api-port and --cluster-port "
              "(0 picks free ones)", file=sys.stderr, flush=True)
    for node in nodes:
        pid = node.pid
        if pid:
            node.stop()
            print(f"stopped {node.node_id} (pid {pid})", file=sys.stderr, flush=True)
    (directory / "cluster.json").unlink(missing_ok=True)
    print(f"no node of this cluster is left running; logs and data remain in {directory}",
          file=sys.stderr, flush=True)


def init_and_unseal(cluster: LocalCluster, shares: int, threshold: int,
                    timeout: float = 30.0) -> tuple[list[str], str]:
    """Initialize `cluster` on its leader and unseal every node, through the SDK."""
    leader = cluster.wait_leader()
    client = Client(address=[node.addr for node in cluster.nodes],
                    cacert=str(cluster.ca.cert_file))
    body = client.on_node(leader.addr).request(
        "PUT", "sys/init", json={"secret_shares": shares, "secret_threshold": threshold}).data
    if not body:
        raise errors.ClientError("sys/init answered without keys")
    keys, root = list(body["keys"]), str(body["root_token"])
    cluster.keys, cluster.root_token = keys, root
    deadline = time.monotonic() + timeout
    for node in cluster.nodes:
        pinned = client.on_node(node.addr)
        # A follower unseals only once it has replicated the cluster's init.
        while not (pinned.request("GET", "sys/seal-status").data or {}).get("initialized"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.node_id} never saw the cluster's init")
            time.sleep(0.1)
        for key in keys[:threshold]:
            pinned.request("PUT", "sys/unseal", json={"key": key})
    return keys, root


def _load(directory: Path) -> dict[str, object] | None:
    try:
        state: dict[str, object] = json.loads((directory / "cluster.json").read_text())
        return state
    except FileNotFoundError:
        print(f"error: no cluster in {directory} (nothing to do)", file=sys.stderr)
        return None


def _down(directory: Path) -> int:
    state = _load(directory)
    if state is None:
        return 1
    for node in state["nodes"]:  # type: ignore[attr-defined]
        if not isinstance(node.get("pid"), int) or node["pid"] <= 0:
            print(f"{node['node_id']}: no valid pid recorded; stop it by hand")
            continue
        try:
            os.kill(node["pid"], signal.SIGTERM)
            print(f"stopping {node['node_id']} (pid {node['pid']})")
        except ProcessLookupError:
            print(f"{node['node_id']} was not running")
    deadline = time.monotonic() + 15
    for node in state["nodes"]:  # type: ignore[attr-defined]
        while time.monotonic() < deadline and _alive(node["pid"]):
            time.sleep(0.1)
    (directory / "cluster.json").unlink()
    print(f"stopped; data, certificates and init.json remain in {directory}")
    return 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _status(directory: Path) -> int:
    state = _load(directory)
    if state is None:
        return 1
    for node in state["nodes"]:  # type: ignore[attr-defined]
        print(f"{node['node_id']}: {node['api_addr']} pid {node['pid']} "
              f"{'running' if _alive(node['pid']) else 'stopped'}")
    return 0
