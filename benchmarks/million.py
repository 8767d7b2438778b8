"""A three-node StrongBox cluster holding 1,000,000 secrets: latency, memory, disk, snapshots.

What is measured
----------------
The issue's targets: "1M secrets stored: read and write p99 within 1.5x of the 2k-key case;
RSS <= 300 MiB per node; data dir size per 100k secrets and snapshot/restore time for 100k
secrets reported". One run does, on a real `LocalCluster` (three `strongbox server`
processes, TLS API, Raft over mTLS gRPC, LMDB + the Raft journal on disk, fsync):

1. **Baseline at 2,000 keys** (``--baseline-keys``): 2,000 secrets of 1 KiB are written, then
   ``health`` (follower, 16 connections: the machine's floor), ``kv_read`` (follower, 16
   connections, random of the 2,000) and ``kv_write`` (leader, ``--write-connections``,
   random of the 2,000, a new 1 KiB version each) for ``--duration`` s each, with the load
   generator of ``kv_single_node.py`` (phases as in ``kv_cluster.py``).
2. **Fill** to ``--secrets`` (default 1,000,000) distinct keys of 1 KiB through the ordinary
   KV v2 API (``--fill-connections`` keep-alive connections to the leader, or to every node
   with ``--fill-via all``: followers forward). Nothing is bulk-loaded: the store is exactly
   what real writes produce. Every ``--progress-every`` s a line gives count, rate, ETA and
   each node's RSS. At every ``--mark-every`` keys (default 100,000) and at the end the fill
   pauses until the three applied indexes agree and records each node's RSS (VmRSS, anon,
   file-backed = LMDB's mmap, peak VmHWM) and data dir (allocated bytes: LMDB, Raft journal,
   Raft snapshot, other).
3. **Snapshot / restore / catch-up** at the ``--snapshot-at`` mark (default 100,000):
   ``GET /v1/sys/storage/raft/snapshot`` on the leader (time, bytes), then ``POST`` of the
   same file back to the same cluster (time to 204, then until all three nodes applied it;
   the API restores into the running cluster through Raft; a fresh cluster would need
   ``snapshot-force`` and its unseal keys), then a follower is stopped, its data dir wiped
   and the node restarted and unsealed: time until it has caught up (the leader sends its
   Raft snapshot and the journal tail).
4. **At N**: the same three phases, keys drawn from ``--sample`` keys picked uniformly from
   the whole key space; p50/p99 ratios to the baseline (target p99 <= 1.5x).

A fill write that gets a non-2xx answer (e.g. 503 "outcome unknown" when the leader changes
mid-fill) is counted, and after its segment written once more through the current leader so
the store holds every key; the load phases at N go to whoever leads then (the leaders and
the number of elections are reported). Helpers: ``million_support.py`` (key space, fill,
RSS and disk accounting), ``million_report.py`` (summaries, markdown).

Output: progress and a markdown summary on stdout, ``<out>/million.json`` (every number) and
``<out>/million.md``. Exit code 1 if any request (load phases, fill, even if its retry
succeeded, snapshot, restore, read-back) got a non-2xx answer. Only loopback; the cluster
is stopped at the end.

Usage: ``python benchmarks/million.py [--secrets 1000000] [--fill-connections 64]``; see
benchmarks/README.md for how long it takes. Run it as a script from the repository (it
imports ``kv_single_node`` and ``kv_cluster`` next to it).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import ssl
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
from kv_cluster import (
    HEALTH_PATH,
    logged_term,
    run_phase,
    source_version,
    wait_converged,
)
from kv_single_node import (
    PhaseResult,
    add_run_arguments,
    build_request,
    check_run_arguments,
    client_ssl_context,
    machine_info,
    percentile_ms,
    uvloop_factory,
    write_results,
)
from million_report import latency_ratios, markdown_report, memory_summary, per_100k
from million_support import (
    MIB,
    VALUE_BYTES,
    FillState,
    KeyRequests,
    Progress,
    cluster_memory,
    cluster_usage,
    fill,
    key_path,
    mark_points,
)

from strongbox.testing import LocalCluster, ServerProcess

CLUSTER_SIZE = 3
SECRETS = 1_000_000
BASELINE_KEYS = 2_000
READ_CONNECTIONS = 16
WRITE_CONNECTIONS = 8
FILL_CONNECTIONS = 64
MARK_EVERY = 100_000
SNAPSHOT_AT = 100_000
SAMPLE = 100_000
PROGRESS_EVERY_S = 10.0
STORE_BYTES_PER_SECRET = 4096  # LMDB map headroom per 1 KiB secret (measured ~2.6 KiB)
LONG_TIMEOUT_S = 1800.0
VERIFY_KEYS = 20


# --- load phases --------------------------------------------------------------------------


async def load_stage(stage: str, cluster: LocalCluster, leader: ServerProcess,
                     follower: ServerProcess, ctx: ssl.SSLContext, token: str,
                     keys: Sequence[int], args: argparse.Namespace,
                     seed: int) -> list[PhaseResult]:
    """health, kv_read (follower) and kv_write (leader) over `keys`; names end in @stage."""
    health = [build_request("GET", HEALTH_PATH, None)]
    plan: list[tuple[str, ServerProcess, str, Sequence[bytes], int]] = [
        ("health", follower, "follower", health, READ_CONNECTIONS),
        ("kv_read", follower, "follower", KeyRequests("GET", token, keys), READ_CONNECTIONS),
        ("kv_write", leader, "leader", KeyRequests("POST", token, keys),
         args.write_connections)]
    print(f"load phases at {stage} ({len(keys):,} keys drawn from):", flush=True)
    phases: list[PhaseResult] = []
    for i, (name, node, role, requests, connections) in enumerate(plan):
        phases.append(await run_phase(f"{name}@{stage}", cluster, node, role, ctx, requests,
                                      connections, args.duration, seed + 1000 * i))
    for result in phases:  # the stage's own health phase is its floor
        result.ratio_to_health = (round(result.rps / phases[0].rps, 3) if phases[0].rps
                                  else None)
    await wait_converged(cluster, ctx, LONG_TIMEOUT_S)
    return phases


# --- fill and marks -----------------------------------------------------------------------


def fill_ports(cluster: LocalCluster, via: str) -> list[int]:
    """The current leader's API port, or every running node's (`via` == "all")."""
    if via == "all":
        return [n.port for n in cluster.nodes if n.proc is not None]
    return [cluster.wait_leader().port]


async def fill_segment(cluster: LocalCluster, ctx: ssl.SSLContext, token: str,
                       state: FillState, target: int, args: argparse.Namespace,
                       progress: Progress) -> dict[str, Any]:
    """Fill up to `target` keys; wait until the nodes agree; the segment's rate/latency."""
    start_key, errors, t0 = state.next_key, state.errors, time.perf_counter()
    state.end, state.latencies_ns = target, []
    reporter = asyncio.create_task(progress.report(state))
    try:
        await fill(fill_ports(cluster, args.fill_via), ctx, token, state, args.fill_connections)
    finally:
        reporter.cancel()
    written_s = time.perf_counter() - t0
    await wait_converged(cluster, ctx, LONG_TIMEOUT_S)
    lat = sorted(state.latencies_ns)
    converge_s = time.perf_counter() - t0 - written_s
    retried, still_failed = await retry_failed(cluster, ctx, token, state, args)
    return {"from": start_key, "to": target, "fill_s": round(written_s, 2),
            "converge_s": round(converge_s, 2),
            "rate": round((target - start_key) / written_s, 1) if written_s else 0.0,
            "write_p50_ms": percentile_ms(lat, 50), "write_p99_ms": percentile_ms(lat, 99),
            "errors": state.errors - errors, "retried": retried, "still_failed": still_failed}


