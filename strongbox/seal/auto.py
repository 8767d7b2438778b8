"""The seal seam: what protects the unseal key (docs/seals.md).

- `shamir` (the default): the unseal key is split into key holders' shares and is
  never stored; every restarted node waits for them.
- an **auto-unseal seal** (`AutoSeal`): the unseal key is stored in the cluster record
  wrapped by a key manager (`pkcs11`: a key inside an HSM; `transit`: another
  StrongBox cluster's Transit key; `static`: a key file, for dev and tests only), so a
  node that restarts unseals itself. Key holders then hold **recovery keys**: Shamir
  shares of a separate recovery key, checked with `recovery_check`, that authorize
  generate-root and rekey-recovery-key but cannot unseal.

`build(config, env)` turns a `[seal]` / `[previous_seal]` section into an `AutoSeal`
(None for shamir). Provider calls block (an HSM or a network round trip): core calls
them in a worker thread. A provider raises `SealUnavailable` with a reason a person can
act on (wrong PIN, no such key, unreachable, sealed) and never includes a PIN, token or
key in it.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongbox.barrier.aead import DecryptError, cipher_for, open_sealed, seal
from strongbox.config import SealConfig
from strongbox.errors import ConfigError, SealUnavailable

log = logging.getLogger("strongbox.seal")
RECOVERY_CHECK = b"strongbox recovery key check v1"
RECOVERY_AAD = b"strongbox|recovery-check"
STATIC_AAD = b"strongbox|static-seal"


class AutoSeal(Protocol):
    type: str

    def wrap(self, plaintext: bytes, create_key: bool = False) -> bytes: ...
    def unwrap(self, ciphertext: bytes) -> bytes: ...
    def describe(self) -> dict[str, str]: ...
    def close(self) -> None: ...


def recovery_check(recovery_key: bytes | bytearray) -> bytes:
    return seal(cipher_for(recovery_key), RECOVERY_CHECK, RECOVERY_AAD)


def recovery_matches(recovery_key: bytes | bytearray, check: bytes) -> bool:
    try:
        return open_sealed(cipher_for(recovery_key), check, RECOVERY_AAD) == RECOVERY_CHECK
    except DecryptError:
        return False


class StaticSeal:
    """The unseal key wrapped with AES-256-GCM under a key from a file (or env
    STRONGBOX_SEAL_STATIC_KEY): 32 bytes as hex or base64. Dev and tests only: whoever
    reads the file can unseal; the server warns at every start."""

    type = "static"

    def __init__(self, options: Mapping[str, object], env: Mapping[str, str]) -> None:
        source = options.get("key_file")
        if isinstance(source, str) and source:
            try:
                text = Path(source).read_text().strip()
            except OSError as exc:
                raise ConfigError("seal.key_file", f"cannot read {source!r}: "
                                  f"{exc.strerror}") from None
            where = f"file {source}"
        elif env.get("STRONGBOX_SEAL_STATIC_KEY"):
            text, where = env["STRONGBOX_SEAL_STATIC_KEY"].strip(), "STRONGBOX_SEAL_STATIC_KEY"
        else:
            raise ConfigError("seal.key_file", "a static seal needs key_file (or env "
                              "STRONGBOX_SEAL_STATIC_KEY): 32 random bytes as hex or base64")
        self._key = AESGCM(_key_bytes(text, where))
        self._where = where

    def wrap(self, plaintext: bytes, create_key: bool = False) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._key.encrypt(nonce, plaintext, STATIC_AAD)

    def unwrap(self, ciphertext: bytes) -> bytes:
        try:
            return self._key.decrypt(ciphertext[:12], ciphertext[12:], STATIC_AAD)
        except Exception:
            raise SealUnavailable("the static seal key does not open the stored unseal key: "
                                  f"{self._where} holds a different key") from None

    def describe(self) -> dict[str, str]:
        return {"type": self.type, "key": self._where}

    def close(self) -> None:
        return None


def _key_bytes(text: str, where: str) -> bytes:
    for decode in (bytes.fromhex, lambda t: base64.b64decode(t, validate=True)):
        try:
            raw = decode(text)
        except (ValueError, binascii.Error):
            continue
        if len(raw) == 32:
            return raw
    raise ConfigError("seal.key_file", f"{where} must hold 32 bytes as hex or base64")


def build(config: SealConfig | None, env: Mapping[str, str] | None = None) -> AutoSeal | None:
    """The auto-unseal seal of a `[seal]` section (None: shamir). Imports the provider
    only when used (python-pkcs11 is needed for pkcs11 only)."""
    if config is None or config.type == "shamir":
        return None
    env = os.environ if env is None else env
    options = dict(config.options)
    if config.type == "static":
        log.warning("SEAL: the static seal keeps its key in a file: anyone who can read "
                    "it can unseal this cluster. Use it for development and tests only.")
        return StaticSeal(options, env)
    providers = {"pkcs11": ("strongbox.seal.pkcs11_seal", "Pkcs11Seal", "Pkcs11Settings"),
                 "transit": ("strongbox.seal.transit_seal", "TransitSeal", "TransitSettings")}
    if config.type not in providers:
        raise ConfigError("seal.type", f"unknown seal type {config.type!r}")
    module_name, seal_class, settings_class = providers[config.type]
    module = importlib.import_module(module_name)  # only what is used (python-pkcs11)
    settings = getattr(module, settings_class).from_options(options, env)
    made: AutoSeal = getattr(module, seal_class)(settings)
    return made
