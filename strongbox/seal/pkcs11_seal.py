"""The `pkcs11` auto-unseal seal: the node's 32-byte unseal key wrapped by a key inside
an HSM, reached through its PKCS#11 library (python-pkcs11). docs/seals.md.

Contract (core calls it from a worker thread; every call blocks on the HSM):

- `Pkcs11Settings.from_options(options, env)`: the `[seal]` section (Vault's names:
  lib, slot, token_label, pin, key_label, mechanism, generate_key; plus pin_file and
  rsa_oaep_hash). The PIN comes from `pin`, else the file `pin_file`, else env
  STRONGBOX_SEAL_PIN, else VAULT_HSM_PIN. A missing or bad option is a `ConfigError`
  naming it. `__init__` does no I/O.
- `wrap(plaintext, create_key)`: AES-256-GCM in the HSM, random 12-byte IV, AAD `AAD`:
  `b"\\x01" || IV || ciphertext || tag`; or RSA-OAEP (hash and MGF1 `rsa_oaep_hash`,
  default SHA-256) with the public key: `b"\\x02" || ciphertext`. `create_key=True`
  (init) lets `generate_key` make a missing key: AES-256 or an RSA-3072 pair, token
  objects, private, sensitive, not extractable. `unwrap(blob)`: the inverse.
- Any failure is `SealUnavailable` saying which (wrong PIN, no token, no key, library
  not loadable, the key does not decrypt); never the PIN or key bytes.

State is per process and library (`_Hsm`): a PKCS#11 login is per application and token,
so the seals on a token share one logged-in session (another PIN is refused as wrong
without a login); its lock serializes all calls (C_Initialize gets no locking args).
After a failure the next attempt finalizes and re-initializes the library (SoftHSM2 and
network HSM clients see a returned token only then); a call failing on an older session
retries once on a fresh one. A rejected PIN is not retried by the same seal (HSMs lock
PINs after a few failures): fix it and restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pkcs11
from pkcs11 import MGF, Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11err
from pkcs11.mechanisms import GCMParams

from strongbox.errors import ConfigError, SealUnavailable

if TYPE_CHECKING:
    from pkcs11 import _pkcs11

__all__ = ["AAD", "Pkcs11Seal", "Pkcs11Settings", "SealUnavailable", "reload_library"]

AAD = b"strongbox|seal|pkcs11|v1"
FORMAT_AES_GCM, FORMAT_RSA_OAEP = 1, 2
IV_BYTES, TAG_BYTES = 12, 16
RSA_BITS = 3072
PIN_ENV = ("STRONGBOX_SEAL_PIN", "VAULT_HSM_PIN")
OPTIONS = frozenset({"lib", "slot", "token_label", "pin", "pin_file", "key_label",
                     "mechanism", "generate_key", "rsa_oaep_hash"})
IGNORED_OPTIONS = frozenset({"type", "disabled"})  # read by the seal seam, not here
MECHANISMS = {"aes-gcm": "aes-gcm", "ckm_aes_gcm": "aes-gcm", str(0x1087): "aes-gcm",
              "rsa-oaep": "rsa-oaep", "ckm_rsa_pkcs_oaep": "rsa-oaep", str(0x0009): "rsa-oaep"}
OAEP_HASHES: dict[str, tuple[Mechanism, MGF]] = {
    "sha1": (Mechanism.SHA_1, MGF.SHA1), "sha224": (Mechanism.SHA224, MGF.SHA224),
    "sha256": (Mechanism.SHA256, MGF.SHA256), "sha384": (Mechanism.SHA384, MGF.SHA384),
    "sha512": (Mechanism.SHA512, MGF.SHA512)}
DECRYPT_FAILED = ("the key manager could not decrypt the stored unseal key: wrong key_label "
                  "or a different HSM key")
_REFUSED = (p11err.MechanismInvalid, p11err.MechanismParamInvalid, p11err.ArgumentsBad,
            p11err.KeyTypeInconsistent, p11err.FunctionNotSupported)
_PIN_KEY = secrets.token_bytes(32)  # PINs are compared as HMACs under this process key


@dataclass(frozen=True)
class Pkcs11Settings:
    library: str
    token_label: str = ""
    slot: int | None = None
    pin: str = field(repr=False, default="")
    key_label: str = ""
    mechanism: str = "aes-gcm"
    generate_key: bool = False
    rsa_oaep_hash: str = "sha256"

    def __post_init__(self) -> None:
        if self.mechanism not in ("aes-gcm", "rsa-oaep"):
            raise ConfigError("seal.mechanism", f"not aes-gcm or rsa-oaep: {self.mechanism!r}")
        if self.rsa_oaep_hash not in OAEP_HASHES:
            raise ConfigError("seal.rsa_oaep_hash", f"must be one of {', '.join(OAEP_HASHES)}")

    @classmethod
    def from_options(cls, options: Mapping[str, Any], env: Mapping[str, str]) -> Pkcs11Settings:
        """The settings of a `[seal] type = "pkcs11"` section; ConfigError names the key."""
        for key in options:
            if key not in OPTIONS and key not in IGNORED_OPTIONS:
                raise ConfigError(f"seal.{key}", "unknown pkcs11 seal option; known: "
                                  + ", ".join(sorted(OPTIONS)))
        library = _text(options, "lib")
        if not library:
            raise ConfigError("seal.lib", "required: the path of the HSM's PKCS#11 library, "
                              "e.g. /usr/lib/softhsm/libsofthsm2.so")
        token_label, slot = _text(options, "token_label"), _slot(options.get("slot"))
        if not token_label and slot is None:
            raise ConfigError("seal.token_label", "set token_label (or slot) to choose the "
                              "HSM token")
        key_label = _text(options, "key_label")
        if not key_label:
            raise ConfigError("seal.key_label", "required: the label of the wrapping key on "
                              "the token")
        return cls(library=library, token_label=token_label, slot=slot,
                   pin=_pin(options, env), key_label=key_label,
                   mechanism=_mechanism(options.get("mechanism", "aes-gcm")),
                   generate_key=_flag(options.get("generate_key", False)),
                   rsa_oaep_hash=_text(options, "rsa_oaep_hash").lower() or "sha256")

    @property
    def token_name(self) -> str:
        return self.token_label or f"slot {self.slot}"


def _text(options: Mapping[str, Any], key: str) -> str:
    value = options.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"seal.{key}", f"expected a string, got {type(value).__name__}")
    return value.strip()


def _slot(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            if (number := int(value.strip(), 0)) >= 0:
                return number
    raise ConfigError("seal.slot", "expected a slot number (decimal or 0x hex)")


def _mechanism(value: object) -> str:
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if text and not isinstance(value, bool):
        with contextlib.suppress(ValueError):
            text = str(int(text, 0))  # 0x1087 / 4231 / 0x0009 / 9
        if text in MECHANISMS:
            return MECHANISMS[text]
    raise ConfigError("seal.mechanism", "must be CKM_AES_GCM (0x1087, aes-gcm) or "
                      f"CKM_RSA_PKCS_OAEP (0x0009, rsa-oaep), got {value!r}")


def _flag(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ConfigError("seal.generate_key", "expected true or false")


def _pin(options: Mapping[str, Any], env: Mapping[str, str]) -> str:
    pin = options.get("pin", "")
    if not isinstance(pin, str | int) or isinstance(pin, bool):
        raise ConfigError("seal.pin", "expected a string")
    if str(pin):
        return str(pin)
    pin_file = _text(options, "pin_file")
    if pin_file:
        try:
            with open(pin_file, encoding="utf-8") as fh:
                text = fh.read().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError("seal.pin_file", f"cannot read {pin_file!r}: {reason}") from None
        if not text:
            raise ConfigError("seal.pin_file", f"{pin_file!r} is empty")
        return text
    for name in PIN_ENV:
        if env.get(name):
            return env[name]
    raise ConfigError("seal.pin", "no PIN: set pin or pin_file, or env STRONGBOX_SEAL_PIN")


class _Failure(Exception):
    """`reset`: re-initialize the library first next time; `retry`: retry at once if
    it happened on an older session."""

    def __init__(self, message: str, reset: bool = True, retry: bool = True) -> None:
        super().__init__(message)
        self.message, self.reset, self.retry = message, reset, retry


@dataclass
class _Login:
    session: pkcs11.Session
    pin_mac: bytes
    users: set[int] = field(default_factory=set)


class _Hsm:
    """One PKCS#11 library in this process: the loaded module, one logged-in session per
    token (slot id) shared by the seals using it, and a pending re-initialization."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._lib: _pkcs11.lib | None = None
        self._logins: dict[int, _Login] = {}
        self.pending_reset = False

    @property
    def warm(self) -> bool:
        """True when the next attempt reuses state opened by an earlier one."""
        return self._lib is not None and not self.pending_reset

    def reset(self) -> None:
        """C_Finalize + C_Initialize: every session of this library is gone afterwards."""
        self._logins.clear()
        self.pending_reset = False
        if self._lib is not None:
            with contextlib.suppress(p11err.PKCS11Error):
                self._lib.finalize()
            try:
                self._lib.initialize()
            except p11err.PKCS11Error:
                self._lib = None
                pkcs11.unload(self.path)

    def session(self, user: int, settings: Pkcs11Settings) -> pkcs11.Session:
        if self.pending_reset:
            self.reset()
        token = self._token(settings)
        slot_id = token.slot.slot_id
        mac = hmac.new(_PIN_KEY, settings.pin.encode(), hashlib.sha256).digest()
        login = self._logins.get(slot_id)
        if login is None:
            login = self._logins[slot_id] = _Login(_login(token, settings), mac)
        elif not hmac.compare_digest(login.pin_mac, mac):
            raise _Failure(f"wrong PIN for token '{settings.token_name}'", reset=False,
                           retry=False)
        else:
            _probe(login.session, settings.token_name)
        login.users.add(user)
        return login.session

    def release(self, user: int) -> None:
        """`user` no longer needs its sessions; the last one out logs out."""
        for slot_id, login in list(self._logins.items()):
            login.users.discard(user)
            if not login.users:
                del self._logins[slot_id]
                with contextlib.suppress(p11err.PKCS11Error):
                    login.session.close()

    def _library(self) -> _pkcs11.lib:
        if self._lib is None:
            if not os.path.exists(self.path):
                raise _Failure(f"cannot load PKCS#11 library {self.path}: no such file")
            try:
                self._lib = pkcs11.lib(self.path)
            except p11err.PKCS11Error as exc:  # dlopen failed, or C_Initialize did
                reason = (str(exc).removeprefix(f"OS exception while loading {self.path}: ")
                          if type(exc) is p11err.PKCS11Error else
                          f"C_Initialize failed ({type(exc).__name__}): check its config")
                raise _Failure(f"cannot load PKCS#11 library {self.path}: {reason}") from None
        return self._lib

    def _token(self, settings: Pkcs11Settings) -> pkcs11.Token:
        lib, name = self._library(), settings.token_name
        try:
            if settings.slot is None:
                return lib.get_token(token_label=settings.token_label)
            slots = [s for s in lib.get_slots(token_present=True)
                     if s.slot_id == settings.slot]
            if not slots:
                raise p11err.NoSuchToken
            token = slots[0].get_token()
        except (p11err.NoSuchToken, p11err.TokenNotPresent, p11err.TokenNotRecognised):
            what = f"labelled '{name}'" if settings.slot is None else f"in slot {settings.slot}"
            raise _Failure(f"no token {what} (is the HSM connected?)") from None
        except p11err.MultipleTokensReturned:
            raise _Failure(f"more than one token labelled '{name}': set slot",
                           retry=False) from None
        except p11err.PKCS11Error as exc:
            raise _Failure(_hsm_error(exc, name, "finding the token")) from None
        if settings.token_label and token.label != settings.token_label:
            raise _Failure(f"slot {settings.slot} holds token '{token.label}', not "
                           f"'{settings.token_label}'", retry=False)
        return token


