"""SDK read latency and throughput on a real three-node cluster, and what a killed node
costs a reading client.

What is measured
----------------
A `strongbox.testing.LocalCluster` of three real nodes (TLS API, Raft over mTLS, LMDB) on
loopback is started, initialised and unsealed; 200 secrets of ~200 bytes are written.
Each phase then reads random secrets for `--duration` seconds (after a 0.5 s warm-up
that is not counted) from `--threads` threads sharing one client:

* ``raw_follower``      - plain ``httpx.Client`` GETs on a follower: the baseline of this run
                          (the HTTP + TLS + server floor, no SDK).
* ``sdk_follower_stale``- ``strongbox.client.Client`` pinned to the same follower,
                          ``consistency="stale"``: the SDK's own cost is this / baseline.
* ``sdk_leader_stale``  - the same on the leader (the leader also drives replication).
* ``sdk_follower_ryw``  - follower, ``read_your_writes`` after a write (the X-Vault-Index is
                          sent; the follower is caught up, so this is the header check).
* ``sdk_follower_linearizable`` - follower, ``X-Strongbox-Consistency: consistent`` (a
                          Raft no-op through the leader before every read).
* ``sdk_kill_follower`` - a client given all three addresses (``discover=True``, so reads
                          go to a follower) reads for ``2 x --duration``; half-way the
                          follower it reads from is killed with SIGKILL. Reported: errors
                          the application saw, p99 and max before vs after the kill.

Per phase: reads, errors, reads/s, p50/p90/p99/max latency (ms, per call, as the
application sees it), and ``ratio`` = reads/s / baseline reads/s.

How to read it
--------------
The machine is small and shared (three servers and the load generator on 2 cores), so
absolute numbers move between runs; the ratios within one run are the result. Threads
share the GIL with the SDK's Python code, so the SDK overhead here is an upper bound.

Usage: ``python benchmarks/sdk_reads.py [--duration 3] [--threads 4] [--out benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import os
import random
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from kv_cluster import source_version
from kv_single_node import machine_info, percentile_ms, write_results

from strongbox.client import Client, errors
from strongbox.testing import LocalCluster, ServerProcess

N_SECRETS = 200
VALUE_BYTES = 200
WARMUP_S = 0.5


@dataclass
class Phase:
    name: str
    node: str
    threads: int
    reads: int
    errors: int
    reads_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    ratio: float = 0.0
    note: str = ""


def run_load(read: Callable[[str], object], seconds: float, threads: int, seed: int,
             ) -> tuple[list[tuple[float, int]], int]:
    """(completion time, latency ns) of every read, and the error count."""
    samples: list[tuple[float, int]] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + WARMUP_S + seconds
    start_at = time.monotonic() + WARMUP_S

    def worker(n: int) -> None:
        rng = random.Random(seed + n)
        mine: list[tuple[float, int]] = []
        bad = 0
        while (now := time.monotonic()) < stop_at:
            t0 = time.perf_counter_ns()
            try:
                read(f"bench/s{rng.randrange(N_SECRETS)}")
            except (errors.ClientError, httpx.HTTPError, AssertionError):
                bad += 1
                continue
            if now >= start_at:
                mine.append((time.monotonic(), time.perf_counter_ns() - t0))
        with lock:
            samples.extend(mine)
            failures[0] += bad
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return samples, failures[0]


def summarize(name: str, node: str, threads: int, samples: list[tuple[float, int]],
              failures: int, seconds: float, note: str = "") -> Phase:
    latencies = sorted(ns for _, ns in samples)
    return Phase(name, node, threads, len(latencies), failures,
                 round(len(latencies) / seconds, 1), percentile_ms(latencies, 50),
                 percentile_ms(latencies, 90), percentile_ms(latencies, 99),
                 percentile_ms(latencies, 100), note=note)


def sdk(cluster: LocalCluster, nodes: Sequence[ServerProcess], **kwargs: Any) -> Client:
    return Client(address=[n.addr for n in nodes], token=cluster.root_token,
                  cacert=str(cluster.nodes[0].tls.ca_cert), retries=8, **kwargs)


def steady_phases(cluster: LocalCluster, args: argparse.Namespace) -> list[Phase]:
    leader = cluster.wait_leader()
    follower = cluster.followers()[0]
    phases: list[Phase] = []
    context = ssl.create_default_context(cafile=str(cluster.nodes[0].tls.ca_cert))
    with httpx.Client(base_url=follower.addr, verify=context,
                      headers={"X-Vault-Token": cluster.root_token}) as raw:
        def raw_read(path: str) -> object:
            response = raw.get(f"/v1/secret/data/{path}")
            assert response.status_code == 200
            return response.json()
        phases.append(summarize("raw_follower", "follower", args.threads,
                                *run_load(raw_read, args.duration, args.threads, args.seed),
                                args.duration))
    plan = [("sdk_follower_stale", follower, "stale"), ("sdk_leader_stale", leader, "stale"),
            ("sdk_follower_ryw", follower, "read_your_writes"),
            ("sdk_follower_linearizable", follower, "linearizable")]
    for name, node, level in plan:
        with sdk(cluster, [node], consistency=level) as client:
            client.kv.v2.write("bench/marker", {"v": 1})  # gives read_your_writes an index
            role = "leader" if node is leader else "follower"
            phases.append(summarize(name, role, args.threads, *run_load(
                lambda p, c=client: c.kv.v2.read(p), args.duration, args.threads, args.seed),
                args.duration))
    return phases


def kill_phase(cluster: LocalCluster, args: argparse.Namespace) -> Phase:
    """Reads through a failover: the follower being read from is killed half-way."""
    with sdk(cluster, cluster.nodes, consistency="stale", discover=True) as client:
        victim_addr = client.request("GET", "secret/data/bench/s0", consistency="stale").node
        victim = next(n for n in cluster.nodes if n.addr == victim_addr)
        killed_at: list[float] = []

        def killer() -> None:
            time.sleep(WARMUP_S + args.duration)  # half-way through the phase
            killed_at.append(time.monotonic())
            victim.kill()
        thread = threading.Thread(target=killer)
        thread.start()
        samples, failures = run_load(client.kv.v2.read, 2 * args.duration,
                                     args.threads, args.seed)
        thread.join()
    before = sorted(ns for t, ns in samples if t < killed_at[0])
    after = sorted(ns for t, ns in samples if t >= killed_at[0])
    note = (f"before kill p99 {percentile_ms(before, 99)} ms max {percentile_ms(before, 100)}"
            f" ms; after kill p99 {percentile_ms(after, 99)} ms max "
            f"{percentile_ms(after, 100)} ms; extra p99 "
            f"{round(percentile_ms(after, 99) - percentile_ms(before, 99), 3)} ms")
    return summarize("sdk_kill_follower", "any (follower killed)", args.threads, samples,
                     failures, 2 * args.duration, note)


def sdk_overhead_us(calls: int = 3000) -> dict[str, float]:
    """Per-call CPU of the SDK vs plain httpx, in process (httpx.MockTransport: no network,
    no server), so the machine's noise does not hide it."""
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"data": {"data": {"v": "x" * VALUE_BYTES}}})
    transport = httpx.MockTransport(handler)
    out: dict[str, float] = {}
    with Client(address="https://n:8200", token="t", transport=transport) as client, \
            httpx.Client(transport=transport, base_url="https://n:8200") as raw:
        def raw_read() -> object:
            return raw.get("/v1/secret/data/x", headers={"X-Vault-Token": "t"}).json()
        for name, fn in (("raw_us", raw_read), ("sdk_us", lambda: client.kv.v2.read("x"))):
            fn()
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            out[name] = round((time.perf_counter() - t0) / calls * 1e6, 1)
    out["sdk_extra_us"] = round(out["sdk_us"] - out["raw_us"], 1)
    return out


