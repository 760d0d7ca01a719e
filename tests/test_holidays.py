"""节假日安排: the office's working-day calendar, read from the State Council's notice, and one
working-day rule everywhere (deadlines, lights, escalation, scores, notices)."""

from datetime import date
from pathlib import Path

import pytest
from chinese_calendar import constants as builtin
from werkzeug.datastructures import MultiDict

from inspect_app import clock
from inspect_app.holidays import service, workdays
from inspect_app.holidays.notice import HOLIDAY, WORKDAY, NoticeUnreadable, read_notice
from inspect_app.models import (
    AuditEvent,
    Finding,
    HolidayDate,
    HolidayYear,
    Notification,
    Task,
    User,
)

NOTICES = Path(__file__).parent / "data" / "holidays"


def notice(name):
    return (NOTICES / name).read_text(encoding="utf-8")


def split(days):
    return (
        {d for d, e in days.items() if e.kind == HOLIDAY},
        {d for d, e in days.items() if e.kind == WORKDAY},
    )


# -- reading the notice -------------------------------------------------------------------------


@pytest.mark.parametrize("year", [2025, 2026])
def test_the_state_councils_notice_reproduces_chinese_calendar_exactly(year):
    holidays, make_up_days = split(read_notice(notice(f"{year}.txt"), year))
    assert holidays == {d for d in builtin.holidays if d.year == year}
    assert make_up_days == {d for d in builtin.workdays if d.year == year}


def test_a_notice_names_its_festivals():
    days = read_notice(notice("2025.txt"), 2025)
    assert days[date(2025, 10, 6)].name == "国庆节、中秋节"
    assert days[date(2025, 1, 26)].kind == WORKDAY and days[date(2025, 1, 26)].name == "春节"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            ("1月1日（周三）放假1天", "1月1日（周四）放假1天"),
            "第 6 行：1月1日是周三，通知写的是周四",
        ),
        (("放假调休，共8天。1月26日", "放假调休，共9天。1月26日"), "共 8 天，与通知所写 9 天不符"),
        (("2月8日（周六）上班", "2月8日（周六）值班"), "第 7 行：无法识别这句话"),
        (("5月31日（周六）至6月2日", "5月31日（周六）至6月32日"), "2025年6月32日不是有效日期"),
        (
            ("4月27日（周日）上班", "4月27日（周日）上班。9月28日（周日）上班"),
            "第 11 行：9月28日已在前面列为调休上班（劳动节）",
        ),
    ],
)
def test_a_sentence_that_cannot_be_read_is_named_and_nothing_is_read(change, said):
    text = notice("2025.txt").replace(*change)
    with pytest.raises(NoticeUnreadable) as refused:
        read_notice(text, 2025)
    assert any(said in str(p) for p in refused.value.problems), refused.value.problems


def test_a_notice_for_another_year_or_without_items_is_refused():
    with pytest.raises(NoticeUnreadable) as wrong_year:
        read_notice(notice("2025.txt"), 2026)
    assert "通知所说的年份是 2025 年，与要录入的 2026 年不符" in str(wrong_year.value)
    with pytest.raises(NoticeUnreadable) as empty:
        read_notice("国务院办公厅\n2026年11月10日", 2027)
    assert "没有找到节假日条目" in str(empty.value)


def test_items_pasted_without_the_preamble_are_read():
    only_items = "\n".join(line for line in notice("2026.txt").splitlines() if "、" in line[:3])
    assert split(read_notice(only_items, 2026)) == split(read_notice(notice("2026.txt"), 2026))


# -- the calendar in force ----------------------------------------------------------------------


def test_a_year_nobody_entered_is_refused_with_the_same_message(app):
    with pytest.raises(workdays.CalendarUnknown) as refused:
        workdays.add_working_days(date(2026, 12, 20), 20)
    assert refused.value.message == "2027 年的节假日安排尚未录入，无法按工作日计算"
    assert workdays.days_or_gap(date(2026, 12, 1), date(2027, 1, 5)) == workdays.CalendarGap(2027)


