"""The office's working-day calendar: entering a year from the State Council's notice, correcting a
day, going back to the built-in data, and reminding the office when next year is missing."""

import calendar as monthly
import uuid
from dataclasses import dataclass
from datetime import date

from blinker import signal

from inspect_app import audit, clock
from inspect_app.db import database
from inspect_app.errors import Conflict, ValidationFailed
from inspect_app.holidays import workdays
from inspect_app.holidays.notice import HOLIDAY, KIND_LABELS, WORKDAY, DayEntry, read_notice
from inspect_app.models import AuditEvent, HolidayDate, HolidayYear, Notification, User

# Sent with the years whose working days changed; scores re-judge the tasks those years touch.
calendar_changed = signal("calendar-changed")

FIRST_YEAR, LAST_YEAR = 2000, 2100
REMIND_FROM_MONTH = 11  # the State Council's notice usually appears in November
MANAGERS = ("sysadmin", "supervisor")


def check_year(value):
    try:
        year = int(str(value).strip())
    except ValueError:
        year = None
    if year is None or not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValidationFailed(f"年份应为 {FIRST_YEAR} 到 {LAST_YEAR} 之间的四位数字")
    return year


@dataclass(frozen=True)
class Change:
    day: date
    before: DayEntry | None
    after: DayEntry | None

    @property
    def text(self):
        def say(entry):
            return "正常" if entry is None else f"{KIND_LABELS[entry.kind]}（{entry.name}）"

        return f"{self.day.isoformat()}：{say(self.before)} → {say(self.after)}"


def changes(before, after):
    return [
        Change(day, before.get(day), after.get(day))
        for day in sorted(set(before) | set(after))
        if before.get(day) != after.get(day)
    ]


@dataclass(frozen=True)
class YearView:
    year: int
    source: str | None  # office, builtin, None
    days: dict
    corrections: list  # office entries that differ from chinese-calendar's data for the year

    @property
    def holidays(self):
        return sum(1 for e in self.days.values() if e.kind == HOLIDAY)

    @property
    def workdays(self):
        return sum(1 for e in self.days.values() if e.kind == WORKDAY)

    @property
    def status(self):
        if self.source is None:
            return "未录入"
        if self.source == "builtin":
            return "内置数据（chinese-calendar）"
        if self.year in workdays.BUILTIN_YEARS:
            return (
                f"办公室已更正内置数据（{len(self.corrections)} 处不同）"
                if self.corrections
                else "办公室录入（与内置数据一致）"
            )
        return "办公室录入"

    def months(self):
        """[(month, weeks)] where a week is 7 (day or None, kind) cells, Monday first."""
        result = []
        for month in range(1, 13):
            weeks = []
            for week in monthly.Calendar().monthdatescalendar(self.year, month):
                weeks.append(
                    [(day, self._kind(day)) if day.month == month else (None, "") for day in week]
                )
            result.append((month, weeks))
        return result

    def _kind(self, day):
        entry = self.days.get(day)
        if entry is not None:
            return entry.kind
        return "weekend" if day.weekday() >= 5 else ""


def year_view(year, days=None):
    """The year as the calendar has it, or with `days` proposed in its place (a preview)."""
    calendar = workdays.current()
    source = calendar.source(year) if days is None else "office"
    days = calendar.days_of(year) if days is None else days
    corrections = (
        changes(workdays.builtin_days(year), days)
        if source == "office" and year in workdays.BUILTIN_YEARS
        else []
    )
    return YearView(year, source, days, corrections)


def overview(today=None):
    """Years worth showing: last year to next year, and every year the office entered."""
    today = today or clock.today()
    years = {today.year - 1, today.year, today.year + 1}
    years |= {row.year for row in HolidayYear.select(HolidayYear.year)}
    return [year_view(year) for year in sorted(years, reverse=True)]


def preview_notice(year, text):
    """(proposed days, changes against the calendar in force); NoticeUnreadable when it cannot."""
    year = check_year(year)
    if not (text or "").strip():
        raise ValidationFailed(
            "请粘贴国务院办公厅节假日安排通知的全文", fields={"text": "请粘贴通知全文"}
        )
    days = read_notice(text, year)
    return days, changes(workdays.current().days_of(year), days)


def import_notice(year, text, *, by):
    """Save a year read from the notice text. All or nothing: an unreadable notice saves nothing."""
    year = check_year(year)
    days, diff = preview_notice(year, text)
    _save_year(year, days, notice_text=text, by=by, action="holidays.import", diff=diff)
    return days, diff


