"""What an audit device costs: KV reads per second with and without one, in the same run.

One real node (TLS, LMDB, Raft). Phases, each `--duration` seconds after a warm-up, 16
keep-alive connections reading random secrets out of 1,000:

    health            GET /v1/sys/health: the HTTP+TLS floor (baseline)
    kv_read           no audit device
    kv_read_audit     a file audit device enabled (two HMAC'd, hash-chained JSON lines
                      per request, written before the answer)
    kv_read_again     the device disabled again (shows drift over the run)
    health            baseline again

Read `audit_cost` = 1 - kv_read_audit / mean(kv_read, kv_read_again): the share of read
throughput the audit device costs on this machine. Results: benchmarks/results/
audit_overhead.{json,md}. The machine is shared and noisy: compare ratios, not req/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kv_single_node import (
    N_SECRETS,
    PREPOPULATE_CONNECTIONS,
    PhaseResult,
    client_ssl_context,
    health_requests,
    machine_info,
    markdown_table,
    read_requests,
    run_async,
    run_phase,
    send_all,
    write_requests,
    write_results,
)

from strongbox.testing import ServerProcess, make_tls

CONNECTIONS = 16


def set_audit(node: ServerProcess, token: str, enabled: bool) -> None:
    with node.client(token) as client:
        if enabled:
            response = client.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": "audit.log"}})
        else:
            response = client.delete("/v1/sys/audit/file")
        response.raise_for_status()


def run(node: ServerProcess, token: str, duration_s: float, seed: int) -> list[PhaseResult]:
    ctx = client_ssl_context(node.tls.ca_cert)
    rng = random.Random(seed)

    async def prepopulate() -> list[PhaseResult]:
        errors = await send_all(node.port, ctx, write_requests(token, rng),
                                PREPOPULATE_CONNECTIONS)
        if errors:
            raise RuntimeError(f"{errors} of {N_SECRETS} pre-population writes failed")
        return []

    def phase(name: str, requests: Sequence[bytes], i: int) -> PhaseResult:
        async def one() -> list[PhaseResult]:
            return [await run_phase(name, node, ctx, requests, CONNECTIONS, duration_s,
                                    seed + i)]
        return run_async(one)[0]

    run_async(prepopulate)
    reads = read_requests(token)
    phases = [phase("health", health_requests(), 1), phase("kv_read", reads, 2)]
    set_audit(node, token, True)
    phases.append(phase("kv_read_audit", reads, 3))
    set_audit(node, token, False)
    phases += [phase("kv_read_again", reads, 4), phase("health", health_requests(), 5)]
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="strongbox-bench-") as tmp:
        tls = make_tls(Path(tmp) / "tls")
        node = ServerProcess(Path(tmp) / "node", tls).start()
        try:
            _, token = node.init_and_unseal()
            phases = run(node, token, args.duration, args.seed)
            audit_lines = len((node.data_dir / "audit.log").read_text().splitlines())
            machine = machine_info(node.data_dir)
        except (httpx.HTTPError, RuntimeError) as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
        finally:
            node.stop()
    by_name = {p.name: p for p in phases}
    plain = (by_name["kv_read"].rps + by_name["kv_read_again"].rps) / 2
    health = sum(p.rps for p in phases if p.name == "health") / 2
    for p in phases:
        p.ratio_to_health = p.rps / health if health else 0.0
    cost = 1 - by_name["kv_read_audit"].rps / plain if plain else 0.0
    report = {"machine": machine, "duration_s": args.duration, "connections": CONNECTIONS,
              "audit_lines_written": audit_lines, "audit_cost": round(cost, 4),
              "phases": [dataclasses.asdict(p) for p in phases]}
    markdown = (f"# audit_overhead results\n\n{machine.get('date', '')}: reads with a file "
                f"audit device run at {1 - cost:.2f}x the rate without one "
                f"(audit cost {cost:.0%}); {audit_lines} audit lines written.\n\n"
                + markdown_table(phases) + "\n")
    write_results(args.out, report, markdown, "audit_overhead")
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
