"""KV version 2: versioned key/value secrets, Vault-compatible."""