async def retry_failed(cluster: LocalCluster, ctx: ssl.SSLContext, token: str,
                       state: FillState, args: argparse.Namespace) -> tuple[int, int]:
    """Write the keys whose write got a non-2xx (e.g. 503 "outcome unknown" when the leader
    changed) once more, so the store holds every key; (retried, still failing). The first
    answers stay counted in state.errors and status_counts (the run exits 1)."""
    keys, state.failed = state.failed, []
    if not keys:
        return 0, 0
    errors, done = state.errors, state.done
    state.retry = list(keys)
    try:
        await fill(fill_ports(cluster, args.fill_via), ctx, token, state,
                   min(args.fill_connections, len(keys)))
    finally:
        state.retry = None
    still, state.failed = len(state.failed), []
    state.errors, state.done = errors, done
    await wait_converged(cluster, ctx, LONG_TIMEOUT_S)
    print(f"  [retry] {len(keys)} failed fill writes written again: {still} still failing",
          flush=True)
    return len(keys), still


def take_mark(cluster: LocalCluster, secrets: int, segment: dict[str, Any],
              started: float) -> dict[str, Any]:
    memory, usage = cluster_memory(cluster), cluster_usage(cluster)
    mark = {"secrets": secrets, "elapsed_s": round(time.monotonic() - started, 1),
            "segment": segment, "memory": memory, "data_dir": usage}
    rss = " ".join(f"{k} {v.get('rss_mib', 0):.0f}" for k, v in memory.items())
    disk = " ".join(f"{k} {v['total'] / MIB:.0f}" for k, v in usage.items())
    print(f"  [mark] {secrets:,} secrets: segment {segment['rate']}/s, RSS MiB {rss}, "
          f"data dir MiB {disk}", flush=True)
    return mark


