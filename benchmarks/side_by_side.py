"""StrongBox vs etcd, side by side in the same run, on the same machine, with the same load.

What it does
------------
Starts a three-member etcd (sbs/etcd.py: loopback, HTTPS clients, mutual-TLS peers) and a
three-node StrongBox (`strongbox.testing.LocalCluster`; policy-restricted token and a file
audit device, see sbs/systems.py), fills both with the same number of keys (default 2,000)
of 1 KiB values, then runs every phase of sbs/phases.py against both, `--rounds` times,
alternating which system goes first in each round (etcd first in odd rounds) so that drift
on the shared machine touches both. Closed-loop phases use wrk with the Lua scripts of
benchmarks/wrk/; fixed-rate phases use the open-loop generator of sbs/load.py (latency from
the scheduled send time: no coordinated omission). Each measurement is preceded by a
`--warmup` that is not counted. After each one, the RSS (/proc/<pid>/status VmRSS) and the
CPU of every member are recorded.

Output: the markdown table on stdout, `<out>/side_by_side.json` (machine, settings, summary,
every measurement) and `<out>/side_by_side.md`. Exit code 0 if no request failed, 1 if any
phase had errors (non-2xx, socket errors, timeouts), 2 if etcd or wrk is not installed.

Usage: ``python benchmarks/side_by_side.py [--duration 10] [--rounds 2] [--smoke]
[--out benchmarks/results] [--only strongbox|etcd]``. Only loopback traffic; every process
it starts is stopped at the end, also on Ctrl-C, SIGTERM or an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kv_single_node import process_cpu_s, uvloop_factory
from sbs import report
from sbs.load import LoadResult, open_loop, run_wrk
from sbs.phases import PHASES, SETUPS, Phase
from sbs.systems import VALUE_CHARS, EtcdSystem, StrongBoxSystem, System

KEYS = 2_000
SMOKE = {"duration": 1, "warmup": 0, "rounds": 1, "keys": 300}
SMOKE_RATE_SCALE = 0.2  # --smoke: open-loop rates x 0.2 (a quick functional check)
INSTALL_HINT = "apt-get install etcd-server etcd-client wrk"


@dataclass(frozen=True, slots=True)
class Settings:
    duration_s: int
    warmup_s: int
    rounds: int
    keys: int
    only: str | None
    seed: int
    phases: tuple[str, ...] = ()  # empty: all
    rate_scale: float = 1.0
    wrk_threads: int = 2
    value_chars: int = VALUE_CHARS


def rss_mib(pid: int) -> float:
    """VmRSS of `pid` in MiB (0.0 if it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError):
        pass
    return 0.0


def client_cpu_s() -> float:
    """CPU seconds of this process plus its waited-for children (the wrk runs so far)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat; (0, 0) if unknown."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0, 0
    return sum(fields) - fields[3] - fields[4], sum(fields)  # minus idle and iowait


def drive(system: System, phase: Phase, port: int, settings: Settings, seed: int) -> LoadResult:
    """One measurement (after its warm-up) of `phase` against `system` on `port`."""
    if phase.driver == "wrk":
        url = f"https://127.0.0.1:{port}"
        script = str(system.wrk_script(phase.op))
        env = {**os.environ, **system.wrk_env(), "SBS_KEYS": str(settings.keys)}
        threads = min(phase.threads, phase.connections)
        if settings.warmup_s:
            run_wrk(url, script, threads, phase.connections, settings.warmup_s, env)
        return run_wrk(url, script, threads, phase.connections, settings.duration_s, env)
    pool = system.requests(phase.op, settings.keys, seed)
    with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
        return runner.run(open_loop(port, system.ssl_context, pool,
                                    phase.rate * settings.rate_scale,
                                    phase.connections, settings.warmup_s,
                                    settings.duration_s, seed))


def measure(system: System, phase: Phase, settings: Settings, round_no: int, order: int,
            seed: int) -> dict[str, Any]:
    """Run one phase on one system; the JSON record of it (also printed as one line)."""
    port, pid = system.member(phase.target)
    pids = system.pids()
    cpu0, wall0 = {k: process_cpu_s(p) for k, p in pids.items()}, time.perf_counter()
    busy0, total0, client0 = *machine_ticks(), client_cpu_s()
    result = drive(system, phase, port, settings, seed)
    wall = time.perf_counter() - wall0
    busy1, total1 = machine_ticks()
    machine = 100 * (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)
    cpu = {k: round(100 * (process_cpu_s(p) - cpu0[k]) / wall, 1) for k, p in pids.items()}
    record = {"round": round_no, "order": order, "phase": phase.name, "system": system.name,
              "driver": phase.driver, "op": phase.op, "target": phase.target,
              "connections": phase.connections, "rate": phase.rate * settings.rate_scale,
              "setup": phase.setup,
              "member": next((k for k, p in pids.items() if p == pid), ""),
              **asdict(result), "target_rss_mib": rss_mib(pid),
              "rss_mib": {k: rss_mib(p) for k, p in pids.items()},
              "cpu_pct": cpu, "cluster_cpu_pct": round(sum(cpu.values()), 1),
              "machine_cpu_pct": round(machine, 1),
              "client_cpu_pct": round(100 * (client_cpu_s() - client0) / wall, 1)}
    lat = result.latency_ms
    print(f"  round {round_no} {phase.name:<17} {system.name:<9} {result.rps:>8.1f} req/s  "
          f"p50 {lat['p50']:.2f}  p99 {lat['p99']:.2f}  p99.9 {lat['p999']:.2f} ms  "
          f"errors {result.errors}  RSS {record['target_rss_mib']:.0f} MiB", flush=True)
    return record


def run_setup(setup: str, etcd: System | None, work: Path, settings: Settings,
              stack: contextlib.ExitStack) -> list[dict[str, Any]]:
    """Start the StrongBox cluster of `setup` (unless --only etcd) and run its phases."""
    strongbox: System | None = None
    if settings.only != "etcd":
        started = time.perf_counter()
        strongbox = StrongBoxSystem(work / f"strongbox-{setup}", SETUPS[setup].extra_config,
                                    SETUPS[setup].workers)
        stack.callback(strongbox.stop)
        strongbox.start()
        strongbox.fill(settings.keys, settings.seed)
        print(f"strongbox ({setup}) started and filled in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    runs = []
    phases = [p for p in selected(settings) if p.setup == setup]
    for round_no in range(1, settings.rounds + 1):
        systems = [etcd, strongbox] if round_no % 2 else [strongbox, etcd]
        for i, phase in enumerate(phases):
            present = [s for s in systems if s is not None]
            for order, system in enumerate(present, 1):
                seed = settings.seed + 1000 * round_no + 10 * i + order
                runs.append(measure(system, phase, settings, round_no, order, seed))
    if strongbox is not None:
        strongbox.stop()
    return runs


def selected(settings: Settings) -> list[Phase]:
    return [p for p in PHASES if not settings.phases or p.name in settings.phases]


def benchmark(settings: Settings, work: Path) -> list[dict[str, Any]]:
    """Every setup's phases; every process started here is stopped before returning."""
    with contextlib.ExitStack() as stack:
        etcd: System | None = None
        if settings.only != "strongbox":
            started = time.perf_counter()
            etcd = EtcdSystem(work / "etcd")
            stack.callback(etcd.stop)
            etcd.start()
            etcd.fill(settings.keys, settings.seed)
            print(f"etcd started and filled in {time.perf_counter() - started:.1f} s",
                  flush=True)
        runs: list[dict[str, Any]] = []
        for setup in dict.fromkeys(p.setup for p in selected(settings)):
            runs += run_setup(setup, etcd, work, settings, stack)
        return runs


