"""What Transit encryption costs per request and per item, next to a KV read, on one node.

What is measured
----------------
One `strongbox server` process (TLS, LMDB and the Raft journal on disk) is started on
loopback, initialised and unsealed. With the root token: the Transit engine is mounted at
``transit/`` (``POST /v1/sys/mounts/transit {"type": "transit"}``), one key ``bench`` of
type ``aes256-gcm96`` is created, one KV v2 secret ``secret/data/x`` (~200 B) is written,
and the policy ``transit-app`` is written and given to a new token (``POST
/v1/auth/token/create``, ``ttl 1h``; the server adds ``default``)::

    path "secret/data/*"       { capabilities = ["read"] }
    path "transit/encrypt/*"   { capabilities = ["update"] }
    path "transit/decrypt/*"   { capabilities = ["update"] }

Every measured request uses that token (none for health), as an application would: the
token lookup and the ACL match are in every number. Before the load, each kind of request
is sent once and checked (200, decrypt gives the plaintext back, no batch item failed).

Phases, in this order, each `--duration` seconds after a 1 s warm-up that is not counted,
16 keep-alive HTTPS connections sending requests back to back (the load generator of
``kv_single_node.py``):

    health            GET /v1/sys/health, no token: the HTTP+TLS+routing floor
    kv_read           GET /v1/secret/data/x: the baseline of a keyed read
    encrypt           POST /v1/transit/encrypt/bench {"plaintext": <64 random bytes, b64>}
                      (a pool of 64 different plaintexts)
    decrypt           POST /v1/transit/decrypt/bench {"ciphertext": ...}: ciphertexts
                      made before the load (of the same 64 plaintexts)
    encrypt_batch100  encrypt with "batch_input" of 100 such items (a pool of 4 bodies)
    decrypt_batch100  decrypt with "batch_input" of 100 pre-made ciphertexts (4 bodies)
    kv_read, health   again, last: the drift of the machine over the run

Per phase: requests and errors (non-2xx) in the window, req/s, items/s (100 per request
for the batch phases, 1 otherwise), mean and p50/p90/p99 latency (per request, on an
established connection), server CPU µs per request and per item (server process CPU in the
measured window / requests, / items), and the CPU of the server, this load generator and
everything else (``external``) in % of one core.

Ratios (``comparison`` in the JSON): encrypt and decrypt req/s / kv_read req/s (mean of
the two kv_read phases of the same run); batch items/s / single-item items/s; and a split
of the server CPU of a request into a per-request part and a per-item part, from the
single and the batch phase of each operation: per item = (batch µs/req - single µs/req) /
99, per request = single µs/req - per item.

The machine is shared and noisy: read the ratios, not the absolute req/s, and prefer
server CPU µs in phases flagged as busy (other processes used more than 20% of a core:
``busy_phases``). Results:
benchmarks/results/transit.{json,md} (printed too). Loopback only; the node is stopped at
the end. Exit code 1 when a phase got a non-2xx answer or the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import hashlib
import json
import os
import random
import ssl
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kv_cluster import source_version
from kv_single_node import (
    READ_CONNECTIONS,
    VALUE_BYTES,
    WARMUP_S,
    PhaseResult,
    add_ratios,
    add_run_arguments,
    build_request,
    check_run_arguments,
    client_ssl_context,
    drive,
    health_requests,
    machine_info,
    markdown_table,
    summarize,
    uvloop_factory,
    write_results,
)
from token_validation import WindowCpu, cpu_in_window, per_request, policy_hcl

from strongbox.testing import ServerProcess, make_tls

CONNECTIONS = READ_CONNECTIONS  # 16, as kv_single_node's kv_read
#: A phase whose external CPU (other processes) exceeds this, in % of one core, is flagged,
#: as in token_validation: the server competed for a core, so its req/s is low; its server
#: CPU µs per request is the steadier number.
BUSY_EXTERNAL_PCT = 20.0
MOUNT = "transit"
KEY = "bench"
KEY_TYPE = "aes256-gcm96"
KV_PATH = "/v1/secret/data/x"
PLAINTEXT_BYTES = 64
SINGLE_POOL = 64  # different single-item bodies per phase
BATCH_ITEMS = 100
BATCH_POOL = 4  # different batch bodies per phase
TOKEN_TTL = "1h"
POLICY_NAME = "transit-app"
POLICY_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("secret/data/*", ("read",)),
    (f"{MOUNT}/encrypt/*", ("update",)),
    (f"{MOUNT}/decrypt/*", ("update",)),
)
#: (phase name, items per request) in run order; the phase name keys its pool.
PLAN: tuple[tuple[str, int], ...] = (
    ("health", 1),
    ("kv_read", 1),
    ("encrypt", 1),
    ("decrypt", 1),
    ("encrypt_batch100", BATCH_ITEMS),
    ("decrypt_batch100", BATCH_ITEMS),
    ("kv_read", 1),
    ("health", 1),
)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- setup --------------------------------------------------------------------------------


def _ok(answer: httpx.Response) -> httpx.Response:
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path} answered "
                           f"{answer.status_code}: {answer.text[:300]}")
    return answer


def setup(node: ServerProcess, root: str, rng: random.Random) -> dict[str, Any]:
    """Mount transit, create the key, write the secret and the policy, make the app token.
    Returns {"token": ..., "token_policies": [...]}."""
    with node.client(root) as c:
        _ok(c.post(f"/v1/sys/mounts/{MOUNT}", json={"type": "transit"}))
        _ok(c.post(f"/v1/{MOUNT}/keys/{KEY}", json={"type": KEY_TYPE}))
        key = _ok(c.get(f"/v1/{MOUNT}/keys/{KEY}")).json()["data"]
        if key["type"] != KEY_TYPE:
            raise RuntimeError(f"key {KEY!r} has type {key['type']!r}, not {KEY_TYPE!r}")
        value = rng.randbytes(VALUE_BYTES // 2).hex()
        _ok(c.post(KV_PATH, json={"data": {"value": value}}))
        _ok(c.put(f"/v1/sys/policies/acl/{POLICY_NAME}",
                  json={"policy": policy_hcl(POLICY_RULES)}))
        auth = _ok(c.post("/v1/auth/token/create",
                          json={"policies": [POLICY_NAME], "ttl": TOKEN_TTL})).json()["auth"]
    return {"token": auth["client_token"], "token_policies": auth["policies"]}


def encrypt_all(node: ServerProcess, token: str, plaintexts: Sequence[bytes]) -> list[str]:
    """Ciphertexts of `plaintexts`, made with the app token (one batch request)."""
    with node.client(token) as c:
        body = {"batch_input": [{"plaintext": b64(p)} for p in plaintexts]}
        results = _ok(c.post(f"/v1/{MOUNT}/encrypt/{KEY}", json=body)).json()["data"][
            "batch_results"]
    failed = [r["error"] for r in results if "error" in r]
    if failed or len(results) != len(plaintexts):
        raise RuntimeError(f"pre-encryption failed: {failed[:3]}")
    return [r["ciphertext"] for r in results]


@dataclass(slots=True)
class Workload:
    """Raw HTTP requests per phase, their JSON bodies, and the plaintexts behind them."""

    pools: dict[str, list[bytes]]
    bodies: dict[str, list[dict[str, Any]]]
    single_plaintexts: list[str]
    batch_plaintexts: list[list[str]]


def workload(node: ServerProcess, token: str, rng: random.Random) -> Workload:
    """Random plaintexts, their ciphertexts (made now), and every phase's requests."""
    singles = [rng.randbytes(PLAINTEXT_BYTES) for _ in range(SINGLE_POOL)]
    batches = [[rng.randbytes(PLAINTEXT_BYTES) for _ in range(BATCH_ITEMS)]
               for _ in range(BATCH_POOL)]
    single_ct = encrypt_all(node, token, singles)
    batch_ct = [encrypt_all(node, token, b) for b in batches]
    json_bodies: dict[str, list[dict[str, Any]]] = {
        "encrypt": [{"plaintext": b64(p)} for p in singles],
        "decrypt": [{"ciphertext": ct} for ct in single_ct],
        "encrypt_batch100": [{"batch_input": [{"plaintext": b64(p)} for p in b]}
                             for b in batches],
        "decrypt_batch100": [{"batch_input": [{"ciphertext": ct} for ct in cts]}
                             for cts in batch_ct],
    }
    pools = {"health": health_requests(), "kv_read": [build_request("GET", KV_PATH, token)]}
    for name, items in json_bodies.items():
        path = f"/v1/{MOUNT}/{operation(name)}/{KEY}"
        pools[name] = [build_request("POST", path, token, json.dumps(b).encode())
                       for b in items]
    return Workload(pools, json_bodies, [b64(p) for p in singles],
                    [[b64(p) for p in b] for b in batches])


