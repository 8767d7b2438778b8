"""KV version 1: unversioned key/value secrets on the mount seam."""
