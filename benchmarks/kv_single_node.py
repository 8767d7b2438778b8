"""KV v2 throughput and latency of one real StrongBox node, relative to its health endpoint.

What is measured
----------------
One `strongbox server` process (TLS, LMDB and the Raft journal on disk, as in production)
is started on loopback, initialised and unsealed; 1,000 secrets of ~200 bytes are written.
Then each phase drives the node for `--duration` seconds (after a 1 s warm-up that is not
counted) from N keep-alive HTTPS connections, each sending its requests back to back:

* ``health``    - ``GET /v1/sys/health``: no token, no store access beyond a status read.
                  The baseline for this machine at this moment. It runs first and last;
                  the baseline is the mean of the two (their difference shows the drift).
* ``kv_read``   - ``GET /v1/secret/data/<random key of 1,000>`` with the root token.
* ``kv_write``  - ``POST /v1/secret/data/<random key of 1,000>`` (~200 byte value) with the
                  root token, swept over 1, 8 and 32 connections. Each write is a Raft
                  proposal: appended to the journal, fsynced, applied to LMDB, acknowledged.

For each phase: requests completed in the measured window, non-2xx responses (errors),
requests/s, p50/p90/p99 latency (per request, ``time.perf_counter_ns`` around write-request /
read-response on an established connection, so TLS handshakes are excluded), the CPU used by
the server process and by this load generator, and ``ratio_to_health``.

How to read the ratios
----------------------
The machine is small (2 cores) and shared, so absolute numbers move from run to run. The load
generator, the server and whatever else runs there share the same cores; a phase's throughput
is that of the whole arrangement. ``ratio_to_health`` = phase rps / health rps of the same run
is the cost of the work a KV request does beyond the HTTP+TLS+routing floor: a kv_read ratio
near 1.0 means reads cost little more than the empty endpoint; 0.5 means a read costs about
twice as much server+client CPU. Write ratios are bounded by durability (one fsync per Raft
tick), not CPU, at low concurrency: there watch latency and how rps grows with connections.

Usage: ``python benchmarks/kv_single_node.py [--duration 5] [--out benchmarks/results]``.
Only loopback traffic; every phase ends by itself; the node is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import strongbox
from strongbox.testing import ServerProcess, make_tls

HOST = "127.0.0.1"
N_SECRETS = 1_000
VALUE_BYTES = 200
WARMUP_S = 1.0
READ_CONNECTIONS = 16
WRITE_SWEEP = (1, 8, 32)
PREPOPULATE_CONNECTIONS = 16
NS_PER_MS = 1_000_000


def uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory (a StrongBox dependency), or None to use asyncio's own loop."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


# --- load generator ---------------------------------------------------------------------


@dataclass(slots=True)
class Window:
    """The measured interval, in perf_counter_ns; completions outside it are not counted."""

    start_ns: int
    end_ns: int


@dataclass(slots=True)
class Tally:
    latencies_ns: list[int] = field(default_factory=list)
    errors: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)


def build_request(method: str, path: str, token: str | None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: keep-alive"]
    if token:
        lines.append(f"X-Vault-Token: {token}")
    if body or method in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; return its status. Only status line and Content-Length are parsed."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at < 0:
        raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
    end = lower.index(b"\r\n", at + 2)
    length = int(lower[at + 17 : end])
    if length:
        await reader.readexactly(length)
    return status


async def connection_loop(port: int, ctx: ssl.SSLContext, requests: Sequence[bytes],
                          window: Window, tally: Tally, rng: random.Random) -> None:
    """One keep-alive connection sending requests back to back until the window ends."""
    reader, writer = await asyncio.open_connection(HOST, port, ssl=ctx)
    clock = time.perf_counter_ns
    choice = rng.choice
    try:
        while True:
            started = clock()
            if started >= window.end_ns:
                return
            writer.write(choice(requests))
            status = await read_response(reader)
            done = clock()
            if window.start_ns <= started and done <= window.end_ns:
                tally.latencies_ns.append(done - started)
                tally.status_counts[status] = tally.status_counts.get(status, 0) + 1
                if not 200 <= status < 300:
                    tally.errors += 1
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def drive(port: int, ctx: ssl.SSLContext, requests: Sequence[bytes], connections: int,
                warmup_s: float, duration_s: float, seed: int) -> Tally:
    """Run `connections` loops for warm-up + duration; tally the measured window only."""
    now = time.perf_counter_ns()
    start = now + int(warmup_s * 1e9)
    window = Window(start, start + int(duration_s * 1e9))
    tally = Tally()
    await asyncio.gather(*(
        connection_loop(port, ctx, requests, window, tally, random.Random(seed + i))
        for i in range(connections)))
    return tally


async def send_all(port: int, ctx: ssl.SSLContext, requests: Sequence[bytes],
                   connections: int) -> int:
    """Send each request once (spread over `connections`); return the number of non-2xx."""
    queue = list(requests)
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port, ssl=ctx)
        while queue:
            writer.write(queue.pop())
            if not 200 <= await read_response(reader) < 300:
                errors += 1
        writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return errors


# --- workload ---------------------------------------------------------------------------


def secret_path(i: int) -> str:
    return f"/v1/secret/data/bench/key-{i:04d}"


def write_requests(token: str, rng: random.Random) -> list[bytes]:
    """One POST per key; the value is ~VALUE_BYTES of random hex."""
    out = []
    for i in range(N_SECRETS):
        value = rng.randbytes(VALUE_BYTES // 2).hex()
        body = json.dumps({"data": {"value": value}}).encode()
        out.append(build_request("POST", secret_path(i), token, body))
    return out


def read_requests(token: str) -> list[bytes]:
    return [build_request("GET", secret_path(i), token) for i in range(N_SECRETS)]


def health_requests() -> list[bytes]:
    return [build_request("GET", "/v1/sys/health", None)]


# --- measurement and reporting -----------------------------------------------------------


@dataclass(slots=True)
class PhaseResult:
    name: str
    connections: int
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    server_cpu_pct: float
    client_cpu_pct: float
    ratio_to_health: float | None = None
    status_counts: dict[str, int] = field(default_factory=dict)


def percentile_ms(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in ms (0.0 when empty)."""
    if not sorted_ns:
        return 0.0
    rank = max(1, round(q / 100 * len(sorted_ns) + 0.5 - 1e-9))
    return round(sorted_ns[min(rank, len(sorted_ns)) - 1] / NS_PER_MS, 3)


