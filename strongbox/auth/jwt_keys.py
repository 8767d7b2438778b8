"""Where the JWT auth methods get verification keys: PEM keys, JWKS URLs, OIDC discovery.

Contract
--------
- `parse_public_keys(pems, field)` turns PEM public keys or X.509 certificates into
  joserfc keys (RSA, EC, Ed25519); anything else is a 400 naming `field`.
- `check_https_url(url, field)` and `check_ca_pem(pem, field)` validate config input:
  URLs must be `https://host[...]` without credentials, CA bundles must be PEM
  certificates. Both raise `BadRequest` naming the field, never echoing a secret.
- `KeyCache.keys(source, kid)` returns the keys of `source` that may have signed a
  token with key id `kid` (all keys when the token names none), and the issuer the
  OIDC discovery document announced (or ""). Remote key sets are fetched over HTTPS
  with the configured CA (or the system store), a 5 s timeout, no redirects and a
  1 MiB size limit, and cached for `MAX_AGE_S`. An unknown `kid` triggers one
  refresh, but refreshes are rate-limited per source by a token bucket (`BURST`
  refreshes, then one per `REFILL_S`), so a caller sending made-up key ids cannot
  make this node hammer the identity provider; concurrent refreshes of one source
  are collapsed by a lock.
- A fetch that fails raises `KeyFetchError` (a 400 whose message names the URL and
  the kind of failure, never the token), unless keys were fetched before: then the
  stale keys keep serving until the provider answers again.

Threading: the cache belongs to the event loop (asyncio locks, no threads); fetches
are async (httpx.AsyncClient), so a slow identity provider never blocks the loop.
The cache is per process and holds public material only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, OKPKey, RSAKey

from strongbox.errors import BadRequest

FETCH_TIMEOUT_S = 5.0
MAX_DOCUMENT_BYTES = 1 << 20
MAX_AGE_S = 3600.0
BURST = 3
REFILL_S = 10.0
MAX_SOURCES = 1024
DISCOVERY_PATH = "/.well-known/openid-configuration"


class KeyFetchError(BadRequest):
    """A JWKS or OIDC discovery document could not be fetched or parsed."""


def check_https_url(url: str, field_name: str) -> str:
    """`url` if it is an https URL with a host and no credentials; else 400."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise BadRequest(f"{field_name!r} must be an https:// URL with a host and no "
                         "credentials")
    return url


def check_ca_pem(pem: str, field_name: str) -> str:
    """`pem` if it holds at least one PEM certificate ("" is allowed: the system store)."""
    if pem:
        try:
            x509.load_pem_x509_certificates(pem.encode())
        except ValueError:
            raise BadRequest(f"{field_name!r} must be one or more PEM certificates") from None
    return pem


def _import(public: Any) -> Key:
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    if isinstance(public, rsa.RSAPublicKey):
        return RSAKey.import_key(pem)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return ECKey.import_key(pem)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return OKPKey.import_key(pem)
    raise ValueError("unsupported key type")


def parse_public_keys(pems: list[str], field_name: str) -> list[Key]:
    """joserfc keys of PEM public keys or certificates (RSA, EC P-256/384/521, Ed25519)."""
    keys: list[Key] = []
    for pem in pems:
        data = pem.strip().encode()
        try:
            if b"CERTIFICATE" in data:
                public: Any = x509.load_pem_x509_certificate(data).public_key()
            else:
                public = serialization.load_pem_public_key(data)
            keys.append(_import(public))
        except (ValueError, TypeError, JoseError):
            raise BadRequest(f"{field_name!r} must be a list of PEM public keys or "
                             "certificates (RSA, EC or Ed25519)") from None
    return keys


@dataclass(frozen=True, slots=True)
class KeySource:
    """One mount's verification keys: static PEM keys, a JWKS URL or a discovery URL."""

    pem_keys: tuple[str, ...] = ()
    jwks_url: str = ""
    discovery_url: str = ""
    ca_pem: str = ""

    @property
    def remote(self) -> bool:
        return bool(self.jwks_url or self.discovery_url)

    def cache_key(self) -> str:
        return hashlib.sha256(json.dumps([self.pem_keys, self.jwks_url, self.discovery_url,
                                          self.ca_pem]).encode()).hexdigest()


