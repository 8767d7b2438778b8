"""Read workers: more than one process serving a node's API (docs/design.md §12).

A node's main process runs Raft, applies committed entries to LMDB and does
everything a node did before. With `listener.workers` > 1 it also starts
`workers - 1` read-worker processes (`worker.py`) that accept connections on
the same listening socket and read the same LMDB environment (LMDB allows many
reader processes beside its one writer). A worker is a full copy of the API
pipeline (auth, policy, decrypt, audit) over a read-only store, but it never
proposes or leads: it is to its main process what a follower is to a leader.

- Everything under `/v1/sys/` and every request its own pipeline would forward
  to a leader (writes, logins) it hands to the main process (`ProxyRequest`),
  which serves it exactly as if the client had sent it there.
- A command its pipeline proposes while serving a read (spending a use of a
  limited-use token) goes to the main process's Raft log (`ProposeRequest`).
- The main process pushes its state (`WorkerState`: sealed or the root key,
  the leader, the active LMDB environment) at connect and on every change, so
  unsealing, sealing and a restored snapshot reach every worker.
- Each worker writes its own audit chain: a file device's `file_path` gets
  the suffix `.worker-<n>` (`strongbox audit verify` checks each file).

`supervisor.py` is the main process's side: the channel (a Unix socket in the
data directory, owner-only) and the worker processes, restarted if they die.
"""
