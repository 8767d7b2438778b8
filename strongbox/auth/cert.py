"""auth/<mount>/ of type cert: log in with the TLS client certificate of the connection.

Paths (Vault's, so hvac's `client.auth.cert.*` works): `certs/:name` (POST/GET/DELETE),
`LIST certs`, `login` (optional `name`: try only that entry; no token).

A certs entry trusts a PEM `certificate`: the client's leaf certificate must be that
certificate itself (pinning) or be signed directly by it (a CA; an intermediate CA
must be the entry's certificate itself, since only the leaf reaches the node), be
valid at the node's time, and pass every constraint the entry sets:
`allowed_common_names`, `allowed_dns_sans`, `allowed_email_sans`, `allowed_uri_sans`
and `allowed_organizational_units` (globs with `*`; an empty list allows all). Entries
are tried in name order; the first that admits the certificate issues the token, with
the entry's `token_*` settings and the metadata Vault gives (`cert_name`,
`common_name`, `serial_number`, `subject_key_id`, `authority_key_id`).

The certificate comes only from the TLS handshake (`Request.client_cert`, DER): the
API listener asks for one when `listener.tls_client_ca_file` is set, and OpenSSL has
already verified the chain against that bundle; a client cannot supply it in a header.
A login forwarded to the leader carries the certificate in the cluster's own mTLS
channel, which only members can use. Every refusal is the same 400 (Vault's text),
audited with the reason; the throttle of the other methods applies per address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtensionOID, NameOID

from strongbox.auth import jwt_roles as roles
from strongbox.backend.context import Context, MountHandler, PathTable, mount_routes
from strongbox.backend.contract import Backend
from strongbox.backend.request import LIST
from strongbox.backend.response import Response, no_content, ok
from strongbox.errors import BadRequest, NotFound
from strongbox.pb import records_pb2 as rec

REFUSED = "invalid certificate or no client certificate supplied"
MAX_PEM_BYTES = 64 * 1024
CONSTRAINTS = ("allowed_common_names", "allowed_dns_sans", "allowed_email_sans",
               "allowed_uri_sans", "allowed_organizational_units")
CERT_SCHEMA: dict[str, tuple[type, ...]] = {
    **roles.TOKEN_SCHEMA, "certificate": roles.OPT_STR, "display_name": roles.OPT_STR,
    "allowed_names": roles.OPT_LIST, **dict.fromkeys(CONSTRAINTS, roles.OPT_LIST),
}


def parse_pem(text: str) -> x509.Certificate:
    """The first certificate of a PEM text; 400 naming the field when it is not one."""
    if len(text.encode()) > MAX_PEM_BYTES:
        raise BadRequest(f"'certificate' is larger than {MAX_PEM_BYTES} bytes")
    try:
        return x509.load_pem_x509_certificate(text.strip().encode())
    except ValueError:
        raise BadRequest("'certificate' must be a PEM encoded X.509 certificate") from None


# --- certs/:name ---------------------------------------------------------------------------


def _entry_fields(body: dict[str, Any], entry: dict[str, Any]) -> None:
    if body.get("certificate") is not None:
        parse_pem(body["certificate"])
        entry["certificate"] = body["certificate"].strip() + "\n"
    if "certificate" not in entry:
        raise BadRequest("'certificate' is required: the PEM CA (or the client's own "
                         "certificate) this entry trusts")
    if body.get("display_name") is not None:
        entry["display_name"] = body["display_name"][:128]
    legacy = roles.string_list(body, "allowed_names")  # Vault's older name for CNs
    for name in CONSTRAINTS:
        found = roles.string_list(body, name)
        if found is None and name == "allowed_common_names":
            found = legacy
        if found is not None:
            entry[name] = found
    roles.token_settings(body, entry)


write_cert = roles.role_writer(CERT_SCHEMA, _entry_fields, {})


async def read_cert(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    entry = roles.read_record(ctx, mount, "role", match["name"].lower())
    if entry is None:
        raise NotFound(f"no certs entry named {match['name'].lower()!r}")
    view = {"certificate": entry["certificate"],
            "display_name": entry.get("display_name", ""),
            **{name: entry.get(name, []) for name in CONSTRAINTS}, **roles.token_view(entry)}
    return ok(ctx.request.request_id, view)


async def list_certs(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    if ctx.request.method != LIST:
        raise BadRequest("use LIST (or GET ?list=true) on certs")
    names = roles.role_names(ctx, mount)
    if not names:
        raise NotFound("no certs entries")
    return ok(ctx.request.request_id, {"keys": names})


async def delete_cert(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    await roles.delete_record(ctx, mount, "role", match["name"].lower())
    return no_content()


# --- matching ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientCert:
    """What the constraints look at, read once from the leaf."""

    cert: x509.Certificate
    common_names: list[str]
    dns: list[str]
    emails: list[str]
    uris: list[str]
    units: list[str]

    @classmethod
    def from_der(cls, der: bytes) -> ClientCert:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            dns = san.get_values_for_type(x509.DNSName)
            emails = san.get_values_for_type(x509.RFC822Name)
            uris = san.get_values_for_type(x509.UniformResourceIdentifier)
        except x509.ExtensionNotFound:
            dns, emails, uris = [], [], []
        return cls(cert, _names(subject, NameOID.COMMON_NAME), dns, emails, uris,
                   _names(subject, NameOID.ORGANIZATIONAL_UNIT_NAME))

    def values(self, constraint: str) -> list[str]:
        return {"allowed_common_names": self.common_names, "allowed_dns_sans": self.dns,
                "allowed_email_sans": self.emails, "allowed_uri_sans": self.uris,
                "allowed_organizational_units": self.units}[constraint]


def _names(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attribute.value) for attribute in name.get_attributes_for_oid(oid)]


def trusted_by(client: x509.Certificate, anchor: x509.Certificate) -> bool:
    """The leaf is the anchor itself, or the anchor signed it directly."""
    if client == anchor:
        return True
    try:
        client.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def admits(entry: dict[str, Any], client: ClientCert, now: datetime) -> bool:
    cert = client.cert
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return False
    if not trusted_by(cert, parse_pem(entry["certificate"])):
        return False
    for constraint in CONSTRAINTS:
        patterns = entry.get(constraint) or []
        if patterns and not any(roles.glob_match(p, value) for p in patterns
                                for value in client.values(constraint)):
            return False
    return True


def _hex(value: bytes) -> str:
    return ":".join(f"{b:02x}" for b in value)


def _key_id(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return ""
    raw = getattr(value, "digest", None) or getattr(value, "key_identifier", None) or b""
    return _hex(raw)


def metadata(name: str, client: ClientCert) -> dict[str, str]:
    """Vault's login metadata: the serial in decimal, key ids as colon-separated hex."""
    cert = client.cert
    return {"cert_name": name, "common_name": (client.common_names or [""])[0],
            "serial_number": str(cert.serial_number),
            "subject_key_id": _key_id(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER),
            "authority_key_id": _key_id(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)}


