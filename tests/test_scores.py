"""Scores and rankings against hand-computed examples: ties, not-applicable items, process rules."""

import io
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from inspect_app.errors import NotFound
from inspect_app.scores import config, periods, ranking
from inspect_app.scores.service import process_lines

RULES = config.DEFAULT_RULES


def ev(id_, day, action, to_status, deadline=None):
    return SimpleNamespace(
        id=id_,
        at=datetime.fromisoformat(day + " 10:00"),
        action=action,
        to_status=to_status,
        detail={"deadline": deadline} if deadline else None,
    )


def test_process_lines_from_a_trail_hand_computed(app):
    # `app`: working days come from the calendar in the database (a fresh one: built-in years)
    # Assigned Mon 2 Nov 2026, deadline Fri 13 Nov. First report on 20 Nov: 14 working days after
    # assignment (> 10: late) and after the deadline (overdue; no report by the deadline: missed).
    # Sent back on 24 Nov, closed 26 Nov.
    trail = [
        ev(1, "2026-11-02", "create", "assigned", "2026-11-13"),
        ev(2, "2026-11-03", "acknowledge", "acknowledged"),
        ev(3, "2026-11-20", "report", "in_progress"),
        ev(4, "2026-11-20", "submit", "unit_review"),
        ev(5, "2026-11-23", "unit_approve", "pending"),
        ev(6, "2026-11-24", "send_back", "sent_back"),
        ev(7, "2026-11-25", "report", "in_progress"),
        ev(8, "2026-11-26", "close", "closed"),
    ]
    lines = process_lines(trail, RULES, date(2026, 11, 30))
    assert lines == {
        ("overdue", 1): date(2026, 11, 14),
        ("missed_report", 1): date(2026, 11, 14),
        ("late_report", 3): date(2026, 11, 20),
        ("sent_back", 6): date(2026, 11, 24),
    }


def test_early_closure_earns_a_bonus_and_an_open_task_past_its_deadline_is_overdue(app):
    # `app`: working days come from the calendar in the database (a fresh one: built-in years)
    early = [
        ev(1, "2026-11-02", "create", "assigned", "2026-11-20"),
        ev(2, "2026-11-03", "report", "in_progress"),
        ev(3, "2026-11-04", "close", "closed"),  # 12 working days before the deadline (≥ 3)
    ]
    assert process_lines(early, RULES, date(2026, 11, 30)) == {
        ("early_close", 3): date(2026, 11, 4)
    }
    late = [
        ev(1, "2026-11-02", "create", "assigned", "2026-11-10"),
        ev(2, "2026-11-03", "report", "in_progress"),
    ]
    assert process_lines(late, RULES, date(2026, 11, 10)) == {}  # not yet: the deadline is today
    assert process_lines(late, RULES, date(2026, 11, 11)) == {("overdue", 1): date(2026, 11, 11)}


def test_an_extension_granted_in_time_moves_the_deadline(app):
    # `app`: working days come from the calendar in the database (a fresh one: built-in years)
    trail = [
        ev(1, "2026-11-02", "create", "assigned", "2026-11-10"),
        ev(2, "2026-11-03", "report", "in_progress"),
        ev(3, "2026-11-09", "extension_granted", "in_progress", "2026-11-20"),
        ev(4, "2026-11-13", "submit", "unit_review"),
    ]
    assert process_lines(trail, RULES, date(2026, 11, 16)) == {}


def test_periods_parse_and_contain():
    quarter = periods.parse("2026-Q4")
    assert (quarter.start, quarter.end, quarter.label) == (
        date(2026, 10, 1),
        date(2026, 12, 31),
        "2026年第四季度",
    )
    assert periods.parse("2026-M2").end == date(2026, 2, 28)
    assert periods.parse("2026-Q1").previous.code == "2025-Q4"
    assert [p.code for p in periods.all_containing(date(2026, 5, 1))] == [
        "2026-M5",
        "2026-Q2",
        "2026-H1",
        "2026-Y",
    ]
    for bad in ("2026-Q5", "2026-M13", "x", "", "1900-Y"):
        with pytest.raises(NotFound):
            periods.parse(bad)


def test_rules_file_problems_are_listed_with_lines():
    text = "process:\n  overdue: {points: 2}\nstars:\n  - {stars: 5, min: 80}\n  - {stars: 4, min: 90}\nclasses: []\naccountability: {bottom: x, extra: 1}\n"
    with pytest.raises(config.ChecklistInvalid) as raised:
        config.parse_rules(text, "rules.yaml")
    message = str(raised.value)
    assert "rules.yaml:2: process 缺少规则 sent_back" in message
    assert "rules.yaml:5: stars 应按 min 从高到低排列" in message
    assert "rules.yaml:6: 字段 classes 至少要有一项" in message
    assert "rules.yaml:7: 字段 bottom 应为整数" in message
    assert "未知字段 extra" in message


