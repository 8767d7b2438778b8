"""The parsed request handed to handlers, and strict JSON body validation.

`Request.json_body(schema)` is how every handler reads its body: a missing body
is `{}`, anything but a JSON object is a 400, and each known field's type is
checked. An unknown field is ignored as Vault ignores it: it is dropped from the
returned body and its name is recorded in `Request.ignored`, which the pipeline
turns into Vault's warning ("Endpoint ignored these unrecognized parameters:
[a b]") on a response that has a body. Error messages name fields, never echo
values.

`parse_json(body)` is the one JSON parser of request bodies. Beyond the syntax it
refuses (400) what JSON parsers disagree on and what no later step (the audit
line, storage, a forwarded copy) can represent: `NaN`, `Infinity`, `-Infinity`
and numbers that overflow to them (`1e400`), integers longer than 4300 digits
(Python's conversion limit), lone UTF-16 surrogates (`"\\ud800"`, in keys and
values) and nesting deeper than `MAX_JSON_DEPTH`. The extra checks cost nothing on
ordinary bodies: the depth walk runs only when the body holds more than
`MAX_JSON_DEPTH` brackets, the surrogate walk only when it holds a `\\uD8..`-`\\uDF..`
escape.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from strongbox.errors import BadRequest

# name -> accepted python types; bool is never accepted where int is asked.
Schema = Mapping[str, tuple[type, ...]]
LIST = "LIST"


MAX_JSON_DEPTH = 64  # objects and arrays inside each other in a request body
MAX_INT_DIGITS = 4300  # Python's int/str conversion limit (sys.get_int_max_str_digits)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")
_BOM = b"\xef\xbb\xbf"


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
                parsed = parse_json(self.body)
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


def _non_finite(name: str) -> Any:
    raise BadRequest(f"the request body holds {name}, which is not a JSON number; send a "
                     "finite number (or a string)")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BadRequest("the request body holds a number too large for a 64-bit float "
                         "(it would overflow to Infinity); send a smaller number or a string")
    return value


# One decoder, built once: json.loads with hooks would build a decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_non_finite, parse_float=_finite_float)


def parse_json(body: bytes) -> Any:
    """A request body's JSON value, or BadRequest (see the module docstring)."""
    if body.startswith(_BOM):
        body = body[len(_BOM):]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the request body is not valid UTF-8: send JSON encoded as "
                         "UTF-8") from None
    try:
        parsed = _DECODER.decode(text)
    except BadRequest:
        raise
    except RecursionError:
        raise BadRequest(f"the request body is nested too deeply: at most {MAX_JSON_DEPTH} "
                         "levels of objects and arrays") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in request body at line {exc.lineno} column "
                         f"{exc.colno}: fix the syntax and send it again") from None
    except ValueError:  # int(): more digits than Python converts
        raise BadRequest(f"the request body holds an integer longer than {MAX_INT_DIGITS} "
                         "digits; send it as a string") from None
    deep = body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH
    escapes = _SURROGATE_ESCAPE.search(body) is not None
    if deep or escapes:
        _walk(parsed, deep, escapes)
    return parsed


def _walk(value: Any, deep: bool, strings: bool) -> None:
    """Depth (when `deep`) and lone surrogates in keys and values (when `strings`)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            if deep and depth > MAX_JSON_DEPTH:
                break
            for key, child in item.items():
                if strings:
                    _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if deep and depth > MAX_JSON_DEPTH:
                break
            stack.extend((child, depth + 1) for child in item)
        elif strings and isinstance(item, str):
            _check_string(item)
    else:
        return
    raise BadRequest(f"the request body is nested too deeply: at most {MAX_JSON_DEPTH} "
                     "levels of objects and arrays")


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest("the request body holds a lone UTF-16 surrogate escape (\\ud800-"
                         "\\udfff without its pair), which is not a Unicode character; send "
                         "valid text (binary data as base64)") from None


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
