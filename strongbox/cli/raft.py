"""`strongbox operator raft list-peers|remove-peer|snapshot save|snapshot restore`.

Contract
--------
- ``list-peers``: the Raft configuration as Vault prints it (Node, Address, State, Voter).
- ``remove-peer NODE_ID``: removes a peer (forwarded to the leader by the server).
- ``snapshot save FILE``: the binary snapshot, written to FILE (mode 0600; contents stay
  encrypted) or stdout for ``-``; the size is reported on stderr.
- ``snapshot restore FILE [-force]``: uploads FILE (``-force`` for another cluster's
  snapshot, after which every node seals); progress on stderr.
Threading: none.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from strongbox.cli.common import (
    SubParsers,
    command,
    emit,
    flag,
    make_client,
    success,
    warn,
)
from strongbox.cli.kvpaths import body_data, call

SNAPSHOT = "sys/storage/raft/snapshot"


def peers_text(servers: list[dict[str, object]]) -> str:
    """Vault's list-peers table."""
    rows = [("Node", "Address", "State", "Voter")]
    rows += [(str(s.get("node_id")), str(s.get("address")),
              "leader" if s.get("leader") else "follower",
              "true" if s.get("voter", True) else "false") for s in servers]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["    ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
             for row in rows]
    lines.insert(1, "    ".join(("-" * len(h)).ljust(widths[i])
                               for i, h in enumerate(rows[0])).rstrip())
    return "\n".join(lines)


def cmd_list_peers(args: argparse.Namespace) -> int:
    body = call(make_client(args), "GET", "sys/storage/raft/configuration")
    servers = (body_data(body).get("config") or {}).get("servers") or []
    return emit(args, body, text=peers_text(servers), field_source=body_data(body))


def cmd_remove_peer(args: argparse.Namespace) -> int:
    call(make_client(args), "POST", "sys/storage/raft/remove-peer",
         json={"server_id": args.node_id})
    return success(args, f"Peer removed: {args.node_id}")


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB"


def cmd_snapshot_save(args: argparse.Namespace) -> int:
    response = make_client(args).request("GET", SNAPSHOT)
    content = response.content
    if args.file == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
    else:
        tmp = f"{args.file}.partial"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            for start in range(0, len(content), 1 << 22):
                handle.write(content[start:start + (1 << 22)])
                if len(content) > 1 << 24:
                    warn(f"writing snapshot: {_mib(start + len(content[start:start + (1 << 22)]))}"
                         f" of {_mib(len(content))}")
        os.replace(tmp, args.file)
    warn(f"snapshot saved: {len(content)} bytes")
    return 0


def cmd_snapshot_restore(args: argparse.Namespace) -> int:
    path = Path(args.file)
    size = path.stat().st_size
    warn(f"reading snapshot {path} ({_mib(size)})")
    content = path.read_bytes()
    target = f"{SNAPSHOT}-force" if args.force else SNAPSHOT
    warn(f"uploading {_mib(size)} to {target} ...")
    client = make_client(args)
    # request() takes JSON bodies only; the SDK's Call carries raw bytes as `content`.
    client.execute(client.make_call("POST", target, content=content,
                                    headers={"Content-Type": "application/octet-stream"}))
    warn("snapshot restored")
    return success(args, "Snapshot restored." + (" Every node is now sealed: unseal them "
                                                  "with the other cluster's shares."
                                                  if args.force else ""))


def register(ops: SubParsers) -> None:
    """Add ``raft`` to the `operator` table."""
    raft = ops.add_parser("raft", help="Raft membership and snapshots", description=__doc__,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = raft.add_subparsers(dest="raft_action", metavar="ACTION", required=True)
    command(actions, "list-peers", cmd_list_peers, "list the cluster's members",
            "  strongbox operator raft list-peers\n"
            "  strongbox operator raft list-peers -format=json\n")
    remove = command(actions, "remove-peer", cmd_remove_peer, "remove a member",
                     "  strongbox operator raft remove-peer node-3\n")
    remove.add_argument("node_id", metavar="NODE_ID")
    snapshot = actions.add_parser("snapshot", help="save or restore a snapshot")
    snaps = snapshot.add_subparsers(dest="snapshot_action", metavar="ACTION", required=True)
    save = command(snaps, "save", cmd_snapshot_save, "save a snapshot to a file",
                   "  strongbox operator raft snapshot save backup.snap\n")
    save.add_argument("file", metavar="FILE|-")
    restore = command(snaps, "restore", cmd_snapshot_restore, "restore a snapshot",
                      "  strongbox operator raft snapshot restore backup.snap\n"
                      "  strongbox operator raft snapshot restore -force other.snap\n")
    restore.add_argument("file", metavar="FILE")
    flag(restore, "force", action="store_true", help="restore another cluster's snapshot")
