"""Working days (工作日): Monday to Friday, less statutory holidays, plus make-up working days (调休).

One rule for the whole product. A year comes from the office's own 节假日安排 when it has entered
that year (see holidays.service), otherwise from `chinese-calendar`, which follows the State
Council's notices up to its release. A year neither knows is refused with one message, the same
everywhere, that links to the calendar page: nothing falls back to counting calendar days.
"""

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from chinese_calendar import constants as builtin

from inspect_app.errors import ValidationFailed
from inspect_app.holidays.notice import HOLIDAY, WORKDAY, DayEntry

# chinese-calendar's English names, as the State Council's notices name them
BUILTIN_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}
BUILTIN_YEARS = range(min(builtin.holidays).year, max(builtin.holidays).year + 1)


def gap_message(year):
    return f"{year} 年的节假日安排尚未录入，无法按工作日计算"


@dataclass(frozen=True)
class CalendarGap:
    """Where a count of working days would be: the year that is missing from the calendar."""

    year: int

    @property
    def message(self):
        return gap_message(self.year)

    def __str__(self):
        return self.message


class CalendarUnknown(ValidationFailed):
    def __init__(self, year):
        super().__init__(gap_message(year))
        self.year = year
        self.gap = CalendarGap(year)


def builtin_days(year):
    """{date: DayEntry} of chinese-calendar for `year` (empty for a year it does not know)."""
    found = {}
    for table, kind in ((builtin.holidays, HOLIDAY), (builtin.workdays, WORKDAY)):
        for day, holiday in table.items():
            if day.year == year:
                found[day] = DayEntry(kind, BUILTIN_NAMES.get(holiday, holiday))
    return dict(sorted(found.items()))


_BUILTIN = {day: entry for year in BUILTIN_YEARS for day, entry in builtin_days(year).items()}


class WorkCalendar:
    """The working-day calendar: built-in years, overridden year by year by the office's entries."""

    def __init__(self, office=None):
        self.office = office or {}  # {year: {date: DayEntry}}

    def knows(self, year):
        return year in self.office or year in BUILTIN_YEARS

    def source(self, year):
        """'office', 'builtin' or None."""
        if year in self.office:
            return "office"
        return "builtin" if year in BUILTIN_YEARS else None

    def days_of(self, year):
        if year in self.office:
            return self.office[year]
        return builtin_days(year)

    def entry(self, day):
        if day.year in self.office:
            return self.office[day.year].get(day)
        if day.year in BUILTIN_YEARS:
            return _BUILTIN.get(day)
        raise CalendarUnknown(day.year)

    def is_working_day(self, day):
        entry = self.entry(day)
        if entry is None:
            return day.weekday() < 5
        return entry.kind == WORKDAY

    def add_working_days(self, start, count):
        """The date `count` working days after `start` (start itself not counted)."""
        if count < 0:
            raise ValueError("count must not be negative")
        day = start
        while count:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count -= 1
        return day

    def working_days_between(self, start, end):
        """Working days after `start` up to and including `end`; negative when `end` is earlier."""
        if end < start:
            return -self.working_days_between(end, start)
        for year in range(start.year, end.year + 1):
            if not self.knows(year) and not (year == start.year and start == end):
                raise CalendarUnknown(year)
        days, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                days += 1
        return days


# -- the calendar in force: loaded from the database, reloaded when another process saves ----------

_RECHECK_SECONDS = 1.0
_lock = threading.Lock()
_loaded = None  # (database object, revisions, calendar, checked at)


def current():
    """The calendar in force. Rechecks the office's revisions at most once a second."""
    global _loaded
    from inspect_app.db import database
    from inspect_app.models import HolidayYear

    db = database.obj
    ticks = time.monotonic()  # an interval timer, not a date: the app clock is clock.py
    cached = _loaded
    if cached and cached[0] is db and ticks - cached[3] < _RECHECK_SECONDS:
        return cached[2]
    revisions = frozenset(
        (row.year, row.revision)
        for row in HolidayYear.select(HolidayYear.year, HolidayYear.revision)
    )
    if cached and cached[0] is db and cached[1] == revisions:
        calendar = cached[2]
    else:
        calendar = WorkCalendar(_office_days())
    with _lock:
        _loaded = (db, revisions, calendar, ticks)
    return calendar


def forget():
    """Drop the loaded calendar (after a save in this process)."""
    global _loaded
    with _lock:
        _loaded = None


def _office_days():
    from inspect_app.models import HolidayDate, HolidayYear

    office = {row.year: {} for row in HolidayYear.select(HolidayYear.year)}
    for row in HolidayDate.select(HolidayDate.day, HolidayDate.kind, HolidayDate.name):
        office.setdefault(row.day.year, {})[row.day] = DayEntry(row.kind, row.name)
    return office


def is_working_day(day):
    return current().is_working_day(day)


def add_working_days(start, count):
    return current().add_working_days(start, count)


def working_days_between(start, end):
    return current().working_days_between(start, end)


def days_or_gap(start, end):
    """working_days_between, or the CalendarGap that stops it: for pages that show either."""
    try:
        return working_days_between(start, end)
    except CalendarUnknown as unknown:
        return unknown.gap


def knows(year):
    return current().knows(year)