def process_cpu_s(pid: int) -> float:
    """User+system CPU seconds of process `pid` (all threads), from /proc; 0.0 if unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarize(name: str, connections: int, tally: Tally, duration_s: float,
              server_cpu_s: float, client_cpu_s: float, wall_s: float) -> PhaseResult:
    lat = sorted(tally.latencies_ns)
    return PhaseResult(
        name=name, connections=connections, requests=len(lat), errors=tally.errors,
        rps=round(len(lat) / duration_s, 1),
        p50_ms=percentile_ms(lat, 50), p90_ms=percentile_ms(lat, 90),
        p99_ms=percentile_ms(lat, 99),
        server_cpu_pct=round(100 * server_cpu_s / wall_s, 1),
        client_cpu_pct=round(100 * client_cpu_s / wall_s, 1),
        status_counts={str(k): v for k, v in sorted(tally.status_counts.items())})


async def run_phase(name: str, node: ServerProcess, ctx: ssl.SSLContext,
                    requests: Sequence[bytes], connections: int, duration_s: float,
                    seed: int) -> PhaseResult:
    assert node.proc is not None
    pid = node.proc.pid
    cpu0, srv0, wall0 = time.process_time(), process_cpu_s(pid), time.perf_counter()
    tally = await drive(node.port, ctx, requests, connections, WARMUP_S, duration_s, seed)
    wall = time.perf_counter() - wall0
    result = summarize(name, connections, tally, duration_s, process_cpu_s(pid) - srv0,
                       time.process_time() - cpu0, wall)
    print(f"  {name:<9} c={connections:<3} {result.rps:>9.1f} req/s  "
          f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  errors {result.errors}",
          flush=True)
    return result


def add_ratios(phases: list[PhaseResult]) -> dict[str, float]:
    """Set ratio_to_health on every phase; return the baseline (mean health rps) and the
    drift (last health rps / first): far from 1.0 means the machine's load changed mid-run."""
    health = [p.rps for p in phases if p.name == "health"]
    baseline = statistics.fmean(health) if health else 0.0
    for phase in phases:
        phase.ratio_to_health = round(phase.rps / baseline, 3) if baseline else None
    drift = health[-1] / health[0] if health and health[0] else 0.0
    return {"health_baseline_rps": round(baseline, 1), "health_drift": round(drift, 3)}


