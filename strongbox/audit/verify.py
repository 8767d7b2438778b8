"""Checking an audit file's hash chain: `verify_file` and `strongbox audit verify`.

Contract
--------
`verify_file(path)` reads the file line by line (streaming) and checks that every line

- ends with a newline (a missing newline at the end means the file was truncated or a
  write was interrupted),
- is a JSON object with a ``prev_hash`` of 64 lowercase hex digits,
- has ``prev_hash`` equal to the sha256 of the previous line's bytes (64 zeros for line 1).

It returns `VerifyResult(ok, lines, first_bad_line, reason)`: `lines` is the number of
lines in the file, `first_bad_line` the 1-based number of the first line that fails
(None if all pass) and `reason` a sentence saying what is wrong and what it means, e.g.
``"line 7: prev_hash does not match line 6: a line was changed, removed or reordered
before this one"``. A changed line is reported at the line after it (its own prev_hash is
still right). Removing lines from the end cannot be detected from the file alone.
OSError (e.g. FileNotFoundError) propagates.

After rotation (``mv audit.log audit.log.1`` and a reopen) each file holds its own chain
starting with zeros: verify each file separately.

CLI: `main(argv)` implements ``strongbox audit verify <file> [-format=table|json]``
(`argv` is what follows ``strongbox audit``, e.g. ``["verify", "audit.log"]``) and prints
``OK: N lines, chain intact`` or ``BROKEN at line K: reason``. Exit status: 0 intact, 1
broken, 2 missing/unreadable file or bad usage. `add_parser` / `run` plug the same command
into the main `strongbox` parser.

Threading: no shared state. Verifying a file that is being written may report its last
line as incomplete.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from strongbox.audit.device import ZERO_HASH, line_hash

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    lines: int
    first_bad_line: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_line(number: int, line: bytes, prev_hash: str) -> str | None:
    """None if `line` is a valid link after `prev_hash`, else the reason."""
    try:
        record = json.loads(line)
    except ValueError:
        return f"line {number}: not valid JSON"
    if not isinstance(record, dict):
        return f"line {number}: not a JSON object"
    if "prev_hash" not in record:
        return f"line {number}: missing prev_hash"
    claimed = record["prev_hash"]
    if not isinstance(claimed, str) or not _HEX64.fullmatch(claimed):
        return f"line {number}: prev_hash is not a sha256 hex digest (64 lowercase hex digits)"
    if claimed == prev_hash:
        return None
    if number == 1:
        return ("line 1: prev_hash is not 64 zeros, as the first line of an audit file must "
                "be: lines were removed from the start of the file")
    return (f"line {number}: prev_hash does not match line {number - 1}: a line was changed, "
            "removed or reordered before this one")


def verify_file(path: str | Path) -> VerifyResult:
    """Check the hash chain of one audit file. See the module docstring."""
    prev_hash = ZERO_HASH
    count = 0
    bad: tuple[int, str] | None = None
    with open(path, "rb") as handle:
        for count, raw in enumerate(handle, 1):
            if bad is not None:
                continue
            if not raw.endswith(b"\n"):
                bad = (count, f"line {count}: the last line is incomplete (no newline at the "
                              "end): the file was truncated or a write was interrupted")
                continue
            line = raw[:-1]
            reason = _check_line(count, line, prev_hash)
            if reason is not None:
                bad = (count, reason)
                continue
            prev_hash = line_hash(line)
    if bad is None:
        return VerifyResult(ok=True, lines=count, first_bad_line=None, reason="chain intact")
    return VerifyResult(ok=False, lines=count, first_bad_line=bad[0], reason=bad[1])


# -- command line ----------------------------------------------------------------------

VERIFY_HELP = """Check the hash chain of an audit log file written by a file audit device.

Every line carries the sha256 of the line before it, so a line that was changed,
removed, inserted or reordered breaks the chain at the next line. Rotated files
(audit.log.1, ...) each start a new chain: verify each file on its own.

exit status: 0 chain intact, 1 chain broken, 2 file missing or unreadable."""


def _configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser("verify", help="check the hash chain of an audit log file",
                                description=VERIFY_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    verify.add_argument("file", help="the audit log file")
    verify.add_argument("-format", "--format", dest="format", choices=("table", "json"),
                        default="table", help="output format (default table)")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify`` to the main `strongbox` parser (dispatch to `run`)."""
    _configure(sub.add_parser("audit", help="audit log tools (verify)",
                              description="Audit log tools."))


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        result = verify_file(path)
    except FileNotFoundError:
        print(f"error: audit log file not found: {path}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot read audit log file {path}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps({"file": str(path), **result.to_dict()}, indent=2))
    elif result.ok:
        print(f"OK: {result.lines} lines, chain intact")
    else:
        print(f"BROKEN at {result.reason}")
    return 0 if result.ok else 1


def main(argv: list[str] | None = None) -> int:
    """``strongbox audit ...``: `argv` is what follows ``audit`` (e.g. ["verify", FILE])."""
    parser = argparse.ArgumentParser(prog="strongbox audit", description="Audit log tools.")
    _configure(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2) and -h (0)
        return exc.code if isinstance(exc.code, int) else 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
