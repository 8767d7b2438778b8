"""Operational jobs that run next to a cluster (Kubernetes Jobs, CronJobs, sidecars).

Each module is a `python -m strongbox.ops.<name>` program that talks to nodes over
their HTTP API only (httpx + the standard library; nothing of the server side is
imported), like an API client: `bootstrap` (initialize a new cluster exactly once),
`backup` (Raft snapshots with count-based retention, and restore), `podlabel` (the
`strongbox.io/active` label the active/standby Services select on), `configure`
(the Kubernetes auth method, its policies and roles, from a declared state), and `kube`
(the few Kubernetes API calls they need, with the pod's service-account token).
"""
