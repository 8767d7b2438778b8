"""Secrets engines. Each builds commands for writes and decrypts for reads."""
