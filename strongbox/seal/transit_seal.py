"""Transit auto-unseal: the node's unseal key wrapped by another cluster's Transit key.

Vault's `seal "transit"`. The 32-byte unseal key (docs/design.md §3) is sent to a Transit
mount of another StrongBox (or Vault) cluster, the "key manager", and only the returned
`vault:vN:...` ciphertext is stored; at start the node asks the key manager to decrypt it.

Contract:

    settings = TransitSettings.from_options(options, os.environ)  # ConfigError("seal.<option>")
    seal = TransitSeal(settings)              # no I/O
    blob = seal.wrap(unseal_key, create_key=True)   # at init only: creates the key if missing
    key = seal.unwrap(blob)                   # at every start / unseal
    seal.describe()                           # address, mount_path, key_name, namespace
    seal.close()                              # stops the renewal thread, closes connections

- `wrap` POSTs `{mount}encrypt/{key}`, `unwrap` POSTs `{mount}decrypt/{key}`; both send
  `X-Vault-Token` and, when set, `X-Vault-Namespace`. Without `create_key` a key is never
  created: Transit's encrypt would create a missing key (upsert), so the first `wrap`
  checks with a decrypt of a dummy ciphertext that the key exists (with `create_key`,
  `keys/{key}` is POSTed only when it does not, so a least-privilege token can init).
- Every failure is `SealUnavailable` (a subclass of `strongbox.errors.SealUnavailable`):
  connection errors, timeouts (`timeout_s` per connect/read/write phase), TLS
  verification, and any 4xx/5xx, with the HTTP status and the server's error text. A
  412 or 503 (a follower that is behind, a leader election) is retried once after a
  short backoff. The token is never in a message, a log line or a repr.
- Renewal, as Vault does: after the first successful call a daemon thread looks the token
  up (`auth/token/lookup-self`) and, when it is renewable and has a TTL, renews it
  (`auth/token/renew-self`) at half of its remaining TTL, until it reaches its max TTL, is
  refused (403), or `close()`. `disable_renewal` turns this off.
- Proxy variables and ~/.netrc are not read (httpx `trust_env=False`).
"""

from __future__ import annotations

import base64
import logging
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from strongbox import errors
from strongbox.errors import ConfigError

log = logging.getLogger("strongbox.seal.transit")

_RETRY_STATUSES = (412, 503)
_RETRY_BACKOFF_S = 0.25
_RENEW_RETRY_S = 5.0
_MIN_RENEW_WAIT_S = 1.0
_PROBE_CIPHERTEXT = "vault:v1:" + base64.b64encode(bytes(28)).decode()
_CONFIG_PREFIX = "seal."
_STRING_OPTIONS = ("address", "token", "token_file", "key_name", "mount_path", "namespace",
                   "tls_ca_cert", "tls_client_cert", "tls_client_key", "tls_server_name")
_FLAG_OPTIONS = ("tls_skip_verify", "disable_renewal")
_KNOWN_OPTIONS = frozenset((*_STRING_OPTIONS, *_FLAG_OPTIONS, "timeout_s"))
_TRUE, _FALSE = ("true", "1", "t", "yes", "on"), ("false", "0", "f", "no", "off", "")


class SealUnavailable(errors.SealUnavailable):
    """The key manager cannot be reached or refused; `.message` says why (HTTP status and
    the server's error text), never the token. `upstream_status` is the key manager's
    HTTP status (0 when there was no answer). A subclass of the shared
    `strongbox.errors.SealUnavailable` (a 503 ServiceUnavailable), so core catches it."""

    def __init__(self, message: str, upstream_status: int = 0) -> None:
        super().__init__(message)
        self.upstream_status = upstream_status


def _option_text(options: Mapping[str, Any], name: str) -> str:
    value = options.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigError(_CONFIG_PREFIX + name, f"expected a string, got {type(value).__name__}")
    return value.strip()


def _option_flag(options: Mapping[str, Any], name: str) -> bool:
    value = options.get(name, False)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError(_CONFIG_PREFIX + name, f"expected true or false, got {value!r}")


def _option_timeout(options: Mapping[str, Any]) -> float:
    value = options.get("timeout_s", 10.0)
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        timeout = -1.0
    if isinstance(value, bool) or not 0 < timeout <= 300:
        raise ConfigError(_CONFIG_PREFIX + "timeout_s", "must be a number of seconds in (0, 300]")
    return timeout


