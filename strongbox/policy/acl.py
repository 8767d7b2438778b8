"""Compiled ACLs: which capabilities a set of policies grants on a request path.

Contract (Vault's `vault/acl.go`, `NewACL` / `AllowOperation` /
`CheckAllowedFromNonExactPaths`, and the "Policies" concept page):

- A `Rule` is one `path "<glob>" { capabilities = [...] }` block. A glob is an
  exact path, a prefix glob (`*` as the last character: plain string-prefix
  match, so `secret/foo*` matches `secret/foobar`), or a segment-wildcard path
  (`+` as a whole segment matches exactly one segment, possibly combined with a
  trailing `*`).
- `ACL.from_policies` merges rules with the *same* glob across all policies:
  capabilities are unioned, and `deny` anywhere on that glob leaves only
  `deny`. Rules with different globs are never merged: only the single most
  specific matching glob decides, so `deny` on `secret/*` does not take away
  `read` granted on the exact path `secret/foo` (this is Vault's behaviour).
- Most specific: an exact rule always wins. Otherwise, among matching globs,
  Vault's priority order picks one winner (see `_priority`):
  1. the first `+` or `*` occurs later;
  2. not ending in `*` beats ending in `*`;
  3. fewer `+` segments;
  4. longer (the glob without its trailing `*`);
  5. lexicographically greater (an arbitrary but total tie-break).
- `capabilities(path)` answers exactly what Vault's `sys/capabilities-self`
  answers: `{"root"}` for the root policy, `{"deny"}` when nothing is granted
  (no match, an explicit deny, or a traversal path), otherwise the granted set.
  Like Vault it evaluates the path as a LIST would: an exact rule for the path
  without one trailing `/` also counts, and for a path ending in `/` the globs
  are first tried without that `/`.
- `allows(path, capability)` is the request-time check. Only `list` gets the
  trailing-`/` fallback above (Vault does the same for `ListOperation` only);
  the root policy allows everything, `sudo` included.
- Paths are request paths after `/v1/` (a leading `/` is ignored), already
  normalized by the HTTP layer. Defence in depth: a path with a `.` or `..`
  segment is never allowed by anything, not even by the root policy, so the
  only answer it can get is a deny (`secret/data/../sys/seal` must not slip
  through a `secret/*` grant).

`ACL` objects are immutable after construction and safe to share between
threads and coroutines; callers cache one per token (or per policy set).
Equality compares the compiled rules, not the policy names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DENY = "deny"
ROOT = "root"
#: Every capability a policy may name, in Vault's documentation order.
CAPABILITIES: tuple[str, ...] = ("create", "read", "update", "patch", "delete", "list", "sudo",
                                 DENY)
#: The capabilities that grant something (all of them but `deny`).
GRANTS: frozenset[str] = frozenset(CAPABILITIES) - {DENY}

ROOT_POLICY_NAME = "root"
DEFAULT_POLICY_NAME = "default"

#: The built-in `default` policy: Vault's default policy, restricted to the
#: endpoints StrongBox has (docs/api.md). It can be updated but not deleted.
DEFAULT_POLICY = """\
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
  capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Allow a token to renew a lease via lease_id in the request body
