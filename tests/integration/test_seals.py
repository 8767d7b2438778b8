"""Auto-unseal on real nodes with the static seal (a key file: the seal every machine can
run): init with recovery keys, a restart that unseals with no human, recovery keys that
cannot unseal but generate a root token, seal migration shamir -> static -> shamir on the
same data, and a wrong seal key that keeps the node sealed and says why."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from strongbox.testing import ServerProcess, TlsFiles

pytestmark = pytest.mark.integration


def static_seal(tmp: Path, name: str = "seal.key") -> str:
    key = tmp / name
    key.write_text(os.urandom(32).hex())
    return f'[seal]\ntype = "static"\nkey_file = "{key}"\n'


def status(node: ServerProcess) -> dict[str, Any]:
    with node.client() as c:
        return dict(c.get("/v1/sys/seal-status").json())


def wait_unsealed(node: ServerProcess, deadline_s: float = 20) -> dict[str, Any]:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        current = status(node)
        if not current["sealed"]:
            return current
        time.sleep(0.1)
    raise AssertionError(f"still sealed after {deadline_s}s: {status(node)}")


def restart(node: ServerProcess, extra_config: str) -> ServerProcess:
    node.stop()
    node.extra_config = extra_config
    return node.start()


def test_init_with_recovery_keys_and_restart_without_a_human(tmp_path: Path,
                                                             tls: TlsFiles) -> None:
    config = static_seal(tmp_path)
    node = ServerProcess(tmp_path / "data", tls, extra_config=config).start()
    try:
        with node.client() as c:
            r = c.put("/v1/sys/init", json={"recovery_shares": 3, "recovery_threshold": 2})
            assert r.status_code == 200, r.text
            body = r.json()
        assert body["keys"] == [] and len(body["recovery_keys"]) == 3
        current = wait_unsealed(node)
        assert current["type"] == "static" and current["recovery_seal"] is True
        assert (current["t"], current["n"]) == (2, 3)
        with node.client(body["root_token"]) as c:
            assert c.put("/v1/secret/data/x", json={"data": {"a": "1"}}).status_code == 200
        restart(node, config)
        wait_unsealed(node)  # nobody brought a share
        with node.client(body["root_token"]) as c:
            assert c.get("/v1/secret/data/x").json()["data"]["data"] == {"a": "1"}
        with node.client(body["root_token"]) as root:
            assert root.put("/v1/sys/seal").status_code == 204
        with node.client() as c:  # recovery keys cannot unseal
            r = c.put("/v1/sys/unseal", json={"key": body["recovery_keys"][0]})
            assert r.status_code == 400 and "recovery keys cannot unseal" in r.text
        end = time.monotonic() + 2.5  # the auto-unseal loop (1 s) leaves it sealed
        while time.monotonic() < end:
            assert status(node)["sealed"] is True
            time.sleep(0.2)
    finally:
        node.stop()


def test_generate_root_with_recovery_keys(tmp_path: Path, tls: TlsFiles) -> None:
    from strongbox.seal.rekey import decode_root_token

    node = ServerProcess(tmp_path / "data", tls, extra_config=static_seal(tmp_path)).start()
    try:
        with node.client() as c:
            body = c.put("/v1/sys/init", json={"recovery_shares": 3,
                                              "recovery_threshold": 2}).json()
        wait_unsealed(node)
        with node.client() as c:
            attempt = c.put("/v1/sys/generate-root/attempt", json={}).json()
            assert attempt["required"] == 2
            for share in body["recovery_keys"][:2]:
                done = c.put("/v1/sys/generate-root/update",
                             json={"key": share, "nonce": attempt["nonce"]}).json()
        token = decode_root_token(done["encoded_token"], attempt["otp"])
        with node.client(token) as c:
            assert c.get("/v1/auth/token/lookup-self").json()["data"]["policies"] == ["root"]
    finally:
        node.stop()


def test_migration_shamir_to_static_and_back(tmp_path: Path, tls: TlsFiles) -> None:
    node = ServerProcess(tmp_path / "data", tls).start()
    try:
        keys, root = node.init_and_unseal(shares=3, threshold=2)
        with node.client(root) as c:
            c.put("/v1/secret/data/kept", json={"data": {"v": "1"}})
        seal = static_seal(tmp_path)
        restart(node, seal)
        current = status(node)
        assert current["sealed"] and current["migration"] is True
        assert "migrate=true" in current.get("seal_error", "")
        with node.client() as c:
            r = c.put("/v1/sys/unseal", json={"key": keys[0]})
            assert r.status_code == 400 and "migrate=true" in r.text
            for key in keys[:2]:
                r = c.put("/v1/sys/unseal", json={"key": key, "migrate": True})
                assert r.status_code == 200, r.text
        after = wait_unsealed(node)
        assert after["type"] == "static" and after["migration"] is False
        restart(node, seal)
        wait_unsealed(node)  # auto-unseal now
        # back to Shamir: the old seal reads the stored key; the recovery keys (the old
        # shares) become the unseal keys again
        restart(node, seal.replace("[seal]", "[previous_seal]"))
        assert status(node)["migration"] is True
        with node.client() as c:
            for key in keys[:2]:
                r = c.put("/v1/sys/unseal", json={"key": key, "migrate": True})
                assert r.status_code == 200, r.text
        assert status(node)["type"] == "shamir"
        restart(node, "")
        assert status(node)["sealed"] is True
        node.unseal(keys[1:3])
        with node.client(root) as c:
            assert c.get("/v1/secret/data/kept").json()["data"]["data"] == {"v": "1"}
    finally:
        node.stop()


def test_a_wrong_seal_key_keeps_the_node_sealed_and_says_why(tmp_path: Path,
                                                             tls: TlsFiles) -> None:
    seal = static_seal(tmp_path)
    node = ServerProcess(tmp_path / "data", tls, extra_config=seal).start()
    try:
        with node.client() as c:
            c.put("/v1/sys/init", json={"recovery_shares": 1, "recovery_threshold": 1})
        wait_unsealed(node)
        restart(node, static_seal(tmp_path, "other.key"))
        end = time.monotonic() + 10
        while "seal_error" not in status(node) and time.monotonic() < end:
            time.sleep(0.1)
        current = status(node)
        assert current["sealed"] is True
        assert "does not open the stored unseal key" in current["seal_error"]
        key_text = (tmp_path / "other.key").read_text()
        assert key_text not in str(current)
        (tmp_path / "other.key").write_text((tmp_path / "seal.key").read_text())  # fixed
        restart(node, f'[seal]\ntype = "static"\nkey_file = "{tmp_path / "other.key"}"\n')
        wait_unsealed(node)
    finally:
        node.stop()


def test_bad_seal_config_stops_the_node_with_a_clear_error(tmp_path: Path,
                                                           tls: TlsFiles) -> None:
    node = ServerProcess(tmp_path / "data", tls,
                         extra_config='[seal]\ntype = "static"\n')
    with pytest.raises(Exception):  # noqa: B017 (the process exits; its log says why)
        node.start(timeout=10)
    assert "key_file" in node.log_path.read_text()
    node.stop()


def test_transit_seal_unseals_after_the_key_manager_comes_back(tmp_path: Path,
                                                               tls: TlsFiles) -> None:
    """A node sealed by another StrongBox's Transit key: it restarts unsealed with no
    human; with the Transit cluster down it stays sealed and says why, and unseals on
    its own (with backoff) once that cluster is back."""
    from tests.conftest import ready_node

    with ready_node(tmp_path / "kms", tls) as kms:
        with kms.root as c:
            assert c.post("/v1/sys/mounts/transit", json={"type": "transit"}) \
                .status_code == 204
        seal = (f'[seal]\ntype = "transit"\naddress = "{kms.server.addr}"\n'
                f'token = "{kms.root_token}"\nkey_name = "autounseal"\n'
                f'tls_ca_cert = "{tls.ca_cert}"\ntimeout_s = 2\n')
        node = ServerProcess(tmp_path / "data", tls, extra_config=seal,
                             port=None).start()
        try:
            with node.client() as c:
                body = c.put("/v1/sys/init", json={"recovery_shares": 3,
                                                  "recovery_threshold": 2}).json()
            assert len(body["recovery_keys"]) == 3
            assert wait_unsealed(node)["type"] == "transit"
            kms.server.stop()
            restart(node, seal)
            end = time.monotonic() + 20
            while "seal_error" not in status(node) and time.monotonic() < end:
                time.sleep(0.2)
            current = status(node)
            assert current["sealed"] and "transit" in current["seal_error"]
            assert kms.root_token not in str(current)
            kms.server.start()
            kms.server.unseal(kms.keys[:2])
            wait_unsealed(node, deadline_s=60)  # backoff is at most 30 s
        finally:
            node.stop()


def pkcs11_seal(hsm: Any, pin_file: Path, key_label: str = "strongbox-unseal") -> str:
    return (f'[seal]\ntype = "pkcs11"\nlib = "{hsm.library}"\n'
            f'token_label = "{hsm.token_label}"\nkey_label = "{key_label}"\n'
            f'generate_key = true\npin_file = "{pin_file}"\n')


def wait_seal_error(node: ServerProcess, needle: str, deadline_s: float = 20) -> str:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        error = str(status(node).get("seal_error", ""))
        if needle in error:
            return error
        time.sleep(0.2)
    raise AssertionError(f"no seal_error with {needle!r}: {status(node)}")


def test_pkcs11_wrong_pin_missing_key_and_an_unplugged_hsm(tmp_path: Path,
                                                           tls: TlsFiles) -> None:
    """A real SoftHSM2 token: init, then a wrong PIN and a missing key label each keep
    the node sealed with a clear reason; an HSM unplugged at start is waited for, and
    the node unseals on its own once it is back."""
    from tests.softhsm import require_softhsm, softhsm_token

    require_softhsm()
    with softhsm_token(tmp_path / "hsm") as hsm:
        pin = tmp_path / "pin"
        pin.write_text(hsm.pin)
        good = pkcs11_seal(hsm, pin)
        node = ServerProcess(tmp_path / "data", tls, extra_config=good).start()
        try:
            with node.client() as c:
                assert c.put("/v1/sys/init", json={"recovery_shares": 1,
                                                  "recovery_threshold": 1}).status_code == 200
            wait_unsealed(node)
            wrong = tmp_path / "wrong-pin"
            wrong.write_text("0000")
            restart(node, pkcs11_seal(hsm, wrong))
            error = wait_seal_error(node, "wrong PIN")
            assert "0000" not in error and hsm.pin not in error
            restart(node, pkcs11_seal(hsm, pin, key_label="no-such-key"))
            wait_seal_error(node, "no-such-key")
            assert status(node)["sealed"] is True
            node.stop()
            with hsm.unplugged():
                node.extra_config = good
                node.start()
                wait_seal_error(node, "token")
                assert status(node)["sealed"] is True
            wait_unsealed(node, deadline_s=60)  # back: unsealed with no human
        finally:
            node.stop()
