"""KV v2 throughput, latency, failover and replication lag of a real three-node cluster.

What is measured
----------------
Three `strongbox server` processes (`strongbox.testing.LocalCluster`: TLS API listeners,
Raft over mutual-TLS gRPC, LMDB and the Raft journal on disk, as in production) are started
on loopback, initialised and unsealed; 1,000 secrets of ~200 bytes are written through the
leader and replicated. Then each load phase drives one node for `--duration` seconds (after
a 1 s warm-up that is not counted) from N keep-alive HTTPS connections sending requests back
to back (the load generator of ``kv_single_node.py``):

* ``health``       - ``GET /v1/sys/health?standbyok=true`` on a follower: the baseline for
                     this machine at this moment. Runs first and last; the baseline is the
                     mean of the two (their ratio, ``health_drift``, shows how the machine's
                     load changed during the run).
* ``kv_read``      - ``GET /v1/secret/data/<random key of 1,000>`` on the same follower,
                     16 connections: served from the follower's own LMDB replica.
* ``kv_write``     - ``POST /v1/secret/data/<random key>`` (~200 B) on the leader at 1, 8
                     and 32 connections: journal append + fsync on the leader, replication
                     to the followers (each fsyncs before it acknowledges), commit on a
                     majority, LMDB apply on the leader, answer.
* ``kv_write_fwd`` - the same writes sent to the follower at 8 connections: pysyncobj sends
                     each command to the leader over the Raft link; the follower answers
                     once the entry is committed and applied on the follower itself.
* ``kv_write_lag`` - writes on the leader at 8 connections again, while every 50 ms the
                     leader's and each follower's ``raft_applied_index`` is read (at the
                     same moment, one keep-alive connection per node) from
                     ``GET /v1/sys/health?standbyok=true``. Lag = leader index - follower
                     index, in entries, and in ms = entries / the phase's write rate.

Per phase: requests completed in the window, non-2xx responses (errors), req/s, p50/p90/p99
latency (per request, on an established connection, TLS handshakes excluded), the CPU used by
the node the load is sent to (``target``), by the two other nodes together (``others``), by
this load generator and by every other process on the machine (``external``, /proc/stat busy
minus the former: other people's work shows up here), in % of one core;
``cluster_cpu_ms_per_req`` (CPU of the three nodes per request: steadier than req/s on a busy
machine), and ``ratio_to_health``.

After the load phases, leader failover is measured ``--failovers`` times (default 3): the
leader is killed with SIGKILL, and every surviving node is polled (``GET /v1/sys/leader``
every 20 ms on pre-opened connections); as soon as one reports ``is_self: true`` it is sent a
write. ``elected_s`` is the time from the kill until a survivor first says it is the leader,
``write_ok_s`` until that write was acknowledged (the number that matters to clients). The
killed node is then restarted, unsealed and waited for until all three applied indexes agree
(``rejoin_s``, informational) before the next round.

How to read it
--------------
The machine is small (2 cores) and shared, and here three servers plus the load generator
share it, so absolute numbers move from run to run. ``ratio_to_health`` = phase req/s /
follower health req/s of the same run. kv_read / health is the cost of a follower read beyond
the HTTP+TLS floor. Write phases are bounded by the durable replication round trip (leader
fsync, follower fsync, commit, apply), not only by CPU: look at how req/s grows from 1 to 8 to
32 connections, compare with ``kv_single_node`` of a run with similar fsync timings, and
compare kv_write_fwd with kv_write at 8 connections for the cost of forwarding. Failover time
is dominated by the Raft election timeout (0.8-1.6 s randomised, strongbox/raft/node.py):
it is not a throughput number and does not scale with the machine's load the same way.

Usage: ``python benchmarks/kv_cluster.py [--duration 5] [--out benchmarks/results]``.
Only loopback traffic; every phase ends by itself; the cluster is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from kv_single_node import (
    HOST,
    N_SECRETS,
    PREPOPULATE_CONNECTIONS,
    READ_CONNECTIONS,
    VALUE_BYTES,
    WARMUP_S,
    WRITE_SWEEP,
    PhaseResult,
    add_ratios,
    add_run_arguments,
    build_request,
    check_run_arguments,
    client_ssl_context,
    drive,
    machine_info,
    percentile_ms,
    process_cpu_s,
    read_requests,
    send_all,
    summarize,
    uvloop_factory,
    write_requests,
    write_results,
)

from strongbox.testing import LocalCluster, ServerProcess

CLUSTER_SIZE = 3
FORWARD_CONNECTIONS = 8
LAG_CONNECTIONS = 8
FAILOVERS = 3
SAMPLE_PERIOD_S = 0.05
PROBE_PERIOD_S = 0.02
FAILOVER_TIMEOUT_S = 30.0
CONVERGE_TIMEOUT_S = 60.0
HEALTH_PATH = "/v1/sys/health?standbyok=true"  # 200 on a follower too (else 473)
LEADER_LOG = re.compile(rb"raft leader is now (\S+) \(term (\d+)\)")


# --- results ----------------------------------------------------------------------------


@dataclass(slots=True)
class ClusterPhaseResult(PhaseResult):
    """A PhaseResult (server_cpu_pct = the target node's) plus where the load went."""

    target: str = ""           # "leader" or "follower"
    node_id: str = ""
    others_cpu_pct: float = 0.0  # the two other nodes together
    machine_cpu_pct: float = 0.0  # every process on the machine, of cpu_count * 100
    external_cpu_pct: float = 0.0  # machine - the three nodes - this load generator
    cluster_cpu_ms_per_req: float = 0.0  # CPU of all three nodes per request
    node_cpu_pct: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Failover:
    round: int
    killed: str
    new_leader: str
    elected_s: float
    write_ok_s: float
    rejoin_s: float
    terms: int | None  # Raft terms the election took (1: the first candidate won), from logs


# --- small raw HTTP helpers (body needed, unlike the load generator) ---------------------


async def read_json(reader: asyncio.StreamReader) -> tuple[int, Any]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    end = lower.index(b"\r\n", at + 2)
    body = await reader.readexactly(int(lower[at + 17 : end]))
    return status, json.loads(body) if body else None


class RawConnection:
    """One keep-alive TLS connection for request/response polling."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int, ctx: ssl.SSLContext) -> RawConnection:
        return cls(*await asyncio.open_connection(HOST, port, ssl=ctx))

    async def get_json(self, request: bytes) -> tuple[int, Any]:
        self.writer.write(request)
        return await read_json(self.reader)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


# --- cluster state ----------------------------------------------------------------------


async def applied_indexes(cluster: LocalCluster, ctx: ssl.SSLContext) -> dict[str, int]:
    """raft_applied_index of every running node (a node that does not answer is left out)."""
    out = {}
    for node in cluster.nodes:
        if node.proc is None:
            continue
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError,
                                 RuntimeError, ValueError):
            conn = await RawConnection.open(node.port, ctx)
            try:
                status, body = await conn.get_json(build_request("GET", HEALTH_PATH, None))
            finally:
                await conn.close()
            if status == 200:
                out[node.node_id] = int(body["raft_applied_index"])
    return out


async def wait_converged(cluster: LocalCluster, ctx: ssl.SSLContext,
                         timeout: float = CONVERGE_TIMEOUT_S) -> dict[str, int]:
    """Wait until every node is unsealed and all report the same applied index."""
    deadline = time.monotonic() + timeout
    indexes: dict[str, int] = {}
    while time.monotonic() < deadline:
        indexes = await applied_indexes(cluster, ctx)
        if len(indexes) == len(cluster.nodes) and len(set(indexes.values())) == 1:
            return indexes
        await asyncio.sleep(0.1)
    raise TimeoutError(f"applied indexes did not converge in {timeout}s: {indexes}")


def source_version() -> dict[str, Any]:
    """The repository commit and whether strongbox/ has uncommitted changes (read-only git)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "strongbox"], cwd=root,
                               text=True, capture_output=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "strongbox_dirty": None}
    return {"git_commit": head, "strongbox_dirty": bool(dirty)}


