"""The side-by-side phases, as data.

Contract: `PHASES` lists every phase in run order. A phase says what it sends (`op`: a
"read" of a random key or a "write" of a random key with a 1 KiB value), to which member
(`target`: "follower" or "leader"), how (`driver`: "wrk" closed loop with `threads` and
`connections`, or "open" fixed-rate at `rate` req/s over a pool of `connections`) and on
which StrongBox cluster `setup` (a key of `SETUPS`: the API processes per node,
`listener.workers`, and extra TOML for every node, given to `LocalCluster`; etcd is the
same for every setup). The harness starts one
StrongBox cluster per setup, in the order of first use, and runs that setup's phases on it.

To add a phase, append a `Phase`; for a StrongBox configuration variant (e.g. two API
workers), add a `SETUPS` entry and phases with `setup="<name>"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Setup:
    workers: int = 1          # listener.workers of every node
    extra_config: str = ""    # TOML appended to every node's configuration


SETUPS: dict[str, Setup] = {
    "default": Setup(),
    # the production default on this 2-core machine (workers = 0: one per CPU)
    "workers2": Setup(workers=2),
}


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    op: Literal["read", "write"]
    target: Literal["follower", "leader"]
    driver: Literal["wrk", "open"]
    connections: int
    threads: int = 2          # wrk only (at most `connections`)
    rate: float = 0.0         # open loop only: requests per second
    setup: str = "default"
    about: str = ""


PHASES: tuple[Phase, ...] = (
    Phase("follower_read", "read", "follower", "wrk", 32,
          about="random key on a follower (etcd: serializable range)"),
    Phase("leader_write_c32", "write", "leader", "wrk", 32,
          about="1 KiB value, random key, on the leader"),
    Phase("leader_write_c1", "write", "leader", "wrk", 1, threads=1,
          about="one connection: the latency of one durable write"),
    Phase("open_read_500", "read", "follower", "open", 32, rate=500,
          about="fixed rate, latency from the scheduled send time"),
    Phase("open_read_1000", "read", "follower", "open", 32, rate=1000),
    Phase("open_read_2000", "read", "follower", "open", 32, rate=2000),
    Phase("open_write_500", "write", "leader", "open", 32, rate=500),
    Phase("follower_read_w2", "read", "follower", "wrk", 32, setup="workers2",
          about="as follower_read, every node serving from 2 processes (read workers)"),
    Phase("open_read_1000_w2", "read", "follower", "open", 32, rate=1000, setup="workers2"),
)
