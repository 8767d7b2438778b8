"""Standard five-field cron schedules (UTC), for static roles' `rotation_schedule`.

`Schedule.parse("0 3 * * SAT")`: minute, hour, day of month, month, day of week;
each field `*`, a number, a name (JAN-DEC, SUN-SAT), a list `a,b`, a range `a-b`
and a step `*/n` or `a-b/n`; day of week 0 or 7 is Sunday. When both day fields
are restricted, a day matching either one matches (cron's rule). A bad field is a
400 naming it. `next_after(t)` is the first matching minute strictly after unix
time `t`, found by skipping whole months, days and hours, so it is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from strongbox.errors import BadRequest

MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
FIELDS: tuple[tuple[str, int, int, list[str]], ...] = (
    ("minute", 0, 59, []), ("hour", 0, 23, []), ("day of month", 1, 31, []),
    ("month", 1, 12, MONTHS), ("day of week", 0, 7, DAYS))
HORIZON_DAYS = 366 * 5


def _value(text: str, low: int, names: list[str], what: str) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + (1 if what == "month" else 0)
    if not text.isdigit():
        raise BadRequest(f"rotation_schedule: the {what} field is not a number or a name")
    return int(text)


def _field(text: str, what: str, low: int, high: int, names: list[str]) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else 0
        if step_text and not step:
            raise BadRequest(f"rotation_schedule: bad step (/n) in the {what} field")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            a, b = body.split("-", 1)
            start, end = _value(a, low, names, what), _value(b, low, names, what)
        else:
            start = end = _value(body, low, names, what)
            if step:
                end = high
        if not low <= start <= end <= high:
            raise BadRequest(f"rotation_schedule: the {what} field is outside {low}-{high}")
        out.update(range(start, end + 1, step or 1))
    return frozenset(out)


@dataclass(frozen=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Schedule:
        parts = text.split()
        if len(parts) != 5:
            raise BadRequest("rotation_schedule must have five fields: minute hour "
                             "day-of-month month day-of-week, e.g. \"0 3 * * SAT\"")
        fields = [_field(p, what, low, high, names)
                  for p, (what, low, high, names) in zip(parts, FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in fields[4])
        return cls(fields[0], fields[1], fields[2], fields[3], weekdays,
                   parts[2] == "*", parts[4] == "*")

    def _day_matches(self, when: datetime) -> bool:
        in_days = when.day in self.days
        in_weekdays = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def next_after(self, unix_s: int) -> int:
        when = datetime.fromtimestamp(unix_s - unix_s % 60, UTC) + timedelta(minutes=1)
        end = when + timedelta(days=HORIZON_DAYS)
        while when < end:
            if when.month not in self.months:
                when = (when.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(
                    day=1)
            elif not self._day_matches(when):
                when = when.replace(hour=0, minute=0) + timedelta(days=1)
            elif when.hour not in self.hours:
                when = when.replace(minute=0) + timedelta(hours=1)
            elif when.minute not in self.minutes:
                when += timedelta(minutes=1)
            else:
                return int(when.timestamp())
        raise BadRequest("rotation_schedule never matches a real date (e.g. 31 FEB)")
