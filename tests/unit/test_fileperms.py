"""strongbox.ops.fileperms: the 0o077 umask, and the data-dir check that fixes (with a
warning) or, when strict, refuses group/other-accessible entries without following links."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from strongbox.ops import fileperms
from strongbox.ops.fileperms import UnsafePermissions, check_data_dir, secure_umask


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logged() -> Iterator[list[logging.LogRecord]]:
    """What the module logs, seen on its own logger (pytest's log capture would depend
    on whether an earlier test switched off propagation on the "strongbox" logger)."""
    logger = logging.getLogger("strongbox.fileperms")
    handler, level = _Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def loose_data_dir(root: Path) -> Path:
    """A data dir as an older node under umask 022 left it."""
    (root / "raft").mkdir(parents=True)
    (root / "store").mkdir()
    for path in (root / "raft" / "raft.log", root / "raft" / "raft.meta",
                 root / "store" / "data.mdb", root / "store.current", root / "audit.log"):
        path.write_bytes(b"x")
        path.chmod(0o644)
    for directory in (root, root / "raft", root / "store"):
        directory.chmod(0o755)
    return root


def test_secure_umask_makes_new_files_and_dirs_owner_only(tmp_path: Path) -> None:
    # in a child process: the umask is process-wide and must not leak into this one
    script = (
        "import os, stat, sys\n"
        "from strongbox.ops.fileperms import secure_umask\n"
        "os.umask(0o022)\n"
        "old = secure_umask()\n"
        "d = sys.argv[1]\n"
        "os.mkdir(os.path.join(d, 'sub'))\n"
        "open(os.path.join(d, 'sub', 'f'), 'w').close()\n"
        "fd = os.open(os.path.join(d, 'g'), os.O_CREAT | os.O_WRONLY, 0o666); os.close(fd)\n"
        "print(oct(old), *(oct(stat.S_IMODE(os.stat(os.path.join(d, p)).st_mode))\n"
        "                  for p in ('sub', 'sub/f', 'g')))\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                         text=True, check=True, timeout=60).stdout.split()
    assert out == ["0o22", "0o700", "0o600", "0o600"]


def test_secure_umask_returns_the_previous_umask() -> None:
    before = os.umask(0o022)
    try:
        assert secure_umask() == 0o022
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(before)


def test_loose_entries_are_fixed_with_a_warning_naming_path_and_old_mode(
        tmp_path: Path, logged: list[logging.LogRecord]) -> None:
    root = loose_data_dir(tmp_path / "data")
    found = check_data_dir(root, strict=False)
    assert {p for p, _ in found} == {root, root / "raft", root / "store", root / "raft" /
                                     "raft.log", root / "raft" / "raft.meta",
                                     root / "store" / "data.mdb", root / "store.current",
                                     root / "audit.log"}
    assert all(old in (0o644, 0o755) for _, old in found)
    for path in (root, root / "raft", root / "store"):
        assert mode(path) == 0o700
    for path in (root / "raft" / "raft.log", root / "store" / "data.mdb", root / "audit.log"):
        assert mode(path) == 0o600
    journal = [r.getMessage() for r in logged
               if str(root / "raft" / "raft.log") in r.getMessage()]
    assert journal and "0644" in journal[0] and "0600" in journal[0]
    assert len(logged) == len(found)
    assert all(r.levelno == logging.WARNING for r in logged)
    assert check_data_dir(root, strict=False) == []  # nothing left to fix


def test_only_group_and_other_bits_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir(mode=0o700)
    readonly = root / "raft.meta"
    readonly.write_bytes(b"x")
    readonly.chmod(0o444)  # owner read-only stays owner read-only
    check_data_dir(root, strict=False)
    assert mode(readonly) == 0o400


def test_strict_refuses_and_changes_nothing(tmp_path: Path) -> None:
    root = loose_data_dir(tmp_path / "data")
    with pytest.raises(UnsafePermissions) as refused:
        check_data_dir(root, strict=True)
    message = str(refused.value)
    assert str(root / "raft" / "raft.log") in message and "0644" in message
    assert "chmod -R go-rwx" in message and "strict_permissions" in message
    assert mode(root / "raft" / "raft.log") == 0o644 and mode(root) == 0o755


def test_a_private_data_dir_passes_strict(tmp_path: Path) -> None:
    root = loose_data_dir(tmp_path / "data")
    check_data_dir(root, strict=False)
    assert check_data_dir(root, strict=True) == []


def test_a_missing_data_dir_is_fine(tmp_path: Path) -> None:
    assert check_data_dir(tmp_path / "not-yet", strict=True) == []


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    outside.chmod(0o755)
    target = outside / "shared.conf"
    target.write_bytes(b"x")
    target.chmod(0o644)
    root = tmp_path / "data"
    (root / "raft").mkdir(parents=True, mode=0o700)
    root.chmod(0o700)
    (root / "link-to-file").symlink_to(target)
    (root / "raft" / "link-to-dir").symlink_to(outside)
    (root / "store").symlink_to(outside)  # even where the check descends
    assert check_data_dir(root, strict=False) == []
    assert check_data_dir(root, strict=True) == []
    assert mode(target) == 0o644 and mode(outside) == 0o755


def test_a_data_dir_that_is_a_symlink_is_checked_through_it(tmp_path: Path) -> None:
    real = loose_data_dir(tmp_path / "disk" / "strongbox")
    link = tmp_path / "data"
    link.symlink_to(real)
    check_data_dir(link, strict=False)
    assert mode(real) == 0o700 and mode(real / "raft" / "raft.log") == 0o600


def test_the_walk_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             logged: list[logging.LogRecord]) -> None:
    root = tmp_path / "data"
    deep = root / "backups" / "2026" / "01"
    deep.mkdir(parents=True)
    nested = deep / "old.snap"  # not in raft/ or store*/: not descended into
    nested.write_bytes(b"x")
    nested.chmod(0o644)
    root.chmod(0o700)
    (root / "backups").chmod(0o700)
    assert check_data_dir(root, strict=True) == []
    assert mode(nested) == 0o644
    for i in range(20):
        (root / f"f{i}").write_bytes(b"x")
    monkeypatch.setattr(fileperms, "MAX_ENTRIES", 5)
    check_data_dir(root, strict=False)
    assert any("first 5 entries" in r.getMessage() for r in logged)


def test_a_file_that_cannot_be_fixed_is_an_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    root = loose_data_dir(tmp_path / "data")

    def refuse(fd: int, new: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(fileperms.os, "fchmod", refuse)
    with pytest.raises(UnsafePermissions, match="could not be changed"):
        check_data_dir(root, strict=False)
