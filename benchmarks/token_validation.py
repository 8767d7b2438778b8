"""What token validation and the ACL policy check cost per request, on one real node.

What is measured
----------------
One `strongbox server` process (TLS, LMDB and the Raft journal on disk) is started on
loopback, initialised and unsealed; 1,000 secrets of ~200 bytes are written under
``secret/data/bench/``. Two ACL policies of 11 path blocks each are written
(``PUT /v1/sys/policies/acl/<name>``): exact paths, prefix globs, ``+`` segment globs and a
``deny`` on ``sys/*``, so the matcher has real work. ``app`` grants ``read`` on
``secret/data/bench/*``; ``noaccess`` has the same shape but its bench block points
elsewhere, so a bench read matches only a ``list`` glob and is refused. One token per
policy is created with the root token (``POST /v1/auth/token/create``, ``ttl 1h``; the
server adds ``default`` to both). Then each phase drives the node for `--duration`
seconds (after a 1 s warm-up that is not counted) from 16 keep-alive HTTPS connections
sending requests back to back (the load generator of ``kv_single_node.py``):

* ``health``         - ``GET /v1/sys/health``, no token: the HTTP+TLS+routing floor.
* ``kv_read_root``   - ``GET /v1/secret/data/<random of 1,000>`` with the root token: token
                       lookup, then the ACL check returns at once (root policy), KV read.
* ``kv_read_policy`` - the same reads with the ``app`` token: token lookup, the compiled
                       ACL of (app, default) from the per-policy-set cache, the glob
                       match, KV read. The token is a child of the root token, so this
                       also pays whatever the server checks for a child token (its
                       parent's lookup, where ancestors are checked on use).
* ``kv_read_denied`` - the same reads with the ``noaccess`` token: token lookup and the
                       glob match, then 403 instead of the KV read. 403 is the expected
                       answer here; anything else counts as an error.

Order: health, root, policy, root, policy, denied, health. Root and policy alternate so that
the difference between the two root phases (and the two policy phases) shows the noise of
the machine at the time; health runs first and last (``health_drift`` = last / first).

Per phase: requests completed in the window, errors (responses other than the expected
2xx, or 403 for ``kv_read_denied``), req/s, mean and p50/p90/p99 latency (per request on an
established connection, TLS handshakes excluded), CPU of the server process, of this load
generator and of everything else on the machine (``external``: /proc/stat busy minus the
two) sampled at the edges of the measured window, in % of one core; ``server CPU µs/req``
(server CPU in the window / requests) and ``ratio_to_health``.

Derived numbers (``comparison`` in the JSON):

* ratios of mean req/s: policy / root, root / health, denied / root, denied / health;
* **policy check cost per request** = (mean latency of a policy phase - mean latency of the
  root phase run just before it) / connections, averaged over the two pairs. In this closed
  loop each of the C connections always has one request in flight and the server is one
  event loop, so a request's latency is ~C x the server time per request (Little's law:
  mean latency = C / req/s); dividing the latency difference by C gives the server time the
  check adds to one request. The same number is cross-checked two ways: 1/req/s(policy) -
  1/req/s(root), and server CPU µs/req(policy) - (root). The raw mean latency difference is
  what a client sees at 16 connections. The root-vs-root and policy-vs-policy differences
  of the same formula are the noise floor: a cost below them is not resolved by the run.
  The latency formula holds only while the server has a core to itself (server CPU ~100%);
  phases where other processes used more than 20% of a core are listed (``busy_phases``),
  and for those the server-CPU estimate is the one to trust.

Usage: ``python benchmarks/token_validation.py [--duration 5] [--out benchmarks/results]``.
Only loopback traffic; every phase ends by itself; the node is stopped at the end. Exit
code 1 when a request of a phase got an unexpected status or the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kv_cluster import machine_ticks, source_version
from kv_single_node import (
    N_SECRETS,
    PREPOPULATE_CONNECTIONS,
    READ_CONNECTIONS,
    VALUE_BYTES,
    WARMUP_S,
    PhaseResult,
    Tally,
    add_ratios,
    add_run_arguments,
    check_run_arguments,
    client_ssl_context,
    drive,
    health_requests,
    machine_info,
    process_cpu_s,
    read_requests,
    secret_path,
    send_all,
    summarize,
    uvloop_factory,
    write_requests,
    write_results,
)

from strongbox.testing import ServerProcess, make_tls

CONNECTIONS = READ_CONNECTIONS  # 16, as kv_single_node's kv_read
TOKEN_TTL = "1h"
#: A phase whose external CPU (other processes) exceeds this, in % of one core, is flagged:
#: its latency is inflated by the competition, so trust the server-CPU estimate more.
BUSY_EXTERNAL_PCT = 20.0
ALLOWED_POLICY = "app"
DENIED_POLICY = "noaccess"
#: The `app` policy: 11 blocks of every kind the matcher handles. For a bench read
#: (`secret/data/bench/key-0042`) the exact table misses, the longest prefix glob is found
#: by trying shorter and shorter prefixes, and the `+` globs are matched segment by segment;
#: `secret/data/bench/*` (prefix, first wildcard later) beats `secret/data/+/*`.
APP_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("secret/data/bench/*", ("read",)),
    ("secret/metadata/bench/*", ("read", "list")),
    ("secret/data/bench/admin", ("deny",)),
    ("secret/data/other/*", ("read", "list")),
    ("secret/data/other/locked", ("deny",)),
    ("secret/data/+/config", ("read",)),
    ("secret/data/+/*", ("list",)),
    ("secret/+/shared/*", ("read", "list")),
    ("auth/token/lookup-self", ("read",)),
    ("transit/encrypt/app", ("update",)),
    ("sys/*", ("deny",)),
)
#: The same shape without the bench grant: a bench read matches only `secret/data/+/*`
#: (list), so it is refused after the same lookups.
DENIED_RULES = (("secret/data/bench-archive/*", ("read",)), *APP_RULES[1:])
#: (phase name, token kind, expected status: 200 means any 2xx) in run order.
PLAN: tuple[tuple[str, str, int], ...] = (
    ("health", "none", 200),
    ("kv_read_root", "root", 200),
    ("kv_read_policy", "policy", 200),
    ("kv_read_root", "root", 200),
    ("kv_read_policy", "policy", 200),
    ("kv_read_denied", "denied", 403),
    ("health", "none", 200),
)


def policy_hcl(rules: Sequence[tuple[str, Sequence[str]]]) -> str:
    """Vault HCL, one `path "<glob>" { capabilities = [...] }` block a line."""
    return "\n".join(f"path {json.dumps(path)} {{ capabilities = {json.dumps(list(caps))} }}"
                     for path, caps in rules)


# --- setup --------------------------------------------------------------------------------


def create_tokens(node: ServerProcess, root: str) -> dict[str, Any]:
    """Write both policies and create one token per policy with the root token.
    Returns {"tokens": {kind: token}, "token_policies": {kind: [policy, ...]}}."""
    tokens = {"root": root}
    policies: dict[str, list[str]] = {}
    with node.client(root) as client:
        for kind, name, rules in (("policy", ALLOWED_POLICY, APP_RULES),
                                  ("denied", DENIED_POLICY, DENIED_RULES)):
            client.put(f"/v1/sys/policies/acl/{name}",
                       json={"policy": policy_hcl(rules)}).raise_for_status()
            created = client.post("/v1/auth/token/create",
                                  json={"policies": [name], "ttl": TOKEN_TTL})
            created.raise_for_status()
            auth = created.json()["auth"]
            tokens[kind], policies[kind] = auth["client_token"], auth["policies"]
    return {"tokens": tokens, "token_policies": policies}


def check_access(node: ServerProcess, tokens: dict[str, str]) -> None:
    """A written secret must answer 200 / 200 / 403 to the root / app / noaccess tokens."""
    probe = secret_path(0)
    for kind, expected in (("root", 200), ("policy", 200), ("denied", 403)):
        with node.client(tokens[kind]) as client:
            status = client.get(probe).status_code
        if status != expected:
            raise RuntimeError(f"{kind} token: GET {probe} answered {status}, expected "
                               f"{expected}; the policies do not behave as this benchmark "
                               "assumes")


# --- measurement --------------------------------------------------------------------------


@dataclass(slots=True)
class TokenPhaseResult(PhaseResult):
    """A PhaseResult with the token used, the expected status and per-request costs."""

    token: str = ""                    # none, root, policy, denied
    expected: str = "2xx"              # "2xx", or "403" for the denied phase
    mean_ms: float = 0.0
    server_cpu_us_per_req: float = 0.0
    external_cpu_pct: float = 0.0


@dataclass(slots=True)
class WindowCpu:
    """CPU seconds used inside the measured window, and the machine's busy share."""

    server_s: float = 0.0
    client_s: float = 0.0
    machine_pct: float = 0.0


