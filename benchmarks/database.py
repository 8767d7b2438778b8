"""What a dynamic PostgreSQL credential costs, and how soon an expired one is gone, on one
real node against one real PostgreSQL, in one run.

What is measured
----------------
One `strongbox server` process (TLS, LMDB and the Raft journal on disk) is started on
loopback, initialised and unsealed, and one throw-away PostgreSQL (``tests/pg.py``: initdb +
postgres from the local installation, scram-sha-256, fsync off) next to it. Set-up, with
the root token:

* 1,000 KV v2 secrets of ~200 bytes under ``secret/data/bench/`` (the read baseline);
* the Database engine at ``database/`` with the mount option ``max_leases`` = 10^9, so the
  live-lease count check of every ``creds`` request runs (it never refuses here);
* ``database/config/pg``: ``postgresql-database-plugin``, the superuser, ``allowed_roles *``,
  pool defaults (4 connections);
* roles ``bench`` and ``held`` (``default_ttl`` 24h) and ``short`` (``default_ttl``
  ``--expiry-ttl``), all with the creation statement ``CREATE ROLE "{{name}}" WITH LOGIN
  PASSWORD ... VALID UNTIL '{{expiration}}'``; with ``--grant`` also ``GRANT SELECT ON ALL
  TABLES IN SCHEMA public`` (one table exists there). Not by default: PostgreSQL updates a
  table's ACL row in place, and of two transactions granting on the same table at once the
  second fails with "tuple concurrently updated" (SQLSTATE XX000, a 502 here), so with
  ``--grant`` the 8-connection phases get errors (and exit code 1) by design of
  PostgreSQL, not of the load;
* a policy ``dbbench`` (``read`` on ``database/creds/*`` and on ``secret/data/bench/*``) and a
  token with only that policy (ttl 24h): every measured request uses it.

Phases, each `--duration` seconds after a 1 s warm-up from C keep-alive HTTPS connections
sending back to back (the load generator of ``kv_single_node.py``), C in ``--connections``:

* ``health``  - ``GET /v1/sys/health`` (the floor), first and last;
* ``kv_read`` - ``GET /v1/secret/data/bench/<random of 1,000>``: the baseline of this run;
* ``creds``   - ``GET /v1/database/creds/bench``: per credential one Raft write (the lease,
  its expiry-queue and token index entries, write-ahead), then the creation statements in
  one PostgreSQL transaction (the password hashed by PostgreSQL: scram-sha-256);
* ``creds_<N>_live`` - the same after `--live-leases` (1,000) leases of role ``held`` were
  issued first: what the lease count check and the indexes cost with that many live.

After each ``creds`` phase its ``bench`` leases are revoked (``PUT sys/leases/revoke`` each,
**one at a time**: timed, reported as ``cleanup``), so each phase starts with the leases it
names; the ``live leases`` columns show the mount's count before and after the phase (the
phase adds its own). One at a time because the default revocation (``REVOKE ALL`` on the
schemas, their objects and the databases, ``DROP OWNED``, ``DROP ROLE``, in one
transaction) rewrites the same catalog rows (the ``public`` schema's, the database's) for
every user, so concurrent revocations hit the same "tuple concurrently updated"; the
leader's worker does run them in parallel, and the expiry phase reports what that gives.

Then **expiry**: `--expiry-leases` (1,000) credentials of role ``short`` are issued from 8
connections (each one's expiry recorded as the wall clock when its request was sent +
``lease_duration`` of the answer: on loopback the server's clock is this clock), and
``SELECT rolname FROM pg_roles WHERE rolname = ANY(...)`` polls the still-present roles
every 50 ms until all are gone or `--expiry-deadline` seconds after the last expiry. Per
role: time from its expiry to the first poll that no longer sees it. Reported twice: from
the expiry as recorded by the client (above), and from the expiry the server stored (the
role's ``VALID UNTIL`` = the server's whole-second issue time + TTL, so up to 1 s earlier:
what the leader's worker actually waits for). p50/p90/p99/max, plus the server's
``strongbox_database_revocations_failed_total`` delta (should be 0) and the roles still
present at the deadline (must be 0), and the worker's logged failures by reason. The
worker runs every ~1 s, revoking at most 200 due leases per round, 8 at once (on a pool
of 4 PostgreSQL connections); a failed revocation is retried after 2, 4, 8 ... s.

Per phase: requests, errors (non-2xx), req/s, mean and p50/p90/p99 latency, server CPU µs
per request (server process CPU in the window / requests), PostgreSQL CPU µs per request
(postmaster + backends), CPU % of the server, client, PostgreSQL and everything else.
``ratios`` in the JSON: creds req/s ÷ kv_read req/s at the same connection count, and
creds with N live leases ÷ creds.

Usage: ``python benchmarks/database.py [--duration 5] [--connections 1,8] [--out
benchmarks/results]``. Loopback only; the node and PostgreSQL are stopped at the end.
Writes database.json and database.md and prints the Markdown. Exit code 1 on any non-2xx
answer (measured, set-up, issue or cleanup), a failed set-up, or a role still present in
PostgreSQL after the deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
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
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kv_cluster import source_version
from kv_single_node import (
    N_SECRETS,
    NS_PER_MS,
    PREPOPULATE_CONNECTIONS,
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
    percentile_ms,
    read_requests,
    send_all,
    summarize,
    uvloop_factory,
    write_requests,
    write_results,
)
from token_validation import WindowCpu, cpu_in_window, per_request, policy_hcl

from strongbox.testing import ServerProcess, make_tls
from tests.pg import PgServer, postgres_server

MOUNT = "database"
POLICY = "dbbench"
POLICY_RULES = (("database/creds/*", ("read",)), ("secret/data/bench/*", ("read",)))
CREATE = ("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
          "VALID UNTIL '{{expiration}}';")
GRANT = "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"
LONG_TTL = "24h"
MAX_LEASES = 10**9
ISSUE_CONNECTIONS = 8
CLEANUP_CONNECTIONS = 1  # one at a time: see the module docstring
POLL_INTERVAL_S = 0.05
HTTP_TIMEOUT_S = 120.0


class BenchmarkError(RuntimeError):
    """The set-up or a side step (issue, cleanup) failed: exit code 1."""


# --- PostgreSQL side ----------------------------------------------------------------------


def postmaster_pid(pg: PgServer) -> int:
    """The postmaster's pid, from the first line of its postmaster.pid file."""
    return int((pg.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


def pg_cpu_s(postmaster: int) -> float:
    """CPU seconds of PostgreSQL: the postmaster (with its reaped children) and every live
    backend. A backend that exits moves from the second sum into the first."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == postmaster:
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        elif int(fields[1]) == postmaster:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


async def pg_cpu_in_window(postmaster: int, duration_s: float, out: dict[str, float]) -> None:
    """PostgreSQL CPU in `drive`'s measured window (sampled as `cpu_in_window` does)."""
    await asyncio.sleep(WARMUP_S)
    start = pg_cpu_s(postmaster)
    await asyncio.sleep(duration_s)
    out["pg_s"] = pg_cpu_s(postmaster) - start


# --- setup --------------------------------------------------------------------------------


def _ok(answer: httpx.Response) -> httpx.Response:
    if answer.status_code >= 300:
        raise BenchmarkError(f"{answer.request.method} {answer.request.url.path} answered "
                             f"{answer.status_code}: {answer.text[:300]}")
    return answer


def setup(node: ServerProcess, root: str, pg: PgServer, expiry_ttl_s: int,
          statements: Sequence[str]) -> str:
    """Mount, connection, roles, policy; the policy-restricted token."""
    with pg.connect() as conn:
        conn.execute("CREATE TABLE bench_items (id int)")
        conn.execute("INSERT INTO bench_items VALUES (1), (2)")
    with node.client(root) as c:
        _ok(c.post(f"/v1/sys/mounts/{MOUNT}", json={
            "type": "database", "options": {"max_leases": str(MAX_LEASES)}}))
        _ok(c.post(f"/v1/{MOUNT}/config/pg", json={
            "plugin_name": "postgresql-database-plugin", "connection_url": pg.connection_url(),
            "username": pg.superuser, "password": pg.password, "allowed_roles": "*"}))
        for role, ttl in (("bench", LONG_TTL), ("held", LONG_TTL), ("short", f"{expiry_ttl_s}s")):
            _ok(c.post(f"/v1/{MOUNT}/roles/{role}", json={
                "db_name": "pg", "creation_statements": list(statements), "default_ttl": ttl,
                "max_ttl": "48h"}))
        _ok(c.put(f"/v1/sys/policies/acl/{POLICY}", json={"policy": policy_hcl(POLICY_RULES)}))
        auth = _ok(c.post("/v1/auth/token/create", json={
            "policies": [POLICY], "ttl": LONG_TTL})).json()["auth"]
    if sorted(auth["policies"]) != sorted([POLICY, "default"]):
        raise BenchmarkError(f"the token got policies {auth['policies']}")
    return str(auth["client_token"])


def check_access(node: ServerProcess, token: str, pg: PgServer) -> None:
    """The token reads a secret and gets a credential that logs in; it may not mount."""
    with node.client(token) as c:
        _ok(c.get("/v1/secret/data/bench/key-0000"))
        out = _ok(c.get(f"/v1/{MOUNT}/creds/bench")).json()
        if c.post("/v1/sys/mounts/other", json={"type": "kv"}).status_code != 403:
            raise BenchmarkError("the policy-restricted token may mount: not restricted")
    user, password = out["data"]["username"], out["data"]["password"]
    with pg.connect() as conn:
        found = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [user]).fetchone()
    if found is None:
        raise BenchmarkError(f"the issued user {user} is not in PostgreSQL")
    with psycopg.connect(pg.dsn(user=user, password=password)) as conn:
        conn.execute("SELECT 1")


# --- leases -------------------------------------------------------------------------------


def lease_ids(node: ServerProcess, root: str, role: str) -> list[str]:
    """The live lease ids of `role` (LIST sys/leases/lookup/...; 404 means none)."""
    prefix = f"{MOUNT}/creds/{role}/"
    with node.client(root, timeout=HTTP_TIMEOUT_S) as c:
        answer = c.request("LIST", f"/v1/sys/leases/lookup/{prefix}")
    if answer.status_code == 404:
        return []
    keys = _ok(answer).json()["data"]["keys"]
    return [prefix + k for k in keys]


def live_leases(node: ServerProcess, root: str) -> int:
    return sum(len(lease_ids(node, root, role)) for role in ("bench", "held", "short"))


@dataclass(slots=True)
class Cleanup:
    """Revoking one role's leases explicitly after a phase."""

    after: str
    role: str
    leases: int
    errors: int
    seconds: float
    per_s: float


async def revoke_all(node: ServerProcess, ctx: ssl.SSLContext, root: str, role: str,
                     after: str) -> Cleanup:
    """PUT sys/leases/revoke for every live lease of `role`, from 8 connections."""
    ids = await asyncio.to_thread(lease_ids, node, root, role)
    requests = [build_request("PUT", "/v1/sys/leases/revoke", root,
                              json.dumps({"lease_id": i}).encode()) for i in ids]
    started = time.perf_counter()
    errors = await send_all(node.port, ctx, requests, CLEANUP_CONNECTIONS) if ids else 0
    seconds = time.perf_counter() - started
    left = len(await asyncio.to_thread(lease_ids, node, root, role))
    result = Cleanup(after, role, len(ids), errors + left, round(seconds, 2),
                     round(len(ids) / seconds, 1) if ids and seconds else 0.0)
    print(f"  cleanup: revoked {result.leases} {role} leases in {result.seconds} s "
          f"({result.per_s}/s), errors {result.errors}", flush=True)
    return result


@dataclass(slots=True)
class Issued:
    username: str
    sent_unix: float
    lease_duration: int


async def issue(node: ServerProcess, ctx: ssl.SSLContext, token: str, role: str, count: int,
                connections: int) -> tuple[list[Issued], int, float]:
    """GET creds/<role> `count` times from `connections` connections: (the credentials,
    non-2xx answers, seconds taken)."""
    issued: list[Issued] = []
    errors = 0
    left = count
    started = time.perf_counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=node.addr, verify=ctx, limits=limits,
                                 headers={"X-Vault-Token": token},
                                 timeout=HTTP_TIMEOUT_S) as client:
        async def worker() -> None:
            nonlocal errors, left
            while left > 0:
                left -= 1
                sent = time.time()
                answer = await client.get(f"/v1/{MOUNT}/creds/{role}")
                if answer.status_code != 200:
                    errors += 1
                    continue
                body = answer.json()
                issued.append(Issued(body["data"]["username"], sent,
                                     int(body["lease_duration"])))

        await asyncio.gather(*(worker() for _ in range(connections)))
    return issued, errors, time.perf_counter() - started