async def login(ctx: Context, mount: rec.MountRecord, match: re.Match[str]) -> Response:
    body = ctx.request.json_body({"name": roles.OPT_STR})
    requested = (body.get("name") or "").lower()
    roles.throttle(ctx, mount, requested or "*")
    der = ctx.request.client_cert
    if not der:
        raise BadRequest(f"{REFUSED} (the connection presented no client certificate)")
    try:
        client = ClientCert.from_der(der)
    except ValueError:
        raise BadRequest(REFUSED) from None
    now = datetime.fromtimestamp(ctx.now_ns() / 1e9, UTC)
    names = [requested] if requested else roles.role_names(ctx, mount)
    for name in names:
        entry = roles.read_record(ctx, mount, "role", name)
        if entry is not None and admits(entry, client, now):
            display = entry.get("display_name") or name
            return await roles.issue_login(ctx, mount, name, entry, display,
                                           metadata(name, client))
    raise BadRequest(f"{REFUSED} (no certs entry admits it)")


_ROUTES: list[tuple[str, dict[str, MountHandler], bool]] = [
    (r"certs/?", {"LIST": list_certs, "GET": list_certs}, True),
    (f"certs/{roles.NAME}", {"POST": write_cert, "GET": read_cert, "DELETE": delete_cert},
     True),
    (r"login", {"POST": login}, False),
]
BACKEND = Backend(kind="auth", type="cert", description="TLS client certificates",
                  paths=PathTable(patterns=mount_routes(_ROUTES)))