# -- rankings from kept totals ------------------------------------------------------------------


def _unit(code, parent, order):
    from inspect_app.models import Unit

    return Unit.create(
        code=code, name=f"{code}社区", type="community", parent=parent, sort_order=order
    )


def _score(unit, period, checklist, **counts):
    from inspect_app.models import UnitScore

    return UnitScore.create(
        unit=unit, period=period, inspections=1, checklist_score=Decimal(checklist), **counts
    )


def test_ranking_hand_computed_with_ties_caps_stars_classes_and_bottom(app):
    from inspect_app.models import Unit

    street = Unit.create(code="S", name="测试街道", type="subdistrict")
    a, b, c, d, e = (_unit(x, street, n) for n, x in enumerate("ABCDE"))
    # A 95 + early close 2 × 0.5 = 96.00
    # B 92 − sent back 1 = 91.00            C 93 − overdue 1 × 2 = 91.00 (tie with B)
    # D 90 − overdue 7 × 2 = 14, capped at 10 = 80.00
    # E 70 − missed report 1 − late report 9 × 0.5 = 4.5, capped at 3 = 66.00
    _score(a, "2026-Q4", "95", early_close=2)
    _score(b, "2026-Q4", "92", sent_back=1)
    _score(c, "2026-Q4", "93", overdue=1)
    _score(d, "2026-Q4", "90", overdue=7)
    _score(e, "2026-Q4", "70", missed_report=1, late_report=9)
    # Last quarter: C was 一类 (slips to 二类), E was 三类 and stays, B is new.
    _score(c, "2026-Q3", "91")
    _score(e, "2026-Q3", "60")
    board = ranking.ranking(periods.parse("2026-Q4"), "type:community", RULES)
    got = [(r.unit.code, r.total, r.rank, r.stars, r.klass, r.move) for r in board.rows]
    assert got == [
        ("A", Decimal("96.00"), 1, 5, "一类", "new"),
        ("B", Decimal("91.00"), 2, 4, "一类", "new"),
        ("C", Decimal("91.00"), 2, 4, "一类", "same"),
        ("D", Decimal("80.00"), 4, 3, "二类", "new"),
        ("E", Decimal("66.00"), 5, 1, "三类", "same"),
    ]
    assert board.rows[1].tie_note == "与C社区总分相同（91.00），并列第 2 名"
    assert [r.unit.code for r in board.flagged] == ["E"]
    assert any("末位" in reason for reason in board.rows[4].flag_reasons)
    d_row = board.rows[3]
    assert d_row.process == [("overdue", "整改任务逾期", 7, Decimal("-10"), True)]
    # The same units under their street: the same order.
    by_parent = ranking.ranking(periods.parse("2026-Q4"), f"parent:{street.id}", RULES)
    assert [r.rank for r in by_parent.rows] == [1, 2, 2, 4, 5]


def test_a_tie_at_the_bottom_flags_every_unit_sharing_it(app):
    from inspect_app.models import Unit

    street = Unit.create(code="S", name="测试街道", type="subdistrict")
    a, b, c = (_unit(x, street, n) for n, x in enumerate("ABC"))
    _score(a, "2026-M11", "90")
    _score(b, "2026-M11", "80")
    _score(c, "2026-M11", "80")
    board = ranking.ranking(periods.parse("2026-M11"), "type:community", RULES)
    assert [(r.rank, bool(r.flag_reasons)) for r in board.rows] == [
        (1, False),
        (2, True),
        (2, True),
    ]


def test_a_scored_inspection_signed_off_writes_lines_and_the_period_total(
    app, demo, scored_inspection, client
):
    """半年考评 at a community: items for 街道 only do not count (not applicable)."""
    from werkzeug.datastructures import MultiDict

    from inspect_app.inspections import service as inspections
    from inspect_app.inspections.service import sheet_of
    from inspect_app.models import Round, ScoreLine, UnitScore, User

    inspector = User.get(User.username == "ducha1")
    sheet = sheet_of(scored_inspection)
    assert "A1" not in sheet.by_code  # 街道党工委统筹指导社区党建工作: 街道 only
    for spec in sheet.items:
        fields = {"scored": "1"}
        if spec["code"] == "A2":  # 每少开1次党员大会扣1分, cap 2: three times → 2 points lost
            fields = {"d0": "3", "note": "半年仅召开党员大会0次"}
        inspections.save_answer(
            scored_inspection,
            spec["code"],
            MultiDict(fields),
            by=inspector,
            client_id=f"t-{spec['code']}-0000",
            base_revision=0,
            author=str(inspector.id),
        )
    inspection = inspections.get_inspection(scored_inspection.id)
    inspections.submit(inspection, by=inspector)
    inspections.approve(inspection, by=User.get(User.username == "zuzhang"))
    inspections.sign_off(inspection, by=User.get(User.username == "duchaban"))
    maximum = sum(Decimal(s["max_points"]) for s in sheet.items)
    assert inspection.max_score == maximum
    line = ScoreLine.get(ScoreLine.inspection == inspection.id)
    assert (line.item_code, line.points, line.failing, line.section_title) == (
        "A2",
        Decimal("2"),
        True,
        "街道社区党建",
    )
    ends = Round.get_by_id(inspection.round_id).ends_on
    quarter = periods.containing("quarter", ends)
    total = UnitScore.get(UnitScore.unit == inspection.unit_id, UnitScore.period == quarter.code)
    expected = ((maximum - 2) * 100 / maximum).quantize(Decimal("0.01"))
    assert total.checklist_score == expected
    # Reopening takes the score out until it is signed off again.
    inspections.reopen(inspection, by=User.get(User.username == "duchaban"), reason="复核")
    assert not ScoreLine.select().where(ScoreLine.inspection == inspection.id).exists()
    assert not UnitScore.select().where(UnitScore.period == quarter.code).exists()


