"""Policy text -> `Policy`, with errors that say where and what to fix.

Contract:

- `parse_policy(name, text)` accepts Vault's ACL policy language in HCL or
  JSON (see `syntax.py` for how each is read) and returns a `Policy` whose
  rules are in source order. Any problem raises `PolicyParseError`, a
  `BadRequest` whose message names the policy, the 1-based line and column,
  and for a problem inside a path block, that block's path:
  `policy 'dev': line 3, column 15: expected '=' after capabilities, found '['`.
- Inside a path block only `capabilities` is accepted: a non-empty list of
  `create read update patch delete list sudo deny`. A list that names `deny`
  means deny only (Vault). Vault's other keys (`allowed_parameters`,
  `denied_parameters`, `required_parameters`, `min_wrapping_ttl`,
  `max_wrapping_ttl`, `mfa_methods`, `control_group`, `comment`) are
  rejected rather than ignored: a policy that silently lost a
  parameter constraint would grant more than its author wrote.
- The legacy `policy = "deny" | "read" | "write" | "sudo"` line is accepted and
  mapped as Vault maps it (`_LEGACY`); with `capabilities` beside it the two add
  up, except `deny`, which wins.
- Globs: `*` only as the last character, `+` only as a whole segment, no `.`,
  `..` or empty segments, no identity templating (`{{...}}`). One leading `/`
  is dropped, as Vault does.
- Names (`normalize_policy_name`): trimmed and lower-cased as Vault does, then
  1-128 characters of `a-z 0-9 - _ .`, and not `.` or `..` (names become
  storage keys and URL segments). `root` can never be written; `default` can be
  updated but not deleted (`check_deletable`).
- The same blocks in HCL and in JSON give equal `Policy` values, hence equal
  `ACL`s. An empty text is refused (as Vault does); a text with no path blocks
  (only comments) is a valid policy that grants nothing.

Pure functions, safe from any thread.
"""

from __future__ import annotations

import functools
import json
import re

from strongbox.errors import BadRequest
from strongbox.policy.acl import (
    CAPABILITIES,
    DEFAULT_POLICY,
    DEFAULT_POLICY_NAME,
    DENY,
    ROOT_POLICY_NAME,
    Policy,
    Rule,
    glob_problem,
)
from strongbox.policy.syntax import Block, Other, Str, SyntaxProblem, Value, read_blocks

_NAME = re.compile(r"[a-z0-9._-]{1,128}")
_UNSUPPORTED = {
    "allowed_parameters": "parameter constraints are not supported",
    "denied_parameters": "parameter constraints are not supported",
    "required_parameters": "parameter constraints are not supported",
    "min_wrapping_ttl": "wrapping TTL constraints are not supported",
    "max_wrapping_ttl": "wrapping TTL constraints are not supported",
    "mfa_methods": "MFA constraints are not supported",
    "control_group": "control groups are not supported",
}
# Vault's pre-0.9 `policy = "..."` inside a path block, mapped as vault/policy.go maps it:
# added to `capabilities` when both are given, except deny, which replaces them.
_LEGACY = {
    "deny": frozenset({DENY}),
    "read": frozenset({"read", "list"}),
    "write": frozenset({"create", "read", "update", "delete", "list"}),
    "sudo": frozenset({"create", "read", "update", "delete", "list", "sudo"}),
}
_VALID = ", ".join(CAPABILITIES)


class PolicyParseError(BadRequest):
    """A policy text that cannot be accepted; `line` and `column` are 1-based."""

    def __init__(self, policy: str, line: int, column: int, problem: str) -> None:
        super().__init__(f"policy {policy!r}: line {line}, column {column}: {problem}")
        self.policy = policy
        self.line = line
        self.column = column
        self.problem = problem


def _shown_name(name: str) -> str:
    return repr(name if len(name) <= 64 else name[:64] + "...")


def _quoted(text: str, limit: int = 100) -> str:
    """`text` as a JSON string for a message, cut so that a hostile policy cannot bloat it."""
    return json.dumps(text if len(text) <= limit else text[:limit] + "...", ensure_ascii=False)


def normalize_policy_name(name: str) -> str:
    """The stored form of a policy name (trimmed, lower-case), or `BadRequest`."""
    normalized = name.strip().lower()
    if not _NAME.fullmatch(normalized) or normalized in (".", ".."):
        raise BadRequest(f"invalid policy name {_shown_name(name)}: use 1-128 characters, "
                         "each a lower-case letter, a digit, '-', '_' or '.'")
    return normalized