def missing_tools() -> list[str]:
    return [tool for tool in ("etcd", "wrk") if shutil.which(tool) is None]


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path]:
    parser = argparse.ArgumentParser(
        description="StrongBox (3 nodes) vs etcd (3 members) on loopback in the same run: "
                    "follower reads, leader writes at 32 and 1 connections (wrk), fixed-rate "
                    "open-loop reads at 500/1000/2000 req/s and writes at 500 req/s. Writes "
                    "side_by_side.json and side_by_side.md.",
        epilog=f"Needs etcd and wrk ({INSTALL_HINT}). See benchmarks/README.md.")
    parser.add_argument("--duration", type=int, default=10, metavar="SECONDS",
                        help="measured seconds per phase and system, whole seconds (wrk "
                             "takes no fractions) (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=1, metavar="SECONDS",
                        help="uncounted seconds before each measurement (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="default: %(default)s")
    parser.add_argument("--keys", type=int, default=KEYS, help="default: %(default)s")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick functional check, not a measurement: "
                             f"{SMOKE['duration']} s per phase, no warm-up, 1 round, "
                             f"{SMOKE['keys']} keys, open-loop rates x {SMOKE_RATE_SCALE}")
    parser.add_argument("--only", choices=("strongbox", "etcd"), default=None,
                        help="run one system only (no ratio)")
    parser.add_argument("--phase", action="append", default=[], metavar="NAME",
                        choices=[p.name for p in PHASES],
                        help="run only this phase (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="directory for the result files (default: benchmarks/results)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.warmup = SMOKE["duration"], SMOKE["warmup"]
        args.rounds, args.keys = SMOKE["rounds"], SMOKE["keys"]
    if args.duration <= 0 or args.warmup < 0 or args.rounds < 1 or args.keys < 1:
        parser.error("--duration and --rounds and --keys must be positive, --warmup >= 0")
    return Settings(args.duration, args.warmup, args.rounds, args.keys, args.only, args.seed,
                    tuple(args.phase), SMOKE_RATE_SCALE if args.smoke else 1.0), args.out


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM ends the run like Ctrl-C does: the finally blocks stop every process."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    settings, out = parse_args(argv)
    if missing := missing_tools():
        print(f"side_by_side: {' and '.join(missing)} not found on PATH; install them with "
              f"`{INSTALL_HINT}`", file=sys.stderr)
        return 2
    machine, started = report.machine_info(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sb-sbs-") as tmp:
        runs = benchmark(settings, Path(tmp))
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result = {"benchmark": "side_by_side", "machine": machine, "settings": asdict(settings),
              "elapsed_s": round(time.perf_counter() - started, 1),
              "phases": [asdict(p) for p in selected(settings)], "summary": report.summarize(runs),
              "runs": runs}
    text = report.markdown(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / "side_by_side.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "side_by_side.md").write_text(text)
    print(text)
    return 1 if any(r["errors"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
