"""Initialize a new cluster exactly once: `python -m strongbox.ops.bootstrap`.

    python -m strongbox.ops.bootstrap --node https://sb-0.sb-internal.ns.svc:8200 \\
        --node https://sb-1.sb-internal.ns.svc:8200 --ca-file /tls/ca.crt --shares 5 --threshold 3

Contract:
- waits (up to `--wait-timeout`) until every node answers `sys/health`;
- if any node reports the cluster initialized, says so on stderr and exits 0: re-runs,
  a run after a crash and a second copy racing this one all end here;
- otherwise reads the seal type from the leader's `sys/seal-status` (any node, if no
  leader is known yet) and sends `PUT sys/init` there. Raft applies at most one init (a
  second one is refused with "already initialized", which also exits 0), so two
  concurrent copies cannot both initialize;
- with the default Shamir seal it asks for `--shares` unseal key shares, any
  `--threshold` of which unseal; with an auto-unseal seal (pkcs11, transit, static) it
  asks for that many **recovery** key shares instead (`recovery_shares` /
  `recovery_threshold`): the nodes unseal themselves, and the recovery keys cannot
  unseal (they authorize generate-root and rekey-recovery-key);
- prints the shares and the root token to stdout only (`--output text`: the ceremony
  sheet; `--output json`: Vault's init answer), never to the log; or, only with
  `--insecure-dev-secrets PREFIX`, writes one Kubernetes Secret per share holder
  (`PREFIX-share-N`, or `PREFIX-recovery-key-N` with an auto-unseal seal, and
  `PREFIX-root-token`) and prints their names instead;
- `--unseal` (for dev and tests) then unseals every node with the new shares; with an
  auto-unseal seal there is nothing to send: it waits (up to `--wait-timeout`) until every
  node reports itself unsealed.

Exit codes: 0 initialized now or before; 1 gave up waiting or the API refused; 3 the init
outcome is unknown (the request was sent and no answer came back): see the message.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from strongbox.ops.common import node_client, setup_logging, wait_until
from strongbox.ops.kube import KubeApi

log = logging.getLogger("strongbox.ops.bootstrap")
EXIT_UNKNOWN = 3
SHAMIR = "shamir"


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


def _seal_status(addr: str, ca_file: str) -> dict[str, Any] | None:
    try:
        with node_client(addr, ca_file, timeout=5.0) as client:
            response = client.get("/v1/sys/seal-status")
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            return body
    except (httpx.HTTPError, ValueError):
        return None


def seal_type(node: str, ca_file: str, timeout: float) -> str:
    """The seal the node is configured with ("shamir" when it does not say: a node from
    before auto-unseal). Raises TimeoutError if it never answers."""
    status = wait_until(functools.partial(_seal_status, node, ca_file),
                        f"{node} to answer sys/seal-status", timeout)
    if status.get("seal_error"):
        log.warning("%s reports a seal problem: %s", node, status["seal_error"])
    return str(status.get("type") or SHAMIR)


def init_request(kind: str, shares: int, threshold: int) -> dict[str, int]:
    """The `sys/init` body: unseal key shares for Shamir, recovery key shares otherwise
    (a Shamir node refuses `recovery_*`, an auto-unseal node ignores `secret_*`)."""
    if kind == SHAMIR:
        return {"secret_shares": shares, "secret_threshold": threshold}
    return {"recovery_shares": shares, "recovery_threshold": threshold}


def initialize(node: str, ca_file: str, shares: int, threshold: int,
               kind: str = SHAMIR) -> dict[str, Any] | None:
    """Vault's init answer, or None if the cluster was already initialized."""
    with node_client(node, ca_file, timeout=60.0) as client:
        response = client.put("/v1/sys/init", json=init_request(kind, shares, threshold))
    if response.status_code == 400 and "already initialized" in response.text:
        return None
    if response.status_code != 200:
        raise RuntimeError(f"{node} refused sys/init: HTTP {response.status_code}: "
                           f"{response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def is_recovery(init: dict[str, Any]) -> bool:
    """Whether an init answer holds recovery keys (an auto-unseal seal) instead of shares."""
    return not init.get("keys") and bool(init.get("recovery_keys"))


def print_ceremony(init: dict[str, Any], threshold: int, output: str,
                   kind: str = SHAMIR) -> None:
    if output == "json":
        print(json.dumps(init))
        return
    if is_recovery(init):
        keys = init["recovery_keys"]
        print(f"StrongBox initialized with the {kind} seal: the nodes unseal themselves. "
              f"{len(keys)} recovery key shares, any {threshold} authorize generate-root "
              "and rekey-recovery-key.")
        print("Recovery keys cannot unseal a node: if the seal is unavailable, the nodes "
              "stay sealed until it is back.")
        for number, key in enumerate(keys, 1):
            print(f"Recovery key {number}: {key}")
    else:
        keys = init["keys"]
        print(f"StrongBox initialized: {len(keys)} unseal key shares, any {threshold} unseal.")
        for number, key in enumerate(keys, 1):
            print(f"Unseal key {number}: {key}")
    print(f"Initial root token: {init['root_token']}")
    print("Give each share to a different key holder now; they are not stored anywhere. "
          "Revoke the root token once you have set up other administrators.")
    sys.stdout.flush()


def store_dev_secrets(prefix: str, init: dict[str, Any]) -> list[str]:
    """INSECURE (dev only): one Secret per share holder, via the pod's service account
    (`PREFIX-share-N`, or `PREFIX-recovery-key-N` for an auto-unseal seal's recovery
    keys, which cannot unseal)."""
    api = KubeApi.in_cluster()
    labels = {"app.kubernetes.io/managed-by": "strongbox-bootstrap"}
    recovery = is_recovery(init)
    keys, stem = (init["recovery_keys"], "recovery-key") if recovery else (init["keys"],
                                                                           "share")
    names = []
    for number, key in enumerate(keys, 1):
        name = f"{prefix}-{stem}-{number}"
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


def _unsealed(client: httpx.Client) -> bool | None:
    try:
        status = client.get("/v1/sys/seal-status").json()
    except (httpx.HTTPError, ValueError):
        return None
    return True if status.get("initialized") and status.get("sealed") is False else None


def wait_unsealed(nodes: list[str], ca_file: str, timeout: float) -> None:
    """Auto-unseal: nothing to send; wait (`timeout` in all) until every node has
    unsealed itself. TimeoutError names the first node still sealed."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        with node_client(node, ca_file, timeout=15.0) as client:
            try:
                wait_until(functools.partial(_unsealed, client), f"{node} to unseal itself",
                           max(0.0, deadline - time.monotonic()), 0.2)
            except TimeoutError:
                status = _seal_status(node, ca_file) or {}
                if status.get("seal_error"):
                    log.error("%s is still sealed: %s", node, status["seal_error"])
                raise
        log.info("%s unsealed itself", node)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m strongbox.ops.bootstrap",
                                     description="Initialize a new StrongBox cluster once.")
    parser.add_argument("--node", action="append", required=True,
                        help="a member's API address (repeat for every member)")
    parser.add_argument("--ca-file", default="", help="CA bundle that signed the nodes")
    parser.add_argument("--shares", type=int, default=5,
                        help="unseal key shares (recovery key shares with an auto-unseal seal)")
    parser.add_argument("--threshold", type=int, default=3)
    parser.add_argument("--wait-timeout", type=float, default=600.0)
    parser.add_argument("--output", choices=("text", "json"), default="text")
    parser.add_argument("--insecure-dev-secrets", metavar="PREFIX", default="",
                        help="dev only: store shares and root token in Kubernetes Secrets")
    parser.add_argument("--unseal", action="store_true",
                        help="unseal every node afterwards (auto-unseal: wait until every "
                             "node has unsealed itself)")
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
    try:
        kinds = {node: seal_type(node, args.ca_file, args.wait_timeout) for node in nodes}
    except TimeoutError as exc:
        log.error("%s", exc)
        return 1
    kind = kinds.get(leader, SHAMIR)
    if len(set(kinds.values())) > 1:
        log.error("the nodes are configured with different seals (%s): every member needs "
                  "the same [seal] before the cluster is initialized",
                  ", ".join(f"{node}: {k}" for node, k in kinds.items()))
        return 1
    log.info("initializing through %s (seal %s, %d %s shares, threshold %d)", leader, kind,
             args.shares, "unseal key" if kind == SHAMIR else "recovery key", args.threshold)
    try:
        init = initialize(leader, args.ca_file, args.shares, args.threshold, kind)
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
        what = "recovery keys" if is_recovery(init) else "shares"
        print(f"INSECURE dev mode: {what} and root token stored in Secrets: "
              + ", ".join(names))
    else:
        print_ceremony(init, args.threshold, args.output, kind)
    if args.unseal:
        try:
            if is_recovery(init):
                wait_unsealed(nodes, args.ca_file, args.wait_timeout)
            else:
                unseal_all(nodes, args.ca_file, init["keys"][: args.threshold],
                           args.wait_timeout)
        except TimeoutError as exc:
            log.error("%s", exc)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