def check_deletable(name: str) -> str:
    """The normalized name if the policy may be deleted; `root` and `default` may not."""
    normalized = normalize_policy_name(name)
    if normalized in (ROOT_POLICY_NAME, DEFAULT_POLICY_NAME):
        raise BadRequest(f"the {normalized!r} policy is built in and cannot be deleted")
    return normalized


def parse_policy(name: str, text: str) -> Policy:
    """Parse and validate a policy. Raises `BadRequest` / `PolicyParseError`."""
    normalized = normalize_policy_name(name)
    if normalized == ROOT_POLICY_NAME:
        raise BadRequest("the 'root' policy is built in and cannot be created or updated")
    if not text.strip():
        raise BadRequest(f"policy {normalized!r}: the policy text is empty")
    try:
        rules = tuple(_rule(block) for block in read_blocks(text))
    except SyntaxProblem as problem:
        raise PolicyParseError(normalized, problem.pos.line, problem.pos.column,
                               problem.message) from None
    return Policy(normalized, rules)


@functools.cache
def default_policy() -> Policy:
    """The built-in `default` policy as shipped (`DEFAULT_POLICY`)."""
    return parse_policy(DEFAULT_POLICY_NAME, DEFAULT_POLICY)


def _rule(block: Block) -> Rule:
    where = f"path {_quoted(block.label)}"
    path = block.label.removeprefix("/")
    problem = glob_problem(path)
    if problem is not None:
        raise SyntaxProblem(block.pos, f"{where}: {problem}")
    capabilities: frozenset[str] | None = None
    legacy: frozenset[str] | None = None
    for attr in block.attrs:
        if attr.key == "policy":
            if legacy is not None:
                raise SyntaxProblem(attr.pos, f"{where}: policy is given twice")
            legacy = _legacy(where, attr.value)
            continue
        if attr.key != "capabilities":
            reason = _UNSUPPORTED.get(attr.key)
            detail = (f"{_quoted(attr.key)}: {reason}" if reason
                      else f"unknown key {_quoted(attr.key)}")
            raise SyntaxProblem(attr.pos, f"{where}: {detail}; only \"capabilities\" (or the "
                                          "legacy \"policy\") is allowed in a path block")
        if capabilities is not None:
            raise SyntaxProblem(attr.pos, f"{where}: capabilities is given twice")
        capabilities = _capabilities(where, attr.value)
    if capabilities is None and legacy is None:
        raise SyntaxProblem(block.pos, f"{where}: missing capabilities = [...]")
    merged = (capabilities or frozenset()) | (legacy or frozenset())
    return Rule(path, frozenset({DENY}) if DENY in merged else merged)


def _legacy(where: str, value: Value) -> frozenset[str]:
    if not isinstance(value, Str) or value.text not in _LEGACY:
        raise SyntaxProblem(value.pos, f"{where}: the legacy policy must be one of "
                                       f"\"deny\", \"read\", \"write\", \"sudo\"")
    return _LEGACY[value.text]


def _capabilities(where: str, value: Value) -> frozenset[str]:
    if isinstance(value, Str):
        raise SyntaxProblem(value.pos, f"{where}: capabilities must be a list of strings: "
                                       f"write [{_quoted(value.text)}]")
    if isinstance(value, Other):
        raise SyntaxProblem(value.pos, f"{where}: capabilities must be a list of strings, "
                                       f"not {value.what}")
    if not value.items:
        raise SyntaxProblem(value.pos, f"{where}: capabilities is empty; list one or more "
                                       f"of {_VALID}")
    found: set[str] = set()
    for item in value.items:
        if not isinstance(item, Str):
            what = item.what if isinstance(item, Other) else "a list"
            raise SyntaxProblem(item.pos, f"{where}: a capability must be a quoted string, "
                                          f"not {what}")
        if item.text not in CAPABILITIES:
            raise SyntaxProblem(item.pos, f"{where}: unknown capability {_quoted(item.text)}; "
                                          f"valid: {_VALID}")
        found.add(item.text)
    return frozenset({DENY}) if DENY in found else frozenset(found)


__all__ = ["PolicyParseError", "check_deletable", "default_policy", "normalize_policy_name",
           "parse_policy"]
