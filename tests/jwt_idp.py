"""Test stand-ins for identity providers: real keys, real signed JWTs, real HTTPS.

- `SigningKey.rsa(kid)` / `.ec(kid)`: a fresh private key; `mint(claims)` signs a JWT
  with joserfc; `public_pem()` / `public_jwk()` publish it.
- `projected_claims`, `legacy_claims`: Kubernetes service-account token claims of
  both generations; `github_claims`: a GitHub Actions OIDC token's claims.
- `unsigned(claims)` (alg "none") and `hs256_with_public_key(key, claims)` (the key
  confusion attack: HMAC keyed with the public key's PEM) are the forgeries.
- `IdentityProvider`: a threaded HTTPS server on loopback (certificate from
  `strongbox.testing.CertificateAuthority`) serving an OIDC discovery document and a
  JWKS whose keys tests rotate, and, standing in for a Kubernetes API server (which
  cannot run here), the TokenReview endpoint answering from a table of issued and
  revoked tokens. It counts requests per path.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
import json
import ssl
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc import jws, jwt
from joserfc.jwk import ECKey, RSAKey

from strongbox.testing import CertificateAuthority, ServerProcess

REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
REVIEWER_TOKEN = "reviewer-" + uuid.uuid4().hex


@dataclass
class SigningKey:
    key: RSAKey | ECKey
    kid: str
    alg: str

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(RSAKey.generate_key(2048, parameters={"kid": kid}), kid, "RS256")

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(ECKey.generate_key("P-256", parameters={"kid": kid}), kid, "ES256")

    def mint(self, claims: dict[str, Any], *, kid: str | None = None,
             omit_kid: bool = False) -> str:
        """A JWT signed by this key; `kid` overrides the header's key id."""
        header: dict[str, Any] = {"alg": self.alg, "typ": "JWT"}
        if not omit_kid:
            header["kid"] = kid or self.kid
        return jwt.encode(header, claims, self.key)

    def public_pem(self) -> str:
        return self.key.as_pem(private=False).decode()

    def certificate_pem(self) -> str:
        """A self-signed certificate of this key (hvac accepts only certificates as
        `pem_keys`; Kubernetes' sa.pub is a bare key, which StrongBox accepts too)."""
        private = self.key.private_key
        assert private is not None
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sa-signer-{self.kid}")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(private.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1)).sign(private, hashes.SHA256()))
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    def public_jwk(self) -> dict[str, Any]:
        return {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig",
                "alg": self.alg}


