"""Vault's ACL policy language: parse policies, compile them, answer capability checks.

    policy = parse_policy("dev", 'path "secret/data/app/*" { capabilities = ["read"] }')
    acl = ACL.from_policies([default_policy(), policy])   # compile once, cache per token
    acl.allows("secret/data/app/db", "read")               # True
    acl.capabilities("secret/data/other")                  # frozenset({"deny"})

`parse.py` turns text into a `Policy` (errors name line and column), `acl.py`
holds the matcher and its precedence rules, `syntax.py` reads HCL and JSON.
Imports nothing above `strongbox.errors`.
"""

from __future__ import annotations

from strongbox.policy.acl import (
    ACL,
    CAPABILITIES,
    DEFAULT_POLICY,
    DEFAULT_POLICY_NAME,
    GRANTS,
    ROOT_POLICY,
    ROOT_POLICY_NAME,
    Policy,
    Rule,
)
from strongbox.policy.parse import (
    PolicyParseError,
    check_deletable,
    default_policy,
    normalize_policy_name,
    parse_policy,
)

__all__ = [
    "ACL",
    "CAPABILITIES",
    "DEFAULT_POLICY",
    "DEFAULT_POLICY_NAME",
    "GRANTS",
    "ROOT_POLICY",
    "ROOT_POLICY_NAME",
    "Policy",
    "PolicyParseError",
    "Rule",
    "check_deletable",
    "default_policy",
    "normalize_policy_name",
    "parse_policy",
]