def operation(phase: str) -> str:
    """encrypt_batch100 -> encrypt."""
    return phase.split("_", 1)[0]


def check_requests(node: ServerProcess, token: str, work: Workload) -> None:
    """One request of each kind with the app token must succeed and round-trip, and the
    token must not reach beyond its policy."""
    with node.client(token) as c:
        secret = _ok(c.get(KV_PATH)).json()["data"]["data"]
        if "value" not in secret:
            raise RuntimeError(f"GET {KV_PATH}: unexpected answer {secret!r}")
        for name in ("encrypt", "decrypt", "encrypt_batch100", "decrypt_batch100"):
            op = operation(name)
            data = _ok(c.post(f"/v1/{MOUNT}/{op}/{KEY}",
                              json=work.bodies[name][0])).json()["data"]
            results = data.get("batch_results", [data])
            if any("error" in r for r in results):
                raise RuntimeError(f"{name}: an item failed: {results[:2]}")
            if op == "decrypt":
                want = (work.single_plaintexts[:1] if name == "decrypt"
                        else work.batch_plaintexts[0])
                if [r["plaintext"] for r in results] != want:
                    raise RuntimeError(f"{name} did not give the plaintext back")
            elif not all(r["ciphertext"].startswith("vault:v1:") for r in results):
                raise RuntimeError(f"{name}: unexpected ciphertext {results[0]!r}")
        status = c.get(f"/v1/{MOUNT}/keys/{KEY}").status_code
        if status != 403:
            raise RuntimeError(f"the app token may read {MOUNT}/keys/{KEY} ({status}): the "
                               "policy does not restrict it as this benchmark assumes")


