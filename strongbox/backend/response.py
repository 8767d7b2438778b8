"""Vault's response envelope, error bodies and the headers every response gets.

`ok(data)` builds the success envelope, `no_content()` the 204 of writes with
nothing to return, and `error_response(exc)` is the one place that turns an
exception into a status and `{"errors": [...]}`. Unexpected exceptions become
a generic 500: their text may hold anything, so it goes to the log, never to
the client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from strongbox.errors import MethodNotAllowed, StrongBoxError

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", b"default-src 'none'"),
    (b"x-frame-options", b"DENY"),
]
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # (body, the JSON value it encodes) as json_response made it: the audit reads the
    # value instead of parsing the body again. Trusted only while `body` is that object.
    encoded: tuple[bytes, Any] | None = field(default=None, compare=False, repr=False)

    def json_value(self) -> tuple[bool, Any]:
        """(True, value) if this body is known to encode `value`; (False, None) if not."""
        encoded = self.encoded
        if encoded is not None and encoded[0] is self.body:
            return True, encoded[1]
        return False, None


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def json_response(status: int, payload: Any, headers: list[tuple[bytes, bytes]] | None = None,
                  ) -> Response:
    body = encode(payload)
    return Response(status, body, [(b"content-type", b"application/json"), *(headers or [])],
                    encoded=(body, payload))


def envelope(request_id: str, data: Any, mount_type: str = "", auth: Any = None,
             warnings: list[str] | None = None) -> dict[str, Any]:
    return {"request_id": request_id, "lease_id": "", "renewable": False, "lease_duration": 0,
            "data": data, "wrap_info": None, "warnings": warnings, "auth": auth,
            "mount_type": mount_type}


def ok(request_id: str, data: Any, mount_type: str = "", status: int = 200) -> Response:
    return json_response(status, envelope(request_id, data, mount_type))


def no_content() -> Response:
    return Response(204)


def errors(status: int, *messages: str) -> Response:
    return json_response(status, {"errors": list(messages)})


def error_response(exc: StrongBoxError) -> Response:
    headers: list[tuple[bytes, bytes]] = []
    if exc.retry_after is not None:  # RateLimited, NoLeader, InsufficientStorage
        headers.append((b"retry-after", str(exc.retry_after).encode()))
    if isinstance(exc, MethodNotAllowed) and exc.allow:
        headers.append((b"allow", ", ".join(exc.allow).encode()))
    message = exc.message if exc.status != 500 else "internal error; see the server log " \
                                                   "for the request id"
    # An empty message means "nothing here", which Vault answers as {"errors": []}.
    return json_response(exc.status, {"errors": [message] if message else []}, headers)
