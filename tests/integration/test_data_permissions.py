"""A real node keeps its data owner-only (strongbox/ops/fileperms.py): everything it
creates under the data dir is 0600 / 0700 even when started from a umask-022 shell; a
data dir left group/other-readable by an older node is fixed at start with a warning in
the node's log, or refused with `storage.strict_permissions = true`."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from strongbox.testing import ServerProcess, TlsFiles

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("umask_022")]
DEADLINE_S = 30.0
# a small snapshot threshold, so a Raft snapshot file is among the files checked
SNAPSHOTS = "[cluster]\nsnapshot_threshold = 5\n"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def modes(root: Path) -> dict[Path, int]:
    """Every entry under `root` (not following links) and `root` itself, with its mode."""
    found = {root: stat.S_IMODE(root.lstat().st_mode)}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory) / name
            found[path] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_owner_only(root: Path) -> None:
    wrong = {str(p): oct(m) for p, m in modes(root).items()
             if m != (0o700 if p.is_dir() else 0o600)}
    assert not wrong, f"not 0600 files / 0700 dirs: {wrong}"


def write_some(server: ServerProcess, root: str, count: int = 12) -> None:
    with server.client(root) as client:
        for i in range(count):
            response = client.post(f"/v1/secret/data/perm/{i}", json={"data": {"v": i}})
            assert response.status_code == 200, response.text


def test_everything_the_node_writes_is_owner_only(tmp_path: Path, tls: TlsFiles) -> None:
    data = tmp_path / "data"
    with ServerProcess(data, tls, extra_config=SNAPSHOTS) as server:
        _keys, root = server.init_and_unseal(shares=3, threshold=2)
        with server.client(root) as client:
            enabled = client.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": "audit.log"}})  # in the data dir
            assert enabled.status_code in (200, 204), enabled.text
        write_some(server, root)
        wait_for(lambda: any(p.name.startswith("snapshot") for p in (data / "raft").iterdir()),
                 "a Raft snapshot file")
    found = modes(data)
    names = {p.relative_to(data).as_posix() for p in found if p != data}
    assert {"raft", "raft/raft.log", "raft/raft.meta", "store", "store/data.mdb",
            "audit.log"} <= names, names
    assert_owner_only(data)
    assert "fixed the permissions" not in server.log_path.read_text()  # nothing to fix
    # the test tooling's own files too: the node config and the log next to the data dir
    assert stat.S_IMODE(server.config_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(server.log_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(tls.key.stat().st_mode) == 0o600


def loosen(root: Path) -> list[Path]:
    """What an older node under umask 022 left: 0644 files and 0755 directories."""
    changed = []
    for path in modes(root):
        if path.is_symlink():
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)
        changed.append(path)
    return changed


def test_a_loose_data_dir_is_fixed_at_start_with_a_warning(tmp_path: Path,
                                                           tls: TlsFiles) -> None:
    data = tmp_path / "data"
    with ServerProcess(data, tls) as server:
        keys, root = server.init_and_unseal(shares=3, threshold=2)
        write_some(server, root, count=3)
    loosened = loosen(data)
    assert modes(data)[data / "raft" / "raft.log"] == 0o644
    server.start()
    try:
        log = server.log_path.read_text()
        for path in (data, data / "raft", data / "raft" / "raft.log", data / "store" /
                     "data.mdb"):
            line = next((line for line in log.splitlines()
                         if "WARNING" in line and f"permissions of {path}:" in line), None)
            assert line is not None, f"no warning for {path} in:\n{log[-3000:]}"
            assert ("0755" if path.is_dir() else "0644") in line
        assert sum("fixed the permissions of" in line for line in log.splitlines()) >= len(
            [p for p in loosened if p.parent in (data, data / "raft", data / "store")])
        assert_owner_only(data)
        server.unseal(keys[:2])  # and the node works on its data as before
        with server.client(root) as client:
            read = client.get("/v1/secret/data/perm/2")
            assert read.status_code == 200 and read.json()["data"]["data"] == {"v": 2}
    finally:
        server.stop()


def test_strict_permissions_refuses_to_start_and_changes_nothing(tmp_path: Path,
                                                                 tls: TlsFiles) -> None:
    data = tmp_path / "data"
    with ServerProcess(data, tls) as server:
        server.init_and_unseal()
    loosen(data)
    before = modes(data)
    strict = ServerProcess(data, tls, extra_config="[storage]\nstrict_permissions = true\n")
    with pytest.raises(RuntimeError) as refused:
        strict.start()
    message = str(refused.value)
    assert "exited with 2" in message, message
    assert "config error: data_dir:" in message and str(data / "raft" / "raft.log") in message
    assert "0644" in message and "strict_permissions" in message
    assert modes(data) == before  # refused, not fixed
    assert strict.proc is None
