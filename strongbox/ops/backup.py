"""Raft snapshots to a directory with count-based retention, and restore:
`python -m strongbox.ops.backup save|restore`.

    python -m strongbox.ops.backup save --addr https://sb.ns.svc:8200 --ca-file /tls/ca.crt \\
        --token-file /token/token --dir /backups --keep 14
    python -m strongbox.ops.backup restore --addr ... --token-file ... --file /backups/X.snap

Contract:
- `save` downloads `GET sys/storage/raft/snapshot` into `<dir>/.partial`, fsyncs it and
  renames it to `strongbox-<UTC time>.snap` (so a crash never leaves a truncated file
  under a snapshot's name), then deletes the oldest `strongbox-*.snap` beyond `--keep`.
  It prints the new file's path on stdout. Other files in the directory are never touched.
- `restore` uploads a file to `POST sys/storage/raft/snapshot` (`--force`:
  `.../snapshot-force`, for a snapshot of another cluster or after a rebuild; every node
  then seals and must be unseled with that cluster's shares).
- The token comes from a file (a mounted Secret), never from argv; it is never logged.
Exit codes: 0 done, 1 the node refused or could not be reached.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
from pathlib import Path

import httpx

from strongbox.ops.common import node_client, read_token, setup_logging

log = logging.getLogger("strongbox.ops.backup")
PREFIX, SUFFIX = "strongbox-", ".snap"


def snapshot_name(now: dt.datetime) -> str:
    return f"{PREFIX}{now.strftime('%Y%m%dT%H%M%S.%fZ')}{SUFFIX}"


def snapshots(directory: Path) -> list[Path]:
    """This program's snapshots in `directory`, oldest first (the names sort by time)."""
    return sorted(p for p in directory.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` snapshots; the deleted paths."""
    old = snapshots(directory)[:-keep] if keep > 0 else []
    for path in old:
        path.unlink()
    return old


def save(client: httpx.Client, directory: Path, keep: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / ".partial"
    with client.stream("GET", "/v1/sys/storage/raft/snapshot") as response:
        if response.status_code != 200:
            response.read()
            raise RuntimeError(f"snapshot refused: HTTP {response.status_code}: "
                               f"{response.text[:300]}")
        with partial.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    target = directory / snapshot_name(dt.datetime.now(dt.UTC))
    os.replace(partial, target)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    for path in prune(directory, keep):
        log.info("retention: deleted %s", path.name)
    log.info("saved %s (%d bytes); %d snapshots kept", target.name, target.stat().st_size,
             len(snapshots(directory)))
    return target


def restore(client: httpx.Client, path: Path, force: bool) -> None:
    endpoint = "/v1/sys/storage/raft/snapshot" + ("-force" if force else "")
    response = client.post(endpoint, content=path.read_bytes(),
                           headers={"Content-Type": "application/octet-stream"})
    if response.status_code not in (200, 204):
        raise RuntimeError(f"restore refused: HTTP {response.status_code}: "
                           f"{response.text[:300]}")
    log.info("restored %s", path.name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m strongbox.ops.backup")
    parser.add_argument("action", choices=("save", "restore"))
    parser.add_argument("--addr", default=os.environ.get("VAULT_ADDR", ""), required=False)
    parser.add_argument("--ca-file", default=os.environ.get("VAULT_CACERT", ""))
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--dir", default="/backups", help="save: where snapshots go")
    parser.add_argument("--keep", type=int, default=7, help="save: how many to keep")
    parser.add_argument("--file", default="", help="restore: the snapshot file")
    parser.add_argument("--force", action="store_true", help="restore: snapshot-force")
    args = parser.parse_args(argv)
    if not args.addr:
        parser.error("--addr (or VAULT_ADDR) is required")
    if args.action == "restore" and not args.file:
        parser.error("restore needs --file")
    if args.keep < 1:
        parser.error("--keep must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    setup_logging()
    args = parse_args(argv)
    token = read_token(args.token_file)
    try:
        with node_client(args.addr, args.ca_file, token, timeout=300.0) as client:
            if args.action == "save":
                print(save(client, Path(args.dir), args.keep))
            else:
                restore(client, Path(args.file), args.force)
    except (httpx.HTTPError, RuntimeError, OSError) as exc:
        log.error("%s failed: %s", args.action, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
