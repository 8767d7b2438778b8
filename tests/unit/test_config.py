"""Tests for strongbox.config: TOML, then STRONGBOX_* environment, then CLI overrides."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from strongbox.config import load_config
from strongbox.errors import ConfigError

NO_TLS = {"listener.tls_disable": True}


def write_toml(tmp_path: Path, text: str, name: str = "node.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def config_error(path: Path | None = None, env: dict[str, str] | None = None,
                 overrides: dict[str, Any] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env, overrides=overrides)
    return info.value


def assert_names(error: ConfigError, key: str) -> None:
    assert error.key == key
    assert key in str(error)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "server.crt", tmp_path / "server.key"
    cert.write_text("cert")
    key.write_text("key")
    return cert, key


# --- precedence ---------------------------------------------------------------------


def test_toml_values_are_loaded(tmp_path: Path) -> None:
    path = write_toml(tmp_path, f"""
node_id = "toml-node"
data_dir = "{tmp_path}"
cluster_name = "prod"
[listener]
address = "0.0.0.0:9200"
tls_disable = true
[limits]
write_timeout_s = 3.5
[storage]
map_size_mb = 64
""")
    config = load_config(path, env={})
    assert config.node_id == "toml-node"
    assert config.cluster_name == "prod"
    assert config.data_dir == str(tmp_path)
    assert (config.listener.host, config.listener.port) == ("0.0.0.0", 9200)
    assert config.limits.write_timeout_s == 3.5
    assert config.storage.map_size_mb == 64
    assert config.api_addr == "http://0.0.0.0:9200"


def test_env_overrides_toml_and_overrides_beat_env(tmp_path: Path) -> None:
    path = write_toml(tmp_path, f"""