# --- measurement --------------------------------------------------------------------------


@dataclass(slots=True)
class TransitPhaseResult(PhaseResult):
    items_per_request: int = 1
    items_per_s: float = 0.0
    mean_ms: float = 0.0
    server_cpu_us_per_req: float = 0.0
    server_cpu_us_per_item: float = 0.0
    external_cpu_pct: float = 0.0


async def measure(name: str, items: int, node: ServerProcess, ctx: ssl.SSLContext,
                  requests: Sequence[bytes], duration_s: float,
                  seed: int) -> TransitPhaseResult:
    cpu = WindowCpu()
    tally, _ = await asyncio.gather(
        drive(node.port, ctx, requests, CONNECTIONS, WARMUP_S, duration_s, seed),
        cpu_in_window(node.pid, duration_s, cpu))
    base = summarize(name, CONNECTIONS, tally, duration_s, cpu.server_s, cpu.client_s,
                     duration_s)
    extra = per_request(base, tally, cpu)
    result = TransitPhaseResult(
        **asdict(base), items_per_request=items, items_per_s=round(base.rps * items, 1),
        mean_ms=extra["mean_ms"], server_cpu_us_per_req=extra["server_cpu_us_per_req"],
        server_cpu_us_per_item=round(extra["server_cpu_us_per_req"] / items, 2),
        external_cpu_pct=extra["external_cpu_pct"])
    print(f"  {name:<17} {result.rps:>8.1f} req/s {result.items_per_s:>9.1f} items/s  "
          f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
          f"server {result.server_cpu_us_per_req:.0f} µs/req  "
          f"{result.server_cpu_us_per_item:.1f} µs/item  errors {result.errors} "
          f"{result.status_counts}", flush=True)
    return result


async def benchmark(node: ServerProcess, pools: dict[str, list[bytes]], duration_s: float,
                    seed: int) -> list[TransitPhaseResult]:
    ctx = client_ssl_context(node.tls.ca_cert)
    return [await measure(name, items, node, ctx, pools[name], duration_s, seed + 1000 * i)
            for i, (name, items) in enumerate(PLAN)]


# --- comparison and reporting -------------------------------------------------------------