# --- snapshot, restore, catch-up ------------------------------------------------------------


async def snapshot_and_restore(cluster: LocalCluster, leader: ServerProcess,
                               ctx: ssl.SSLContext, token: str,
                               secrets: int) -> dict[str, Any]:
    """Save the API snapshot on the leader and restore the same file into the cluster."""
    async with httpx.AsyncClient(base_url=leader.addr, verify=ctx, timeout=LONG_TIMEOUT_S,
                                 headers={"X-Vault-Token": token}) as client:
        t0 = time.perf_counter()
        saved = await client.get("/v1/sys/storage/raft/snapshot")
        save_s = time.perf_counter() - t0
        out: dict[str, Any] = {"secrets": secrets, "save_status": saved.status_code,
                               "save_s": round(save_s, 3), "bytes": len(saved.content),
                               "index": saved.headers.get("x-strongbox-snapshot-index"),
                               "memory_after_save": cluster_memory(cluster)}
        print(f"  [snapshot] GET {saved.status_code}: {len(saved.content) / MIB:.1f} MiB "
              f"in {save_s:.2f} s", flush=True)
        if saved.status_code != 200:
            return {**out, "errors": 1}
        t0 = time.perf_counter()
        restored = await client.post("/v1/sys/storage/raft/snapshot", content=saved.content)
        restore_s = time.perf_counter() - t0
    await wait_converged(cluster, ctx, LONG_TIMEOUT_S)
    applied_s = time.perf_counter() - t0
    verify_errors = await read_back(cluster, ctx, token, secrets)
    print(f"  [restore] POST {restored.status_code} in {restore_s:.2f} s, all nodes applied "
          f"after {applied_s:.2f} s; read-back errors {verify_errors}", flush=True)
    return {**out, "restore_status": restored.status_code, "restore_s": round(restore_s, 3),
            "restore_applied_s": round(applied_s, 3), "read_back_errors": verify_errors,
            "memory_after_restore": cluster_memory(cluster),
            "errors": int(restored.status_code != 204) + verify_errors}