def unsigned(claims: dict[str, Any]) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jws.serialize_compact({"alg": "none"}, json.dumps(claims), None,
                                     algorithms=["none"])


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hs256_with_public_key(key: SigningKey, claims: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HS256 keyed with the public key's PEM bytes.

    Built by hand (HMAC over the signing input): JOSE libraries now refuse to make an
    oct key from a public key, which is exactly why an attacker would not use one."""
    header = _b64url(json.dumps({"alg": "HS256", "kid": key.kid}).encode())
    payload = _b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    mac = hmac.new(key.public_pem().encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(mac)}"


def projected_claims(namespace: str, name: str, *, issuer: str, audience: str = "vault",
                     now: float | None = None, ttl: int = 600, pod: str = "app-7f9c-x2") -> \
        dict[str, Any]:
    """A bound (projected) service-account token: nested `kubernetes.io`, short-lived."""
    at = int(time.time() if now is None else now)
    return {"aud": [audience], "exp": at + ttl, "iat": at, "nbf": at, "iss": issuer,
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "kubernetes.io": {"namespace": namespace,
                              "pod": {"name": pod, "uid": str(uuid.uuid4())},
                              "serviceaccount": {"name": name, "uid": str(uuid.uuid4())}}}


def legacy_claims(namespace: str, name: str) -> dict[str, Any]:
    """A legacy secret-based service-account token: flat claims, no `exp`."""
    prefix = "kubernetes.io/serviceaccount/"
    return {"iss": "kubernetes/serviceaccount", f"{prefix}namespace": namespace,
            f"{prefix}secret.name": f"{name}-token-abcde",
            f"{prefix}service-account.name": name,
            f"{prefix}service-account.uid": str(uuid.uuid4()),
            "sub": f"system:serviceaccount:{namespace}:{name}"}


def github_claims(issuer: str, repository: str = "acme/widgets", ref: str = "refs/heads/main",
                  audience: str = "https://github.com/acme", now: float | None = None,
                  ttl: int = 300) -> dict[str, Any]:
    """The claims of a GitHub Actions OIDC token (token.actions.githubusercontent.com)."""
    at = int(time.time() if now is None else now)
    owner = repository.split("/", maxsplit=1)[0]
    return {"jti": str(uuid.uuid4()), "sub": f"repo:{repository}:ref:{ref}", "aud": audience,
            "ref": ref, "sha": "d1f5c2a0", "repository": repository,
            "repository_owner": owner, "repository_id": "123456", "run_id": "987654",
            "run_number": "42", "run_attempt": "1", "actor": "octocat",
            "workflow": "deploy", "event_name": "push", "ref_type": "branch",
            "job_workflow_ref": f"{repository}/.github/workflows/deploy.yml@{ref}",
            "environment": "production", "iss": issuer, "nbf": at - 5, "iat": at,
            "exp": at + ttl}


@dataclass
class IdentityProvider:
    """HTTPS on loopback: discovery, JWKS and TokenReview (see the module docstring)."""

    ca_pem: str
    url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    issued: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # (user, uid, pod)
    revoked: set[str] = field(default_factory=set)
    hits: Counter[str] = field(default_factory=Counter)
    discovery_issuer: str = ""  # override to serve a wrong issuer

    def rotate(self, *keys: SigningKey) -> None:
        self.keys = list(keys)

    def register(self, token: str, claims: dict[str, Any]) -> str:
        """Make the stand-in API server accept `token` (as its claims say); returns it."""
        nested = claims.get("kubernetes.io")
        pod = ""
        if isinstance(nested, dict):
            uid, pod = nested["serviceaccount"]["uid"], nested["pod"]["name"]
        else:
            uid = claims["kubernetes.io/serviceaccount/service-account.uid"]
        self.issued[token] = (claims["sub"], uid, pod)
        return token

    def answer(self, method: str, path: str, body: bytes, auth: str) -> tuple[int, Any]:
        self.hits[path] += 1
        if method == "GET" and path == "/.well-known/openid-configuration":
            return 200, {"issuer": self.discovery_issuer or self.url,
                         "jwks_uri": self.url + "/jwks",
                         "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
        if method == "GET" and path == "/jwks":
            return 200, {"keys": [k.public_jwk() for k in self.keys]}
        if method == "GET" and path == "/huge":
            return 200, {"keys": [], "pad": "x" * (2 << 20)}
        if method == "POST" and path == REVIEW_PATH:
            return self._review(json.loads(body), auth)
        return 404, {"error": "not found"}

    def _review(self, request: dict[str, Any], auth: str) -> tuple[int, Any]:
        if auth != f"Bearer {REVIEWER_TOKEN}":
            return 401, {"kind": "Status", "status": "Failure", "code": 401}
        token = request["spec"]["token"]
        status: dict[str, Any] = {"authenticated": False}
        if token in self.issued and token not in self.revoked:
            user, uid, pod = self.issued[token]
            extra = {"authentication.kubernetes.io/pod-name": [pod]} if pod else {}
            status = {"authenticated": True,
                      "user": {"username": user, "uid": uid, "extra": extra}}
        elif token in self.revoked:
            status["error"] = "service account has been deleted"
        return 201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                     "status": status}


def _handler(idp: IdentityProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = idp.answer(self.command, self.path, body,
                                         self.headers.get("Authorization", ""))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass
    return Handler


@contextmanager
def identity_provider(directory: Path) -> Iterator[IdentityProvider]:
    """A running `IdentityProvider` on 127.0.0.1 (stopped on exit)."""
    ca = CertificateAuthority.create(directory / "idp-ca", name="test IdP CA")
    files = ca.issue(directory / "idp-ca", "idp")
    idp = IdentityProvider(ca_pem=ca.cert_file.read_text())
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(idp))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.cert, files.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    idp.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield idp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- talking to a node as a client on its own loopback address ------------------------------


def loopback_addresses(second_octet: int) -> Iterator[str]:
    """127.<second_octet>.x.y, a fresh one each time: Linux routes all of 127/8 to lo, so
    each login gets its own address and the per-address login throttle of one test never
    refuses another's."""
    for n in itertools.count(1):
        yield f"127.{second_octet}.{n // 200 + 1}.{n % 200 + 1}"


def login_from(server: ServerProcess, address: str, mount: str,
               body: dict[str, Any]) -> httpx.Response:
    """POST auth/<mount>/login with `body`, from `address`."""
    context = ssl.create_default_context(cafile=str(server.tls.ca_cert))
    transport = httpx.HTTPTransport(verify=context, local_address=address)
    with httpx.Client(base_url=server.addr, transport=transport, timeout=15) as client:
        return client.post(f"/v1/auth/{mount}/login", json=body)


def error_text(answer: httpx.Response) -> str:
    return " ".join(answer.json()["errors"])
