"""What the lean read path keeps instead of recomputing: remembered HMACs and the JSON value
a response was encoded from. Each must give exactly what recomputing would."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from strongbox.api.audit_entries import _response_body
from strongbox.backend.response import Response, json_response, ok
from strongbox.barrier import keyring as keyring_mod
from strongbox.barrier.keyring import Keyring, generate_init_material, open_root_key
from strongbox.errors import Sealed


def _keyring() -> Keyring:
    material = generate_init_material(1)
    root = open_root_key(material.unseal_key, material.sealed_root_key)
    return Keyring(root, material.keys.get, lambda: 1)


def test_remembered_hashes_equal_fresh_ones() -> None:
    ring = _keyring()
    key = bytes(ring._audit_hmac)
    for value in ("hvs.token", "accessor-1", "x" * 300):  # the last is never remembered
        first, second = ring.audit_hash(value), ring.audit_hash(value)
        expected = "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
        assert first == second == expected
    assert (True, "x" * 300) not in ring._memo
    token_key = bytes(ring._token_hmac)
    assert ring.token_hash("hvs.t") == ring.token_hash("hvs.t") == hmac.new(
        token_key, b"hvs.t", hashlib.sha256).digest()


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyring_mod, "MEMO_ENTRIES", 8)
    ring = _keyring()
    for i in range(50):
        ring.audit_hash(f"value-{i}")
        assert len(ring._memo) <= 8


def test_sealing_forgets_every_remembered_hash() -> None:
    ring = _keyring()
    ring.audit_hash("hvs.token")
    ring.token_hash("hvs.token")
    ring.wipe()
    assert ring._memo == {}
    with pytest.raises(Sealed):
        ring.audit_hash("hvs.token")
    with pytest.raises(Sealed):
        ring.token_hash("hvs.token")


def test_the_audit_reads_the_encoded_value_only_while_the_body_is_unchanged() -> None:
    response = ok("req-1", {"value": "s3cret"})
    known, value = response.json_value()
    assert known and value["data"] == {"value": "s3cret"}
    assert _response_body(response)["data"] == {"value": "s3cret"}
    response.body = b'{"data":{"other":"1"}}'  # replaced: the parsed body is what counts
    assert response.json_value() == (False, None)
    assert _response_body(response) == {"data": {"other": "1"}}
    assert _response_body(Response(200, b'{"data":{"a":1}}')) == {"data": {"a": 1}}
    assert json_response(200, ["not", "a", "dict"]).json_value()[0]
    assert _response_body(json_response(200, ["not", "a", "dict"])) == {}
