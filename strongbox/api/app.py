"""The ASGI application and the one request pipeline (docs/design.md, "Request path").

request id → header sanity (400: a repeated single-valued header) → size limit (413) →
path validation (400: characters, `.`/`..` and empty segments, length) → namespace →
consistency
(forwarding, X-Vault-Index, Idempotency-Key) → route (`api.router`: the static
sys/ and auth/token/ table or a mount's backend) → seal (503) → token (403) →
policy (403) → token use → audit request → handler → response wrapping → audit
response → envelope. Every path, sys/ or mount, goes through the same steps;
what differs is the route's flags (`auth`, `unsealed`, `sudo`, `forward`) and the
backend's (`serves_data`, `check_token_first`).
A bare ASGI callable (no framework) keeps the hot path lean (docs/design.md §10).
Every response carries X-Request-Id and the security headers. Unexpected
exceptions are logged with the request id and answered with a generic 500.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

import lmdb
from opentelemetry import trace

from strongbox.api import (
    forwarding,
    namespaces,
    sys_audit,
    sys_auth,
    sys_generate_root,
    sys_leases,
    sys_loglevel,
    sys_metrics,
    sys_mount_read,
    sys_policy,
    sys_quotas,
    sys_raft,
    sys_rekey,
    sys_rekey_recovery,
    sys_seal,
    wrapping,
)
from strongbox.api.audit_entries import audit_refusal, audited
from strongbox.api.router import Router, Target
from strongbox.auth import cidrs, token_roles, token_store
from strongbox.backend.context import CAPABILITY, Context, PathTable, namespace_prefix
from strongbox.backend.request import CLIENT_CERT, LIST, Request, ignored_warning
from strongbox.backend.response import (
    HSTS,
    SECURITY_HEADERS,
    Response,
    encode,
    error_response,
)
from strongbox.core import Core
from strongbox.errors import (
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RequestTimeout,
    ServiceUnavailable,
    StrongBoxError,
)
from strongbox.observability import NodeObservability

log = logging.getLogger("strongbox.api")
# Every storage key built from a path (namespace, mount, path, a version or a hash) must
# stay within LMDB's 511-byte key limit: the path, with its namespace, is held to 448.
MAX_PATH = 448
PATH_RE = re.compile(r"^[A-Za-z0-9/_.+-]+$")
# Headers a request may carry once: two X-Vault-Token headers would be read one way here
# and another way there. X-Vault-Index may repeat (its values are joined, as a list).
SINGLE_HEADERS = {name.lower().encode(): name for name in (
    "X-Vault-Token", "Authorization", "X-Vault-Namespace", "X-Vault-Wrap-TTL",
    "X-Vault-Forward", "X-Vault-Inconsistent", "X-Strongbox-Consistency", "Idempotency-Key",
    "Content-Type", "Content-Length", "Transfer-Encoding")}
METHODS = ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "LIST")
Scope = dict[str, Any]
MAX_ANONYMOUS_WAITS = 32  # X-Vault-Index waits of requests without a token (logins), at once
STATIC = PathTable(
    exact={**sys_seal.ROUTES, **sys_raft.ROUTES, **sys_audit.ROUTES, **sys_metrics.ROUTES,
           **sys_policy.ROUTES, **token_store.ROUTES, **wrapping.ROUTES, **sys_auth.ROUTES,
           **namespaces.ROUTES, **sys_rekey.ROUTES, **sys_generate_root.ROUTES,
           **sys_mount_read.ROUTES, **token_roles.ROUTES,
           **sys_loglevel.ROUTES, **sys_leases.ROUTES, **sys_quotas.ROUTES,
           **sys_rekey_recovery.ROUTES},
    prefixes={**sys_audit.PREFIX_ROUTES, **sys_policy.PREFIX_ROUTES,
              **sys_auth.PREFIX_ROUTES, **namespaces.PREFIX_ROUTES,
              **sys_rekey.PREFIX_ROUTES, **sys_mount_read.PREFIX_ROUTES,
              **token_roles.PREFIX_ROUTES, **sys_leases.PREFIX_ROUTES,
              **sys_quotas.PREFIX_ROUTES})


def validate_path(path: str) -> str:
    if not path.startswith("/v1/"):
        raise NotFound("unknown path: the API lives under /v1/")
    rel = path[4:]
    if len(rel) > MAX_PATH:
        raise BadRequest(f"path is longer than {MAX_PATH} characters")
    if not PATH_RE.match(rel):
        raise BadRequest("path may contain only letters, digits and / _ . + -")
    segments = rel.split("/")
    if segments[-1] == "":
        segments.pop()  # one trailing slash is allowed (LIST folder/, as in Vault)
    if "" in segments:
        clean = "/".join(segment for segment in segments if segment)
        raise BadRequest(f"path has an empty segment (a leading '/' after /v1/ or '//'); "
                         f"send /v1/{clean}")
    if any(segment in (".", "..") for segment in segments):
        raise BadRequest("path segments '.' and '..' are not allowed")
    return rel


def check_headers(headers: list[tuple[bytes, bytes]]) -> None:
    """Refuse a request that repeats a header it may send once (before anything reads
    one of them)."""
    seen: set[bytes] = set()
    for name, _ in headers:
        if name in SINGLE_HEADERS:
            if name in seen:
                raise BadRequest(f"the {SINGLE_HEADERS[name]} header was sent more than "
                                 "once; send it once")
            seen.add(name)


class StrongBoxApp:
    def __init__(self, core: Core, tls: bool, obs: NodeObservability | None = None) -> None:
        self.core = core
        self.obs = obs
        self.tracer = obs.tracing.tracer if obs is not None else trace.NoOpTracer()
        self.router = Router(core.store, STATIC)
        self.max_body = core.config.limits.max_request_bytes
        self.max_snapshot = core.config.limits.max_snapshot_bytes
        self.body_timeout = core.config.limits.body_timeout_s
        self.header_timeout = core.config.limits.header_timeout_s  # read by http_protocol
        self.request_timeout = core.config.limits.request_timeout_s
        self.extra_headers = [*SECURITY_HEADERS, *([HSTS] if tls else [])]
        self.anonymous_waits = 0
        if obs is not None and obs.access_log is not None:
            core.on_log_level.append(obs.access_log.set_level)
        if obs is not None:
            core.on_retention.append(obs.metrics.kv_versions_retired.inc)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = scope.get("strongbox.request_id") or str(uuid.uuid4())
        started = time.perf_counter()
        route = self.obs.route(scope["path"]) if self.obs is not None else "/v1"
        with self.tracer.start_as_current_span(
                f"{scope['method']} {route}", kind=trace.SpanKind.SERVER,
                attributes={"http.request.method": scope["method"],
                            "strongbox.request_id": request_id}) as span:
            response = await self._respond(scope, receive, request_id)
            span.set_attribute("http.response.status_code", response.status)
            namespace = scope.get("strongbox.namespace")
            if namespace and self.obs is not None:  # label by the path inside it
                route = self.obs.route("/v1/" + scope["strongbox.path"],
                                       self.router.mount_paths(namespace))
                span.update_name(f"{scope['method']} {route}")
        if self.obs is not None:
            role = "sealed" if self.core.sealed else (
                "leader" if self.core.log.is_leader() else "follower")
            self.obs.observe(request_id=request_id, method=scope["method"], route=route,
                             status=response.status, role=role, started=started,
                             token_id=self._token_id(scope))
        headers = [*response.headers, *self.extra_headers,
                   (b"x-request-id", request_id.encode())]
        body = b"" if scope["method"] == "HEAD" else response.body
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status,
                    "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _respond(self, scope: Scope, receive: Any, request_id: str) -> Response:
        try:
            # asyncio.timeout, not wait_for: no extra task per request (~15 us each)
            async with asyncio.timeout(self.request_timeout):
                response = await self._handle(scope, receive, request_id)
        except TimeoutError:
            response = error_response(ServiceUnavailable(
                f"the request did not complete within {self.request_timeout:g}s; if it was a "
                "write, its outcome is unknown: retry with the same Idempotency-Key"))
        except StrongBoxError as exc:
            response = error_response(exc)
        except lmdb.BadValsizeError:  # a key no check caught: input, not the environment
            log.warning("a storage key of the request had an invalid size",
                        extra={"request_id": request_id})
            response = error_response(BadRequest(
                "a name or path in the request is empty or too long to store; shorten it"))
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            response = error_response(InternalError("internal error"))
        return response

    def _token_id(self, scope: Scope) -> str:
        """The request token's audit HMAC for the access line ("" without a token or
        while sealed): correlates a token's requests without showing it."""
        keyring = self.core.keyring
        if keyring is None:
            return ""
        token = _header_token(scope["headers"])
        return keyring.audit_hash(token) if token else ""

    def _index_token(self, index: int) -> bytes:
        """X-Vault-Index: opaque to clients; base64 of "<cluster id>:<raft index>"."""
        cluster = self.core.cluster()
        return base64.b64encode(f"{cluster.cluster_id if cluster else ''}:{index}".encode())

    async def _read_body(self, scope: Scope, receive: Any) -> bytes:
        limit = self.max_snapshot if scope["path"] in sys_raft.SNAPSHOT_PATHS else self.max_body
        expects_body = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    raise PayloadTooLarge(f"request body is larger than {limit} bytes")
                expects_body = value != b"0"
            elif name == b"transfer-encoding":
                expects_body = True
        if not expects_body:  # nothing to wait for: skip the timer (~18 us a request)
            message = await receive()
            return bytes(message.get("body", b""))
        chunks, size = [], 0
        while True:
            try:
                async with asyncio.timeout(self.body_timeout):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout(f"the request body did not arrive within "
                                     f"{self.body_timeout:g}s") from None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is larger than {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _handle(self, scope: Scope, receive: Any, request_id: str) -> Response:
        check_headers(scope["headers"])
        rel = validate_path(scope["path"])
        if scope["path"] in sys_raft.SNAPSHOT_PATHS and scope["method"] == "POST":
            # Up to max_snapshot_bytes may follow: only for a caller allowed to restore.
            token = _header_token(scope["headers"])
            record = self.core.authenticate(token)
            namespaced = any(name == b"x-vault-namespace" and
                             namespaces.header_namespace(value.decode("latin-1"))
                             for name, value in scope["headers"])
            if record.namespace or namespaced:
                raise PermissionDenied("permission denied: snapshot restores need a token of "
                                       "the root namespace, sent without X-Vault-Namespace")
            self.core.authorize(record, "sudo", rel)
        body = await self._read_body(scope, receive)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        method = scope["method"].upper()
        if method not in METHODS:
            raise MethodNotAllowed(f"HTTP method {method} is not supported")
        if method == "GET" and query.get("list", "").lower() == "true":
            method = LIST
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        indexes = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-vault-index"]
        if len(indexes) > 1:
            headers["x-vault-index"] = ",".join(indexes)
        client = scope.get("client") or ("", 0)
        namespace, rel = namespaces.resolve(self.core.store, headers.get("x-vault-namespace", ""),
                                            rel)
        if namespace and len(namespace) + 1 + len(rel) > MAX_PATH:
            raise BadRequest(f"path is longer than {MAX_PATH} characters with its namespace "
                             f"({namespace}/...)")
        if namespace:
            scope["strongbox.namespace"], scope["strongbox.path"] = namespace, rel
        request = Request(method=method, path=rel.rstrip("/") if method != LIST else rel,
                          query=query, headers=headers, body=body, request_id=request_id,
                          remote_addr=str(client[0]), namespace=namespace,
                          query_string=scope.get("query_string", b"").decode("latin-1"),
                          client_cert=scope.get(CLIENT_CERT, b""))
        early = await self._consistency(request, scope["path"])
        if early is not None:
            return early
        response = await self._pipeline(Context(request=request, core=self.core))
        if request.ignored and response.status == 200:
            response = _with_warning(response, ignored_warning(request.ignored))
        if request.write_index and response.status < 300:
            response.headers.append((b"x-vault-index", self._index_token(request.write_index)))
        return response

    async def _pipeline(self, ctx: Context) -> Response:
        request = ctx.request
        self.core.audit_sync.refresh()
        target = self.router.resolve(request.path, request.namespace)
        route = target.route
        if target.static and request.namespace:
            namespaces.check_namespaced(request.path)  # cluster-wide sys/ endpoints
        if target.token_first:  # secrets engines: 503, then 403, then 404/405 (Vault)
            await self._check_token(ctx, request.method, sudo=bool(route and route.sudo))
            if target.error is not None:
                raise target.error
            assert route is not None
            handler = route.handler_for(request.method, request.path)
        else:  # sys/, auth/token/, auth methods: 404/405 first, then what the route needs
            if not target.static:
                self.core.require_keyring()  # sealed: 503 before what is mounted shows
            if target.error is not None:
                raise target.error
            assert route is not None
            handler = route.handler_for(request.method, request.path)
            if route.auth:  # authenticate() checks the seal first: 503 before 403
                await self._check_token(ctx, request.method, sudo=route.sudo)
            elif route.unsealed:
                self.core.require_keyring()
        if target.backend is not None:
            await self._enter_mount(ctx, target)
        if route.forward and not self.core.log.is_leader():
            return await forwarding.forward(self.core, request, "/v1/" + request.path)
        return await wrapping.maybe_wrap(ctx, await audited(ctx, handler, target.mount_type))

    async def _enter_mount(self, ctx: Context, target: Target) -> None:
        """Set the mount on the context; the follower-read checks of data backends."""
        backend, request = target.backend, ctx.request
        assert backend is not None and target.mount is not None
        ctx.mount, ctx.path, ctx.match = target.mount, target.path, target.match
        ctx.secrets_engine = backend.kind == "secret"
        if not backend.serves_data:
            return
        if self.core.store.restore_in_progress():
            raise ServiceUnavailable("a snapshot restore is in progress; retry when it is done")
        if request.method in ("GET", "HEAD", LIST):
            if request.headers.get("x-strongbox-consistency", "").lower() == "consistent":
                await forwarding.consistent_barrier(self.core, origin=request)
            elif self.core.config.cluster.enabled:
                forwarding.check_staleness(self.core, self.core.config.cluster.max_staleness_s)

    async def _consistency(self, request: Request, raw_path: str) -> Response | None:
        """Forwarding, X-Vault-Index waits and Idempotency-Key (see api/forwarding.py)."""
        headers = request.headers
        key = headers.get("idempotency-key")
        if key is not None:
            if not 0 < len(key) <= 128:
                raise BadRequest("Idempotency-Key must be 1-128 characters")
            digest = hashlib.sha256(f"{request.method} {request.path}?{request.query_string}"
                                    .encode() + b"\0" + request.body).digest()
            request.idempotency = ("idem:" + self._scoped_key(request, key), digest)
        forward = headers.get("x-vault-forward", "").lower() == "active-node"
        index = forwarding.required_index(self.core, request)
        known = False
        if (forward or (request.token and index)) and not self.core.sealed:
            # Forwarding holds a worker on the leader: not for strangers. A token this
            # node does not know yet may still wait for the index it sent (it may have
            # been made on another node a moment ago), in the slots shared by requests
            # without a token; the pipeline checks it once the index is here.
            known = self._known_token(request.token)
            if not known and (forward and not index):
                self.core.authenticate(request.token)  # raises the usual 403
        leader = self.core.log.is_leader()
        if forward and not leader and known:
            return await forwarding.forward(self.core, request, raw_path)
        if index and not await self._wait(index, known):
            if headers.get("x-vault-inconsistent", "").lower() == "forward-active-node" \
                    and not leader and self._known_token(request.token):
                return await forwarding.forward(self.core, request, raw_path)  # no strangers
            raise forwarding.precondition_failed(index, self.core.store.applied_index())
        if forward and not leader:
            self.core.authenticate(request.token)  # now known here, or the usual 403
            return await forwarding.forward(self.core, request, raw_path)
        return None

    def _known_token(self, token: str | None) -> bool:
        try:
            self.core.authenticate(token)
        except PermissionDenied:
            return False
        return True

    async def _wait(self, index: int, authenticated: bool) -> bool:
        """Wait for `index` to apply here; requests without a token share a few slots."""
        if authenticated:
            return await forwarding.wait_for_index(self.core, index,
                                                   self.core.config.cluster.index_wait_s)
        if self.anonymous_waits >= MAX_ANONYMOUS_WAITS:
            return self.core.store.applied_index() >= index  # no slot: answer right away
        self.anonymous_waits += 1
        try:
            return await forwarding.wait_for_index(self.core, index,
                                                   self.core.config.cluster.index_wait_s)
        finally:
            self.anonymous_waits -= 1

    def _scoped_key(self, request: Request, key: str) -> str:
        """An Idempotency-Key is the caller's own: scoped by namespace and token (keyed
        hash), so another tenant reusing the same key neither collides nor pre-empts."""
        keyring = self.core.keyring
        caller = keyring.token_hash(request.token).hex() if keyring and request.token else ""
        return hashlib.sha256(f"{request.namespace}\0{caller}\0{key}".encode()).hexdigest()

    async def _check_token(self, ctx: Context, method: str, sudo: bool = False) -> None:
        try:
            ctx.token = token = self.core.authenticate(ctx.request.token)
            if token.bound_cidrs and not cidrs.admits(ctx.request.remote_addr,
                                                      token.bound_cidrs):
                raise PermissionDenied()  # token_bound_cidrs: as Vault, a plain 403
            ctx.acl_path = namespace_prefix(token.namespace, ctx.request.namespace) \
                + ctx.request.path
            self.core.authorize(token, CAPABILITY[method], ctx.acl_path)
            if sudo:
                self.core.authorize(token, "sudo", ctx.acl_path)
            await self.core.use_token(token, origin=ctx.request)
        except StrongBoxError as exc:
            audit_refusal(ctx, exc)  # failed and forbidden requests are on the record too
            raise


async def _lifespan(receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _with_warning(response: Response, warning: str) -> Response:
    """Add a warning to an envelope answer, as Vault's framework does for ignored fields
    (only when there is a response: a 204 stays a 204, as in Vault)."""
    try:
        payload = json.loads(response.body)
    except ValueError:
        return response
    if not isinstance(payload, dict) or "request_id" not in payload:
        return response  # bare objects (sys/health, sys/init...) have no warnings field
    payload["warnings"] = [*(payload.get("warnings") or []), warning]
    return Response(response.status, encode(payload), response.headers)


def _header_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The request token, read exactly as `Request.token` reads it: X-Vault-Token, else
    `Authorization: Bearer` (check_headers has refused repeats of either)."""
    bearer: str | None = None
    for name, value in headers:
        if name == b"x-vault-token" and value:
            return value.decode("latin-1")
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = value[7:].decode("latin-1").strip() or None
    return bearer
