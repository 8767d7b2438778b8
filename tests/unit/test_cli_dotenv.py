"""`.env` files, env-var names for `strongbox run`, and masked `kv diff`."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongbox.cli.common import CommandFailed
from strongbox.cli.dotenv import check_env_name, format_dotenv, parse_dotenv
from strongbox.cli.kvio import Difference
from strongbox.cli.run import child_environment, exit_status

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@given(st.dictionaries(NAMES, st.text(), max_size=8))
def test_dotenv_round_trips_any_string(values: dict[str, str]) -> None:
    assert parse_dotenv(format_dotenv(values)) == values


def test_dotenv_quotes_what_a_shell_would_expand() -> None:
    text = format_dotenv({"A": 'x"$HOME\\\n'})
    assert text == 'A="x\\"\\$HOME\\\\\\n"\n'


def test_hand_written_dotenv() -> None:
    text = ("# comment\n\nexport A=1\nB = two words  # trailing\nC='lit $x \\n'\n"
            'D="line\\nnext"\n')
    assert parse_dotenv(text) == {"A": "1", "B": "two words", "C": "lit $x \\n",
                                  "D": "line\nnext"}


def test_malformed_dotenv_names_the_line_not_the_value() -> None:
    with pytest.raises(ValueError, match="line 2") as info:
        parse_dotenv('A=1\nB="s3cr3t\n')
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("name", ["A", "_x", "DB_PASS2"])
def test_valid_names(name: str) -> None:
    assert check_env_name(name) is None


@pytest.mark.parametrize("name", ["1A", "A-B", "A B", "", "é"])
def test_invalid_names(name: str) -> None:
    assert "not a valid" in (check_env_name(name) or "")


@pytest.mark.parametrize("name", ["LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "PYTHONPATH",
                                  "DYLD_INSERT_LIBRARIES"])
def test_loader_names_refused_unless_allowed(name: str) -> None:
    assert "--allow-env" in (check_env_name(name) or "")
    assert check_env_name(name, [name]) is None


def test_child_environment_drops_the_token_and_refuses_before_starting() -> None:
    env = child_environment({"STRONGBOX_TOKEN": "t", "HOME": "/h"}, {"A": "1", "N": 2}, [])
    assert env == {"HOME": "/h", "A": "1", "N": "2"}
    with pytest.raises(CommandFailed, match="LD_PRELOAD") as info:
        child_environment({}, {"LD_PRELOAD": "/evil.so"}, [])
    assert "/evil.so" not in str(info.value)


def test_exit_status_of_a_signalled_child() -> None:
    assert exit_status(-15) == 143 and exit_status(3) == 3


def test_diff_masks_values_unless_revealed() -> None:
    diff = Difference.of({"a": "1", "b": "2", "c": "3"}, {"b": "2", "c": "x", "d": "4"})
    masked = diff.lines(reveal=False)
    assert masked == ["- a = ****", "+ d = ****", "~ c: **** -> ****"]
    assert diff.lines(reveal=True) == ["- a = 1", "+ d = 4", "~ c: 3 -> x"]
    assert diff.document(reveal=False) == {"removed": ["a"], "added": ["d"], "changed": ["c"]}