def cpu_snapshot(cluster: LocalCluster) -> dict[str, float]:
    return {n.node_id: process_cpu_s(n.pid) for n in cluster.nodes if n.proc is not None}


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat; (0, 0) if unknown."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    total = sum(fields)
    return total - fields[3] - fields[4], total  # minus idle and iowait


# --- load phases ------------------------------------------------------------------------


@dataclass(slots=True)
class LagSamples:
    """Every SAMPLE_PERIOD_S: (perf_counter_ns, {node_id: applied index}) and RTTs."""

    times_ns: list[int] = field(default_factory=list)
    indexes: list[dict[str, int]] = field(default_factory=list)
    rtt_ms: dict[str, list[float]] = field(default_factory=dict)


async def sample_applied(nodes: Sequence[ServerProcess], ctx: ssl.SSLContext, start_ns: int,
                         end_ns: int, period_s: float, out: LagSamples) -> None:
    """Read every node's raft_applied_index at the same moment, every `period_s`, inside
    [start_ns, end_ns]. The requests go out together; each node reads its index when its
    event loop gets to the request, so a busy node's value is a little later (see rtt_ms)."""
    conns = [await RawConnection.open(n.port, ctx) for n in nodes]
    request = build_request("GET", HEALTH_PATH, None)
    clock = time.perf_counter_ns
    period_ns = int(period_s * 1e9)

    async def one(conn: RawConnection) -> tuple[int, float]:
        t0 = clock()
        _, body = await conn.get_json(request)
        return int(body["raft_applied_index"]), (clock() - t0) / 1e6

    try:
        tick = start_ns
        while tick < end_ns:
            await asyncio.sleep(max(0.0, (tick - clock()) / 1e9))
            at = clock()
            answers = await asyncio.gather(*(one(c) for c in conns))
            out.times_ns.append(at)
            out.indexes.append({n.node_id: a[0] for n, a in zip(nodes, answers, strict=True)})
            for node, (_, rtt) in zip(nodes, answers, strict=True):
                out.rtt_ms.setdefault(node.node_id, []).append(round(rtt, 3))
            tick += period_ns
            while tick < clock():  # a slow round: skip missed ticks, never burst
                tick += period_ns
    finally:
        for conn in conns:
            await conn.close()