def _login(token: pkcs11.Token, settings: Pkcs11Settings) -> pkcs11.Session:
    name = settings.token_name
    try:
        return token.open(user_pin=settings.pin)
    except p11err.UserAlreadyLoggedIn:
        # logged in by other code in this process: its login covers our session too
        try:
            return token.open()
        except p11err.PKCS11Error as exc:
            raise _Failure(_hsm_error(exc, name, "opening a session")) from None
    except (p11err.PinIncorrect, p11err.PinInvalid, p11err.PinLenRange):
        raise _Failure(f"wrong PIN for token '{name}'", retry=False) from None
    except (p11err.PinLocked, p11err.PinExpired, p11err.UserPinNotInitialized) as exc:
        raise _Failure(f"token '{name}' refused the login: {type(exc).__name__} (the user "
                       "PIN is locked, expired or not set)", retry=False) from None
    except p11err.PKCS11Error as exc:
        raise _Failure(_hsm_error(exc, name, "logging in")) from None


def _probe(session: pkcs11.Session, token: str) -> None:
    """Is an older session alive? (cleanly, unlike a failing object search)"""
    try:
        session.generate_random(64)
    except (p11err.FunctionNotSupported, p11err.RandomNoRNG):
        pass
    except p11err.PKCS11Error as exc:
        raise _Failure(_hsm_error(exc, token, "checking the session")) from None


