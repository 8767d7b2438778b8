"""Building blocks of ``million.py``: the key space, the fill, RSS and data-dir accounting.

Contract
--------
* Keys are ``secret/data/million/k<7 digits>``; key ``i`` is the ``i``-th secret written, so
  after a fill to ``n`` exactly keys ``0 .. n-1`` exist, each holding one version of a fresh
  random 1 KiB value (``{"data": {"value": <VALUE_BYTES hex chars>}}``) written through the
  normal HTTP API: the store is exactly what real writes produce.
* Request pools are lazy sequences (``KeyRequests``): indexing builds the request bytes on
  demand, so a pool over 1,000,000 keys costs a ``range``, not a gigabyte. They work with
  ``kv_single_node.drive`` (``rng.choice`` needs only ``len`` and ``[int]``).
* ``fill`` writes a range of keys from many keep-alive connections (each one request at a
  time, as real clients do); a non-2xx answer is counted and its key kept in
  ``FillState.failed``, for the caller to write again (``FillState.retry``).
* ``node_memory`` and ``data_dir_usage`` only read ``/proc`` and the nodes' data directories.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from kv_single_node import HOST, build_request, read_response

from strongbox.testing import LocalCluster

KEY_PREFIX = "/v1/secret/data/million/k"
VALUE_BYTES = 1024
MIB = 1024 * 1024


def key_path(i: int) -> str:
    return f"{KEY_PREFIX}{i:07d}"


def write_body(value_bytes: int = VALUE_BYTES) -> bytes:
    """A KV v2 write body whose value is `value_bytes` fresh random hex characters."""
    return b'{"data": {"value": "' + os.urandom(value_bytes // 2).hex().encode() + b'"}}'


class KeyRequests(Sequence[bytes]):
    """GET or POST requests over a set of key indexes, built when indexed (lazy pool)."""

    def __init__(self, method: str, token: str, keys: Sequence[int],
                 value_bytes: int = VALUE_BYTES) -> None:
        self.method, self.token, self.keys, self.value_bytes = method, token, keys, value_bytes

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...

    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        path = key_path(self.keys[i])
        if self.method == "GET":
            return build_request("GET", path, self.token)
        return build_request("POST", path, self.token, write_body(self.value_bytes))


# --- memory and disk ----------------------------------------------------------------------


def node_memory(pid: int) -> dict[str, float]:
    """VmRSS, its anonymous and file-backed parts, the peak VmHWM (from /proc/<pid>/status)
    and the resident part of LMDB's mmap (in the file part), in MiB ({} if it is gone)."""
    wanted = {"VmRSS": "rss_mib", "RssAnon": "anon_mib", "RssFile": "file_mib",
              "VmHWM": "peak_mib"}
    out: dict[str, float] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        if name in wanted:
            out[wanted[name]] = round(int(rest.split()[0]) / 1024, 1)  # kB
    out["lmdb_mib"] = lmdb_resident_mib(pid)
    return out


def lmdb_resident_mib(pid: int) -> float:
    """Resident MiB of the process's `data.mdb` mappings (LMDB's mmap: page cache the kernel
    can reclaim, counted in RssFile), from /proc/<pid>/smaps; 0.0 if unknown."""
    total_kb, in_lmdb = 0, False
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                if not line[0].isupper():  # a mapping header: "start-end perms ... path"
                    in_lmdb = line.rstrip().endswith("/data.mdb")
                elif in_lmdb and line.startswith("Rss:"):
                    total_kb += int(line.split()[1])
    except OSError:
        return 0.0
    return round(total_kb / 1024, 1)


def cluster_memory(cluster: LocalCluster) -> dict[str, dict[str, float]]:
    return {n.node_id: node_memory(n.pid) for n in cluster.nodes if n.proc is not None}


def _category(relative: Path) -> str:
    """lmdb (store*/), snapshot (raft/snapshot.bin*), journal (the rest of raft/), other."""
    top = relative.parts[0]
    if top.startswith("store"):
        return "lmdb"
    if top == "raft":
        return "snapshot" if relative.name.startswith("snapshot") else "journal"
    return "other"


