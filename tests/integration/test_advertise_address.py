"""`listener.advertise_address`: the URL clients should use, validated, reported by sys/leader."""

from __future__ import annotations

from pathlib import Path

import pytest

from strongbox.config import load_config
from strongbox.errors import ConfigError
from strongbox.testing import ServerProcess, TlsFiles

NO_TLS = {"data_dir": "/tmp/unused", "listener.tls_disable": True}
ADVERTISED = "https://strongbox-0.strongbox-internal.vault.svc:8200"


def test_api_addr_is_the_advertised_address_when_set() -> None:
    config = load_config(None, env={}, overrides={
        **NO_TLS, "listener.address": "0.0.0.0:8200",
        "listener.advertise_address": ADVERTISED + "/"})
    assert config.api_addr == ADVERTISED


def test_api_addr_defaults_to_the_listen_address() -> None:
    config = load_config(None, env={}, overrides={**NO_TLS, "listener.address": "0.0.0.0:8200"})
    assert config.api_addr == "http://0.0.0.0:8200"


def test_advertise_address_comes_from_the_environment() -> None:
    config = load_config(None, env={"STRONGBOX_LISTENER__ADVERTISE_ADDRESS": ADVERTISED},
                         overrides=NO_TLS)
    assert config.api_addr == ADVERTISED


@pytest.mark.parametrize("value", [
    "strongbox-0:8200",                      # no scheme
    "https://strongbox-0",                   # no port
    "ftp://strongbox-0:8200",                # not http(s)
    "https://:8200",                         # no host
    "https://strongbox-0:99999",             # port out of range
    "https://strongbox-0:8200/v1",           # a path
    "https://user:pw@strongbox-0:8200",      # credentials
])
def test_bad_advertise_addresses_are_refused_naming_the_key(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={}, overrides={**NO_TLS, "listener.advertise_address": value})
    assert "listener.advertise_address" in str(info.value)


def test_sys_leader_reports_the_advertised_address(
        tmp_path: Path, tls: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server process inherits the environment: STRONGBOX_* overrides its TOML.
    monkeypatch.setenv("STRONGBOX_LISTENER__ADVERTISE_ADDRESS", "https://sb.example.test:8200")
    server = ServerProcess(tmp_path / "data", tls).start()
    try:
        server.init_and_unseal()
        with server.client() as client:
            leader = client.get("/v1/sys/leader").json()
        assert leader["is_self"] is True
        assert leader["leader_address"] == "https://sb.example.test:8200"
    finally:
        server.stop()