def per_request(base: PhaseResult, tally: Tally, cpu: WindowCpu) -> dict[str, float]:
    """What a phase adds to `base`: mean latency, server CPU per request, and the CPU
    share of the machine used by neither the server nor this load generator."""
    external = cpu.machine_pct - base.server_cpu_pct - base.client_cpu_pct
    return {
        "mean_ms": round(statistics.fmean(tally.latencies_ns) / 1e6, 3) if base.requests
        else 0.0,
        "server_cpu_us_per_req": round(1e6 * cpu.server_s / base.requests, 1)
        if base.requests else 0.0,
        "external_cpu_pct": round(max(0.0, external), 1)}


async def cpu_in_window(pid: int, duration_s: float, out: WindowCpu) -> None:
    """Sample server, client and machine CPU when `drive`'s window opens and closes."""
    await asyncio.sleep(WARMUP_S)
    server0, client0, (busy0, total0) = process_cpu_s(pid), time.process_time(), machine_ticks()
    await asyncio.sleep(duration_s)
    busy1, total1 = machine_ticks()
    out.server_s = process_cpu_s(pid) - server0
    out.client_s = time.process_time() - client0
    out.machine_pct = 100 * (os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0)


async def measure(name: str, token: str, expected: int, node: ServerProcess,
                  ctx: ssl.SSLContext, requests: Sequence[bytes], duration_s: float,
                  seed: int) -> TokenPhaseResult:
    """One phase at CONNECTIONS connections. errors = responses other than `expected`
    (200 stands for any 2xx)."""
    cpu = WindowCpu()
    tally, _ = await asyncio.gather(
        drive(node.port, ctx, requests, CONNECTIONS, WARMUP_S, duration_s, seed),
        cpu_in_window(node.pid, duration_s, cpu))
    base = summarize(name, CONNECTIONS, tally, duration_s, cpu.server_s, cpu.client_s,
                     duration_s)
    if expected != 200:
        base.errors = sum(n for status, n in tally.status_counts.items() if status != expected)
    result = TokenPhaseResult(
        **asdict(base), token=token, expected="2xx" if expected == 200 else str(expected),
        **per_request(base, tally, cpu))
    print(f"  {name:<14} {token:<6} {result.rps:>9.1f} req/s  mean {result.mean_ms:.2f} ms  "
          f"p99 {result.p99_ms:.2f} ms  server {result.server_cpu_us_per_req:.0f} µs/req  "
          f"statuses {result.status_counts}  errors {result.errors}", flush=True)
    return result


