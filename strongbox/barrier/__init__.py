"""The barrier: AES-256-GCM helpers, the keyring and envelope encryption.

Nothing outside this package touches key material directly.
"""
