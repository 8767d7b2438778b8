"""strongbox.obs.logs: JSON lines with the documented fields, idempotent configuration on the
"strongbox" hierarchy only, and redaction of token-looking strings."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from strongbox.obs.logs import REDACTED, _JsonLinesHandler, configure_logging, log_request

TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
TOKEN = "hvs.CAESIJlWh3mTqLUeXAjmq1v0P4uX"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A configured "strongbox" logger writing to a buffer; the logger's previous handlers,
    level and propagation are restored afterwards (other tests rely on caplog)."""
    logger = logging.getLogger("strongbox")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    buffer = io.StringIO()
    configure_logging("debug", "node-1", stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in saved[0]:
            logger.addHandler(handler)
        logger.setLevel(saved[1])
        logger.propagate = saved[2]


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_each_line_is_json_with_the_base_fields(stream: io.StringIO) -> None:
    logging.getLogger("strongbox.api").info("hello %s", "world")
    logging.getLogger("strongbox").warning("second")
    first, second = lines(stream)
    assert TS.match(first["ts"])
    assert first == {"ts": first["ts"], "level": "INFO", "logger": "strongbox.api",
                     "node_id": "node-1", "msg": "hello world"}
    assert (second["level"], second["logger"], second["msg"]) == ("WARNING", "strongbox",
                                                                  "second")


def test_extra_fields_follow_the_base_fields(stream: io.StringIO) -> None:
    logging.getLogger("strongbox.api").info(
        "done", extra={"request_id": "r-1", "method": "GET", "route": "/v1/sys/health",
                       "status": 200, "duration_ms": 1.25, "node_id": "spoofed"})
    (line,) = lines(stream)
    assert line["request_id"] == "r-1"
    assert (line["method"], line["route"], line["status"], line["duration_ms"]) == (
        "GET", "/v1/sys/health", 200, 1.25)
    assert line["node_id"] == "node-1"  # base fields win
    assert list(line)[:5] == ["ts", "level", "logger", "node_id", "msg"]


def test_exceptions_carry_type_and_traceback(stream: io.StringIO) -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        logging.getLogger("strongbox.raft").exception("apply failed")
    (line,) = lines(stream)
    assert line["level"] == "ERROR"
    assert line["exc_type"] == "KeyError"
    assert line["exc"].startswith("Traceback (most recent call last)")
    assert "KeyError: 'missing'" in line["exc"]


def test_log_request_writes_the_access_line(stream: io.StringIO) -> None:
    logger = logging.getLogger("strongbox.api.access")
    log_request(logger, request_id="r-9", method="PUT", route="/v1/{mount}/data/*",
                status=204, duration_ms=3.14159)
    log_request(logger, request_id="r-10", method="GET", route="/v1/sys/health",
                status=503, duration_ms=0.5)
    ok, failed = lines(stream)
    assert ok["level"] == "INFO"
    assert {k: ok[k] for k in ("request_id", "method", "route", "status", "duration_ms")} == {
        "request_id": "r-9", "method": "PUT", "route": "/v1/{mount}/data/*", "status": 204,
        "duration_ms": 3.142}
    assert failed["level"] == "WARNING" and failed["status"] == 503


def test_configure_twice_does_not_duplicate_lines(stream: io.StringIO) -> None:
    # Only what configure_logging itself installs is counted: whatever else is on the
    # logger (pytest's capture handlers, anything an earlier test left) is taken as it
    # was before the calls, and only our own messages are looked at (a thread left by
    # an earlier test may log too), so the outcome cannot depend on what ran before.
    logger = logging.getLogger("strongbox")
    (ours,) = [h for h in logger.handlers if isinstance(h, _JsonLinesHandler)]  # the fixture's
    foreign = [h for h in logger.handlers if h is not ours]
    again = io.StringIO()
    configure_logging("info", "node-2", stream=again)
    configure_logging("info", "node-2", stream=again)
    logging.getLogger("strongbox.core").info("once")
    logging.getLogger("strongbox.core").debug("below the level")

    def mine(buffer: io.StringIO) -> list[dict[str, Any]]:
        return [line for line in lines(buffer) if line["logger"] == "strongbox.core"
                and line["msg"] in ("once", "below the level")]

    assert mine(stream) == []
    (line,) = mine(again)
    assert (line["msg"], line["node_id"]) == ("once", "node-2")
    added = [h for h in logger.handlers if h not in foreign]
    assert len(added) == 1 and isinstance(added[0], _JsonLinesHandler)
    assert added[0] is not ours  # the second call replaced the handler, did not add one
    assert [h for h in logger.handlers if h in foreign] == foreign  # others left alone


def test_only_the_strongbox_hierarchy_is_configured(stream: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").warning("not ours")
    logging.getLogger("strongboxer").warning("not ours either")
    assert stream.getvalue() == ""
    assert not logging.getLogger("strongbox").propagate


@pytest.mark.parametrize("token", [
    TOKEN, "sbs.0123456789abcdef0123", "sbb.AAAAAAAAAAAAAAAAAAAAAAAA",
    "hvb.AAAAAAAAAAAAAAAAAAAAAAAA", "s.Abcdefghijklmnop1234"])
def test_token_looking_strings_are_redacted_everywhere(stream: io.StringIO,
                                                       token: str) -> None:
    logger = logging.getLogger("strongbox.auth")
    logger.info("lookup of %s", token, extra={"token": token, "nested": {"k": [token]},
                                              "header": f"Bearer {token}"})
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        logger.exception("failed")
    text = stream.getvalue()
    assert token not in text
    first, second = lines(stream)
    assert first["msg"] == f"lookup of {REDACTED}"
    assert first["token"] == REDACTED
    assert first["nested"] == {"k": [REDACTED]}
    assert first["header"] == f"Bearer {REDACTED}"
    assert f"bad token {REDACTED}" in second["exc"]


@pytest.mark.parametrize("harmless", ["s.short", "hvs.tooShort123", "xs.Abcdefghijklmnop1234",
                                      "sys.storage.raft.snapshot", "request r-1234"])
def test_ordinary_strings_are_left_alone(stream: io.StringIO, harmless: str) -> None:
    logging.getLogger("strongbox").info(harmless)
    assert lines(stream)[0]["msg"] == harmless


def test_non_json_values_are_written_as_strings(stream: io.StringIO) -> None:
    logging.getLogger("strongbox").info("x", extra={"obj": object(), "nan": float("nan"),
                                                    "items": ("a", 1)})
    (line,) = lines(stream)
    assert line["obj"].startswith("<object object")
    assert (line["nan"], line["items"]) == ("nan", ["a", 1])


def test_unknown_level_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="debug, info, warning, error"):
        configure_logging("verbose", "n1", stream=io.StringIO())