def fsync_ms(directory: Path, samples: int = 100) -> dict[str, float]:
    """p50/p99 of append-200-bytes + fsync in `directory`: the floor under a durable write."""
    path = directory / "fsync-probe"
    times = []
    with path.open("ab") as fh:
        for _ in range(samples):
            t0 = time.perf_counter_ns()
            fh.write(b"x" * VALUE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
            times.append(time.perf_counter_ns() - t0)
    path.unlink()
    times.sort()
    return {"fsync_p50_ms": percentile_ms(times, 50), "fsync_p99_ms": percentile_ms(times, 99)}


def machine_info(data_dir: Path) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "strongbox_version": strongbox.__version__,
        "event_loop": "asyncio" if uvloop_factory() is None else "uvloop",
        "load_average": [round(x, 2) for x in os.getloadavg()],  # 1, 5, 15 min
        **fsync_ms(data_dir),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def markdown_table(phases: Sequence[PhaseResult]) -> str:
    rows = ["| phase | conns | requests | errors | req/s | p50 ms | p90 ms | p99 ms "
            "| ratio to health | server CPU % | client CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in phases:
        ratio = "" if p.ratio_to_health is None else f"{p.ratio_to_health:.3f}"
        rows.append(f"| {p.name} | {p.connections} | {p.requests} | {p.errors} | {p.rps:.1f} "
                    f"| {p.p50_ms:.2f} | {p.p90_ms:.2f} | {p.p99_ms:.2f} | {ratio} "
                    f"| {p.server_cpu_pct:.0f} | {p.client_cpu_pct:.0f} |")
    return "\n".join(rows)


def markdown_report(machine: dict[str, Any], settings: dict[str, Any],
                    phases: Sequence[PhaseResult]) -> str:
    return "\n".join([
        "# kv_single_node results", "",
        f"{machine['date']} · {machine['cpu_count']} CPUs ({machine['cpu_model']}) · "
        f"Python {machine['python']} · strongbox {machine['strongbox_version']} · "
        f"client loop {machine['event_loop']} · fsync p50 {machine['fsync_p50_ms']} ms / "
        f"p99 {machine['fsync_p99_ms']} ms · load avg before {machine['load_average']}, "
        f"after {machine['load_average_after']}", "",
        f"{settings['duration_s']} s per phase after {settings['warmup_s']} s warm-up; "
        f"{settings['secrets']} secrets of ~{settings['value_bytes']} B; TLS, keep-alive. "
        f"ratio = phase req/s / mean health req/s ({settings['health_baseline_rps']}); health "
        f"runs first and last, drift last/first = {settings['health_drift']}.", "",
        markdown_table(phases), ""])


# --- orchestration ----------------------------------------------------------------------


def client_ssl_context(ca_cert: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_cert))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def plan(token: str, rng: random.Random) -> list[tuple[str, list[bytes], int]]:
    """(phase name, request pool, connections) in run order."""
    reads, writes, health = read_requests(token), write_requests(token, rng), health_requests()
    return [("health", health, READ_CONNECTIONS),
            ("kv_read", reads, READ_CONNECTIONS),
            *(("kv_write", writes, c) for c in WRITE_SWEEP),
            ("health", health, READ_CONNECTIONS)]


async def benchmark(node: ServerProcess, token: str, duration_s: float,
                    seed: int) -> list[PhaseResult]:
    ctx = client_ssl_context(node.tls.ca_cert)
    rng = random.Random(seed)
    print(f"pre-populating {N_SECRETS} secrets ...", flush=True)
    errors = await send_all(node.port, ctx, write_requests(token, rng), PREPOPULATE_CONNECTIONS)
    if errors:
        raise RuntimeError(f"{errors} of {N_SECRETS} pre-population writes failed")
    phases = []
    for i, (name, requests, connections) in enumerate(plan(token, rng)):
        phases.append(await run_phase(name, node, ctx, requests, connections, duration_s,
                                      seed + 1000 * i))
    return phases


def run_async(main: Callable[[], Coroutine[Any, Any, list[PhaseResult]]]
              ) -> list[PhaseResult]:
    with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
        return runner.run(main())


def write_results(out_dir: Path, report: dict[str, Any], markdown: str,
                  name: str = "kv_single_node") -> None:
    """<out_dir>/<name>.json and <name>.md (shared by every benchmark here)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / f"{name}.md").write_text(markdown)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark KV v2 reads and writes on one real StrongBox node (TLS, "
                    "Raft + fsync) against the same node's /v1/sys/health as a baseline. "
                    "Phases: health (16 conns), kv_read (16), kv_write (1, 8, 32), health. "
                    "Prints and writes kv_single_node.json and kv_single_node.md.",
        epilog="Read ratio_to_health rather than absolute req/s: the machine is shared "
               "and noisy. See benchmarks/README.md.")
    add_run_arguments(parser)
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="parent directory for the node's TLS files and data, e.g. to "
                             "benchmark another disk (default: a temporary directory)")
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    return args


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """--duration, --out and --seed, which every benchmark here takes."""
    parser.add_argument("--duration", type=float, default=5.0, metavar="SECONDS",
                        help=f"measured seconds per phase, after a {WARMUP_S:g} s warm-up "
                             "(default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="directory for the result files (default: benchmarks/results)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")


def check_run_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.duration <= 0:
        parser.error("--duration must be positive")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-", dir=args.data_dir) as tmp:
        work = Path(tmp)
        machine = machine_info(work)
        node = ServerProcess(work / "node", make_tls(work / "tls")).start()
        try:
            _, root = node.init_and_unseal()
            phases = run_async(lambda: benchmark(node, root, args.duration, args.seed))
        finally:
            node.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    settings = {"duration_s": args.duration, "warmup_s": WARMUP_S, "secrets": N_SECRETS,
                "value_bytes": VALUE_BYTES, "seed": args.seed, **add_ratios(phases)}
    report = {"benchmark": "kv_single_node", "machine": machine, "settings": settings,
              "phases": [asdict(p) for p in phases]}
    markdown = markdown_report(machine, settings, phases)
    write_results(args.out, report, markdown)
    print(json.dumps(report, indent=2))
    print(markdown)
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
