"""Compare two side_by_side result files, phase by phase, as a markdown table.

Usage: ``python benchmarks/compare.py OLD.json NEW.json [--system strongbox|etcd|both]``

For every phase of either file (in the order of NEW, then phases only OLD has) and every
system: req/s, p50 and p99 (the means over rounds from the files' "summary"), old -> new with
the change in %, and for StrongBox rows the ratio to etcd (StrongBox req/s / etcd req/s of
the same run) old -> new. Ratios are the numbers to compare across runs on a shared
machine: both systems saw the same machine in the same run. A phase or system missing from
one file shows "-". Exit code 0; 2 if a file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SYSTEMS = ("strongbox", "etcd")


def load_summary(path: Path) -> dict[str, dict[str, Any]]:
    """phase name -> its summary row."""
    report = json.loads(path.read_text())
    if report.get("benchmark") != "side_by_side":
        raise ValueError(f"{path} is not a side_by_side result")
    return {row["phase"]: row for row in report["summary"]}


def change_pct(old: float | None, new: float | None) -> str:
    if old is None or new is None or old == 0:
        return "-"
    return f"{100 * (new - old) / old:+.1f}%"


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def metric(row: dict[str, Any] | None, system: str, key: str) -> float | None:
    if row is None or system not in row:
        return None
    value = row[system].get(key)
    return None if value is None else float(value)


def compare_rows(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]],
                 systems: Sequence[str]) -> list[str]:
    rows = []
    for phase in [*new, *(p for p in old if p not in new)]:
        a, b = old.get(phase), new.get(phase)
        for system in systems:
            if (a is None or system not in a) and (b is None or system not in b):
                continue
            cells = [phase, system]
            for key, spec in (("rps", ".1f"), ("p50", ".2f"), ("p99", ".2f")):
                x, y = metric(a, system, key), metric(b, system, key)
                cells += [f"{fmt(x, spec)} → {fmt(y, spec)}", change_pct(x, y)]
            if system == "strongbox":
                x = a.get("rps_ratio") if a else None
                y = b.get("rps_ratio") if b else None
                cells += [f"{fmt(x, '.3f')} → {fmt(y, '.3f')}", change_pct(x, y)]
            else:
                cells += ["", ""]
            rows.append("| " + " | ".join(cells) + " |")
    return rows


def markdown(old_path: Path, new_path: Path, systems: Sequence[str]) -> str:
    old, new = load_summary(old_path), load_summary(new_path)
    return "\n".join([
        f"Old: `{old_path}` · new: `{new_path}`", "",
        "| phase | system | req/s | Δ | p50 ms | Δ | p99 ms | Δ | SB ÷ etcd req/s | Δ |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *compare_rows(old, new, systems), ""])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Diff two side_by_side.json files "
                                                 "(markdown table on stdout).")
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--system", choices=(*SYSTEMS, "both"), default="both")
    args = parser.parse_args(argv)
    systems = SYSTEMS if args.system == "both" else (args.system,)
    try:
        print(markdown(args.old, args.new, systems))
    except (OSError, ValueError, KeyError) as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
