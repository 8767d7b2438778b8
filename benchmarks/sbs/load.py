"""Load drivers of the side-by-side benchmark: wrk (closed loop) and an open-loop generator.

Contract
--------
* `run_wrk(url, script, threads, connections, duration_s, env)` runs
  ``wrk -t -c -d --latency --timeout 10s -s script url`` and returns a `LoadResult` built
  from the ``SBS_RESULT {json}`` line the Lua ``done()`` prints (benchmarks/wrk/common.lua).
  wrk is closed-loop: each connection sends its next request when the previous answer
  arrives, so its latencies suffer from coordinated omission (a stall delays the requests
  that would have been sent meanwhile, and they are never measured). Use its req/s for
  capacity and its percentiles only as "latency at saturation".
* `open_loop(...)` sends requests on a fixed schedule (request i at t0 + i / rate, whatever
  happened before) over a pool of keep-alive TLS connections; a request whose time has come
  waits for a free connection. Latency is measured from the *scheduled* time to the end of
  the response, so server stalls show up in full (no coordinated omission). The event
  loop's timers have ~1 ms granularity: requests due within the same millisecond go out
  together, which adds up to ~1 ms to a measured latency. Two lags are reported so the
  client's share can be seen: `sched_lag` (when the generator queued the request minus its
  scheduled time: the generator itself falling behind, e.g. no CPU for it) and `send_lag`
  (actual send minus scheduled time: also includes waiting for a free connection, i.e. the
  server being slower than the rate). `rps` = answers to the measured requests that arrived
  before the measured window ended, per second (below the rate: the system fell behind).
  Requests scheduled in the warm-up are sent but not counted; requests still unanswered
  `drain_s` after the schedule ends are counted as `unfinished` and enter the percentiles
  with their lower bound.
* Raw HTTP/1.1 helpers (`http_request`, `read_response`): Content-Length and chunked bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

HOST = "127.0.0.1"
RESULT_MARK = "SBS_RESULT "
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass(slots=True)
class LoadResult:
    """One measured run: requests and errors in the window, req/s, latency percentiles (ms)."""

    requests: int
    duration_s: float
    rps: float
    errors: int                 # non-2xx + socket errors + timeouts
    non2xx: int
    latency_ms: dict[str, float]  # "p50", "p90", "p99", "p999"
    extra: dict[str, Any] = field(default_factory=dict)


def pct_key(q: float) -> str:
    return "p" + (f"{q:g}".replace(".", ""))


# --- wrk --------------------------------------------------------------------------------


def run_wrk(url: str, script: str, threads: int, connections: int, duration_s: int,
            env: Mapping[str, str]) -> LoadResult:
    """Run wrk once; raise RuntimeError if it fails or prints no SBS_RESULT line."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s}s", "--latency",
               "--timeout", "10s", "-s", script, url]
    done = subprocess.run(command, capture_output=True, text=True, env=dict(env), check=False,
                          timeout=duration_s + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith(RESULT_MARK)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-2000:]}"
                           f"{done.stderr[-2000:]}")
    raw = json.loads(line[len(RESULT_MARK):])
    socket_errors = sum(raw[k] for k in ("connect_errors", "read_errors", "write_errors",
                                         "timeouts"))
    duration = raw["duration_us"] / 1e6
    return LoadResult(
        requests=raw["requests"], duration_s=round(duration, 3),
        rps=round(raw["requests"] / duration, 1) if duration else 0.0,
        errors=raw["non2xx"] + socket_errors, non2xx=raw["non2xx"],
        latency_ms={pct_key(float(q)): round(us / 1000, 3)
                    for q, us in raw["percentiles_us"].items()},
        extra={"latency_mean_ms": round(raw["latency_mean_us"] / 1000, 3),
               "latency_max_ms": round(raw["latency_max_us"] / 1000, 3),
               "socket_errors": socket_errors, "wrk_status_errors": raw["status_errors"]})


# --- raw HTTP ---------------------------------------------------------------------------


