"""AuditBroker: fan-out, redaction per device, Vault's fail-closed rule, failure counting."""

from __future__ import annotations

import hashlib
import hmac as hmac_mod
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from strongbox.audit import AuditBroker, AuditError, FileAuditDevice, verify_file
from strongbox.errors import BadRequest

TOKEN = "s.BROKERSECRETTOKEN"
ACCESSOR = "accessor-broker-1"
PASSWORD = "correct-horse-battery"


def hmac_fn(value: str) -> str:
    return "hmac-sha256:" + hmac_mod.new(b"b" * 32, value.encode(), hashlib.sha256).hexdigest()


def entry() -> dict[str, Any]:
    return {"auth": {"client_token": TOKEN, "accessor": ACCESSOR, "policies": ["root"]},
            "request": {"id": "r1", "operation": "update", "path": "secret/data/x",
                        "client_token": TOKEN, "client_token_accessor": ACCESSOR,
                        "data": {"password": PASSWORD, "n": 3}},
            "error": ""}


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Recorder:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, name: str) -> None:
        self.failures.append(name)


def test_no_devices_means_nothing_to_do() -> None:
    broker = AuditBroker(hmac_fn)
    broker.log_request(entry())
    broker.log_response(entry())
    assert broker.names() == []


def test_request_and_response_lines(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    broker = AuditBroker(hmac_fn)
    broker.enable("file/", FileAuditDevice("file/", str(path)))
    original = entry()
    broker.log_request(original)
    broker.log_response({**entry(), "type": "wrong", "time": "2026-01-01T00:00:00Z",
                         "response": {"data": {"value": PASSWORD}}})
    broker.close()
    assert original == entry()  # the caller's entry is untouched
    request, response = read(path)
    assert request["type"] == "request"
    assert request["time"].endswith("Z") and request["time"][:2] == "20"
    assert list(request)[:2] == ["time", "type"]
    assert request["auth"]["client_token"] == hmac_fn(TOKEN)
    assert request["request"]["data"] == {"password": hmac_fn(PASSWORD), "n": 3}
    assert response["type"] == "response"
    assert response["time"] == "2026-01-01T00:00:00Z"
    assert response["response"]["data"]["value"] == hmac_fn(PASSWORD)
    assert verify_file(path).ok
    assert broker.names() == []


def test_raw_and_hmac_accessor_settings_per_device(tmp_path: Path) -> None:
    broker = AuditBroker(hmac_fn)
    broker.enable("hashed/", FileAuditDevice("hashed/", str(tmp_path / "h.log")))
    broker.enable("acc/", FileAuditDevice("acc/", str(tmp_path / "a.log"), hmac_accessor=False))
    broker.enable("raw/", FileAuditDevice("raw/", str(tmp_path / "r.log"), log_raw=True))
    assert broker.names() == ["acc/", "hashed/", "raw/"]
    broker.log_request(entry())
    broker.close()
    hashed = (tmp_path / "h.log").read_text()
    for secret in (TOKEN, ACCESSOR, PASSWORD):
        assert secret not in hashed
    with_accessor = read(tmp_path / "a.log")[0]
    assert with_accessor["auth"]["accessor"] == ACCESSOR
    assert with_accessor["auth"]["client_token"] == hmac_fn(TOKEN)
    raw = read(tmp_path / "r.log")[0]
    assert raw["auth"]["client_token"] == TOKEN
    assert raw["request"]["data"]["password"] == PASSWORD


def test_one_failing_device_is_counted_and_the_request_succeeds(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    failures = Recorder()
    broker = AuditBroker(hmac_fn, on_failure=failures)
    broker.enable("good/", FileAuditDevice("good/", str(tmp_path / "audit.log")))
    broker.enable("full/", FileAuditDevice("full/", "/dev/full", log_raw=True))
    with caplog.at_level(logging.ERROR, logger="strongbox.audit"):
        broker.log_request(entry())
        broker.log_response(entry())
    assert failures.failures == ["full/", "full/"]
    assert len(read(tmp_path / "audit.log")) == 2
    logged = caplog.text
    assert "full/" in logged and "No space left on device" in logged
    for secret in (TOKEN, ACCESSOR, PASSWORD):
        assert secret not in logged
    broker.close()


def test_all_devices_failing_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    failures = Recorder()
    broker = AuditBroker(hmac_fn, on_failure=failures)
    broker.enable("full1/", FileAuditDevice("full1/", "/dev/full"))
    directory = tmp_path / "logs"
    directory.mkdir()
    broker.enable("gone/", FileAuditDevice("gone/", str(directory / "audit.log")))
    shutil.rmtree(directory)
    assert broker.reopen_all() == ["gone/"]
    failures.failures.clear()
    with caplog.at_level(logging.ERROR, logger="strongbox.audit"), \
            pytest.raises(AuditError, match="no audit device could record the request") as info:
        broker.log_request(entry())
    assert info.value.status == 500
    assert sorted(failures.failures) == ["full1/", "gone/"]
    for secret in (TOKEN, ACCESSOR, PASSWORD):
        assert secret not in str(info.value) and secret not in caplog.text
    with pytest.raises(AuditError, match="could record the response"):
        broker.log_response(entry())
    broker.close()


def test_without_hmac_only_raw_devices_can_record(tmp_path: Path) -> None:
    failures = Recorder()
    broker = AuditBroker(None, on_failure=failures)
    broker.enable("hashed/", FileAuditDevice("hashed/", str(tmp_path / "h.log")))
    with pytest.raises(AuditError, match="no audit device could record"):
        broker.log_request(entry())
    assert failures.failures == ["hashed/"]
    assert (tmp_path / "h.log").read_text() == ""
    broker.enable("raw/", FileAuditDevice("raw/", str(tmp_path / "r.log"), log_raw=True))
    broker.log_request(entry())
    broker.set_hmac(hmac_fn)
    broker.log_request(entry())
    assert len(read(tmp_path / "h.log")) == 1
    assert len(read(tmp_path / "r.log")) == 2
    broker.close()


def test_hash_value() -> None:
    broker = AuditBroker()
    with pytest.raises(AuditError, match="unseal"):
        broker.hash_value("x")
    broker.set_hmac(hmac_fn)
    assert broker.hash_value(TOKEN) == hmac_fn(TOKEN)
    assert broker.hash_value(TOKEN).startswith("hmac-sha256:")


def test_enable_disable(tmp_path: Path) -> None:
    broker = AuditBroker(hmac_fn)
    device = FileAuditDevice("file/", str(tmp_path / "audit.log"))
    broker.enable("file/", device)
    assert broker.get("file/") is device
    with pytest.raises(BadRequest, match="already enabled"):
        broker.enable("file/", FileAuditDevice("file/", str(tmp_path / "other.log")))
    assert broker.disable("file/") is True
    assert broker.disable("file/") is False
    assert broker.get("file/") is None
    with pytest.raises(AuditError, match="closed"):
        device.write({})  # disable closed it
    broker.log_request(entry())  # nothing enabled any more


class ExplodingDevice:
    log_raw = True
    hmac_accessor = True

    def write(self, entry: dict[str, Any]) -> None:
        raise RuntimeError(f"bug that quotes {entry}")

    def reopen(self) -> None:
        pass

    def close(self) -> None:
        raise RuntimeError("close failed")


def test_unexpected_device_errors_are_contained(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def broken_counter(name: str) -> None:
        raise ValueError("metrics down")

    broker = AuditBroker(hmac_fn, on_failure=broken_counter)
    broker.enable("bad/", ExplodingDevice())
    broker.enable("good/", FileAuditDevice("good/", str(tmp_path / "audit.log")))
    with caplog.at_level(logging.WARNING, logger="strongbox.audit"):
        broker.log_request(entry())
        assert broker.disable("bad/") is True
    assert "unexpected RuntimeError" in caplog.text
    assert TOKEN not in caplog.text and PASSWORD not in caplog.text
    assert len(read(tmp_path / "audit.log")) == 1
    broker.close()


def test_reopen_all_rotates(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    broker = AuditBroker(hmac_fn)
    broker.enable("file/", FileAuditDevice("file/", str(path)))
    broker.log_request(entry())
    path.rename(tmp_path / "audit.log.1")
    assert broker.reopen_all() == []
    broker.log_request(entry())
    broker.close()
    assert verify_file(path).ok and verify_file(tmp_path / "audit.log.1").ok
    assert read(path)[0]["prev_hash"] == "0" * 64
