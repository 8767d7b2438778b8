"""Keep this pod's `strongbox.io/active` label equal to its Raft role:
`python -m strongbox.ops.podlabel` (a sidecar; the chart's `serviceRegistration`).

Every `--interval` seconds it asks its own node `GET /v1/sys/health` (localhost; no
token) and merge-patches the pod's labels when the answer changed: `"true"` on the
unsealed leader, `"false"` on an unsealed follower; a sealed or uninitialized node gets
`"false"` (the Services also need the pod Ready, which a sealed pod is not). The
`<release>-active` and `<release>-standby` Services select on it.

Labels can lag by one interval after a leader change; a request that lands on a former
leader is forwarded to the new one by StrongBox itself, so a stale label costs a hop,
never correctness. Runs forever; exits 1 only on bad arguments. Each round touches
`--heartbeat` (a file in /tmp); `--check` exits 0 only if that file is fresh (the
sidecar's liveness and readiness probes).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import httpx

from strongbox.ops.common import node_client, setup_logging
from strongbox.ops.kube import KubeApi, KubeError

log = logging.getLogger("strongbox.ops.podlabel")
LABEL = "strongbox.io/active"


def role_label(addr: str, ca_file: str) -> str | None:
    """"true" / "false" from the node's health, None if it did not answer."""
    try:
        with node_client(addr, ca_file, timeout=5.0) as client:
            body = client.get("/v1/sys/health", params={"standbyok": "true"}).json()
    except (httpx.HTTPError, ValueError):
        return None
    active = body.get("initialized") and not body.get("sealed") and not body.get("standby")
    return "true" if active else "false"


def heartbeat_fresh(path: Path, interval: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime < max(3 * interval, 10.0)
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    parser = argparse.ArgumentParser(prog="python -m strongbox.ops.podlabel")
    parser.add_argument("--addr", default="https://127.0.0.1:8200")
    parser.add_argument("--ca-file", default="")
    parser.add_argument("--pod", default=os.environ.get("POD_NAME", ""))
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--heartbeat", default="/tmp/podlabel.alive")  # noqa: S108
    parser.add_argument("--check", action="store_true", help="probe: is the loop alive?")
    args = parser.parse_args(argv)
    heartbeat = Path(args.heartbeat)
    if args.check:
        return 0 if heartbeat_fresh(heartbeat, args.interval) else 1
    if not args.pod:
        parser.error("--pod (or POD_NAME) is required")
    api = KubeApi.in_cluster()
    current: str | None = None
    while True:
        wanted = role_label(args.addr, args.ca_file)
        if wanted is not None and wanted != current:
            try:
                api.label_pod(args.pod, {LABEL: wanted})
                log.info("%s=%s on %s", LABEL, wanted, args.pod)
                current = wanted
            except (KubeError, httpx.HTTPError, OSError) as exc:
                log.error("cannot label %s: %s", args.pod, exc)
        heartbeat.touch()
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