# --- measurement --------------------------------------------------------------------------


@dataclass(slots=True)
class DbPhaseResult(PhaseResult):
    mean_ms: float = 0.0
    server_cpu_us_per_req: float = 0.0
    pg_cpu_us_per_req: float = 0.0
    pg_cpu_pct: float = 0.0
    external_cpu_pct: float = 0.0
    live_leases_before: int = 0
    live_leases_after: int = 0


async def measure(name: str, node: ServerProcess, root: str, postmaster: int,
                  ctx: ssl.SSLContext, requests: Sequence[bytes], connections: int,
                  duration_s: float, seed: int) -> DbPhaseResult:
    before = await asyncio.to_thread(live_leases, node, root)
    cpu, pg = WindowCpu(), {"pg_s": 0.0}
    tally, _, _ = await asyncio.gather(
        drive(node.port, ctx, requests, connections, WARMUP_S, duration_s, seed),
        cpu_in_window(node.pid, duration_s, cpu),
        pg_cpu_in_window(postmaster, duration_s, pg))
    after = await asyncio.to_thread(live_leases, node, root)
    base = summarize(name, connections, tally, duration_s, cpu.server_s, cpu.client_s,
                     duration_s)
    extra = per_request(base, tally, cpu)
    pg_pct = round(100 * pg["pg_s"] / duration_s, 1)
    extra["external_cpu_pct"] = round(max(0.0, extra["external_cpu_pct"] - pg_pct), 1)
    result = DbPhaseResult(
        **asdict(base), mean_ms=extra["mean_ms"],
        server_cpu_us_per_req=extra["server_cpu_us_per_req"],
        external_cpu_pct=extra["external_cpu_pct"],
        pg_cpu_us_per_req=round(1e6 * pg["pg_s"] / base.requests, 1) if base.requests else 0.0,
        pg_cpu_pct=pg_pct, live_leases_before=before, live_leases_after=after)
    print(f"  {name:<16} c={connections:<2} {result.rps:>8.1f} req/s  "
          f"p50 {result.p50_ms:.2f} ms  p99 {result.p99_ms:.2f} ms  "
          f"server {result.server_cpu_us_per_req:.0f} µs/req  "
          f"pg {result.pg_cpu_us_per_req:.0f} µs/req  leases {before}->{after}  "
          f"errors {result.errors}", flush=True)
    return result


