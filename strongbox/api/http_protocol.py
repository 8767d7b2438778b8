"""uvicorn's httptools protocol, taught Vault's `LIST` method, bounded in how long a
request head may take, and handing the verified client certificate of the TLS
connection to the app (scope key `CLIENT_CERT`, DER).

LIST: llhttp (behind httptools) rejects methods it does not know, and Vault clients
(hvac, the Vault CLI) send `LIST`. h11 accepts it but halves throughput on the
read path (measured: /v1/sys/health 4.5k vs 8.5k req/s with TLS), so instead a
request line starting with `LIST ` is fed to the parser as `GET ` and the
ASGI scope's method is set back to `LIST` before the app runs. A request starts
where the previous one completed (`on_message_complete`), which may be anywhere in
a `data_received` chunk (pipelining) or split across chunks (`LI` + `ST /v1/...`):
a chunk is fed to the parser in pieces cut before every `LIST ` in it (and before a
trailing `L`, `LI`, `LIS` or `LIST`, held back until the next chunk says what it
is), so at each cut the parser's state says whether a request line starts there.
A chunk without `LIST ` is fed whole, as before.

Header timeout: from a connection's start, and from the first byte of each later
request on a keep-alive connection, the request line and headers must be complete
within `header_timeout` seconds (`limits.header_timeout_s`, default 10, as Vault's
ReadHeaderTimeout). Then a request that had begun gets a 408 and the connection is
closed; a connection that sent nothing (or only blank lines) is closed silently. Idle
keep-alive connections are closed by uvicorn's `timeout_keep_alive` (armed after each
response); the body has `limits.body_timeout_s` (the app) and the whole request
`limits.request_timeout_s`.
"""

from __future__ import annotations

import json
from asyncio import TimerHandle
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from strongbox.backend.request import CLIENT_CERT

LIST_PREFIX = b"LIST "
DEFAULT_HEADER_TIMEOUT = 10.0


class VaultHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, header_timeout: float | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if header_timeout is None:  # the app's limits.header_timeout_s (StrongBoxApp)
            header_timeout = getattr(self.config.app, "header_timeout", None)
        self.header_timeout = float(header_timeout or DEFAULT_HEADER_TIMEOUT)
        self._header_timer: TimerHandle | None = None
        self._head_started = False   # a byte of the current request head has arrived
        self._in_body = False        # headers complete, message not yet complete
        self._at_request_start = True  # the parser is between messages
        self._list_request = False
        self._held = b""             # a chunk's tail that may be the start of "LIST "
        self._client_cert = b""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        tls = transport.get_extra_info("ssl_object")
        # Only present when the listener asked for one (listener.tls_client_ca_file) and
        # OpenSSL verified it against that bundle during the handshake.
        self._client_cert = (tls.getpeercert(binary_form=True) or b"") if tls else b""
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    # The header timeout

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout,
                                                      self._header_timeout_expired)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout_expired(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request's answer is still being produced: let it finish, then
            # close (the stalled head behind it is never served).
            self.cycle.keep_alive = False
            return
        if not (self._head_started or self._held):
            self.transport.close()  # nothing was sent
            return
        message = (f"the request line and headers did not arrive within "
                   f"{self.header_timeout:g}s; send the whole request head at once")
        body = json.dumps({"errors": [message]}).encode()
        self.transport.write(b"".join([
            STATUS_LINE[408], b"content-type: application/json\r\n",
            b"content-length: ", str(len(body)).encode(), b"\r\n",
            b"connection: close\r\n\r\n", body]))
        self.transport.close()

    # Feeding the parser

    def data_received(self, data: bytes) -> None:
        if not self._in_body:  # (a request's first byte marks it begun: on_message_begin)
            self._arm_header_timer()
        if self._held:
            data, self._held = self._held + data, b""
        start = 0
        while start < len(data):
            cut = data.find(LIST_PREFIX, start + 1)
            if cut < 0:
                cut = len(data)
                for size in range(min(len(LIST_PREFIX) - 1, len(data) - start - 1), 0, -1):
                    if LIST_PREFIX.startswith(data[-size:]):
                        cut = len(data) - size
                        break
            piece = data[start:cut]
            start = cut
            if self._at_request_start:
                if piece.startswith(LIST_PREFIX):
                    piece = b"GET " + piece[len(LIST_PREFIX):]
                    self._list_request = True
                elif len(piece) < len(LIST_PREFIX) and LIST_PREFIX.startswith(piece) \
                        and start == len(data):
                    self._held = piece  # "LIS" at the end: wait for the rest
                    return
            super().data_received(piece)
            if self.transport.is_closing() or self.parser is None \
                    or self.transport.get_protocol() is not self:
                return  # a parse error answered 400, or the connection was upgraded

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._at_request_start = False
        self._head_started = True
        self._arm_header_timer()  # also for a request pipelined behind another

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        self._head_started = False
        self._in_body = True
        super().on_headers_complete()
        if self._client_cert:
            self.scope[CLIENT_CERT] = self._client_cert  # type: ignore[literal-required]
        if self._list_request:
            # The ASGI task was created but has not run yet: it sees LIST.
            self.scope["method"] = "LIST"
            self._list_request = False

    def on_message_complete(self) -> None:
        self._in_body = False
        self._at_request_start = True
        super().on_message_complete()
