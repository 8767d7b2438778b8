"""Seal/unseal machinery: key shares, master key protection."""