async def benchmark(node: ServerProcess, tokens: dict[str, str], duration_s: float,
                    seed: int) -> list[TokenPhaseResult]:
    ctx = client_ssl_context(node.tls.ca_cert)
    rng = random.Random(seed)
    print(f"pre-populating {N_SECRETS} secrets ...", flush=True)
    errors = await send_all(node.port, ctx, write_requests(tokens["root"], rng),
                            PREPOPULATE_CONNECTIONS)
    if errors:
        raise RuntimeError(f"{errors} of {N_SECRETS} pre-population writes failed")
    await asyncio.to_thread(check_access, node, tokens)
    pools = {"none": health_requests(), **{kind: read_requests(tokens[kind])
                                           for kind in ("root", "policy", "denied")}}
    return [await measure(name, token, expected, node, ctx, pools[token], duration_s,
                          seed + 1000 * i)
            for i, (name, token, expected) in enumerate(PLAN)]


# --- comparison and reporting -------------------------------------------------------------


def comparison(phases: Sequence[TokenPhaseResult]) -> dict[str, Any]:
    """Ratios of mean req/s and the per-request cost of the policy check (module doc).
    Per-kind means are keyed by token kind: none (the health phases), root, policy, denied."""
    by_token: dict[str, list[TokenPhaseResult]] = {}
    for p in phases:
        by_token.setdefault(p.token, []).append(p)
    rps = {k: statistics.fmean(p.rps for p in v) for k, v in by_token.items()}
    mean_ms = {k: statistics.fmean(p.mean_ms for p in v) for k, v in by_token.items()}
    cpu_us = {k: statistics.fmean(p.server_cpu_us_per_req for p in v)
              for k, v in by_token.items()}

    def per_request_us(later: TokenPhaseResult, earlier: TokenPhaseResult) -> float:
        return round(1000 * (later.mean_ms - earlier.mean_ms) / CONNECTIONS, 1)

    roots, policies = by_token["root"], by_token["policy"]
    pairs = [per_request_us(p, r) for r, p in zip(roots, policies, strict=True)]
    cpu_pairs = [round(p.server_cpu_us_per_req - r.server_cpu_us_per_req, 1)
                 for r, p in zip(roots, policies, strict=True)]
    return {
        "mean_rps": {k: round(v, 1) for k, v in rps.items()},
        "mean_latency_ms": {k: round(v, 3) for k, v in mean_ms.items()},
        "server_cpu_us_per_req": {k: round(v, 1) for k, v in cpu_us.items()},
        "policy_over_root": round(rps["policy"] / rps["root"], 3),
        "root_over_health": round(rps["root"] / rps["none"], 3),
        "denied_over_root": round(rps["denied"] / rps["root"], 3),
        "denied_over_health": round(rps["denied"] / rps["none"], 3),
        "policy_check_us_per_pair": pairs,
        "policy_check_us": round(statistics.fmean(pairs), 1),
        "policy_check_us_from_rps": round(1e6 / rps["policy"] - 1e6 / rps["root"], 1),
        "policy_check_us_from_server_cpu": round(cpu_us["policy"] - cpu_us["root"], 1),
        "policy_check_us_from_server_cpu_per_pair": cpu_pairs,
        "policy_added_latency_ms_at_connections": round(mean_ms["policy"] - mean_ms["root"], 3),
        "noise_us_root_2_vs_1": per_request_us(roots[1], roots[0]),
        "noise_us_policy_2_vs_1": per_request_us(policies[1], policies[0]),
        "denied_minus_health_us": round(1000 * (mean_ms["denied"] - mean_ms["none"])
                                        / CONNECTIONS, 1),
        "denied_minus_health_us_from_server_cpu": round(cpu_us["denied"] - cpu_us["none"], 1),
        "busy_phases": [f"{p.name} #{i + 1} ({p.external_cpu_pct:g}%)"
                        for i, p in enumerate(phases)
                        if p.external_cpu_pct > BUSY_EXTERNAL_PCT],
        "method": "policy_check_us = mean over the (root, policy) pairs run back to back of "
                  "(mean latency policy - mean latency root) / connections; "
                  "_from_rps = 1/req/s(policy) - 1/req/s(root); _from_server_cpu = server "
                  "CPU per request policy - root; noise_* = the same latency formula between "
                  "two phases of the same kind",
    }