def test_task_events_keep_process_counters(app, published_round, fixed_today):
    from werkzeug.datastructures import MultiDict

    from inspect_app.models import Finding, ScoreLine, UnitScore, User
    from inspect_app.rectification import service

    supervisor = User.get(User.username == "duchaban")
    unit_user = User.get(User.username == "hp-lianluo")
    ids = [f.id for f in Finding.select().where(Finding.status == "confirmed")]
    task = service.create_task(
        published_round,
        MultiDict([("finding_ids", str(i)) for i in ids] + [("deadline", "2026-12-18")]),
        by=supervisor,
    )
    task, _ = service.act(task, "acknowledge", by=unit_user)
    task, _ = service.act(task, "report", by=unit_user, text="已整改")
    task, _ = service.act(task, "submit", by=unit_user)
    head = User.get(User.username == "hp-fuzeren")
    task, _ = service.act(task, "unit_approve", by=head)
    task, event = service.act(task, "send_back", by=supervisor, text="佐证不足")
    line = ScoreLine.get(ScoreLine.task == task.id)
    assert (line.rule, line.event_id, line.day) == ("sent_back", event.id, event.at.date())
    month = periods.containing("month", event.at.date()).code
    assert (
        UnitScore.get(UnitScore.unit == task.lead_unit_id, UnitScore.period == month).sent_back == 1
    )


def test_confirming_a_ranking_flags_the_bottom_until_a_supervisor_decides(login, app):
    from inspect_app.models import AccountabilityFlag, AuditEvent, Unit

    street = Unit.create(code="S", name="测试街道", type="subdistrict")
    a, b = _unit("A", street, 1), _unit("B", street, 2)
    _score(a, "2026-Q4", "90")
    _score(b, "2026-Q4", "70")
    supervisor = login("duchaban")
    response = supervisor.post("/rankings/confirm", {"period": "2026-Q4"})
    assert response.status_code == 303
    flags = list(AccountabilityFlag.select())
    # One flag per ranking B is last in: among communities and under its street.
    assert sorted((f.unit_id, f.scope) for f in flags) == [
        (b.id, "parent:" + str(street.id)),
        (b.id, "type:community"),
    ]
    again = supervisor.post("/rankings/confirm", {"period": "2026-Q4"})
    assert again.status_code == 303 and AccountabilityFlag.select().count() == 2
    page = supervisor.get(f"/units/{b.id}/scores?period=2026-Q4").get_data(as_text=True)
    assert "末位问责待决定" in page
    flag = flags[0]
    refused = supervisor.post(f"/flags/{flag.id}", {"rung": "none", "note": ""})
    assert refused.status_code == 422 and "不予问责须说明理由" in refused.get_data(as_text=True)
    assert supervisor.post(f"/flags/{flag.id}", {"rung": "bogus"}).status_code == 422
    done = supervisor.post(f"/flags/{flag.id}", {"rung": "talk", "note": "约谈党组织书记"})
    assert done.status_code == 303
    flag = AccountabilityFlag.get_by_id(flag.id)
    assert (flag.rung, flag.decided_by.username) == ("talk", "duchaban")
    assert AuditEvent.select().where(AuditEvent.action == "accountability.decide").exists()
    assert supervisor.post(f"/flags/{flag.id}", {"rung": "talk"}).status_code == 409
    assert login("lingdao").post(f"/flags/{flags[1].id}", {"rung": "talk"}).status_code == 403