def set_day(year, data, *, by):
    """Correct one day: a holiday, a make-up working day, or back to an ordinary day."""
    year = check_year(year)
    errors = {}
    try:
        day = date.fromisoformat((data.get("day") or "").strip())
    except ValueError:
        day = None
        errors["day"] = "请填写有效的日期（如 2027-02-06）"
    if day is not None and day.year != year:
        errors["day"] = f"日期应在 {year} 年内"
    kind = data.get("kind") or ""
    if kind not in (HOLIDAY, WORKDAY, "normal"):
        errors["kind"] = "请选择放假、调休上班或恢复为正常日"
    name = (data.get("name") or "").strip()
    if kind in (HOLIDAY, WORKDAY) and not name:
        errors["name"] = "请填写节日名称（如 春节）"
    elif len(name) > 40:
        errors["name"] = "节日名称不能超过 40 个字"
    if errors:
        raise ValidationFailed("请修改标出的内容", fields=errors)
    if not workdays.knows(year):
        # one day entered would make the whole year count as known, every other day ordinary
        raise Conflict(f"{year} 年尚未录入：请先粘贴国务院办公厅通知录入整年安排，再更正某一天")
    days = dict(workdays.current().days_of(year))
    if kind == "normal":
        days.pop(day, None)
    else:
        days[day] = DayEntry(kind, name)
    diff = changes(workdays.current().days_of(year), days)
    if not diff:
        raise Conflict(f"{day.isoformat()} 已是这样安排，无需修改")
    _save_year(year, days, notice_text=None, by=by, action="holidays.set_day", diff=diff)
    return diff


def revert_year(year, *, by):
    """Forget the office's entries for a year chinese-calendar knows: the built-in data applies."""
    year = check_year(year)
    record = HolidayYear.get_or_none(HolidayYear.year == year)
    if record is None:
        raise Conflict(f"{year} 年没有办公室录入的安排")
    if year not in workdays.BUILTIN_YEARS:
        raise Conflict(f"{year} 年没有内置数据可以恢复；删除后该年将无法按工作日计算")
    diff = changes(workdays.current().days_of(year), workdays.builtin_days(year))
    with database.atomic():
        record.delete_instance(recursive=True)
        _audit(by, "holidays.revert", year, f"{year} 年节假日安排恢复为内置数据", diff)
    _changed(year)
    return diff


def _save_year(year, days, *, notice_text, by, action, diff):
    with database.atomic():
        record = HolidayYear.get_or_none(HolidayYear.year == year)
        if record is None:
            record = HolidayYear(year=year)
        if notice_text is not None:
            record.notice_text = notice_text
        record.revision = uuid.uuid4().hex
        record.saved_by = by
        record.saved_at = clock.now()
        record.save()
        HolidayDate.delete().where(HolidayDate.year == record.id).execute()
        HolidayDate.insert_many(
            [
                {"year": record.id, "day": day, "kind": entry.kind, "name": entry.name}
                for day, entry in sorted(days.items())
            ]
        ).execute()
        summary = (
            f"{year} 年节假日安排：从国务院通知录入"
            if action == "holidays.import"
            else f"{year} 年节假日安排：更正 {len(diff)} 天"
        )
        _audit(by, action, year, summary, diff)
    _changed(year)


def _audit(by, action, year, summary, diff):
    """Recorded against the year itself, which outlives its HolidayYear row (恢复为内置数据)."""
    audit.record(
        by,
        action,
        None,
        summary,
        {"year": year, "changes": [c.text for c in diff]},
        object_type="holiday_year",
        object_id=year,
    )


def _changed(year):
    workdays.forget()
    calendar_changed.send(None, years=[year])


def history(year):
    return list(
        AuditEvent.select()
        .where(AuditEvent.object_type == "holiday_year", AuditEvent.object_id == year)
        .order_by(AuditEvent.id.desc())
    )


# -- the yearly reminder -------------------------------------------------------------------------

REMINDER_KIND = "calendar"


def missing_next_year(today=None):
    """Next year, from 1 November on, while the calendar does not know it; else None."""
    today = today or clock.today()
    if today.month >= REMIND_FROM_MONTH and not workdays.knows(today.year + 1):
        return today.year + 1
    return None


def remind_next_year(today=None):
    """Tell 督查办 and the administrators, once each, that next year must be entered."""
    year = missing_next_year(today)
    if year is None:
        return 0
    text = reminder_text(year)
    told = Notification.select(Notification.user).where(
        Notification.kind == REMINDER_KIND, Notification.text == text
    )
    users = User.select(User.id).where(
        User.role.in_(MANAGERS), User.is_active == True, User.id.not_in(told)
    )
    rows = [{"user": u.id, "kind": REMINDER_KIND, "text": text} for u in users]
    if rows:
        Notification.insert_many(rows).execute()
    return len(rows)


def reminder_text(year):
    return (
        f"{year} 年的节假日安排尚未录入。国务院办公厅通知发布后，请在“节假日安排”页粘贴通知全文录入；"
        f"录入前，时限跨入 {year} 年的任务无法按工作日计算。"
    )
