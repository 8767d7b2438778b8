"""Password hashing for userpass: Argon2id with its parameters stored in the hash.

Hashes are PHC strings (`$argon2id$v=19$m=65536,t=3,p=1$<salt>$<hash>`), so the
parameters travel with each hash: raising `TIME_COST`/`MEMORY_KIB` later makes `needs_rehash`
true for old hashes, and the login that proves the password stores a new one.
One hash costs ~150-170 ms of CPU and 64 MiB here, so it runs only at login
and user writes, in a small thread pool (argon2-cffi releases the GIL; the
`cryptography` package's Argon2id holds it and would stall the event loop),
bounded to `MAX_CONCURRENT` at a time with at most `MAX_QUEUED` waiting (beyond:
RateLimited, 429, so a flood of logins from many addresses cannot queue everyone's for
minutes). Verification is constant-time (argon2's own comparison). Unknown users are
verified against a dummy hash so a login's timing does not reveal whether they exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from strongbox.errors import RateLimited

TIME_COST, MEMORY_KIB, PARALLELISM = 3, 65536, 1  # parameter version 1
MAX_CONCURRENT = 2
MAX_QUEUED = 16  # ~1.5 s of waiting at most; beyond, logins are refused with 429
MAX_PASSWORD_BYTES = 1024

T = TypeVar("T")
_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
_pool = ThreadPoolExecutor(max_workers=MAX_CONCURRENT, thread_name_prefix="argon2")
_dummy: list[str] = []  # the dummy hash, made on first use


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if `password` matches `stored`; with stored=None, burns the same time."""
    if stored is None:
        if not _dummy:
            _dummy.append(_hasher.hash("strongbox-dummy-password"))
        stored = _dummy[0]
        password = password + "\0"  # never matches the dummy
    try:
        return _hasher.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


_pending = [0]  # hashes queued or running (event-loop thread only)


async def _run(fn: Callable[..., T], *args: object) -> T:
    if _pending[0] >= MAX_CONCURRENT + MAX_QUEUED:
        raise RateLimited("too many logins and password changes are being checked right "
                          "now; retry shortly", retry_after=1)
    _pending[0] += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool, fn, *args)
    finally:
        _pending[0] -= 1


async def hash_async(password: str) -> str:
    return await _run(hash_password, password)


async def verify_async(stored: str | None, password: str) -> bool:
    return await _run(verify_password, stored, password)
