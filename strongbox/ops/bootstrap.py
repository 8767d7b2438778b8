"""Initialize a new cluster exactly once: `python -m strongbox.ops.bootstrap`.

    python -m strongbox.ops.bootstrap --node https://sb-0.sb-internal.ns.svc:8200 \\
        --node https://sb-1.sb-internal.ns.svc:8200 --ca-file /tls/ca.crt --shares 5 --threshold 3

Contract:
- waits (up to `--wait-timeout`) until every node answers `sys/health`;
- if any node reports the cluster initialized, says so on stderr and exits 0: re-runs,
  a run after a crash and a second copy racing this one all end here;
- otherwise sends `PUT sys/init` to the leader (any node, if none is known yet). Raft
  applies at most one init (a second one is refused with "already initialized", which
  also exits 0), so two concurrent copies cannot both initialize;
- prints the shares and the root token to stdout only (`--output text`: the ceremony
  sheet; `--output json`: Vault's init answer), never to the log; or, only with
  `--insecure-dev-secrets PREFIX`, writes one Kubernetes Secret per share holder
  (`PREFIX-share-N`, `PREFIX-root-token`) and prints their names instead;
- `--unseal` (for dev and tests) then unseals every node with the new shares.

Exit codes: 0 initialized now or before; 1 gave up waiting or the API refused; 3 the init
outcome is unknown (the request was sent and no answer came back): see the message.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any

import httpx

from strongbox.ops.common import node_client, setup_logging, wait_until
from strongbox.ops.kube import KubeApi

log = logging.getLogger("strongbox.ops.bootstrap")
EXIT_UNKNOWN = 3


def _health(addr: str, ca_file: str) -> dict[str, Any] | None:
    try:
        with node_client(addr, ca_file, timeout=5.0) as client:
            body: dict[str, Any] = client.get("/v1/sys/health").json()
            return body
    except (httpx.HTTPError, ValueError):
        return None


def wait_for_nodes(nodes: list[str], ca_file: str, timeout: float) -> list[dict[str, Any]]:
    log.info("waiting for %d nodes to answer sys/health", len(nodes))
    return [wait_until(functools.partial(_health, node, ca_file), f"{node} to answer", timeout)
            for node in nodes]


def find_leader(nodes: list[str], ca_file: str, timeout: float) -> str:
    def probe() -> str | None:
        for node in nodes:
            try:
                with node_client(node, ca_file, timeout=5.0) as client:
                    if client.get("/v1/sys/leader").json().get("is_self"):
                        return node
            except (httpx.HTTPError, ValueError):
                continue
        return None
    try:
        return wait_until(probe, "a Raft leader", timeout)
    except TimeoutError:
        return nodes[0]  # let the node say what is wrong


def initialize(node: str, ca_file: str, shares: int, threshold: int) -> dict[str, Any] | None:
    """Vault's init answer, or None if the cluster was already initialized."""
    with node_client(node, ca_file, timeout=60.0) as client:
        response = client.put("/v1/sys/init", json={"secret_shares": shares,
                                                    "secret_threshold": threshold})
    if response.status_code == 400 and "already initialized" in response.text:
        return None
    if response.status_code != 200:
        raise RuntimeError(f"{node} refused sys/init: HTTP {response.status_code}: "
                           f"{response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def print_ceremony(init: dict[str, Any], threshold: int, output: str) -> None:
    if output == "json":
        print(json.dumps(init))
        return
    keys = init["keys"]
    print(f"StrongBox initialized: {len(keys)} unseal key shares, any {threshold} unseal.")
    for number, key in enumerate(keys, 1):
        print(f"Unseal key {number}: {key}")
    print(f"Initial root token: {init['root_token']}")
    print("Give each share to a different key holder now; they are not stored anywhere. "
          "Revoke the root token once you have set up other administrators.")
    sys.stdout.flush()


def store_dev_secrets(prefix: str, init: dict[str, Any]) -> list[str]:
    """INSECURE (dev only): one Secret per share holder, via the pod's service account."""
    api = KubeApi.in_cluster()
    labels = {"app.kubernetes.io/managed-by": "strongbox-bootstrap"}
    names = []
    for number, key in enumerate(init["keys"], 1):
        name = f"{prefix}-share-{number}"
        api.create_secret(name, {"key": key}, labels)
        names.append(name)
    api.create_secret(f"{prefix}-root-token", {"token": init["root_token"]}, labels)
    return [*names, f"{prefix}-root-token"]


def _initialized(client: httpx.Client) -> bool | None:
    try:
        return True if client.get("/v1/sys/seal-status").json().get("initialized") else None
    except (httpx.HTTPError, ValueError):
        return None


def unseal_all(nodes: list[str], ca_file: str, keys: list[str], timeout: float) -> None:
    for node in nodes:
        with node_client(node, ca_file, timeout=15.0) as client:
            wait_until(functools.partial(_initialized, client), f"{node} to see the init",
                       timeout, 0.2)
            for key in keys:
                status = client.put("/v1/sys/unseal", json={"key": key})
                status.raise_for_status()
                if not status.json().get("sealed", True):
                    break
        log.info("unsealed %s", node)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m strongbox.ops.bootstrap",
                                     description="Initialize a new StrongBox cluster once.")
    parser.add_argument("--node", action="append", required=True,
                        help="a member's API address (repeat for every member)")
    parser.add_argument("--ca-file", default="", help="CA bundle that signed the nodes")
    parser.add_argument("--shares", type=int, default=5)
    parser.add_argument("--threshold", type=int, default=3)
    parser.add_argument("--wait-timeout", type=float, default=600.0)
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.add_argument("--insecure-dev-secrets", metavar="PREFIX", default="",
                        help="dev only: store shares and root token in Kubernetes Secrets")
    parser.add_argument("--unseal", action="store_true", help="unseal every node afterwards")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    nodes: list[str] = args.node
    if args.ca_file and not Path(args.ca_file).is_file():
        log.error("--ca-file %s does not exist", args.ca_file)
        return 1
    try:
        health = wait_for_nodes(nodes, args.ca_file, args.wait_timeout)
    except TimeoutError as exc:
        log.error("%s", exc)
        return 1
    if any(h.get("initialized") for h in health):
        log.info("the cluster is already initialized; nothing to do")
        return 0
    leader = find_leader(nodes, args.ca_file, args.wait_timeout)
    log.info("initializing through %s (%d shares, threshold %d)", leader, args.shares,
             args.threshold)
    try:
        init = initialize(leader, args.ca_file, args.shares, args.threshold)
    except httpx.TransportError as exc:
        log.error("no answer to sys/init from %s (%s). If a later run says 'already "
                  "initialized' and no other copy printed shares, the shares are lost: wipe "
                  "every node's data volume and bootstrap again", leader, type(exc).__name__)
        return EXIT_UNKNOWN
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    if init is None:
        log.info("another run initialized the cluster first; nothing to do")
        return 0
    if args.insecure_dev_secrets:
        names = store_dev_secrets(args.insecure_dev_secrets, init)
        print("INSECURE dev mode: shares and root token stored in Secrets: " + ", ".join(names))
    else:
        print_ceremony(init, args.threshold, args.output)
    if args.unseal:
        unseal_all(nodes, args.ca_file, init["keys"][: args.threshold], args.wait_timeout)
    return 0


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
