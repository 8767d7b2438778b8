"""Authentication: token lifetimes, batch tokens, password hashing, login throttling.

Pure logic shared by the token store and the login methods (`api/auth_*`):
nothing here touches the network, the store or the event loop. Imports nothing
above `strongbox.barrier`, `strongbox.pb` and `strongbox.errors`.
"""