def comparison(phases: Sequence[TransitPhaseResult]) -> dict[str, Any]:
    """Ratios to kv_read, batch over single, and the per-request / per-item CPU split."""
    by_name: dict[str, list[TransitPhaseResult]] = {}
    for p in phases:
        by_name.setdefault(p.name, []).append(p)

    def mean(name: str, attr: str) -> float:
        return statistics.fmean(getattr(p, attr) for p in by_name[name])

    kv_rps, kv_cpu = mean("kv_read", "rps"), mean("kv_read", "server_cpu_us_per_req")
    kv = by_name["kv_read"]
    out: dict[str, Any] = {
        "kv_read_mean_rps": round(kv_rps, 1),
        "kv_read_drift": round(kv[-1].rps / kv[0].rps, 3) if kv[0].rps else 0.0,
        "kv_read_server_cpu_us_per_req": round(kv_cpu, 1),
    }
    for op in ("encrypt", "decrypt"):
        single, batch = by_name[op][0], by_name[f"{op}_batch{BATCH_ITEMS}"][0]
        per_item = (batch.server_cpu_us_per_req - single.server_cpu_us_per_req) / (
            BATCH_ITEMS - 1)
        out[f"{op}_over_kv_read_rps"] = round(single.rps / kv_rps, 3) if kv_rps else 0.0
        out[f"{op}_minus_kv_read_cpu_us"] = round(single.server_cpu_us_per_req - kv_cpu, 1)
        out[f"{op}_batch_over_single_items"] = (
            round(batch.items_per_s / single.items_per_s, 2) if single.items_per_s else 0.0)
        out[f"{op}_cpu_us_per_item_marginal"] = round(per_item, 1)
        out[f"{op}_cpu_us_per_request_fixed"] = round(single.server_cpu_us_per_req
                                                      - per_item, 1)
    out["busy_phases"] = [f"{p.name} #{i + 1} ({p.external_cpu_pct:g}%)"
                          for i, p in enumerate(phases)
                          if p.external_cpu_pct > BUSY_EXTERNAL_PCT]
    out["method"] = (
        "*_over_kv_read_rps = single-item req/s / mean req/s of the two kv_read phases; "
        "*_minus_kv_read_cpu_us = single-item server CPU µs/req - kv_read's (mean); "
        f"*_batch_over_single_items = batch items/s / single items/s; "
        f"*_cpu_us_per_item_marginal = (batch µs/req - single µs/req) / {BATCH_ITEMS - 1}; "
        "*_cpu_us_per_request_fixed = single µs/req - that per-item cost")
    return out


def transit_table(phases: Sequence[TransitPhaseResult]) -> str:
    rows = ["| phase | items/req | req/s | items/s | mean ms | p50 ms | p99 ms "
            "| server CPU µs/req | server CPU µs/item | external CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in phases:
        rows.append(f"| {p.name} | {p.items_per_request} | {p.rps:.1f} | {p.items_per_s:.1f} "
                    f"| {p.mean_ms:.2f} | {p.p50_ms:.2f} | {p.p99_ms:.2f} "
                    f"| {p.server_cpu_us_per_req:.0f} | {p.server_cpu_us_per_item:.1f} "
                    f"| {p.external_cpu_pct:.0f} |")
    return "\n".join(rows)


def comparison_table(c: dict[str, Any]) -> str:
    rows = ["| comparison | encrypt | decrypt | how |", "|---|---:|---:|---|"]
    for label, key, fmt, how in (
            ("single req/s ÷ kv_read req/s", "over_kv_read_rps", ".3f",
             f"mean of the two kv_read phases ({c['kv_read_mean_rps']:g} req/s)"),
            ("batch100 items/s ÷ single items/s", "batch_over_single_items", ".2f", ""),
            ("server CPU µs/req beyond kv_read", "minus_kv_read_cpu_us", "g",
             f"single-item phase - kv_read ({c['kv_read_server_cpu_us_per_req']:g} µs)"),
            ("server CPU µs per extra item", "cpu_us_per_item_marginal", "g",
             f"(batch µs/req - single µs/req) ÷ {BATCH_ITEMS - 1}"),
            ("server CPU µs per request, fixed part", "cpu_us_per_request_fixed", "g",
             "single µs/req - per-item cost: HTTP, TLS, token, ACL, key load, JSON")):
        rows.append(f"| {label} | {c['encrypt_' + key]:{fmt}} | {c['decrypt_' + key]:{fmt}} "
                    f"| {how} |")
    busy = (", ".join(c["busy_phases"]) + "; their req/s is depressed by the competition, "
            "prefer server CPU µs there") if c["busy_phases"] else "none"
    rows += ["", f"kv_read drift (last ÷ first): {c['kv_read_drift']:g}. Phases where other "
             f"processes used more than {BUSY_EXTERNAL_PCT:g}% of a core: {busy}."]
    return "\n".join(rows)


def markdown_report(report: dict[str, Any], phases: Sequence[TransitPhaseResult]) -> str:
    machine, settings = report["machine"], report["settings"]
    local = " + local changes" if machine["strongbox_dirty"] else ""
    c = report["comparison"]
    return "\n".join([
        "# transit results", "",
        f"{machine['date']} · {machine['cpu_count']} CPUs ({machine['cpu_model']}) · "
        f"Python {machine['python']} · strongbox {machine['strongbox_version']} (commit "
        f"{machine['git_commit']}{local}; transit sources "
        f"{machine['transit_sources_sha256']}, last changed "
        f"{machine['transit_sources_newest_mtime']}) · client loop {machine['event_loop']} · "
        f"load avg before {machine['load_average']}, after {machine['load_average_after']}",
        "",
        f"{settings['connections']} connections, {settings['duration_s']} s per phase after "
        f"{settings['warmup_s']} s warm-up; TLS, keep-alive; token with policies "
        f"{settings['token_policies']}; key {KEY_TYPE}; {PLAINTEXT_BYTES} B plaintexts; "
        f"batches of {BATCH_ITEMS}. ratio = phase req/s / mean health req/s "
        f"({settings['health_baseline_rps']}); health drift last/first = "
        f"{settings['health_drift']}. CPU is sampled at the edges of the measured window.",
        "",
        f"Single-item encrypt runs at {c['encrypt_over_kv_read_rps']:.2f}x and decrypt at "
        f"{c['decrypt_over_kv_read_rps']:.2f}x the req/s of a KV read; batches of "
        f"{BATCH_ITEMS} move {c['encrypt_batch_over_single_items']:.1f}x (encrypt) and "
        f"{c['decrypt_batch_over_single_items']:.1f}x (decrypt) the items/s of single "
        "requests.", "",
        markdown_table(phases), "", transit_table(phases), "", comparison_table(c), ""])


# --- orchestration ------------------------------------------------------------------------


def engine_sources() -> dict[str, Any]:
    """A digest and the newest change time of the Transit engine's sources: the engine is
    new and may be uncommitted, so the commit alone does not say which code was measured."""
    files = sorted((Path(__file__).resolve().parent.parent / "strongbox" / "engines"
                    / "transit").glob("*.py"))
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + f.read_bytes())
    newest = max((f.stat().st_mtime for f in files), default=0.0)
    return {"transit_sources_sha256": digest.hexdigest()[:16],
            "transit_sources_newest_mtime": dt.datetime.fromtimestamp(newest, dt.UTC)
            .isoformat(timespec="seconds")}


