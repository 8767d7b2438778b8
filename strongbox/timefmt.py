"""Time formats of Vault's API: RFC 3339 timestamps and Go-style durations.

`rfc3339(ns)` -> "2026-11-27T12:00:00.123456789Z" ("" for 0, as Vault prints unset
times); `parse_duration("1h30m")` -> nanoseconds (a bare integer is seconds);
`format_duration(ns)` -> "1h30m0s" (Go's time.Duration.String for whole seconds).
"""

from __future__ import annotations

import re
import time

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
          "h": 3600 * 10**9, "d": 86400 * 10**9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")


def rfc3339(ns: int) -> str:
    if ns <= 0:
        return ""
    seconds, frac = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


MAX_DURATION_NS = 2**63 - 1  # Go's time.Duration: about 292 years


def parse_duration(value: str | int, field: str) -> int:
    """Nanoseconds; raises ValueError naming `field` on bad input or negative values.

    The message never repeats the value: it may be anything the client sent (a
    secret pasted into the wrong field), and errors reach logs and audit lines.
    """
    if isinstance(value, bool):
        raise ValueError(f"{field!r} must be a duration like \"30m\" or a number of seconds")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{field!r} must not be negative")
        if value > MAX_DURATION_NS // 10**9:
            raise ValueError(f"{field!r} is out of range: at most {MAX_DURATION_NS // 10**9} "
                             "seconds (about 292 years)")
        return value * 10**9
    text = value.strip()
    if len(text) > 64:
        raise ValueError(f"{field!r} must be a duration like \"30m\", \"1h30m\" or \"45s\" "
                         "(at most 64 characters)")
    if text.isascii() and text.isdigit():
        return parse_duration(int(text), field)
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"{field!r} must be a duration like \"30m\", \"1h30m\" or \"45s\" "
                         "(a number and a unit: ns, us, ms, s, m, h, d), or a number of "
                         "seconds")
    if not total <= MAX_DURATION_NS:  # also inf
        raise ValueError(f"{field!r} is out of range: at most 2562047h (about 292 years)")
    return int(total)


def format_duration(ns: int) -> str:
    seconds = ns // 10**9
    if seconds == 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