@dataclass(slots=True)
class _Entry:
    keys: list[Key] = field(default_factory=list)
    issuer: str = ""
    fetched_at: float = float("-inf")
    attempted: bool = False
    tokens: float = float(BURST)
    refilled_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _ssl_context(ca_pem: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_pem:
        context = ssl.create_default_context(cadata=ca_pem)
    return context


async def https_json(url: str, ca_pem: str, body: dict[str, Any] | None = None,
                     headers: dict[str, str] | None = None,
                     ok: tuple[int, ...] = (200,)) -> dict[str, Any]:
    """GET (or, with `body`, POST) `url` over HTTPS with CA `ca_pem` (or the system
    store): the answer's JSON object. Size-capped, time-limited, no redirects; any
    failure is a `KeyFetchError` naming the URL and the kind of failure."""
    check_https_url(url, "url")
    sent = {"Accept": "application/json", **(headers or {})}
    method = "GET" if body is None else "POST"
    try:
        async with httpx.AsyncClient(verify=_ssl_context(ca_pem), timeout=FETCH_TIMEOUT_S,
                                     follow_redirects=False) as client, \
                client.stream(method, url, headers=sent, json=body) as reply:
            if reply.status_code not in ok:
                raise KeyFetchError(f"{method} {url} answered HTTP {reply.status_code}")
            data = bytearray()
            async for chunk in reply.aiter_bytes():
                data += chunk
                if len(data) > MAX_DOCUMENT_BYTES:
                    raise KeyFetchError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise KeyFetchError(f"{method} {url} failed ({type(exc).__name__}); check the URL "
                            "and the CA certificate") from None
    try:
        document = json.loads(bytes(data))
    except ValueError:
        raise KeyFetchError(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise KeyFetchError(f"{url} did not answer a JSON object")
    return document


async def fetch_json(url: str, ca_pem: str) -> dict[str, Any]:
    """GET `url` (a JWKS or discovery document): see `https_json`."""
    return await https_json(url, ca_pem)


def _key_set(document: dict[str, Any], url: str) -> list[Key]:
    """The signature keys of a JWKS document (keys of unknown types are skipped)."""
    raw = document.get("keys")
    if not isinstance(raw, list):
        raise KeyFetchError(f"{url} is not a JWKS document (no \"keys\" list)")
    usable = [k for k in raw if isinstance(k, dict) and k.get("kty") in ("RSA", "EC", "OKP")
              and k.get("use", "sig") == "sig"]
    try:
        return list(KeySet.import_key_set({"keys": usable}).keys)
    except (JoseError, ValueError, TypeError):
        raise KeyFetchError(f"{url} holds a malformed key") from None


class KeyCache:
    """Parsed and fetched keys per `KeySource` (see the module contract)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic,
                 fetch: Callable[[str, str], Any] = fetch_json) -> None:
        self._monotonic, self._fetch = monotonic, fetch
        self._entries: dict[str, _Entry] = {}
        self.fetches = 0  # remote documents fetched (tests and metrics read it)

    def _entry(self, source: KeySource) -> _Entry:
        key = source.cache_key()
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= MAX_SOURCES:
                self._entries.pop(next(iter(self._entries)))
            entry = self._entries[key] = _Entry(refilled_at=self._monotonic())
            if not source.remote:
                entry.keys = parse_public_keys(list(source.pem_keys), "pem_keys")
                entry.fetched_at = float("inf")
        return entry

    def _may_refresh(self, entry: _Entry, now: float) -> bool:
        entry.tokens = min(float(BURST), entry.tokens + (now - entry.refilled_at) / REFILL_S)
        entry.refilled_at = now
        if entry.tokens < 1:
            return False
        entry.tokens -= 1
        return True

    async def keys(self, source: KeySource, kid: str | None) -> tuple[list[Key], str]:
        """Keys that may verify a token naming `kid`, and the discovered issuer."""
        entry = self._entry(source)
        found = _matching(entry.keys, kid)
        stale = self._monotonic() - entry.fetched_at > MAX_AGE_S
        if source.remote and (stale or not found):
            async with entry.lock:
                found = _matching(entry.keys, kid)
                now = self._monotonic()
                stale = now - entry.fetched_at > MAX_AGE_S
                first = not entry.attempted  # the very first fetch is always allowed
                if (stale or not found) and (first or self._may_refresh(entry, now)):
                    entry.attempted = True  # failures count against the bucket too
                    try:
                        await self._refresh(source, entry)
                    except KeyFetchError:
                        if not entry.keys:
                            raise  # nothing to fall back on
                        # Stale keys beat an outage of the provider; an unknown kid
                        # stays unknown, so rotation still needs the provider back.
                    found = _matching(entry.keys, kid)
        return found, entry.issuer

    async def _refresh(self, source: KeySource, entry: _Entry) -> None:
        url, issuer = source.jwks_url, ""
        if source.discovery_url:
            base = source.discovery_url.rstrip("/")
            self.fetches += 1
            discovery = await self._fetch(base + DISCOVERY_PATH, source.ca_pem)
            issuer = discovery.get("issuer")
            url = discovery.get("jwks_uri")
            if not isinstance(issuer, str) or issuer.rstrip("/") != base:
                raise KeyFetchError("the OIDC discovery document's issuer does not match "
                                    "oidc_discovery_url")
            if not isinstance(url, str):
                raise KeyFetchError("the OIDC discovery document has no jwks_uri")
            check_https_url(url, "jwks_uri")
        self.fetches += 1
        entry.keys = _key_set(await self._fetch(url, source.ca_pem), url)
        entry.issuer, entry.fetched_at = issuer, self._monotonic()


def _matching(keys: list[Key], kid: str | None) -> list[Key]:
    """Keys that may have signed a token naming `kid`: a key without a kid (a PEM key)
    matches any."""
    if kid is None:
        return list(keys)
    return [k for k in keys if k.kid is None or k.kid == kid]