async def read_back(cluster: LocalCluster, ctx: ssl.SSLContext, token: str,
                    secrets: int) -> int:
    """GET VERIFY_KEYS random existing keys on every node; the number of non-200 answers."""
    keys = random.Random(secrets).sample(range(secrets), min(VERIFY_KEYS, secrets))
    errors = 0
    for node in cluster.nodes:
        async with httpx.AsyncClient(base_url=node.addr, verify=ctx, timeout=30.0,
                                     headers={"X-Vault-Token": token}) as client:
            for key in keys:
                answer = await client.get(key_path(key))
                errors += answer.status_code != 200
    return errors


async def catch_up(cluster: LocalCluster, ctx: ssl.SSLContext,
                   avoid: ServerProcess) -> dict[str, Any]:
    """Stop a follower (not `avoid`), wipe its data dir, restart and unseal it; time until
    it caught up (the leader sends its Raft snapshot and the journal tail)."""
    node = next(n for n in reversed(cluster.followers()) if n is not avoid)
    leader_snapshot = (cluster.wait_leader().data_dir / "raft" / "snapshot.bin").exists()
    node.stop()
    shutil.rmtree(node.data_dir)
    t0 = time.perf_counter()
    await asyncio.to_thread(node.start, 60.0)
    started_s = time.perf_counter() - t0
    await asyncio.to_thread(cluster.unseal, node, LONG_TIMEOUT_S)
    unsealed_s = time.perf_counter() - t0
    await wait_converged(cluster, ctx, LONG_TIMEOUT_S)
    caught_up_s = time.perf_counter() - t0
    print(f"  [catch-up] {node.node_id} wiped and restarted: unsealed after {unsealed_s:.2f} s,"
          f" caught up after {caught_up_s:.2f} s", flush=True)
    return {"node_id": node.node_id, "leader_had_raft_snapshot": leader_snapshot,
            "start_s": round(started_s, 3), "unsealed_s": round(unsealed_s, 3),
            "caught_up_s": round(caught_up_s, 3),
            "memory_after": cluster_memory(cluster)[node.node_id],
            "data_dir_after": cluster_usage(cluster)[node.node_id]}


# --- orchestration --------------------------------------------------------------------------


async def fill_all(cluster: LocalCluster, ctx: ssl.SSLContext, token: str,
                   state: FillState, args: argparse.Namespace,
                   read_follower: ServerProcess) -> dict[str, Any]:
    """Fill from the baseline to --secrets with marks and the snapshot/restore round."""
    progress = Progress(cluster, args.secrets, args.progress_every)
    marks, snapshot, caught_up = [], None, None
    snapshot_at = min(args.snapshot_at, args.secrets)
    print(f"filling to {args.secrets:,} secrets ({args.fill_connections} connections to "
          f"{'every node' if args.fill_via == 'all' else 'the leader'}) ...", flush=True)
    t0 = time.perf_counter()
    for target in sorted({*mark_points(args.secrets, args.mark_every, state.next_key),
                          *([snapshot_at] if snapshot_at > state.next_key else [])}):
        segment = await fill_segment(cluster, ctx, token, state, target, args, progress)
        marks.append(take_mark(cluster, target, segment, progress.started))
        if target == snapshot_at and args.snapshot_at > 0:
            snapshot = await snapshot_and_restore(cluster, cluster.wait_leader(), ctx, token,
                                                  target)
            caught_up = await catch_up(cluster, ctx, read_follower) if args.catch_up else None
    fill_s = sum(m["segment"]["fill_s"] for m in marks)
    return {"secrets": args.secrets, "leader": cluster.wait_leader().node_id,
            "wall_s": round(time.perf_counter() - t0, 1),
            "fill_s": round(fill_s, 1),
            "rate": round((args.secrets - marks[0]["segment"]["from"]) / fill_s, 1)
            if fill_s else 0.0, "errors": state.errors,
            "retried": sum(m["segment"]["retried"] for m in marks),
            "still_failed": sum(m["segment"]["still_failed"] for m in marks),
            "status_counts": {str(k): v for k, v in sorted(state.status_counts.items())},
            "progress": progress.samples, "marks": marks, "snapshot": snapshot,
            "catch_up": caught_up}


