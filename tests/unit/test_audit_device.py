"""FileAuditDevice on real files: the chain, recovery on open, rotation, failures."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from strongbox.audit import ZERO_HASH, AuditError, FileAuditDevice, line_hash, verify_file
from strongbox.errors import InternalError

SECRET = "s.SUPERSECRETTOKEN"


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def assert_chain(path: Path, expected_lines: int) -> None:
    raw = lines_of(path)
    assert len(raw) == expected_lines
    prev = ZERO_HASH
    for line in raw:
        assert json.loads(line)["prev_hash"] == prev
        prev = line_hash(line)
    result = verify_file(path)
    assert result.ok, result.reason
    assert result.lines == expected_lines


def test_audit_error_is_an_internal_error() -> None:
    assert issubclass(AuditError, InternalError)
    assert AuditError("x").status == 500


def test_chain_across_many_writes(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with FileAuditDevice("file/", str(path)) as device:
        assert device.prev_hash == ZERO_HASH
        for i in range(300):
            device.write({"type": "request", "n": i, "text": "é ✓"})
        assert device.prev_hash == line_hash(lines_of(path)[-1])
    assert_chain(path, 300)
    first = json.loads(lines_of(path)[0])
    assert first == {"type": "request", "n": 0, "text": "é ✓", "prev_hash": ZERO_HASH}
    assert b" " not in lines_of(path)[0].split(b'"text"')[0]  # compact separators


def test_the_device_owns_prev_hash(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with FileAuditDevice("file/", str(path)) as device:
        device.write({"prev_hash": "forged", "a": 1})
        device.write({})
    first, second = lines_of(path)
    assert json.loads(first) == {"a": 1, "prev_hash": ZERO_HASH}
    assert json.loads(second) == {"prev_hash": line_hash(first)}
    assert_chain(path, 2)


def test_chain_continues_across_reopen_and_new_device(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    device = FileAuditDevice("file/", str(path))
    for i in range(5):
        device.write({"n": i})
    device.reopen()
    for i in range(5, 10):
        device.write({"n": i})
    device.close()
    again = FileAuditDevice("file/", str(path))  # e.g. a server restart
    assert again.prev_hash == line_hash(lines_of(path)[-1])
    again.write({"n": 10})
    again.close()
    assert_chain(path, 11)


def test_recovery_reads_a_last_line_longer_than_one_block(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with FileAuditDevice("file/", str(path)) as device:
        device.write({"n": 0})
        device.write({"big": "x" * 300_000})
    with FileAuditDevice("file/", str(path)) as device:
        device.write({"n": 2})
    assert_chain(path, 3)


def test_rotation_starts_a_new_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    rotated = tmp_path / "audit.log.1"
    device = FileAuditDevice("file/", str(path))
    for i in range(4):
        device.write({"n": i})
    path.rename(rotated)
    device.write({"n": 4})  # still the old file until reopen (SIGHUP)
    device.reopen()
    assert device.prev_hash == ZERO_HASH
    for i in range(5, 8):
        device.write({"n": i})
    device.close()
    assert_chain(rotated, 5)
    assert_chain(path, 3)
    assert json.loads(lines_of(path)[0]) == {"n": 5, "prev_hash": ZERO_HASH}


def test_truncation_by_another_process_starts_a_new_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with FileAuditDevice("file/", str(path)) as device:
        device.write({"n": 0})
        device.write({"n": 1})
        os.truncate(path, 0)  # logrotate copytruncate
        device.write({"n": 2})
    assert_chain(path, 1)


def test_an_unterminated_fragment_is_ended_and_chained_from(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with FileAuditDevice("file/", str(path)) as device:
        device.write({"n": 0})
    with path.open("ab") as handle:
        handle.write(b'{"n":1,"prev_h')  # a write interrupted by a crash
    with FileAuditDevice("file/", str(path)) as device:
        device.write({"n": 2})
    raw = lines_of(path)
    assert raw[1] == b'{"n":1,"prev_h'
    assert json.loads(raw[2])["prev_hash"] == line_hash(raw[1])
    result = verify_file(path)
    assert (result.ok, result.first_bad_line) == (False, 2)
    assert result.reason == "line 2: not valid JSON"


def test_created_with_mode_and_existing_file_chmoded(tmp_path: Path) -> None:
    old_umask = os.umask(0o077)
    try:
        path = tmp_path / "a.log"
        FileAuditDevice("a/", str(path), mode=0o640).close()
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(old_umask)
    existing = tmp_path / "b.log"
    existing.write_bytes(b"")
    existing.chmod(0o644)
    FileAuditDevice("b/", str(existing)).close()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600
    untouched = tmp_path / "c.log"
    untouched.write_bytes(b"")
    untouched.chmod(0o644)
    FileAuditDevice("c/", str(untouched), mode=0).close()
    assert stat.S_IMODE(untouched.stat().st_mode) == 0o644


def test_symlink_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target.log"
    target.write_bytes(b"")
    link = tmp_path / "audit.log"
    link.symlink_to(target)
    with pytest.raises(AuditError, match="symlink") as info:
        FileAuditDevice("file/", str(link))
    assert "'file/'" in info.value.message
    assert target.read_bytes() == b""


def test_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    device = FileAuditDevice("stdout/", "-")
    device.write({"n": 0})
    device.write({"n": 1})
    device.reopen()  # nothing to reopen
    device.write({"n": 2})
    device.close()
    out = capsys.readouterr().out
    raw = [line.encode() for line in out.splitlines()]
    assert len(raw) == 3
    assert json.loads(raw[0]) == {"n": 0, "prev_hash": ZERO_HASH}
    assert json.loads(raw[1])["prev_hash"] == line_hash(raw[0])
    assert json.loads(raw[2])["prev_hash"] == line_hash(raw[1])


def test_disk_full_raises_without_entry_content() -> None:
    device = FileAuditDevice("full/", "/dev/full")
    with pytest.raises(AuditError) as info:
        device.write({"token": SECRET})
    message = str(info.value)
    assert "No space left on device" in message
    assert "'full/'" in message and "/dev/full" in message
    assert SECRET not in message
    assert SECRET not in repr(info.value.__cause__)
    device.close()


def test_open_fails_when_the_parent_directory_is_missing(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="No such file or directory"):
        FileAuditDevice("file/", str(tmp_path / "missing" / "audit.log"))


def test_open_fails_on_a_directory(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="Is a directory"):
        FileAuditDevice("file/", str(tmp_path))


def test_reopen_fails_closed_when_the_directory_was_removed(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    device = FileAuditDevice("file/", str(directory / "audit.log"))
    device.write({"n": 0})
    shutil.rmtree(directory)
    with pytest.raises(AuditError, match="cannot open"):
        device.reopen()
    with pytest.raises(AuditError, match="No such file or directory"):
        device.write({"n": 1})  # the write retries the open and still fails
    directory.mkdir()
    device.write({"n": 2})  # recovers once the path works again: a new chain
    device.close()
    assert_chain(directory / "audit.log", 1)


def test_reopen_fails_closed_when_a_directory_replaced_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    device = FileAuditDevice("file/", str(path))
    device.write({"n": 0})
    path.unlink()
    path.mkdir()
    with pytest.raises(AuditError, match="Is a directory"):
        device.reopen()
    with pytest.raises(AuditError):
        device.write({"n": 1})
    device.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_reopen_fails_closed_on_a_read_only_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    device = FileAuditDevice("file/", str(path))
    device.write({"n": 0})
    path.chmod(0o400)
    with pytest.raises(AuditError, match="Permission denied"):
        device.reopen()
    device.close()


def test_closed_device_refuses_writes(tmp_path: Path) -> None:
    device = FileAuditDevice("file/", str(tmp_path / "audit.log"))
    device.close()
    device.close()
    with pytest.raises(AuditError, match="closed"):
        device.write({"n": 0})
    with pytest.raises(AuditError, match="closed"):
        device.reopen()


def test_unserializable_entry_is_refused_without_content(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with FileAuditDevice("file/", str(path)) as device:
        with pytest.raises(AuditError, match="cannot be written as JSON") as info:
            device.write({"token": SECRET, "bad": {1, 2}})
        assert SECRET not in str(info.value)
        with pytest.raises(AuditError, match="ValueError"):
            device.write({"nan": float("nan")})
        with pytest.raises(AuditError, match="JSON object"):
            device.write(["not", "a", "dict"])  # type: ignore[arg-type]
        device.write({"n": 0})
    assert_chain(path, 1)


def test_concurrent_writes_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    device = FileAuditDevice("file/", str(path))

    def worker(k: int) -> None:
        for i in range(50):
            device.write({"thread": k, "n": i})

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    device.close()
    assert_chain(path, 400)
