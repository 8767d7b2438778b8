"""One node, one API process vs two (read workers), same load, same run.

What is measured
----------------
A single `strongbox server` process tree (TLS, LMDB on disk, a policy-restricted token, a
file audit device) is started with `listener.workers = 1`, filled with `--keys` secrets of
1 KiB, and driven by wrk (`wrk/strongbox_read.lua`: a random key per request, 32
connections) for `--duration` seconds after a warm-up; then the same with `workers = 2`.
Rounds alternate the order (1, 2 then 2, 1) so that a change in the machine's load hits
both. The result is the req/s of each and `scaling` = 2 workers ÷ 1 worker (the issue's
target: ≥ 1.5 on a 2-core machine), with p50/p99 and the CPU of the process tree.

wrk itself needs CPU: on a 2-core machine it competes with the two server processes, so
`scaling` here is a lower bound of what two dedicated cores give.

Usage: ``python benchmarks/read_workers.py [--duration 10] [--rounds 2] [--out DIR]``.
Writes ``<out>/read_workers.json`` and ``<out>/read_workers.md``; exit code 1 on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import ssl
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sbs.load import http_request, run_wrk, send_all
from sbs.systems import POLICY, key_name, random_value

from strongbox.testing import ServerProcess, make_tls

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk" / "strongbox_read.lua"


def tree_cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and its children (the read workers)."""
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids += [int(child) for child in (task / "children").read_text().split()]
    for one in pids:
        with open(f"/proc/{one}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def start(directory: Path, workers: int, keys: int) -> tuple[ServerProcess, str]:
    node = ServerProcess(directory / "data", make_tls(directory / "tls"), workers=workers)
    node.start()
    _, root = node.init_and_unseal()
    with node.client(root) as client:
        client.put("/v1/sys/policy/bench", json={"policy": POLICY}).raise_for_status()
        client.put("/v1/sys/audit/bench", json={
            "type": "file", "options": {"file_path": "audit.log"}}).raise_for_status()
        answer = client.post("/v1/auth/token/create", json={"policies": ["bench"]})
        answer.raise_for_status()
        token = answer.json()["auth"]["client_token"]
    rng = random.Random(1)
    writes = [http_request("POST", f"/v1/secret/data/{key_name(i)}", {"X-Vault-Token": token},
                           json.dumps({"data": {"value": random_value(rng)}}).encode())
              for i in range(keys)]
    import asyncio  # noqa: PLC0415 - only for the fill

    context = ssl.create_default_context(cafile=str(node.tls.ca_cert))
    if asyncio.run(send_all(node.port, context, writes, 16)):
        raise RuntimeError("the fill had errors")
    time.sleep(1.0 if workers > 1 else 0.0)  # the worker binds once it has the state
    return node, token


def measure(workers: int, args: argparse.Namespace, round_no: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sb-workers-") as tmp:
        node, token = start(Path(tmp), workers, args.keys)
        try:
            env = {**os.environ, "SBS_TOKEN": token, "SBS_KEYS": str(args.keys)}
            url = f"https://127.0.0.1:{node.port}"
            run_wrk(url, str(WRK_SCRIPT), 2, 32, args.warmup, env)
            cpu0, wall0 = tree_cpu_s(node.pid), time.perf_counter()
            result = run_wrk(url, str(WRK_SCRIPT), 2, 32, args.duration, env)
            cpu = 100 * (tree_cpu_s(node.pid) - cpu0) / (time.perf_counter() - wall0)
        finally:
            node.stop()
    record = {"round": round_no, "workers": workers, "rps": result.rps,
              "errors": result.errors, "p50_ms": result.latency_ms["p50"],
              "p99_ms": result.latency_ms["p99"], "server_cpu_pct": round(cpu, 1)}
    print(f"  round {round_no} workers={workers}: {result.rps:.1f} req/s  "
          f"p50 {record['p50_ms']:.2f} ms  p99 {record['p99_ms']:.2f} ms  "
          f"server CPU {cpu:.0f}%  errors {result.errors}", flush=True)
    return record


def markdown(runs: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    lines = [f"# read_workers results\n\n{summary['time']} · {summary['cpus']} CPUs · one node, "
             "wrk 32 connections, random key of "
             f"{summary['keys']}, policy token, file audit device\n",
             "| round | workers | req/s | p50 ms | p99 ms | server CPU % | errors |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['round']} | {r['workers']} | {r['rps']:.1f} | {r['p50_ms']:.2f} | "
              f"{r['p99_ms']:.2f} | {r['server_cpu_pct']:.0f} | {r['errors']} |" for r in runs]
    lines.append(f"\n**scaling (2 workers ÷ 1 worker, mean of rounds): "
                 f"{summary['scaling']:.2f}x** ({summary['rps_1']:.0f} → "
                 f"{summary['rps_2']:.0f} req/s)")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run (wrk)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    runs = []
    for round_no in range(1, args.rounds + 1):
        for workers in ((1, 2) if round_no % 2 else (2, 1)):
            runs.append(measure(workers, args, round_no))
    mean = {w: sum(r["rps"] for r in runs if r["workers"] == w) /
            max(1, sum(1 for r in runs if r["workers"] == w)) for w in (1, 2)}
    summary = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "cpus": os.cpu_count(), "keys": args.keys, "rps_1": mean[1], "rps_2": mean[2],
               "scaling": mean[2] / mean[1] if mean[1] else 0.0}
    text = markdown(runs, summary)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "read_workers.json").write_text(
        json.dumps({"summary": summary, "runs": runs}, indent=2) + "\n")
    (args.out / "read_workers.md").write_text(text)
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
