"""Read workers (strongbox/workers/): a real node with `listener.workers = 2` serves from two
processes sharing the port and the LMDB store; unseal, seal, writes, limited-use tokens and
audit behave as on a single process."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from strongbox.audit.verify import verify_file
from strongbox.testing import ServerProcess, make_tls
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.update(int(child) for child in text)
    return found


def status_of(node: ServerProcess, token: str, path: str) -> int:
    """One request on a new connection (the kernel picks the process)."""
    with node.client(token) as client:
        return client.get(path).status_code


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, list[str],
                                                                      str]]:
    base = tmp_path_factory.mktemp("workers")
    server = ServerProcess(base / "data", make_tls(base / "tls"), workers=2)
    server.start()
    try:
        keys, root = server.init_and_unseal()
        with server.client(root) as client:
            assert client.put("/v1/sys/audit/file", json={
                "type": "file", "options": {"file_path": "audit.log"}}).status_code == 204
            assert client.post("/v1/secret/data/shared",
                               json={"data": {"v": "1"}}).status_code == 200
        worker_log = base / "data" / "audit.log.worker-1"
        wait_until(lambda: status_of(server, root, "/v1/secret/data/shared") == 200
                   and worker_log.exists(), "the read worker to serve a request")
        yield server, keys, root
    finally:
        server.stop()


def test_reads_and_writes_from_every_process_with_one_audit_chain_each(
        node: tuple[ServerProcess, list[str], str]) -> None:
    server, _, root = node
    data = server.data_dir
    before = {path.name: len(path.read_bytes().splitlines())
              for path in data.glob("audit.log*")}
    for i in range(24):  # each on its own connection: both processes take some
        with server.client(root) as client:
            assert client.post(f"/v1/secret/data/w{i}",
                               json={"data": {"v": str(i)}}).status_code == 200
    for i in range(24):
        with server.client(root) as client:
            answer = client.get(f"/v1/secret/data/w{i}")
            assert answer.status_code == 200 and answer.json()["data"]["data"] == {"v": str(i)}
    after = {path.name: len(path.read_bytes().splitlines())
             for path in data.glob("audit.log*")}
    assert set(after) == {"audit.log", "audit.log.worker-1"}
    assert all(after[name] > before.get(name, 0) for name in after)  # both served
    for path in data.glob("audit.log*"):
        result = verify_file(path)
        assert result.ok, (path.name, result)


def test_a_limited_use_token_is_spent_exactly_once_per_use(
        node: tuple[ServerProcess, list[str], str]) -> None:
    server, _, root = node
    with server.client(root) as client:
        token = client.post("/v1/auth/token/create", json={
            "policies": ["default", "root"], "num_uses": 5}).json()["auth"]["client_token"]
    codes = [status_of(server, token, "/v1/secret/data/shared") for _ in range(16)]
    assert codes.count(200) == 5, codes
    assert set(codes[5:]) == {403}, codes


def test_sys_paths_answer_as_the_main_process_on_every_connection(
        node: tuple[ServerProcess, list[str], str]) -> None:
    server, _, root = node
    seen = set()
    for _ in range(12):
        with server.client(root) as client:
            answer = client.get("/v1/sys/health")
            assert answer.status_code == 200
            body = answer.json()
            seen.add((body["initialized"], body["sealed"], body["cluster_id"]))
    assert len(seen) == 1 and next(iter(seen))[:2] == (True, False)


def test_seal_and_unseal_reach_every_worker(
        node: tuple[ServerProcess, list[str], str]) -> None:
    server, keys, root = node
    with server.client(root) as client:
        assert client.put("/v1/sys/seal").status_code == 204

    def all_are(status: int) -> bool:
        return all(status_of(server, root, "/v1/secret/data/shared") == status
                   for _ in range(12))

    wait_until(lambda: all_are(503), "every process to answer sealed")
    server.unseal(keys)
    wait_until(lambda: all_are(200), "every process to serve again after the unseal")


def test_a_killed_worker_is_started_again(node: tuple[ServerProcess, list[str], str]) -> None:
    server, _, root = node
    (worker,) = children(server.pid)
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: children(server.pid) - {worker} != set(), "a new worker process")
    replacement = (children(server.pid) - {worker}).pop()
    log = server.data_dir / "audit.log.worker-1"
    size = log.stat().st_size
    wait_until(lambda: status_of(server, root, "/v1/secret/data/shared") == 200
               and log.stat().st_size > size, "the new worker to serve")
    assert replacement in children(server.pid)
    assert verify_file(log).ok


def test_sighup_reopens_the_workers_audit_files_too(
        node: tuple[ServerProcess, list[str], str]) -> None:
    server, _, root = node
    log = server.data_dir / "audit.log.worker-1"
    wait_until(log.exists, "the worker's audit file")
    workers = children(server.pid)
    log.rename(server.data_dir / "audit.log.worker-1.rotated")
    os.kill(server.pid, signal.SIGHUP)
    wait_until(lambda: status_of(server, root, "/v1/secret/data/shared") == 200
               and log.exists() and log.stat().st_size > 0,
               "the worker to write a new audit file after SIGHUP")
    assert children(server.pid) == workers  # reopened, not killed and started again
    assert verify_file(log).ok
    assert verify_file(server.data_dir / "audit.log.worker-1.rotated").ok
