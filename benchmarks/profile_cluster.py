"""Profile a real three-node cluster under load with py-spy (all three nodes at once).

Starts `LocalCluster` (TLS, mTLS gRPC Raft, LMDB and journals on disk), writes the
benchmark keys, then drives one workload (`write` on the leader, `read` on a follower)
for `--duration` seconds from the load generator of ``kv_single_node.py`` while
``py-spy record --format raw`` samples every node (threads included, idle excluded).
Writes each node's collapsed stacks to ``<out>/<node>.txt`` and prints, per node, the
functions with the most samples (inclusive and self), so a change can be judged by
where the CPU goes rather than by req/s alone. Findings live in benchmarks/README.md.

Usage: ``python benchmarks/profile_cluster.py --workload write --connections 32``.
Needs py-spy (``pip install py-spy``) and permission to ptrace the nodes (root here).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kv_single_node import (
    client_ssl_context,
    drive,
    read_requests,
    send_all,
    write_requests,
)

from strongbox.testing import LocalCluster


def top(stacks: Path, limit: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(inclusive, self, total) sample counts by function from py-spy's raw output."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [frame.split(" (")[0] + " " + frame.split(" (")[-1].split(":")[0].rstrip(")")
                  for frame in stack.split(";")[1:]]  # the first frame is the thread
        for frame in set(frames):
            inclusive[frame] += count
        if frames:
            own[frames[-1]] += count
    return inclusive.most_common(limit), own.most_common(limit), total


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=("write", "read"), default="write")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "sb-profile")
    return parser.parse_args(argv)


async def load(cluster: LocalCluster, args: argparse.Namespace) -> None:
    leader = cluster.wait_leader()
    ctx = client_ssl_context(leader.tls.ca_cert)
    writes = write_requests(cluster.root_token, random.Random(1))
    await send_all(leader.port, ctx, writes, 16)
    if args.workload == "write":
        target, requests = leader, writes
    else:
        target, requests = cluster.followers()[0], read_requests(cluster.root_token)
    procs = []
    args.out.mkdir(parents=True, exist_ok=True)
    for node in cluster.nodes:
        assert node.proc is not None
        procs.append(subprocess.Popen(
            ["py-spy", "record", "--pid", str(node.proc.pid), "--format", "raw",
             "--duration", str(int(args.duration) + 1), "--rate", "200", "--threads",
             "--output", str(args.out / f"{node.node_id}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    tally = await drive(target.port, ctx, requests, args.connections, 0.5, args.duration, 1)
    for proc in procs:
        proc.wait(timeout=60)
    print(f"{args.workload}: {len(tally.latencies_ns) / args.duration:.1f} req/s, "
          f"{tally.errors} errors")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("py-spy") is None:
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(Path(tmp)) as cluster:
        cluster.init_and_unseal()
        asyncio.run(load(cluster, args))
        leader_id = cluster.wait_leader().node_id
    for stacks in sorted(args.out.glob("node-*.txt")):
        inclusive, own, total = top(stacks, args.top)
        role = "leader" if stacks.stem == leader_id else "follower"
        print(f"\n## {stacks.stem} ({role}), {total} samples")
        print("inclusive:")
        for name, count in inclusive:
            print(f"  {100 * count / max(total, 1):5.1f}%  {name}")
        print("self:")
        for name, count in own:
            print(f"  {100 * count / max(total, 1):5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