async def benchmark(cluster: LocalCluster, token: str,
                    args: argparse.Namespace) -> dict[str, Any]:
    ctx = client_ssl_context(cluster.ca.cert_file)
    leader = cluster.wait_leader()
    follower = cluster.followers()[0]
    baseline = min(args.baseline_keys, args.secrets)
    print(f"leader {leader.node_id}, follower under read load {follower.node_id}; writing "
          f"the {baseline:,} baseline secrets ...", flush=True)
    state = FillState(next_key=0, end=baseline)
    await fill(ports=[leader.port], ctx=ctx, token=token, state=state,
               connections=args.fill_connections)
    await wait_converged(cluster, ctx, LONG_TIMEOUT_S)
    base_phases = await load_stage("2k", cluster, leader, follower, ctx, token,
                                   range(baseline), args, args.seed)
    filled = await fill_all(cluster, ctx, token, state, args, follower)
    leader_n = cluster.wait_leader()
    if follower is leader_n:
        follower = cluster.followers()[0]
    sample = random.Random(args.seed).sample(range(args.secrets),
                                             min(args.sample, args.secrets))
    n_phases = await load_stage("N", cluster, leader_n, follower, ctx, token,
                                sample, args, args.seed + 7)
    terms = [t for t in (logged_term(n) for n in cluster.nodes) if t is not None]
    return {"baseline_phases": base_phases, "n_phases": n_phases, "fill": filled,
            "final_memory": cluster_memory(cluster),
            "leaders": {"baseline": leader.node_id, "at_n": leader_n.node_id,
                        "elections_after_the_first": max(terms, default=1) - 1}}


# --- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fill a real three-node StrongBox cluster with --secrets 1 KiB secrets "
                    "through the KV v2 API; compare read/write p50/p99 at N with a 2,000-key "
                    "baseline, record RSS and data dir size per node every --mark-every "
                    "secrets, and time an API snapshot, its restore and a wiped follower's "
                    "catch-up at --snapshot-at. Writes million.json and million.md.",
        epilog="The 1M run takes hours at today's write rate (see benchmarks/README.md).")
    add_run_arguments(parser)
    add = parser.add_argument
    add("--secrets", type=int, default=SECRETS, help="N (default: %(default)s)")
    add("--baseline-keys", type=int, default=BASELINE_KEYS, help="(default: %(default)s)")
    add("--sample", type=int, default=SAMPLE, metavar="KEYS",
        help="keys picked uniformly from the whole key space for the phases at N "
             "(default: %(default)s, or N if smaller)")
    add("--fill-connections", type=int, default=FILL_CONNECTIONS, help="(default: %(default)s)")
    add("--fill-via", choices=("leader", "all"), default="leader",
        help="fill through the leader only, or through all nodes (followers forward)")
    add("--write-connections", type=int, default=WRITE_CONNECTIONS,
        help="connections of the kv_write phases (default: %(default)s)")
    add("--mark-every", type=int, default=MARK_EVERY, help="(default: %(default)s)")
    add("--snapshot-at", type=int, default=SNAPSHOT_AT,
        help="mark at which to snapshot, restore and wipe a follower (0: skip; default: "
             "%(default)s, or N if smaller)")
    add("--no-catch-up", dest="catch_up", action="store_false",
        help="skip the wiped-follower catch-up")
    add("--progress-every", type=float, default=PROGRESS_EVERY_S, metavar="SECONDS")
    add("--snapshot-threshold", type=int, default=10000, metavar="ENTRIES",
        help="cluster.snapshot_threshold (default: %(default)s, the production default)")
    add("--map-size-mb", type=int, default=0,
        help=f"storage.map_size_mb (default: 1024, or {STORE_BYTES_PER_SECRET} B per secret "
             "+ 512 MiB if that is more: the default 1 GiB map does not hold 1M secrets)")
    add("--max-snapshot-mb", type=int, default=0,
        help=f"limits.max_snapshot_bytes in MiB (default: 256, or {STORE_BYTES_PER_SECRET} B "
             "per secret at --snapshot-at + 64 MiB if that is more, so the restore upload "
             "of the snapshot fits)")
    add("--data-dir", type=Path, default=None, help="parent directory for the nodes' data")
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    if min(args.secrets, args.baseline_keys, args.sample, args.fill_connections,
           args.write_connections, args.mark_every) <= 0 or args.snapshot_at < 0:
        parser.error("sizes and connection counts must be positive")
    args.map_size_mb = args.map_size_mb or max(
        1024, math.ceil(args.secrets * STORE_BYTES_PER_SECRET / MIB) + 512)
    args.max_snapshot_mb = args.max_snapshot_mb or max(
        256, math.ceil(min(args.snapshot_at, args.secrets) * STORE_BYTES_PER_SECRET / MIB) + 64)
    return args