def _resolve_token(options: Mapping[str, Any], env: Mapping[str, str]) -> str:
    token, token_file = _option_text(options, "token"), _option_text(options, "token_file")
    if token and token_file:
        raise ConfigError(_CONFIG_PREFIX + "token", "set token or token_file, not both")
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(_CONFIG_PREFIX + "token_file",
                              f"cannot read {token_file!r}: {type(exc).__name__}") from None
        if not token:
            raise ConfigError(_CONFIG_PREFIX + "token_file", f"{token_file!r} is empty")
        return token
    token = token or env.get("STRONGBOX_SEAL_TOKEN", "").strip() \
        or env.get("VAULT_TOKEN", "").strip()
    if not token:
        raise ConfigError(_CONFIG_PREFIX + "token", "required: set token or token_file, or "
                          "STRONGBOX_SEAL_TOKEN / VAULT_TOKEN in the environment")
    return token


def _resolve_address(options: Mapping[str, Any], env: Mapping[str, str]) -> str:
    address = _option_text(options, "address") or env.get("STRONGBOX_SEAL_ADDR", "").strip() \
        or env.get("VAULT_ADDR", "").strip()
    if not address:
        raise ConfigError(_CONFIG_PREFIX + "address", "required: the key manager's URL (e.g. "
                          "https://kms.example:8200), or STRONGBOX_SEAL_ADDR / VAULT_ADDR")
    if not address.startswith(("https://", "http://")):
        raise ConfigError(_CONFIG_PREFIX + "address",
                          f"expected an http:// or https:// URL, got {address!r}")
    return address.rstrip("/")


def _check_tls_files(values: Mapping[str, str]) -> None:
    if bool(values["tls_client_cert"]) != bool(values["tls_client_key"]):
        raise ConfigError(_CONFIG_PREFIX + "tls_client_cert",
                          "tls_client_cert and tls_client_key go together: set both or neither")
    for name in ("tls_ca_cert", "tls_client_cert", "tls_client_key"):
        if values[name] and not Path(values[name]).is_file():
            raise ConfigError(_CONFIG_PREFIX + name, f"file {values[name]!r} does not exist")


@dataclass(frozen=True)
class TransitSettings:
    """Where the Transit key is and how to reach it. The token is left out of repr()."""

    address: str
    token: str = field(repr=False)
    key_name: str
    mount_path: str = "transit/"
    namespace: str = ""
    tls_ca_cert: str = ""
    tls_client_cert: str = ""
    tls_client_key: str = ""
    tls_server_name: str = ""
    tls_skip_verify: bool = False
    disable_renewal: bool = False
    timeout_s: float = 10.0

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str]
                     ) -> TransitSettings:
        """Vault's `seal "transit"` options (plus `token_file` and `timeout_s`); the token
        and address may come from the environment. ConfigError names what is wrong."""
        unknown = sorted(set(options) - _KNOWN_OPTIONS)
        if unknown:
            raise ConfigError(_CONFIG_PREFIX + str(unknown[0]), "unknown option; known options: "
                              + ", ".join(sorted(_KNOWN_OPTIONS)))
        text = {name: _option_text(options, name) for name in _STRING_OPTIONS}
        key_name = text["key_name"]
        if not key_name:
            raise ConfigError(_CONFIG_PREFIX + "key_name", "required: the Transit key's name")
        if "/" in key_name or any(c.isspace() for c in key_name):
            raise ConfigError(_CONFIG_PREFIX + "key_name", f"not a key name: {key_name!r}")
        mount = text["mount_path"].strip("/") or "transit"
        _check_tls_files(text)
        return cls(address=_resolve_address(options, env), token=_resolve_token(options, env),
                   key_name=key_name, mount_path=mount + "/",
                   namespace=text["namespace"].strip("/"),
                   tls_ca_cert=text["tls_ca_cert"], tls_client_cert=text["tls_client_cert"],
                   tls_client_key=text["tls_client_key"],
                   tls_server_name=text["tls_server_name"],
                   tls_skip_verify=_option_flag(options, "tls_skip_verify"),
                   disable_renewal=_option_flag(options, "disable_renewal"),
                   timeout_s=_option_timeout(options))


