"""The `strongbox` command."""
