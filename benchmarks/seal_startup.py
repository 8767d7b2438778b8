"""Time from process start to unsealed, per seal kind, on one real node, in one run.

For each seal (shamir, static, pkcs11 on a SoftHSM2 token, transit against a second
local StrongBox), a node is initialised once, then restarted `--rounds` times; each
round measures from `Popen` of `strongbox server` to the first `sys/seal-status` that
answers `sealed: false`, polled every 20 ms. For shamir the key holder is a script that
submits the share as soon as the API answers (the fastest a human-free Shamir restart
can be); the auto-unseal seals unseal themselves. `api_up` (process start to the first
answer) is the shared floor: the ratios compare each seal's time to it.

Usage: ``python benchmarks/seal_startup.py [--rounds 5] [--out benchmarks/results]``.
Loopback only; pkcs11 is skipped (and said so) when SoftHSM2 is not installed. Writes
seal_startup.json and seal_startup.md and prints the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kv_single_node import machine_info

from strongbox.testing import ServerProcess, TlsFiles, make_tls
from tests.softhsm import softhsm_available, softhsm_token

POLL_S = 0.02


def _status(node: ServerProcess) -> dict[str, Any] | None:
    try:
        with node.client() as c:
            return dict(c.get("/v1/sys/seal-status", timeout=2).json())
    except Exception:
        return None


def timed_start(node: ServerProcess, share: str | None) -> tuple[float, float]:
    """(seconds to the first API answer, seconds to unsealed) of one start."""
    started = time.perf_counter()
    node.start(timeout=30)
    api_up = 0.0
    while True:
        status = _status(node)
        if status is not None and not api_up:
            api_up = time.perf_counter() - started
            if share is not None and status.get("sealed"):
                with node.client() as c:
                    c.put("/v1/sys/unseal", json={"key": share})
                continue
        if status is not None and not status.get("sealed"):
            return api_up, time.perf_counter() - started
        if time.perf_counter() - started > 90:
            raise RuntimeError(f"not unsealed after 90 s: {status}")
        time.sleep(POLL_S)


def _init(node: ServerProcess, auto: bool) -> str | None:
    with node.client() as c:
        body = {"recovery_shares": 1, "recovery_threshold": 1} if auto else \
            {"secret_shares": 1, "secret_threshold": 1}
        answer = c.put("/v1/sys/init", json=body).json()
    return None if auto else str(answer["keys"][0])


@contextmanager
def seal_configs(work: Path, tls: TlsFiles) -> Iterator[dict[str, str]]:
    """The `[seal]` TOML of every seal kind this machine can run."""
    configs = {"shamir": ""}
    key = work / "static.key"
    key.write_text(os.urandom(32).hex())
    configs["static"] = f'[seal]\ntype = "static"\nkey_file = "{key}"\n'
    with ExitStack() as stack:
        if softhsm_available():
            hsm = stack.enter_context(softhsm_token(work / "hsm"))
            pin = work / "pin"
            pin.write_text(hsm.pin)
            configs["pkcs11"] = (f'[seal]\ntype = "pkcs11"\nlib = "{hsm.library}"\n'
                                 f'token_label = "{hsm.token_label}"\n'
                                 f'key_label = "bench"\ngenerate_key = true\n'
                                 f'pin_file = "{pin}"\n')
        kms = ServerProcess(work / "kms", tls).start()
        stack.callback(kms.stop)
        _, root = kms.init_and_unseal()
        with kms.client(root) as c:
            c.post("/v1/sys/mounts/transit", json={"type": "transit"})
        configs["transit"] = (f'[seal]\ntype = "transit"\naddress = "{kms.addr}"\n'
                              f'token = "{root}"\nkey_name = "bench"\n'
                              f'tls_ca_cert = "{tls.ca_cert}"\n')
        yield configs


def run(rounds: int, work: Path) -> list[dict[str, Any]]:
    tls = make_tls(work / "tls")
    results = []
    with seal_configs(work, tls) as configs:
        for kind, config in configs.items():
            node = ServerProcess(work / f"node-{kind}", tls, extra_config=config).start()
            share = _init(node, auto=bool(config))
            node.stop()
            samples = []
            for _ in range(rounds):
                samples.append(timed_start(node, share))
                node.stop()
            api = [a for a, _ in samples]
            unsealed = [u for _, u in samples]
            results.append({
                "seal": kind, "rounds": rounds,
                "api_up_median_s": round(statistics.median(api), 3),
                "unsealed_median_s": round(statistics.median(unsealed), 3),
                "unsealed_max_s": round(max(unsealed), 3),
                "unseal_after_api_median_s": round(statistics.median(
                    u - a for a, u in samples), 3)})
    return results


def markdown(rows: Sequence[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [f"Seal start-up, {info.get('cpu_model', '')}, {info.get('cpu_count', '')} CPUs; "
             "times from process start, medians of the rounds.", "",
             "| seal | API up | unsealed | max | unsealed after API up |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['seal']} | {r['api_up_median_s']:.2f} s | "
                     f"{r['unsealed_median_s']:.2f} s | {r['unsealed_max_s']:.2f} s | "
                     f"{r['unseal_after_api_median_s'] * 1000:.0f} ms |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None,
         clock: Callable[[], float] = time.time) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="restarts per seal (default 5)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="directory for seal_startup.json/.md")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sb-seal-bench-") as tmp:
        info = machine_info(Path(tmp))
        rows = run(args.rounds, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    table = markdown(rows, info)
    (args.out / "seal_startup.json").write_text(json.dumps(
        {"machine": info, "time": clock(), "results": rows}, indent=2))
    (args.out / "seal_startup.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
