"""Working days (工作日) under China's statutory holidays and make-up working days (调休).

The calendar comes from the `chinese-calendar` package, which follows the State Council's yearly
notice. A year it has no data for is refused with a clear message, never guessed.
"""

from datetime import timedelta

import chinese_calendar

from inspect_app.errors import ValidationFailed


class CalendarUnknown(ValidationFailed):
    def __init__(self, year):
        super().__init__(
            f"{year} 年的法定节假日和调休安排尚未收录（国务院通知发布后需升级 chinese-calendar），"
            "无法按工作日计算；请直接填写日期"
        )
        self.year = year


def is_working_day(day):
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        raise CalendarUnknown(day.year) from None


def add_working_days(start, count):
    """The date `count` working days after `start` (start itself not counted)."""
    if count < 0:
        raise ValueError("count must not be negative")
    day = start
    while count:
        day += timedelta(days=1)
        if is_working_day(day):
            count -= 1
    return day


def working_days_between(start, end):
    """Working days after `start` up to and including `end`; negative when `end` is earlier."""
    if end < start:
        return -working_days_between(end, start)
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            days += 1
    return days