def _hsm_error(exc: p11err.PKCS11Error, token: str, doing: str) -> str:
    return (f"the key manager failed {doing} on token '{token}' ({type(exc).__name__}): is "
            "the HSM reachable?")


_HSMS: dict[str, _Hsm] = {}
_HSMS_LOCK = threading.Lock()
_SEAL_IDS = itertools.count(1)


def _hsm(path: str) -> _Hsm:
    with _HSMS_LOCK:
        return _HSMS[path] if path in _HSMS else _HSMS.setdefault(path, _Hsm(path))


def reload_library(path: str) -> None:
    """Finalize and re-initialize `path` if it is loaded (tests switch SOFTHSM2_CONF,
    which SoftHSM2 reads in C_Initialize only). Open seals reconnect on their next call."""
    hsm = _hsm(path)
    with hsm.lock:
        hsm.reset()


class Pkcs11Seal:
    """Wraps and unwraps the unseal key with a key inside an HSM (see the module doc)."""

    type = "pkcs11"

    def __init__(self, settings: Pkcs11Settings) -> None:
        self._settings = settings
        self._closed, self._pin_rejected, self._id = False, "", next(_SEAL_IDS)

    def wrap(self, plaintext: bytes, create_key: bool = False) -> bytes:
        return self._call(lambda session: self._wrap(session, plaintext, create_key))

    def unwrap(self, ciphertext: bytes) -> bytes:
        return self._call(lambda session: self._unwrap(session, bytes(ciphertext)))

    def describe(self) -> dict[str, str]:
        s = self._settings
        info = {"type": self.type, "library": s.library, "token": s.token_name,
                "key_label": s.key_label, "mechanism": s.mechanism}
        if s.mechanism == "rsa-oaep":
            info["rsa_oaep_hash"] = s.rsa_oaep_hash
        return info

    def close(self, timeout_s: float = 5.0) -> None:
        """Later calls fail; the shared session closes when its last seal closes. Waits
        up to `timeout_s` for a call in flight (a hung HSM) and gives up after that."""
        self._closed = True
        hsm = _hsm(self._settings.library)
        if hsm.lock.acquire(timeout=timeout_s):
            try:
                hsm.release(self._id)
            finally:
                hsm.lock.release()

    def __repr__(self) -> str:
        return f"Pkcs11Seal({self.describe()})"

    def _call(self, op: Callable[[pkcs11.Session], bytes]) -> bytes:
        hsm = _hsm(self._settings.library)
        with hsm.lock:
            for attempt in range(2):
                if self._closed:
                    raise SealUnavailable("the pkcs11 seal is closed")
                if self._pin_rejected:
                    raise SealUnavailable(self._pin_rejected + " (not tried again, so the "
                                          "token does not lock: fix it and restart)")
                warm = hsm.warm
                try:
                    return op(hsm.session(self._id, self._settings))
                except _Failure as failure:
                    hsm.pending_reset |= failure.reset
                    if failure.retry and failure.reset and warm and attempt == 0:
                        continue
                    if failure.message.startswith("wrong PIN"):
                        self._pin_rejected = failure.message
                    raise SealUnavailable(failure.message) from None
        raise AssertionError("unreachable")

    def _wrap(self, session: pkcs11.Session, plaintext: bytes, create_key: bool) -> bytes:
        aes = self._settings.mechanism == "aes-gcm"
        key = self._key(session, ObjectClass.SECRET_KEY if aes else ObjectClass.PUBLIC_KEY,
                        create_key)
        iv = secrets.token_bytes(IV_BYTES) if aes else b""
        mechanism, param = self._mechanism(iv)
        out = self._crypt(session, lambda: key.encrypt(
            plaintext, mechanism=mechanism, mechanism_param=param), "encrypt", None)
        return bytes([FORMAT_AES_GCM if aes else FORMAT_RSA_OAEP]) + iv + out

    def _unwrap(self, session: pkcs11.Session, blob: bytes) -> bytes:
        s = self._settings
        aes = s.mechanism == "aes-gcm"
        if not blob or blob[0] not in (FORMAT_AES_GCM, FORMAT_RSA_OAEP):
            raise _Failure(DECRYPT_FAILED + " (not a pkcs11 seal blob)", reset=False)
        if blob[0] != (FORMAT_AES_GCM if aes else FORMAT_RSA_OAEP):
            other = "aes-gcm" if blob[0] == FORMAT_AES_GCM else "rsa-oaep"
            raise _Failure(f"{DECRYPT_FAILED}: the stored unseal key was wrapped with "
                           f"{other}, this seal is configured for {s.mechanism}", reset=False)
        if aes and len(blob) < 1 + IV_BYTES + TAG_BYTES:
            raise _Failure(DECRYPT_FAILED + " (too short)", reset=False)
        kind = ObjectClass.SECRET_KEY if aes else ObjectClass.PRIVATE_KEY
        key = self._key(session, kind, False)
        iv = blob[1:1 + IV_BYTES] if aes else b""
        mechanism, param = self._mechanism(iv)
        return self._crypt(session, lambda: key.decrypt(
            blob[1 + len(iv):], mechanism=mechanism, mechanism_param=param), "decrypt", kind)

    def _mechanism(self, iv: bytes) -> tuple[Mechanism, Any]:
        if self._settings.mechanism == "aes-gcm":
            return Mechanism.AES_GCM, GCMParams(iv, AAD)
        digest, mgf = OAEP_HASHES[self._settings.rsa_oaep_hash]
        return Mechanism.RSA_PKCS_OAEP, (digest, mgf, None)

    def _crypt(self, session: pkcs11.Session, run: Callable[[], bytes], doing: str,
               probe: ObjectClass | None) -> bytes:
        """`run` mapped to _Failure. A decryption error is told apart from a dead session
        by finding the key again (SoftHSM2 answers a bad GCM tag with CKR_GENERAL_ERROR)."""
        s = self._settings
        try:
            return bytes(run())
        except _REFUSED as exc:
            mech = s.mechanism + (f" ({s.rsa_oaep_hash})" if s.mechanism == "rsa-oaep" else "")
            hint = "; set rsa_oaep_hash = \"sha1\"" if s.mechanism == "rsa-oaep" else ""
            raise _Failure(f"token '{s.token_name}' refused to {doing} with {mech} "
                           f"({type(exc).__name__}){hint}", reset=False) from None
        except p11err.PKCS11Error as exc:
            failure = _Failure(_hsm_error(exc, s.token_name, f"to {doing}"))
        if probe is not None:
            try:
                self._key(session, probe, False)
            except _Failure:
                pass
            else:
                failure = _Failure(DECRYPT_FAILED, reset=False)
        raise failure

    def _key(self, session: pkcs11.Session, kind: ObjectClass, create: bool) -> Any:
        s = self._settings
        key_type = KeyType.AES if s.mechanism == "aes-gcm" else KeyType.RSA
        where = f"key labelled '{s.key_label}' on token '{s.token_name}'"
        try:
            return session.get_key(object_class=kind, key_type=key_type, label=s.key_label)
        except p11err.NoSuchKey:
            if not (create and s.generate_key):
                hint = ("generate_key creates it only at init" if s.generate_key
                        else "set generate_key = true to create it at init")
                raise _Failure(f"no {where} ({hint})") from None
        except p11err.MultipleObjectsReturned:
            raise _Failure(f"more than one {where}", reset=False) from None
        except p11err.PKCS11Error as exc:
            raise _Failure(_hsm_error(exc, s.token_name, "finding the key")) from None
        self._generate(session)
        return self._key(session, kind, False)

    def _generate(self, session: pkcs11.Session) -> None:
        """Create the key as a token object, private, sensitive, never extractable."""
        s = self._settings
        private = {Attribute.TOKEN: True, Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                   Attribute.EXTRACTABLE: False}
        rw = None
        try:
            rw = session.token.open(rw=True)  # shares the login; closing it keeps it
            key_id = secrets.token_bytes(16)
            if s.mechanism == "aes-gcm":
                rw.generate_key(KeyType.AES, 256, id=key_id, label=s.key_label, store=True,
                                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                                template=private)
            else:
                rw.generate_keypair(
                    KeyType.RSA, RSA_BITS, id=key_id, label=s.key_label, store=True,
                    capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                    public_template={Attribute.TOKEN: True}, private_template=private)
        except p11err.PKCS11Error as exc:
            raise _Failure(_hsm_error(exc, s.token_name, f"generating key '{s.key_label}'"),
                           retry=False) from None
        finally:
            if rw is not None:
                with contextlib.suppress(p11err.PKCS11Error):
                    rw.close()
