"""StrongBox client SDK: `Client` (blocking) and `AsyncClient` (asyncio).

Imports nothing from the server side of `strongbox` (stdlib and httpx only), so it
can be vendored or packaged alone. Guide: docs/sdk.md. Exceptions: `errors`.

    from strongbox.client import Client
    with Client() as c:                      # STRONGBOX_ADDR / VAULT_ADDR, ..._TOKEN
        c.kv.v2.write("app/db", {"password": "s3cr3t"})
        c.kv.v2.read("app/db")["data"]["data"]
"""

from __future__ import annotations

from strongbox.client import errors
from strongbox.client.async_client import AsyncClient
from strongbox.client.cache import ReadCache
from strongbox.client.config import ClientConfig, resolve_config
from strongbox.client.consistency import Consistency, IndexTracker
from strongbox.client.exchange import Call, ClientResponse
from strongbox.client.sync_client import Client
from strongbox.client.token_manager import (
    AppRoleLogin,
    AsyncTokenManager,
    JwtLogin,
    KubernetesLogin,
    LoginMethod,
    TokenManager,
    UserpassLogin,
)

__all__ = [
    "AppRoleLogin", "AsyncClient", "AsyncTokenManager", "Call", "Client", "ClientConfig",
    "ClientResponse", "Consistency", "IndexTracker", "JwtLogin", "KubernetesLogin",
    "LoginMethod", "ReadCache", "TokenManager", "UserpassLogin", "errors", "resolve_config",
]