@dataclass(slots=True)
class Plan:
    connections: tuple[int, ...]
    duration_s: float
    live_leases: int
    expiry_leases: int
    expiry_ttl_s: int
    expiry_deadline_s: float
    seed: int


async def steady_phases(node: ServerProcess, root: str, token: str, pg: PgServer,
                        plan: Plan) -> tuple[list[DbPhaseResult], list[Cleanup], dict[str, Any]]:
    """health, kv_read, creds, creds with N live leases, health (module docstring)."""
    ctx = client_ssl_context(node.tls.ca_cert)
    postmaster = postmaster_pid(pg)
    top = max(plan.connections)
    creds = [build_request("GET", f"/v1/{MOUNT}/creds/bench", token)]
    phases: list[DbPhaseResult] = []
    cleanups: list[Cleanup] = []
    fill: dict[str, Any] = {}

    async def run(name: str, requests: Sequence[bytes], connections: int) -> None:
        phases.append(await measure(name, node, root, postmaster, ctx, requests, connections,
                                    plan.duration_s, plan.seed + 1000 * len(phases)))

    await run("health", health_requests(), top)
    reads = read_requests(token)
    for c in plan.connections:
        await run("kv_read", reads, c)
    cleanups.append(await revoke_all(node, ctx, root, "bench", "setup"))
    for c in plan.connections:
        await run("creds", creds, c)
        cleanups.append(await revoke_all(node, ctx, root, "bench", f"creds c={c}"))
    if plan.live_leases:
        print(f"issuing {plan.live_leases} live leases (role held) ...", flush=True)
        held, errors, seconds = await issue(node, ctx, token, "held", plan.live_leases,
                                            ISSUE_CONNECTIONS)
        fill = {"role": "held", "leases": len(held), "errors": errors,
                "seconds": round(seconds, 2), "per_s": round(len(held) / seconds, 1)}
        print(f"  {len(held)} in {seconds:.1f} s, errors {errors}", flush=True)
        for c in plan.connections:
            await run(f"creds_{plan.live_leases}_live", creds, c)
            cleanups.append(await revoke_all(node, ctx, root, "bench",
                                             f"creds_{plan.live_leases}_live c={c}"))
        cleanups.append(await revoke_all(node, ctx, root, "held", "live leases"))
    await run("health", health_requests(), top)
    return phases, cleanups, fill