def markdown_report(report: dict[str, Any], phases: Sequence[Phase]) -> str:
    m = report["machine"]
    lines = ["# sdk_reads results", "",
             f"{m['date']} · {m['cpu_count']} CPUs ({m['cpu_model']}) · Python {m['python']}"
             f" · strongbox {m['strongbox_version']} (commit {m.get('git_commit')}) · load "
             f"avg before {m['load_average']}, after {m.get('load_average_after')}", "",
             f"3 nodes on loopback, TLS; {report['settings']['duration_s']} s per phase after "
             f"{WARMUP_S} s warm-up; {report['settings']['threads']} threads sharing one client;"
             f" {N_SECRETS} secrets of ~{VALUE_BYTES} B. ratio = reads/s / raw_follower "
             "reads/s of the same run.", "",
             "| phase | node | reads | errors | reads/s | p50 ms | p90 ms | p99 ms | max ms |"
             " ratio |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {p.name} | {p.node} | {p.reads} | {p.errors} | {p.reads_per_s} | "
              f"{p.p50_ms} | {p.p90_ms} | {p.p99_ms} | {p.max_ms} | {p.ratio} |"
              for p in phases]
    s = report["settings"]
    lines += ["", f"read_your_writes vs stale on a follower: {s['ryw_over_stale_p50']}x p50, "
              f"{s['ryw_over_stale_rps']}x reads/s; linearizable vs stale: "
              f"{s['lin_over_stale_p50']}x p50. Follower vs leader reads/s: "
              f"{s['follower_over_leader_rps']}x.", "",
              f"Killed follower: {phases[-1].errors} errors seen by the application; "
              f"{phases[-1].note}.", "",
              f"SDK CPU per read in process (MockTransport, no network): {s['sdk_us']} us vs "
              f"{s['raw_us']} us for plain httpx: +{s['sdk_extra_us']} us per call.", ""]
    return "\n".join(lines)


