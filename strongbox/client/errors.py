"""The SDK's exception tree: one class per way a call can fail (like httpx's).

Every exception is a `ClientError`. `str(exc)` is one human line: the server's error
messages joined with "; ", then the HTTP status when there is one. Messages never
contain the client token (the SDK never puts it in one, and server messages never
carry tokens either).

    ClientError
    ├── BadRequest (400)
    ├── PermissionDenied (403)
    ├── NotFound (404)
    ├── MethodNotAllowed (405)
    ├── PreconditionFailed (412)    node behind the X-Vault-Index sent (read-your-writes)
    ├── UnprocessableEntity (422)   Idempotency-Key reused with another request; alias Conflict
    ├── RateLimited (429)           `.retry_after` seconds from Retry-After, or None
    ├── InternalServerError (500)
    ├── BadGateway (502)            the node could not forward to the leader
    ├── Unavailable (503)           no leader, node too stale, restore running, ...
    │   ├── Sealed (503)            the node is sealed
    │   └── ConnectionFailed        no node could be reached (network)
    │       └── TLSError            a node's certificate did not verify
    ├── OutcomeUnknown              a write may or may not have been applied
    └── ConfigurationError          bad arguments or environment variables

Any other status (408, 413, 415, 507, ...) raises a plain `ClientError` with `.status`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ClientError(Exception):
    """Base class. `.status` is the HTTP status (None when no answer), `.errors` the
    server's messages, `.request_id` its X-Request-Id, `.node` the address that answered."""

    default_status: int | None = None

    def __init__(self, message: str, status: int | None = None,
                 errors: list[str] | None = None, request_id: str | None = None,
                 node: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else self.default_status
        self.errors = list(errors or [])
        self.request_id = request_id
        self.node = node

    def __str__(self) -> str:
        if self.status is None:
            return self.message
        return f"{self.message} (HTTP {self.status})"


class BadRequest(ClientError):
    """400: malformed or refused request (unknown field, CAS mismatch, ...)."""

    default_status = 400


class PermissionDenied(ClientError):
    """403: missing, expired or revoked token, or a policy denies the request."""

    default_status = 403


class NotFound(ClientError):
    """404: no route, mount or secret (`read`/`list` return None instead)."""

    default_status = 404


class MethodNotAllowed(ClientError):
    """405: the path exists but not with this method."""

    default_status = 405


class PreconditionFailed(ClientError):
    """412: the node did not reach the X-Vault-Index sent in time (raised only when
    every node was behind)."""

    default_status = 412


class UnprocessableEntity(ClientError):
    """422: an Idempotency-Key was reused with a different request. Never retried."""

    default_status = 422


Conflict = UnprocessableEntity


class RateLimited(ClientError):
    """429: throttled; `.retry_after` is the server's Retry-After in seconds (or None)."""

    default_status = 429

    def __init__(self, message: str, status: int | None = None,
                 errors: list[str] | None = None, request_id: str | None = None,
                 node: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status, errors, request_id, node)
        self.retry_after = retry_after


class InternalServerError(ClientError):
    """500: the server failed; details are in its log under `.request_id`."""

    default_status = 500


class BadGateway(ClientError):
    """502: the node that answered could not forward the request to the leader."""

    default_status = 502


class Unavailable(ClientError):
    """503 (not sealed), or no node could serve the call."""

    default_status: int | None = 503


class Sealed(Unavailable):
    """503: the node is sealed; unseal it with `sys.unseal`."""


class ConnectionFailed(Unavailable):
    """No node could be reached over the network (refused, reset, timed out)."""

    default_status = None


class TLSError(ConnectionFailed):
    """A node's TLS certificate did not verify against the configured CA."""


class OutcomeUnknown(ClientError):
    """A write was sent but no answer came back, and it could not be retried safely
    (no Idempotency-Key, or retries exhausted): it may or may not have been applied."""


class ConfigurationError(ClientError):
    """An argument or environment variable is invalid; the message names it."""


_BY_STATUS: dict[int, type[ClientError]] = {
    400: BadRequest, 403: PermissionDenied, 404: NotFound, 405: MethodNotAllowed,
    412: PreconditionFailed, 422: UnprocessableEntity, 429: RateLimited,
    500: InternalServerError, 502: BadGateway, 503: Unavailable,
}


def server_messages(body: Any) -> list[str]:
    """The `errors` list of a Vault error body, as strings ([] when absent)."""
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
        return [str(item) for item in body["errors"]]
    return []


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (only the delta-seconds form is sent by StrongBox)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds)


def is_sealed_message(messages: list[str]) -> bool:
    """True if a 503's messages say the node is sealed."""
    return any("sealed" in message.lower() for message in messages)


def error_for_status(status: int, body: Any, *, request_id: str | None = None,
                     node: str | None = None, headers: Mapping[str, str] | None = None,
                     ) -> ClientError:
    """The exception for an error answer (the one place statuses map to classes)."""
    messages = server_messages(body)
    text = "; ".join(messages) or _default_message(status)
    cls = _BY_STATUS.get(status, ClientError)
    if status == 503 and is_sealed_message(messages):
        cls = Sealed
    if cls is RateLimited:
        retry_after = parse_retry_after((headers or {}).get("retry-after"))
        return RateLimited(text, status, messages, request_id, node, retry_after)
    return cls(text, status, messages, request_id, node)


def _default_message(status: int) -> str:
    defaults = {403: "permission denied", 404: "not found", 412: "node is behind the index "
                "of this client's writes", 429: "rate limited", 502: "bad gateway",
                503: "service unavailable"}
    return defaults.get(status, "request failed")
