"""Owner-only permissions for everything a node writes: 0600 files, 0700 directories.

The data directory holds ciphertext, the sealed keyring, token hashes and secret paths
(LMDB under `<data_dir>/store`, the Raft journal `<data_dir>/raft/raft.log`, `raft.meta`
and snapshots, audit files given a relative path); none of it is for other local users.

Contract:

- `secure_umask()` sets the process umask to 0o077 and returns the previous one. The
  server calls it first thing at start, so every file the process creates afterwards
  (LMDB, the journal, snapshots, the audit log, the dev unseal key) is created 0600 and
  every directory 0700, whatever umask the operator's shell or service manager had.
  An explicit mode asked for later (an audit device's `mode`) is still applied by the
  code that asks for it (it chmods after creating).
- `check_data_dir(path, strict)` looks at what is already there, before the store is
  opened: the data directory itself (it may be a symlink to the real directory: that
  one link is followed), its top-level entries, and the entries of its `raft/` and
  `store*/` (LMDB) directories, at most `MAX_ENTRIES` in all. Nothing else is
  descended into and no symlink found there is followed (a link is neither checked nor
  changed, so a link cannot make the node chmod a file outside the data directory).
  Anything group- or other-accessible (`mode & 0o077`) is

  * fixed when `strict` is false (the default, what an operator upgrading a node with
    0644 files wants): the group and other bits are removed (0644 -> 0600,
    0755 -> 0700) and a WARNING line names the path, the old and the new mode; or
  * refused when `strict` is true: nothing is changed and `UnsafePermissions` is raised
    listing the paths and modes (the server turns it into the config error it prints
    on start, exit code 2).

  A path the node cannot chmod (owned by another user) raises `UnsafePermissions` in
  both modes. A missing data directory is fine (the store creates it, 0700 under the
  umask above). The function returns what it found, as `(path, old mode)` pairs.

Like the rest of `strongbox.ops` this module imports only the standard library.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("strongbox.fileperms")

UMASK = 0o077
MAX_ENTRIES = 10_000
PRIVATE = 0o077  # the group and other bits


class UnsafePermissions(Exception):
    """The data directory holds group- or other-accessible entries that were not fixed."""


def secure_umask() -> int:
    """Set the process umask to 0o077 (files 0600, directories 0700); return the old one."""
    return os.umask(UMASK)


def _descend(name: str) -> bool:
    """The directories under the data dir whose entries are checked too: Raft, LMDB."""
    return name in {"raft", "store"} or name.startswith("store-")


def _entries(root: Path) -> tuple[list[tuple[Path, os.stat_result]], bool]:
    """`root` and the entries `check_data_dir` looks at, with their lstat; and whether
    the walk stopped at MAX_ENTRIES."""
    found = [(root, root.stat())]  # the configured directory itself: a link to it is fine
    pending = [root]
    while pending:
        directory = pending.pop(0)
        with os.scandir(directory) as listing:
            for entry in listing:
                if len(found) > MAX_ENTRIES:
                    return found, True
                path = Path(entry.path)
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    continue
                found.append((path, info))
                if directory == root and stat.S_ISDIR(info.st_mode) and _descend(entry.name):
                    pending.append(path)
    return found, False


def _chmod(path: Path, mode: int, follow: bool) -> None:
    """chmod without following a symlink that replaced `path` since it was looked at
    (Linux has no lchmod: open it O_NOFOLLOW and fchmod the descriptor)."""
    if follow:
        os.chmod(path, mode)
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def check_data_dir(path: str | os.PathLike[str], strict: bool) -> list[tuple[Path, int]]:
    """Fix (or, when `strict`, refuse) group/other-accessible entries of the data dir.

    See the module docstring for exactly what is looked at. Returns the `(path, old
    mode)` of every entry that was group/other-accessible.
    """
    root = Path(path)
    if not root.exists():
        return []
    if not root.is_dir():
        raise UnsafePermissions(f"data directory {root} is not a directory")
    found, truncated = _entries(root)
    if truncated:
        log.warning("checked the permissions of the first %d entries of %s only",
                    MAX_ENTRIES, root)
    loose = [(p, stat.S_IMODE(info.st_mode)) for p, info in found
             if (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode))
             and stat.S_IMODE(info.st_mode) & PRIVATE]
    if not loose:
        return []
    if strict:
        listed = ", ".join(f"{p} ({mode:04o})" for p, mode in loose[:10])
        more = f" and {len(loose) - 10} more" if len(loose) > 10 else ""
        raise UnsafePermissions(
            f"{len(loose)} entries of {root} are readable or writable by group or others: "
            f"{listed}{more}; make them owner-only (chmod -R go-rwx {root}) or set "
            "storage.strict_permissions = false to have the node fix them at start")
    for entry, mode in loose:
        new = mode & ~PRIVATE
        try:
            _chmod(entry, new, follow=entry == root)
        except OSError as exc:
            raise UnsafePermissions(
                f"{entry} has mode {mode:04o} (group/other-accessible) and could not be "
                f"changed to {new:04o}: {exc.strerror}; fix it by hand (chmod go-rwx "
                f"{entry}) or run the node as the file's owner") from None
        log.warning("fixed the permissions of %s: it was %04o (group/other-accessible), "
                    "now %04o", entry, mode, new)
    return loose
