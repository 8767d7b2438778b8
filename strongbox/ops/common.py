"""What the ops programs share: an HTTPS client for a node, token files, logging, waiting.

`node_client(addr, ca_file, token)` returns an httpx.Client that verifies the node
against `ca_file` (or the system store when empty). Never log a token or a share:
callers log only addresses, status codes and counts.
"""

from __future__ import annotations

import logging
import ssl
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
log = logging.getLogger("strongbox.ops")


def setup_logging() -> None:
    """Progress goes to stderr; stdout is reserved for output the operator asked for."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s")


def read_token(path: str) -> str:
    token = Path(path).read_text().strip()
    if not token:
        raise SystemExit(f"error: the token file {path} is empty")
    return token


def node_client(addr: str, ca_file: str = "", token: str = "",
                timeout: float = 30.0) -> httpx.Client:
    verify: ssl.SSLContext | bool = (ssl.create_default_context(cafile=ca_file) if ca_file
                                     else True)
    headers = {"X-Vault-Token": token} if token else {}
    return httpx.Client(base_url=addr.rstrip("/"), verify=verify, headers=headers,
                        timeout=timeout)


def wait_until(probe: Callable[[], T | None], what: str, timeout: float,
               interval: float = 1.0) -> T:
    """Call `probe` until it returns something other than None; TimeoutError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:g}s waiting for {what}")
        time.sleep(interval)
