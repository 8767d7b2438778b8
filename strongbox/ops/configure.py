"""Bring a cluster's Kubernetes auth method to a declared state:
`python -m strongbox.ops.configure`.

    python -m strongbox.ops.configure --addr https://sb.ns.svc:8200 --ca-file /tls/ca.crt \\
        --token-file /token/token --state /state/kubernetes-auth.json

The state file (the chart renders it from `authMethods.kubernetes`) is JSON:

    {"path": "kubernetes",
     "config": {"kubernetes_host": "https://kubernetes.default.svc", "issuer": "",
                "pem_keys": [], "disable_iss_validation": false},
     "policies": {"shop-web": "path \\"secret/data/shop/*\\" { capabilities = [\\"read\\"] }"},
     "roles": {"shop-web": {"bound_service_account_names": ["web"],
                            "bound_service_account_namespaces": ["shop"],
                            "token_policies": ["shop-web"], "token_ttl": "1h",
                            "audience": ""}}}

Contract:
- Waits (up to `--wait-timeout` seconds) until the node answers sys/health as
  initialized and unsealed, then: enables `auth/<path>` with type kubernetes if absent
  (a mount of another type there is an error), writes `config` with
  `kubernetes_ca_cert` = the PEM in `--kube-ca-file` (the in-pod CA by default;
  `token_reviewer_jwt` is never written: the server pods review with their own,
  rotating, service-account token, `disable_local_ca_jwt` false), then each policy and
  role. Each is written only when what the node reports differs from the state.
- Idempotent: a second run against an unchanged cluster writes nothing. It never deletes
  roles or policies that the state does not mention.
- Prints `{"changed": [...]}` (what it wrote) on stdout; logs to stderr. The token comes
  from a file and is never logged.
Exit codes: 0 done, 1 the node refused, could not be reached or stayed sealed, 2 bad
arguments or state file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

import httpx

from strongbox.ops.common import node_client, read_token, setup_logging, wait_until

log = logging.getLogger("strongbox.ops.configure")
POD_CA_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
DURATION = re.compile(r"^(\d+)([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
CONFIG_FIELDS = ("kubernetes_host", "issuer", "pem_keys", "disable_iss_validation")
DURATION_FIELDS = ("token_ttl", "token_max_ttl")


class StateError(ValueError):
    """The state file is not what this program understands (exit code 2)."""


def seconds(value: str | int) -> int:
    """'90', '90s', '15m', '1h', '7d' or an int -> seconds."""
    match = DURATION.match(str(value).strip())
    if match is None:
        raise StateError(f"expected a duration such as 3600, 30m or 1h, got {value!r}")
    return int(match[1]) * UNITS[match[2]]


def load_state(path: Path) -> dict[str, Any]:
    """The state file, checked and normalized (durations in seconds)."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StateError(f"cannot read the state file {path}: {exc}") from None
    if not isinstance(state, dict) or not isinstance(state.get("path"), str) \
            or not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", state["path"]):
        raise StateError("the state needs \"path\": a mount path such as \"kubernetes\"")
    for key in ("config", "policies", "roles"):
        if not isinstance(state.setdefault(key, {}), dict):
            raise StateError(f"{key!r} must be an object")
    unknown = set(state["config"]) - set(CONFIG_FIELDS)
    if unknown:
        raise StateError(f"unknown config fields: {', '.join(sorted(unknown))}")
    for name, role in state["roles"].items():
        if not isinstance(role, dict):
            raise StateError(f"role {name!r} must be an object")
        for field in DURATION_FIELDS:
            if field in role:
                role[field] = seconds(role[field])
        if isinstance(role.get("token_policies"), list):  # the node keeps them sorted
            role["token_policies"] = sorted({str(p).lower() for p in role["token_policies"]})
    return state


