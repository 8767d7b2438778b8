"""The long fault campaign: N rounds of each fault kind against one real three-node cluster.

    python3 benchmarks/faults.py                         # 3 rounds of every kind
    python3 benchmarks/faults.py --rounds 10 --kinds kill_leader,partition_leader
    python3 benchmarks/faults.py --hold 8 --out /tmp/faults

The runner is tests/faults/campaign.py (the same code as CI's tests/faults/test_campaign.py,
which runs one short round of each kind). Rounds go kind by kind within a pass
(kill_leader r1, kill_follower r1, ..., kill_leader r2, ...). Writes faults.json (machine,
settings, environment, every round in full) and faults.md (the table) to --out; the table
is printed too. Exit code 1 if any round lost a write, diverged, broke CAS or served a stale
read-your-writes read (or did not converge). As root, nodes run in network namespaces on
tmpfs data directories; see benchmarks/README.md "Fault campaign".
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.faults.campaign import (  # noqa: E402
    KINDS,
    Campaign,
    Settings,
    markdown,
    round_line,
    summarize,
)


def commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" + local changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds per fault kind (3)")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated fault kinds (all: {','.join(KINDS)})")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results",
                        help="directory for faults.json and faults.md")
    parser.add_argument("--pre", type=float, default=3.0, help="load before the fault, s")
    parser.add_argument("--hold", type=float, default=5.0, help="how long a fault is held, s")
    parser.add_argument("--post", type=float, default=4.0, help="load after the undo, s")
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--cas-clients", type=int, default=2)
    parser.add_argument("--ryw-readers", type=int, default=1)
    parser.add_argument("--tmpfs-mb", type=int, default=512,
                        help="tmpfs per node, MiB (512: the campaign's own data must fit)")
    parser.add_argument("--no-netns", action="store_true",
                        help="loopback + the faults.json partition hook, even as root")
    parser.add_argument("--no-tmpfs", action="store_true",
                        help="data on the normal disk (the disk_full kinds are skipped)")
    parser.add_argument("--keep", action="store_true", help="keep the cluster's directory")
    args = parser.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {', '.join(KINDS)}")
    settings = Settings(pre_s=args.pre, hold_s=args.hold, post_s=args.post,
                        writers=args.writers, cas_clients=args.cas_clients,
                        ryw_readers=args.ryw_readers, tmpfs_mb=args.tmpfs_mb,
                        use_netns=not args.no_netns, use_tmpfs=not args.no_tmpfs)
    directory = Path(tempfile.mkdtemp(prefix="strongbox-faults-"))
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    rounds: list[dict[str, object]] = []
    environment: dict[str, object] = {}
    aborted = ""
    try:
        with Campaign(directory, settings) as campaign:
            environment = campaign.environment
            print(f"environment: {json.dumps(environment)}", flush=True)
            for round_no in range(1, args.rounds + 1):
                for kind in kinds:
                    result = campaign.run_round(kind, round_no)
                    rounds.append(result)
                    print(round_line(result), flush=True)
                    for problem in result.get("problems", []):  # type: ignore[attr-defined]
                        print(f"    PROBLEM: {problem}", flush=True)
                    for line in result.get("exits", []):  # type: ignore[attr-defined]
                        print(f"    EXIT: {line}", flush=True)
    except KeyboardInterrupt:
        aborted = "interrupted"
    except Exception as exc:  # the campaign itself broke: report what ran so far
        aborted = f"{type(exc).__name__}: {exc}"[:2000]
        print(f"campaign aborted: {aborted}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(directory, ignore_errors=True)
    summary = summarize(rounds)  # type: ignore[arg-type]
    header = (f"{started.isoformat(timespec='seconds')} · {os.cpu_count()} CPUs · Python "
              f"{platform.python_version()} · commit {commit()} · {args.rounds} rounds x "
              f"{len(kinds)} kinds, pre/hold/post {args.pre}/{args.hold}/{args.post} s · "
              f"netns {environment.get('netns')} · tmpfs {environment.get('tmpfs')} · "
              f"hooks {environment.get('features')} · "
              f"{round(time.monotonic() - t0)} s" + (f" · ABORTED: {aborted}" if aborted else ""))
    table = markdown(summary, header)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "faults.json").write_text(json.dumps({
        "started": started.isoformat(), "duration_s": round(time.monotonic() - t0, 1),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "commit": commit(),
                    "load_avg": os.getloadavg()},
        "settings": vars(args) | {"out": str(args.out), "kinds": kinds},
        "environment": environment, "aborted": aborted, "summary": summary,
        "rounds": rounds}, indent=1, default=str))
    (args.out / "faults.md").write_text(table)
    print("\n" + table)
    bad = aborted or any(
        s["lost"] or s["divergent_rounds"] or s["cas_duplicated"] or s["cas_lost"]
        or s["stale_reads"] or s["failed_rounds"] for s in summary.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
