"""A real, throw-away SoftHSM2 token for tests (no mocks).

`softhsm_token(tmp)` writes `tmp/softhsm2.conf` with its token directory `tmp/tokens`,
sets SOFTHSM2_CONF for this process (restored afterwards; pass `hsm.env` to node
subprocesses), runs `softhsm2-util --init-token --free` and yields a `SoftHsm`.
SoftHSM2 reads its configuration and scans its tokens in C_Initialize only, so the
fixture re-initializes the library in this process (`pkcs11_seal.reload_library`) on
entry and exit.

`create_aes_key` / `create_rsa_key` make a key on the token in a child process (as an
administrator's tool would), so they never touch this process's PKCS#11 login.

`hsm.unplugged()` simulates an HSM that goes away: it moves the token directory aside
(an empty one stays). SoftHSM2 notices on the next operation: open sessions stop
finding objects and C_GetTokenInfo fails with CKR_GENERAL_ERROR, and it does not see
the token again, even once it is back, until the library is re-initialized.

`softhsm_available()` says whether softhsm2-util, the library and python-pkcs11 are
there; `require_softhsm()` skips a test when they are not, and fails it when env
STRONGBOX_REQUIRE_SOFTHSM is set (CI installs SoftHSM2, so a skip there is a broken CI).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LIBRARY_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",                    # Debian, Ubuntu
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",                   # Fedora, RHEL
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",           # macOS
)
SKIP_REASON = ("SoftHSM2 not found (softhsm2-util, libsofthsm2.so and python-pkcs11): install "
               "Debian's `softhsm2` and `pip install python-pkcs11`, or set "
               "STRONGBOX_SOFTHSM_LIB. CI sets STRONGBOX_REQUIRE_SOFTHSM, where this fails")


def softhsm_library() -> str | None:
    """The SoftHSM2 PKCS#11 library: $STRONGBOX_SOFTHSM_LIB, else a known path."""
    candidates = [os.environ.get("STRONGBOX_SOFTHSM_LIB", ""), *LIBRARY_CANDIDATES]
    return next((path for path in candidates if path and os.path.isfile(path)), None)


def softhsm_available() -> bool:
    return (shutil.which("softhsm2-util") is not None and softhsm_library() is not None
            and importlib.util.find_spec("pkcs11") is not None)


def require_softhsm(module_level: bool = False) -> None:
    """Skip (the module, with `module_level`) without SoftHSM2; fail when it is required."""
    if softhsm_available():
        return
    if os.environ.get("STRONGBOX_REQUIRE_SOFTHSM"):
        pytest.fail(SKIP_REASON, pytrace=False)
    pytest.skip(SKIP_REASON, allow_module_level=module_level)


@dataclass(frozen=True)
class SoftHsm:
    """An initialized token: `conf` is the SOFTHSM2_CONF of this token directory."""

    conf: Path
    library: str
    token_label: str
    pin: str = field(repr=False)
    so_pin: str = field(repr=False)
    slot: int | None
    token_dir: Path

    @property
    def env(self) -> dict[str, str]:
        """What a node subprocess needs in its environment to see this token."""
        return {"SOFTHSM2_CONF": str(self.conf)}

    def seal_options(self, key_label: str, **extra: Any) -> dict[str, Any]:
        """A `[seal] type = "pkcs11"` section's options for this token."""
        return {"lib": self.library, "token_label": self.token_label, "pin": self.pin,
                "key_label": key_label, **extra}

    @contextmanager
    def unplugged(self) -> Iterator[None]:
        """The token directory moved away (and an empty one left) for the block."""
        away = self.token_dir.with_name(self.token_dir.name + ".unplugged")
        self.token_dir.rename(away)
        self.token_dir.mkdir()
        try:
            yield
        finally:
            self.token_dir.rmdir()
            away.rename(self.token_dir)


@contextmanager
def softhsm_token(tmp: Path, label: str = "strongbox", pin: str = "1234",
                  so_pin: str = "5678") -> Iterator[SoftHsm]:
    require_softhsm()
    library = softhsm_library()
    assert library is not None
    token_dir = tmp / "tokens"
    token_dir.mkdir(parents=True, exist_ok=True)
    conf = tmp / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {token_dir}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\nslots.mechanisms = ALL\n")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        out = subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
             "--so-pin", so_pin], env={**os.environ, "SOFTHSM2_CONF": str(conf)},
            capture_output=True, text=True, timeout=60, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"softhsm2-util --init-token failed: {out.stderr.strip()}")
        found = re.search(r"reassigned to slot (\d+)", out.stdout)
        _reload(library)
        yield SoftHsm(conf=conf, library=library, token_label=label, pin=pin, so_pin=so_pin,
                      slot=int(found.group(1)) if found else None, token_dir=token_dir)
    finally:
        if previous is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = previous
        _reload(library)


def _reload(library: str) -> None:
    from strongbox.seal.pkcs11_seal import reload_library

    reload_library(library)


_CREATE_KEY = r"""
import sys
import pkcs11
from pkcs11 import Attribute, KeyType, MechanismFlag
library, token_label, pin, kind, label, bits = sys.argv[1:7]
private = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
           Attribute.EXTRACTABLE: False}
caps = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
token = pkcs11.lib(library).get_token(token_label=token_label)
with token.open(rw=True, user_pin=pin) as session:
    if kind == "aes":
        session.generate_key(KeyType.AES, int(bits), label=label, id=label.encode(),
                             store=True, capabilities=caps, template=private)
    else:
        session.generate_keypair(KeyType.RSA, int(bits), label=label, id=label.encode(),
                                 store=True, capabilities=caps, private_template=private)
"""


def _create_key(hsm: SoftHsm, kind: str, label: str, bits: int) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _CREATE_KEY, hsm.library, hsm.token_label, hsm.pin, kind,
         label, str(bits)], env={**os.environ, **hsm.env}, capture_output=True, text=True,
        timeout=120, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"creating {kind} key {label!r} failed: {out.stderr.strip()}")


def create_aes_key(hsm: SoftHsm, label: str, bits: int = 256) -> None:
    """An AES key (token object, sensitive, not extractable) labelled `label`."""
    _create_key(hsm, "aes", label, bits)


def create_rsa_key(hsm: SoftHsm, label: str, bits: int = 3072) -> None:
    """An RSA key pair, both halves labelled `label`."""
    _create_key(hsm, "rsa", label, bits)
