"""StrongBox: a Raft-replicated, Vault-compatible secrets store."""

__version__ = "0.1.0"
