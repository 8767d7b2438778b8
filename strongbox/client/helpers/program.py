"""Typed helpers are written once for both clients as *programs*: generators that yield
`Call`s and receive each call's body (None on an accepted 404 or a 204). The sync
client runs a program to its return value; the async client awaits each call.

`R` is what a helper method returns: the body for `Client`, an awaitable of it for
`AsyncClient`. `S` is what a streaming helper returns (an iterator of bytes, or an
async one).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import Any, TypeVar

from strongbox.client.consistency import Consistency, parse_consistency
from strongbox.client.exchange import Call

Body = dict[str, Any] | None
Program = Generator[Call, Body, Body]
R = TypeVar("R")
S = TypeVar("S")
Runner = Callable[[Program], R]
Level = str | Consistency | None
Streamer = Callable[[Call], S]
NOT_FOUND = frozenset({404})


def one(call: Call) -> Program:
    """The program of a single call."""
    return (yield call)


def call(method: str, path: str, json: Any = None, *, params: Mapping[str, Any] | None = None,
         **extra: Any) -> Program:
    """`one(Call(...))` with the path cleaned and None params dropped."""
    clean = {k: v for k, v in (params or {}).items() if v is not None} or None
    level = extra.pop("consistency", None)
    extra["consistency"] = parse_consistency(level) if level else None
    return one(Call(method=method, path=path.strip("/"), json=json, params=clean, **extra))


def body(**fields: Any) -> dict[str, Any]:
    """A JSON body without the fields left at None."""
    return {k: v for k, v in fields.items() if v is not None}
