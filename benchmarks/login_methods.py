"""What a login costs per auth method, on one real node, in one run: userpass, AppRole,
kubernetes (local verification with cached keys) and jwt (JWKS keys cached).

What is measured
----------------
One `strongbox server` process (TLS, LMDB and the Raft journal on disk) is started on
loopback, initialised and unsealed. A throw-away HTTPS identity provider (the one the
tests use, `tests/jwt_idp.py`, with a test CA) serves a JWKS. Set-up, with the root token:

* ``auth/up`` userpass, user ``bench`` (Argon2id password);
* ``auth/ar`` AppRole, role ``bench`` (unlimited secret id uses) and one secret id;
* ``auth/k8s`` kubernetes with ``pem_keys`` (the RSA public key that signs the service
  account tokens) and ``issuer``: **local verification only**, no TokenReview; roles
  ``app`` (service tokens) and ``app-batch`` (batch tokens); one projected token;
* ``auth/ci`` jwt with ``jwks_url`` (fetched once at config time, then cached) and
  ``bound_issuer``; roles ``ci`` and ``ci-batch`` with GitHub-Actions-style
  ``bound_claims`` (glob) and ``claim_mappings``; one GitHub Actions shaped token.

Each phase then sends the same login back to back from `CONNECTIONS` keep-alive HTTPS
connections for `--duration` seconds after a 1 s warm-up (the load generator of
``kv_single_node.py``). A login with a service token writes that token through Raft
(journal fsync, LMDB commit); a batch token is sealed, not stored, so the ``*_batch``
phases show the method's own cost without the write. AppRole also spends the secret
id's use in the same entry (even when unlimited), userpass runs one Argon2id
verification (2-thread pool).

**The login throttle is lifted in the node process**: it allows 10 logins a minute per
address and per role, which would refuse almost every request here. A ``sitecustomize``
module on the node's PYTHONPATH raises the limit of ``strongbox.auth.throttle.Throttle``
to 10^9; the throttle still runs (its cost is included), it just never refuses. Nothing
else in the node is changed.

Order: health, userpass, approle, kubernetes, jwt, kubernetes_batch, jwt_batch, approle,
health. AppRole runs twice (its difference is the noise); health runs first and last.

Per phase: logins completed in the window, errors (non-2xx), req/s, mean and p50/p90/p99
latency, server CPU µs per request (server process CPU in the window / requests), CPU of
the server, this client and everything else. ``comparison`` in the JSON: req/s and
server CPU µs/login of each method, ratios to AppRole (the cheapest login without a
signature check), and the verification cost = server CPU µs/login of the batch phase
minus health's.

Usage: ``python benchmarks/login_methods.py [--duration 5] [--out benchmarks/results]``.
Loopback only; the node and the identity provider are stopped at the end. Exit code 1
when a phase got a non-2xx answer or the setup failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kv_cluster import source_version
from kv_single_node import (
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
    summarize,
    uvloop_factory,
    write_results,
)
from token_validation import WindowCpu, cpu_in_window, per_request

from strongbox.testing import ServerProcess, make_tls
from tests.jwt_idp import (
    IdentityProvider,
    SigningKey,
    github_claims,
    identity_provider,
    projected_claims,
)

CONNECTIONS = 8
PASSWORD = "bench-password-0123456789"
PLAN = ("health", "userpass", "approle", "kubernetes", "jwt", "kubernetes_batch",
        "jwt_batch", "approle", "health")
LIFT = '''"""Benchmark only: lift StrongBox's login throttle (see benchmarks/login_methods.py)."""
import strongbox.auth.throttle as _throttle

_init = _throttle.Throttle.__init__


def _lifted(self, limit=10, window_s=60.0, max_keys=100_000):
    _init(self, 10**9, window_s, max_keys)


