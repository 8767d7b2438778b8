"""hvac's `client.secrets.transit` against a real node: every key type round trips
through the calls Vault's users make, unchanged."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import hvac
import hvac.exceptions
import pytest

from tests.conftest import ReadyNode

pytestmark = pytest.mark.integration

ENCRYPTING = ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305", "rsa-2048"]
SIGNING = ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def create(client: hvac.Client, name: str, key_type: str) -> None:
    """hvac's create_key refuses types its list lacks (aes128-gcm96, hmac): those are
    made with a plain write, as a Vault user would."""
    from hvac.constants import transit as constants

    if key_type in constants.ALLOWED_KEY_TYPES:
        client.secrets.transit.create_key(name, key_type=key_type)
    else:
        client.write_data(f"transit/keys/{name}", data={"type": key_type})


@pytest.fixture(scope="module")
def client(node: ReadyNode) -> Iterator[hvac.Client]:
    c = hvac.Client(url=node.server.addr, token=node.root_token,
                    verify=str(node.server.tls.ca_cert))
    c.sys.enable_secrets_engine("transit", path="transit")
    yield c


@pytest.mark.parametrize("key_type", ENCRYPTING)
def test_encrypt_decrypt_rotate_rewrap(client: hvac.Client, key_type: str) -> None:
    name = "enc-" + key_type
    create(client, name, key_type)
    first = client.secrets.transit.encrypt_data(name, plaintext=b64(b"hello"))
    ciphertext = first["data"]["ciphertext"]
    assert ciphertext.startswith("vault:v1:")
    client.secrets.transit.rotate_key(name)
    rewrapped = client.secrets.transit.rewrap_data(name, ciphertext=ciphertext)
    assert rewrapped["data"]["ciphertext"].startswith("vault:v2:")
    for value in (ciphertext, rewrapped["data"]["ciphertext"]):
        out = client.secrets.transit.decrypt_data(name, ciphertext=value)
        assert base64.b64decode(out["data"]["plaintext"]) == b"hello"
    key = client.secrets.transit.read_key(name)["data"]
    assert key["type"] == key_type and key["latest_version"] == 2


@pytest.mark.parametrize("key_type", SIGNING)
def test_sign_verify(client: hvac.Client, key_type: str) -> None:
    name = "sig-" + key_type
    create(client, name, key_type)
    signed = client.secrets.transit.sign_data(name, hash_input=b64(b"payload"))
    signature = signed["data"]["signature"]
    assert signature.startswith("vault:v1:")
    ok = client.secrets.transit.verify_signed_data(name, hash_input=b64(b"payload"),
                                                   signature=signature)
    assert ok["data"]["valid"] is True
    bad = client.secrets.transit.verify_signed_data(name, hash_input=b64(b"payloaD"),
                                                    signature=signature)
    assert bad["data"]["valid"] is False


def test_hmac_key_and_hmac_of_an_aes_key(client: hvac.Client) -> None:
    create(client, "mac", "hmac")
    client.secrets.transit.create_key("mac-aes")
    for name in ("mac", "mac-aes"):
        mac = client.secrets.transit.generate_hmac(name, hash_input=b64(b"m"))["data"]["hmac"]
        valid = client.secrets.transit.verify_signed_data(name, hash_input=b64(b"m"),
                                                          hmac=mac)
        assert valid["data"]["valid"] is True


def test_key_configuration_export_backup_restore(client: hvac.Client) -> None:
    transit = client.secrets.transit
    transit.create_key("exp", exportable=True, allow_plaintext_backup=True)
    exported = transit.export_key("exp", key_type="encryption-key")
    assert len(base64.b64decode(exported["data"]["keys"]["1"])) == 32
    backup = transit.backup_key("exp")["data"]["backup"]
    transit.restore_key(backup, name="exp-copy")
    secret = transit.encrypt_data("exp", plaintext=b64(b"s"))["data"]["ciphertext"]
    copy = transit.decrypt_data("exp-copy", ciphertext=secret)
    assert base64.b64decode(copy["data"]["plaintext"]) == b"s"
    transit.update_key_configuration("exp-copy", deletion_allowed=True)
    transit.delete_key("exp-copy")
    with pytest.raises(hvac.exceptions.InvalidPath):
        transit.read_key("exp-copy")
    names = transit.list_keys()["data"]["keys"]
    assert "exp" in names and "exp-copy" not in names


def test_batch_datakey_random_hash(client: hvac.Client) -> None:
    transit = client.secrets.transit
    transit.create_key("batch")
    items = [{"plaintext": b64(bytes([i]))} for i in range(5)]
    results = transit.encrypt_data("batch", batch_input=items)["data"]["batch_results"]
    assert len(results) == 5 and all(r["ciphertext"].startswith("vault:v1:") for r in results)
    dk = transit.generate_data_key("batch", key_type="plaintext")["data"]
    assert len(base64.b64decode(dk["plaintext"])) == 32
    assert len(transit.generate_random_bytes(n_bytes=24)["data"]["random_bytes"]) == 32
    digest = transit.hash_data(hash_input=b64(b"abc"), algorithm="sha2-256")["data"]["sum"]
    assert digest.startswith("ba7816bf")


def test_errors_reach_hvac_as_its_exceptions(client: hvac.Client) -> None:
    transit = client.secrets.transit
    with pytest.raises(hvac.exceptions.InvalidRequest, match="authentication failed"):
        transit.create_key("err")
        transit.decrypt_data("err", ciphertext="vault:v1:" + b64(b"\0" * 40))
    with pytest.raises(hvac.exceptions.InvalidPath):
        transit.read_key("no-such-key")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="deletion"):
        transit.delete_key("err")
