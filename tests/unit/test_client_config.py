"""strongbox.client.config and consistency: env precedence, token files, index memory."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

import pytest

from strongbox.client import errors
from strongbox.client.config import resolve_config
from strongbox.client.consistency import Consistency, IndexTracker, decode_index


def idx(cluster: str, n: int) -> str:
    return base64.b64encode(f"{cluster}:{n}".encode()).decode()


def test_strongbox_variables_win_over_vault_ones(tmp_path: Path) -> None:
    env = {"STRONGBOX_ADDR": "https://a:1, https://b:2/", "VAULT_ADDR": "https://v:3",
           "VAULT_TOKEN": "vt", "STRONGBOX_TOKEN": "st", "VAULT_NAMESPACE": "team-a",
           "HOME": str(tmp_path)}
    config = resolve_config(env=env)
    assert config.addresses == ("https://a:1", "https://b:2")
    assert config.token == "st" and config.namespace == "team-a"


def test_arguments_win_over_the_environment(tmp_path: Path) -> None:
    env = {"STRONGBOX_ADDR": "https://a:1", "STRONGBOX_TOKEN": "st", "HOME": str(tmp_path)}
    config = resolve_config(address=["https://x:9/v1"], token="arg", env=env)
    assert config.addresses == ("https://x:9",) and config.token == "arg"


def test_defaults_and_token_files_in_home(tmp_path: Path) -> None:
    (tmp_path / ".vault-token").write_text("from-vault\n")
    config = resolve_config(env={"HOME": str(tmp_path)})
    assert config.addresses == ("http://127.0.0.1:8200",) and config.token == "from-vault"
    (tmp_path / ".strongbox-token").write_text("from-strongbox")
    assert resolve_config(env={"HOME": str(tmp_path)}).token == "from-strongbox"
    assert resolve_config(env={"HOME": str(tmp_path / "none")}).token is None


def test_skip_verify_variables(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert resolve_config(env={"HOME": home}).tls_verify is True
    assert resolve_config(env={"HOME": home, "VAULT_SKIP_VERIFY": "true"}).tls_verify is False
    assert resolve_config(env={"HOME": home, "VAULT_SKIP_VERIFY": "1"},
                          tls_verify=True).tls_verify is True
    with pytest.raises(errors.ConfigurationError, match="STRONGBOX_SKIP_VERIFY"):
        resolve_config(env={"HOME": home, "STRONGBOX_SKIP_VERIFY": "maybe"})


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"address": "127.0.0.1:8200"}, "address"),
    ({"consistency": "eventual"}, "consistency"),
    ({"timeout": 0}, "timeout"),
    ({"retries": -1}, "retries"),
    ({"client_key": "k.pem"}, "client_cert"),
])
def test_bad_arguments_are_configuration_errors_naming_them(kwargs: dict[str, object],
                                                           named: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=named):
        resolve_config(env={}, **kwargs)  # type: ignore[arg-type]


def test_bad_address_variable_is_named() -> None:
    with pytest.raises(errors.ConfigurationError, match="VAULT_ADDR"):
        resolve_config(env={"VAULT_ADDR": "ftp://x"})


def test_missing_ca_file_is_a_configuration_error() -> None:
    config = resolve_config(env={}, cacert="/nonexistent/ca.pem")
    with pytest.raises(errors.ConfigurationError, match="cacert"):
        config.ssl_context()


def test_consistency_names() -> None:
    assert resolve_config(env={}, consistency="consistent").consistency is \
        Consistency.LINEARIZABLE
    assert resolve_config(env={}, consistency="STALE").consistency is Consistency.STALE


def test_index_tracker_keeps_the_highest_index_per_cluster() -> None:
    tracker = IndexTracker()
    tracker.observe(idx("c1", 5))
    tracker.observe(idx("c1", 3))
    tracker.observe(idx("c2", 1))
    tracker.observe("not base64!")
    assert tracker.newest("c1") == 5 and tracker.newest("c2") == 1
    assert set((tracker.header() or "").split(",")) == {idx("c1", 5), idx("c2", 1)}
    assert decode_index(idx("a:b", 7)) == ("a:b", 7)


def test_index_tracker_never_goes_backwards_under_threads() -> None:
    tracker = IndexTracker()

    def write(start: int) -> None:
        for n in range(start, 2000, 4):
            tracker.observe(idx("c", n))
    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tracker.newest("c") == 1999