def http_request(method: str, path: str, headers: Mapping[str, str] | None = None,
                 body: bytes = b"") -> bytes:
    """One keep-alive HTTP/1.1 request as bytes."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", "Connection: keep-alive",
             *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if body or method in ("POST", "PUT"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response: (status, body); Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        length = int(lower[at + 17:end])
        return status, await reader.readexactly(length) if length else b""
    if b"transfer-encoding: chunked" not in lower:
        raise RuntimeError(f"response without a length: {head[:200]!r}")
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")  # the empty trailer
    return status, b"".join(chunks)


async def send_all(port: int, ctx: ssl.SSLContext, requests: Sequence[bytes],
                   connections: int) -> int:
    """Send each request once over `connections` connections; return the non-2xx count."""
    queue = list(requests)
    errors = 0

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(HOST, port, ssl=ctx)
        try:
            while queue:
                writer.write(queue.pop())
                status, _ = await read_response(reader)
                errors += not 200 <= status < 300
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return errors


# --- open loop --------------------------------------------------------------------------


@dataclass(slots=True)
class OpenLoopTally:
    latencies_ns: list[int] = field(default_factory=list)
    send_lag_ns: list[int] = field(default_factory=list)
    sched_lag_ns: list[int] = field(default_factory=list)
    in_window: int = 0  # responses that arrived before the measured window ended
    errors: int = 0


@dataclass(frozen=True, slots=True)
class Schedule:
    start_ns: int        # request 0's time
    interval_ns: float
    count: int           # warm-up + measured requests
    first_counted: int   # requests before this index are warm-up


Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _open_worker(port: int, ctx: ssl.SSLContext, stream: Stream, pool: Sequence[bytes],
                       queue: asyncio.Queue[int | None], schedule: Schedule,
                       tally: OpenLoopTally, rng: random.Random) -> None:
    """Take scheduled times off `queue` and send one request for each (see the docstring)."""
    reader, writer = stream
    clock = time.perf_counter_ns
    counted_from = schedule.start_ns + int(schedule.first_counted * schedule.interval_ns)
    window_end = schedule.start_ns + int(schedule.count * schedule.interval_ns)
    try:
        while (due := await queue.get()) is not None:
            sent = clock()
            try:
                writer.write(rng.choice(pool))
                status, _ = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                status = 0
                writer.close()
                reader, writer = await asyncio.open_connection(HOST, port, ssl=ctx)
            if due >= counted_from:
                done = clock()
                tally.latencies_ns.append(done - due)
                tally.send_lag_ns.append(sent - due)
                tally.in_window += done <= window_end
                tally.errors += not 200 <= status < 300
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def _schedule(queue: asyncio.Queue[int | None], schedule: Schedule,
                    tally: OpenLoopTally) -> None:
    clock = time.perf_counter_ns
    for i in range(schedule.count):
        due = schedule.start_ns + int(i * schedule.interval_ns)
        ahead = due - clock()
        if ahead > 0:
            await asyncio.sleep(ahead / 1e9)
        queue.put_nowait(due)
        if i >= schedule.first_counted:
            tally.sched_lag_ns.append(clock() - due)


async def open_loop(port: int, ctx: ssl.SSLContext, pool: Sequence[bytes], rate: float,
                    connections: int, warmup_s: float, duration_s: float, seed: int,
                    drain_s: float = 10.0) -> LoadResult:
    """Fixed-rate run; see the module docstring."""
    queue: asyncio.Queue[int | None] = asyncio.Queue()
    tally = OpenLoopTally()
    interval = 1e9 / rate
    first = int(warmup_s * rate)
    # every connection is open (TLS handshakes done) before the schedule starts
    streams = await asyncio.gather(*(asyncio.open_connection(HOST, port, ssl=ctx)
                                     for _ in range(connections)))
    schedule = Schedule(time.perf_counter_ns() + 10_000_000, interval,
                        first + int(duration_s * rate), first)
    workers = [asyncio.ensure_future(_open_worker(port, ctx, stream, pool, queue, schedule,
                                                  tally, random.Random(seed + i)))
               for i, stream in enumerate(streams)]
    await _schedule(queue, schedule, tally)
    end_ns = schedule.start_ns + int(schedule.count * interval)
    for _ in workers:
        queue.put_nowait(None)
    left_s = max(0.0, (end_ns - time.perf_counter_ns()) / 1e9)
    _, pending = await asyncio.wait(workers, timeout=drain_s + left_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return _summarize_open(tally, schedule, duration_s, rate, connections)


def _summarize_open(tally: OpenLoopTally, schedule: Schedule, duration_s: float,
                    rate: float, connections: int) -> LoadResult:
    measured = schedule.count - schedule.first_counted
    unfinished = measured - len(tally.latencies_ns)
    now = time.perf_counter_ns()
    last_due = schedule.start_ns + int(schedule.count * schedule.interval_ns)
    # unanswered requests enter with a lower bound (they waited at least until now)
    latencies = sorted(tally.latencies_ns + [now - last_due] * unfinished)
    lags, sched = sorted(tally.send_lag_ns), sorted(tally.sched_lag_ns)
    return LoadResult(
        requests=len(tally.latencies_ns), duration_s=duration_s,
        rps=round(tally.in_window / duration_s, 1), errors=tally.errors,
        non2xx=tally.errors,
        latency_ms={pct_key(q): percentile_ms(latencies, q) for q in PERCENTILES},
        extra={"target_rps": rate, "connections": connections, "scheduled": measured,
               "unfinished": unfinished,
               "send_lag_p50_ms": percentile_ms(lags, 50),
               "send_lag_p99_ms": percentile_ms(lags, 99),
               "sched_lag_p50_ms": percentile_ms(sched, 50),
               "sched_lag_p99_ms": percentile_ms(sched, 99)})


def percentile_ms(sorted_ns: Sequence[int], q: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in ms (0.0 when empty)."""
    if not sorted_ns:
        return 0.0
    rank = max(1, round(q / 100 * len(sorted_ns) + 0.5 - 1e-9))
    return round(sorted_ns[min(rank, len(sorted_ns)) - 1] / 1e6, 3)