def derived(phases: Sequence[Phase]) -> dict[str, float]:
    by = {p.name: p for p in phases}
    base = by["raw_follower"].reads_per_s or 1.0
    for p in phases:
        p.ratio = round(p.reads_per_s / base, 3)

    def div(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0
    stale, ryw = by["sdk_follower_stale"], by["sdk_follower_ryw"]
    return {"ryw_over_stale_p50": div(ryw.p50_ms, stale.p50_ms),
            "ryw_over_stale_rps": div(ryw.reads_per_s, stale.reads_per_s),
            "lin_over_stale_p50": div(by["sdk_follower_linearizable"].p50_ms, stale.p50_ms),
            "follower_over_leader_rps": div(stale.reads_per_s,
                                            by["sdk_leader_stale"].reads_per_s)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="SDK read latency/throughput on a real "
                                     "3-node cluster; see the module docstring.")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-sdk-") as tmp:
        machine = {**machine_info(Path(tmp)), **source_version()}
        cluster = LocalCluster(Path(tmp) / "cluster", 3)
        try:
            cluster.start()
            cluster.init_and_unseal()
            with sdk(cluster, [cluster.wait_leader()]) as writer:
                for i in range(N_SECRETS):
                    writer.kv.v2.write(f"bench/s{i}", {"v": "x" * VALUE_BYTES})
            phases = steady_phases(cluster, args)
            phases.append(kill_phase(cluster, args))
        finally:
            cluster.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    settings = {"duration_s": args.duration, "threads": args.threads, "seed": args.seed,
                "secrets": N_SECRETS, **derived(phases), **sdk_overhead_us()}
    report = {"benchmark": "sdk_reads", "machine": machine, "settings": settings,
              "phases": [asdict(p) for p in phases]}
    markdown = markdown_report(report, phases)
    write_results(args.out, report, markdown, "sdk_reads")
    print(markdown)
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