def _ssl_context(settings: TransitSettings) -> ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=settings.tls_ca_cert or None)
        if settings.tls_client_cert:
            context.load_cert_chain(settings.tls_client_cert, settings.tls_client_key)
    except (OSError, ssl.SSLError) as exc:
        raise SealUnavailable(f"the seal's TLS files cannot be loaded (tls_ca_cert, "
                              f"tls_client_cert, tls_client_key): {exc}") from None
    if settings.tls_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _verify_failure(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _error_text(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        errors = None
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)[:500]
    return (response.text.strip() or response.reason_phrase)[:200]


def _data(response: httpx.Response, section: str = "data") -> dict[str, Any]:
    try:
        data = response.json().get(section)
    except (ValueError, AttributeError):
        data = None
    return data if isinstance(data, dict) else {}


class TransitSeal:
    """Wraps and unwraps the unseal key with a Transit key of another cluster."""

    type = "transit"

    def __init__(self, settings: TransitSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._http: httpx.Client | None = None
        self._renewer: threading.Thread | None = None
        self._key_known = False
        key = quote(settings.key_name, safe="")
        self._encrypt_path = f"{settings.mount_path}encrypt/{key}"
        self._decrypt_path = f"{settings.mount_path}decrypt/{key}"
        self._keys_path = f"{settings.mount_path}keys/{key}"

    def __repr__(self) -> str:
        return f"TransitSeal({self.describe()})"

    def describe(self) -> dict[str, str]:
        s = self.settings
        return {"address": s.address, "mount_path": s.mount_path, "key_name": s.key_name,
                "namespace": s.namespace}

    def wrap(self, plaintext: bytes, create_key: bool = False) -> bytes:
        """The Transit ciphertext (`vault:vN:...`) of `plaintext`. `create_key` (at init
        only) creates an aes256-gcm96 key when it is missing (which needs update on
        <mount>keys/<key>; an existing key needs only encrypt and decrypt); otherwise the
        key must exist."""
        missing = None if self._key_known else self._missing_key()
        if missing is not None and not create_key:
            raise missing
        if missing is not None:
            self._call("POST", self._keys_path, {"type": "aes256-gcm96"})
        response = self._call("POST", self._encrypt_path,
                              {"plaintext": base64.b64encode(plaintext).decode()})
        ciphertext = _data(response).get("ciphertext")
        if not isinstance(ciphertext, str) or not ciphertext.isascii() \
                or not ciphertext.startswith("vault:"):
            raise SealUnavailable(f"the transit cluster at {self.settings.address} answered "
                                  f"{self._encrypt_path} without a ciphertext")
        self._key_known = True
        self._started()
        return ciphertext.encode("ascii")

    def unwrap(self, ciphertext: bytes) -> bytes:
        """The plaintext of a `wrap` result."""
        try:
            text = ciphertext.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if not text.startswith("vault:"):
            raise SealUnavailable("the stored unseal key is not a Transit ciphertext "
                                  "(expected vault:vN:...)")
        response = self._call("POST", self._decrypt_path, {"ciphertext": text})
        try:
            plaintext = base64.b64decode(_data(response).get("plaintext", ""), validate=True)
        except (TypeError, ValueError):
            raise SealUnavailable(f"the transit cluster at {self.settings.address} answered "
                                  f"{self._decrypt_path} without a base64 plaintext") from None
        self._key_known = True
        self._started()
        return plaintext

    def close(self) -> None:
        """Stop the renewal thread and close the connections; later calls fail."""
        self._closed.set()
        with self._lock:
            renewer, self._renewer = self._renewer, None
            http, self._http = self._http, None
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join(self.settings.timeout_s * 3 + 1)
        if http is not None:
            http.close()

    # -- HTTP ---------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        with self._lock:
            if self._closed.is_set():
                raise SealUnavailable("the transit seal is closed")
            if self._http is None:
                s = self.settings
                headers = {"X-Vault-Token": s.token, "X-Vault-Request": "true"}
                if s.namespace:
                    headers["X-Vault-Namespace"] = s.namespace
                self._http = httpx.Client(base_url=f"{s.address}/v1/", headers=headers,
                                          verify=_ssl_context(s), timeout=s.timeout_s,
                                          trust_env=False, follow_redirects=False)
            return self._http

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              capability: str = "update") -> httpx.Response:
        """One request, retried once on 412/503; SealUnavailable unless it is a 2xx."""
        extensions = ({"sni_hostname": self.settings.tls_server_name}
                      if self.settings.tls_server_name else None)
        for attempt in (1, 2):
            client = self._client()
            try:
                response = client.request(method, path, json=body, extensions=extensions)
            except httpx.HTTPError as exc:
                raise self._unreachable(exc) from None
            if response.is_success:
                return response
            if response.status_code not in _RETRY_STATUSES or attempt == 2 \
                    or self._closed.wait(_RETRY_BACKOFF_S):
                break
        raise self._refused(path, capability, response)

    def _redact(self, text: str) -> str:
        return text.replace(self.settings.token, "<token>") if self.settings.token else text

    def _unreachable(self, exc: httpx.HTTPError) -> SealUnavailable:
        address = self.settings.address
        verify = _verify_failure(exc)
        if verify is not None:
            why = (f"TLS verification of the transit cluster at {address} failed "
                   f"({verify.verify_message or verify.reason}); check tls_ca_cert and "
                   "tls_server_name")
        elif isinstance(exc, httpx.TimeoutException):
            why = (f"the transit cluster at {address} did not answer within "
                   f"{self.settings.timeout_s:g}s ({type(exc).__name__})")
        else:
            why = f"could not reach the transit cluster at {address}: {exc or type(exc).__name__}"
        return SealUnavailable(self._redact(why))

    def _refused(self, path: str, capability: str, response: httpx.Response) -> SealUnavailable:
        s, status, text = self.settings, response.status_code, _error_text(response)
        where = f" in namespace {s.namespace!r}" if s.namespace else ""
        if status == 403:
            why = f"the seal's token was refused (expired or lacks {capability} on {path})"
        elif status == 503 and "sealed" in text.lower():
            why = f"the transit cluster at {s.address} is sealed"
        elif "key not found" in text.lower() and path != self._keys_path:
            why = (f"the transit key {s.key_name!r} does not exist on {s.mount_path}{where} "
                   f"at {s.address}")
        else:
            why = f"the transit cluster at {s.address} refused {path}{where}"
        return SealUnavailable(self._redact(f"{why}: HTTP {status}: {text}"), status)

    def _missing_key(self) -> SealUnavailable | None:
        """The 'key not found' error when the key is missing, None when it exists; found
        without creating it (encrypt would): a decrypt of a dummy ciphertext fails with
        'key not found' for a missing key and a 400 otherwise. Needs only the update on
        decrypt/<key> that unwrap needs anyway."""
        try:
            self._call("POST", self._decrypt_path, {"ciphertext": _PROBE_CIPHERTEXT})
        except SealUnavailable as exc:
            if exc.upstream_status in (400, 404) and "key not found" in exc.message.lower():
                return exc
            if exc.upstream_status != 400:
                raise
        self._key_known = True
        return None

    # -- token renewal ------------------------------------------------------------------

    def _started(self) -> None:
        """Start the renewal thread after the first successful call (once)."""
        if self.settings.disable_renewal:
            return
        with self._lock:
            if self._renewer is not None or self._closed.is_set():
                return
            self._renewer = threading.Thread(target=self._renew_loop, daemon=True,
                                             name="strongbox-transit-seal-renewer")
            self._renewer.start()

    def _renew_loop(self) -> None:
        wait, looked_up = 0.0, False
        while not self._closed.wait(wait):
            try:
                ttl = self._renew_once(looked_up)
            except SealUnavailable as exc:
                if self._closed.is_set():
                    return
                if exc.upstream_status == 403:
                    log.warning("transit seal: token renewal stopped: %s", exc.message)
                    return
                log.warning("transit seal: token renewal failed, retrying in %gs: %s",
                            _RENEW_RETRY_S, exc.message)
                wait = _RENEW_RETRY_S
                continue
            if ttl is None:
                return
            wait, looked_up = max(ttl / 2, _MIN_RENEW_WAIT_S), True

    def _renew_once(self, looked_up: bool) -> float | None:
        """Look the token up (first time) or renew it; its TTL, or None to stop renewing."""
        if not looked_up:
            data = _data(self._call("GET", "auth/token/lookup-self", capability="read"))
            ttl, renewable = data.get("ttl"), data.get("renewable")
            if renewable is not True or not isinstance(ttl, int | float) or ttl <= 0:
                log.info("transit seal: the token is not renewable or has no TTL; "
                         "not renewing it")
                return None
            return float(ttl)
        auth = _data(self._call("POST", "auth/token/renew-self", {}), "auth")
        ttl, renewable = auth.get("lease_duration"), auth.get("renewable")
        if not isinstance(ttl, int | float) or ttl <= 0 or renewable is not True:
            log.warning("transit seal: the token reached its maximum TTL; renewal stopped "
                        "(give the seal a new token before it expires)")
            return None
        log.debug("transit seal: token renewed, TTL %ss", ttl)
        return float(ttl)
