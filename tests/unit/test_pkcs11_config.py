"""`Pkcs11Settings.from_options`: the `[seal] type = "pkcs11"` options (Vault's names),
the PIN's sources, mechanism spellings and errors naming the option. No HSM needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pkcs11")

from strongbox.errors import ConfigError
from strongbox.seal.pkcs11_seal import Pkcs11Seal, Pkcs11Settings

LIB = "/usr/lib/softhsm/libsofthsm2.so"
BASE: dict[str, Any] = {"lib": LIB, "token_label": "hsm", "pin": "1234", "key_label": "k"}


def settings(env: dict[str, str] | None = None, **options: Any) -> Pkcs11Settings:
    merged = {**BASE, **options}
    return Pkcs11Settings.from_options({k: v for k, v in merged.items() if v is not None},
                                       env or {})


def config_error(key: str, env: dict[str, str] | None = None, **options: Any) -> str:
    with pytest.raises(ConfigError) as info:
        settings(env, **options)
    assert info.value.key == key
    return info.value.problem


def test_every_option():
    got = settings(type="pkcs11", slot="0x10", mechanism="CKM_RSA_PKCS_OAEP",
                   generate_key="true", rsa_oaep_hash="SHA384")
    assert got == Pkcs11Settings(library=LIB, token_label="hsm", slot=16, pin="1234",
                                 key_label="k", mechanism="rsa-oaep", generate_key=True,
                                 rsa_oaep_hash="sha384")
    defaults = settings()
    assert (defaults.slot, defaults.mechanism, defaults.generate_key,
            defaults.rsa_oaep_hash) == (None, "aes-gcm", False, "sha256")
    assert settings(token_label=None, slot=7).slot == 7
    assert settings(slot="1149517674").slot == 1149517674
    assert settings(generate_key=True).generate_key is True
    assert settings(generate_key="false").generate_key is False


@pytest.mark.parametrize(("spelling", "mechanism"), [
    ("CKM_AES_GCM", "aes-gcm"), ("ckm_aes_gcm", "aes-gcm"), ("0x1087", "aes-gcm"),
    ("4231", "aes-gcm"), (0x1087, "aes-gcm"), ("aes-gcm", "aes-gcm"),
    ("CKM_RSA_PKCS_OAEP", "rsa-oaep"), ("0x0009", "rsa-oaep"), ("0x9", "rsa-oaep"),
    ("9", "rsa-oaep"), (9, "rsa-oaep"), ("RSA-OAEP", "rsa-oaep"),
])
def test_mechanism_names(spelling: object, mechanism: str):
    assert settings(mechanism=spelling).mechanism == mechanism


@pytest.mark.parametrize("bad", ["CKM_AES_CBC", "0x1082", "", True, 1.5])
def test_bad_mechanism(bad: object):
    assert "CKM_AES_GCM" in config_error("seal.mechanism", mechanism=bad)


def test_pin_sources(tmp_path: Path):
    pin_file = tmp_path / "pin"
    pin_file.write_text("from-file\n")
    env = {"STRONGBOX_SEAL_PIN": "from-env", "VAULT_HSM_PIN": "from-vault-env"}
    assert settings(env).pin == "1234"  # pin first
    assert settings(env, pin=None, pin_file=str(pin_file)).pin == "from-file"
    assert settings(env, pin=None).pin == "from-env"
    assert settings({"VAULT_HSM_PIN": "from-vault-env"}, pin=None).pin == "from-vault-env"
    assert settings(pin=1234).pin == "1234"  # a TOML integer


def test_pin_errors(tmp_path: Path):
    assert "STRONGBOX_SEAL_PIN" in config_error("seal.pin", pin=None)
    assert "STRONGBOX_SEAL_PIN" in config_error("seal.pin", pin="")
    missing = tmp_path / "absent"
    problem = config_error("seal.pin_file", pin=None, pin_file=str(missing))
    assert str(missing) in problem and "No such file" in problem
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert "empty" in config_error("seal.pin_file", pin=None, pin_file=str(empty))


def test_pin_never_in_repr_or_describe(tmp_path: Path):
    got = settings(pin="s3cret-pin")
    assert "s3cret-pin" not in repr(got)
    seal = Pkcs11Seal(got)  # no I/O in __init__
    assert "s3cret-pin" not in repr(seal) and "s3cret-pin" not in str(seal.describe())
    assert seal.describe()["mechanism"] == "aes-gcm"


@pytest.mark.parametrize(("key", "options"), [
    ("seal.lib", {"lib": None}),
    ("seal.lib", {"lib": ""}),
    ("seal.lib", {"lib": 3}),
    ("seal.token_label", {"token_label": None}),
    ("seal.key_label", {"key_label": None}),
    ("seal.key_label", {"key_label": " "}),
    ("seal.slot", {"slot": "first"}),
    ("seal.slot", {"slot": -1}),
    ("seal.slot", {"slot": True}),
    ("seal.generate_key", {"generate_key": "yes please"}),
    ("seal.rsa_oaep_hash", {"rsa_oaep_hash": "md5"}),
    ("seal.key_lable", {"key_lable": "typo"}),
])
def test_errors_name_the_option(key: str, options: dict[str, Any]):
    assert config_error(key, **options)


def test_direct_construction_is_checked():
    with pytest.raises(ConfigError) as info:
        Pkcs11Settings(library=LIB, token_label="t", pin="1", key_label="k", mechanism="des")
    assert info.value.key == "seal.mechanism"