def server_errors(log_path: Path, limit: int = 6000) -> str:
    """The node log from its first traceback or ERROR line (the last `limit` characters of
    it), for a failed setup; the log is deleted with the temporary directory."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no server log)"
    starts = [i for i in (text.find("Traceback"), text.find('"level":"ERROR"')) if i >= 0]
    if not starts:
        return "(no error in the server log)"
    start = text.rfind("\n", 0, min(starts)) + 1
    return "server log:\n" + text[start:][-limit:]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Takes about a minute with the defaults. See benchmarks/README.md.")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="sb-bench-transit-") as tmp:
        work = Path(tmp)
        machine = {**machine_info(work), **source_version(), **engine_sources()}
        node = ServerProcess(work / "node", make_tls(work / "tls"))
        try:
            _, root = node.start().init_and_unseal()
            made = setup(node, root, rng)
            load = workload(node, made["token"], rng)
            check_requests(node, made["token"], load)
            with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
                phases = runner.run(benchmark(node, load.pools, args.duration, args.seed))
        except (httpx.HTTPError, RuntimeError, TimeoutError, KeyError) as exc:
            print(f"benchmark failed: {exc!r}", file=sys.stderr)
            print(server_errors(node.log_path), file=sys.stderr)
            return 1
        finally:
            node.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    settings = {"connections": CONNECTIONS, "duration_s": args.duration, "warmup_s": WARMUP_S,
                "seed": args.seed, "key_type": KEY_TYPE, "plaintext_bytes": PLAINTEXT_BYTES,
                "batch_items": BATCH_ITEMS, "single_pool": SINGLE_POOL,
                "batch_pool": BATCH_POOL, "policy": policy_hcl(POLICY_RULES),
                "token_policies": made["token_policies"], **add_ratios(list(phases))}
    report = {"benchmark": "transit", "machine": machine, "settings": settings,
              "phases": [asdict(p) for p in phases], "comparison": comparison(phases)}
    markdown = markdown_report(report, phases)
    write_results(args.out, report, markdown, "transit")
    print(markdown)
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
