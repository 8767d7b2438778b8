"""Cron schedules of static roles (engines/database/cron.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from strongbox.engines.database.cron import Schedule
from strongbox.errors import BadRequest


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize("schedule,after,expected", [
    ("0 3 * * *", "2026-12-03 10:00", "2026-12-04 03:00"),
    ("*/15 * * * *", "2026-12-03 10:07", "2026-12-03 10:15"),
    ("0 3 * * SAT", "2026-12-03 10:00", "2026-12-05 03:00"),  # a Thursday
    ("0 0 1 JAN *", "2026-12-03 10:00", "2027-01-01 00:00"),
    ("30 2 29 2 *", "2026-12-03 10:00", "2028-02-29 02:30"),
    ("0 12 1 * 1", "2026-12-03 10:00", "2026-12-07 12:00"),  # day 1 OR a Monday
    ("0 0 * * 7", "2026-12-03 10:00", "2026-12-06 00:00"),  # 7 is Sunday too
    ("5-10/5 8 * * *", "2026-12-03 08:05", "2026-12-03 08:10"),
])
def test_next_after(schedule: str, after: str, expected: str) -> None:
    assert Schedule.parse(schedule).next_after(at(after)) == at(expected)


@pytest.mark.parametrize("schedule,needle", [
    ("* * *", "five fields"), ("61 * * * *", "outside"), ("* * * FOO *", "month"),
    ("*/0 * * * *", "step"), ("0 0 31 2 *", "never matches"),
])
def test_bad_schedules(schedule: str, needle: str) -> None:
    with pytest.raises(BadRequest, match=needle):
        Schedule.parse(schedule).next_after(at("2026-12-03 10:00"))
