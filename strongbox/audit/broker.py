"""`AuditBroker`: sends every audit entry to all enabled devices, failing closed.

Contract (Vault's rule)
-----------------------
- With no device enabled, `log_request` / `log_response` do nothing.
- With devices enabled, each one gets the entry redacted for it (`redact_entry` with the
  device's `hmac_accessor`; a `log_raw` device gets the entry unredacted). At least one
  device must record it, or `AuditError("no audit device could record the request ...")`
  is raised and the caller must not answer the request.
- Each failing device is logged on logger ``strongbox.audit`` (device name and the error
  message, which never holds entry content) and reported to `on_failure(device_name)`
  (e.g. a Prometheus counter increment).
- Without an HMAC function (`hmac=None`, e.g. while sealed) only `log_raw` devices can
  record; the others count as failed.

The broker fills in ``"time"`` (RFC 3339, UTC, nanoseconds) when the entry has none and
sets ``"type"`` to ``"request"`` / ``"response"``. The caller's entry is never modified.

Threading: all methods are thread-safe. The device table is guarded by a lock; writes
happen outside it (each device serializes its own writes), so a slow device does not block
`enable` / `disable`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from strongbox.audit.errors import AuditError
from strongbox.audit.redact import HmacFn, redact_entry
from strongbox.errors import BadRequest
from strongbox.timefmt import rfc3339

log = logging.getLogger("strongbox.audit")


class AuditDevice(Protocol):
    """What the broker needs from a device (`FileAuditDevice` is one)."""

    log_raw: bool
    hmac_accessor: bool

    def write(self, entry: dict[str, Any]) -> None: ...

    def reopen(self) -> None: ...

    def close(self) -> None: ...


class AuditBroker:
    """Named audit devices; `log_request` / `log_response` fan an entry out to all of them."""

    def __init__(self, hmac: HmacFn | None = None,
                 on_failure: Callable[[str], None] | None = None) -> None:
        self._hmac = hmac
        self._on_failure = on_failure
        self._lock = threading.Lock()
        self._devices: dict[str, AuditDevice] = {}

    # -- device table ------------------------------------------------------------------

    def enable(self, name: str, device: AuditDevice) -> None:
        """Add `device` under `name`; BadRequest if the name is taken."""
        with self._lock:
            if name in self._devices:
                raise BadRequest(f"an audit device is already enabled at {name!r}: "
                                 "disable it first or choose another path")
            self._devices[name] = device

    def disable(self, name: str) -> bool:
        """Remove and close the device `name`; False if there was none."""
        with self._lock:
            device = self._devices.pop(name, None)
        if device is None:
            return False
        try:
            device.close()
        except Exception as exc:
            log.warning("audit device %r: close failed: %s", name, _describe(exc))
        return True

    def names(self) -> list[str]:
        """The enabled device names, sorted."""
        with self._lock:
            return sorted(self._devices)

    def get(self, name: str) -> AuditDevice | None:
        with self._lock:
            return self._devices.get(name)

    def set_hmac(self, fn: HmacFn | None) -> None:
        """Set (on unseal) or clear (on seal) the HMAC function used for redaction."""
        with self._lock:
            self._hmac = fn

    def hash_value(self, value: str) -> str:
        """``hmac-sha256:<hex>`` of `value`, as it appears in audit lines (sys/audit-hash)."""
        hmac = self._hmac
        if hmac is None:
            raise AuditError("no audit HMAC key is loaded: unseal StrongBox first")
        return hmac(value)

    def reopen_all(self) -> list[str]:
        """Reopen every device (SIGHUP); returns the names that failed (logged, counted)."""
        failed: list[str] = []
        for name, device in self._snapshot():
            try:
                device.reopen()
            except Exception as exc:
                self._failed(name, exc)
                failed.append(name)
        return failed

    def close(self) -> None:
        """Disable and close every device."""
        for name in self.names():
            self.disable(name)

    # -- logging -----------------------------------------------------------------------

    def log_request(self, entry: dict[str, Any]) -> None:
        """Record a request entry on every device; AuditError if none could."""
        self._log("request", entry)

    def log_response(self, entry: dict[str, Any]) -> None:
        """Record a response entry on every device; AuditError if none could."""
        self._log("response", entry)

    def _snapshot(self) -> list[tuple[str, AuditDevice]]:
        with self._lock:
            return list(self._devices.items())

    def _log(self, kind: str, entry: dict[str, Any]) -> None:
        devices = self._snapshot()
        if not devices:
            return
        stamped: dict[str, Any] = {"time": rfc3339(time.time_ns()), "type": kind}
        stamped.update(entry)
        stamped["type"] = kind
        hmac = self._hmac
        redacted: dict[bool, dict[str, Any]] = {}
        recorded = 0
        for name, device in devices:
            try:
                if device.log_raw:
                    line = stamped
                else:
                    if hmac is None:
                        raise AuditError(f"audit device {name!r}: no audit HMAC key is "
                                         "loaded, cannot redact the entry")
                    key = bool(device.hmac_accessor)
                    if key not in redacted:
                        redacted[key] = redact_entry(stamped, hmac, hmac_accessor=key)
                    line = redacted[key]
                device.write(line)
                recorded += 1
            except Exception as exc:
                self._failed(name, exc)
        if recorded == 0:
            raise AuditError(f"no audit device could record the {kind}: all "
                             f"{len(devices)} enabled device(s) failed (see the "
                             "strongbox.audit log)")

    def _failed(self, name: str, exc: BaseException) -> None:
        log.error("audit device %r failed: %s", name, _describe(exc))
        if self._on_failure is not None:
            try:
                self._on_failure(name)
            except Exception as cb_exc:
                log.warning("audit failure callback raised %s", type(cb_exc).__name__)


def _describe(exc: BaseException) -> str:
    """AuditError messages are content-free by construction; other errors: the type only."""
    if isinstance(exc, AuditError):
        return exc.message
    return f"unexpected {type(exc).__name__}"
