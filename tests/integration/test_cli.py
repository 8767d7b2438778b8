"""The `strongbox` client commands as real subprocesses against a real TLS node."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "strongbox.cli.main"]
Run = Callable[..., subprocess.CompletedProcess[str]]


def cli_env(node: ReadyNode, home: Path, token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("VAULT_", "STRONGBOX_"))}
    env.update({"STRONGBOX_ADDR": node.server.addr, "HOME": str(home),
                "STRONGBOX_CACERT": str(node.server.tls.ca_cert)})
    if token:
        env["STRONGBOX_TOKEN"] = token
    return env


@pytest.fixture
def sb(node: ReadyNode, tmp_path: Path) -> Run:
    """Run the CLI as root (token=None: no token at all) with HOME in a fresh tmp dir."""
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str, stdin: str | None = None, token: str | None = "root",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        chosen = node.root_token if token == "root" else token
        return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True,
                              timeout=60, check=False,
                              env={**cli_env(node, home, chosen), **(env or {})})
    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert result.returncode == code, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
    return result.stderr


def test_kv_put_get_field_json_and_patch(sb: Run) -> None:
    ok(sb("kv", "put", "secret/cli/db", "user=app", 'password=p "q"'))
    assert ok(sb("kv", "get", "-field=password", "secret/cli/db")) == 'p "q"\n'
    assert ok(sb("kv", "get", "--field", "user", "--format", "json", "secret/cli/db")) == "app\n"
    body = json.loads(ok(sb("kv", "get", "-format=json", "secret/cli/db")))
    assert body["data"]["data"] == {"user": "app", "password": 'p "q"'}
    ok(sb("kv", "patch", "secret/cli/db", "port=5432"))
    table = ok(sb("kv", "get", "secret/cli/db"))
    assert "port" in table and "version            2" in table
    assert ok(sb("kv", "get", "-mount=secret", "-field=port", "cli/db")) == "5432\n"
    # version 1 has no port: -field fails with one line
    one_error_line(sb("kv", "get", "-version=1", "-field=port", "secret/cli/db"))


def test_kv_stdin_file_and_list_recursive(sb: Run, tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("-----PEM-----\n")
    ok(sb("kv", "put", "secret/cli/tree/a", f"cert=@{cert}", "pin=-", stdin="1234\n"))
    ok(sb("kv", "put", "secret/cli/tree/sub/b", "-", stdin='{"k": {"nested": 1}}'))
    assert ok(sb("kv", "get", "-field=cert", "secret/cli/tree/a")) == "-----PEM-----\n\n"
    assert ok(sb("kv", "get", "-field=pin", "secret/cli/tree/a")) == "1234\n"
    keys = json.loads(ok(sb("kv", "list", "-recursive", "-format=json", "secret/cli/tree")))
    assert keys == ["a", "sub/b"]


def test_kv_delete_undelete_destroy_rollback_metadata(sb: Run) -> None:
    for value in ("1", "2", "3"):
        ok(sb("kv", "put", "secret/cli/ver", f"v={value}"))
    ok(sb("kv", "delete", "secret/cli/ver"))
    missing = sb("kv", "get", "secret/cli/ver")
    assert missing.returncode == 2 and "No value found" in missing.stderr
    ok(sb("kv", "undelete", "-versions=3", "secret/cli/ver"))
    ok(sb("kv", "destroy", "-versions=1", "secret/cli/ver"))
    assert sb("kv", "get", "-version=1", "secret/cli/ver").returncode == 2
    ok(sb("kv", "rollback", "-version=2", "secret/cli/ver"))
    assert ok(sb("kv", "get", "-field=v", "secret/cli/ver")) == "2\n"
    ok(sb("kv", "metadata", "put", "-max-versions=7", "-custom-metadata=owner=ops",
          "secret/cli/ver"))
    meta = json.loads(ok(sb("kv", "metadata", "get", "-format=json", "secret/cli/ver")))
    assert meta["data"]["max_versions"] == 7 and meta["data"]["current_version"] == 4
    assert meta["data"]["custom_metadata"] == {"owner": "ops"}
    ok(sb("kv", "metadata", "delete", "secret/cli/ver"))
    assert sb("kv", "metadata", "get", "secret/cli/ver").returncode == 2


def test_kv_copy_and_move(sb: Run) -> None:
    ok(sb("kv", "put", "secret/cli/src", "a=1"))
    ok(sb("kv", "put", "secret/cli/src", "a=2"))
    ok(sb("kv", "copy", "secret/cli/src@1", "secret/cli/copy"))
    assert ok(sb("kv", "get", "-field=a", "secret/cli/copy")) == "1\n"
    ok(sb("kv", "move", "secret/cli/src", "secret/cli/moved"))
    assert ok(sb("kv", "get", "-field=a", "secret/cli/moved")) == "2\n"
    assert sb("kv", "get", "secret/cli/src").returncode == 2


def test_export_import_round_trip_with_per_key_failures(sb: Run, tmp_path: Path) -> None:
    ok(sb("kv", "put", "secret/cli/exp/one", "A=1", 'B=x "y" $z'))
    ok(sb("kv", "put", "secret/cli/exp/two", "C=3"))
    dotenv = tmp_path / "one.env"
    ok(sb("kv", "export", "secret/cli/exp/one", "-o", str(dotenv)))
    assert oct(dotenv.stat().st_mode & 0o777) == "0o600"
    ok(sb("kv", "import", "secret/cli/imp/one", str(dotenv)))
    assert ok(sb("kv", "get", "-field=B", "secret/cli/imp/one")) == 'x "y" $z\n'
    tree = ok(sb("kv", "export", "-format=json", "-recursive", "secret/cli/exp"))
    # A destination that requires check-and-set refuses a plain write: one failure.
    ok(sb("kv", "put", "secret/cli/imp2/two", "C=old"))
    ok(sb("kv", "metadata", "put", "-cas-required=true", "secret/cli/imp2/two"))
    result = sb("kv", "import", "-format=json", "secret/cli/imp2", "-", stdin=tree)
    assert result.returncode == 1, result.stderr
    assert "[1/2] ok secret/cli/imp2/one" in result.stderr
    assert "[2/2] FAILED secret/cli/imp2/two" in result.stderr
    assert "imported 1 of 2 secrets; 1 failed" in result.stderr and "Traceback" not in \
        result.stderr
    assert ok(sb("kv", "get", "-field=A", "secret/cli/imp2/one")) == "1\n"


def test_diff_paths_versions_and_dotenv_masked(sb: Run, tmp_path: Path) -> None:
    ok(sb("kv", "put", "secret/cli/d", "a=1", "b=2"))
    ok(sb("kv", "put", "secret/cli/d", "a=1", "b=changed", "c=3"))
    masked = ok(sb("kv", "diff", "secret/cli/d@1", "secret/cli/d@2"))
    assert masked.splitlines() == ["+ c = ****", "~ b: **** -> ****"]
    assert "changed" not in masked
    revealed = ok(sb("kv", "diff", "-reveal", "-version-a=1", "-version-b=2", "secret/cli/d"))
    assert "~ b: 2 -> changed" in revealed
    local = tmp_path / "local.env"
    local.write_text('a="1"\nb=changed\nc=3\n')
    assert ok(sb("kv", "diff", "secret/cli/d", str(local))) == "no differences\n"


def test_policy_and_tokens(sb: Run, tmp_path: Path) -> None:
    policy = tmp_path / "p.hcl"
    policy.write_text('path "secret/data/cli/*" {\n  capabilities = ["read"]\n}\n')
    ok(sb("policy", "write", "cli-read", str(policy)))
    assert "cli-read" in ok(sb("policy", "list")).split()
    assert "capabilities" in ok(sb("policy", "read", "cli-read"))
    token = ok(sb("token", "create", "-policy=cli-read", "-ttl=1h", "-field=token")).strip()
    assert token.startswith("sbs.")
    looked = json.loads(ok(sb("token", "lookup", "-format=json", token)))
    assert "cli-read" in looked["data"]["policies"]
    self_lookup = ok(sb("token", "lookup", "-field=policies", token=token))
    assert "cli-read" in self_lookup
    ok(sb("token", "revoke", token))
    one_error_line(sb("kv", "get", "secret/cli/db", token=token))
    ok(sb("policy", "delete", "cli-read"))


def test_secrets_enable_list_disable_and_kv_v1(sb: Run) -> None:
    ok(sb("secrets", "enable", "-path=cli-v1", "-version=1", "kv"))
    mounts = json.loads(ok(sb("secrets", "list", "-format=json")))
    assert mounts["cli-v1/"]["options"]["version"] == "1"
    ok(sb("kv", "put", "cli-v1/app", "k=v"))
    assert ok(sb("kv", "get", "-field=k", "cli-v1/app")) == "v\n"
    assert ok(sb("kv", "list", "cli-v1/")).split() == ["Keys", "----", "app"]
    ok(sb("secrets", "disable", "cli-v1/"))
    assert "cli-v1/" not in ok(sb("secrets", "list"))


def test_login_userpass_saves_the_token_mode_0600(sb: Run, node: ReadyNode,
                                                  tmp_path: Path) -> None:
    result = sb("auth", "enable", "-path=cli-up", "userpass")
    assert result.returncode == 0 or "already" in result.stderr, result.stderr
    ok(sb("write", "auth/cli-up/users/alice", "password=pw", "token_policies=default"))
    ok(sb("login", "-method=userpass", "-path=cli-up", "username=alice", "password=-",
          stdin="pw\n", token=None))
    saved = tmp_path / "home" / ".strongbox-token"
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    assert saved.read_text().startswith("sbs.")
    # Later commands without STRONGBOX_TOKEN use the stored token.
    assert "default" in ok(sb("token", "lookup", "-field=policies", token=None))
    bad = sb("login", "-method=userpass", "-path=cli-up", "username=alice", "password=nope",
             token=None)
    assert "nope" not in bad.stderr
    one_error_line(bad)


def test_run_injects_env_refuses_ld_preload_and_propagates_exit(sb: Run) -> None:
    ok(sb("kv", "put", "secret/cli/run", "DB_USER=app", "DB_PASS=s3cr3t"))
    result = sb("run", "--path", "secret/cli/run", "--", sys.executable, "-c",
                "import os,sys; print(os.environ['DB_USER'], 'STRONGBOX_TOKEN' in os.environ);"
                " sys.exit(7)")
    assert result.returncode == 7 and result.stdout == "app False\n", result.stderr
    ok(sb("kv", "put", "secret/cli/evil", "LD_PRELOAD=/tmp/evil.so"))
    refused = one_error_line(sb("run", "--path", "secret/cli/evil", "--", "true"))
    assert "LD_PRELOAD" in refused and "/tmp/evil.so" not in refused


def test_run_forwards_signals(node: ReadyNode, sb: Run, tmp_path: Path) -> None:
    ok(sb("kv", "put", "secret/cli/sig", "X=1"))
    marker = tmp_path / "started"
    child = (f"import signal,sys,pathlib,time\n"
             f"signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\n"
             f"pathlib.Path({str(marker)!r}).write_text('x')\n"
             f"time.sleep(60)\n")
    env = cli_env(node, tmp_path / "home", node.root_token)
    proc = subprocess.Popen([*CLI, "run", "--path", "secret/cli/sig", "--", sys.executable,
                             "-c", child], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 42


def test_raw_read_write_list_delete(sb: Run) -> None:
    ok(sb("write", "sys/policies/acl/cli-raw", 'policy=path "x" { capabilities = ["read"] }'))
    assert "x" in ok(sb("read", "-field=policy", "sys/policies/acl/cli-raw"))
    assert "cli-raw" in ok(sb("list", "sys/policies/acl"))
    ok(sb("delete", "sys/policies/acl/cli-raw"))
    assert sb("read", "sys/policies/acl/cli-raw").returncode == 2


def test_missing_token_is_one_line_exit_1(sb: Run) -> None:
    assert "permission denied" in one_error_line(sb("kv", "get", "secret/cli/db", token=None))


def test_usage_error_exits_2(sb: Run) -> None:
    result = sb("kv", "get")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert sb("kv", "undelete", "secret/x").returncode == 2


def test_tls_that_does_not_verify_is_one_line(sb: Run, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.pem"
    from strongbox.testing import CertificateAuthority
    other_ca.write_bytes(CertificateAuthority.create(tmp_path / "other").cert_file.read_bytes())
    err = one_error_line(sb("status", "-ca-cert", str(other_ca)))
    assert "TLS" in err or "certificate" in err


def test_status_shows_unsealed(sb: Run) -> None:
    status = json.loads(ok(sb("status", "-format=json")))
    assert status["sealed"] is False and status["initialized"] is True


def test_run_watch_restarts_the_command_on_a_new_version(node: ReadyNode, sb: Run,
                                                         tmp_path: Path) -> None:
    ok(sb("kv", "put", "secret/cli/watch", "V=1"))
    log = tmp_path / "seen.txt"
    child = (f"import os,time\nopen({str(log)!r}, 'a').write(os.environ['V'] + '\\n')\n"
             "time.sleep(60)\n")
    env = cli_env(node, tmp_path / "home", node.root_token)
    proc = subprocess.Popen([*CLI, "run", "--watch", "--interval", "0.3", "--grace", "5",
                             "--path", "secret/cli/watch", "--", sys.executable, "-c", child],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def seen() -> list[str]:
        return log.read_text().split() if log.exists() else []
    try:
        deadline = time.monotonic() + 30
        while seen() != ["1"]:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        ok(sb("kv", "put", "secret/cli/watch", "V=2"))
        while seen() != ["1", "2"]:
            assert time.monotonic() < deadline + 30 and proc.poll() is None, seen()
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_expired_token_is_one_line_exit_1(sb: Run) -> None:
    token = ok(sb("token", "create", "-ttl=1s", "-field=token")).strip()
    deadline = time.monotonic() + 30
    while True:  # wait for the expiry as a condition, not a fixed sleep
        result = sb("kv", "get", "secret/cli/db", token=token)
        if result.returncode == 1:
            break
        assert time.monotonic() < deadline, "the 1s token never expired"
        time.sleep(0.2)
    assert token not in one_error_line(result)