def _check(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 400:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response


def _read(client: httpx.Client, path: str, missing: tuple[int, ...] = (404,)) -> \
        dict[str, Any] | None:
    """The `data` of GET /v1/<path>; None when it answers one of the `missing` codes."""
    response = client.get(f"/v1/{path}")
    if response.status_code in missing:
        return None
    data: dict[str, Any] = _check(response, f"reading {path}").json().get("data") or {}
    return data


def _differs(desired: dict[str, Any], current: dict[str, Any] | None) -> bool:
    if current is None:
        return True
    return any(current.get(key) != value for key, value in desired.items())


def wait_unsealed(client: httpx.Client, timeout: float) -> None:
    def probe() -> bool | None:
        try:
            health = client.get("/v1/sys/health?standbyok=true&perfstandbyok=true").json()
        except (httpx.HTTPError, ValueError):
            return None
        return True if health.get("initialized") and not health.get("sealed") else None
    wait_until(probe, "the cluster to be initialized and unsealed", timeout, interval=2.0)


def ensure_mount(client: httpx.Client, path: str) -> bool:
    """Enable auth/<path> as kubernetes unless it is; True when it wrote."""
    mounts = _check(client.get("/v1/sys/auth"), "listing auth methods").json()
    mounts = mounts.get("data", mounts)
    existing = mounts.get(f"{path}/")
    if existing is not None:
        if existing.get("type") != "kubernetes":
            raise RuntimeError(f"auth/{path} is a {existing.get('type')!r} method, not "
                               "kubernetes: choose another path")
        return False
    _check(client.post(f"/v1/sys/auth/{path}", json={"type": "kubernetes"}),
           f"enabling auth/{path}")
    return True


def apply_state(client: httpx.Client, state: dict[str, Any], kube_ca: str) -> list[str]:
    """Write what differs from `state`; the names of what was written."""
    path = state["path"]
    changed = [f"sys/auth/{path}"] if ensure_mount(client, path) else []
    config = {"kubernetes_host": "", "issuer": "", "pem_keys": [],
              "disable_iss_validation": False, **state["config"],
              "kubernetes_ca_cert": kube_ca, "disable_local_ca_jwt": False}
    # The node keeps each PEM block without surrounding whitespace: compare like for like.
    config["pem_keys"] = [key.strip() for key in config["pem_keys"]]
    # A mount never configured answers its config with a 400 ("not configured").
    if _differs(config, _read(client, f"auth/{path}/config", missing=(400, 404))):
        _check(client.post(f"/v1/auth/{path}/config", json=config), f"writing auth/{path}/config")
        changed.append(f"auth/{path}/config")
    for name, text in sorted(state["policies"].items()):
        current = _read(client, f"sys/policies/acl/{name}")
        if current is None or current.get("policy") != text:
            _check(client.put(f"/v1/sys/policies/acl/{name}", json={"policy": text}),
                   f"writing policy {name}")
            changed.append(f"sys/policies/acl/{name}")
    for name, role in sorted(state["roles"].items()):
        if _differs(role, _read(client, f"auth/{path}/role/{name}")):
            _check(client.post(f"/v1/auth/{path}/role/{name}", json=role),
                   f"writing role {name}")
            changed.append(f"auth/{path}/role/{name}")
    return changed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m strongbox.ops.configure")
    parser.add_argument("--addr", default=os.environ.get("VAULT_ADDR", ""))
    parser.add_argument("--ca-file", default=os.environ.get("VAULT_CACERT", ""))
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--state", required=True, help="the desired state (JSON)")
    parser.add_argument("--kube-ca-file",
                        default=os.environ.get("STRONGBOX_KUBE_CA_FILE", POD_CA_FILE),
                        help="the Kubernetes API server's CA (PEM)")
    parser.add_argument("--wait-timeout", type=float, default=600.0,
                        help="seconds to wait for the cluster to be unsealed")
    args = parser.parse_args(argv)
    if not args.addr:
        parser.error("--addr (or VAULT_ADDR) is required")
    return args


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = parse_args(argv)
    try:
        state = load_state(Path(args.state))
        kube_ca = Path(args.kube_ca_file).read_text()
    except (StateError, OSError) as exc:
        log.error("configure: %s", exc)
        return 2
    token = read_token(args.token_file)
    try:
        with node_client(args.addr, args.ca_file, token) as client:
            wait_unsealed(client, args.wait_timeout)
            changed = apply_state(client, state, kube_ca)
    except (httpx.HTTPError, RuntimeError, TimeoutError) as exc:
        log.error("configure failed: %s", exc)
        return 1
    log.info("auth/%s: %d change(s)", state["path"], len(changed))
    print(json.dumps({"changed": changed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
