"""A small tmpfs as a node's data directory, and a fill file that makes it (nearly) full.

    disk = TmpfsDisk.mount(node.data_dir, size_mb=96)   # BEFORE the node starts
    disk.fill(leave_mb=4)       # one fallocate'd file takes all but ~4 MiB
    ...                         # the node should answer 507 and step back (min_free_mb)
    disk.unfill()               # space is back: the node should recover by itself
    disk.unmount()              # always (also from atexit); lazy if still busy

Needs root (`available()`). Only the node's data directory lives on the tmpfs: its
config and log are next to it (ServerProcess puts them in the parent directory), so a
full disk never hides the node's own account of what happened.
"""

from __future__ import annotations

import atexit
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

FILL_NAME = "campaign-fill.bin"
MIB = 1024 * 1024


def available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "not root: cannot mount tmpfs"
    return True, ""


def free_mb(path: Path) -> float:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize / MIB


@dataclass
class TmpfsDisk:
    path: Path
    size_mb: int
    mounted: bool = True

    @classmethod
    def mount(cls, path: Path, size_mb: int = 96) -> TmpfsDisk:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700",
                        "tmpfs", str(path)], check=True, capture_output=True, timeout=20)
        disk = cls(path, size_mb)
        atexit.register(disk.unmount)
        return disk

    @property
    def fill_file(self) -> Path:
        return self.path / FILL_NAME

    def fill(self, leave_mb: float = 4.0) -> float:
        """Grow the fill file until about `leave_mb` MiB are free; returns MiB free after."""
        current = self.fill_file.stat().st_size if self.fill_file.exists() else 0
        grow = int((free_mb(self.path) - leave_mb) * MIB)
        if grow > 0:
            with self.fill_file.open("ab") as handle:
                os.posix_fallocate(handle.fileno(), current, grow)
        return free_mb(self.path)

    def unfill(self) -> None:
        self.fill_file.unlink(missing_ok=True)

    def unmount(self) -> None:
        if not self.mounted:
            return
        self.mounted = False
        result = subprocess.run(["umount", str(self.path)], capture_output=True, timeout=20,
                                check=False)
        if result.returncode != 0:  # a process still has it open: detach it now
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=20,
                           check=False)
