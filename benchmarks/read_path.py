"""Server CPU per KV read, in process: the application's share of a follower read.

What is measured
----------------
One node's real pipeline (`StrongBoxApp` → seal check, token lookup, policy, mount
routing, LMDB read, AES-GCM decrypt, audit, JSON response) over a real LMDB store, with
Raft replaced by the in-order `DirectLog` (reads never touch Raft). Requests are ASGI
calls made directly on the app (no socket, no TLS, no HTTP parsing: those are uvicorn's
and the kernel's, and are the same for every endpoint, so `kv_single_node.py`'s health
phase measures them). Each phase runs `--requests` GETs of random keys of `--keys`
secrets with `--value-bytes` values and reports CPU µs per request (`time.process_time`,
this thread's process only) and its ratio to `GET /v1/sys/health` in the same run:

* ``health``            - the floor of the application's pipeline;
* ``kv_read_root``      - KV v2 read with the root token (no policy check), no audit;
* ``kv_read_policy``    - with a token holding a policy on ``secret/data/bench/*``;
* ``kv_read_audited``   - the same with a file audit device (hash chain, HMAC'd fields);
* ``health`` again      - drift check.

The issue's target (≤ 150 µs of server CPU for a follower KV read with auth, policy,
decrypt and audit) is ``kv_read_audited``; `--profile` prints cProfile's top functions
of that phase. Usage: ``python benchmarks/read_path.py [--requests 20000] [--profile]``.
Writes ``<out>/read_path.json`` and ``<out>/read_path.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import strongbox.registry  # noqa: F401 (registers the backends' apply handlers)
from strongbox.api.app import StrongBoxApp
from strongbox.config import load_config
from strongbox.core import Core
from strongbox.raft.log import DirectLog
from strongbox.state.apply import apply
from strongbox.state.store import Store

POLICY = 'path "secret/data/bench/*" { capabilities = ["read", "create", "update"] }'


class Asgi:
    """Direct ASGI calls on the app; returns (status, body)."""

    def __init__(self, app: StrongBoxApp) -> None:
        self.app = app

    async def call(self, method: str, path: str, token: str = "",
                   body: bytes = b"") -> tuple[int, bytes]:
        headers = [(b"host", b"127.0.0.1:8200")]
        if token:
            headers.append((b"x-vault-token", token.encode()))
        if body:
            headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode())]
        raw_path, _, query = path.partition("?")
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": method, "scheme": "https", "path": raw_path,
                 "raw_path": raw_path.encode(), "query_string": query.encode(),
                 "root_path": "", "headers": headers, "client": ("127.0.0.1", 40000),
                 "server": ("127.0.0.1", 8200)}
        sent = False
        out: dict[str, Any] = {"status": 0, "body": []}

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                out["status"] = message["status"]
            elif message["type"] == "http.response.body":
                out["body"].append(message.get("body", b""))

        await self.app(scope, receive, send)
        return out["status"], b"".join(out["body"])


async def setup(directory: Path, keys: int, value_bytes: int) -> tuple[Asgi, str, str]:
    store = Store(str(directory / "data"), map_size_mb=1024)
    config = load_config(None, env={}, overrides={"data_dir": str(directory / "data"),
                                                  "listener.tls_disable": True})
    core = Core(config, store, DirectLog(lambda index, data: apply(store, index, data)))
    init = await core.initialize(1, 1)
    core.submit_share(init.shares[0].hex())
    asgi, root = Asgi(StrongBoxApp(core, tls=False)), init.root_token
    rng = random.Random(1)
    for i in range(keys):
        body = json.dumps({"data": {"value": rng.randbytes(value_bytes // 2).hex()}})
        status, _ = await asgi.call("POST", f"/v1/secret/data/bench/key-{i:05d}", root,
                                    body.encode())
        assert status == 200, status
    await asgi.call("PUT", "/v1/sys/policies/acl/bench", root,
                    json.dumps({"policy": POLICY}).encode())
    status, raw = await asgi.call("POST", "/v1/auth/token/create", root,
                                  json.dumps({"policies": ["bench"]}).encode())
    assert status == 200, raw
    token = json.loads(raw)["auth"]["client_token"]
    return asgi, root, token


async def phase(asgi: Asgi, paths: Sequence[str], token: str, requests: int,
                profile: cProfile.Profile | None = None) -> dict[str, float]:
    rng = random.Random(2)
    chosen = [rng.choice(paths) for _ in range(requests)]
    for path in chosen[:200]:  # warm caches
        await asgi.call("GET", path, token)
    if profile is not None:
        profile.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    errors = 0
    for path in chosen:
        status, _ = await asgi.call("GET", path, token)
        errors += status != 200
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if profile is not None:
        profile.disable()
    return {"requests": requests, "errors": errors, "cpu_us": cpu / requests * 1e6,
            "wall_us": wall / requests * 1e6}


async def run(args: argparse.Namespace, directory: Path) -> list[dict[str, Any]]:
    asgi, root, token = await setup(directory, args.keys, args.value_bytes)
    keys = [f"/v1/secret/data/bench/key-{i:05d}" for i in range(args.keys)]
    health = ["/v1/sys/health"]
    results = [{"phase": "health", **await phase(asgi, health, "", args.requests)},
               {"phase": "kv_read_root", **await phase(asgi, keys, root, args.requests)},
               {"phase": "kv_read_policy", **await phase(asgi, keys, token, args.requests)}]
    audit = json.dumps({"type": "file", "options": {"file_path": str(directory / "a.log")}})
    status, raw = await asgi.call("PUT", "/v1/sys/audit/bench", root, audit.encode())
    assert status in (200, 204), raw
    profile = cProfile.Profile() if args.profile else None
    results.append({"phase": "kv_read_audited",
                    **await phase(asgi, keys, token, args.requests, profile)})
    results.append({"phase": "health", **await phase(asgi, health, "", args.requests)})
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(35)
    floor = (results[0]["cpu_us"] + results[-1]["cpu_us"]) / 2
    for row in results:
        row["ratio_to_health"] = round(row["cpu_us"] / floor, 2)
    return results


def markdown(results: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"# read_path results\n\n{meta['time']} · Python {meta['python']} · "
             f"{meta['keys']} secrets of {meta['value_bytes']} B · {meta['requests']} "
             "requests per phase · CPU per request of the app (no socket, TLS or HTTP "
             "parsing)\n",
             "| phase | requests | errors | CPU µs/req | wall µs/req | ratio to health |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['phase']} | {r['requests']} | {r['errors']} | {r['cpu_us']:.1f} | "
              f"{r['wall_us']:.1f} | {r['ratio_to_health']:.2f} |" for r in results]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--keys", type=int, default=2000)
    parser.add_argument("--value-bytes", type=int, default=1024)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(run(args, Path(tmp)))
    meta = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": sys.version.split()[0], "keys": args.keys,
            "value_bytes": args.value_bytes, "requests": args.requests}
    text = markdown(results, meta)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "read_path.json").write_text(json.dumps({"meta": meta, "phases": results},
                                                        indent=2) + "\n")
    (args.out / "read_path.md").write_text(text)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
