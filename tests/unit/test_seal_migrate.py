"""Seal migration and the seal config, on the static seal (real AES-GCM, no I/O)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from strongbox.barrier.aead import DecryptError
from strongbox.barrier.keyring import generate_init_material, open_root_key
from strongbox.config import load_config
from strongbox.errors import BadRequest, ConfigError, SealUnavailable, UnsealFailed
from strongbox.pb import records_pb2 as rec
from strongbox.seal.auto import StaticSeal, build, recovery_check
from strongbox.seal.migrate import auto_open, migrate, share_rule


def static(tmp_path: Path, name: str = "k") -> StaticSeal:
    key = tmp_path / name
    key.write_text(os.urandom(32).hex())
    return StaticSeal({"key_file": str(key)}, {})


def shamir_cluster() -> tuple[rec.ClusterRecord, bytearray, bytes]:
    material = generate_init_material(1)
    cluster = rec.ClusterRecord(cluster_id="c", init_time_ns=1, secret_shares=3,
                                secret_threshold=2, sealed_root_key=material.sealed_root_key)
    return cluster, material.unseal_key, bytes(material.root_key)


def test_shamir_to_auto_keeps_the_unseal_key_and_makes_it_the_recovery_key(
        tmp_path: Path) -> None:
    cluster, unseal_key, root = shamir_cluster()
    seal = static(tmp_path)
    opened, new = migrate(cluster, bytearray(unseal_key), seal, None)
    assert bytes(opened) == root and new.seal_type == "static"
    assert share_rule(new) == (3, 2)
    assert bytes(auto_open(new, seal)) == root
    assert bytes(open_root_key(unseal_key, new.sealed_root_key)) == root  # old shares work


def test_auto_to_shamir_makes_the_recovery_key_the_unseal_key(tmp_path: Path) -> None:
    cluster, unseal_key, root = shamir_cluster()
    seal = static(tmp_path)
    recovery = bytearray(os.urandom(32))
    cluster.seal_type, cluster.wrapped_unseal_key = "static", seal.wrap(bytes(unseal_key))
    cluster.recovery_shares, cluster.recovery_threshold = 5, 3
    cluster.recovery_check = recovery_check(recovery)
    with pytest.raises(BadRequest, match="previous_seal"):
        migrate(cluster, bytearray(recovery), None, None)
    with pytest.raises(UnsealFailed):
        migrate(cluster, bytearray(os.urandom(32)), None, seal)
    opened, new = migrate(cluster, bytearray(recovery), None, seal)
    assert bytes(opened) == root and not new.seal_type and share_rule(new) == (5, 3)
    assert bytes(open_root_key(recovery, new.sealed_root_key)) == root
    with pytest.raises(DecryptError):
        open_root_key(unseal_key, new.sealed_root_key)


def test_auto_to_another_auto_rewraps(tmp_path: Path) -> None:
    cluster, unseal_key, root = shamir_cluster()
    old, target = static(tmp_path, "old"), static(tmp_path, "new")
    _, cluster = migrate(cluster, bytearray(unseal_key), old, None)
    target.type = "pkcs11"  # a different seal kind, as far as the record is concerned
    opened, new = migrate(cluster, bytearray(unseal_key), target, old)
    assert bytes(opened) == root and new.seal_type == "pkcs11"
    assert bytes(auto_open(new, target)) == root
    with pytest.raises(SealUnavailable):
        auto_open(new, old)


def test_seal_sections_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n[listener]\ntls_disable = true\n'
                      '[seal]\ntype = "static"\nkey_file = "/k"\n'
                      '[previous_seal]\ntype = "transit"\naddress = "https://a"\n')
    loaded = load_config(config)
    assert loaded.seal.type == "static" and loaded.seal.options == {"key_file": "/k"}
    assert loaded.previous_seal is not None and loaded.previous_seal.type == "transit"
    config.write_text(f'data_dir = "{tmp_path}"\n[listener]\ntls_disable = true\n'
                      '[seal]\ntype = "awskms"\n')
    with pytest.raises(ConfigError, match=r"seal\.type"):
        load_config(config)
    assert build(load_config(None, overrides={"data_dir": str(tmp_path),
                                              "listener.tls_disable": True}).seal) is None


def test_a_static_key_file_must_hold_32_bytes(tmp_path: Path) -> None:
    key = tmp_path / "short"
    key.write_text("abcd")
    with pytest.raises(ConfigError, match="32 bytes"):
        StaticSeal({"key_file": str(key)}, {})
    with pytest.raises(ConfigError, match="key_file"):
        StaticSeal({}, {})