path "sys/leases/renew" {
  capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given
# response-wrapping token
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
"""

_DENY_ONLY: frozenset[str] = frozenset({DENY})
_ROOT_ONLY: frozenset[str] = frozenset({ROOT})
_TRAVERSAL = frozenset({".", ".."})


def glob_problem(path: str) -> str | None:
    """Why `path` (leading `/` already stripped) is not a valid rule glob, or None.

    Stricter than Vault, which takes a misplaced `*` or `+` literally: here a
    glob that cannot mean what its author intended is refused.
    """
    if not path:
        return "the path is empty"
    if any(ord(c) < 0x20 or c == "\x7f" for c in path):
        return "the path contains a control character"
    if "{{" in path or "}}" in path:
        return "templated policy paths ({{identity...}}) are not supported"
    if "*" in path[:-1]:
        return "'*' is only allowed as the last character of a path"
    if "+*" in path:
        return "'+*' is not allowed: '+' must be a whole segment; write '+/*' or '*'"
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if "+" in segment and segment != "+":
            return f"'+' must be a whole path segment, not part of {segment!r}"
        if segment in _TRAVERSAL:
            return "the path must not contain '.' or '..' segments"
        if not segment and index < len(segments) - 1:
            return "the path must not contain an empty segment (as in '//')"
    return None


def _merge(existing: frozenset[str], new: frozenset[str]) -> frozenset[str]:
    """Vault's merge of two rules on the same glob: union, with deny absorbing all."""
    if DENY in existing or DENY in new:
        return _DENY_ONLY
    return existing | new


@dataclass(frozen=True, slots=True)
class Rule:
    """One path block. `capabilities` is reduced to `{"deny"}` when it names deny."""

    path: str
    capabilities: frozenset[str]

    def __post_init__(self) -> None:
        problem = glob_problem(self.path)
        if problem is not None:
            raise ValueError(f"invalid policy path {self.path!r}: {problem}")
        unknown = self.capabilities - frozenset(CAPABILITIES)
        if unknown:
            raise ValueError(f"unknown capabilities {sorted(unknown)} on {self.path!r}")
        if not self.capabilities:
            raise ValueError(f"no capabilities on {self.path!r}")
        if DENY in self.capabilities and len(self.capabilities) > 1:
            object.__setattr__(self, "capabilities", _DENY_ONLY)


@dataclass(frozen=True, slots=True)
class Policy:
    """A named, parsed policy: its rules in the order they were written."""

    name: str
    rules: tuple[Rule, ...] = ()


#: The root policy: every capability on every path. It has no rules; `ACL`
#: recognises it by name. It cannot be created, updated or deleted.
ROOT_POLICY = Policy(ROOT_POLICY_NAME, ())


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A matching glob, described by the fields of Vault's `wcPathDescr`."""

    first_wildcard: int
    is_prefix: bool
    wildcards: int
    wc_path: str
    capabilities: frozenset[str]


def _priority(c: _Candidate) -> tuple[int, int, int, int, str]:
    """Sort key: the greatest key is the most specific match (Vault's `less`, reversed)."""
    return (c.first_wildcard, 0 if c.is_prefix else 1, -c.wildcards, len(c.wc_path), c.wc_path)


@dataclass(frozen=True, slots=True)
class _SegmentRule:
    """A glob with `+` segments; `parts` are its segments without the trailing `*`."""

    path: str
    parts: tuple[str, ...]
    is_prefix: bool
    first_wildcard: int
    wildcards: int
    wc_path: str
    capabilities: frozenset[str]

    @classmethod
    def compile(cls, path: str, capabilities: frozenset[str]) -> _SegmentRule:
        is_prefix = path.endswith("*")
        wc_path = path[:-1] if is_prefix else path
        parts = tuple(wc_path.split("/"))
        return cls(path, parts, is_prefix, path.index("+"), parts.count("+"), wc_path,
                   capabilities)

    def matches(self, path_parts: list[str]) -> bool:
        """Vault's segment matcher: `+` is any one segment (even empty); `*` a string prefix."""
        parts = self.parts
        if len(path_parts) < len(parts):
            return False
        if not self.is_prefix and len(path_parts) != len(parts):
            return False
        last = len(parts) - 1
        for i, part in enumerate(parts):
            if part == "+" or part == path_parts[i]:
                continue
            if self.is_prefix and i == last and path_parts[i].startswith(part):
                continue
            return False
        return True

    def candidate(self) -> _Candidate:
        return _Candidate(self.first_wildcard, self.is_prefix, self.wildcards, self.wc_path,
                          self.capabilities)


def _has_segment_wildcard(path: str) -> bool:
    # The same test as Vault's parsePaths; glob_problem guarantees '+' is a whole segment.
    return path == "+" or "/+" in path or path.startswith("+/")


def _is_traversal(path: str) -> bool:
    return any(segment in _TRAVERSAL for segment in path.split("/"))


@dataclass(frozen=True, slots=True, eq=False)
class ACL:
    """The compiled union of a token's policies. Build with `ACL.from_policies`."""

    is_root: bool = False
    policy_names: tuple[str, ...] = ()
    _exact: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _prefix: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _segment: tuple[_SegmentRule, ...] = field(default=(), repr=False)

    @classmethod
    def from_policies(cls, policies: Iterable[Policy]) -> ACL:
        """Compile once. A policy named `root` makes the whole ACL root (all access)."""
        exact: dict[str, frozenset[str]] = {}
        prefix: dict[str, frozenset[str]] = {}
        segment: dict[str, frozenset[str]] = {}
        names: list[str] = []
        is_root = False
        for policy in policies:
            names.append(policy.name)
            if policy.name == ROOT_POLICY_NAME:
                is_root = True
            for rule in policy.rules:
                path, table = rule.path, exact
                if _has_segment_wildcard(path):
                    table = segment
                elif path.endswith("*"):
                    path, table = path[:-1], prefix
                previous = table.get(path)
                table[path] = (rule.capabilities if previous is None
                               else _merge(previous, rule.capabilities))
        compiled = tuple(_SegmentRule.compile(p, caps) for p, caps in sorted(segment.items()))
        return cls(is_root, tuple(names), exact, prefix, compiled)

    def capabilities(self, path: str) -> frozenset[str]:
        """What Vault's `sys/capabilities-self` answers for `path` (see the module doc)."""
        path = path.lstrip("/")
        if _is_traversal(path):
            return _DENY_ONLY
        if self.is_root:
            return _ROOT_ONLY
        found = self._lookup(path, list_fallback=True)
        if not found or DENY in found:
            return _DENY_ONLY
        return found

    def has_access_under(self, mount_path: str) -> bool:
        """Whether any rule grants something (not deny) at or below `mount_path` (Vault's
        `hasMountAccess`, used by sys/internal/ui/mounts to say what a mount is)."""
        if self.is_root:
            return True
        mount_path = mount_path.lstrip("/")
        for table in (self._exact, self._prefix):
            for path, caps in table.items():
                if DENY in caps:
                    continue
                if path.startswith(mount_path) or (table is self._prefix
                                                   and mount_path.startswith(path)):
                    return True
        mount_parts = mount_path.rstrip("/").split("/")
        for rule in self._segment:
            if DENY not in rule.capabilities and all(
                    want in ("+", part) for want, part in zip(rule.parts, mount_parts,
                                                               strict=False)):
                return True
        return False

    def allows(self, path: str, capability: str) -> bool:
        """Whether a request on `path` needing `capability` is permitted."""
        if capability not in GRANTS:
            raise ValueError(f"not a grantable capability: {capability!r}")
        path = path.lstrip("/")
        if _is_traversal(path):
            return False
        if self.is_root:
            return True
        found = self._lookup(path, list_fallback=capability == "list")
        return capability in found and DENY not in found

    def _lookup(self, path: str, *, list_fallback: bool) -> frozenset[str]:
        """The capabilities of the most specific rule matching `path`, or an empty set."""
        found = self._exact.get(path)
        if found is not None:
            return found
        if list_fallback:
            trimmed = path.removesuffix("/")
            found = self._exact.get(trimmed)
            if found is not None:
                return found
            if trimmed != path:
                best = self._best_glob(trimmed)
                if best is not None:
                    return best
        best = self._best_glob(path)
        return frozenset() if best is None else best

    def _best_glob(self, path: str) -> frozenset[str] | None:
        candidates: list[_Candidate] = []
        prefix = self._longest_prefix(path)
        if prefix is not None:
            # Among plain prefix globs the longest always has the highest
            # priority (rule 1), so only that one needs to compete.
            candidates.append(_Candidate(len(prefix), True, 0, prefix, self._prefix[prefix]))
        if self._segment:
            parts = path.split("/")
            candidates.extend(r.candidate() for r in self._segment if r.matches(parts))
        if not candidates:
            return None
        return max(candidates, key=_priority).capabilities

    def _longest_prefix(self, path: str) -> str | None:
        table = self._prefix
        if not table:
            return None
        for end in range(len(path), -1, -1):
            if path[:end] in table:
                return path[:end]
        return None

    def _key(self) -> tuple[object, ...]:
        return (self.is_root, dict(self._exact), dict(self._prefix),
                {r.path: r.capabilities for r in self._segment})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ACL):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash((self.is_root, frozenset(self._exact.items()),
                     frozenset(self._prefix.items()),
                     frozenset((r.path, r.capabilities) for r in self._segment)))


__all__ = [
    "ACL",
    "CAPABILITIES",
    "DEFAULT_POLICY",
    "DEFAULT_POLICY_NAME",
    "DENY",
    "GRANTS",
    "ROOT",
    "ROOT_POLICY",
    "ROOT_POLICY_NAME",
    "Policy",
    "Rule",
    "glob_problem",
]
