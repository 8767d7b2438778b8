"""`FileAuditDevice`: appends hash-chained JSON lines to a file (or stdout).

File format
-----------
One JSON object per line (UTF-8, ASCII-escaped, compact separators, keys in the entry's
own order), terminated by ``\\n``. The device adds a last field

    "prev_hash": "<sha256 hex of the previous line's bytes, without its newline>"

and the first line of a new or empty file carries 64 zeros. Changing, removing,
inserting or reordering any line therefore breaks the chain at the following line,
which `strongbox.audit.verify.verify_file` reports. (Removing lines from the *end* of a
file cannot be detected from the file alone: compare with the last hash seen elsewhere.)

Opening and the chain
---------------------
The file is opened with ``O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC``: it is
created with `mode` (and, for a regular file, chmod'ed to `mode` if it differs, as Vault
does; `mode=0` leaves the permissions alone and creates with 0600), a symlink at the
path is refused, and writes always append. On open the chain is recovered from the file:
the last line is found by reading backwards from the end in blocks and hashed. If the
file ends without a newline (a write was interrupted), the next write first ends that
fragment with a newline and chains from it; the fragment stays in the file as evidence
and `verify` reports it. Before each write the file size is compared with the size after
the previous write; if another process truncated or appended to the file, the chain is
recovered again from the file's current last line (a file truncated to zero, e.g. by
``copytruncate``, starts a new chain).

`file_path == "-"` writes to `sys.stdout` (looked up at each write); the chain then
starts with zeros in every process and `reopen` does nothing.

Rotation
--------
`reopen()` (call it on SIGHUP) closes and reopens the path. After
``mv audit.log audit.log.1`` and `reopen()`, the old file ends where it was and a new
chain starts in the new file: its first line's prev_hash is zeros. Each file is verified
separately.

Errors
------
Any OSError while opening or writing raises `AuditError` naming the device, the path and
the OS error text, never entry content. A failed open leaves the device without a file;
the next write tries to open it again, so a device recovers once the path is fixed.
After a partial write the next write recovers the chain from the file.

Threading
---------
`write`, `reopen` and `close` are serialized by one lock per device; the entry is
serialized to JSON before the lock is taken.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import sys
import threading
from types import TracebackType
from typing import Any

from strongbox.audit.errors import AuditError

ZERO_HASH = "0" * 64
STDOUT = "-"
_TAIL_BLOCK = 64 * 1024
_OPEN_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC


def line_hash(line: bytes) -> str:
    """The sha256 hex of one line's bytes (without its newline): the next line's prev_hash."""
    return hashlib.sha256(line).hexdigest()


def _pread_exact(fd: int, length: int, offset: int) -> bytes:
    parts: list[bytes] = []
    while length > 0:
        chunk = os.pread(fd, length, offset)
        if not chunk:
            break
        parts.append(chunk)
        length -= len(chunk)
        offset += len(chunk)
    return b"".join(parts)


def read_tail(fd: int, size: int) -> tuple[bytes, bool] | None:
    """The last line of the first `size` bytes of `fd` and whether it lacks its newline.

    None for an empty file. Reads backwards from the end in 64 KiB blocks.
    """
    if size <= 0:
        return None
    unterminated = _pread_exact(fd, 1, size - 1) != b"\n"
    pos = size if unterminated else size - 1
    chunks: list[bytes] = []
    while pos > 0:
        start = max(0, pos - _TAIL_BLOCK)
        block = _pread_exact(fd, pos - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            chunks.append(block[cut + 1:])
            break
        chunks.append(block)
        pos = start
    return b"".join(reversed(chunks)), unterminated


def _os_reason(exc: OSError) -> str:
    text = exc.strerror or (os.strerror(exc.errno) if exc.errno else type(exc).__name__)
    if exc.errno == errno.ELOOP:
        text += " (the path is a symlink; audit devices never follow symlinks)"
    return text


class FileAuditDevice:
    """Appends hash-chained JSON lines to `file_path` ("-" for stdout). See the module doc."""

    def __init__(self, name: str, file_path: str, mode: int = 0o600, log_raw: bool = False,
                 *, hmac_accessor: bool = True) -> None:
        self.name = name
        self.file_path = file_path
        self.mode = mode
        self.log_raw = log_raw
        self.hmac_accessor = hmac_accessor
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._regular = False
        self._size = 0
        self._prev_hash = ZERO_HASH
        self._needs_newline = False
        self._closed = False
        if file_path != STDOUT:
            with self._lock:
                self._open_locked()

    def __repr__(self) -> str:
        return (f"FileAuditDevice(name={self.name!r}, file_path={self.file_path!r}, "
                f"mode={self.mode:#o}, log_raw={self.log_raw})")

    @property
    def prev_hash(self) -> str:
        """The prev_hash the next line will carry (hash of the current last line)."""
        with self._lock:
            return self._prev_hash

    # -- public operations -------------------------------------------------------------

    def write(self, entry: dict[str, Any]) -> None:
        """Append `entry` as one JSON line with its prev_hash; raises AuditError on failure."""
        body = self._serialize(entry)
        with self._lock:
            if self._closed:
                raise AuditError(f"audit device {self.name!r} is closed")
            if self.file_path == STDOUT:
                self._write_stdout_locked(body)
            else:
                self._write_file_locked(body)

    def reopen(self) -> None:
        """Close and reopen the file (log rotation); a new file starts a new chain."""
        with self._lock:
            if self._closed:
                raise AuditError(f"audit device {self.name!r} is closed")
            if self.file_path == STDOUT:
                return
            self._close_fd_locked()
            self._open_locked()

    def close(self) -> None:
        """Close the file. Idempotent; a closed device refuses writes."""
        with self._lock:
            self._closed = True
            self._close_fd_locked()

    def __enter__(self) -> FileAuditDevice:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- internals (called with the lock held) -----------------------------------------

    def _serialize(self, entry: dict[str, Any]) -> str:
        if not isinstance(entry, dict):
            raise AuditError(f"audit device {self.name!r}: an entry must be a JSON object, "
                             f"got {type(entry).__name__}")
        body = {key: value for key, value in entry.items() if key != "prev_hash"}
        try:
            return json.dumps(body, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            # The exception text may quote content: report only its kind.
            raise AuditError(f"audit device {self.name!r}: the entry cannot be written as "
                             f"JSON ({type(exc).__name__})") from None

    @staticmethod
    def _with_prev_hash(body: str, prev_hash: str) -> bytes:
        field = f'"prev_hash":"{prev_hash}"'
        text = "{" + field + "}" if body == "{}" else body[:-1] + "," + field + "}"
        return text.encode("utf-8")

    def _write_stdout_locked(self, body: str) -> None:
        line = self._with_prev_hash(body, self._prev_hash)
        try:
            stream = sys.stdout
            stream.write(line.decode("utf-8") + "\n")
            stream.flush()
        except (OSError, ValueError) as exc:
            reason = _os_reason(exc) if isinstance(exc, OSError) else "stdout is closed"
            raise AuditError(f"audit device {self.name!r}: cannot write to stdout: "
                             f"{reason}") from exc
        self._prev_hash = line_hash(line)

    def _write_file_locked(self, body: str) -> None:
        if self._fd is None:
            self._open_locked()
        fd = self._fd
        assert fd is not None
        try:
            if self._regular:
                size = os.fstat(fd).st_size
                if size != self._size:
                    self._recover_locked(fd, size)
            line = self._with_prev_hash(body, self._prev_hash)
            payload = (b"\n" if self._needs_newline else b"") + line + b"\n"
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.EIO, os.strerror(errno.EIO))
                view = view[written:]
        except OSError as exc:
            raise AuditError(f"audit device {self.name!r}: cannot write to "
                             f"{self.file_path}: {_os_reason(exc)}") from exc
        self._prev_hash = line_hash(line)
        self._needs_newline = False
        self._size += len(payload)

    def _open_locked(self) -> None:
        try:
            fd = os.open(self.file_path, _OPEN_FLAGS, self.mode or 0o600)
        except OSError as exc:
            raise AuditError(f"audit device {self.name!r}: cannot open {self.file_path}: "
                             f"{_os_reason(exc)}") from exc
        try:
            info = os.fstat(fd)
            regular = stat.S_ISREG(info.st_mode)
            if regular and self.mode and stat.S_IMODE(info.st_mode) != self.mode:
                os.fchmod(fd, self.mode)
            self._regular = regular
            self._prev_hash, self._needs_newline, self._size = ZERO_HASH, False, 0
            if regular:
                self._recover_locked(fd, info.st_size)
        except OSError as exc:
            os.close(fd)
            raise AuditError(f"audit device {self.name!r}: cannot open {self.file_path}: "
                             f"{_os_reason(exc)}") from exc
        self._fd = fd

    def _recover_locked(self, fd: int, size: int) -> None:
        tail = read_tail(fd, size)
        if tail is None:
            self._prev_hash, self._needs_newline = ZERO_HASH, False
        else:
            last, unterminated = tail
            self._prev_hash, self._needs_newline = line_hash(last), unterminated
        self._size = size

    def _close_fd_locked(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
