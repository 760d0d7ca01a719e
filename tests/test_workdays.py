"""Working-day arithmetic on real holiday periods, 调休 Saturdays and Sundays included."""

from datetime import date

import pytest

from inspect_app.holidays.workdays import CalendarUnknown, WorkCalendar

BUILT_IN = WorkCalendar()  # chinese-calendar's years, nothing entered by the office
add_working_days = BUILT_IN.add_working_days
is_working_day = BUILT_IN.is_working_day
working_days_between = BUILT_IN.working_days_between


@pytest.mark.parametrize(
    ("start", "count", "expected"),
    [
        # Spring Festival 2026: 2.15–2.23 off; Saturday 2.14 and Saturday 2.28 are working days.
        (date(2026, 2, 12), 1, date(2026, 2, 13)),
        (date(2026, 2, 13), 1, date(2026, 2, 14)),  # 调休 Saturday counts
        (date(2026, 2, 14), 1, date(2026, 2, 24)),  # the whole holiday is skipped
        (date(2026, 2, 13), 5, date(2026, 2, 27)),
        (date(2026, 2, 26), 2, date(2026, 2, 28)),  # the second 调休 Saturday
        # National Day 2026: 10.1–10.7 off; Sunday 9.20 and Saturday 10.10 are working days.
        (date(2026, 9, 19), 1, date(2026, 9, 20)),
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        (date(2026, 9, 24), 10, date(2026, 10, 15)),  # Mid-Autumn 9.25–9.27 off as well
        (date(2026, 11, 20), 10, date(2026, 12, 4)),  # an ordinary fortnight
        (date(2026, 11, 20), 0, date(2026, 11, 20)),
    ],
)
def test_adding_working_days(start, count, expected):
    assert add_working_days(start, count) == expected


def test_working_days_between_counts_the_same_way_and_signs_overdue():
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 10)) == 3
    assert working_days_between(date(2026, 10, 10), date(2026, 9, 30)) == -3
    assert working_days_between(date(2026, 12, 1), date(2026, 12, 1)) == 0


def test_holidays_and_make_up_days_are_known():
    assert not is_working_day(date(2026, 2, 17))  # 初一
    assert is_working_day(date(2026, 2, 14))  # Saturday worked
    assert not is_working_day(date(2026, 10, 5))  # Monday off


def test_a_year_without_data_is_refused_not_guessed():
    with pytest.raises(CalendarUnknown) as refused:
        add_working_days(date(2026, 12, 20), 20)
    assert "2027 年的节假日安排尚未录入" in refused.value.message