def data_dir_usage(data_dir: Path) -> dict[str, int]:
    """Allocated bytes (st_blocks, like du; LMDB's file is sparse) under `data_dir` by
    category, and `total`. Files that vanish while walking (compaction) are skipped."""
    usage = {"lmdb": 0, "journal": 0, "snapshot": 0, "other": 0}
    for root, _, files in os.walk(data_dir):
        for name in files:
            path = Path(root) / name
            with contextlib.suppress(FileNotFoundError):
                usage[_category(path.relative_to(data_dir))] += path.lstat().st_blocks * 512
    usage["total"] = sum(usage.values())
    return usage


def cluster_usage(cluster: LocalCluster) -> dict[str, dict[str, int]]:
    return {n.node_id: data_dir_usage(n.data_dir) for n in cluster.nodes}


# --- fill ---------------------------------------------------------------------------------


@dataclass(slots=True)
class FillState:
    """Shared by the fill workers and the progress reporter."""

    next_key: int
    end: int
    done: int = 0
    errors: int = 0
    status_counts: dict[int, int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # keys whose write got a non-2xx
    retry: list[int] | None = None  # when set, workers write these keys instead

    def take(self) -> int | None:
        if self.retry is not None:
            return self.retry.pop() if self.retry else None
        if self.next_key >= self.end:
            return None
        self.next_key += 1
        return self.next_key - 1


async def _fill_worker(port: int, ctx: ssl.SSLContext, token: str, state: FillState,
                       value_bytes: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port, ssl=ctx)
    clock = time.perf_counter_ns
    try:
        while (key := state.take()) is not None:
            request = build_request("POST", key_path(key), token, write_body(value_bytes))
            started = clock()
            writer.write(request)
            status = await read_response(reader)
            state.latencies_ns.append(clock() - started)
            state.done += 1
            state.status_counts[status] = state.status_counts.get(status, 0) + 1
            if not 200 <= status < 300:
                state.errors += 1
                state.failed.append(key)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()


async def fill(ports: Sequence[int], ctx: ssl.SSLContext, token: str, state: FillState,
               connections: int, value_bytes: int = VALUE_BYTES) -> None:
    """Write keys state.next_key .. state.end - 1 from `connections` connections, dealt
    round-robin over `ports` (the leader's only, or every node's: followers forward)."""
    await asyncio.gather(*(_fill_worker(ports[i % len(ports)], ctx, token, state, value_bytes)
                           for i in range(connections)))


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else \
        f"{rest // 60}m{rest % 60:02d}s"


@dataclass(slots=True)
class Progress:
    """Progress lines every `period_s` during the fill (count, rate, ETA, RSS per node)."""

    cluster: LocalCluster
    total: int
    period_s: float
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)

    async def report(self, state: FillState) -> None:
        """Print a line every period until cancelled (the rate is over the last period)."""
        last_t, last_n = time.monotonic(), state.done
        while True:
            await asyncio.sleep(self.period_s)
            now, count = time.monotonic(), state.done
            rate = (count - last_n) / max(1e-9, now - last_t)
            last_t, last_n = now, count
            memory = {k: v.get("rss_mib", 0.0) for k, v in cluster_memory(self.cluster).items()}
            eta = (self.total - count) / rate if rate else float("inf")
            self.samples.append({"t_s": round(now - self.started, 1), "secrets": count,
                                 "rate": round(rate, 1), "rss_mib": memory,
                                 "errors": state.errors})
            print(f"  [fill] {count:>9,}/{self.total:,}  {rate:7.1f}/s  ETA "
                  f"{format_duration(eta) if rate else '?'}  errors {state.errors}  rss MiB "
                  + " ".join(f"{k} {v:.0f}" for k, v in memory.items()), flush=True)


def mark_points(total: int, every: int, first: int) -> Iterator[int]:
    """The key counts at which the fill pauses to measure: every multiple of `every`
    above `first`, and `total`."""
    point = (first // every + 1) * every
    while point < total:
        yield point
        point += every
    yield total