def test_unit_users_see_their_own_score_but_no_other_unit_and_no_ranking(login, app, demo):
    hp, yb = demo["QH-DF-HP"], demo["QH-DF-YB"]
    _score(hp, "2026-Q4", "88")
    _score(yb, "2026-Q4", "92")
    unit_user = login("hp-lianluo")
    own = unit_user.get(f"/units/{hp.id}/scores?period=2026-Q4")
    assert own.status_code == 200
    text = own.get_data(as_text=True)
    # Their own rank among the communities (2 of 2), never another unit's name or score.
    assert "88" in text and "2<small>/2</small>" in text
    assert "迎宾社区" not in text and "92" not in text
    assert unit_user.get(f"/units/{yb.id}/scores?period=2026-Q4").status_code == 403
    assert unit_user.get("/rankings?period=2026-Q4").status_code == 403
    assert unit_user.get(f"/units/{yb.id}/scores.xlsx?period=2026-Q4").status_code == 403


def test_a_unit_tied_with_another_is_not_told_the_other_units_name(login, app, demo):
    hp, yb = demo["QH-DF-HP"], demo["QH-DF-YB"]
    _score(hp, "2026-Q4", "88")
    _score(yb, "2026-Q4", "88")
    text = login("hp-lianluo").get(f"/units/{hp.id}/scores?period=2026-Q4").get_data(as_text=True)
    assert "并列第 1 名" in text
    assert yb.name not in text and "迎宾社区" not in text
    # the leadership sees whom it is tied with
    leader = login("lingdao").get(f"/units/{hp.id}/scores?period=2026-Q4").get_data(as_text=True)
    assert yb.name in leader


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard?period=2026-Q9",
        "/rankings?period=2026-Q4&scope=planet:mars",
        "/rankings?period=2026-Q4&scope=parent:999999",
        # a digit int() cannot read, and an id past the database's integer range
        "/rankings?period=2026-Q4&scope=parent:²",
        "/rankings.xlsx?period=2026-Q4&scope=parent:99999999999999999999999",
        "/problems?period=nonsense",
    ],
)
def test_bad_period_or_scope_is_a_404_in_chinese(login, url):
    response = login("lingdao").get(url)
    assert response.status_code == 404
    assert "无效" in response.get_data(as_text=True)


def test_every_page_and_its_xlsx_answer_for_the_leadership(login, app, demo):
    from openpyxl import load_workbook

    hp = demo["QH-DF-HP"]
    _score(hp, "2026-Q4", "88", overdue=1)
    leader = login("lingdao")
    for path in (
        "/dashboard",
        "/rankings",
        "/flags",
        "/problems",
        "/repeats",
        "/circular",
        f"/units/{hp.id}/scores",
    ):
        page = leader.get(f"{path}?period=2026-Q4")
        assert page.status_code == 200, path
        assert page.mimetype == "text/html"
        if path == "/dashboard":
            continue
        sheet = leader.get(f"{path}.xlsx?period=2026-Q4")
        assert sheet.status_code == 200, path
        load_workbook(io.BytesIO(sheet.data))  # a real workbook
    ranking_sheet = load_workbook(io.BytesIO(leader.get("/rankings.xlsx?period=2026-Q4").data))
    rows = list(ranking_sheet.active.iter_rows(values_only=True))
    assert rows[1][:5] == ("名次", "单位", "清单得分", "过程扣加分", "总分")
    assert rows[2][:5] == (1, "和平社区党委", 88.0, -2.0, 86.0)


def test_circular_data_names_the_ranking_and_typical_problems(app, demo):
    from inspect_app.dashboard.service import circular_data

    _score(demo["QH-DF-HP"], "2026-Q4", "88")
    data = circular_data(periods.parse("2026-Q4"), RULES)
    assert data.ranked == 1
    assert data.rankings[0].rows[0].unit.code == "QH-DF-HP"
    assert data.typical_problems == []


def test_a_unit_sees_its_place_only_once_every_round_of_the_period_is_published(
    login, app, demo, checklists_loaded
):
    """Another unit's signed-off but unpublished (perhaps 暗访) round must not show in the
    unit's "2/2": the place waits until every round of the period is published."""
    from inspect_app.models import Inspection
    from tests.inspection_fixtures import make_round

    hp, yb = demo["QH-DF-HP"], demo["QH-DF-YB"]
    _score(hp, "2026-Q4", "88")
    _score(yb, "2026-Q4", "92")
    other = make_round(demo, units=("QH-DF-YB",))  # ends 2026-12-10: in 2026-Q4
    Inspection.update(status="signed_off").where(Inspection.round == other.id).execute()
    unit_user = login("hp-lianluo")
    text = unit_user.get(f"/units/{hp.id}/scores?period=2026-Q4").get_data(as_text=True)
    assert "排名待全部发布后显示" in text and "<small>/2</small>" not in text
    leader = login("lingdao").get(f"/units/{hp.id}/scores?period=2026-Q4").get_data(as_text=True)
    assert "<small>/2</small>" in leader
