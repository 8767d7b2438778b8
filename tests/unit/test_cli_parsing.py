"""The `strongbox` argument parser: Vault-style single-dash flags, usage exit codes, help."""

from __future__ import annotations

import pytest

from strongbox.cli import main as cli_main
from strongbox.cli.kv import parse_versions, split_version


def parse(*argv: str) -> object:
    return cli_main.build_parser().parse_args(list(argv))


def test_single_and_double_dash_flags_are_the_same() -> None:
    one = parse("kv", "get", "-format=json", "-field=password", "-mount=secret", "app/db")
    two = parse("kv", "get", "--format", "json", "--field", "password", "--mount", "secret",
                "app/db")
    for name in ("format", "field", "mount", "path"):
        assert getattr(one, name) == getattr(two, name)


def test_flags_after_positionals_are_accepted() -> None:
    args = parse("kv", "put", "secret/x", "a=1", "-cas=0")
    assert args.pairs == ["a=1"] and args.cas == 0


def test_global_flags_exist_on_every_client_command() -> None:
    for argv in (["status"], ["operator", "init"], ["policy", "list"], ["token", "lookup"],
                 ["secrets", "list"], ["namespace", "list"], ["read", "sys/mounts"],
                 ["operator", "raft", "list-peers"], ["audit", "list"]):
        args = parse(*argv, "-address=https://h:1", "-namespace=ns", "-ca-cert=ca.pem",
                     "-tls-skip-verify")
        assert (args.address, args.namespace, args.ca_cert, args.tls_skip_verify) == (
            "https://h:1", "ns", "ca.pem", True)


def test_audit_verify_is_kept_next_to_enable() -> None:
    args = parse("audit", "verify", "audit.log", "-format=json")
    assert args.file == "audit.log" and not hasattr(args, "handler")
    assert hasattr(parse("audit", "enable", "file", "file_path=/x"), "handler")


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("kv", "get", "-format=xml", "secret/x")
    assert info.value.code == 2
    assert cli_main.main(["kv", "undelete", "secret/x"]) == 2
    assert "-versions" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["kv", "put"], ["operator", "unseal"], ["run"],
                                  ["kv", "export"], ["login"], ["policy", "write"]])
def test_every_command_has_help_with_examples(argv: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv, "--help")
    assert info.value.code == 0 and "examples:" in capsys.readouterr().out


def test_run_keeps_the_command_after_double_dash() -> None:
    args = parse("run", "--path", "secret/a", "--path", "secret/b", "--", "env", "-i", "x")
    assert args.paths == ["secret/a", "secret/b"] and args.argv[-3:] == ["env", "-i", "x"]


def test_versions_and_path_at_version() -> None:
    assert parse_versions("1,2, 3") == [1, 2, 3]
    assert split_version("secret/a@3") == ("secret/a", 3)
    assert split_version("secret/user@example.com") == ("secret/user@example.com", None)
