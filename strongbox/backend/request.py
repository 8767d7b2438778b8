"""The parsed request handed to handlers, and strict JSON body validation.

`Request.json_body(schema)` is how every handler reads its body: a missing body
is `{}`, anything but a JSON object is a 400, and each known field's type is
checked. An unknown field is ignored as Vault ignores it: it is dropped from the
returned body and its name is recorded in `Request.ignored`, which the pipeline
turns into Vault's warning ("Endpoint ignored these unrecognized parameters:
[a b]") on a response that has a body. Error messages name fields, never echo
values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strongbox.errors import BadRequest

# name -> accepted python types; bool is never accepted where int is asked.
Schema = Mapping[str, tuple[type, ...]]
LIST = "LIST"


# The ASGI scope key carrying the verified client certificate (DER): set by the HTTP
# protocol from the TLS connection and by forwarding from a member's request. A scope
# key, not a header, so no client can set it.
CLIENT_CERT = "strongbox.client_cert"


@dataclass(slots=True)
class Request:
    method: str                   # GET PUT POST PATCH DELETE HEAD LIST
    path: str                     # after "/v1/", no leading slash, namespace stripped
    query: dict[str, str]
    headers: dict[str, str]       # lower-case names
    body: bytes
    request_id: str
    remote_addr: str
    namespace: str = ""
    query_string: str = ""        # raw, for forwarding
    # (request id, request hash) from the client's Idempotency-Key; every command the
    # request proposes carries it (Core.submit).
    idempotency: tuple[str, bytes] | None = None
    write_index: int = 0          # Raft index of the request's last write: X-Vault-Index
    writes: int = 0               # commands submitted for it (Core.submit numbers them)
    ignored: list[str] = field(default_factory=list)  # unknown body fields (a warning)
    # DER of the client certificate the TLS handshake verified (b"": none); set only from
    # the connection (or a member's forwarded request), never from anything a client sends
    client_cert: bytes = b""
    _json: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def token(self) -> str | None:
        token = self.headers.get("x-vault-token")
        if token:
            return token
        auth = self.headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip() or None
        return None

    def raw_json(self) -> dict[str, Any]:
        if self._json is None:
            if not self.body.strip():
                self._json = {}
            else:
                try:
                    parsed = json.loads(self.body)
                except RecursionError:
                    raise BadRequest("the request body is nested too deeply") from None
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    where = (f" at line {exc.lineno} column {exc.colno}"
                             if isinstance(exc, json.JSONDecodeError) else "")
                    raise BadRequest(f"malformed JSON in request body{where}: fix the "
                                     "syntax and send it again") from None
                if not isinstance(parsed, dict):
                    raise BadRequest("the request body must be a JSON object")
                self._json = parsed
        return self._json

    def json_body(self, schema: Schema, required: tuple[str, ...] = ()) -> dict[str, Any]:
        """The body's known fields, type-checked; unknown ones are dropped and recorded."""
        raw = self.raw_json()
        body = {name: value for name, value in raw.items() if name in schema}
        for name in raw:
            if name not in schema and name not in self.ignored:
                self.ignored.append(name)
        for name, value in body.items():
            kinds = schema[name]
            if value is None and type(None) in kinds:
                continue
            if isinstance(value, bool) and bool not in kinds:
                raise BadRequest(f"field {name!r} must be {_describe(kinds)}")
            if not isinstance(value, kinds):
                raise BadRequest(f"field {name!r} must be {_describe(kinds)}")
        for name in required:
            if body.get(name) is None:
                raise BadRequest(f"missing required field {name!r}")
        return body


def ignored_warning(names: list[str]) -> str:
    """Vault's warning text for ignored fields (Go's %v of a sorted slice)."""
    return f"Endpoint ignored these unrecognized parameters: [{' '.join(sorted(names))}]"


def _describe(kinds: tuple[type, ...]) -> str:
    names = {bool: "a boolean", int: "an integer", str: "a string", dict: "a JSON object",
             list: "a JSON array", float: "a number", type(None): "null"}
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


MAX_INT = 2**63 - 1


def query_int(request: Request, name: str, default: int, maximum: int = MAX_INT) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or int(raw) > maximum:
        raise BadRequest(f"query parameter {name!r} must be an integer from 0 to {maximum}")
    return int(raw)


def query_bool(request: Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1", "t")
