"""A Transit key ("policy" in Vault's words): its settings and versions, as pure data.

`Policy` is what one named key is: the type, the flags fixed at creation
(`derived`, `convergent_encryption`), the settings of `keys/:name/config`, and
every live version's material (`keytypes.KeyVersion`). It is stored sealed, as
one JSON object, under ("policy", <name>) of the mount's storage view; `gen`
counts its writes and is the compare-and-set token of `keystore.save`.

The rules live here, so the HTTP layer only parses and answers:

- `create(name, body, now)` validates the creation fields and makes version 1;
- `configure(policy, body)` applies `keys/:name/config` (all checks before any change);
- `rotate` / `trim` / `add_version` change versions;
- `for_encryption(requested)` and `for_decryption(version)` pick a version and
  refuse the ones `min_encryption_version`, `min_decryption_version` and trimming rule
  out, each with a 400 that says what to change;
- `describe()` is the `data` of `GET keys/:name`, which never holds key material.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from strongbox.engines.transit import keytypes, signing
from strongbox.engines.transit.keytypes import KeyType, KeyVersion
from strongbox.errors import BadRequest
from strongbox.timefmt import parse_duration

HOUR_S = 3600
MAX_ROTATE_PERIOD_S = 100 * 365 * 24 * HOUR_S
NONCE_LIMIT = 2**32  # NIST SP 800-38D: invocations of one key with random 96-bit IVs
WARN_FRACTION = 0.75  # warn once a version's count passes this share of the limit


def flag(body: dict[str, Any], name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise BadRequest(f"field {name!r} must be a boolean")


def _int(body: dict[str, Any], name: str, default: int = 0, minimum: int = 0) -> int:
    value = body.get(name, default)
    if value is None or value == "":
        return default
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"field {name!r} must be an integer")
    if value < minimum:
        raise BadRequest(f"field {name!r} must be at least {minimum}")
    return int(value)


def rotate_period_s(body: dict[str, Any], current: int = 0) -> int:
    """`auto_rotate_period`: 0 (off) or at least one hour, as Vault requires."""
    value = body.get("auto_rotate_period")
    if value is None or value == "":
        return current
    try:
        seconds = parse_duration(value, "auto_rotate_period") // 1_000_000_000
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if seconds != 0 and not HOUR_S <= seconds <= MAX_ROTATE_PERIOD_S:
        raise BadRequest("'auto_rotate_period' must be 0 (no automatic rotation) or at least "
                         "1h")
    return seconds


@dataclass
class Policy:
    name: str
    type: str
    versions: dict[int, KeyVersion]
    latest_version: int = 1
    derived: bool = False
    convergent_encryption: bool = False
    exportable: bool = False
    allow_plaintext_backup: bool = False
    deletion_allowed: bool = False
    min_decryption_version: int = 1
    min_encryption_version: int = 0
    min_available_version: int = 0
    auto_rotate_period: int = 0  # seconds, 0 = off
    auto_rotate_max_encryptions: int = 0  # extension: rotate once a version did this many
    imported: bool = False
    allow_rotation: bool = True
    gen: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> KeyType:
        return keytypes.key_type(self.type)

    # -- versions -------------------------------------------------------------------------

    def version(self, number: int) -> KeyVersion:
        found = self.versions.get(number)
        if found is None:
            raise BadRequest(f"key {self.name!r} has no version {number} (versions "
                             f"{self._live_range()} are available)")
        return found

    def _live_range(self) -> str:
        low = max(self.min_available_version, 1)
        return f"{low}-{self.latest_version}" if low < self.latest_version else str(low)

    def for_encryption(self, requested: int = 0) -> KeyVersion:
        """The version to encrypt or sign with: `requested` (0 = latest)."""
        number = requested or self.latest_version
        if number > self.latest_version:
            raise BadRequest(f"requested key_version {number} is newer than the latest "
                             f"version {self.latest_version} of key {self.name!r}")
        if self.min_encryption_version and number < self.min_encryption_version:
            raise BadRequest(f"requested key_version {number} is below the key's "
                             f"min_encryption_version {self.min_encryption_version}")
        return self.version(number)

    def for_decryption(self, number: int) -> KeyVersion:
        """The version to decrypt or verify with: refused below min_decryption_version."""
        if number < self.min_decryption_version:
            raise BadRequest(f"ciphertext or signature version {number} is disallowed by the "
                             f"key's min_decryption_version {self.min_decryption_version}")
        if number > self.latest_version:
            raise BadRequest(f"ciphertext or signature version {number} is newer than the "
                             f"latest version {self.latest_version} of key {self.name!r}")
        return self.version(number)

    def check_rotatable(self) -> None:
        if self.imported and not self.allow_rotation:
            raise BadRequest(f"key {self.name!r} was imported without allow_rotation; "
                             "import a new version with keys/:name/import_version instead")

    def add_version(self, made: KeyVersion) -> KeyVersion:
        """Append `made` (generated or imported off the event loop) as the next version."""
        made.version = self.latest_version + 1
        self.versions[made.version] = made
        self.latest_version = made.version
        return made

    def key_size(self) -> int:
        """The size new versions of an hmac key get (0: the type's default)."""
        return len(self.versions[self.latest_version].key) if self.type == "hmac" else 0

    def trim(self, min_available: int) -> None:
        if min_available < self.min_available_version:
            raise BadRequest("'min_available_version' cannot be lower than the current "
                             f"{self.min_available_version}: trimmed versions are gone")
        if min_available > self.min_decryption_version:
            raise BadRequest("'min_available_version' cannot be greater than the key's "
                             f"min_decryption_version {self.min_decryption_version}")
        if self.min_encryption_version and min_available > self.min_encryption_version:
            raise BadRequest("'min_available_version' cannot be greater than the key's "
                             f"min_encryption_version {self.min_encryption_version}")
        self.versions = {n: v for n, v in self.versions.items() if n >= min_available}
        self.min_available_version = min_available

    # -- settings -------------------------------------------------------------------------

    def configure(self, body: dict[str, Any]) -> None:
        """`keys/:name/config`: every value is checked before anything changes."""
        min_dec = _int(body, "min_decryption_version", self.min_decryption_version)
        min_enc = _int(body, "min_encryption_version", self.min_encryption_version)
        min_dec = min_dec or 1
        if min_dec > self.latest_version:
            raise BadRequest(f"'min_decryption_version' {min_dec} cannot be greater than the "
                             f"latest version {self.latest_version}")
        if min_dec < max(self.min_available_version, 1):
            raise BadRequest(f"'min_decryption_version' {min_dec} is below the trimmed "
                             f"versions (min_available_version {self.min_available_version})")
        if min_enc > self.latest_version:
            raise BadRequest(f"'min_encryption_version' {min_enc} cannot be greater than the "
                             f"latest version {self.latest_version}")
        if min_enc and min_enc < min_dec:
            raise BadRequest("'min_encryption_version' cannot be lower than "
                             "'min_decryption_version'")
        exportable = flag(body, "exportable", self.exportable)
        if self.exportable and not exportable:
            raise BadRequest("'exportable' cannot be unset once a key is exportable")
        backup = flag(body, "allow_plaintext_backup", self.allow_plaintext_backup)
        if self.allow_plaintext_backup and not backup:
            raise BadRequest("'allow_plaintext_backup' cannot be unset once set")
        period = rotate_period_s(body, self.auto_rotate_period)
        max_enc = _int(body, "auto_rotate_max_encryptions", self.auto_rotate_max_encryptions)
        self.deletion_allowed = flag(body, "deletion_allowed", self.deletion_allowed)
        self.min_decryption_version, self.min_encryption_version = min_dec, min_enc
        self.exportable, self.allow_plaintext_backup = exportable, backup
        self.auto_rotate_period, self.auto_rotate_max_encryptions = period, max_enc

    def rotation_due(self, now: int, encryptions: int) -> bool:
        if self.imported and not self.allow_rotation:
            return False
        latest = self.versions[self.latest_version]
        if self.auto_rotate_period and now >= latest.created + self.auto_rotate_period:
            return True
        return bool(self.auto_rotate_max_encryptions
                    and encryptions >= self.auto_rotate_max_encryptions)

    # -- answers --------------------------------------------------------------------------

    def describe(self, counts: dict[int, int]) -> dict[str, Any]:
        kind = self.kind
        keys: dict[str, Any] = {}
        for number, kv in sorted(self.versions.items()):
            if kind.signs:
                # a derived key has a public key per context: Vault shows none here
                public = "" if self.derived else signing.public_key(kind, kv)
                keys[str(number)] = {"creation_time": _rfc3339(kv.created), "name": self.type,
                                     "public_key": public}
            else:
                keys[str(number)] = kv.created
        data: dict[str, Any] = {
            "name": self.name, "type": self.type, "keys": keys,
            "latest_version": self.latest_version,
            "min_available_version": self.min_available_version,
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "deletion_allowed": self.deletion_allowed, "derived": self.derived,
            "exportable": self.exportable, "allow_plaintext_backup": self.allow_plaintext_backup,
            "supports_encryption": kind.encrypts, "supports_decryption": kind.encrypts,
            "supports_derivation": kind.derives, "supports_signing": kind.signs,
            "imported_key": self.imported, "auto_rotate_period": self.auto_rotate_period,
            "auto_rotate_max_encryptions": self.auto_rotate_max_encryptions,
            "encryption_count": {str(n): counts.get(n, 0) for n in sorted(self.versions)},
        }
        if self.imported:
            data["imported_key_allow_rotation"] = self.allow_rotation
        if self.derived:
            data["kdf"] = "hkdf_sha256"
            data["convergent_encryption"] = self.convergent_encryption
            if self.convergent_encryption:
                data["convergent_encryption_version"] = 3
        return data

    # -- storage form ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _SCALARS}
        out["versions"] = {str(n): kv.to_dict() for n, kv in self.versions.items()}
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Policy:
        versions = {int(n): KeyVersion.from_dict(v) for n, v in raw["versions"].items()}
        known = {name: raw[name] for name in _SCALARS if name in raw}
        return cls(versions=versions, **known)


_SCALARS = ("name", "type", "latest_version", "derived", "convergent_encryption", "exportable",
            "allow_plaintext_backup", "deletion_allowed", "min_decryption_version",
            "min_encryption_version", "min_available_version", "auto_rotate_period",
            "auto_rotate_max_encryptions", "imported", "allow_rotation", "gen")


def _rfc3339(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_creation(body: dict[str, Any]) -> tuple[str, int]:
    """The type and hmac key size of a new key, after checking the creation fields
    (`type`, `derived`, `convergent_encryption`, `key_size`)."""
    type_name = body.get("type") or "aes256-gcm96"
    if not isinstance(type_name, str):
        raise BadRequest("field 'type' must be a string")
    kind = keytypes.key_type(type_name)
    derived = flag(body, "derived")
    convergent = flag(body, "convergent_encryption")
    if derived and not kind.derives:
        raise BadRequest(f"key derivation is not supported for key type {type_name!r}")
    if convergent and not kind.convergent:
        raise BadRequest(f"convergent encryption is not supported for key type {type_name!r}")
    if convergent and not derived:
        raise BadRequest("convergent encryption requires derivation to be enabled: set "
                         "'derived' to true")
    key_size = _int(body, "key_size", 0)
    if key_size and type_name != "hmac":
        raise BadRequest("'key_size' applies only to keys of type 'hmac'")
    rotate_period_s(body)
    _int(body, "auto_rotate_max_encryptions")
    return type_name, key_size


def create(name: str, body: dict[str, Any], first: KeyVersion, imported: bool = False,
           ) -> Policy:
    """A new key with version `first` (made by `keytypes.generate` or `from_import` with
    what `check_creation(body)` returned)."""
    type_name = body.get("type") or "aes256-gcm96"
    first.version = 1
    policy = Policy(name=name, type=type_name, versions={1: first},
                    derived=flag(body, "derived"),
                    convergent_encryption=flag(body, "convergent_encryption"),
                    imported=imported,
                    allow_rotation=not imported or flag(body, "allow_rotation"))
    policy.exportable = flag(body, "exportable")
    policy.allow_plaintext_backup = flag(body, "allow_plaintext_backup")
    policy.auto_rotate_period = rotate_period_s(body)
    policy.auto_rotate_max_encryptions = _int(body, "auto_rotate_max_encryptions")
    return policy