# --- expiry -------------------------------------------------------------------------------


def server_expiries(pg: PgServer, names: Sequence[str]) -> dict[str, float]:
    """Each role's VALID UNTIL (= the lease's expire_time on the server), unix seconds."""
    with pg.connect() as conn:
        rows = conn.execute("SELECT rolname, extract(epoch FROM rolvaliduntil)::float8 "
                            "FROM pg_roles WHERE rolname = ANY(%s)", [list(names)]).fetchall()
    return {str(r[0]): float(r[1]) for r in rows if r[1] is not None}


def watch_roles(pg: PgServer, names: Sequence[str], deadline_unix: float
                ) -> tuple[dict[str, float], set[str], int]:
    """Poll pg_roles every POLL_INTERVAL_S: (unix time of the first poll that no longer saw
    each role, the roles still present at the deadline, polls made)."""
    remaining, gone, polls = set(names), {}, 0
    with pg.connect() as conn:
        next_poll = time.time()
        while remaining:
            now = time.time()
            rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)",
                                [sorted(remaining)]).fetchall()
            polls += 1
            present = {str(r[0]) for r in rows}
            for name in remaining - present:
                gone[name] = now
            remaining &= present
            if now >= deadline_unix:
                break
            next_poll += POLL_INTERVAL_S
            time.sleep(max(0.0, next_poll - time.time()))
    return gone, remaining, polls


