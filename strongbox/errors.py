"""The one exception tree of StrongBox.

Every error the server can answer with is a subclass of `StrongBoxError` and
carries its HTTP status; `api/` maps an exception to a response in exactly one
place (`api.envelope.error_response`). Messages say what was wrong and what to
do about it. They never contain a secret, token, share or key: callers build
them from names and numbers only.

    StrongBoxError (500)
    ├── BadRequest (400)
    │   ├── CasMismatch (400)
    │   └── UnsealFailed (400)
    ├── PermissionDenied (403)
    ├── NotFound (404)
    ├── MethodNotAllowed (405)
    ├── PreconditionFailed (412)
    ├── RequestTimeout (408)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── IdempotencyMismatch (422)
    ├── RateLimited (429)
    ├── BadGateway (502)
    ├── ServiceUnavailable (503)
    │   ├── Sealed (503)
    │   ├── NotInitialized (503)
    │   ├── NoLeader (503)
    │   └── SealUnavailable (503)
    ├── StoreFull (507)
    │   └── InsufficientStorage (507)
    └── InternalError (500)
    ConfigError (not an HTTP error: bad configuration, exit code 2)
"""

from __future__ import annotations


class StrongBoxError(Exception):
    """Base class. `status` is the HTTP status the API answers with."""

    status: int = 500
    retry_after: int | None = None  # seconds, sent as Retry-After when set

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(StrongBoxError):
    """The request is malformed or violates a documented rule."""

    status = 400


class CasMismatch(BadRequest):
    """A check-and-set version did not match the current version."""


class UnsealFailed(BadRequest):
    """The submitted shares did not reconstruct the unseal key."""


class PermissionDenied(StrongBoxError):
    """Missing, invalid, expired or revoked token, or a policy denies the path."""

    status = 403

    def __init__(self, message: str = "permission denied") -> None:
        super().__init__(message)


class NotFound(StrongBoxError):
    """No route, secret or record at this path."""

    status = 404


class MethodNotAllowed(StrongBoxError):
    """The path exists but does not support the HTTP method; `allow` lists those it does."""

    status = 405

    def __init__(self, message: str, allow: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.allow = allow


class PreconditionFailed(StrongBoxError):
    """A consistency requirement (X-Vault-Index) could not be met in time."""

    status = 412


class RequestTimeout(StrongBoxError):
    """The client did not send its request body in time."""

    status = 408


class PayloadTooLarge(StrongBoxError):
    """The request body is over the configured limit."""

    status = 413


class UnsupportedMediaType(StrongBoxError):
    """The body's Content-Type is not the one the endpoint requires."""

    status = 415


class IdempotencyMismatch(StrongBoxError):
    """An Idempotency-Key was reused with a different request."""

    status = 422


class RateLimited(StrongBoxError):
    """Too many requests; `retry_after` seconds is sent as Retry-After."""

    status = 429

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BadGateway(StrongBoxError):
    """Forwarding the request to the leader failed."""

    status = 502


class ServiceUnavailable(StrongBoxError):
    """The node cannot serve this request right now."""

    status = 503


class Sealed(ServiceUnavailable):
    """The node is sealed."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "StrongBox is sealed: submit unseal key shares with PUT /v1/sys/unseal"
        )


class NotInitialized(ServiceUnavailable):
    """The cluster has not been initialized."""

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message or "StrongBox is not initialized: initialize it with PUT /v1/sys/init"
        )


class NoLeader(ServiceUnavailable):
    """Raft has no leader, or a write could not be committed in time (Retry-After: 1)."""

    retry_after = 1


class SealUnavailable(ServiceUnavailable):
    """The auto-unseal key manager (HSM, Transit) cannot be reached or refused; the
    message says why (never a PIN or token)."""


class StoreFull(StrongBoxError):
    """The LMDB map is full: the write was not applied; raise storage.map_size_mb."""

    status = 507


class InsufficientStorage(StoreFull):
    """This node's disk is low on space: it takes no writes until space is freed
    (raft/diskguard.py). Retry-After: 5."""

    retry_after = 5

    def __init__(self, message: str = "") -> None:
        super().__init__(message or (
            "this node is low on disk space and has stopped taking writes; free space on "
            "its data volume (it resumes by itself) or send the write to another node"))


class InternalError(StrongBoxError):
    """A bug or an unexpected failure. The message sent to clients stays generic."""

    status = 500


class ConfigError(Exception):
    """Bad configuration. The message names the offending key."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config error: {key}: {problem}")
        self.key = key
        self.problem = problem
