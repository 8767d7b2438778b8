"""Audit: HMAC-redacted, hash-chained JSON lines, Vault-compatible in shape; fail closed.

    redact.py   redact_entry(entry, hmac, hmac_accessor=True) -> redacted deep copy
    device.py   FileAuditDevice(name, file_path, mode=0o600, log_raw=False): chained lines
    broker.py   AuditBroker(hmac, on_failure): fans entries out to devices (Vault's rule)
    verify.py   verify_file(path) -> VerifyResult; main(argv) for `strongbox audit verify`

Entries have Vault's shape: request lines
``{"time","type":"request","auth":{...},"request":{...},"error"}``, response lines add
``"response":{"mount_type","data","headers","auth","wrap_info"}``; every line written by a
device also carries ``"prev_hash"`` (sha256 hex of the previous line; zeros for line 1).

Imports only the standard library, `strongbox.errors` and `strongbox.timefmt`.
"""

from __future__ import annotations

from strongbox.audit.broker import AuditBroker, AuditDevice
from strongbox.audit.device import ZERO_HASH, FileAuditDevice, line_hash
from strongbox.audit.errors import AuditError
from strongbox.audit.redact import redact_entry
from strongbox.audit.verify import VerifyResult, verify_file

__all__ = [
    "ZERO_HASH",
    "AuditBroker",
    "AuditDevice",
    "AuditError",
    "FileAuditDevice",
    "VerifyResult",
    "line_hash",
    "redact_entry",
    "verify_file",
]
