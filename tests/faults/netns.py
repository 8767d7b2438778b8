"""Network namespaces for the fault campaign: one namespace per node, a veth pair each to
a bridge in the root namespace, and partitions made in the network itself.

    lab = NetLab.create()            # bridge sbf<pid>b with 10.213.<n>.1/24 (n free)
    ns, ip = lab.add_node("node-1")  # namespace sbf<pid>-1, eth0 = 10.213.<n>.2
    lab.partition("node-1")          # blackhole routes node-1 <-> every other node
    lab.heal()
    lab.close()                      # namespaces (and their veths), bridge: always

The test client stays in the root namespace and reaches every node through the bridge,
also during a partition: a partition only cuts node-to-node traffic (both directions, by
`ip route add blackhole <peer>/32` inside each side's namespace: packets to the peer are
dropped silently, as on a cut link; an established TCP stream stalls, new ones time out).
So a client can still talk to a leader that lost its majority, which is the interesting
case: it must not acknowledge anything.

Names carry the pid (and a counter), so parallel pytest workers never collide; `close()`
runs from `atexit` too, and is idempotent. Needs root (`available()` says whether
`ip netns add` works here).
"""

from __future__ import annotations

import atexit
import itertools
import os
import subprocess
from dataclasses import dataclass, field

_COUNTER = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=20)


def available() -> tuple[bool, str]:
    """(usable, why not): root and a trial `ip netns add` / `ip netns del`."""
    if os.geteuid() != 0:
        return False, "not root (os.geteuid() != 0)"
    name = f"sbf{os.getpid()}t{next(_COUNTER)}"
    try:
        result = _ip("netns", "add", name, check=False)
        if result.returncode != 0:
            return False, f"ip netns add failed: {result.stderr.strip()}"
        _ip("netns", "del", name, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"ip not usable: {exc}"
    return True, ""


def _used_subnets() -> set[int]:
    out = _ip("-o", "-4", "addr", check=False).stdout
    used = set()
    for word in out.split():
        if word.startswith("10.213."):
            used.add(int(word.split(".")[2]))
    return used


@dataclass
class NetLab:
    """A bridge and a namespace per node; everything removed by `close()`."""

    prefix: str
    subnet: int
    bridge: str
    namespaces: dict[str, str] = field(default_factory=dict)   # node id -> namespace
    ips: dict[str, str] = field(default_factory=dict)          # node id -> address
    blackholes: list[tuple[str, str]] = field(default_factory=list)  # (namespace, ip)
    closed: bool = False

    @classmethod
    def create(cls) -> NetLab:
        prefix = f"sbf{os.getpid()}x{next(_COUNTER) % 10}"  # <= 12 chars: names <= 15
        used = _used_subnets()
        start = os.getpid() % 200
        subnet = next((20 + (start + k) % 200 for k in range(200)
                       if 20 + (start + k) % 200 not in used), 0)
        if not subnet:
            raise RuntimeError("no free 10.213.x.0/24 subnet")
        lab = cls(prefix, subnet, f"{prefix}b")
        atexit.register(lab.close)
        try:
            _ip("link", "add", lab.bridge, "type", "bridge")
            _ip("addr", "add", f"10.213.{subnet}.1/24", "dev", lab.bridge)
            _ip("link", "set", lab.bridge, "up")
        except BaseException:
            lab.close()
            raise
        return lab

    @property
    def gateway(self) -> str:
        return f"10.213.{self.subnet}.1"

    def add_node(self, node_id: str) -> tuple[str, str]:
        """A namespace for `node_id` with eth0 on the bridge; (namespace, ip)."""
        index = len(self.namespaces) + 1
        ns = f"{self.prefix}-{index}"
        host, peer = f"{self.prefix}h{index}", f"{self.prefix}n{index}"
        ip = f"10.213.{self.subnet}.{index + 1}"
        _ip("netns", "add", ns)
        self.namespaces[node_id] = ns
        self.ips[node_id] = ip
        _ip("link", "add", host, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", ns)
        _ip("link", "set", host, "master", self.bridge)
        _ip("link", "set", host, "up")
        _ip("-n", ns, "link", "set", peer, "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return ns, ip

    def exec_prefix(self, node_id: str) -> list[str]:
        """The argv prefix that runs a command inside the node's namespace."""
        return ["ip", "netns", "exec", self.namespaces[node_id]]

    def partition(self, node_id: str, from_nodes: list[str] | None = None) -> None:
        """Cut `node_id` off from `from_nodes` (default: every other node), both ways."""
        others = from_nodes if from_nodes is not None else \
            [n for n in self.namespaces if n != node_id]
        for other in others:
            for ns, ip in ((self.namespaces[node_id], self.ips[other]),
                           (self.namespaces[other], self.ips[node_id])):
                _ip("-n", ns, "route", "add", "blackhole", f"{ip}/32")
                self.blackholes.append((ns, ip))

    def heal(self) -> None:
        while self.blackholes:
            ns, ip = self.blackholes.pop()
            _ip("-n", ns, "route", "del", "blackhole", f"{ip}/32", check=False)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.blackholes.clear()
        for ns in self.namespaces.values():
            _ip("netns", "del", ns, check=False)  # takes its veth, and so the peer, along
        for index in range(1, len(self.namespaces) + 1):
            _ip("link", "del", f"{self.prefix}h{index}", check=False)
        _ip("link", "del", self.bridge, check=False)
