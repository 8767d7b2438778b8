"""CIDR bindings of tokens, roles and secret ids: parsing what a client sends, and
checking a client address against what was stored.

`parse(raw, field)` accepts a list of CIDR blocks or Vault's comma-separated string
(empty items skipped) and returns them normalised (`10.1.2.3/8` -> `10.0.0.0/8`); a
bad block is a 400 naming `field`. `admits(address, cidrs)`: the address lies in one
of the (normalised) blocks; an address that is not an IP (a test client) never does.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from strongbox.errors import BadRequest


def parse(raw: Any, field: str) -> list[str]:
    if raw in (None, ""):
        return []
    items = [c.strip() for c in raw.split(",")] if isinstance(raw, str) else raw
    try:
        return [str(ipaddress.ip_network(c, strict=False)) for c in items if c]
    except (TypeError, ValueError):
        raise BadRequest(f"'{field}' must be a list of CIDR blocks like \"10.0.0.0/8\"") from None


def admits(address: str, cidrs: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
