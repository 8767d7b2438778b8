"""Client configuration: arguments first, then STRONGBOX_* then VAULT_* environment
variables, then defaults. Resolved once, into a frozen `ClientConfig`.

| argument | environment (first set wins) | default |
|---|---|---|
| `address` (str, comma separated, or list) | STRONGBOX_ADDR, VAULT_ADDR | http://127.0.0.1:8200 |
| `token` | STRONGBOX_TOKEN, VAULT_TOKEN, ~/.strongbox-token, ~/.vault-token | none |
| `namespace` | STRONGBOX_NAMESPACE, VAULT_NAMESPACE | root |
| `cacert` (file or dir) | STRONGBOX_CACERT, VAULT_CACERT | system store |
| `client_cert`, `client_key` | STRONGBOX_CLIENT_CERT/_KEY, VAULT_CLIENT_CERT/_KEY | none |
| `tls_verify` | STRONGBOX_SKIP_VERIFY, VAULT_SKIP_VERIFY (true/1) | verify |

Invalid values raise `ConfigurationError` naming the argument or variable. Pure
apart from reading the environment mapping and the token files it is given.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from strongbox.client.consistency import Consistency, parse_consistency
from strongbox.client.errors import ConfigurationError

DEFAULT_ADDRESS = "http://127.0.0.1:8200"
TOKEN_FILES = (".strongbox-token", ".vault-token")
_TRUE = {"1", "true", "yes", "on", "t"}
_FALSE = {"0", "false", "no", "off", "f", ""}


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything a client needs to reach the cluster. `pinned`: no failover."""

    addresses: tuple[str, ...]
    token: str | None = None
    namespace: str | None = None
    cacert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    timeout: float = 10.0
    consistency: Consistency = Consistency.READ_YOUR_WRITES
    retries: int = 3
    tls_verify: bool = True
    pinned: bool = False
    discover: bool = False
    backoff_base: float = 0.1
    backoff_max: float = 2.0
    down_cooldown: float = 2.0
    max_retry_after: float = 30.0

    def on_node(self, address: str) -> ClientConfig:
        """The same settings, talking only to `address`."""
        return replace(self, addresses=(normalize_address(address, "address"),), pinned=True,
                       discover=False)

    def ssl_context(self) -> ssl.SSLContext | bool:
        """What httpx's `verify=` gets: False (skip), or a context with CA and client cert."""
        if not self.tls_verify:
            return False
        try:
            if self.cacert and Path(self.cacert).is_dir():
                context = ssl.create_default_context(capath=self.cacert)
            else:
                context = ssl.create_default_context(cafile=self.cacert)
            if self.client_cert:
                context.load_cert_chain(self.client_cert, self.client_key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load TLS files (cacert={self.cacert!r}, "
                                     f"client_cert={self.client_cert!r}): {exc}") from None
        return context


def normalize_address(address: str, source: str) -> str:
    """`https://host:port` without a trailing slash or /v1; ConfigurationError otherwise."""
    value = address.strip().rstrip("/")
    value = value.removesuffix("/v1")
    if not value.startswith(("http://", "https://")) or len(value.split("://", 1)[1]) == 0:
        raise ConfigurationError(f"{source}: {address!r} is not an http:// or https:// "
                                 "address (example: https://127.0.0.1:8200)")
    return value


def parse_addresses(value: str | Sequence[str], source: str) -> tuple[str, ...]:
    """A comma-separated string or a list of addresses → normalized, de-duplicated tuple."""
    items = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        if item.strip():
            address = normalize_address(item, source)
            if address not in out:
                out.append(address)
    if not out:
        raise ConfigurationError(f"{source}: no address given")
    return tuple(out)


def _env(env: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for prefix in ("STRONGBOX_", "VAULT_"):
        value = env.get(prefix + name)
        if value is not None and value != "":
            return prefix + name, value
    return None


def _env_bool(env: Mapping[str, str], name: str) -> bool | None:
    found = _env(env, name)
    if found is None:
        return None
    variable, value = found
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ConfigurationError(f"{variable}: {value!r} is not a boolean (use true or false)")


def token_from_files(home: Path | None) -> str | None:
    """The token in ~/.strongbox-token, else ~/.vault-token (None if neither is usable)."""
    if home is None:
        return None
    for name in TOKEN_FILES:
        try:
            token = (home / name).read_text().strip()
        except OSError:
            continue
        if token:
            return token
    return None


def _home(env: Mapping[str, str]) -> Path | None:
    home = env.get("HOME")
    if home:
        return Path(home)
    try:
        return Path.home()
    except RuntimeError:
        return None


def resolve_config(*, address: str | Sequence[str] | None = None, token: str | None = None,
                   namespace: str | None = None, cacert: str | None = None,
                   client_cert: str | None = None, client_key: str | None = None,
                   timeout: float = 10.0, consistency: str | Consistency = "read_your_writes",
                   retries: int = 3, tls_verify: bool | None = None, discover: bool = False,
                   env: Mapping[str, str] | None = None) -> ClientConfig:
    """The configuration from arguments, then the environment, then defaults."""
    env = os.environ if env is None else env
    if address is not None:
        addresses = parse_addresses(address, "address")
    else:
        found = _env(env, "ADDR")
        addresses = (parse_addresses(found[1], found[0]) if found
                     else (DEFAULT_ADDRESS,))

    def pick(value: str | None, name: str) -> str | None:
        if value is not None:
            return value
        found = _env(env, name)
        return found[1] if found else None

    if token is None:
        token = pick(None, "TOKEN") or token_from_files(_home(env))
    skip = _env_bool(env, "SKIP_VERIFY")
    verify = tls_verify if tls_verify is not None else not skip
    if timeout <= 0:
        raise ConfigurationError(f"timeout: must be > 0 seconds, got {timeout}")
    if retries < 0:
        raise ConfigurationError(f"retries: must be >= 0, got {retries}")
    client_cert = pick(client_cert, "CLIENT_CERT")
    client_key = pick(client_key, "CLIENT_KEY")
    if client_key and not client_cert:
        raise ConfigurationError("client_key given without client_cert")
    return ClientConfig(
        addresses=addresses, token=token or None, namespace=pick(namespace, "NAMESPACE"),
        cacert=pick(cacert, "CACERT"), client_cert=client_cert, client_key=client_key,
        timeout=float(timeout), consistency=parse_consistency(consistency), retries=retries,
        tls_verify=verify, discover=discover)
