"""Keeps this node's audit devices in step with the replicated configuration.

The `audit` database holds the enabled devices (replicated); each node opens
its own files. `AuditSync.refresh()` costs one LMDB read when nothing changed
(the configuration generation) and reopens devices when it did. A relative
`file_path` is resolved against the node's data directory, so several nodes on
one machine (tests, `strongbox cluster up`) write separate files.
"""

from __future__ import annotations

import logging
from pathlib import Path

from strongbox.audit import AuditBroker, AuditError, FileAuditDevice
from strongbox.pb import records_pb2 as rec
from strongbox.state.store import Store

log = logging.getLogger("strongbox.audit")


def open_device(record: rec.AuditDeviceRecord, data_dir: Path,
                suffix: str = "") -> FileAuditDevice:
    """Open the device a record describes; raises AuditError or ValueError. `suffix`
    goes after a file's name (a read worker's own chain: ".worker-<n>")."""
    options = dict(record.options)
    path = options.get("file_path", "")
    if path not in ("-", "stdout"):
        if not Path(path).is_absolute():
            path = str(data_dir / path)
        path += suffix
        parent = Path(path).parent
        if not parent.exists():  # as Vault: create the directory, private to the node
            parent.mkdir(mode=0o700, parents=True)
    return FileAuditDevice(
        record.path, "-" if path == "stdout" else path, mode=int(options.get("mode", "0600"), 8),
        log_raw=options.get("log_raw", "false") == "true",
        hmac_accessor=options.get("hmac_accessor", "true") != "false")


class AuditSync:
    def __init__(self, store: Store, broker: AuditBroker, data_dir: Path) -> None:
        self.store = store
        self.broker = broker
        self.data_dir = data_dir
        self.file_suffix = ""  # read workers: ".worker-<n>" (strongbox/workers/)
        self._generation = -1

    def refresh(self) -> None:
        generation = self.store.audit_generation()
        if generation == self._generation:
            return
        self._generation = generation
        wanted = {record.path: record for record in self.store.audit_devices()}
        for name in self.broker.names():
            if name not in wanted:
                self.broker.disable(name)
        for name, record in wanted.items():
            if self.broker.get(name) is None:
                try:
                    self.broker.enable(name, open_device(record, self.data_dir, self.file_suffix))
                except (AuditError, ValueError, OSError) as exc:
                    # Keep it configured-but-broken: requests then fail closed below.
                    log.error("cannot open audit device %s: %s", name, exc)
                    self.broker.enable(name, _BrokenDevice(name, str(exc)))

    @property
    def enabled(self) -> bool:
        return bool(self.broker.names())


class _BrokenDevice:
    """Stands for a configured device this node could not open: every write fails."""

    log_raw = False
    hmac_accessor = True

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    def write(self, entry: object) -> None:
        raise AuditError(f"audit device {self.name} is not open: {self.reason}")

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        pass
