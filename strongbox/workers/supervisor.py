"""The main process's side of the read workers: the channel and the processes.

`Supervisor.start()` (on the main process's event loop, before it serves):
- listens on `<data_dir>/workers.sock` (mode 0600 in the owner-only data dir; a
  peer must run as this process's user, checked with SO_PEERCRED);
- answers `PROPOSE` with this node's Raft log and `PROXY` with this node's own
  app (the request is served as if the client had sent it here: no forwarding
  marker, its remote address and client certificate kept);
- pushes `WorkerState` to every connected worker at connect, on unseal and seal
  (`Core.on_keyring`), on a leader change, and every `PUSH_EVERY_S` (the
  leader-contact age, the active LMDB environment after a restored snapshot);
- starts `count - 1` worker processes and restarts one that exits (after
  `RESTART_DELAY_S`) until `stop()`. Each binds the API address itself with
  SO_REUSEPORT (as the main process does when it has workers), so the kernel
  spreads new connections evenly over the processes (only processes of the
  same user may share the port).

The root key is kept here (a bytearray, wiped on seal and stop) only to hand it
to workers that connect later; it never leaves this node's own Unix socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from strongbox.api.forwarding import run_local
from strongbox.core import Core
from strongbox.errors import InsufficientStorage, NoLeader, StrongBoxError
from strongbox.pb import cluster_pb2 as cluster_pb
from strongbox.pb import workers_pb2 as wpb
from strongbox.raft.log import CommandLog
from strongbox.workers import wire

log = logging.getLogger("strongbox.workers")

SOCKET_NAME = "workers.sock"
PUSH_EVERY_S = 1.0
RESTART_DELAY_S = 1.0
STOP_GRACE_S = 5.0


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup v2 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period) + 0.5)))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def worker_count(configured: int, max_workers: int) -> int:
    return min(configured or available_cpus(), max_workers)


class Supervisor:
    def __init__(self, core: Core, raft: CommandLog, app: Any, *, data_dir: Path,
                 count: int, worker_args: Sequence[str]) -> None:
        self.core, self.raft, self.app = core, raft, app
        self.path = str(Path(data_dir) / SOCKET_NAME)
        self.count = count
        self.worker_args = list(worker_args)
        self._root_key: bytearray | None = None
        self._generation = 0
        self._controls: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()
        self._pusher: asyncio.Task[None] | None = None
        self.restarts = 0

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._accept, self.path,
                                                           limit=wire.MAX_FRAME)
        finally:
            os.umask(old)
        self.core.on_keyring.append(self._keyring_changed)
        if self.core.keyring is not None:
            log.warning("read workers start on an unsealed node: they unseal when it is "
                        "next unsealed")
        self._pusher = asyncio.create_task(self._push_periodically())
        for index in range(1, self.count):
            self._spawn(index)
        threading.Thread(target=self._watch, name="workers-watch", daemon=True).start()
        log.info("started %d read worker(s) beside the main process", self.count - 1)

    def stop(self) -> None:
        """Stop the workers (SIGTERM, then SIGKILL after STOP_GRACE_S) and the channel.
        Idempotent; call it on the event loop's thread while the loop runs."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        for proc in self._procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self._procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._pusher is not None:
            self._pusher.cancel()
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._wipe()

    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs.values()]

    def signal(self, signum: int) -> None:
        """Pass a signal on to every running worker (SIGHUP: reopen audit files)."""
        for proc in self._procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signum)

    def _spawn(self, index: int) -> None:
        command = [sys.executable, "-m", "strongbox.workers.worker", "--index", str(index),
                   "--channel", self.path, *self.worker_args]
        self._procs[index] = subprocess.Popen(command)  # noqa: S603 - our own module

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for index, proc in list(self._procs.items()):
                code = proc.poll()
                if code is None or self._stopping.is_set():
                    continue
                log.error("read worker %d exited with code %s; restarting it in %.0f s",
                          index, code, RESTART_DELAY_S)
                if self._stopping.wait(RESTART_DELAY_S):
                    return
                self.restarts += 1
                self._spawn(index)

    # --- state pushes --------------------------------------------------------------------

    def _keyring_changed(self, root_key: bytearray | None) -> None:
        self._wipe()
        if root_key is not None:
            self._root_key = bytearray(root_key)
        self.push()

    def _wipe(self) -> None:
        if self._root_key is not None:
            self._root_key[:] = b"\0" * len(self._root_key)
            self._root_key = None

    def state(self) -> wpb.WorkerState:
        self._generation += 1
        sealed = self.core.keyring is None or self._root_key is None
        return wpb.WorkerState(
            sealed=sealed, root_key=b"" if sealed else bytes(self._root_key or b""),
            leader_id=self.raft.leader_id() or "", leader_contact_ms=self.raft.leader_contact_ms(),
            sent_ns=time.monotonic_ns(), store_env=self.core.store.path.name,
            generation=self._generation)

    def push(self) -> None:
        """Send the current state to every worker (any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._push_now()
        else:
            loop.call_soon_threadsafe(self._push_now)

    def _push_now(self) -> None:
        if not self._controls:
            return
        frame = wire.encode(wire.STATE, self.state().SerializeToString())
        for writer in list(self._controls):
            if writer.is_closing():
                self._controls.discard(writer)
                continue
            writer.write(frame)

    async def _push_periodically(self) -> None:
        while True:
            await asyncio.sleep(PUSH_EVERY_S)
            self._push_now()

    # --- the channel ---------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not _same_user(writer):
                log.error("refused a worker-channel connection from another user")
                return
            kind, payload = await wire.read_frame(reader)
            if kind == wire.HELLO:
                await self._control(reader, writer)
            elif kind == wire.PROPOSE:
                writer.write(wire.encode(wire.PROPOSED, await self._propose(payload)))
            elif kind == wire.PROXY:
                writer.write(wire.encode(wire.PROXIED, await self._proxy(payload)))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, wire.FrameError) as exc:
            log.debug("worker channel connection ended: %s", type(exc).__name__)
        except asyncio.CancelledError:
            pass  # the channel is closing (the node stops)
        finally:
            writer.close()

    async def _control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._controls.add(writer)
        try:
            writer.write(wire.encode(wire.STATE, self.state().SerializeToString()))
            await writer.drain()
            await reader.read()  # until the worker goes away
        finally:
            self._controls.discard(writer)

    async def _propose(self, payload: bytes) -> bytes:
        request = wpb.ProposeRequest.FromString(payload)
        try:
            result = await self.raft.propose(request.command, request.timeout_s)
        except InsufficientStorage as exc:
            return wpb.ProposeResponse(error="storage", message=exc.message).SerializeToString()
        except NoLeader as exc:
            return wpb.ProposeResponse(error="no_leader", message=exc.message).SerializeToString()
        except StrongBoxError as exc:
            return wpb.ProposeResponse(error="internal", message=exc.message).SerializeToString()
        return wpb.ProposeResponse(result=result.SerializeToString()).SerializeToString()

    async def _proxy(self, payload: bytes) -> bytes:
        request = wpb.ProxyRequest.FromString(payload).request
        answer: cluster_pb.HttpResponse = await run_local(self.app, request)
        return bytes(answer.SerializeToString())


def _same_user(writer: asyncio.StreamWriter) -> bool:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())
