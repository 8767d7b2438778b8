"""Machine info, per-phase summaries and the markdown of the side-by-side benchmark.

Contract: `machine_info()` describes the run (cores, CPU model, load average, etcd, wrk and
Python versions, git commit); `summarize(runs)` turns the per-round measurements (dicts as
written to the JSON's "runs") into one row per (phase, system) with the mean req/s and
latency percentiles over the rounds, and the StrongBox / etcd throughput ratio;
`markdown(report)` renders the summary table, the per-round table and the header.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kv_single_node import _cpu_model

from sbs.etcd import etcd_version

ROOT = Path(__file__).resolve().parent.parent.parent


def _run(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(command), capture_output=True, text=True, timeout=10,
                              check=False, cwd=ROOT)
    except (OSError, subprocess.SubprocessError):
        return ""
    return (done.stdout or done.stderr).strip()


def wrk_version() -> str:
    """e.g. "debian/4.1.0-3+b2" ("" if wrk is missing)."""
    if shutil.which("wrk") is None:
        return ""
    words = _run(["wrk", "--version"]).split()
    return words[1] if len(words) > 1 else ""




def machine_info() -> dict[str, Any]:
    dirty = _run(["git", "status", "--porcelain", "--", "strongbox"])
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(), "cpu_model": _cpu_model(),
        "platform": platform.platform(), "python": platform.python_version(),
        "etcd_version": etcd_version(), "wrk_version": wrk_version(),
        "git_commit": _run(["git", "rev-parse", "--short", "HEAD"]) or None,
        "strongbox_dirty": bool(dirty),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def summarize(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per phase (in first-run order): per system means over rounds + ratio."""
    rows: list[dict[str, Any]] = []
    for phase in dict.fromkeys(r["phase"] for r in runs):
        row: dict[str, Any] = {"phase": phase}
        for system in ("strongbox", "etcd"):
            mine = [r for r in runs if r["phase"] == phase and r["system"] == system]
            if not mine:
                continue
            row["driver"], row["connections"] = mine[0]["driver"], mine[0]["connections"]
            row["rate"] = mine[0]["rate"]
            row[system] = {
                "rounds": len(mine),
                "rps": round(statistics.fmean(r["rps"] for r in mine), 1),
                **{k: round(statistics.fmean(r["latency_ms"][k] for r in mine), 3)
                   for k in ("p50", "p90", "p99", "p999")},
                "errors": sum(r["errors"] for r in mine),
                "target_rss_mib": max(r["target_rss_mib"] for r in mine),
                "cluster_cpu_pct": round(statistics.fmean(r["cluster_cpu_pct"]
                                                          for r in mine), 1),
            }
        if "strongbox" in row and "etcd" in row and row["etcd"]["rps"]:
            row["rps_ratio"] = round(row["strongbox"]["rps"] / row["etcd"]["rps"], 3)
        rows.append(row)
    return rows


def _cell(row: dict[str, Any], system: str, key: str, fmt: str = "{:.2f}") -> str:
    return fmt.format(row[system][key]) if system in row else "-"


def summary_table(rows: Sequence[dict[str, Any]]) -> str:
    out = ["| phase | load | SB req/s | etcd req/s | SB ÷ etcd | SB p50 ms | etcd p50 ms "
           "| SB p99 ms | etcd p99 ms | SB p99.9 ms | etcd p99.9 ms | errors SB / etcd "
           "| RSS MiB SB / etcd | cluster CPU % SB / etcd |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        load = (f"open {row['rate']:g}/s, {row['connections']} conns" if row["driver"] == "open"
                else f"wrk {row['connections']} conns")
        ratio = f"{row['rps_ratio']:.3f}" if "rps_ratio" in row else "-"
        out.append(
            f"| {row['phase']} | {load} | {_cell(row, 'strongbox', 'rps', '{:.1f}')} "
            f"| {_cell(row, 'etcd', 'rps', '{:.1f}')} | {ratio} "
            f"| {_cell(row, 'strongbox', 'p50')} | {_cell(row, 'etcd', 'p50')} "
            f"| {_cell(row, 'strongbox', 'p99')} | {_cell(row, 'etcd', 'p99')} "
            f"| {_cell(row, 'strongbox', 'p999')} | {_cell(row, 'etcd', 'p999')} "
            f"| {_cell(row, 'strongbox', 'errors', '{}')} / {_cell(row, 'etcd', 'errors', '{}')} "
            f"| {_cell(row, 'strongbox', 'target_rss_mib', '{:.0f}')} / "
            f"{_cell(row, 'etcd', 'target_rss_mib', '{:.0f}')} "
            f"| {_cell(row, 'strongbox', 'cluster_cpu_pct', '{:.0f}')} / "
            f"{_cell(row, 'etcd', 'cluster_cpu_pct', '{:.0f}')} |")
    return "\n".join(out)


def runs_table(runs: Sequence[dict[str, Any]]) -> str:
    out = ["| round | phase | system | order | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms "
           "| errors | sched lag p99 ms | send lag p99 ms | unfinished | target RSS MiB "
           "| cluster CPU % | client CPU % | machine CPU % |",
           "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        lat, extra = r["latency_ms"], r["extra"]
        out.append(f"| {r['round']} | {r['phase']} | {r['system']} | {r['order']} "
                   f"| {r['rps']:.1f} | {lat['p50']:.2f} | {lat['p90']:.2f} | {lat['p99']:.2f} "
                   f"| {lat['p999']:.2f} | {r['errors']} "
                   f"| {extra.get('sched_lag_p99_ms', '-')} "
                   f"| {extra.get('send_lag_p99_ms', '-')} | {extra.get('unfinished', '-')} "
                   f"| {r['target_rss_mib']:.0f} | {r['cluster_cpu_pct']:.0f} "
                   f"| {r['client_cpu_pct']:.0f} | {r['machine_cpu_pct']:.0f} |")
    return "\n".join(out)


def markdown(report: dict[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    local = " + local changes" if m["strongbox_dirty"] else ""
    return "\n".join([
        "# side_by_side results (StrongBox vs etcd)", "",
        f"{m['date']} · {m['cpu_count']} CPUs ({m['cpu_model']}) · Python {m['python']} · "
        f"etcd {m['etcd_version']} · wrk {m['wrk_version']} · strongbox commit "
        f"{m['git_commit']}{local} · load avg before {m['load_average']}, after "
        f"{m['load_average_after']} · {report['elapsed_s']:.0f} s", "",
        f"3 + 3 members on loopback, {s['keys']} keys of {s['value_chars']} B, "
        f"{s['rounds']} round(s) of {s['duration_s']:g} s per phase after "
        f"{s['warmup_s']:g} s warm-up; order alternates per round. StrongBox: policy-"
        f"restricted token, file audit device on. wrk: {s['wrk_threads']} threads, "
        "closed loop; open: fixed-rate Python generator, latency from the scheduled send "
        "time. Means over rounds; RSS = the target member after the phase (max over rounds); "
        "cluster CPU = the three members together, client CPU = wrk or the open-loop "
        "generator, in % of one core; machine CPU = every "
        f"process on the machine (of {m['cpu_count'] * 100}%: other people's work shows "
        "there). sched lag = the open-loop generator behind its own schedule (client-side); "
        "send lag = also waiting for a free connection.", "",
        summary_table(report["summary"]), "",
        "Every measurement:", "",
        runs_table(report["runs"]), ""])
