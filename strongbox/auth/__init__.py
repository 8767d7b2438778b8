"""Authentication: token lifetimes, batch tokens, password hashing, login throttling.

Pure logic shared by the token store and the login methods (`api/auth_*`):
nothing here touches the network, the store or the event loop. Imports only the
layers below it (`strongbox.barrier`, `strongbox.state`'s pure helpers, `strongbox.pb`,
`strongbox.errors`), as docs/design.md §2 draws them.
"""