node_id = "toml-node"
cluster_name = "from-toml"
data_dir = "{tmp_path}"
[listener]
address = "127.0.0.1:1111"
tls_disable = true
""")
    env = {"STRONGBOX_NODE_ID": "env-node", "STRONGBOX_LISTENER__ADDRESS": "127.0.0.1:2222",
           "STRONGBOX_LOG_LEVEL": "debug"}
    config = load_config(path, env=env, overrides={"node_id": "cli-node",
                                                   "listener.address": None})
    assert config.node_id == "cli-node"  # override > env > toml
    assert config.listener.address == "127.0.0.1:2222"  # env > toml; a None override is unset
    assert config.log_level == "debug"  # env > default
    assert config.cluster_name == "from-toml"  # toml > default
    assert config.limits.max_request_bytes == 1024 * 1024  # default


def test_env_strings_are_coerced_to_the_declared_types(tmp_path: Path) -> None:
    env = {"STRONGBOX_DATA_DIR": str(tmp_path), "STRONGBOX_LISTENER__TLS_DISABLE": "true",
           "STRONGBOX_LIMITS__MAX_REQUEST_BYTES": "2048",
           "STRONGBOX_LIMITS__WRITE_TIMEOUT_S": "2.5"}
    config = load_config(None, env=env)
    assert config.listener.tls_disable is True
    assert config.limits.max_request_bytes == 2048
    assert config.limits.write_timeout_s == 2.5


def test_process_environment_is_used_when_env_is_not_given(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRONGBOX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STRONGBOX_CLUSTER_NAME", "from-os-environ")
    monkeypatch.setenv("STRONGBOX_LISTENER__TLS_DISABLE", "1")
    config = load_config(None)
    assert config.cluster_name == "from-os-environ"
    assert config.data_dir == str(tmp_path)


def test_config_is_frozen(tmp_path: Path) -> None:
    config = load_config(None, env={}, overrides={"data_dir": str(tmp_path), **NO_TLS})
    with pytest.raises(AttributeError):
        config.node_id = "other"  # type: ignore[misc]


# --- unknown keys and types ---------------------------------------------------------


@pytest.mark.parametrize(("toml", "key"), [
    ('data_dirr = "/x"\n', "data_dirr"),
    ('[listener]\nadress = "127.0.0.1:1"\n', "listener.adress"),
    ('[storrage]\nmap_size_mb = 64\n', "storrage"),
])
def test_unknown_toml_key_is_an_error_naming_the_key(tmp_path: Path, toml: str,
                                                     key: str) -> None:
    error = config_error(write_toml(tmp_path, toml), overrides={"data_dir": str(tmp_path),
                                                                **NO_TLS})
    assert_names(error, key)


def test_unknown_override_key_is_an_error_naming_the_key(tmp_path: Path) -> None:
    error = config_error(overrides={"data_dir": str(tmp_path), "limits.max_body": 5})
    assert_names(error, "limits.max_body")


@pytest.mark.parametrize(("toml", "key"), [
    ("node_id = 5\n", "node_id"),
    ('[limits]\nmax_request_bytes = "big"\n', "limits.max_request_bytes"),
    ("[limits]\nmax_request_bytes = 2048.5\n", "limits.max_request_bytes"),
    ("[storage]\nmap_size_mb = true\n", "storage.map_size_mb"),
    ('[listener]\ntls_disable = "maybe"\n', "listener.tls_disable"),
    ("[listener]\naddress = 8200\n", "listener.address"),
    ('listener = "127.0.0.1:8200"\n', "listener"),
])
def test_wrong_type_is_an_error_naming_the_key(tmp_path: Path, toml: str, key: str) -> None:
    error = config_error(write_toml(tmp_path, toml), overrides={"data_dir": str(tmp_path)})
    assert_names(error, key)


def test_wrong_type_from_env_names_the_key(tmp_path: Path) -> None:
    error = config_error(env={"STRONGBOX_DATA_DIR": str(tmp_path),
                              "STRONGBOX_STORAGE__MAP_SIZE_MB": "lots"})
    assert_names(error, "storage.map_size_mb")
    assert "lots" in error.problem


def test_integer_is_accepted_for_a_float_setting(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[limits]\nwrite_timeout_s = 5\n")
    config = load_config(path, env={}, overrides={"data_dir": str(tmp_path), **NO_TLS})
    assert isinstance(config.limits.write_timeout_s, float)
    assert config.limits.write_timeout_s == 5.0


def test_missing_config_file_and_bad_toml_name_the_config_flag(tmp_path: Path) -> None:
    assert_names(config_error(tmp_path / "missing.toml"), "--config")
    assert_names(config_error(write_toml(tmp_path, "node_id = \n")), "--config")


# --- validation ---------------------------------------------------------------------


def test_data_dir_is_required() -> None:
    assert_names(config_error(overrides=NO_TLS), "data_dir")


def test_tls_on_without_cert_file_names_listener_tls_cert_file(tmp_path: Path) -> None:
    assert_names(config_error(overrides={"data_dir": str(tmp_path)}), "listener.tls_cert_file")


def test_tls_on_with_missing_cert_file_names_listener_tls_cert_file(
        tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    error = config_error(overrides={"data_dir": str(tmp_path),
                                    "listener.tls_cert_file": str(tmp_path / "nope.crt"),
                                    "listener.tls_key_file": str(tls_files[1])})
    assert_names(error, "listener.tls_cert_file")
    assert "nope.crt" in error.problem


def test_tls_on_with_missing_key_file_names_listener_tls_key_file(
        tmp_path: Path, tls_files: tuple[Path, Path]) -> None:
    error = config_error(overrides={"data_dir": str(tmp_path),
                                    "listener.tls_cert_file": str(tls_files[0]),
                                    "listener.tls_key_file": str(tmp_path / "nope.key")})
    assert_names(error, "listener.tls_key_file")


def test_tls_on_with_existing_files_is_accepted(tmp_path: Path,
                                                tls_files: tuple[Path, Path]) -> None:
    config = load_config(None, env={}, overrides={"data_dir": str(tmp_path),
                                                  "listener.tls_cert_file": str(tls_files[0]),
                                                  "listener.tls_key_file": str(tls_files[1])})
    assert config.listener.tls_disable is False
    assert config.api_addr.startswith("https://")


def test_tls_disabled_needs_no_files(tmp_path: Path) -> None:
    config = load_config(None, env={}, overrides={"data_dir": str(tmp_path), **NO_TLS})
    assert config.listener.tls_cert_file == ""
    assert config.api_addr.startswith("http://")


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:http", "127.0.0.1:70000",
                                     "127.0.0.1:-1", ""])
def test_bad_listener_address_names_listener_address(tmp_path: Path, address: str) -> None:
    error = config_error(overrides={"data_dir": str(tmp_path), "listener.address": address,
                                    **NO_TLS})
    assert_names(error, "listener.address")


def test_ipv6_listener_address_is_accepted(tmp_path: Path) -> None:
    config = load_config(None, env={}, overrides={"data_dir": str(tmp_path),
                                                  "listener.address": "[::1]:8200", **NO_TLS})
    assert (config.listener.host, config.listener.port) == ("::1", 8200)


@pytest.mark.parametrize(("key", "value"), [
    ("limits.max_request_bytes", 100),
    ("limits.write_timeout_s", 0.0),
    ("storage.map_size_mb", 8),
    ("log_level", "verbose"),
    ("node_id", "node 1"),
    ("node_id", ""),
])
def test_out_of_range_values_name_the_key(tmp_path: Path, key: str, value: object) -> None:
    error = config_error(overrides={"data_dir": str(tmp_path), key: value, **NO_TLS})
    assert_names(error, key)


# --- the CLI ------------------------------------------------------------------------


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGBOX_")}
    return subprocess.run([sys.executable, "-m", "strongbox.cli.main", *args],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
                          check=False)


def test_cli_server_with_unknown_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    write_toml(tmp_path, f'data_dir = "{tmp_path}"\n[listener]\nadress = "127.0.0.1:1"\n',
               name="bad.toml")
    proc = run_cli(tmp_path, "server", "--config", "bad.toml")
    assert proc.returncode == 2
    assert "listener.adress" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_server_with_tls_on_and_no_cert_exits_2_naming_the_key(tmp_path: Path) -> None:
    write_toml(tmp_path, f'data_dir = "{tmp_path / "data"}"\n', name="bad.toml")
    proc = run_cli(tmp_path, "server", "--config", "bad.toml")
    assert proc.returncode == 2
    assert "listener.tls_cert_file" in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing was started


@pytest.mark.parametrize("value", ["nan", "-nan"])
def test_nan_write_timeout_is_rejected(tmp_path: Path, value: str) -> None:
    error = config_error(env={"STRONGBOX_LIMITS__WRITE_TIMEOUT_S": value},
                         overrides={"data_dir": str(tmp_path), **NO_TLS})
    assert_names(error, "limits.write_timeout_s")


def test_bare_ipv6_address_without_port_is_rejected(tmp_path: Path) -> None:
    error = config_error(overrides={"data_dir": str(tmp_path), "listener.address": "::1",
                                    **NO_TLS})
    assert_names(error, "listener.address")


def test_the_client_ca_bundle_must_exist_and_needs_tls(tmp_path: Path,
                                                      tls_files: tuple[Path, Path]) -> None:
    cert, key = tls_files
    base = {"data_dir": str(tmp_path), "listener.tls_cert_file": str(cert),
            "listener.tls_key_file": str(key)}
    missing = config_error(overrides={**base, "listener.tls_client_ca_file": "/nope.pem"})
    assert_names(missing, "listener.tls_client_ca_file")
    assert "does not exist" in str(missing)
    bundle = write_toml(tmp_path, "pem", "cas.pem")
    plain = config_error(overrides={"data_dir": str(tmp_path), **NO_TLS,
                                    "listener.tls_client_ca_file": str(bundle)})
    assert "need TLS" in str(plain)
    loaded = load_config(None, env={}, overrides={**base,
                                                  "listener.tls_client_ca_file": str(bundle)})
    assert loaded.listener.tls_client_ca_file == str(bundle)
