"""auth/<mount>/ of type approle: machine logins with a role id and a secret id.

`role/:name` (POST/GET/DELETE), `LIST role`, `role/:name/role-id` (GET, POST to
choose one), `role/:name/secret-id` (POST issues one, LIST its accessors),
`role/:name/secret-id/lookup|destroy`, `role/:name/secret-id-accessor/lookup|destroy`,
and `login` (`{"role_id", "secret_id"}`, no token).

Secret ids are random and stored only as keyed hashes, with an accessor to
manage them. A secret id may expire (`secret_id_ttl`), run out
(`secret_id_num_uses`: the use is spent in the same Raft entry that creates the
token, so a single-use secret id logs in exactly once, cluster-wide) and be bound
to client CIDRs. Every failed login answers the same "invalid role or secret ID".
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import uuid
from typing import Any

from strongbox.auth import cidrs
from strongbox.auth import store as auth_store
from strongbox.auth.issue import issue, with_default
from strongbox.auth.token_store import duration, policy_names
from strongbox.auth.tokens import initial_ttl
from strongbox.backend.context import Context, MountHandler, PathTable, mount_routes
from strongbox.backend.contract import Backend, ExpiryHook
from strongbox.backend.request import LIST
from strongbox.backend.response import Response, envelope, json_response, no_content, ok
from strongbox.errors import BadRequest, NotFound
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec
from strongbox.state.lifetimes import ends_at, lapsed

NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9_.@-]{0,127})"
MAX_USES = 2**31 - 1
INVALID = "invalid role or secret ID"
ROLE_SCHEMA = {
    "token_policies": (list, str, type(None)), "policies": (list, str, type(None)),
    "token_ttl": (str, int, type(None)), "token_max_ttl": (str, int, type(None)),
    "secret_id_ttl": (str, int, type(None)), "secret_id_num_uses": (int, type(None)),
    "secret_id_bound_cidrs": (list, str, type(None)), "bind_secret_id": (bool, type(None)),
    "token_num_uses": (int, type(None)), "token_period": (str, int, type(None)),
    "period": (str, int, type(None)), "token_type": (str, type(None)),
    "local_secret_ids": (bool, type(None)), "enable_local_secret_ids": (bool, type(None)),
    "token_explicit_max_ttl": (str, int, type(None)),
    "token_no_default_policy": (bool, type(None)),
    "token_bound_cidrs": (list, str, type(None)), "role_id": (str, type(None)),
}


_key = auth_store.entry_key


def _role(ctx: Context, mount: rec.MountRecord, name: str) -> rec.AppRoleRole | None:
    raw = auth_store.read(ctx, _key(ctx, mount, "role", name.lower()))
    return None if raw is None else rec.AppRoleRole.FromString(raw)


def _existing_role(ctx: Context, mount: rec.MountRecord, name: str) -> rec.AppRoleRole:
    role = _role(ctx, mount, name)
    if role is None:
        raise NotFound(f"no role named {name.lower()!r}")
    return role


def _uses(value: Any, field: str) -> int:
    if value is None:
        return 0
    if not 0 <= value <= MAX_USES:
        raise BadRequest(f"'{field}' must be between 0 and {MAX_USES}")
    return int(value)


def _apply_role_fields(role: rec.AppRoleRole, body: dict[str, Any]) -> None:
    policies = body.get("token_policies", body.get("policies"))
    if policies is not None:
        del role.token_policies[:]
        role.token_policies.extend(policy_names(policies, "token_policies",
                                                         allow_root=False))
    if body.get("token_bound_cidrs") is not None:
        del role.token_bound_cidrs[:]
        role.token_bound_cidrs.extend(cidrs.parse(body["token_bound_cidrs"], "token_bound_cidrs"))
    for field in ("token_ttl", "token_max_ttl", "secret_id_ttl"):
        if body.get(field) is not None:
            setattr(role, field + "_ns", duration(body, field))
    if body.get("token_explicit_max_ttl") is not None:  # Vault's hard cap: we keep the lower
        cap = duration(body, "token_explicit_max_ttl")
        role.token_max_ttl_ns = min(filter(None, (cap, role.token_max_ttl_ns)), default=0)
    if body.get("token_no_default_policy"):
        raise BadRequest("'token_no_default_policy' is not supported: tokens always get "
                         "the default policy")
    period_field = "token_period" if body.get("token_period") is not None else "period"
    if body.get(period_field) is not None:
        role.token_period_ns = duration(body, period_field)
    if "secret_id_num_uses" in body:
        role.secret_id_num_uses = _uses(body["secret_id_num_uses"], "secret_id_num_uses")
    if "token_num_uses" in body:
        role.token_num_uses = _uses(body["token_num_uses"], "token_num_uses")
    if body.get("secret_id_bound_cidrs") is not None:
        del role.secret_id_bound_cidrs[:]
        role.secret_id_bound_cidrs.extend(cidrs.parse(body["secret_id_bound_cidrs"],
                                                 "secret_id_bound_cidrs"))
    if body.get("bind_secret_id") is not None:
        role.bind_secret_id = body["bind_secret_id"]
    if body.get("token_type") is not None:  # "" = unset: reads back "default", as Vault
        kind = body["token_type"].replace("default-", "")
        kind = "" if kind == "default" else kind
        if kind not in ("", "service", "batch"):
            raise BadRequest("'token_type' must be \"service\", \"batch\" or \"default\"")
        role.token_type = kind
    if role.token_type == "batch" and (role.token_num_uses or role.token_period_ns):  # noqa: S105
        raise BadRequest("batch tokens cannot be periodic or limited-use: use token_type "
                         "\"service\" with token_num_uses or token_period")
    if not role.bind_secret_id and not role.secret_id_bound_cidrs:
        raise BadRequest("a role without bind_secret_id must set secret_id_bound_cidrs; "
                         "otherwise anyone who knows the role id could log in")


def _role_id(body: dict[str, Any]) -> str | None:
    new_id = body.get("role_id")
    if new_id is not None and not 1 <= len(new_id) <= 256:
        raise BadRequest("'role_id' must be 1-256 characters")
    return new_id or None


async def write_role(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    """Create or update a role; `role_id` in the body sets the role id (as Vault)."""
    name = match["name"].lower()
    body = ctx.request.json_body(ROLE_SCHEMA)
    wanted = _role_id(body)
    role = _role(ctx, mount, name)
    write = cmd_pb.MountWrite()
    if role is None:  # a new role: its role id, and no concurrent creation may win twice
        role = rec.AppRoleRole(role_id=wanted or str(uuid.uuid4()), bind_secret_id=True,
                               created_time_ns=ctx.now_ns())
        write.puts.add(key=_key(ctx, mount, "role_id", role.role_id), value=name.encode())
        write.expect_absent.extend([_key(ctx, mount, "role", name),
                                    _key(ctx, mount, "role_id", role.role_id)])
    else:
        write.expect_present.append(_key(ctx, mount, "role", name))
        if wanted is not None and wanted != role.role_id:
            write.deletes.append(_key(ctx, mount, "role_id", role.role_id))
            write.puts.add(key=_key(ctx, mount, "role_id", wanted), value=name.encode())
            write.expect_absent.append(_key(ctx, mount, "role_id", wanted))
            role.role_id = wanted
    _apply_role_fields(role, body)
    write.puts.add(key=_key(ctx, mount, "role", name), value=role.SerializeToString())
    await auth_store.write(ctx, mount, write, conflict="the role was created concurrently, "
                                                       "or that role_id belongs to another "
                                                       "role; check and send yours again")
    return no_content()


async def read_role(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    role = _existing_role(ctx, mount, match["name"])
    policies = list(role.token_policies)
    return ok(ctx.request.request_id, {
        "token_policies": policies, "policies": policies,
        "token_ttl": role.token_ttl_ns // 10**9, "token_max_ttl": role.token_max_ttl_ns // 10**9,
        "secret_id_ttl": role.secret_id_ttl_ns // 10**9,
        "secret_id_num_uses": role.secret_id_num_uses,
        "secret_id_bound_cidrs": list(role.secret_id_bound_cidrs),
        "bind_secret_id": role.bind_secret_id, "token_num_uses": role.token_num_uses,
        "token_period": role.token_period_ns // 10**9,
        "token_type": role.token_type or "default",
        "local_secret_ids": False, "token_bound_cidrs": list(role.token_bound_cidrs)})


async def delete_role(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    name = match["name"].lower()
    role = _role(ctx, mount, name)
    if role is not None:
        await auth_store.write(ctx, mount, cmd_pb.MountWrite(
            deletes=[_key(ctx, mount, "role", name), _key(ctx, mount, "role_id", role.role_id)],
            delete_prefixes=[_key(ctx, mount, "secret", name, ""),
                             _key(ctx, mount, "secret_acc", name, "")]))
    return no_content()


async def list_roles(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on role")
    names = [k.decode() for k, _ in auth_store.scan(ctx, _key(ctx, mount, "role", ""))]
    if not names:
        raise NotFound("no roles")
    return ok(ctx.request.request_id, {"keys": names})


async def read_role_id(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    role = _existing_role(ctx, mount, match["name"])
    return ok(ctx.request.request_id, {"role_id": role.role_id})


async def write_role_id(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    name = match["name"].lower()
    role = _existing_role(ctx, mount, name)
    body = ctx.request.json_body({"role_id": (str,)}, required=("role_id",))
    new_id = body["role_id"]
    if not 1 <= len(new_id) <= 256:
        raise BadRequest("'role_id' must be 1-256 characters")
    if new_id == role.role_id:
        return no_content()
    old_id, role.role_id = role.role_id, new_id
    await auth_store.write(ctx, mount, cmd_pb.MountWrite(
        puts=[auth_store.put(_key(ctx, mount, "role", name), role.SerializeToString()),
              auth_store.put(_key(ctx, mount, "role_id", new_id), name.encode())],
        deletes=[_key(ctx, mount, "role_id", old_id)],
        expect_absent=[_key(ctx, mount, "role_id", new_id)]),
        conflict="that role_id belongs to another role")
    return no_content()


def _secret_key(ctx: Context, mount: rec.MountRecord, role: str, secret_id: str) -> bytes:
    digest = ctx.core.require_keyring().token_hash("approle-secret-id|" + secret_id).hex()
    return _key(ctx, mount, "secret", role, digest)


SECRET_ID_SCHEMA = {"metadata": (str, dict, type(None)), "cidr_list": (list, str, type(None)),
                    "ttl": (str, int, type(None)), "num_uses": (int, type(None)),
                    "token_bound_cidrs": (list, str, type(None))}


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    meta = body.get("metadata") or {}
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            raise BadRequest("'metadata' must be a JSON object of strings") from None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise BadRequest("'metadata' must be a JSON object of strings")
    return meta


async def issue_secret_id(ctx: Context, mount: rec.MountRecord,
                          match: re.Match[str]) -> Response:
    body = ctx.request.json_body(SECRET_ID_SCHEMA)
    return await _store_secret_id(ctx, mount, match["name"].lower(), body, str(uuid.uuid4()))


async def custom_secret_id(ctx: Context, mount: rec.MountRecord,
                           match: re.Match[str]) -> Response:
    """role/:name/custom-secret-id: the caller chooses the secret id (Vault)."""
    body = ctx.request.json_body({**SECRET_ID_SCHEMA, "secret_id": (str,)},
                                 required=("secret_id",))
    if not 1 <= len(body["secret_id"]) <= 1024:
        raise BadRequest("'secret_id' must be 1-1024 characters")
    return await _store_secret_id(ctx, mount, match["name"].lower(), body, body["secret_id"])


async def _store_secret_id(ctx: Context, mount: rec.MountRecord, name: str,
                           body: dict[str, Any], secret_id: str) -> Response:
    role = _existing_role(ctx, mount, name)
    meta = _metadata(body)
    ttl = duration(body, "ttl") or role.secret_id_ttl_ns
    if role.secret_id_ttl_ns:
        ttl = min(ttl, role.secret_id_ttl_ns)
    uses = _uses(body.get("num_uses"), "num_uses") or role.secret_id_num_uses
    if role.secret_id_num_uses:
        uses = min(uses, role.secret_id_num_uses)
    cidr_list = cidrs.parse(body.get("cidr_list"), "cidr_list")
    if role.secret_id_bound_cidrs and not all(
            _within(c, list(role.secret_id_bound_cidrs)) for c in cidr_list):
        raise BadRequest("'cidr_list' must lie within the role's secret_id_bound_cidrs: "
                         + ", ".join(role.secret_id_bound_cidrs))
    accessor = str(uuid.uuid4())
    key = _secret_key(ctx, mount, name, secret_id)
    record = rec.SecretIdRecord(accessor=accessor, creation_time_ns=ctx.now_ns(), ttl_ns=ttl,
                                num_uses=uses, cidr_list=cidr_list, metadata=meta)
    await auth_store.write(ctx, mount, cmd_pb.MountWrite(
        puts=[auth_store.put(key, record.SerializeToString()),
              auth_store.put(_key(ctx, mount, "secret_acc", name, accessor), key)],
        expect_present=[_key(ctx, mount, "role", name)], expect_absent=[key]),
        conflict="SecretID is already registered")
    return ok(ctx.request.request_id, {"secret_id": secret_id, "secret_id_accessor": accessor,
                                       "secret_id_ttl": ttl // 10**9,
                                       "secret_id_num_uses": uses})


async def list_secret_ids(ctx: Context, mount: rec.MountRecord,
                          match: re.Match[str]) -> Response:
    name = match["name"].lower()
    _existing_role(ctx, mount, name)
    accessors = [k.decode() for k, _ in
                 auth_store.scan(ctx, _key(ctx, mount, "secret_acc", name, ""))]
    if not accessors:
        raise NotFound("no secret ids")
    return ok(ctx.request.request_id, {"keys": accessors})


def _secret_view(record: rec.SecretIdRecord) -> dict[str, Any]:
    end = ends_at(record)
    return {"secret_id_accessor": record.accessor, "secret_id_num_uses": record.num_uses,
            "secret_id_ttl": record.ttl_ns // 10**9, "cidr_list": list(record.cidr_list),
            "metadata": dict(record.metadata), "creation_time": record.creation_time_ns // 10**9,
            "expiration_time": end // 10**9}


def _find_secret(ctx: Context, mount: rec.MountRecord, name: str, body: dict[str, Any],
                 ) -> tuple[bytes, bytes, rec.SecretIdRecord] | None:
    """(record key, accessor key, record) by secret_id or by secret_id_accessor."""
    if "secret_id" in body:
        key = _secret_key(ctx, mount, name, body["secret_id"])
        raw = auth_store.read(ctx, key)
        if raw is None:
            return None
        record = rec.SecretIdRecord.FromString(raw)
        return key, _key(ctx, mount, "secret_acc", name, record.accessor), record
    acc_key = _key(ctx, mount, "secret_acc", name, body["secret_id_accessor"])
    key_raw = auth_store.read(ctx, acc_key)
    raw = auth_store.read(ctx, key_raw) if key_raw else None
    if key_raw is None or raw is None:
        return None
    return key_raw, acc_key, rec.SecretIdRecord.FromString(raw)


def _secret_op(field: str, destroy: bool) -> Any:
    async def handler(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
        name = match["name"].lower()
        body = ctx.request.json_body({field: (str,)}, required=(field,))
        found = _find_secret(ctx, mount, name, body)
        if not destroy:
            if found is None and field == "secret_id":
                return no_content()  # Vault: a destroyed or unknown secret id is a 204
            if found is None:
                raise NotFound("no such secret id")
            return ok(ctx.request.request_id, _secret_view(found[2]))
        if found is not None:
            await auth_store.write(ctx, mount, cmd_pb.MountWrite(deletes=[found[0], found[1]]))
        return no_content()
    return handler


def _within(cidr: str, bounds: list[str]) -> bool:
    network = ipaddress.ip_network(cidr)
    return any(network.version == ipaddress.ip_network(b).version
               and network.subnet_of(ipaddress.ip_network(b))  # type: ignore[arg-type]
               for b in bounds)


async def login(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    body = ctx.request.json_body({"role_id": (str,), "secret_id": (str, type(None))},
                                 required=("role_id",))
    name_raw = auth_store.read(ctx, _key(ctx, mount, "role_id", body["role_id"]))
    role = _role(ctx, mount, name_raw.decode()) if name_raw else None
    # The index may hold a role id that was rotated away: only the role's current one counts.
    if name_raw is None or role is None or \
            not hmac.compare_digest(role.role_id.encode(), body["role_id"].encode()):
        raise BadRequest(INVALID)
    name, consume, meta = name_raw.decode(), b"", {}
    bindings = [list(role.secret_id_bound_cidrs)]  # every binding must admit the client
    if role.bind_secret_id:
        found = _find_secret(ctx, mount, name, {"secret_id": body.get("secret_id") or ""})
        if found is None:
            raise BadRequest(INVALID)
        consume, record = found[0], found[2]
        meta = dict(record.metadata)  # Vault returns it in auth.metadata
        if lapsed(record, ctx.now_ns()):
            raise BadRequest(INVALID)
        bindings.append(list(record.cidr_list))
    if any(bound and not cidrs.admits(ctx.request.remote_addr, bound) for bound in bindings):
        raise BadRequest(INVALID)
    token = rec.TokenRecord(
        policies=with_default(list(role.token_policies)), display_name=f"approle-{name}",
        ttl_ns=initial_ttl(role.token_ttl_ns, role.token_period_ns, role.token_max_ttl_ns),
        explicit_max_ttl_ns=role.token_max_ttl_ns, period_ns=role.token_period_ns,
        num_uses=role.token_num_uses, namespace=ctx.request.namespace,
        meta={**meta, "role_name": name}, renewable=role.token_type != "batch",  # noqa: S105
        type=role.token_type or "service", auth_path=f"auth/{mount.path}login",
        mount_path=mount.path, mount_uuid=mount.uuid,
        bound_cidrs=list(role.token_bound_cidrs))
    block = await issue(ctx, token, consume=consume)
    return json_response(200, envelope(ctx.request.request_id, None, auth=block))


_ROUTES: list[tuple[str, dict[str, MountHandler], bool]] = [
    (r"role/?", {"LIST": list_roles, "GET": list_roles}, True),
    (f"role/{NAME}", {"POST": write_role, "GET": read_role, "DELETE": delete_role},
     True),
    (f"role/{NAME}/role-id", {"GET": read_role_id, "POST": write_role_id}, True),
    (f"role/{NAME}/secret-id/?", {"POST": issue_secret_id, "LIST": list_secret_ids,
                                              "GET": list_secret_ids}, True),
    (f"role/{NAME}/custom-secret-id", {"POST": custom_secret_id}, True),
    (f"role/{NAME}/secret-id/lookup", {"POST": _secret_op("secret_id", False)},
     True),
    (f"role/{NAME}/secret-id/destroy", {"POST": _secret_op("secret_id", True),
                                                    "DELETE": _secret_op("secret_id", True)},
     True),
    (f"role/{NAME}/secret-id-accessor/lookup",
     {"POST": _secret_op("secret_id_accessor", False)}, True),
    (f"role/{NAME}/secret-id-accessor/destroy",
     {"POST": _secret_op("secret_id_accessor", True),
      "DELETE": _secret_op("secret_id_accessor", True)}, True),
    (r"login", {"POST": login}, False),
]



def _secret_id_lapsed(parts: tuple[str, ...], raw: bytes, now_ns: int) -> bool:
    return lapsed(rec.SecretIdRecord.FromString(raw), now_ns)


def _secret_id_index(parts: tuple[str, ...], raw: bytes) -> list[tuple[str, ...]]:
    """The accessor index entry that goes with a secret id ("secret", role, hash)."""
    return [("secret_acc", parts[1], rec.SecretIdRecord.FromString(raw).accessor)]


BACKEND = Backend(kind="auth", type="approle",
                  description="role ids and secret ids for applications",
                  paths=PathTable(patterns=mount_routes(_ROUTES)),
                  expiry=ExpiryHook(kinds=("secret",), expired=_secret_id_lapsed,
                                    related=_secret_id_index))
