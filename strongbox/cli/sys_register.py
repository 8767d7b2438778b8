"""The argparse tables of `sys_cmds` (policy, secrets, auth, audit, namespace) and of the
raw commands (`raw`). Contract: `register(sub, audit_actions)` adds them; `audit_actions`
is the sub-command table of ``strongbox audit`` that already holds ``verify``.
"""

from __future__ import annotations

import argparse

from strongbox.cli import raw, sys_cmds
from strongbox.cli.common import SubParsers, command, flag, group


def _policy(sub: SubParsers) -> None:
    actions = group(sub, "policy", "write, read, list and delete ACL policies")
    write = command(actions, "write", sys_cmds.cmd_policy_write, "upload a policy",
                    "  strongbox policy write app-read app-read.hcl\n"
                    "  echo 'path \"secret/data/app/*\" { capabilities = [\"read\"] }' | "
                    "strongbox policy write app-read -\n")
    write.add_argument("name", metavar="NAME")
    write.add_argument("file", metavar="FILE|-")
    for name, handler, summary in (("read", sys_cmds.cmd_policy_read, "show a policy"),
                                   ("delete", sys_cmds.cmd_policy_delete, "delete a policy")):
        parser = command(actions, name, handler, summary, f"  strongbox policy {name} app-read\n")
        parser.add_argument("name", metavar="NAME")
    command(actions, "list", sys_cmds.cmd_policy_list, "list policies",
            "  strongbox policy list\n")
    fmt = command(actions, "fmt", sys_cmds.cmd_policy_fmt, "normalize a policy file in place",
                  "  strongbox policy fmt app-read.hcl\n")
    fmt.add_argument("file", metavar="FILE|-")


def _secrets(sub: SubParsers) -> None:
    actions = group(sub, "secrets", "enable, disable, list and tune secrets engines")
    enable = command(actions, "enable", sys_cmds.cmd_secrets_enable, "mount a secrets engine",
                     "  strongbox secrets enable -path=team kv-v2\n"
                     "  strongbox secrets enable -path=legacy -version=1 kv\n")
    enable.add_argument("type", metavar="TYPE", help="kv, kv-v2 ...")
    flag(enable, "path", help="mount path (default: TYPE)")
    flag(enable, "version", type=int, help="KV version (1 or 2)")
    flag(enable, "description", help="a note shown by list")
    flag(enable, "options", action="append", metavar="KEY=VALUE", help="repeatable")
    disable = command(actions, "disable", sys_cmds.cmd_secrets_disable,
                      "unmount a secrets engine (its data is deleted)",
                      "  strongbox secrets disable team/\n")
    disable.add_argument("path", metavar="PATH")
    listing = command(actions, "list", sys_cmds.cmd_secrets_list, "list secrets engines",
                      "  strongbox secrets list\n  strongbox secrets list -detailed\n")
    flag(listing, "detailed", action="store_true", help="show the KV version too")
    tune = command(actions, "tune", sys_cmds.cmd_secrets_tune, "change a mount's settings",
                   "  strongbox secrets tune -options=version=2 legacy/\n")
    tune.add_argument("path", metavar="PATH")
    flag(tune, "description")
    flag(tune, "options", action="append", metavar="KEY=VALUE", help="repeatable")


def _mount_kind(sub: SubParsers | None, kind: str, actions: SubParsers | None = None) -> None:
    if actions is None:
        assert sub is not None
        actions = group(sub, kind, f"enable, disable and list {kind} methods")
    noun = "audit device" if kind == "audit" else "auth method"
    example = ("  strongbox audit enable file file_path=/var/log/strongbox/audit.log\n"
               if kind == "audit" else "  strongbox auth enable userpass\n"
               "  strongbox auth enable -path=ci approle\n")
    enable = command(actions, "enable", sys_cmds.enable_handler(kind), f"enable an {noun}", example)
    enable.add_argument("type", metavar="TYPE")
    if kind == "audit":
        enable.add_argument("extra", nargs="*", metavar="KEY=VALUE", help="device options")
    flag(enable, "path", help="mount path (default: TYPE)")
    flag(enable, "description")
    flag(enable, "options", action="append", metavar="KEY=VALUE", help="repeatable")
    disable = command(actions, "disable", sys_cmds.disable_handler(kind), f"disable an {noun}",
                      f"  strongbox {kind} disable {'file' if kind == 'audit' else 'userpass'}/\n")
    disable.add_argument("path", metavar="PATH")
    command(actions, "list", sys_cmds.list_handler(kind), f"list {noun}s",
            f"  strongbox {kind} list\n")


def _namespace(sub: SubParsers) -> None:
    actions = group(sub, "namespace", "create, list and delete namespaces")
    for name, summary in (("create", "create a namespace"), ("delete", "delete a namespace")):
        parser = command(actions, name, sys_cmds.cmd_namespace, summary,
                         f"  strongbox namespace {name} team-a\n"
                         f"  strongbox namespace {name} -namespace=team-a dev\n")
        parser.add_argument("name", metavar="NAME")
    command(actions, "list", sys_cmds.cmd_namespace, "list child namespaces",
            "  strongbox namespace list\n")


def _raw(sub: SubParsers) -> None:
    read = command(sub, "read", raw.cmd_read, "read any path",
                   "  strongbox read sys/mounts\n  strongbox read -field=data secret/data/x\n")
    read.add_argument("path", metavar="PATH")
    read.add_argument("params", nargs="*", metavar="KEY=VALUE", help="query parameters")
    write = command(sub, "write", raw.cmd_write, "write to any path",
                    "  strongbox write auth/userpass/users/alice password=s3cr3t "
                    "token_policies=app\n  strongbox write sys/policies/acl/x - < x.json\n")
    write.add_argument("path", metavar="PATH")
    write.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    write.add_argument("-f", "-force", "--force", dest="force", action="store_true",
                       help="allow a write without data (Vault's -f)")
    listing = command(sub, "list", raw.cmd_list, "list keys at any path",
                      "  strongbox list secret/metadata/app/\n")
    listing.add_argument("path", metavar="PATH")
    delete = command(sub, "delete", raw.cmd_delete, "delete any path",
                     "  strongbox delete sys/policies/acl/x\n")
    delete.add_argument("path", metavar="PATH")


def register(sub: SubParsers, audit_actions: SubParsers) -> None:
    _policy(sub)
    _secrets(sub)
    _mount_kind(sub, "auth")
    _mount_kind(None, "audit", audit_actions)
    _namespace(sub)
    _raw(sub)


def audit_table(parser: argparse.ArgumentParser) -> SubParsers:
    """The sub-command table `strongbox.audit.verify` made on the `audit` parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise RuntimeError("the audit parser has no sub-commands")
