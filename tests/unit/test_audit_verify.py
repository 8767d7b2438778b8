"""verify_file and `strongbox audit verify` on real, tampered files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from strongbox.audit import FileAuditDevice, VerifyResult, line_hash, verify_file
from strongbox.audit.verify import add_parser, main, run

N = 10


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    with FileAuditDevice("file/", str(path)) as device:
        for i in range(N):
            device.write({"type": "request", "request": {"id": f"r{i}", "path": "secret/x"},
                          "n": i})
    return path


def get_lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def put_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_intact_file(log: Path) -> None:
    assert verify_file(log) == VerifyResult(ok=True, lines=N, first_bad_line=None,
                                            reason="chain intact")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    assert verify_file(path) == VerifyResult(True, 0, None, "chain intact")


def test_modified_line_is_reported_at_the_next_line(log: Path) -> None:
    lines = get_lines(log)
    lines[3] = lines[3].replace(b'"n":3', b'"n":33')  # still valid JSON, same prev_hash
    put_lines(log, lines)
    result = verify_file(log)
    assert (result.ok, result.first_bad_line, result.lines) == (False, 5, N)
    assert result.reason == ("line 5: prev_hash does not match line 4: a line was changed, "
                             "removed or reordered before this one")


def test_modified_and_reserialized_line(log: Path) -> None:
    lines = get_lines(log)
    record = json.loads(lines[5])
    record["n"] = 555
    lines[5] = json.dumps(record, separators=(",", ":")).encode()
    put_lines(log, lines)
    assert verify_file(log).first_bad_line == 7


def test_deleted_line(log: Path) -> None:
    lines = get_lines(log)
    del lines[3]
    put_lines(log, lines)
    result = verify_file(log)
    assert (result.ok, result.first_bad_line, result.lines) == (False, 4, N - 1)
    assert "prev_hash does not match line 3" in result.reason


def test_deleted_first_line(log: Path) -> None:
    put_lines(log, get_lines(log)[1:])
    result = verify_file(log)
    assert (result.ok, result.first_bad_line) == (False, 1)
    assert "removed from the start" in result.reason


def test_swapped_lines(log: Path) -> None:
    lines = get_lines(log)
    lines[4], lines[5] = lines[5], lines[4]
    put_lines(log, lines)
    result = verify_file(log)
    assert (result.ok, result.first_bad_line) == (False, 5)


def test_inserted_line(log: Path) -> None:
    lines = get_lines(log)
    forged = json.dumps({"type": "request", "n": 99, "prev_hash": "0" * 64}).encode()
    put_lines(log, [*lines[:4], forged, *lines[4:]])
    result = verify_file(log)
    assert (result.ok, result.first_bad_line, result.lines) == (False, 5, N + 1)


def test_inserted_line_with_a_correct_prev_hash_breaks_the_next(log: Path) -> None:
    lines = get_lines(log)
    forged = json.dumps({"n": 99, "prev_hash": line_hash(lines[3])}).encode()
    put_lines(log, [*lines[:4], forged, *lines[4:]])
    assert verify_file(log).first_bad_line == 6


def test_truncated_last_line(log: Path) -> None:
    data = log.read_bytes()
    log.write_bytes(data[:-20])
    result = verify_file(log)
    assert (result.ok, result.first_bad_line, result.lines) == (False, N, N)
    assert "incomplete" in result.reason and result.reason.startswith(f"line {N}:")


def test_missing_final_newline_only(log: Path) -> None:
    log.write_bytes(log.read_bytes()[:-1])
    assert verify_file(log).first_bad_line == N


def test_invalid_json(log: Path) -> None:
    lines = get_lines(log)
    lines[2] = b"this is not json"
    put_lines(log, lines)
    result = verify_file(log)
    assert (result.first_bad_line, result.reason) == (3, "line 3: not valid JSON")


def test_missing_and_malformed_prev_hash(log: Path) -> None:
    lines = get_lines(log)
    record = json.loads(lines[4])
    del record["prev_hash"]
    put_lines(log, [*lines[:4], json.dumps(record).encode()])
    assert verify_file(log).reason == "line 5: missing prev_hash"
    put_lines(log, [*lines[:4], b'{"prev_hash":"ABC"}'])
    assert "not a sha256 hex digest" in verify_file(log).reason
    put_lines(log, [*lines[:4], b"[1,2]"])
    assert verify_file(log).reason == "line 5: not a JSON object"
    put_lines(log, [*lines[:4], b'{"x":"\xff"}'])
    assert verify_file(log).reason == "line 5: not valid JSON"


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        verify_file(tmp_path / "nope.log")


def test_main_ok(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(log)]) == 0
    assert capsys.readouterr().out == f"OK: {N} lines, chain intact\n"


def test_main_broken(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = get_lines(log)
    del lines[6]
    put_lines(log, lines)
    assert main(["verify", str(log), "-format=table"]) == 1
    assert capsys.readouterr().out == ("BROKEN at line 7: prev_hash does not match line 6: a "
                                       "line was changed, removed or reordered before this "
                                       "one\n")


def test_main_json(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(log), "-format=json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        "file": str(log), "ok": True, "lines": N, "first_bad_line": None,
        "reason": "chain intact"}
    log.write_bytes(log.read_bytes()[:-5])
    assert main(["verify", "-format", "json", str(log)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["first_bad_line"]) == (False, N)


def test_main_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.log"
    assert main(["verify", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(missing) in captured.err and "not found" in captured.err


def test_main_unreadable_and_bad_usage(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err
    assert main(["verify"]) == 2
    assert main(["verify", "x", "-format=xml"]) == 2
    assert main([]) == 2


def test_add_parser_plugs_into_the_main_cli(log: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="strongbox")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(["audit", "verify", str(log), "-format=table"])
    assert args.command == "audit"
    assert run(args) == 0
    assert capsys.readouterr().out.startswith("OK: ")