def node_config(args: argparse.Namespace) -> str:
    """The nodes' extra config: room for N secrets in LMDB and for the restore upload."""
    return (f"[storage]\nmap_size_mb = {args.map_size_mb}\n"
            f"[limits]\nmax_snapshot_bytes = {args.max_snapshot_mb * MIB}\n")


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    return {"nodes": CLUSTER_SIZE, "secrets": args.secrets, "value_bytes": VALUE_BYTES,
            "baseline_keys": min(args.baseline_keys, args.secrets),
            "sample": min(args.sample, args.secrets), "duration_s": args.duration,
            "read_connections": READ_CONNECTIONS, "write_connections": args.write_connections,
            "fill_connections": args.fill_connections, "fill_via": args.fill_via,
            "mark_every": args.mark_every, "snapshot_at": min(args.snapshot_at, args.secrets),
            "catch_up": args.catch_up, "snapshot_threshold": args.snapshot_threshold,
            "map_size_mb": args.map_size_mb, "max_snapshot_mb": args.max_snapshot_mb,
            "seed": args.seed}


def build_report(args: argparse.Namespace, machine: dict[str, Any],
                 outcome: dict[str, Any]) -> tuple[dict[str, Any], list[PhaseResult]]:
    phases = [*outcome["baseline_phases"], *outcome["n_phases"]]
    fill_ = outcome["fill"]
    snap = fill_["snapshot"] or {}
    errors = {"phases": sum(p.errors for p in phases), "fill": fill_["errors"],
              "fill_after_retry": fill_["still_failed"],
              "snapshot_restore": snap.get("errors", 0)}
    report = {"benchmark": "million", "machine": machine, "settings": settings_of(args),
              "phases": [asdict(p) for p in phases],
              "ratios": latency_ratios(outcome["baseline_phases"], outcome["n_phases"]),
              "memory": memory_summary(fill_["marks"], outcome["final_memory"]),
              "data_dir_per_100k": per_100k(fill_["marks"]), "fill": fill_,
              "leaders": outcome["leaders"],
              "errors": {**errors, "total": sum(errors.values())}}
    return report, phases


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-million-", dir=args.data_dir) as tmp:
        work = Path(tmp)
        machine = {**machine_info(work), **source_version()}
        cluster = LocalCluster(work / "cluster", CLUSTER_SIZE,
                               snapshot_threshold=args.snapshot_threshold,
                               extra_config=node_config(args))
        try:
            cluster.start()
            _, root = cluster.init_and_unseal()
            with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
                outcome = runner.run(benchmark(cluster, root, args))
        finally:
            cluster.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report, phases = build_report(args, machine, outcome)
    markdown = markdown_report(report, phases)
    write_results(args.out, report, markdown, "million")
    print(markdown)
    print(f"results in {args.out / 'million.json'} and {args.out / 'million.md'}")
    return 1 if report["errors"]["total"] else 0


if __name__ == "__main__":
    sys.exit(main())