def phase_table(phases: Sequence[TokenPhaseResult]) -> str:
    rows = ["| phase | token | expect | conns | requests | errors | req/s | mean ms | p50 ms "
            "| p90 ms | p99 ms | ratio to health | server CPU % | server CPU µs/req "
            "| client CPU % | external CPU % |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in phases:
        ratio = "" if p.ratio_to_health is None else f"{p.ratio_to_health:.3f}"
        rows.append(f"| {p.name} | {p.token} | {p.expected} | {p.connections} | {p.requests} "
                    f"| {p.errors} | {p.rps:.1f} | {p.mean_ms:.2f} | {p.p50_ms:.2f} "
                    f"| {p.p90_ms:.2f} | {p.p99_ms:.2f} | {ratio} | {p.server_cpu_pct:.0f} "
                    f"| {p.server_cpu_us_per_req:.0f} | {p.client_cpu_pct:.0f} "
                    f"| {p.external_cpu_pct:.0f} |")
    return "\n".join(rows)


def comparison_table(c: dict[str, Any]) -> str:
    pairs = " / ".join(f"{x:g}" for x in c["policy_check_us_per_pair"])
    cpu_pairs = " / ".join(f"{x:g}" for x in c["policy_check_us_from_server_cpu_per_pair"])
    busy = ", ".join(c["busy_phases"]) or "none"
    rows = [
        "| comparison | value | how |", "|---|---:|---|",
        f"| policy / root | {c['policy_over_root']:.3f} | mean req/s of the two policy phases "
        "÷ of the two root phases |",
        f"| root / health | {c['root_over_health']:.3f} | mean req/s root ÷ mean health |",
        f"| denied / root | {c['denied_over_root']:.3f} | |",
        f"| denied / health | {c['denied_over_health']:.3f} | |",
        f"| **policy check, µs/request** | **{c['policy_check_us']:g}** | (mean latency policy "
        f"- root) ÷ {CONNECTIONS} connections, mean of the two back-to-back pairs "
        f"({pairs}) |",
        f"| same, from req/s | {c['policy_check_us_from_rps']:g} | 1/req/s policy - 1/req/s "
        "root (means) |",
        f"| same, from server CPU | {c['policy_check_us_from_server_cpu']:g} | server CPU "
        f"µs/req policy - root (means; pairs {cpu_pairs}) |",
        f"| added client latency at {CONNECTIONS} conns, ms "
        f"| {c['policy_added_latency_ms_at_connections']:g} | mean latency policy - root |",
        f"| noise: root 2 vs root 1, µs/request | {c['noise_us_root_2_vs_1']:g} | same "
        "latency formula between the two root phases |",
        f"| noise: policy 2 vs policy 1, µs/request | {c['noise_us_policy_2_vs_1']:g} | "
        "same, between the two policy phases |",
        f"| denied - health, µs/request | {c['denied_minus_health_us']:g} "
        f"({c['denied_minus_health_us_from_server_cpu']:g} from server CPU) | token lookup + "
        "ACL match + 403 answer, beyond the health floor (same two formulas) |",
        f"| phases with external CPU > {BUSY_EXTERNAL_PCT:g}% | {len(c['busy_phases'])} "
        f"| {busy}: other work took CPU, so latency there includes waiting for a core; "
        "the latency formula assumes a server with a core to itself, prefer the server-CPU "
        "one |",
    ]
    return "\n".join(rows)


def markdown_report(report: dict[str, Any], phases: Sequence[TokenPhaseResult]) -> str:
    machine, settings = report["machine"], report["settings"]
    local = " + local changes" if machine["strongbox_dirty"] else ""
    return "\n".join([
        "# token_validation results", "",
        f"{machine['date']} · {machine['cpu_count']} CPUs ({machine['cpu_model']}) · "
        f"Python {machine['python']} · strongbox {machine['strongbox_version']} (commit "
        f"{machine['git_commit']}{local}) · client loop {machine['event_loop']} · "
        f"load avg before {machine['load_average']}, after {machine['load_average_after']}",
        "",
        f"{settings['connections']} connections, {settings['duration_s']} s per phase after "
        f"{settings['warmup_s']} s warm-up; GET of {settings['secrets']} secrets of "
        f"~{settings['value_bytes']} B; TLS, keep-alive. Policies of "
        f"{settings['policy_blocks']} path blocks; token policies {settings['token_policies']}."
        f" ratio = phase req/s / mean health req/s ({settings['health_baseline_rps']}); health "
        f"drift last/first = {settings['health_drift']}. errors = answers other than the "
        "expected status. CPU is sampled at the edges of the measured window.", "",
        phase_table(phases), "",
        comparison_table(report["comparison"]), ""])


# --- orchestration ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark what token validation and the ACL policy check cost per "
                    "request on one real StrongBox node (TLS, LMDB, Raft). Same node, same "
                    "run, 16 connections: GET /v1/sys/health (floor), KV reads with the root "
                    "token (ACL short-circuits), with a policy token (11-block policy), "
                    "root and policy alternated twice, then with a token without access "
                    "(403 expected), then health again. Reports req/s, latency, ratios and "
                    "the policy check's cost in µs per request. Prints and writes "
                    "token_validation.json and token_validation.md.",
        epilog="Read ratios and the noise rows rather than absolute req/s: the machine is "
               "shared. Takes about a minute with the defaults. Exit code 1 on any "
               "unexpected status. See benchmarks/README.md.")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-bench-token-") as tmp:
        work = Path(tmp)
        machine = {**machine_info(work), **source_version()}
        node = ServerProcess(work / "node", make_tls(work / "tls"))
        try:
            _, root = node.start().init_and_unseal()
            setup = create_tokens(node, root)
            with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
                phases = runner.run(benchmark(node, setup["tokens"], args.duration,
                                              args.seed))
        except (httpx.HTTPError, RuntimeError, TimeoutError) as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
        finally:
            node.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    settings = {"connections": CONNECTIONS, "duration_s": args.duration, "warmup_s": WARMUP_S,
                "secrets": N_SECRETS, "value_bytes": VALUE_BYTES, "seed": args.seed,
                "policy_blocks": len(APP_RULES), "token_policies": setup["token_policies"],
                "policies": {ALLOWED_POLICY: policy_hcl(APP_RULES),
                             DENIED_POLICY: policy_hcl(DENIED_RULES)},
                **add_ratios(list(phases))}
    report = {"benchmark": "token_validation", "machine": machine, "settings": settings,
              "phases": [asdict(p) for p in phases], "comparison": comparison(phases)}
    markdown = markdown_report(report, phases)
    write_results(args.out, report, markdown, "token_validation")
    print(json.dumps(report, indent=2))
    print(markdown)
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