def test_the_office_adds_a_year_and_corrects_a_known_one(app, demo):
    office = User.get(User.username == "duchaban")
    service.import_notice(2027, notice("2027-example.txt"), by=office)
    assert not workdays.is_working_day(date(2027, 2, 8))  # 春节, a Monday
    assert workdays.is_working_day(date(2027, 2, 20))  # 调休 Saturday
    assert workdays.working_days_between(date(2026, 12, 31), date(2027, 1, 4)) == 1
    # a correction of a year chinese-calendar knows: 2026-12-31 made a holiday
    service.set_day(2026, {"day": "2026-12-31", "kind": "holiday", "name": "示例"}, by=office)
    assert not workdays.is_working_day(date(2026, 12, 31))
    view = service.year_view(2026)
    assert view.source == "office" and view.status == "办公室已更正内置数据（1 处不同）"
    assert [c.text for c in view.corrections] == ["2026-12-31：正常 → 放假（示例）"]
    service.revert_year(2026, by=office)
    assert workdays.is_working_day(date(2026, 12, 31))
    actions = [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions[-3:] == ["holidays.import", "holidays.set_day", "holidays.revert"]


def test_another_process_saving_a_year_is_seen_within_a_second(app, monkeypatch):
    assert not workdays.knows(2027)
    days = read_notice(notice("2027-example.txt"), 2027)
    year = HolidayYear.create(year=2027, revision="from-another-process")
    HolidayDate.insert_many(
        [{"year": year.id, "day": d, "kind": e.kind, "name": e.name} for d, e in days.items()]
    ).execute()
    ticks = [1000.0]
    monkeypatch.setattr(workdays.time, "monotonic", lambda: ticks[0])
    workdays.forget()
    HolidayYear.delete().where(HolidayYear.id == year.id).execute()
    assert not workdays.knows(2027)
    year = HolidayYear.create(year=2027, revision="saved-again")
    assert not workdays.knows(2027)  # rechecked at most once a second
    ticks[0] += 1.5
    assert workdays.knows(2027)


# -- the page and the command line --------------------------------------------------------------


def test_pasting_the_notice_previews_then_saves_all_of_it(app, login):
    office = login("duchaban")
    page = office.get("/holidays/2027").get_data(as_text=True)
    assert "尚未录入" in page
    preview = office.post("/holidays/2027/preview", {"text": notice("2027-example.txt")})
    assert preview.status_code == 200
    body = preview.get_data(as_text=True)
    assert "预览" in body and "2027-02-20：正常 → 调休上班（春节）" in body
    assert not HolidayYear.select().exists()  # a preview saves nothing
    saved = office.post("/holidays/2027", {"text": notice("2027-example.txt")})
    assert saved.status_code == 303 and saved.headers["Location"] == "/holidays/2027"
    page = office.get("/holidays/2027").get_data(as_text=True)
    assert "办公室录入" in page and "放假 27 天，调休上班 5 天" in page
    assert "从国务院通知录入" in page  # the history of the year


def test_an_unreadable_notice_is_refused_with_its_sentence_and_saves_nothing(app, login):
    office = login("duchaban")
    office.post("/holidays/2027", {"text": notice("2027-example.txt")})
    broken = notice("2027-example.txt").replace("（周五）至3日", "（周六）至3日")
    broken = broken.replace(
        "9月26日（周日）、10月9日（周六）上班", "9月26日（周日）、10月9日（周六）照常"
    )
    for url in ("/holidays/2027/preview", "/holidays/2027"):
        response = office.post(url, {"text": broken})
        assert response.status_code == 422
        body = response.get_data(as_text=True)
        assert "第 5 行：1月1日是周五，通知写的是周六" in body
        assert "第 9 行：无法识别这句话" in body and "10月9日（周六）照常" in body
    assert workdays.is_working_day(date(2027, 9, 26))  # the saved year is untouched
    empty = office.post("/holidays/2027/preview", {"text": "  "})
    assert empty.status_code == 422 and "请粘贴" in empty.get_data(as_text=True)


def test_bad_day_corrections_get_clear_messages(app, login):
    office = login("duchaban")
    for form, message in [
        ({"day": "2027-13-01", "kind": "holiday", "name": "x"}, "请填写有效的日期"),
        ({"day": "2026-05-01", "kind": "holiday", "name": "x"}, "日期应在 2027 年内"),
        ({"day": "2027-05-01", "kind": "party", "name": "x"}, "请选择放假、调休上班或恢复为正常日"),
        ({"day": "2027-05-01", "kind": "holiday", "name": ""}, "请填写节日名称"),
    ]:
        response = office.post("/holidays/2027/days", form)
        assert response.status_code == 422, form
        assert message in response.get_data(as_text=True)
    assert not HolidayYear.select().exists()
    lone_day = office.post(
        "/holidays/2028/days", {"day": "2028-01-01", "kind": "holiday", "name": "元旦"}
    )
    assert (
        lone_day.status_code == 409
        and "请先粘贴国务院办公厅通知录入整年安排" in lone_day.get_data(as_text=True)
    )
    assert not HolidayYear.select().exists()
    assert office.get("/holidays/99999").status_code in (404, 422)
    assert office.post("/holidays/2027/revert").status_code == 409


def test_calendar_command_imports_shows_and_refuses(app, tmp_path):
    runner = app.test_cli_runner()
    source = tmp_path / "2027.txt"
    source.write_text(notice("2027-example.txt"), encoding="utf-8")
    unknown = runner.invoke(args=["calendar", "show", "2027"])
    assert unknown.exit_code == 1 and "2027 年的节假日安排尚未录入" in unknown.output
    broken = tmp_path / "broken.txt"
    broken.write_text(notice("2027-example.txt").replace("共9天", "共10天"), encoding="utf-8")
    refused = runner.invoke(args=["calendar", "import", "--year", "2027", str(broken)])
    assert refused.exit_code == 1
    assert f"{broken}:6: 2月5日至2月13日共 9 天，与通知所写 10 天不符" in refused.output
    assert not HolidayYear.select().exists()
    done = runner.invoke(args=["calendar", "import", "--year", "2027", str(source)])
    assert done.exit_code == 0, done.output
    shown = runner.invoke(args=["calendar", "show", "2027"]).output.splitlines()
    assert shown[0] == "2027-01-01 holiday 元旦"
    assert "2027-02-20 workday 春节" in shown and len(shown) == 32
    builtin_year = runner.invoke(args=["calendar", "show", "2025"]).output.splitlines()
    assert "2025-01-26 workday 春节" in builtin_year and "2025-10-06 holiday 中秋节" in builtin_year


# -- one rule everywhere ------------------------------------------------------------------------


@pytest.fixture
def thirty_day_finding(published_round):
    Finding.update(deadline_days=30).execute()
    clock.travel(date(2026, 12, 1))
    return published_round


def assign(client, round_, **extra):
    findings = [f.id for f in Finding.select().where(Finding.status == "confirmed")]
    data = MultiDict([("finding_ids", str(i)) for i in findings] + list(extra.items()))
    return client.post(f"/rounds/{round_.id}/tasks/new", data)


def test_a_thirty_working_day_deadline_is_refused_with_a_link_until_2027_is_entered(
    app, login, thirty_day_finding
):
    office = login("duchaban")
    refused = assign(office, thirty_day_finding)
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "2027 年的节假日安排尚未录入，无法按工作日计算" in body
    assert 'href="/holidays/2027"' in body and 'aria-invalid="true"' in body
    assert not Task.select().exists()
    office.post("/holidays/2027", {"text": notice("2027-example.txt")})
    assert assign(office, thirty_day_finding).status_code == 303
    # 22 working days left in December 2026, then 1–3 January off: 8 more from 4 January
    assert Task.get().deadline == date(2027, 1, 13)


def test_the_assignment_form_shows_the_suggested_deadline_before_it_is_sent(
    app, login, thirty_day_finding
):
    office = login("duchaban")
    ids = "&".join(f"finding_ids={f.id}" for f in Finding.select())
    url = f"/rounds/{thirty_day_finding.id}/tasks/new?{ids}"
    fragment = office.get(url, headers={"HX-Request": "true", "HX-Target": "deadline-field"})
    body = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and not body.lstrip().startswith("<!doctype")
    assert 'id="deadline-field"' in body and 'aria-invalid="true"' in body
    assert "所选问题最短建议 30 个工作日" in body and 'href="/holidays/2027"' in body
    office.post("/holidays/2027", {"text": notice("2027-example.txt")})
    body = office.get(url, headers={"HX-Request": "true", "HX-Target": "deadline-field"}).get_data(
        as_text=True
    )
    assert "2027-01-13" in body and "周三" in body and "aria-invalid" not in body
    typed = office.get(url + "&deadline=2026-12-04").get_data(as_text=True)  # the full page
    assert "<!doctype html>" in typed and "距今 <strong>3</strong> 个工作日" in typed


def test_lights_overdue_days_and_reminders_say_the_same_and_link(app, login, published_round):
    office = login("duchaban")
    assert assign(office, published_round, deadline="2027-01-20").status_code == 303
    task = Task.get()
    assert service_light(task) == "grey"
    listing = office.get("/tasks").get_data(as_text=True)
    assert "待定" in listing and "2027 年的节假日安排尚未录入" in listing
    assert 'href="/holidays/2027"' in listing
    clock.travel(date(2027, 2, 1))  # twelve days late, in a year nobody entered
    office = login("duchaban")
    escalations = office.get("/tasks/escalations").get_data(as_text=True)
    assert task.title in escalations and 'href="/holidays/2027"' in escalations
    unit = Task.get().lead_unit_id
    refused = office.post("/notices/new", {"kind": "reminder", "unit_id": str(unit)})
    assert refused.status_code == 422
    assert 'href="/holidays/2027"' in refused.get_data(as_text=True)
    office.post("/holidays/2027", {"text": notice("2027-example.txt")})
    assert service_light(Task.get()) == "red"
    escalations = office.get("/tasks/escalations").get_data(as_text=True)
    assert ">8<" in escalations  # 21 Jan – 1 Feb 2027: eight working days late
    assert "尚未录入" not in escalations


def service_light(task):
    from inspect_app.rectification.service import light

    return light(task)


def test_process_points_wait_for_the_calendar_and_come_when_it_is_entered(
    app, login, published_round
):
    from inspect_app.models import ScoreLine

    office, unit = login("duchaban"), login("hp-lianluo")
    assert assign(office, published_round, deadline="2027-03-31").status_code == 303
    task = Task.get()
    unit.post(f"/tasks/{task.id}/actions/acknowledge", {"text": ""})
    clock.travel(date(2027, 2, 26))  # the first report, far more than 10 working days later
    office, unit = login("duchaban"), login("hp-lianluo")
    assert unit.post(f"/tasks/{task.id}/actions/report", {"text": "已整改一半"}).status_code == 303
    rules = ScoreLine.select().where(ScoreLine.task == task.id)
    assert "late_report" not in {line.rule for line in rules}  # not judged on calendar days
    assert office.post("/holidays/2027", {"text": notice("2027-example.txt")}).status_code == 303
    rules = ScoreLine.select().where(ScoreLine.task == task.id)
    assert "late_report" in {line.rule for line in rules}


# -- the yearly reminder ------------------------------------------------------------------------


def test_the_office_is_told_from_1_november_when_next_year_is_missing(app, demo):
    assert service.remind_next_year(date(2026, 10, 31)) == 0
    told = service.remind_next_year(date(2026, 11, 1))
    managers = User.select().where(
        User.role.in_(["sysadmin", "supervisor"]), User.is_active == True
    )
    assert told == managers.count() >= 2
    assert service.remind_next_year(date(2026, 11, 20)) == 0  # once each
    service.import_notice(2027, notice("2027-example.txt"), by=None)
    assert service.missing_next_year(date(2026, 12, 1)) is None
    assert {n.user.role for n in Notification.select()} == {"sysadmin", "supervisor"}


def test_the_reminder_reaches_the_office_through_its_pages(app, login):
    clock.travel(date(2026, 11, 2))
    office = login("duchaban")
    home = office.get("/").get_data(as_text=True)
    assert "2027 年的节假日安排尚未录入" in home and 'href="/holidays/2027"' in home
    messages = office.get("/notifications").get_data(as_text=True)
    assert "2027 年的节假日安排尚未录入" in messages
    assert "尚未录入" not in login("hp-lianluo").get("/").get_data(as_text=True)