def metric(node: ServerProcess, root: str, name: str) -> float:
    """A counter or gauge of the node's Prometheus exposition (0 when absent)."""
    with node.client(root) as c:
        text = _ok(c.get("/v1/sys/metrics", params={"format": "prometheus"})).text
    found = re.search(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def revocation_failures(log: Path, since: float) -> dict[str, int]:
    """The worker's failed revocations logged after `since` (unix), counted by reason
    (role names replaced by <role>); a lease's last failure, which makes it irrevocable,
    counts as "irrevocable: <reason>"."""
    reasons: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines():
        if "revoking lease" not in line and "is irrevocable after" not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        msg = str(entry.get("msg", ""))
        stamp = str(entry.get("ts", "")).replace("Z", "+00:00")
        try:
            at = dt.datetime.fromisoformat(stamp).timestamp()
        except ValueError:
            at = since
        if at < since:
            continue
        if " failed (attempt " in msg:
            reason = msg.split("): ", 1)[-1]
        elif " failed revocations: " in msg:
            reason = "irrevocable: " + msg.split(" failed revocations: ", 1)[1].split(
                "; fix the cause", 1)[0]
        else:
            continue
        reason = re.sub(r"['\"]?v-[\w-]+['\"]?", "<role>", reason)
        reasons[reason] = reasons.get(reason, 0) + 1
    return dict(sorted(reasons.items(), key=lambda kv: -kv[1]))


def spread_s(values: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of seconds (nearest rank, as the phases' latencies)."""
    if not values:
        return {"p50_s": 0.0, "p90_s": 0.0, "p99_s": 0.0, "max_s": 0.0, "mean_s": 0.0,
                "min_s": 0.0}
    ns = sorted(int(v * 1e9) for v in values)
    out = {f"p{q}_s": round(percentile_ms(ns, q) * NS_PER_MS / 1e9, 3) for q in (50, 90, 99)}
    return {**out, "max_s": round(ns[-1] / 1e9, 3), "min_s": round(ns[0] / 1e9, 3),
            "mean_s": round(statistics.fmean(values), 3)}


def per_second(times: Sequence[float], origin: float) -> list[int]:
    """How many of `times` fall in each second after `origin`."""
    if not times:
        return []
    counts = [0] * (int(max(times) - origin) + 1)
    for t in times:
        counts[max(0, int(t - origin))] += 1
    return counts


async def expiry_phase(node: ServerProcess, root: str, token: str, pg: PgServer,
                       plan: Plan) -> dict[str, Any]:
    """Issue short leases, then watch their roles disappear (module docstring)."""
    ctx = client_ssl_context(node.tls.ca_cert)
    started = time.time()
    failed0 = await asyncio.to_thread(metric, node, root,
                                      "strongbox_database_revocations_failed_total")
    revoked0 = await asyncio.to_thread(metric, node, root,
                                       "strongbox_database_leases_revoked_total")
    print(f"expiry: issuing {plan.expiry_leases} leases with ttl {plan.expiry_ttl_s} s ...",
          flush=True)
    issued, errors, seconds = await issue(node, ctx, token, "short", plan.expiry_leases,
                                          ISSUE_CONNECTIONS)
    names = [i.username for i in issued]
    client_expiry = {i.username: i.sent_unix + i.lease_duration for i in issued}
    first_expiry = min(client_expiry.values(), default=time.time())
    in_time = time.time() < first_expiry
    stored = await asyncio.to_thread(server_expiries, pg, names)
    deadline = max(client_expiry.values(), default=time.time()) + plan.expiry_deadline_s
    print(f"  {len(issued)} in {seconds:.1f} s (errors {errors}); watching pg_roles until "
          f"all are gone (deadline {plan.expiry_deadline_s:g} s after the last expiry) ...",
          flush=True)
    gone, left, polls = await asyncio.to_thread(watch_roles, pg, names, deadline)
    await asyncio.sleep(2.5)  # let the worker's last round finish its counters
    failed = await asyncio.to_thread(metric, node, root,
                                     "strongbox_database_revocations_failed_total") - failed0
    revoked = await asyncio.to_thread(metric, node, root,
                                      "strongbox_database_leases_revoked_total") - revoked0
    irrevocable = await asyncio.to_thread(metric, node, root,
                                          "strongbox_database_leases_irrevocable")
    leases_left = len(await asyncio.to_thread(lease_ids, node, root, "short"))
    from_client = [gone[n] - client_expiry[n] for n in gone]
    from_server = [gone[n] - stored[n] for n in gone if n in stored]
    early = sum(1 for n in gone if n in stored and gone[n] < stored[n])
    lat, srv = spread_s(from_client), spread_s(from_server)
    result: dict[str, Any] = {
        "leases": len(issued), "issue_errors": errors, "issue_seconds": round(seconds, 2),
        "issue_per_s": round(len(issued) / seconds, 1) if seconds else 0.0,
        "ttl_s": plan.expiry_ttl_s, "issue_finished_before_first_expiry": in_time,
        "deadline_s_after_last_expiry": plan.expiry_deadline_s, "polls": polls,
        "poll_interval_s": POLL_INTERVAL_S,
        "latency_from_client_expiry": lat, "latency_from_server_expiry": srv,
        "server_expiry_before_client_expiry_s": spread_s(
            [client_expiry[n] - stored[n] for n in stored]),
        "gone": len(gone), "still_present_at_deadline": len(left),
        "gone_before_server_expiry": early,
        "revocations_failed": int(failed), "leases_revoked_counter": int(revoked),
        "leases_irrevocable": int(irrevocable), "leases_left_in_strongbox": leases_left,
        "revocation_span_s": round(max(gone.values()) - min(gone.values()), 2) if gone else 0,
        "expiring_per_second": per_second(list(stored.values()), int(first_expiry) - 1),
        "gone_per_second": per_second(list(gone.values()), int(first_expiry) - 1),
        "still_present_names": sorted(left)[:20],
        "revocation_failure_reasons": revocation_failures(node.log_path, started),
    }
    print(f"  gone {len(gone)}, still present {len(left)}, revocations failed {int(failed)}; "
          f"expiry->gone p50 {lat['p50_s']} s p99 {lat['p99_s']} s max {lat['max_s']} s "
          f"(from the server's expiry: p50 {srv['p50_s']} p99 {srv['p99_s']} max "
          f"{srv['max_s']})", flush=True)
    return result


# --- report -------------------------------------------------------------------------------


def ratios(phases: Sequence[DbPhaseResult], live: int) -> dict[str, Any]:
    by = {(p.name, p.connections): p for p in phases}
    out: dict[str, Any] = {"creds_over_kv_read": {}, "creds_live_over_creds": {},
                           "creds_live_over_kv_read": {}}
    for (name, c), p in by.items():
        if name != "creds":
            continue
        kv, held = by.get(("kv_read", c)), by.get((f"creds_{live}_live", c))
        if kv and kv.rps:
            out["creds_over_kv_read"][str(c)] = round(p.rps / kv.rps, 4)
        if held and p.rps:
            out["creds_live_over_creds"][str(c)] = round(held.rps / p.rps, 3)
            out["server_cpu_us_live_minus_creds"] = {
                **out.get("server_cpu_us_live_minus_creds", {}),
                str(c): round(held.server_cpu_us_per_req - p.server_cpu_us_per_req, 1)}
        if held and kv and kv.rps:
            out["creds_live_over_kv_read"][str(c)] = round(held.rps / kv.rps, 4)
    out["method"] = ("req/s of one phase ÷ req/s of another at the same connection count, "
                     "same run; live = creds with the live leases issued first")
    return out


def cost_table(phases: Sequence[DbPhaseResult]) -> str:
    rows = ["| phase | conns | req/s | mean ms | server CPU µs/req | PostgreSQL CPU µs/req "
            "| PostgreSQL CPU % | external CPU % | live leases before → after |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in phases:
        rows.append(f"| {p.name} | {p.connections} | {p.rps:.1f} | {p.mean_ms:.2f} "
                    f"| {p.server_cpu_us_per_req:.0f} | {p.pg_cpu_us_per_req:.0f} "
                    f"| {p.pg_cpu_pct:.0f} | {p.external_cpu_pct:.0f} "
                    f"| {p.live_leases_before} → {p.live_leases_after} |")
    return "\n".join(rows)


def ratio_table(r: dict[str, Any], live: int) -> str:
    rows = [f"| conns | creds ÷ kv_read | creds_{live}_live ÷ creds "
            f"| creds_{live}_live ÷ kv_read | server CPU µs/req, live - creds |",
            "|---:|---:|---:|---:|---:|"]
    for c, v in r["creds_over_kv_read"].items():
        held = r["creds_live_over_creds"].get(c)
        held_kv = r["creds_live_over_kv_read"].get(c)
        delta = r.get("server_cpu_us_live_minus_creds", {}).get(c)
        rows.append(f"| {c} | {v:.4f} | {'' if held is None else f'{held:.3f}'} "
                    f"| {'' if held_kv is None else f'{held_kv:.4f}'} "
                    f"| {'' if delta is None else f'{delta:+.0f}'} |")
    return "\n".join(rows)


def expiry_table(e: dict[str, Any]) -> str:
    cl, sv = e["latency_from_client_expiry"], e["latency_from_server_expiry"]
    rows = ["| expiry → role gone, s | p50 | p90 | p99 | max | min |",
            "|---|---:|---:|---:|---:|---:|",
            f"| from the client's expiry (sent + lease_duration) | {cl['p50_s']} "
            f"| {cl['p90_s']} | {cl['p99_s']} | {cl['max_s']} | {cl['min_s']} |",
            f"| from the server's expiry (VALID UNTIL) | {sv['p50_s']} | {sv['p90_s']} "
            f"| {sv['p99_s']} | {sv['max_s']} | {sv['min_s']} |",
            "",
            f"{e['leases']} leases (ttl {e['ttl_s']} s) issued in {e['issue_seconds']} s "
            f"({e['issue_per_s']}/s, errors {e['issue_errors']}; finished before the first "
            f"expiry: {'yes' if e['issue_finished_before_first_expiry'] else '**no**'}). "
            f"Gone: {e['gone']}; **still present at the deadline: "
            f"{e['still_present_at_deadline']}**; revocations failed (server counter): "
            f"**{e['revocations_failed']}**; leases revoked (counter): "
            f"{e['leases_revoked_counter']}; leases left in StrongBox: "
            f"{e['leases_left_in_strongbox']}; irrevocable: {e['leases_irrevocable']}. "
            f"All roles went within {e['revocation_span_s']} s of each other; "
            f"pg_roles polled every {e['poll_interval_s'] * 1000:.0f} ms ({e['polls']} polls).",
            "",
            "Per second since the first expiry (second: roles), only seconds with any: "
            f"expiring (server expiry) {nonzero(e['expiring_per_second'])}; gone "
            f"{nonzero(e['gone_per_second'])}.", "",
            "Failed revocations logged by the worker, by reason: "
            + ("; ".join(f"{n}x {r}" for r, n in e["revocation_failure_reasons"].items())
               or "none")]
    return "\n".join(rows)


def nonzero(counts: Sequence[int]) -> str:
    return " ".join(f"{second}:{n}" for second, n in enumerate(counts) if n) or "none"


def cleanup_line(cleanups: Sequence[Cleanup]) -> str:
    done = [c for c in cleanups if c.leases]
    if not done:
        return "Cleanup: nothing to revoke."
    parts = [f"{c.leases} {c.role} after {c.after} in {c.seconds} s ({c.per_s}/s)"
             for c in done]
    return ("Explicit revocation between phases (`PUT sys/leases/revoke` from "
            f"{CLEANUP_CONNECTIONS} connection, each the default revocation and a Raft "
            "write): "
            + "; ".join(parts) + f"; errors {sum(c.errors for c in cleanups)}.")


def markdown_report(report: dict[str, Any], phases: Sequence[DbPhaseResult],
                    cleanups: Sequence[Cleanup]) -> str:
    machine, settings = report["machine"], report["settings"]
    local = " + local changes" if machine["strongbox_dirty"] else ""
    live = settings["live_leases"]
    fill = report["live_lease_fill"]
    fill_line = (f"The {live} live leases (role held) were issued in {fill['seconds']} s "
                 f"({fill['per_s']}/s, errors {fill['errors']})." if fill else "")
    return "\n".join([
        "# database results", "",
        f"{machine['date']} · {machine['cpu_count']} CPUs ({machine['cpu_model']}) · "
        f"Python {machine['python']} · PostgreSQL {settings['postgresql']} · strongbox "
        f"{machine['strongbox_version']} (commit {machine['git_commit']}{local}) · fsync p50 "
        f"{machine['fsync_p50_ms']} ms · load avg before {machine['load_average']}, after "
        f"{machine['load_average_after']}", "",
        f"{settings['duration_s']} s per phase after {settings['warmup_s']} s warm-up; TLS, "
        "keep-alive; every request with a token holding only the `dbbench` policy. creds = "
        f"`GET database/creds/bench` (one Raft write + {settings['statements_text']}). "
        "ratio = phase "
        f"req/s / mean health req/s ({settings['health_baseline_rps']}); health drift "
        f"last/first = {settings['health_drift']}.", "",
        markdown_table(phases), "", cost_table(phases), "",
        ratio_table(report["ratios"], live), "", fill_line, "", cleanup_line(cleanups), "",
        "## Expiry", "", expiry_table(report["expiry"]), ""])


def postgres_version(pg: PgServer) -> str:
    with pg.connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def connections_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("at least one positive integer")
    return values


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the Database secrets engine (PostgreSQL) on one real "
                    "StrongBox node and one real PostgreSQL, same run: health and KV read "
                    "baselines, credentials issued per second (GET database/creds/:name) at "
                    "each connection count, the same with --live-leases live leases, and "
                    "expiry latency (lease expiry -> role gone from pg_roles) of "
                    "--expiry-leases short leases. Prints and writes database.json and "
                    "database.md. Exit code 1 on any non-2xx answer or a role still "
                    "present after the deadline.",
        epilog="Read ratios rather than absolute req/s: the machine is shared. "
               "See the module docstring and benchmarks/README.md.")
    add_run_arguments(parser)
    parser.add_argument("--connections", type=connections_list, default=(1, 8),
                        metavar="C[,C...]",
                        help="connection counts of the kv_read and creds phases "
                             "(default: 1,8)")
    parser.add_argument("--live-leases", type=int, default=1000, metavar="N",
                        help="leases issued before the creds_<N>_live phases; 0 skips them "
                             "(default: %(default)s)")
    parser.add_argument("--expiry-leases", type=int, default=1000, metavar="N",
                        help="short leases issued and watched in the expiry phase "
                             "(default: %(default)s)")
    parser.add_argument("--expiry-ttl", type=int, default=20, metavar="SECONDS",
                        help="default_ttl of those leases: long enough for issuing them to "
                             "finish before the first expires (default: %(default)s)")
    parser.add_argument("--expiry-deadline", type=float, default=300.0, metavar="SECONDS",
                        help="stop watching this long after the last lease's expiry; a role "
                             "still present then is a failure (default: %(default)s)")
    parser.add_argument("--grant", action="store_true",
                        help="add `GRANT SELECT ON ALL TABLES IN SCHEMA public` to the "
                             "creation statements (a table exists there). Concurrent GRANTs "
                             "on one table make PostgreSQL fail some of them with 'tuple "
                             "concurrently updated' (502): expect errors at 8 connections")
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    if args.live_leases < 0 or args.expiry_leases < 1:
        parser.error("--live-leases must be >= 0 and --expiry-leases >= 1")
    if args.expiry_ttl < 2 or args.expiry_deadline <= 0:
        parser.error("--expiry-ttl must be >= 2 and --expiry-deadline positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    statements = [CREATE, GRANT] if args.grant else [CREATE]
    plan = Plan(tuple(args.connections), args.duration, args.live_leases, args.expiry_leases,
                args.expiry_ttl, args.expiry_deadline, args.seed)
    with tempfile.TemporaryDirectory(prefix="sb-db-bench-") as tmp:
        work = Path(tmp)
        machine = {**machine_info(work), **source_version()}
        node = ServerProcess(work / "node", make_tls(work / "tls")).start()
        try:
            with postgres_server(work / "pg") as pg:
                _, root = node.init_and_unseal()
                token = setup(node, root, pg, args.expiry_ttl, statements)
                pg_version = postgres_version(pg)

                async def everything() -> tuple[Any, ...]:
                    ctx = client_ssl_context(node.tls.ca_cert)
                    print(f"pre-populating {N_SECRETS} secrets ...", flush=True)
                    bad = await send_all(node.port, ctx, write_requests(
                        root, random.Random(args.seed)), PREPOPULATE_CONNECTIONS)
                    if bad:
                        raise BenchmarkError(f"{bad} of {N_SECRETS} secret writes failed")
                    await asyncio.to_thread(check_access, node, token, pg)
                    steady = await steady_phases(node, root, token, pg, plan)
                    return (*steady, await expiry_phase(node, root, token, pg, plan))

                with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
                    phases, cleanups, fill, expiry = runner.run(everything())
        except (BenchmarkError, httpx.HTTPError, psycopg.Error) as exc:
            print(f"benchmark failed: {exc}", file=sys.stderr)
            return 1
        finally:
            node.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    settings = {"duration_s": args.duration, "warmup_s": WARMUP_S,
                "connections": list(plan.connections), "live_leases": plan.live_leases,
                "expiry_leases": plan.expiry_leases, "expiry_ttl_s": plan.expiry_ttl_s,
                "expiry_deadline_s": plan.expiry_deadline_s, "seed": args.seed,
                "creation_statements": statements,
                "statements_text": " + ".join(s.split()[0] + " " + s.split()[1]
                                              for s in statements),
                "postgresql": pg_version, "pool_max_open_connections": 4,
                "mount_max_leases": MAX_LEASES, **add_ratios(list(phases))}
    report = {"benchmark": "database", "machine": machine, "settings": settings,
              "phases": [asdict(p) for p in phases], "ratios": ratios(phases, plan.live_leases),
              "live_lease_fill": fill, "cleanups": [asdict(c) for c in cleanups],
              "expiry": expiry}
    markdown = markdown_report(report, phases, cleanups)
    write_results(args.out, report, markdown, name="database")
    print(markdown)
    failed = (any(p.errors for p in phases) or any(c.errors for c in cleanups)
              or (fill and fill["errors"]) or expiry["issue_errors"]
              or expiry["still_present_at_deadline"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
