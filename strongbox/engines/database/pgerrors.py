"""PostgreSQL errors as StrongBox errors, and which ones are worth running again.

`translate(exc, action, where, secrets)` is the one place a psycopg error becomes a
`DatabaseError` (502: unreachable, login refused, the server failed) or a
`DatabaseStatementError` (400: a statement was rejected); the message holds the
server's own words with every known secret replaced and never str(exc), whose excerpt
may quote the statement. `transient(exc)` names the conflicts with concurrent
statements that are retried with `backoff` instead of reported.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Sequence

import psycopg

from strongbox.errors import BadGateway, BadRequest, ServiceUnavailable

_SERVER_SIDE = ("08", "28", "40", "53", "55", "57", "58", "XX")


class DatabaseError(BadGateway):
    """PostgreSQL could not be reached, refused the login or failed on its side."""


class DatabaseStatementError(BadRequest):
    """PostgreSQL rejected a statement of the role or of the plugin."""


class DatabaseBusy(ServiceUnavailable):
    """No pooled connection became free in time, or the plugin is closed."""


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "<redacted>")
    return re.sub(r"\s+", " ", text).strip()


def _server_text(exc: psycopg.Error) -> str:
    """The server's own words (primary, detail, hint): not str(exc), whose `LINE 1:`
    excerpt may quote the statement, password and all."""
    diag = exc.diag
    if diag.message_primary is None:
        return str(exc)
    parts = [diag.message_primary, diag.message_detail or "", diag.message_hint or ""]
    return "; ".join(p for p in parts if p)


def translate(exc: psycopg.Error, action: str, where: str, secrets: Sequence[str]) -> Exception:
    """The StrongBox error for a psycopg error while doing `action` at `where`."""
    state = exc.sqlstate or ""
    text = _scrub(_server_text(exc), secrets)
    if not state or state[:2] in _SERVER_SIDE:
        return DatabaseError(f"PostgreSQL at {where} failed {action}: {text}"
                             + (f" (SQLSTATE {state})" if state else ""))
    return DatabaseStatementError(f"PostgreSQL at {where} rejected {action}: {text} "
                                  f"(SQLSTATE {state})")


TRANSIENT_TRIES = 5


class Transient(Exception):
    """A catalog conflict with a concurrent statement: the work is safe to run again."""


def transient(exc: psycopg.Error) -> bool:
    """Serialization failures, deadlocks and PostgreSQL's "tuple concurrently updated"
    (concurrent GRANT/REVOKE on one object): retried, not reported."""
    state = getattr(exc, "sqlstate", None) or ""
    return state in ("40001", "40P01") or (state == "XX000" and "concurrently" in str(exc))


async def backoff(attempt: int) -> None:
    await asyncio.sleep((0.005 + random.random() * 0.02) * 2 ** attempt)  # noqa: S311
