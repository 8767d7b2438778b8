"""The HTTP API: a lean ASGI app speaking Vault's JSON API (see shared API.md)."""
