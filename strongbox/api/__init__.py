"""The HTTP API: a lean ASGI app speaking Vault's JSON API (docs/api.md)."""
