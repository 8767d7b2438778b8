"""Summaries and the markdown report of ``million.py`` (pure functions over its results).

Contract: every function here only reads the dicts and phase results ``million.py`` builds
(documented in benchmarks/README.md, section "1M secrets (million)") and returns numbers or
markdown; nothing here talks to a node or touches the disk.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kv_cluster import phase_table
from kv_single_node import PhaseResult
from million_support import MIB, format_duration

RSS_LIMIT_MIB = 300.0
P99_RATIO_LIMIT = 1.5


# --- summary and report ---------------------------------------------------------------------


def _phase(phases: Sequence[PhaseResult], name: str) -> PhaseResult:
    return next(p for p in phases if p.name.split("@")[0] == name)


def latency_ratios(base: Sequence[PhaseResult], at_n: Sequence[PhaseResult]) -> dict[str, Any]:
    """p50/p99 at N over the same at 2k, for reads and writes (p99 target <= 1.5)."""
    out: dict[str, Any] = {}
    for name in ("kv_read", "kv_write", "health"):
        b, n = _phase(base, name), _phase(at_n, name)
        for q in ("p50", "p99"):
            before, after = getattr(b, f"{q}_ms"), getattr(n, f"{q}_ms")
            out[f"{name}_{q}_ratio"] = round(after / before, 3) if before else None
    out["limit"] = P99_RATIO_LIMIT
    out["pass"] = all((out[f"{k}_p99_ratio"] or math.inf) <= P99_RATIO_LIMIT
                      for k in ("kv_read", "kv_write"))
    return out


def per_100k(marks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Data dir bytes per 100k secrets per node: at the last mark (total / (N / 100k)) and
    the slope between the first and last marks (what 100k more secrets add)."""
    first, last = marks[0], marks[-1]
    out: dict[str, Any] = {}
    for node, usage in last["data_dir"].items():
        span = last["secrets"] - first["secrets"]
        slope = {k: round((usage[k] - first["data_dir"][node][k]) * 1e5 / span / MIB, 1)
                 for k in usage} if span > 0 else None
        out[node] = {"at_end_mib": {k: round(v * 1e5 / last["secrets"] / MIB, 1)
                                    for k, v in usage.items()},
                     "slope_mib": slope}
    return out