async def run_phase(name: str, cluster: LocalCluster, node: ServerProcess, role: str,
                    ctx: ssl.SSLContext, requests: Sequence[bytes], connections: int,
                    duration_s: float, seed: int, lag: LagSamples | None = None,
                    ) -> ClusterPhaseResult:
    cpu0, nodes0, wall0 = time.process_time(), cpu_snapshot(cluster), time.perf_counter()
    busy0, total0 = machine_ticks()
    load = drive(node.port, ctx, requests, connections, WARMUP_S, duration_s, seed)
    if lag is None:
        tally = await load
    else:
        leader = cluster.wait_leader()
        order = [leader, *(n for n in cluster.nodes if n is not leader)]
        start = time.perf_counter_ns() + int(WARMUP_S * 1e9)
        tally, _ = await asyncio.gather(load, sample_applied(
            order, ctx, start, start + int(duration_s * 1e9), SAMPLE_PERIOD_S, lag))
    wall = time.perf_counter() - wall0
    nodes1 = cpu_snapshot(cluster)
    busy1, total1 = machine_ticks()
    machine = 100 * (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
    node_cpu = {k: round(100 * (nodes1[k] - nodes0[k]) / wall, 1) for k in nodes0 if k in nodes1}
    base = summarize(name, connections, tally, duration_s, 0.0, time.process_time() - cpu0, wall)
    result = ClusterPhaseResult(**{**asdict(base), "server_cpu_pct": node_cpu[node.node_id]},
                                target=role, node_id=node.node_id,
                                others_cpu_pct=round(sum(v for k, v in node_cpu.items()
                                                         if k != node.node_id), 1),
                                machine_cpu_pct=round(machine, 1),
                                external_cpu_pct=round(max(0.0, machine - sum(node_cpu.values())
                                                           - base.client_cpu_pct), 1),
                                cluster_cpu_ms_per_req=round(
                                    10 * sum(node_cpu.values()) / base.rps, 3) if base.rps else 0,
                                node_cpu_pct=node_cpu)
    print(f"  {name:<12} {role:<8} c={connections:<3} {result.rps:>9.1f} req/s  "
          f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  errors {result.errors}  "
          f"cpu {node_cpu} machine {machine:.0f}%", flush=True)
    return result


def lag_summary(samples: LagSamples, leader_id: str, write_rps: float) -> dict[str, Any]:
    """Lag in entries (leader index - follower index) per follower and over both, and in ms
    at the phase's write rate; the leader's own index rate is recorded for comparison."""
    followers = sorted(k for k in (samples.indexes[0] if samples.indexes else {})
                       if k != leader_id)
    per: dict[str, list[int]] = {f: [] for f in followers}
    for row in samples.indexes:
        for f in followers:
            per[f].append(row[leader_id] - row[f])
    per["all followers"] = [x for f in followers for x in per[f]]

    def stats(lags: list[int]) -> dict[str, Any]:
        ordered = sorted(lags)
        out: dict[str, Any] = {"samples": len(ordered)}
        for label, q in (("p50", 50), ("p99", 99)):
            # percentile_ms works in "ns"; feed entries * 1e6 to reuse its nearest rank
            out[f"{label}_entries"] = percentile_ms([x * 1_000_000 for x in ordered], q)
        out["max_entries"] = ordered[-1] if ordered else 0
        out["min_entries"] = ordered[0] if ordered else 0
        for key in ("p50", "p99", "max"):
            entries = out[f"{key}_entries"]
            out[f"{key}_ms"] = round(1000 * entries / write_rps, 2) if write_rps else None
        return out

    rate = 0.0
    if len(samples.times_ns) >= 2:
        span = (samples.times_ns[-1] - samples.times_ns[0]) / 1e9
        rate = (samples.indexes[-1][leader_id] - samples.indexes[0][leader_id]) / span
    rtt = {k: statistics.median(v) for k, v in samples.rtt_ms.items() if v}
    follower_rtt = [rtt[f] for f in followers if f in rtt]
    skew_ms = (rtt.get(leader_id, 0.0) - statistics.fmean(follower_rtt)) / 2 \
        if follower_rtt else 0.0
    return {
        "leader": leader_id, "period_ms": SAMPLE_PERIOD_S * 1000, "write_rps": write_rps,
        # the leader answers later (its loop is busy with the writes): its index is read
        # about half the extra round trip later, which adds this much to every lag sample
        "leader_read_later_ms": round(skew_ms, 2),
        "bias_entries": round(skew_ms * write_rps / 1000, 1),
        "leader_applied_entries_per_s": round(rate, 1),
        "sample_rtt_p50_ms": {k: percentile_ms(sorted(int(x * 1e6) for x in v), 50)
                              for k, v in samples.rtt_ms.items()},
        "lag": {k: stats(v) for k, v in per.items()},
    }


# --- failover ---------------------------------------------------------------------------


def logged_term(node: ServerProcess) -> int | None:
    """The term of the last "raft leader is now X (term N)" line in the node's log."""
    try:
        data = node.log_path.read_bytes()
    except OSError:
        return None
    at = data.rfind(b"raft leader is now ")
    match = LEADER_LOG.match(data, at) if at >= 0 else None
    return int(match.group(2)) if match else None


async def failover_once(cluster: LocalCluster, ctx: ssl.SSLContext, token: str,
                        round_no: int) -> Failover:
    leader = cluster.wait_leader()
    survivors = [n for n in cluster.nodes if n is not leader and n.proc is not None]
    clients = {n.node_id: httpx.AsyncClient(base_url=n.addr, verify=ctx, timeout=2.0,
                                            headers={"X-Vault-Token": token})
               for n in survivors}
    body = {"data": {"value": f"failover-{round_no}"}}
    term_before = logged_term(leader)
    elected: dict[str, float] = {}
    try:
        for client in clients.values():  # open the keep-alive connections before the kill
            (await client.get("/v1/sys/leader")).raise_for_status()
        t0 = time.perf_counter()

        async def probe(node_id: str) -> tuple[str, float]:
            client = clients[node_id]
            while True:
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                    answer = await client.get("/v1/sys/leader", timeout=1.0)
                    if answer.json()["is_self"]:
                        elected.setdefault(node_id, time.perf_counter() - t0)
                        write = await client.post(
                            f"/v1/secret/data/bench/failover-{round_no}", json=body,
                            timeout=12.0)
                        if write.status_code == 200:
                            return node_id, time.perf_counter() - t0
                await asyncio.sleep(PROBE_PERIOD_S)

        leader.kill()
        tasks = [asyncio.ensure_future(probe(n.node_id)) for n in survivors]
        try:
            done, _ = await asyncio.wait(tasks, timeout=FAILOVER_TIMEOUT_S,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if not done:
            raise TimeoutError(f"no survivor accepted a write {FAILOVER_TIMEOUT_S}s after "
                               f"killing {leader.node_id}")
        new_leader, write_ok = next(iter(done)).result()
    finally:
        for client in clients.values():
            await client.aclose()
    restarted = time.perf_counter()
    term_after = logged_term(cluster.node(new_leader))
    terms = term_after - term_before if term_after and term_before else None
    leader.start()
    cluster.unseal(leader)
    await wait_converged(cluster, ctx)
    result = Failover(round_no, leader.node_id, new_leader,
                      round(min(elected.values()), 3), round(write_ok, 3),
                      round(time.perf_counter() - restarted, 3), terms)
    print(f"  failover {round_no}: killed {result.killed}, {result.new_leader} elected after "
          f"{result.elected_s:.3f} s, write accepted after {result.write_ok_s:.3f} s "
          f"(restart + catch-up {result.rejoin_s:.1f} s; election terms {terms})", flush=True)
    return result


# --- orchestration ----------------------------------------------------------------------


async def benchmark(cluster: LocalCluster, token: str, duration_s: float, seed: int,
                    failovers: int) -> dict[str, Any]:
    ctx = client_ssl_context(cluster.ca.cert_file)
    rng = random.Random(seed)
    leader = cluster.wait_leader()
    follower = cluster.followers()[0]
    print(f"leader {leader.node_id}, follower under load {follower.node_id}; "
          f"pre-populating {N_SECRETS} secrets ...", flush=True)
    errors = await send_all(leader.port, ctx, write_requests(token, rng), PREPOPULATE_CONNECTIONS)
    if errors:
        raise RuntimeError(f"{errors} of {N_SECRETS} pre-population writes failed")
    await wait_converged(cluster, ctx)
    health = [build_request("GET", HEALTH_PATH, None)]
    reads, writes = read_requests(token), write_requests(token, rng)
    lag = LagSamples()
    plan: list[tuple[str, ServerProcess, str, list[bytes], int, LagSamples | None]] = [
        ("health", follower, "follower", health, READ_CONNECTIONS, None),
        ("kv_read", follower, "follower", reads, READ_CONNECTIONS, None),
        *(("kv_write", leader, "leader", writes, c, None) for c in WRITE_SWEEP),
        ("kv_write_fwd", follower, "follower", writes, FORWARD_CONNECTIONS, None),
        ("kv_write_lag", leader, "leader", writes, LAG_CONNECTIONS, lag),
        ("health", follower, "follower", health, READ_CONNECTIONS, None),
    ]
    phases: list[PhaseResult] = []
    for i, (name, node, role, requests, connections, samples) in enumerate(plan):
        phases.append(await run_phase(name, cluster, node, role, ctx, requests, connections,
                                      duration_s, seed + 1000 * i, samples))
    if cluster.wait_leader() is not leader:
        raise RuntimeError("leadership changed during the load phases; results are mixed")
    lag_phase = next(p for p in phases if p.name == "kv_write_lag")
    replication = lag_summary(lag, leader.node_id, lag_phase.rps)
    print(f"  replication lag (entries, all followers): "
          f"{replication['lag']['all followers']}", flush=True)
    await wait_converged(cluster, ctx)
    results = [await failover_once(cluster, ctx, token, r + 1) for r in range(failovers)]
    return {"phases": phases, "replication": replication, "failovers": results}


def failover_summary(results: Sequence[Failover]) -> dict[str, Any]:
    if not results:
        return {}
    return {"rounds": len(results),
            "elected_median_s": round(statistics.median(r.elected_s for r in results), 3),
            "write_ok_median_s": round(statistics.median(r.write_ok_s for r in results), 3),
            "write_ok_max_s": max(r.write_ok_s for r in results)}


# --- reporting --------------------------------------------------------------------------


def phase_table(phases: Sequence[PhaseResult]) -> str:
    rows = ["| phase | node | conns | requests | errors | req/s | p50 ms | p90 ms | p99 ms "
            "| ratio to health | target CPU % | others CPU % | client CPU % | external CPU % "
            "| cluster CPU ms/req |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in phases:
        assert isinstance(p, ClusterPhaseResult)
        ratio = "" if p.ratio_to_health is None else f"{p.ratio_to_health:.3f}"
        rows.append(f"| {p.name} | {p.target} | {p.connections} | {p.requests} | {p.errors} "
                    f"| {p.rps:.1f} | {p.p50_ms:.2f} | {p.p90_ms:.2f} | {p.p99_ms:.2f} "
                    f"| {ratio} | {p.server_cpu_pct:.0f} | {p.others_cpu_pct:.0f} "
                    f"| {p.client_cpu_pct:.0f} | {p.external_cpu_pct:.0f} "
                    f"| {p.cluster_cpu_ms_per_req:.2f} |")
    return "\n".join(rows)


def lag_table(replication: dict[str, Any]) -> str:
    rows = ["| follower | samples | lag p50 | lag p99 | lag max | p50 ms | p99 ms | max ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in replication["lag"].items():
        rows.append(f"| {name} | {s['samples']} | {s['p50_entries']:g} | {s['p99_entries']:g} "
                    f"| {s['max_entries']} | {s['p50_ms']} | {s['p99_ms']} | {s['max_ms']} |")
    return "\n".join(rows)


def failover_table(results: Sequence[Failover], summary: dict[str, Any]) -> str:
    rows = ["| round | killed leader | new leader | elected s | write accepted s "
            "| election terms | restart + catch-up s |", "|---:|---|---|---:|---:|---:|---:|"]
    rows += [f"| {r.round} | {r.killed} | {r.new_leader} | {r.elected_s:.3f} "
             f"| {r.write_ok_s:.3f} | {'' if r.terms is None else r.terms} "
             f"| {r.rejoin_s:.1f} |" for r in results]
    if summary:
        rows.append(f"| median | | | {summary['elected_median_s']:.3f} "
                    f"| {summary['write_ok_median_s']:.3f} | | |")
    return "\n".join(rows)


def markdown_report(report: dict[str, Any], phases: Sequence[PhaseResult],
                    failovers: Sequence[Failover]) -> str:
    machine, settings = report["machine"], report["settings"]
    local = " + local changes" if machine["strongbox_dirty"] else ""
    replication = report["replication"]
    return "\n".join([
        "# kv_cluster results", "",
        f"{machine['date']} · {machine['cpu_count']} CPUs ({machine['cpu_model']}) · "
        f"Python {machine['python']} · strongbox {machine['strongbox_version']} (commit "
        f"{machine['git_commit']}{local}) · client loop {machine['event_loop']} · "
        f"fsync p50 {machine['fsync_p50_ms']} ms / "
        f"p99 {machine['fsync_p99_ms']} ms · load avg before {machine['load_average']}, "
        f"after {machine['load_average_after']}", "",
        f"{settings['nodes']} nodes on loopback; {settings['duration_s']} s per phase after "
        f"{settings['warmup_s']} s warm-up; {settings['secrets']} secrets of "
        f"~{settings['value_bytes']} B; TLS, keep-alive. ratio = phase req/s / mean follower "
        f"health req/s ({settings['health_baseline_rps']}); health runs first and last, drift "
        f"last/first = {settings['health_drift']}. target = the node the load is sent to; "
        f"others = the two other nodes together; external = every other process on the "
        f"machine (/proc/stat busy - nodes - load generator; the machine has "
        f"{machine['cpu_count'] * 100}%), mean {settings['external_cpu_pct_mean']}% over the "
        f"phases; cluster CPU ms/req = the three nodes' CPU per request.", "",
        phase_table(phases), "",
        f"Replication lag during `kv_write_lag` (leader {replication['leader']}, sampled every "
        f"{replication['period_ms']:g} ms; ms = entries / {replication['write_rps']} writes/s; "
        f"leader applied {replication['leader_applied_entries_per_s']} entries/s; sample "
        f"round trip p50 {replication['sample_rtt_p50_ms']} ms: the busy leader's index is read "
        f"~{replication['leader_read_later_ms']} ms later than the followers', which adds "
        f"~{replication['bias_entries']} entries to the lags on average):", "",
        lag_table(replication), "",
        "Leader failover (kill -9 of the leader until a survivor says `is_self` / accepts "
        "a write; election terms from the nodes' logs, 2+ = the first election failed):", "",
        failover_table(failovers, report["failover_summary"]), ""])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark a real three-node StrongBox cluster on loopback (TLS API, "
                    "Raft over mTLS gRPC, fsync). Phases, each --duration s after a 1 s "
                    "warm-up: health on a follower (16 conns, baseline, first and last), "
                    "kv_read on the follower (16), kv_write on the leader (1, 8, 32), "
                    "kv_write_fwd sent to the follower (8, forwarded to the leader), "
                    "kv_write_lag on the leader (8) while sampling every node's "
                    "raft_applied_index every 50 ms (replication lag). Then --failovers "
                    "rounds of kill -9 of the leader, timed until a survivor is leader and "
                    "accepts a write. Prints and writes kv_cluster.json and kv_cluster.md.",
        epilog="Read ratio_to_health rather than absolute req/s: the machine is shared and "
               "noisy. Takes about 70 s with the defaults. See benchmarks/README.md.")
    add_run_arguments(parser)
    parser.add_argument("--failovers", type=int, default=FAILOVERS, metavar="N",
                        help="leader kill -9 rounds after the load phases; 0 skips them "
                             "(default: %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="parent directory for the nodes' TLS files and data, e.g. to "
                             "benchmark another disk (default: a temporary directory)")
    parser.add_argument("--snapshot-threshold", type=int, default=10000, metavar="ENTRIES",
                        help="cluster.snapshot_threshold of the nodes (default: %(default)s, "
                             "the production default; a run on this machine writes ~10,000 "
                             "entries, so a journal snapshot may fall in the last phases)")
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    if args.failovers < 0:
        parser.error("--failovers must be 0 or more")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-cluster-", dir=args.data_dir) as tmp:
        work = Path(tmp)
        machine = {**machine_info(work), **source_version()}
        cluster = LocalCluster(work / "cluster", CLUSTER_SIZE,
                               snapshot_threshold=args.snapshot_threshold)
        try:
            cluster.start()
            _, root = cluster.init_and_unseal()
            with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
                outcome = runner.run(benchmark(cluster, root, args.duration, args.seed,
                                               args.failovers))
        finally:
            cluster.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    phases: list[PhaseResult] = outcome["phases"]
    failovers: list[Failover] = outcome["failovers"]
    settings = {"nodes": CLUSTER_SIZE, "duration_s": args.duration, "warmup_s": WARMUP_S,
                "secrets": N_SECRETS, "value_bytes": VALUE_BYTES, "seed": args.seed,
                "snapshot_threshold": args.snapshot_threshold, "failovers": args.failovers,
                "external_cpu_pct_mean": round(statistics.fmean(
                    p.external_cpu_pct for p in phases if isinstance(p, ClusterPhaseResult)), 1),
                **add_ratios(phases)}
    report = {"benchmark": "kv_cluster", "machine": machine, "settings": settings,
              "phases": [asdict(p) for p in phases], "replication": outcome["replication"],
              "failovers": [asdict(f) for f in failovers],
              "failover_summary": failover_summary(failovers)}
    markdown = markdown_report(report, phases, failovers)
    write_results(args.out, report, markdown, "kv_cluster")
    print(json.dumps(report, indent=2))
    print(markdown)
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
