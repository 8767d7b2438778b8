"""The Database engine's records as pure data: connections, roles, static roles, leases.

Each record is a dataclass with `to_dict`/`from_dict` (JSON, stored sealed in the
mount's storage view) and a `parse(body, current)` that validates a request body
with Vault's field names and returns the new record, or raises `BadRequest` naming
the field. Passwords are held only in `Connection.password`/`pending_password` and
`StaticRole.password`/`previous`/`pending`; `describe()` of a record never contains
them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, TypeVar

from strongbox.engines.database import templates
from strongbox.engines.database.cron import Schedule
from strongbox.engines.database.postgres import PgConfig
from strongbox.errors import BadRequest
from strongbox.timefmt import parse_duration

PLUGIN = "postgresql-database-plugin"
MAX_TTL_S = 100 * 365 * 86400
T = TypeVar("T")


def seconds(body: dict[str, Any], name: str, current: int = 0) -> int:
    value = body.get(name)
    if value is None or value == "":
        return current
    try:
        out = parse_duration(value, name) // 1_000_000_000
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if not 0 <= out <= MAX_TTL_S:
        raise BadRequest(f"{name!r} must be between 0 and 100 years")
    return out


def statements(body: dict[str, Any], name: str, current: list[str]) -> list[str]:
    """Vault accepts a string (statements separated by ';') or a list of strings."""
    value = body.get(name)
    if value is None:
        return current
    if isinstance(value, str):
        value = [value] if value.strip() else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name!r} must be a string or a list of strings")
    for statement in value:
        templates.validate(statement)
    return [v for v in value if v.strip()]


def text(body: dict[str, Any], name: str, current: str = "") -> str:
    value = body.get(name)
    if value is None:
        return current
    if not isinstance(value, str):
        raise BadRequest(f"field {name!r} must be a string")
    return value


def integer(body: dict[str, Any], name: str, current: int, minimum: int = 0) -> int:
    value = body.get(name)
    if value is None or value == "":
        return current
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadRequest(f"field {name!r} must be an integer of at least {minimum}")
    return int(value)


def boolean(body: dict[str, Any], name: str, current: bool) -> bool:
    value = body.get(name)
    if value is None:
        return current
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise BadRequest(f"field {name!r} must be a boolean")
    return value


def names(body: dict[str, Any], name: str, current: list[str]) -> list[str]:
    value = body.get(name)
    if value is None:
        return current
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{name!r} must be a list of names or a comma-separated string")
    return list(value)


def _load(cls: type[T], raw: dict[str, Any]) -> T:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in raw.items() if k in known})


@dataclass
class Connection:
    name: str
    connection_url: str = field(repr=False)
    username: str = ""
    password: str = field(default="", repr=False)
    allowed_roles: list[str] = field(default_factory=list)
    verify_connection: bool = True
    max_open_connections: int = 4
    max_idle_connections: int = 0
    max_connection_lifetime: int = 0
    password_policy: str = ""
    username_template: str = ""
    root_rotation_statements: list[str] = field(default_factory=list)
    password_authentication: str = "password"  # noqa: S105 (a method name, not a password)
    # root rotation, phase 1 done, phase 2 not yet: the password being set
    pending_password: str = field(default="", repr=False)
    pending_since: int = 0  # unix seconds
    generation: int = 0  # bumped on every write: the node's pool is keyed on it

    def pg(self, password: str | None = None) -> PgConfig:
        return PgConfig(connection_url=self.connection_url, username=self.username,
                        password=self.password if password is None else password,
                        max_open_connections=self.max_open_connections,
                        max_idle_connections=self.max_idle_connections,
                        max_connection_lifetime_s=self.max_connection_lifetime,
                        password_authentication=self.password_authentication)

    def allows(self, role: str) -> bool:
        return "*" in self.allowed_roles or role in self.allowed_roles

    def policy(self) -> templates.PasswordPolicy | None:
        return templates.PasswordPolicy.parse(self.password_policy) \
            if self.password_policy else None

    def describe(self) -> dict[str, Any]:
        details = {"connection_url": self.connection_url, "username": self.username,
                   "max_open_connections": self.max_open_connections,
                   "max_idle_connections": self.max_idle_connections,
                   "max_connection_lifetime": f"{self.max_connection_lifetime}s",
                   "password_authentication": self.password_authentication}
        return {"plugin_name": PLUGIN, "plugin_version": "", "connection_details": details,
                "allowed_roles": self.allowed_roles, "verify_connection": self.verify_connection,
                "password_policy": self.password_policy,
                "root_credentials_rotate_statements": self.root_rotation_statements}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Connection:
        return _load(cls, raw)

    @classmethod
    def parse(cls, name: str, body: dict[str, Any], current: Connection | None) -> Connection:
        plugin = text(body, "plugin_name", PLUGIN if current else "")
        if plugin != PLUGIN:
            raise BadRequest(f"'plugin_name' must be {PLUGIN!r}: the only database plugin "
                             "StrongBox serves")
        url = text(body, "connection_url", current.connection_url if current else "")
        if not url:
            raise BadRequest("'connection_url' is required, e.g. postgresql://{{username}}:"
                             "{{password}}@db.example:5432/app")
        base = current or cls(name=name, connection_url=url)
        out = cls(name=name, connection_url=url,
                  username=text(body, "username", base.username),
                  password=text(body, "password", base.password),
                  allowed_roles=names(body, "allowed_roles", base.allowed_roles),
                  verify_connection=boolean(body, "verify_connection", True),
                  max_open_connections=integer(body, "max_open_connections",
                                               base.max_open_connections, 1),
                  max_idle_connections=integer(body, "max_idle_connections",
                                               base.max_idle_connections),
                  max_connection_lifetime=seconds(body, "max_connection_lifetime",
                                                  base.max_connection_lifetime),
                  password_policy=text(body, "password_policy", base.password_policy),
                  username_template=text(body, "username_template", base.username_template),
                  root_rotation_statements=statements(body, "root_rotation_statements",
                                                      base.root_rotation_statements),
                  password_authentication=text(body, "password_authentication",
                                               base.password_authentication),
                  generation=base.generation + 1)
        out.pg()  # checks the URL, sizes and password_authentication
        out.policy()
        if out.username_template:
            templates.validate_username_template(out.username_template)
        return out


@dataclass
class Role:
    name: str
    db_name: str
    creation_statements: list[str]
    revocation_statements: list[str] = field(default_factory=list)
    rollback_statements: list[str] = field(default_factory=list)
    renew_statements: list[str] = field(default_factory=list)
    default_ttl: int = 0
    max_ttl: int = 0
    # ours: how default revocation treats objects the user owns (vault#1857)
    reassign_owned_to: str = ""
    drop_owned: bool = True

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("name")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Role:
        return _load(cls, raw)

    @classmethod
    def parse(cls, name: str, body: dict[str, Any], current: Role | None) -> Role:
        db_name = text(body, "db_name", current.db_name if current else "")
        if not db_name:
            raise BadRequest("'db_name' is required: the database/config/:name this role "
                             "creates users in")
        creation = statements(body, "creation_statements",
                              current.creation_statements if current else [])
        if not creation:
            raise BadRequest("'creation_statements' is required, e.g. CREATE ROLE "
                             "\"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL "
                             "'{{expiration}}';")
        base = current or cls(name=name, db_name=db_name, creation_statements=creation)
        role = cls(name=name, db_name=db_name, creation_statements=creation,
                   revocation_statements=statements(body, "revocation_statements",
                                                    base.revocation_statements),
                   rollback_statements=statements(body, "rollback_statements",
                                                  base.rollback_statements),
                   renew_statements=statements(body, "renew_statements", base.renew_statements),
                   default_ttl=seconds(body, "default_ttl", base.default_ttl),
                   max_ttl=seconds(body, "max_ttl", base.max_ttl),
                   reassign_owned_to=text(body, "reassign_owned_to", base.reassign_owned_to),
                   drop_owned=boolean(body, "drop_owned", base.drop_owned))
        if role.max_ttl and role.default_ttl > role.max_ttl:
            raise BadRequest("'default_ttl' cannot be greater than 'max_ttl'")
        return role


@dataclass
class StaticRole:
    name: str
    db_name: str
    username: str
    rotation_period: int = 0
    rotation_statements: list[str] = field(default_factory=list)
    # ours: two users take turns; each rotation changes the one not handed out
    alternate_username: str = ""
    active: str = ""  # the user static-creds hands out now
    password: str = field(default="", repr=False)  # the active user's
    previous_password: str = field(default="", repr=False)  # the other user's (alternating)
    last_rotation: int = 0  # unix seconds
    pending_password: str = field(default="", repr=False)  # rotation between its phases
    pending_user: str = ""
    pending_since: int = 0  # unix seconds
    rotation_schedule: str = ""  # cron (UTC), instead of rotation_period
    next_rotation: int = 0  # with a schedule: when it is next due (set at each rotation)

    def users(self) -> list[str]:
        return [self.username] + ([self.alternate_username] if self.alternate_username else [])

    def next_user(self) -> str:
        """The user the next rotation changes: the one not handed out (alternating)."""
        if not self.alternate_username or not self.active:
            return self.active or self.username
        return self.alternate_username if self.active == self.username else self.username

    def describe(self, now: int) -> dict[str, Any]:
        return {"db_name": self.db_name, "username": self.username,
                "rotation_period": self.rotation_period,
                "rotation_schedule": self.rotation_schedule,
                "rotation_statements": self.rotation_statements,
                "alternate_username": self.alternate_username,
                "last_vault_rotation": _rfc3339(self.last_rotation),
                "ttl": self.ttl(now), "credential_type": "password"}

    def next_due(self) -> int:
        if self.rotation_schedule:
            return self.next_rotation
        return self.last_rotation + self.rotation_period if self.rotation_period else 0

    def rotated(self, now: int) -> None:
        self.last_rotation = now
        if self.rotation_schedule:
            self.next_rotation = Schedule.parse(self.rotation_schedule).next_after(now)

    def ttl(self, now: int) -> int:
        return max(0, self.next_due() - now) if self.next_due() else 0

    def due(self, now: int) -> bool:
        return bool(self.next_due()) and now >= self.next_due()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> StaticRole:
        return _load(cls, raw)

    @classmethod
    def parse(cls, name: str, body: dict[str, Any], current: StaticRole | None
              ) -> StaticRole:
        db_name = text(body, "db_name", current.db_name if current else "")
        username = text(body, "username", current.username if current else "")
        if not db_name or not username:
            raise BadRequest("'db_name' and 'username' are required for a static role")
        if current is not None and username != current.username:
            raise BadRequest("'username' of a static role cannot be changed; delete the "
                             "role and create it again")
        schedule = text(body, "rotation_schedule", current.rotation_schedule if current else "")
        period = seconds(body, "rotation_period", current.rotation_period if current else 0)
        if body.get("rotation_schedule") and body.get("rotation_period"):
            raise BadRequest("give 'rotation_period' or 'rotation_schedule', not both")
        if body.get("rotation_schedule"):
            period = 0
        elif body.get("rotation_period"):
            schedule = ""
        if schedule:
            Schedule.parse(schedule)
        elif period < 5:
            raise BadRequest("'rotation_period' (at least 5s) or 'rotation_schedule' (cron) "
                             "is required")
        base = current or cls(name=name, db_name=db_name, username=username)
        alternate = text(body, "alternate_username", base.alternate_username)
        if alternate and alternate == username:
            raise BadRequest("'alternate_username' must differ from 'username'")
        role = StaticRole(**{**base.to_dict(), "db_name": db_name, "rotation_period": period,
                             "rotation_schedule": schedule, "alternate_username": alternate})
        role.rotation_statements = statements(body, "rotation_statements",
                                              base.rotation_statements)
        return role


@dataclass
class Lease:
    lease_id: str  # the full id, "<mount path>creds/<role>/<id>"
    role: str
    db_name: str
    username: str
    issue_time: int  # unix seconds
    expire_time: int
    max_expire: int  # issue + the effective max TTL: renewals stop here
    token_accessor: str = ""
    namespace: str = ""
    last_renewal: int = 0
    revoke_attempts: int = 0
    next_attempt: int = 0
    last_error: str = ""
    irrevocable: bool = False

    def describe(self, now: int) -> dict[str, Any]:
        data = {"id": self.lease_id, "issue_time": _rfc3339(self.issue_time),
                "expire_time": _rfc3339(self.expire_time),
                "last_renewal": _rfc3339(self.last_renewal) if self.last_renewal else None,
                "renewable": not self.irrevocable and self.expire_time < self.max_expire,
                "ttl": max(0, self.expire_time - now)}
        if self.irrevocable:
            data["irrevocable"] = True
            data["revocation_error"] = self.last_error
        return data

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Lease:
        return _load(cls, raw)


def _rfc3339(unix_s: int) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
