"""Redaction: no token, accessor, secret value or header value survives in an audit line."""

from __future__ import annotations

import copy
import hashlib
import hmac as hmac_mod
import json
from pathlib import Path
from typing import Any

from strongbox.audit import AuditBroker, FileAuditDevice, redact_entry

KEY = b"k" * 32
SECRETS = [
    "s.ROOTTOKENabc123", "accessor-AAA", "hunter2-password", "db-secret-value",
    "nested-secret-in-list", "deep-secret", "s.NEWTOKENxyz", "accessor-NEW",
    "s.WRAPTOKEN", "wrap-accessor-1", "Bearer s.HEADERTOKEN", "header-list-secret",
    "response-secret-value",
]


def hmac_fn(value: str) -> str:
    return "hmac-sha256:" + hmac_mod.new(KEY, value.encode(), hashlib.sha256).hexdigest()


def request_entry() -> dict[str, Any]:
    return {
        "time": "2026-01-01T00:00:00.000000001Z",
        "type": "request",
        "auth": {"client_token": "s.ROOTTOKENabc123", "accessor": "accessor-AAA",
                 "display_name": "root", "policies": ["root"], "token_policies": ["root"],
                 "metadata": None, "entity_id": "", "token_type": "service"},
        "request": {
            "id": "req-1", "operation": "update", "mount_type": "kv",
            "client_token": "s.ROOTTOKENabc123", "client_token_accessor": "accessor-AAA",
            "namespace": {"id": "root", "path": ""}, "path": "secret/data/app",
            "data": {"data": {"password": "hunter2-password", "db": "db-secret-value",
                              "port": 5432, "ratio": 0.5, "enabled": True, "nothing": None,
                              "list": ["nested-secret-in-list", 7, {"x": "deep-secret"}]},
                     "options": {"cas": 3}},
            "remote_address": "127.0.0.1", "remote_port": 50000,
            "headers": {"authorization": ["Bearer s.HEADERTOKEN"],
                        "x-custom": "header-list-secret"},
        },
        "error": "",
    }


def response_entry() -> dict[str, Any]:
    entry = request_entry()
    entry["type"] = "response"
    entry["response"] = {
        "mount_type": "kv",
        "data": {"data": {"value": "response-secret-value"}, "metadata": {"version": 4}},
        "headers": None,
        "auth": {"client_token": "s.NEWTOKENxyz", "accessor": "accessor-NEW",
                 "policies": ["default"], "lease_duration": 3600, "renewable": True},
        "wrap_info": {"token": "s.WRAPTOKEN", "accessor": "wrap-accessor-1", "ttl": 60,
                      "creation_path": "sys/wrapping/wrap"},
    }
    return entry


def test_no_secret_survives_in_the_serialized_entry() -> None:
    for entry in (request_entry(), response_entry()):
        raw = json.dumps(redact_entry(entry, hmac_fn))
        for secret in SECRETS:
            assert secret not in raw, secret
            assert secret.split()[-1] not in raw


def test_sensitive_fields_become_the_hmac_and_other_values_are_kept() -> None:
    out = redact_entry(response_entry(), hmac_fn)
    assert out["auth"]["client_token"] == hmac_fn("s.ROOTTOKENabc123")
    assert out["auth"]["accessor"] == hmac_fn("accessor-AAA")
    assert out["request"]["client_token"] == hmac_fn("s.ROOTTOKENabc123")
    assert out["request"]["client_token_accessor"] == hmac_fn("accessor-AAA")
    data = out["request"]["data"]["data"]
    assert data["password"] == hmac_fn("hunter2-password")
    assert data["list"] == [hmac_fn("nested-secret-in-list"), 7, {"x": hmac_fn("deep-secret")}]
    assert (data["port"], data["ratio"], data["enabled"], data["nothing"]) == (5432, 0.5, True,
                                                                                None)
    assert out["request"]["data"]["options"] == {"cas": 3}
    assert out["request"]["headers"] == {"authorization": [hmac_fn("Bearer s.HEADERTOKEN")],
                                         "x-custom": hmac_fn("header-list-secret")}
    assert out["response"]["data"]["metadata"] == {"version": 4}
    assert out["response"]["auth"]["client_token"] == hmac_fn("s.NEWTOKENxyz")
    assert out["response"]["auth"]["lease_duration"] == 3600
    assert out["response"]["wrap_info"]["token"] == hmac_fn("s.WRAPTOKEN")
    assert out["response"]["wrap_info"]["ttl"] == 60
    # not sensitive: kept
    assert out["request"]["path"] == "secret/data/app"
    assert out["request"]["remote_address"] == "127.0.0.1"
    assert out["auth"]["policies"] == ["root"]
    assert out["auth"]["display_name"] == "root"


def test_hmac_is_deterministic_and_keyed() -> None:
    first = redact_entry(request_entry(), hmac_fn)
    second = redact_entry(request_entry(), hmac_fn)
    assert first == second

    def other(value: str) -> str:
        return "hmac-sha256:" + hmac_mod.new(b"o" * 32, value.encode(),
                                             hashlib.sha256).hexdigest()

    assert redact_entry(request_entry(), other)["auth"]["client_token"] != \
        first["auth"]["client_token"]


def test_hmac_accessor_false_keeps_accessors_but_not_tokens() -> None:
    out = redact_entry(response_entry(), hmac_fn, hmac_accessor=False)
    assert out["auth"]["accessor"] == "accessor-AAA"
    assert out["request"]["client_token_accessor"] == "accessor-AAA"
    assert out["response"]["auth"]["accessor"] == "accessor-NEW"
    assert out["response"]["wrap_info"]["accessor"] == "wrap-accessor-1"
    raw = json.dumps(out)
    for secret in ("s.ROOTTOKENabc123", "hunter2-password", "s.NEWTOKENxyz", "s.WRAPTOKEN"):
        assert secret not in raw


def test_input_is_not_modified_and_missing_sections_are_fine() -> None:
    entry = response_entry()
    before = copy.deepcopy(entry)
    redact_entry(entry, hmac_fn)
    assert entry == before
    assert redact_entry({"type": "request"}, hmac_fn) == {"type": "request"}
    sparse = {"auth": None, "request": {"client_token": "", "data": None},
              "response": {"auth": None, "wrap_info": None, "data": "plain-string-body"}}
    out = redact_entry(sparse, hmac_fn)
    assert out["request"]["client_token"] == ""  # no token: nothing to hash
    assert out["request"]["data"] is None
    assert out["response"]["data"] == hmac_fn("plain-string-body")


def test_tuples_are_written_as_lists() -> None:
    out = redact_entry({"request": {"data": {"t": ("a-secret", 1)}}}, hmac_fn)
    assert out["request"]["data"]["t"] == [hmac_fn("a-secret"), 1]


def test_no_secret_reaches_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    broker = AuditBroker(hmac_fn)
    broker.enable("file/", FileAuditDevice("file/", str(path)))
    broker.log_request(request_entry())
    broker.log_response(response_entry())
    broker.close()
    raw = path.read_text()
    assert len(raw.splitlines()) == 2
    for secret in SECRETS:
        assert secret not in raw, secret
    assert '"port":5432' in raw
    assert hmac_fn("hunter2-password") in raw