def memory_summary(marks: Sequence[dict[str, Any]],
                   final: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The largest RSS / anon / LMDB-mmap-resident MiB seen per node at any mark or the end,
    RSS without the LMDB mmap (what the process itself holds), the peak VmHWM (includes the
    snapshot/restore spikes), and the verdicts against RSS_LIMIT_MIB for both readings."""
    rows = [m["memory"] for m in marks] + [final]
    nodes = sorted({k for r in rows for k in r})

    def largest(node: str, key: str) -> float:
        return float(max(r.get(node, {}).get(key, 0.0) for r in rows))

    out: dict[str, Any] = {n: {"max_rss_mib": largest(n, "rss_mib"),
                               "max_anon_mib": largest(n, "anon_mib"),
                               "max_lmdb_mib": largest(n, "lmdb_mib"),
                               "max_rss_without_lmdb_mib": max(
                                   round(r[n].get("rss_mib", 0) - r[n].get("lmdb_mib", 0), 1)
                                   for r in rows if n in r),
                               "peak_mib": final.get(n, {}).get("peak_mib")} for n in nodes}
    out["limit_mib"] = RSS_LIMIT_MIB
    out["pass"] = all(out[n]["max_rss_mib"] <= RSS_LIMIT_MIB for n in nodes)
    out["pass_without_lmdb"] = all(out[n]["max_rss_without_lmdb_mib"] <= RSS_LIMIT_MIB
                                   for n in nodes)
    return out


def marks_table(marks: Sequence[dict[str, Any]], leader: str) -> str:
    rows = ["| secrets | elapsed | fill rate /s | fill write p99 ms "
            "| RSS MiB (anon, LMDB mmap) per node "
            f"| data dir MiB per node | {leader} (leader): LMDB / journal / snapshot MiB |",
            "|---:|---:|---:|---:|---|---|---|"]
    for m in marks:
        rss = " · ".join(f"{v.get('rss_mib', 0):.0f} ({v.get('anon_mib', 0):.0f}, "
                         f"{v.get('lmdb_mib', 0):.0f})"
                         for v in m["memory"].values())
        disk = " · ".join(f"{v['total'] / MIB:.0f}" for v in m["data_dir"].values())
        parts = " / ".join(f"{m['data_dir'][leader][k] / MIB:.0f}"
                           for k in ("lmdb", "journal", "snapshot"))
        rows.append(f"| {m['secrets']:,} | {format_duration(m['elapsed_s'])} "
                    f"| {m['segment']['rate']} | {m['segment']['write_p99_ms']} | {rss} "
                    f"| {disk} | {parts} |")
    return "\n".join(rows)


def summary_table(report: dict[str, Any]) -> str:
    r, mem, fill_ = report["ratios"], report["memory"], report["fill"]
    snap, catch = fill_["snapshot"] or {}, fill_["catch_up"] or {}
    nodes = [k for k in mem if k.startswith("node-")]
    disk = report["data_dir_per_100k"]
    rows = ["| metric | value | target |", "|---|---|---|",
            f"| kv_read p99 ratio N / 2k | {r['kv_read_p99_ratio']} | <= {r['limit']} |",
            f"| kv_write p99 ratio N / 2k | {r['kv_write_p99_ratio']} | <= {r['limit']} |",
            f"| health p99 ratio (machine drift) | {r['health_p99_ratio']} | ~1 |",
            "| max RSS MiB per node (anon; LMDB mmap) | " + " · ".join(
                f"{n} {mem[n]['max_rss_mib']:.0f} ({mem[n]['max_anon_mib']:.0f}; "
                f"{mem[n]['max_lmdb_mib']:.0f})" for n in nodes)
            + f" | <= {mem['limit_mib']:.0f} |",
            "| max RSS MiB without the LMDB mmap | " + " · ".join(
                f"{n} {mem[n]['max_rss_without_lmdb_mib']:.0f}" for n in nodes)
            + f" | <= {mem['limit_mib']:.0f} |",
            "| peak RSS MiB (VmHWM, incl. snapshot/restore) | " + " · ".join(
                f"{n} {mem[n]['peak_mib']}" for n in nodes) + " | report |",
            "| data dir MiB per 100k secrets (at N) | " + " · ".join(
                f"{n} {v['at_end_mib']['total']}" for n, v in disk.items()) + " | report |",
            f"| fill | {fill_['secrets']:,} secrets, {fill_['rate']}/s, "
            f"{format_duration(fill_['fill_s'])} | report |",
            f"| fill non-2xx (written again / still failing) | {fill_['errors']} "
            f"{fill_['status_counts']} ({fill_['retried']} / {fill_['still_failed']}) | 0 |",
            f"| leader at 2k / at N; elections after the first | "
            f"{report['leaders']['baseline']} / {report['leaders']['at_n']}; "
            f"{report['leaders']['elections_after_the_first']} | 0 |",
            f"| API snapshot of {snap.get('secrets', 0):,} secrets | "
            f"{snap.get('bytes', 0) / MIB:.1f} MiB in {snap.get('save_s')} s | report |",
            f"| API restore of it | 204 after {snap.get('restore_s')} s, all nodes applied "
            f"after {snap.get('restore_applied_s')} s | report |",
            f"| wiped follower catch-up | {catch.get('caught_up_s')} s | report |"]
    return "\n".join(rows)


def markdown_report(report: dict[str, Any], phases: Sequence[PhaseResult]) -> str:
    machine, settings = report["machine"], report["settings"]
    local = " + local changes" if machine["strongbox_dirty"] else ""
    return "\n".join([
        "# million results", "",
        f"{machine['date']} · {machine['cpu_count']} CPUs ({machine['cpu_model']}) · Python "
        f"{machine['python']} · strongbox {machine['strongbox_version']} (commit "
        f"{machine['git_commit']}{local}) · fsync p50 {machine['fsync_p50_ms']} ms / p99 "
        f"{machine['fsync_p99_ms']} ms · load avg before {machine['load_average']}, after "
        f"{machine['load_average_after']}", "",
        f"{settings['nodes']} nodes; {settings['secrets']:,} secrets of {settings['value_bytes']}"
        f" B; baseline {settings['baseline_keys']:,} keys; phases {settings['duration_s']} s; "
        f"reads on a follower ({settings['read_connections']} conns), writes on the leader "
        f"({settings['write_connections']} conns); keys at N from a uniform sample of "
        f"{settings['sample']:,}; fill {settings['fill_connections']} conns via "
        f"{settings['fill_via']}; map_size_mb {settings['map_size_mb']}; max_snapshot_bytes "
        f"{settings['max_snapshot_mb']} MiB; snapshot_threshold "
        f"{settings['snapshot_threshold']}.", "",
        summary_table(report), "", phase_table(phases), "",
        "Marks (the fill pauses until the nodes agree, then RSS and data dirs are read; "
        "data dir = allocated bytes):", "",
        marks_table(report["fill"]["marks"], report["fill"]["leader"]), ""])
