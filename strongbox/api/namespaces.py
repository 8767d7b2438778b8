"""Namespaces: which tenant a request belongs to, and sys/namespaces.

`resolve(store, header, path)` combines the `X-Vault-Namespace` header and a path
prefix, as Vault does: header "team-a" + path "dev/secret/data/x" is namespace
"team-a/dev" when that namespace exists. An unknown namespace in the header is a
404. Each namespace has its own mounts, policies, tokens and auth methods; the
cluster-wide endpoints (seal, raft, audit, keys) live in the root namespace only.

sys/namespaces/:name creates (POST/PUT), reads (GET) and deletes (DELETE) a child
of the request's namespace; LIST sys/namespaces lists the children. Deleting a
namespace deletes its data and revokes its tokens; one with children is refused.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Protocol

from strongbox.backend.context import Context, Route
from strongbox.backend.request import LIST
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest, NotFound
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.policy import DEFAULT_POLICY, DEFAULT_POLICY_NAME

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
RESERVED = frozenset({"root", "sys", "audit", "auth", "cubbyhole", "identity", "v1"})
MAX_DEPTH = 8
MAX_PATH = 256  # a namespace's full path ("team-a/dev"): its storage keys stay short
ROOT_ONLY = ("sys/seal", "sys/unseal", "sys/init", "sys/storage/", "sys/audit", "sys/rotate",
             "sys/key-status", "sys/metrics", "sys/step-down", "sys/rekey", "sys/generate-root",
             "sys/decode-token", "sys/loglevel")


class NamespaceTable(Protocol):
    """What `resolve` reads of the replicated store (`Store` is one)."""

    def namespace(self, path: str) -> rec.NamespaceRecord | None: ...


def header_namespace(header: str) -> str:
    """The namespace an `X-Vault-Namespace` value names ("" = root, also for "root")."""
    namespace = header.strip().strip("/")
    return "" if namespace == "root" else namespace


def resolve(store: NamespaceTable, header: str, path: str) -> tuple[str, str]:
    """(namespace, path inside it) of a request."""
    namespace = header_namespace(header)
    if namespace and (len(namespace) > MAX_PATH or namespace.count("/") >= MAX_DEPTH or
                      not all(NAME_RE.match(part) for part in namespace.split("/"))):
        raise BadRequest(f"X-Vault-Namespace must be a namespace path: names of 1-64 "
                         f"letters, digits, '-' or '_' separated by '/', at most {MAX_DEPTH} "
                         f"deep and {MAX_PATH} characters")
    if namespace and store.namespace(namespace) is None:
        raise NotFound(f"namespace {namespace!r} does not exist")
    for _ in range(MAX_DEPTH):
        head, _, rest = path.partition("/")
        if not rest or head in RESERVED or not NAME_RE.match(head):
            break  # (a name no namespace can have is never looked up)
        candidate = f"{namespace}/{head}" if namespace else head
        if store.namespace(candidate) is None:
            break
        namespace, path = candidate, rest
    return namespace, path


def check_namespaced(path: str) -> None:
    """Cluster-wide endpoints refuse requests made inside a namespace."""
    if path.startswith(ROOT_ONLY) and not path.startswith("sys/seal-status"):
        raise BadRequest(f"{path} is only available in the root namespace; send the request "
                         "without X-Vault-Namespace")


def _info(record: rec.NamespaceRecord, parent: str) -> dict[str, Any]:
    return {"id": record.id, "path": record.path[len(parent) + 1 if parent else 0:] + "/",
            "custom_metadata": dict(record.custom_metadata)}


def _name(ctx: Context) -> tuple[str, str]:
    name = ctx.request.path[len("sys/namespaces/"):].strip("/")
    if not NAME_RE.match(name) or name.lower() in RESERVED:
        raise BadRequest("a namespace name is 1-64 letters, digits, '-' or '_' (one path "
                         "segment; create nested namespaces from inside their parent), and "
                         f"not one of {', '.join(sorted(RESERVED))}")
    parent = ctx.request.namespace
    return name, f"{parent}/{name}" if parent else name


async def create(ctx: Context) -> Response:
    body = ctx.request.json_body({"custom_metadata": (dict, type(None))})
    meta = body.get("custom_metadata") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise BadRequest("'custom_metadata' must map strings to strings")
    _, path = _name(ctx)
    if path.count("/") >= MAX_DEPTH:
        raise BadRequest(f"namespaces nest at most {MAX_DEPTH} deep")
    if len(path) > MAX_PATH:
        raise BadRequest(f"a namespace path (with its parents' names) is at most {MAX_PATH} "
                         "characters; choose a shorter name")
    now = ctx.now_ns()
    record = rec.NamespaceRecord(path=path, id=uuid.uuid4().hex, created_time_ns=now,
                                 custom_metadata=meta)
    default = rec.PolicyRecord(name=DEFAULT_POLICY_NAME, text=DEFAULT_POLICY,
                               created_time_ns=now, updated_time_ns=now)
    result = await ctx.submit(cmd_pb.Command(namespace_create=cmd_pb.NamespaceCreate(
        namespace=record, default_policy=default)))
    if result.code == result.CONFLICT:
        existing = ctx.core.store.namespace(path)
        if existing is None:
            raise BadRequest(result.message)
        record = existing  # creating an existing namespace answers it, as Vault does
    elif result.code != result.OK:
        raise BadRequest(result.message)
    return ok(ctx.request.request_id, _info(record, ctx.request.namespace))


async def read(ctx: Context) -> Response:
    _, path = _name(ctx)
    record = ctx.core.store.namespace(path)
    if record is None:
        raise NotFound(f"namespace {path!r} does not exist")
    return ok(ctx.request.request_id, _info(record, ctx.request.namespace))


async def delete(ctx: Context) -> Response:
    _, path = _name(ctx)
    result = await ctx.submit_revocation(cmd_pb.Command(namespace_delete=cmd_pb.NamespaceDelete(
        path=path)))
    if result.code == result.INVALID:
        raise BadRequest(result.message)
    return no_content()  # deleting a missing namespace succeeds


async def list_children(ctx: Context) -> Response:
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on sys/namespaces")
    parent = ctx.request.namespace
    children = ctx.core.store.namespaces(parent)
    if not children:
        raise NotFound("no namespaces")
    info = {_info(c, parent)["path"]: _info(c, parent) for c in children}
    return ok(ctx.request.request_id, {"keys": sorted(info), "key_info": info})


ROUTES = {"sys/namespaces": Route({"LIST": list_children, "GET": list_children})}
PREFIX_ROUTES = {"sys/namespaces/": Route({"POST": create, "GET": read, "DELETE": delete})}