_throttle.Throttle.__init__ = _lifted
'''


@contextmanager
def throttle_lifted(directory: Path) -> Iterator[None]:
    """Child processes started inside get the `LIFT` sitecustomize on their PYTHONPATH."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(LIFT)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(directory), old) if p)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


# --- setup --------------------------------------------------------------------------------


def _ok(answer: httpx.Response) -> httpx.Response:
    if answer.status_code >= 300:
        raise RuntimeError(f"{answer.request.method} {answer.request.url.path} answered "
                           f"{answer.status_code}: {answer.text[:300]}")
    return answer


def setup(node: ServerProcess, root: str, idp: IdentityProvider) -> dict[str, bytes]:
    """Mount and configure the four methods; one login request (raw bytes) per phase."""
    key = SigningKey.rsa("bench-sa")
    idp.rotate(key)
    sa_token = key.mint(projected_claims("shop", "web", issuer=idp.url, ttl=3600))
    ci_token = key.mint(github_claims(idp.url, ttl=3600))
    with node.client(root) as c:
        for path, kind in (("up", "userpass"), ("ar", "approle"), ("k8s", "kubernetes"),
                           ("ci", "jwt")):
            _ok(c.post(f"/v1/sys/auth/{path}", json={"type": kind}))
        _ok(c.post("/v1/auth/up/users/bench", json={"password": PASSWORD}))
        _ok(c.post("/v1/auth/ar/role/bench", json={"secret_id_num_uses": 0}))
        role_id = _ok(c.get("/v1/auth/ar/role/bench/role-id")).json()["data"]["role_id"]
        secret_id = _ok(c.post("/v1/auth/ar/role/bench/secret-id")).json()["data"]["secret_id"]
        _ok(c.post("/v1/auth/k8s/config", json={"pem_keys": [key.public_pem()],
                                                "issuer": idp.url}))
        _ok(c.post("/v1/auth/ci/config", json={"jwks_url": idp.url + "/jwks",
                                               "jwks_ca_pem": idp.ca_pem,
                                               "bound_issuer": idp.url}))
        for suffix, kind in (("", "service"), ("-batch", "batch")):
            _ok(c.post(f"/v1/auth/k8s/role/app{suffix}", json={
                "bound_service_account_names": ["web"],
                "bound_service_account_namespaces": ["shop", "team-*"],
                "token_type": kind, "token_ttl": "10m"}))
            _ok(c.post(f"/v1/auth/ci/role/ci{suffix}", json={
                "user_claim": "actor", "bound_audiences": ["https://github.com/acme"],
                "bound_claims_type": "glob", "bound_claims": {"repository": "acme/*"},
                "claim_mappings": {"repository": "repository"}, "token_type": kind,
                "token_ttl": "10m"}))

    def login(path: str, body: dict[str, Any]) -> bytes:
        return build_request("POST", f"/v1/auth/{path}", None, json.dumps(body).encode())
    return {
        "health": health_requests()[0],
        "userpass": login("up/login/bench", {"password": PASSWORD}),
        "approle": login("ar/login", {"role_id": role_id, "secret_id": secret_id}),
        "kubernetes": login("k8s/login", {"role": "app", "jwt": sa_token}),
        "kubernetes_batch": login("k8s/login", {"role": "app-batch", "jwt": sa_token}),
        "jwt": login("ci/login", {"role": "ci", "jwt": ci_token}),
        "jwt_batch": login("ci/login", {"role": "ci-batch", "jwt": ci_token}),
    }


def check_logins(node: ServerProcess, requests: dict[str, bytes]) -> None:
    """Every login request must succeed once before it is measured."""
    for name, raw in requests.items():
        head, body = raw.split(b"\r\n\r\n", 1)
        method, path = head.split(b" ")[:2]
        with node.client() as c:
            status = c.request(method.decode(), path.decode(), content=body).status_code
        if status != 200:
            raise RuntimeError(f"{name}: the login answered {status}")


# --- measurement --------------------------------------------------------------------------


@dataclass(slots=True)
class LoginPhaseResult(PhaseResult):
    mean_ms: float = 0.0
    server_cpu_us_per_req: float = 0.0
    external_cpu_pct: float = 0.0


async def measure(name: str, node: ServerProcess, ctx: ssl.SSLContext, request: bytes,
                  duration_s: float, seed: int) -> LoginPhaseResult:
    cpu = WindowCpu()
    tally, _ = await asyncio.gather(
        drive(node.port, ctx, [request], CONNECTIONS, WARMUP_S, duration_s, seed),
        cpu_in_window(node.pid, duration_s, cpu))
    base = summarize(name, CONNECTIONS, tally, duration_s, cpu.server_s, cpu.client_s,
                     duration_s)
    result = LoginPhaseResult(**asdict(base), **per_request(base, tally, cpu))
    print(f"  {name:<17} {result.rps:>8.1f} req/s  mean {result.mean_ms:.2f} ms  "
          f"p99 {result.p99_ms:.2f} ms  server {result.server_cpu_us_per_req:.0f} µs/req  "
          f"errors {result.errors}", flush=True)
    return result


async def benchmark(node: ServerProcess, requests: dict[str, bytes], duration_s: float,
                    seed: int) -> list[LoginPhaseResult]:
    ctx = client_ssl_context(node.tls.ca_cert)
    return [await measure(name, node, ctx, requests[name], duration_s, seed + 1000 * i)
            for i, name in enumerate(PLAN)]


def comparison(phases: Sequence[LoginPhaseResult]) -> dict[str, Any]:
    """Means per phase name, ratios to AppRole, verification cost of the batch phases."""
    by_name: dict[str, list[LoginPhaseResult]] = {}
    for p in phases:
        by_name.setdefault(p.name, []).append(p)
    rps = {k: round(statistics.fmean(p.rps for p in v), 1) for k, v in by_name.items()}
    cpu = {k: round(statistics.fmean(p.server_cpu_us_per_req for p in v), 1)
           for k, v in by_name.items()}
    approle = by_name["approle"]
    return {
        "mean_rps": rps, "server_cpu_us_per_login": cpu,
        "rps_over_approle": {k: round(v / rps["approle"], 3) for k, v in rps.items()},
        "cpu_over_approle": {k: round(v / cpu["approle"], 3) for k, v in cpu.items()
                             if k != "health"},
        "verification_us_beyond_health": {
            k: round(cpu[k] - cpu["health"], 1) for k in ("kubernetes_batch", "jwt_batch")},
        "noise_approle_2_vs_1_pct": round(100 * (approle[1].rps / approle[0].rps - 1), 1),
        "method": "server CPU µs/login = server process CPU in the measured window / logins; "
                  "ratios are of mean req/s (or CPU) of a method to AppRole's; "
                  "verification_us_beyond_health = batch-token login CPU - health CPU "
                  "(HTTP, TLS, routing, audit-free pipeline, JWT verification, policy "
                  "and token sealing; no Raft write)",
    }


def phase_table(phases: Sequence[LoginPhaseResult]) -> str:
    rows = ["| phase | conns | logins | errors | req/s | mean ms | p50 ms | p90 ms | p99 ms "
            "| ratio to health | server CPU % | server CPU µs/req | client CPU % "
            "| external CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for p in phases:
        ratio = "" if p.ratio_to_health is None else f"{p.ratio_to_health:.3f}"
        rows.append(f"| {p.name} | {p.connections} | {p.requests} | {p.errors} | {p.rps:.1f} "
                    f"| {p.mean_ms:.2f} | {p.p50_ms:.2f} | {p.p90_ms:.2f} | {p.p99_ms:.2f} "
                    f"| {ratio} | {p.server_cpu_pct:.0f} | {p.server_cpu_us_per_req:.0f} "
                    f"| {p.client_cpu_pct:.0f} | {p.external_cpu_pct:.0f} |")
    return "\n".join(rows)


def comparison_table(c: dict[str, Any]) -> str:
    rows = ["| method | req/s | ÷ AppRole | server CPU µs/login | ÷ AppRole |",
            "|---|---:|---:|---:|---:|"]
    for name in ("userpass", "approle", "kubernetes", "jwt", "kubernetes_batch", "jwt_batch",
                 "health"):
        cpu_ratio = c["cpu_over_approle"].get(name)
        rows.append(f"| {name} | {c['mean_rps'][name]:g} | {c['rps_over_approle'][name]:.3f} "
                    f"| {c['server_cpu_us_per_login'][name]:g} | "
                    f"{'' if cpu_ratio is None else f'{cpu_ratio:.3f}'} |")
    verify = c["verification_us_beyond_health"]
    rows += ["", f"Verification + token sealing beyond the health floor (batch tokens, no "
             f"Raft write): kubernetes {verify['kubernetes_batch']:g} µs, jwt "
             f"{verify['jwt_batch']:g} µs of server CPU per login. Noise: the second "
             f"AppRole phase differs from the first by {c['noise_approle_2_vs_1_pct']:g}% "
             "in req/s."]
    return "\n".join(rows)


def markdown_report(report: dict[str, Any], phases: Sequence[LoginPhaseResult]) -> str:
    machine, settings = report["machine"], report["settings"]
    local = " + local changes" if machine["strongbox_dirty"] else ""
    return "\n".join([
        "# login_methods results", "",
        f"{machine['date']} · {machine['cpu_count']} CPUs ({machine['cpu_model']}) · "
        f"Python {machine['python']} · strongbox {machine['strongbox_version']} (commit "
        f"{machine['git_commit']}{local}) · load avg before {machine['load_average']}, "
        f"after {machine['load_average_after']}", "",
        f"{CONNECTIONS} connections, {settings['duration_s']} s per phase after "
        f"{settings['warmup_s']} s warm-up; TLS, keep-alive; the same login request over and "
        "over. Login throttle lifted in the node (module docstring). ratio = phase req/s / "
        f"mean health req/s ({settings['health_baseline_rps']}); health drift last/first = "
        f"{settings['health_drift']}.", "",
        phase_table(phases), "", comparison_table(report["comparison"]), ""])


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark login cost per auth method (userpass, AppRole, kubernetes "
                    "with local verification, jwt with cached JWKS keys) on one real "
                    "StrongBox node, same run, with the health endpoint as the floor. "
                    "Prints and writes login_methods.json and login_methods.md.",
        epilog="Read ratios rather than absolute req/s: the machine is shared.")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    check_run_arguments(parser, args)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-login-bench-") as tmp:
        work = Path(tmp)
        machine = {**machine_info(work), **source_version()}
        with throttle_lifted(work / "lift"):
            node = ServerProcess(work / "node", make_tls(work / "tls")).start()
        try:
            with identity_provider(work) as idp:
                _, root = node.init_and_unseal()
                requests = setup(node, root, idp)
                check_logins(node, requests)
                with asyncio.Runner(loop_factory=uvloop_factory()) as runner:
                    phases = runner.run(benchmark(node, requests, args.duration, args.seed))
        finally:
            node.stop()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    settings = {"duration_s": args.duration, "warmup_s": WARMUP_S, "connections": CONNECTIONS,
                "seed": args.seed, "throttle": "lifted (limit 10^9) in the node process",
                **add_ratios(list(phases))}
    report = {"benchmark": "login_methods", "machine": machine, "settings": settings,
              "phases": [asdict(p) for p in phases], "comparison": comparison(phases)}
    markdown = markdown_report(report, phases)
    write_results(args.out, report, markdown, name="login_methods")
    print(markdown)
    return 1 if any(p.errors for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main())
