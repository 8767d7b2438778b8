"""strongbox.cli.common: -field raw, json, yaml and table output; one-line errors."""

from __future__ import annotations

import argparse
import json

import pytest
import yaml

from strongbox.cli import common
from strongbox.client import errors


def ns(**kwargs: object) -> argparse.Namespace:
    return argparse.Namespace(**{"format": None, "field": None, **kwargs})


BODY = {"request_id": "r1", "data": {"data": {"password": "p@ss \"q\"", "n": 3, "ok": True},
                                      "metadata": {"version": 2}}}


def test_field_prints_strings_raw_never_json_quoted(capsys: pytest.CaptureFixture[str]) -> None:
    common.emit(ns(field="password", format="json"), BODY)
    assert capsys.readouterr().out == 'p@ss "q"\n'


def test_field_prints_scalars_lowercase_and_finds_nested_sections(
        capsys: pytest.CaptureFixture[str]) -> None:
    common.emit(ns(field="ok"), BODY)
    common.emit(ns(field="version"), BODY)
    assert capsys.readouterr().out == "true\n2\n"


def test_missing_field_is_one_error_line_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = common.guarded(lambda a: common.emit(a, BODY), ns(field="nope"))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and 'field "nope"' in err


def test_json_output_is_the_whole_body(capsys: pytest.CaptureFixture[str]) -> None:
    common.emit(ns(format="json"), BODY)
    assert json.loads(capsys.readouterr().out) == BODY


def test_yaml_output_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    common.emit(ns(format="yaml"), BODY)
    assert yaml.safe_load(capsys.readouterr().out) == BODY


def test_table_has_vault_header_and_aligned_columns() -> None:
    text = common.table({"a": 1, "longer_key": None, "empty": ""})
    lines = text.splitlines()
    assert lines[0].split() == ["Key", "Value"] and lines[1].split() == ["---", "-----"]
    assert lines[2].index("1") == lines[0].index("Value")
    assert lines[3].endswith("n/a") and lines[4].endswith("n/a")


def test_format_from_environment(monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VAULT_FORMAT", "json")
    common.emit(ns(), {"k": "v"})
    assert json.loads(capsys.readouterr().out) == {"k": "v"}


def test_client_error_is_one_line_with_status_and_request_id(
        capsys: pytest.CaptureFixture[str]) -> None:
    def fail(_: argparse.Namespace) -> int:
        raise errors.PermissionDenied("permission denied", 403, request_id="abc")
    assert common.guarded(fail, ns()) == 1
    assert capsys.readouterr().err == "Error: permission denied (403, request id abc)\n"


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    def fail(_: argparse.Namespace) -> int:
        raise common.UsageError("missing -versions")
    assert common.guarded(fail, ns()) == 2
    assert capsys.readouterr().err == "Error: missing -versions\n"


def test_parse_pairs_reads_files_and_stdin(tmp_path: object, monkeypatch: pytest.MonkeyPatch,
                                           ) -> None:
    from pathlib import Path
    file = Path(str(tmp_path)) / "cert.pem"
    file.write_text("PEM")
    monkeypatch.setattr(common, "read_stdin", lambda: "from-stdin\n")
    assert common.parse_pairs(["a=1", f"b=@{file}", "c=-"]) == {
        "a": "1", "b": "PEM", "c": "from-stdin"}
    monkeypatch.setattr(common, "read_stdin", lambda: '{"x": {"y": 1}}')
    assert common.parse_pairs(["-"]) == {"x": {"y": 1}}


def test_parse_pairs_rejects_a_pair_without_equals_and_does_not_echo_values() -> None:
    with pytest.raises(common.UsageError):
        common.parse_pairs(["novalue"])
    with pytest.raises(common.UsageError, match="not valid JSON") as info:
        common.parse_pairs(["@/dev/null"])
    assert "secret" not in str(info.value)
